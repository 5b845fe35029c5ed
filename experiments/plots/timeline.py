"""timeline: a per-rank Gantt chart of one measured step (a run's trace.json: its last step, every
rank) and, under it on the same time axis, the analyzer's timeline of the same schedule with the
action costs measured in that trace (`trident plot` derives it from the run's config.json).

Each rank (stage, in the analyzer's panel) is a row: compute actions in the upper lane — F, B,
I, W in their own colours, the micro-batch number in each box wide enough to hold it, a stage's
later chunks (v > 1) in a lighter shade — and point-to-point sends and receives (the receive box
is the time spent waiting for the peer) plus data-parallel reductions in the lower lane. Grey
under the compute lane is idle time: the bubble.
"""
import json
import os
import re

import matplotlib.pyplot as plt
from matplotlib.patches import Patch

import common

COLOURS = {"F": "#0072B2", "B": "#009E73", "I": "#E69F00", "W": "#CC79A7", "FB": "#56B4E9",
           "SEND": "#D55E00", "RECV": "#F4B183", "DP": "#8C564B"}
IDLE = "#E3E3E3"
ACTION = re.compile(r"^(F|B|I|W)(\d+)\.(\d+)$")
OVERLAPPED = re.compile(r"^F(\d+)\.(\d+)\+B(\d+)\.(\d+)$")
P2P = re.compile(r"^(SEND|RECV)_(F|B)(\d+)\.(\d+)$")


def read_trace(path):
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise common.PlotError(f"cannot read trace {path}: {e}")
    events = doc.get("traceEvents") if isinstance(doc, dict) else doc
    if not isinstance(events, list):
        raise common.PlotError(f"{path} is not a Chrome trace (no traceEvents list)")
    names, spans = {}, []
    for e in events:
        if e.get("ph") == "M" and e.get("name") == "process_name":
            names[e["pid"]] = e.get("args", {}).get("name", f"pid {e['pid']}")
        elif e.get("ph") == "X":
            spans.append(e)
    if not spans:
        raise common.PlotError(f"{path} holds no complete events")
    return names, spans


def lighter(colour, amount):
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    mix = lambda c: int(c + (255 - c) * amount)
    return f"#{mix(r):02x}{mix(g):02x}{mix(b):02x}"


def classify(name, cat):
    """(kind, micro-batch text, chunk) of an event; kind is a COLOURS key or None."""
    m = ACTION.match(name)
    if m:
        return m.group(1), m.group(2), int(m.group(3))
    m = OVERLAPPED.match(name)
    if m:
        return "FB", f"{m.group(1)}+{m.group(3)}", int(m.group(2))
    m = P2P.match(name)
    if m:
        return m.group(1), m.group(3), int(m.group(4))
    if cat == "comm":
        return "DP", "", 0
    return None, "", 0


def span_ms(spans):
    return (max(e["ts"] + e["dur"] for e in spans) - min(e["ts"] for e in spans)) / 1e3


