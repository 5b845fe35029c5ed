"""scaling: throughput and parallel efficiency against the number of ranks.

One series per value of tag.scaling (weak, strong: the tag scaling.json gives its points), or one
series when the CSV has no such tag. Where several points share a rank count in a series (several
layouts of the same ranks), the fastest is drawn. Efficiency is relative to the series' smallest
run: E(N) = (T(N) / T(N0)) / (N / N0) for throughput T — the same formula for weak scaling (work
grows with N: E = t(N0) / t(N)) and strong scaling (fixed work: E = t(N0)·N0 / (t(N)·N)), with t the
median step time (common.throughput).
"""
import matplotlib.pyplot as plt

import common

SERIES_KEY = "tag.scaling"


def series_of(results):
    if SERIES_KEY in results.header:
        names = common.unique(r.get(SERIES_KEY) for r in results.rows)
        return [(str(n), [r for r in results.rows if r.get(SERIES_KEY) == n]) for n in names]
    return [("all points", results.rows)]


def best_per_rank_count(rows):
    best = {}
    for r in rows:
        n, tps = r.get("world_size"), common.throughput(r)
        if n is None or tps is None:
            continue
        if n not in best or tps > common.throughput(best[n]):
            best[n] = r
    return [best[n] for n in sorted(best)]


def draw(args):
    results = common.Results(args.input, args.where)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    all_ranks = set()
    for i, (name, rows) in enumerate(series_of(results)):
        points = best_per_rank_count(rows)
        if not points:
            continue
        colour = common.PALETTE[i % len(common.PALETTE)]
        ranks = [p["world_size"] for p in points]
        tput = [common.throughput(p) for p in points]
        all_ranks.update(ranks)
        n0, t0 = ranks[0], tput[0]
        left.plot(ranks, tput, "o-", color=colour, label=f"{name} (measured)")
        left.plot(ranks, [t0 * n / n0 for n in ranks], "--", color=colour, alpha=0.5, label=f"{name} (ideal)")
        efficiency = [100.0 * (t / t0) / (n / n0) for n, t in zip(ranks, tput)]
        right.plot(ranks, efficiency, "o-", color=colour, label=name)
        for n, e in zip(ranks, efficiency):  # series alternate above and below their points
            right.annotate(f"{e:.0f}%", (n, e), textcoords="offset points", xytext=(8, 6 if i % 2 == 0 else -12),
                           ha="left", fontsize=7, color=colour)
    if not all_ranks:
        raise common.PlotError(f"{results.path}: no ok row has world_size and tokens_per_s")
    ticks = sorted(all_ranks)
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xlim(ticks[0] / 1.25, ticks[-1] * 1.35)  # room for the efficiency labels right of the points
        ax.set_xticks(ticks)
        ax.set_xticklabels([str(t) for t in ticks])
        ax.set_xlabel("ranks (dp × pp × tp)")
        ax.grid(alpha=0.3)
    left.set_yscale("log")
    left.set_ylabel("throughput at the median step (tokens/s, log scale)", fontsize=9)
    left.set_title("throughput")
    left.legend(fontsize=8)
    right.axhline(100, color="#888888", linestyle=":", linewidth=1)
    right.set_ylabel("parallel efficiency (%)")
    right.set_ylim(0, max(110, right.get_ylim()[1]))
    right.set_title("parallel efficiency vs the smallest run")
    right.legend(fontsize=8)
    fig.suptitle(args.title or f"{results.title()}: throughput and parallel efficiency against ranks")
    fig.tight_layout()
    return fig
