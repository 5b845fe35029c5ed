"""memory: peak memory per pipeline stage, per point.

The peak of a stage is the largest tracked-allocator peak over its ranks (summary.json's
peak_mem_bytes.per_stage; the CSV joins the stages with ';'). One panel per combination of the
grid's other columns (pp=4 micro_batches=8, ...); in a panel, a group of bars per stage, one bar per
value of the hue (layout.schedule when it varies) — how a schedule's activation stash loads its
first stages, and how the memory falls as pp grows.
"""
import math

import matplotlib.pyplot as plt
from matplotlib.patches import Patch

import common

MIB = 1024.0 * 1024.0


def per_stage(row):
    value = row.get("peak_mem_per_stage_bytes")
    if value is None:
        return []
    if isinstance(value, (int, float)):
        return [float(value)]
    return [float(v) for v in str(value).split(";") if v != ""]


def draw(args):
    results = common.Results(args.input, args.where)
    rows = [r for r in results.rows if per_stage(r)]
    if not rows:
        raise common.PlotError(f"{results.path}: no ok row has peak_mem_per_stage_bytes")
    hue = common.default_hue(results, args.hue)
    panel_keys = results.varying(exclude={hue})
    panels = common.unique(tuple(r.get(k) for k in panel_keys) for r in rows)
    hues = common.unique(r.get(hue) for r in rows) if hue else [None]

    cols = len(panels) if len(panels) <= 3 else (2 if len(panels) == 4 else 3)
    nrows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.6 * cols + 0.6, 3.6 * nrows + 0.8), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
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
        ax.set_xticks(range(stages))
        ax.set_xticklabels([f"stage {s}" for s in range(stages)], fontsize=8)
        ax.set_ylabel("peak memory per rank (MiB)", fontsize=8)
        ax.set_title(common.label(dict(zip(panel_keys, panel)), panel_keys) if panel_keys else "", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    handles = [Patch(color=common.PALETTE[h % len(common.PALETTE)], label=str(v)) for h, v in enumerate(hues)] if hue \
        else [Patch(color=common.PALETTE[0], label="peak over the stage's ranks")]
    # Title and legend take a fixed height above the panels, whatever the figure's height.
    height = fig.get_figheight()
    fig.suptitle(args.title or f"{results.title()}: peak memory per pipeline stage", y=1 - 0.08 / height)
    fig.legend(handles=handles, title=common.short(hue) if hue else None, loc="upper center", ncol=min(len(handles), 8),
               fontsize=8, title_fontsize=8, frameon=False, bbox_to_anchor=(0.5, 1 - 0.38 / height))
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.7 / height))
    return fig
