"""Time the main job (``colorsurvey run-notebooks``): per notebook and in total, from an empty run
store (cold) and again from the store the cold pass filled (warm), and each method's PSNR gain
over the gray baseline from notebook 08's dataset-level table.

    python scripts/speed_main_job.py --profile cpu --threads 2            # cold, then warm
    python scripts/speed_main_job.py --profile cpu --only 02 --threads 2  # one notebook
    python scripts/speed_main_job.py --profile cpu --runs output/runs --warm-only

Targets (issue 10; a measurement, not a test): each chapter <= 10 min in ``cpu`` on 2 cores,
the whole job <= 45 min cold and <= 5 min warm, every learned method above gray.
The kernels inherit ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` from ``--threads``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _pass(label: str, args, runs: Path, out: Path) -> dict[str, float]:
    from colorsurvey.runner import run_notebooks

    os.environ["COLORSURVEY_RUNS"] = str(runs)
    t0 = time.perf_counter()
    results = run_notebooks(args.profile, args.data, out=out, only=args.only, progress=not args.quiet,
                            html_pages=False)
    total = time.perf_counter() - t0
    print(f"\n{label} (run store {runs}):")
    for r in results:
        print(f"  {r.name:24s} {r.seconds:7.0f} s  {'ok' if r.ok else 'FAILED: ' + r.error}")
    print(f"  {'total':24s} {total:7.0f} s  ({total / 60:.1f} min)")
    return {r.name: r.seconds for r in results} | {"total": total}


def _gains(out: Path, profile: str, data: str) -> None:
    import pandas as pd

    f = out / f"{profile}-{data}" / "artifacts" / "08_benchmark" / "tables" / "dataset_level.csv"
    if not f.exists():
        print("no notebook 08 table: gains over gray not reported")
        return
    ds = pd.read_csv(f, index_col=0)
    if "gray" not in ds.index:
        return
    gain = (ds["PSNR"] - ds.loc["gray", "PSNR"]).drop("gray").sort_values()
    print(f"\nPSNR gain over gray on the held-out split (gray {ds.loc['gray', 'PSNR']:.2f} dB), notebook 08:")
    for k, g in gain.items():
        print(f"  {k:40s} {g:+6.2f} dB{'   <- not above gray' if not g > 0 else ''}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", default="cpu")
    p.add_argument("--data", default="synthetic")
    p.add_argument("--only", nargs="*", default=None)
    p.add_argument("--threads", type=int, default=2, help="CPU threads of the kernels (OMP_NUM_THREADS)")
    p.add_argument("--runs", default=None, help="run store (default: a fresh temporary folder, so cold is cold)")
    p.add_argument("--out", default=None, help="executed notebooks (default: a temporary folder)")
    p.add_argument("--warm-only", action="store_true", help="skip the cold pass (use with --runs)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(args.threads)
    sys.path.insert(0, str(REPO))
    tmp = Path(tempfile.mkdtemp(prefix="colorsurvey-mainjob-"))
    runs = Path(args.runs) if args.runs else tmp / "runs"
    out = Path(args.out) if args.out else tmp / "out"
    print(f"profile {args.profile}, data {args.data}, {args.threads} thread(s), notebooks {args.only or 'all'}")
    cold = None if args.warm_only else _pass("cold", args, runs, out)
    warm = _pass("warm", args, runs, out)
    if cold:
        print("\nper notebook, cold -> warm:")
        for k in cold:
            print(f"  {k:24s} {cold[k]:7.0f} s -> {warm.get(k, float('nan')):5.0f} s")
    _gains(out, args.profile, args.data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
