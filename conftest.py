"""Repository-wide pytest set-up.

Notebooks are executed by nbval in the ``smoke`` profile unless the caller chose another
(the notebooks' parameter cells read COLORSURVEY_PROFILE; the kernel inherits it).
"""

import os

os.environ.setdefault("COLORSURVEY_PROFILE", "smoke")
os.environ.setdefault("COLORSURVEY_DATA", "synthetic")
