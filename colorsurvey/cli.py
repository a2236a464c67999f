"""The ``colorsurvey`` command.

    colorsurvey list [--taxonomy plain] [--cards]
    colorsurvey run-notebooks --profile {smoke,cpu,brief,paper} --data {synthetic,ncd,PATH} [--only 00 01]
    colorsurvey speed data [--size 128] [--batch 64] [--seconds 3]       (speed; "bench" is an alias)
    colorsurvey speed train --method unet [--size small] [--resolution 64] [--batch 16] [--steps 20]
    colorsurvey speed compute [--methods ...] [--size small]
    colorsurvey benchmark --profile P --data {synthetic,ncd,PATH} [--methods ...] [--seeds N]
    colorsurvey download ncd [--dest DIR]      colorsurvey download weights {eccv16,siggraph17,vgg19}
    colorsurvey train --method KEY --data {synthetic,ncd,PATH} --profile P [--steps N] [--resume]
    colorsurvey evaluate --run RUN|--pretrained KEY --data PATH|ncd [--categories ...] [--square S]
    colorsurvey colorize INPUT... --run RUN|--method KEY --pretrained --out DIR [--hints F] [--reference IMG]
    torchrun --nproc_per_node N -m colorsurvey train ...                 (data-parallel training)

Errors are printed as one line (``colorsurvey: error: ...``) with exit status 1; ``--debug``
(before the command) shows the full traceback instead.
"""

from __future__ import annotations

import argparse
import os
import json
import sys
import time


def _cmd_list(args) -> int:
    from . import models
    from .models.weights import published

    keys = models.list_models(args.taxonomy)
    if not keys:
        raise KeyError(f"no methods registered for taxonomy {args.taxonomy!r}")
    for key in keys:
        cls = models.get_class(key)
        ws = published(key)
        if args.cards:
            print(cls.card.summary())
            print(f"  sizes: {', '.join(cls.sizes)}")
            for w in ws:
                print(f"  published weights ({w.size}): {w.name}, {w.url} - {w.licence}")
            print()
        else:
            c = cls.card
            mark = f"  [weights: {', '.join(w.size for w in ws)}]" if ws else ""
            print(f"{key:22s} §{c.section:7s} {c.taxonomy:15s} {c.title} ({c.year or '-'}){mark}")
    if not args.cards and any(published(k) for k in keys):
        print("\n[weights: SIZE]: the authors' weights load with "
              "colorsurvey.models.create(key, size=SIZE, pretrained=True)")
    return 0


def _cmd_run_notebooks(args) -> int:
    from .runner import run_notebooks

    t0 = time.perf_counter()
    runs = run_notebooks(args.profile, args.data, out=args.out, only=args.only, progress=not args.quiet)
    failed = [r for r in runs if not r.ok]
    print(f"{len(runs) - len(failed)} of {len(runs)} notebooks ran in {time.perf_counter() - t0:.0f} s")
    for r in failed:
        print(f"  failed: {r.name}: {r.error}")
    return 1 if failed else 0


def _cmd_speed(args) -> int:
    from .speed import speed_compute, speed_data, speed_train

    if args.what == "data":
        res = speed_data(size=args.size, batch=args.batch, seconds=args.seconds, device=args.device)
    elif args.what == "train":
        res = speed_train(args.method, size=args.model_size, resolution=args.resolution,
                          batch=args.batch, steps=args.steps, device=args.device)
    else:
        res = speed_compute(args.methods, size=args.model_size, resolution=args.resolution, device=args.device)
    print(json.dumps(res, indent=1, default=str))
    return 0


def _cmd_benchmark(args) -> int:
    from .benchmark import run_benchmark

    out = args.out or f"output/benchmark/{args.profile}-{args.data.replace('/', '_')}"
    t0 = time.perf_counter()
    bench, result = run_benchmark(args.profile, args.data, methods=args.methods, out=out, seeds=args.seeds,
                                  device=args.device, official=not args.no_official, runs=args.runs,
                                  retrain=True if args.retrain else None)
    import pandas as pd

    with pd.option_context("display.width", 160, "display.max_columns", 30):
        print(result.dataset_table().round(3).to_string())
    for label, status in result.official.items():
        print(f"{label}: {status}")
    survey = bench.survey_comparison(result).xs("Dataset-level", level="category")
    print("the survey's NCD table (official weights, real NCD) beside ours, dataset level (unweighted category mean):")
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.max_colwidth", 90):
        print(survey.drop(columns=["theirs"]).round(3).to_string())
    verdicts = bench.conclusions(result)
    for c in verdicts:
        print(f"survey remark {c['remark']}: {c['verdict']} ({c['evidence']})")
    if not verdicts:
        print("survey remarks: nothing to judge (no learned method in this run)")
    print(f"{result.trained} runs trained now, the rest loaded from the run store {bench.store.root}; "
          f"{time.perf_counter() - t0:.0f} s; tables in {out}/tables")
    return 1 if result.failures else 0


