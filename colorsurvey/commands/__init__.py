"""The implementations of ``colorsurvey train``, ``evaluate`` and ``colorize``; :mod:`colorsurvey.cli`
builds the parser and calls them. Each module has ``add_parser(subparsers)`` and ``run(args)``."""
