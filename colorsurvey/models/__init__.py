"""Every surveyed method behind one interface, built by key and size.

>>> from colorsurvey import models
>>> net = models.create("unet", size="smoke")
>>> models.list_models()  # doctest: +SKIP

Importing this package imports each taxonomy module, which registers its methods, in the
survey's order (§2.1-§2.7): tables list the methods in that order.
"""

from .base import ColorizationModel, ModelCard, count_parameters, inference_parameters
from .registry import accepts, cards, create, get_class, list_models, register

from . import baselines  # noqa: E402,F401  (registers gray, mean-ab, unet)
from . import plain  # noqa: E402,F401  (§2.1: deep-colorization, colorful, de2co)
from . import user_guided  # noqa: E402,F401  (§2.2: scribbler, realtime-ug(-global), idc, lineart; hint-propagation)
from . import domain  # noqa: E402,F401  (§2.3: nir, sar-gan, radar-pol, ref-sketch)
from . import text  # noqa: E402,F401  (§2.4: color-from-language, text2colors)
from . import diverse  # noqa: E402,F401  (§2.5: cao-cgan, tandem, icgan, divcolor, chromagan, memopainter)
from . import multipath  # noqa: E402,F401  (§2.6: iizuka, larsson, pixcolor, colorcapsnet, zhao-*, multi-hypothesis)
from . import exemplar  # noqa: E402,F401  (§2.7: deep-exemplar, fast-exemplar, instance-aware)

__all__ = ["ColorizationModel", "ModelCard", "count_parameters", "inference_parameters", "accepts", "cards", "create", "get_class",
           "list_models", "register"]
