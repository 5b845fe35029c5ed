#!/usr/bin/env python3
"""trident's figures: `trident plot KIND --input FILE --out FILE.png [--out FILE.svg]` runs this.

  timeline  a run's trace.json -> per-rank Gantt of one measured step (+ the analyzer's timeline)
  compare   a sweep's results.csv -> tokens/s and bubble per point, grouped
  scaling   a sweep's results.csv -> throughput and parallel efficiency against rank count
  memory    a sweep's results.csv -> peak memory per pipeline stage per point

Each kind lives in its own module next to this file; common.py holds the CSV reading and saving.
"""
import argparse
import os
import sys


def main():
    parser = argparse.ArgumentParser(prog="trident plot", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["timeline", "compare", "scaling", "memory"])
    parser.add_argument("--input", required=True, help="trace.json (timeline) or results.csv")
    parser.add_argument("--out", action="append", required=True, help="FILE.png or FILE.svg (repeatable)")
    parser.add_argument("--predicted", help="timeline: the analyzer's Chrome trace of the same schedule")
    parser.add_argument("--where", action="append", default=[], help="KEY=VALUE: only rows that match")
    parser.add_argument("--hue", help="compare/memory: the column that colours the bars")
    parser.add_argument("--title", help="the figure's title")
    args = parser.parse_args()
    for out in args.out:
        if os.path.splitext(out)[1] not in (".png", ".svg"):
            parser.error(f"--out {out}: write a .png or an .svg file")

    try:
        import matplotlib
    except ImportError:
        sys.exit(f"trident plot: matplotlib is missing for {sys.executable}: "
                 "install python3-matplotlib (bash .ci/install-deps)")
    matplotlib.use("Agg")
    sys.dont_write_bytecode = True  # no __pycache__ in the source tree
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import common

    try:
        module = __import__(args.kind)
        figure = module.draw(args)
        common.save(figure, args.out)
    except common.PlotError as e:
        sys.exit(f"trident plot {args.kind}: {e}")
    for out in args.out:
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
