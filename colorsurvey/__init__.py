"""colorsurvey — the runnable companion to *Image Colorization: A Survey and Dataset*
(Anwar, Tahir, Li, Mian, Khan, Muzaffar; arXiv 2008.10774).

Modules: :mod:`~colorsurvey.color` (colour spaces, ab bins), :mod:`~colorsurvey.data`
(rendered NCD-like set, real image folders), :mod:`~colorsurvey.models` (every method behind one
interface, ``create(key, size)``), :mod:`~colorsurvey.losses`, :mod:`~colorsurvey.metrics`,
:mod:`~colorsurvey.train`, :mod:`~colorsurvey.evaluate`, :mod:`~colorsurvey.viz`,
:mod:`~colorsurvey.widgets`.
"""

__version__ = "0.1.0"


def load(run, device=None, root=None):
    """A trained run as a ready model in eval mode: ``colorsurvey.load("output/runs/unet-small-cpu-s0-...")``
    (a run's folder, or its name in the run store). See :func:`colorsurvey.runs.load`."""
    from .runs import load as _load

    return _load(run, device=device, root=root)
