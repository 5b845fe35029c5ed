"""compare: throughput and pipeline bubble per sweep point, grouped.

Bars are coloured by one column (the hue: layout.schedule when it varies) and grouped along x by
the other columns that vary. Top: tokens/s with the spread of step times (p10..p90) as error bars
(throughput at the median step time: common.throughput), and the simulator's tokens/s as a mark when
the CSV has it. Bottom: the measured bubble as bars; the analyzer's prediction for the same schedule (and the
simulator's, when the CSV has it) as markers on each bar.
"""
import matplotlib.pyplot as plt
import numpy as np

import common


def draw(args):
    results = common.Results(args.input, args.where)
    rows = results.rows
    hue = common.default_hue(results, args.hue)
    groups_by = results.varying(exclude={hue})
    groups = common.unique(tuple(r.get(k) for k in groups_by) for r in rows)
    if hue and not args.hue and len(groups) == len(rows):
        # Every group would hold one bar (a layout sweep: each dp/pp/tp combination once): one bar per
        # point, labelled with all its values, reads better than a colour per value of the last key.
        hue, groups_by = None, results.varying()
        groups = common.unique(tuple(r.get(k) for k in groups_by) for r in rows)
    hues = common.unique(r.get(hue) for r in rows) if hue else [None]

    width = 0.8 / len(hues)
    fig_width = max(6.5, 0.45 * len(groups) * len(hues) + 2.5)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(min(fig_width, 22), 7.5), sharex=True)
    sim_marks = []  # every simulated tokens/s drawn, so the axis holds them
    for h, hue_value in enumerate(hues):
        colour = common.PALETTE[h % len(common.PALETTE)]
        xs, tput, lo, hi, bubble, analyzer, sim, sim_tput = [], [], [], [], [], [], [], []
        for g, group in enumerate(groups):
            match = [r for r in rows if tuple(r.get(k) for k in groups_by) == group and (hue is None or r.get(hue) == hue_value)]
            if not match:
                continue
            r = match[0]
            x = g - 0.4 + width * (h + 0.5)
            tps = common.throughput(r) or 0.0
            median, p10, p90 = (r.get(k) for k in ("step_time_median_s", "step_time_p10_s", "step_time_p90_s"))
            xs.append(x)
            tput.append(tps)
            # tokens per step are fixed within a run, so tokens/s scales as 1 / step time: the bar is
            # the median step, the error bar the p90 (slow) .. p10 (fast) steps
            lo.append(tps - tps * median / p90 if median and p90 else 0.0)
            hi.append(tps * median / p10 - tps if median and p10 else 0.0)
            bubble.append(100.0 * (r.get("bubble_frac") or 0.0))
            analyzer.append(100.0 * r["analyzer_bubble_frac"] if r.get("analyzer_bubble_frac") is not None else np.nan)
            sim.append(100.0 * r["sim_bubble_frac"] if r.get("sim_bubble_frac") is not None else np.nan)
            sim_tput.append(r["sim_tokens_per_s"] if r.get("sim_tokens_per_s") is not None else np.nan)
            sim_marks.append(sim_tput[-1])
        name = str(hue_value) if hue else "measured"
        top.bar(xs, tput, width * 0.92, yerr=[lo, hi], capsize=2, color=colour, label=name,
                error_kw={"elinewidth": 0.8, "ecolor": "#333333"})
        bottom.bar(xs, bubble, width * 0.92, color=colour)
        bottom.scatter(xs, analyzer, marker="_", s=220, linewidths=2.2, color="black", zorder=3,
                       label="analyzer prediction" if h == 0 else None)
        if not all(np.isnan(sim)):
            clusters = ", ".join(str(c) for c in common.unique(r.get("sim_cluster") for r in rows if r.get("sim_cluster")))
            bottom.scatter(xs, sim, marker="x", s=40, color="#444444", zorder=3)
            top.scatter(xs, sim_tput, marker="x", s=40, color="#444444", zorder=3,
                        label=f"simulator prediction ({clusters})" if h == 0 else None)

    top.set_ylabel("throughput at the median step (tokens/s)", fontsize=9)
    top.grid(axis="y", alpha=0.3)
    # The axis follows the bars and the simulator's marks, not the error bars: one step that ran
    # unusually fast (a p10 far below the median) would otherwise flatten every bar. Longer error bars
    # run off the top.
    tallest = max([bar.get_height() for bar in top.patches] + [v for v in sim_marks if not np.isnan(v)], default=0.0)
    if tallest > 0 and top.get_ylim()[1] > 1.4 * tallest:
        top.set_ylim(0, 1.4 * tallest)
        top.text(0.995, 0.98, "error bars clipped at the top", transform=top.transAxes, ha="right", va="top",
                 fontsize=7, color="#555555")
    entries = len(hues) + 1 + int(any(r.get("sim_bubble_frac") is not None for r in rows))
    legend_cols = max(1, min(entries, int(min(fig_width, 22) / 1.7)))  # as many as the width holds
    legend_rows = -(-entries // legend_cols)
    top.set_title(args.title or f"{results.title()}: throughput and bubble per point", pad=22 + 12 * legend_rows)
    bottom.set_ylabel("pipeline bubble (% of step time)")
    bottom.grid(axis="y", alpha=0.3)
    # One legend for both panels, above them: the hue's values, then the prediction markers.
    handles, labels = top.get_legend_handles_labels()
    more_handles, more_labels = bottom.get_legend_handles_labels()
    top.legend(handles + more_handles, labels + more_labels, title=common.short(hue) if hue else None, fontsize=8,
               title_fontsize=8, ncol=legend_cols, loc="lower left",
               bbox_to_anchor=(0, 1.0), frameon=False)
    bottom.set_xticks(range(len(groups)))
    bottom.set_xticklabels([common.label(dict(zip(groups_by, g)), groups_by, "\n") for g in groups], fontsize=8)
    bottom.set_xlim(-0.6, len(groups) - 0.4)
    fig.text(0.99, 0.005, "error bars: step time p10..p90", ha="right", fontsize=7, color="#555555")
    fig.tight_layout()
    return fig
