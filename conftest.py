"""Repository-wide pytest set-up.

Notebooks are executed by nbval in the ``smoke`` profile unless the caller chose another
(the notebooks' parameter cells read COLORSURVEY_PROFILE; the kernel inherits it).

Trained runs go to a run store in a temporary folder for the session (removed at exit) unless
COLORSURVEY_RUNS names one: the notebooks share it (notebook 08 loads the chapters' runs), and
a test run never reads or fills the checkout's ``output/runs``.
"""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("COLORSURVEY_PROFILE", "smoke")
os.environ.setdefault("COLORSURVEY_DATA", "synthetic")
if "COLORSURVEY_RUNS" not in os.environ:
    _runs = tempfile.mkdtemp(prefix="colorsurvey-runs-")
    os.environ["COLORSURVEY_RUNS"] = _runs
    atexit.register(shutil.rmtree, _runs, ignore_errors=True)