def _taxonomy_classes() -> tuple[str, ...]:
    from .models.base import TAXONOMY

    return TAXONOMY


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="colorsurvey", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("list", help="registered methods and their cards")
    s.add_argument("--taxonomy", default=None, choices=_taxonomy_classes(),
                   help="one taxonomy class, spelt as in the cards")
    s.add_argument("--cards", action="store_true", help="print the full cards")
    s.set_defaults(fn=_cmd_list)

    s = sub.add_parser("run-notebooks", help="execute every notebook with papermill")
    s.add_argument("--profile", default=None, help="smoke, cpu, brief or paper (default: by hardware)")
    s.add_argument("--data", default="synthetic", help="synthetic, ncd or a folder of images")
    s.add_argument("--out", default="output")
    s.add_argument("--only", nargs="*", default=None, help="notebook numbers or names, e.g. 00 01")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(fn=_cmd_run_notebooks)

    s = sub.add_parser("speed", aliases=["bench"],
                       help="speed measurements that print numbers (not the survey's table: that is 'benchmark')")
    s.add_argument("what", choices=["data", "train", "compute"])
    s.add_argument("--device", default=None)
    s.add_argument("--size", type=int, default=128, help="image side for 'data'")
    s.add_argument("--batch", type=int, default=None)
    s.add_argument("--seconds", type=float, default=3.0)
    s.add_argument("--method", default="unet")
    s.add_argument("--methods", nargs="*", default=None)
    s.add_argument("--model-size", default="small")
    s.add_argument("--resolution", type=int, default=64)
    s.add_argument("--steps", type=int, default=20)
    s.set_defaults(fn=_cmd_speed)

    s = sub.add_parser("benchmark", help="the survey's table over every registered method")
    s.add_argument("--profile", default=None, help="smoke, cpu, brief or paper (default: by hardware)")
    s.add_argument("--data", default="synthetic", help="synthetic, ncd or a folder of images")
    s.add_argument("--methods", nargs="*", default=None, help="method keys (default: all)")
    s.add_argument("--seeds", type=int, default=None, help="seeds per method (default: the profile's)")
    s.add_argument("--out", default=None, help="default: output/benchmark/<profile>-<data>")
    s.add_argument("--device", default=None)
    s.add_argument("--no-official", action="store_true", help="skip the official-weights rows")
    s.add_argument("--runs", "--cache", dest="runs", default=None,
                   help="the run store (default: $COLORSURVEY_RUNS or output/runs, shared with the notebooks)")
    s.add_argument("--retrain", action="store_true", help="train every method afresh (also: COLORSURVEY_RETRAIN=1)")
    s.set_defaults(fn=_cmd_benchmark)

    from .data.download import add_arguments

    add_arguments(sub.add_parser("download", help="fetch a real data set or published weights"))

    from .commands import colorize, evaluate, train

    for command in (train, evaluate, colorize):
        command.add_parser(sub)
    return p


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    if isinstance(e, KeyError) and len(e.args) == 1 and isinstance(e.args[0], str):
        text = " ".join(e.args[0].split())             # KeyError's str() adds quotes
    return text or type(e).__name__


def main(argv: list[str] | None = None) -> int:
    """Run a command; an error is one line on stderr and exit status 1 (130 when interrupted),
    unless ``--debug`` asks for the traceback."""
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "profile", "x") is None:
            from .profiles import default_profile

            args.profile = default_profile()
        return args.fn(args)
    except BrokenPipeError:            # the reader went away (e.g. `colorsurvey list | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("colorsurvey: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if args.debug:
            raise
        print(f"colorsurvey: error: {_one_line(e)} (run with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
