"""memory: peak memory per pipeline stage, per point.

The peak of a stage is the largest tracked-allocator peak over its ranks (summary.json's
peak_mem_bytes.per_stage; the CSV joins the stages with ';'). One panel per combination of the
grid's other columns (pp=4 micro_batches=8, ...); in a panel, a group of bars per stage, one bar per
value of the hue (layout.schedule when it varies) — how a schedule's activation stash loads its
first stages, and how the memory falls as pp grows. When the sweep simulated its points, a black
mark on each bar is the simulator's memory model's peak for that stage (sim_peak_mem_per_stage_bytes).
"""
import math

import matplotlib.pyplot as plt
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

import common

MIB = 1024.0 * 1024.0


def per_stage(row, column="peak_mem_per_stage_bytes"):
    value = row.get(column)
    if value is None:
        return []
    if isinstance(value, (int, float)):
        return [float(value)]
    return [float(v) for v in str(value).split(";") if v != ""]


def mark_simulated(ax, xs, row, width, simulated):
    """The simulator's peak per stage as a black mark on each of the row's bars at `xs`; adds the
    row's cluster to `simulated` when there is a prediction."""
    predicted = per_stage(row, "sim_peak_mem_per_stage_bytes")
    if len(predicted) != len(xs):
        return
    simulated.add(str(row.get("sim_cluster")))
    ax.scatter(xs, [p / MIB for p in predicted], marker="_", s=min(220, 2400 * width), linewidths=2.2, color="black",
               zorder=3)


def simulated_handle(simulated):
    """The legend entry of the simulator's marks (none when nothing was simulated)."""
    if not simulated:
        return []
    return [Line2D([], [], color="black", marker="_", linestyle="none", markersize=12, markeredgewidth=2.2,
                   label=f"simulator prediction ({', '.join(sorted(simulated))})")]


def draw_points(args, results, rows):
    """One panel, a group of bars per point (labelled with every value that varies), one bar per
    stage, stages in a sequential colour (first stage darkest)."""
    keys = results.varying()
    stages = max(len(per_stage(r)) for r in rows)
    colours = plt.get_cmap("viridis")([0.85 * s / max(1, stages - 1) for s in range(stages)])
    fig_width = min(22, max(7.0, 0.35 * sum(len(per_stage(r)) for r in rows) + 2.5))
    fig, ax = plt.subplots(figsize=(fig_width, 4.8))
    width = 0.84 / stages
    simulated = set()
    for g, r in enumerate(rows):
        peaks = per_stage(r)
        xs = [g + width * (s - (len(peaks) - 1) / 2) for s in range(len(peaks))]  # centred on the point's tick
        ax.bar(xs, [p / MIB for p in peaks], width * 0.92, color=[colours[s] for s in range(len(peaks))])
        mark_simulated(ax, xs, r, width, simulated)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([common.label(r, keys, "\n") for r in rows], fontsize=8)
    ax.set_xlim(-0.6, len(rows) - 0.4)
    ax.set_ylabel("peak memory per rank (MiB)")
    ax.grid(axis="y", alpha=0.3)
    handles = [Patch(color=colours[s], label=f"stage {s}") for s in range(stages)]
    handles += simulated_handle(simulated)
    cols = max(1, min(len(handles), int(fig_width / 1.5)))  # as many legend columns as the width holds
    ax.legend(handles=handles, fontsize=8, ncol=cols, loc="lower left", bbox_to_anchor=(0, 1.0), frameon=False)
    ax.set_title(args.title or f"{results.title()}: peak memory per pipeline stage", pad=14 + 14 * -(-len(handles) // cols))
    fig.tight_layout()
    return fig


def draw(args):
    results = common.Results(args.input, args.where)
    rows = [r for r in results.rows if per_stage(r)]
    if not rows:
        raise common.PlotError(f"{results.path}: no ok row has peak_mem_per_stage_bytes")
    hue = common.default_hue(results, args.hue)
    panel_keys = results.varying(exclude={hue})
    panels = common.unique(tuple(r.get(k) for k in panel_keys) for r in rows)
    if not args.hue and len(panels) == len(rows) and len(rows) > 1:
        # Every panel would hold one point (a layout sweep: each dp/pp/tp combination once).
        return draw_points(args, results, rows)
    hues = common.unique(r.get(hue) for r in rows) if hue else [None]

    cols = len(panels) if len(panels) <= 3 else (2 if len(panels) == 4 else 3)
    nrows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.6 * cols + 0.6, 3.6 * nrows + 0.8), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    simulated = set()  # the clusters of the simulator's predictions drawn
    for ax, panel in zip(axes.flat, panels):
        in_panel = [r for r in rows if tuple(r.get(k) for k in panel_keys) == panel]
        stages = max(len(per_stage(r)) for r in in_panel)
        width = 0.84 / len(hues)
        for h, hue_value in enumerate(hues):
            match = [r for r in in_panel if hue is None or r.get(hue) == hue_value]
            if not match:
                continue
            peaks = per_stage(match[0])
            xs = [s - 0.42 + width * (h + 0.5) for s in range(len(peaks))]
            ax.bar(xs, [p / MIB for p in peaks], width * 0.92, color=common.PALETTE[h % len(common.PALETTE)])
            mark_simulated(ax, xs, match[0], width, simulated)
        ax.set_xticks(range(stages))
        ax.set_xticklabels([f"stage {s}" for s in range(stages)], fontsize=8)
        ax.set_ylabel("peak memory per rank (MiB)", fontsize=8)
        ax.set_title(common.label(dict(zip(panel_keys, panel)), panel_keys) if panel_keys else "", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    handles = [Patch(color=common.PALETTE[h % len(common.PALETTE)], label=str(v)) for h, v in enumerate(hues)] if hue \
        else [Patch(color=common.PALETTE[0], label="peak over the stage's ranks")]
    handles += simulated_handle(simulated)
    # Title and legend take a fixed height above the panels, whatever the figure's height.
    height = fig.get_figheight()
    fig.suptitle(args.title or f"{results.title()}: peak memory per pipeline stage", y=1 - 0.08 / height)
    fig.legend(handles=handles, title=common.short(hue) if hue else None, loc="upper center", ncol=min(len(handles), 8),
               fontsize=8, title_fontsize=8, frameon=False, bbox_to_anchor=(0.5, 1 - 0.38 / height))
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.7 / height))
    return fig
