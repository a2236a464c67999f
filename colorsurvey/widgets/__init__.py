"""ipywidgets front ends for exploring colorization in JupyterLab.

Each explorer is a small class holding its state, a pure ``render()`` (or callback methods)
that tests drive headlessly, and a ``.widget`` property that builds the ipywidgets UI around
it. Callbacks never raise into the kernel: bad input is reported in the widget's message line.

* :class:`ChannelExplorer` — luminance and chroma in Lab / YUV (notebook 00)
* :class:`TemperatureExplorer` — annealed-mean temperature of Colorful Colorization (notebook 01)
* :class:`HintPainter` — paint colour hints for a user-guided method (notebook 02)
* :class:`DegradationExplorer` — a domain-specific method and its input's degradation (notebook 03)
* :class:`ExemplarPicker` — pick a reference for a gray image (notebook 07)
* :class:`DiversityExplorer` — N samples of a diverse method, sample again, walk the mixture (notebook 05)
* :class:`TextPalette` — type a sentence, edit its palette, see the colours follow (notebook 04)
* :class:`PathExplorer` — switch the paths of the multi-path methods (notebook 06)
"""

from .degradation import DegradationExplorer
from .exemplar_picker import ExemplarPicker
from .hint_painter import HintPainter, benchmark_latency
from .explorers import ChannelExplorer, TemperatureExplorer, png_bytes
from .diversity_explorer import DiversityExplorer
from .text_palette import TextPalette
from .path_explorer import PathExplorer

__all__ = ["ChannelExplorer", "TemperatureExplorer", "HintPainter", "ExemplarPicker", "DegradationExplorer", "benchmark_latency", "DiversityExplorer",
           "TextPalette", "PathExplorer",
           "png_bytes"]
