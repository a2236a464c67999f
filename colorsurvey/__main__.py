"""``python -m colorsurvey ...`` (and ``torchrun ... -m colorsurvey train ...``): the ``colorsurvey`` command."""

import sys

from .cli import main

sys.exit(main())