def draw_panel(ax, names, spans, title, axis_ms, note=""):
    """One Gantt chart; `axis_ms` is the shared time axis's length (the longer of the panels)."""
    t0 = min(e["ts"] for e in spans)
    total_ms = span_ms(spans)
    pids = sorted({e["pid"] for e in spans})
    chunks = {p: sorted({classify(e["name"], e.get("cat"))[2] for e in spans if e["pid"] == p
                         and e.get("tid", 0) == 0}) for p in pids}
    used, busy_frac = set(), []
    for row, pid in enumerate(pids):
        y = len(pids) - 1 - row  # first rank on top
        mine = [e for e in spans if e["pid"] == pid]
        ax.broken_barh([(0, total_ms)], (y - 0.05, 0.5), color=IDLE, zorder=1)
        busy = 0.0
        for e in mine:
            kind, mb, chunk = classify(e["name"], e.get("cat"))
            if kind is None:
                continue
            start, width = (e["ts"] - t0) / 1e3, e["dur"] / 1e3
            used.add(kind)
            if e.get("tid", 0) == 0:  # compute lane
                busy += width
                local = chunks[pid].index(chunk) if chunk in chunks[pid] else 0
                colour = lighter(COLOURS[kind], 0.45 * local)
                ax.broken_barh([(start, width)], (y - 0.05, 0.5), color=colour, edgecolor="white", linewidth=0.4,
                               zorder=2)
                if mb and width > axis_ms * 0.018:
                    ax.text(start + width / 2, y + 0.2, mb, ha="center", va="center", fontsize=6.5, color="white",
                            zorder=3, clip_on=True)
            else:  # communication lane
                ax.broken_barh([(start, max(width, axis_ms * 0.002))], (y - 0.33, 0.22), color=COLOURS[kind],
                               zorder=2)
        busy_frac.append(busy / total_ms if total_ms > 0 else 0.0)
    ax.set_yticks(range(len(pids)))
    ax.set_yticklabels([names.get(p, f"pid {p}") for p in reversed(pids)], fontsize=7)
    ax.set_ylim(-0.6, len(pids) - 0.3)
    ax.set_xlim(0, axis_ms * 1.01)
    bubble = 100.0 * (1.0 - sum(busy_frac) / len(busy_frac))
    ax.set_title(f"{title} — {total_ms:.1f} ms, idle {bubble:.1f}% of the compute lanes{note}", fontsize=9, loc="left")
    ax.grid(axis="x", alpha=0.25)
    return used


def draw(args):
    names, spans = read_trace(args.input)
    run = os.path.basename(os.path.dirname(os.path.abspath(args.input)))
    panels = [(names, spans, f"measured: {run}/{os.path.basename(args.input)} (one step, every rank)")]
    if args.predicted:
        p_names, p_spans = read_trace(args.predicted)
        panels.append((p_names, p_spans, "analyzer: the same schedule with the measured per-chunk costs (p2p = 0)"))
    heights = [max(1.5, 0.42 * len({e['pid'] for e in s}) + 0.8) for _, s, _ in panels]
    # One time axis when the two steps are of comparable length; when the measured step is much
    # longer (a loaded machine, waits the analyzer does not model), a shared axis would squeeze the
    # prediction into a sliver, so each panel gets its own (and says so).
    lengths = [span_ms(s) for _, s, _ in panels]
    shared = max(lengths) <= 3.0 * min(lengths)
    fig, axes = plt.subplots(len(panels), 1, figsize=(12, sum(heights) + 1.2 + (0 if shared else 0.4)),
                             sharex=shared, gridspec_kw={"height_ratios": heights}, squeeze=False)
    used = set()
    for ax, (n, s, title), length in zip(axes[:, 0], panels, lengths):
        note = "" if shared else f"; own time axis ({max(lengths) / min(lengths):.0f}× apart)"
        used |= draw_panel(ax, n, s, title, max(lengths) if shared else length, note)
        if not shared or ax is axes[-1, 0]:
            ax.set_xlabel("time since the step's first event (ms)", fontsize=8 if not shared else None)
    legend = {"F": "forward (F)", "B": "backward (B)", "I": "input grad (I)", "W": "weight grad (W)",
              "FB": "overlapped F+B", "SEND": "send", "RECV": "receive (wait)", "DP": "gradient reduction"}
    handles = [Patch(color=COLOURS[k], label=v) for k, v in legend.items() if k in used]
    handles.append(Patch(color=IDLE, label="idle"))
    fig.legend(handles=handles, loc="upper center", ncol=len(handles), fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, 1.0))
    if args.title:
        fig.suptitle(args.title, y=1.04)
    fig.text(0.01, 0.002, "boxes: micro-batch number; lighter shade: a stage's later chunk", fontsize=7,
             color="#555555")
    fig.tight_layout(rect=(0, 0.01, 1, 0.96))
    return fig
