"""Shared by the plot kinds: reading a sweep's results.csv, choosing the columns that vary,
labels, colours, saving PNG and SVG."""
import csv
import os


class PlotError(Exception):
    """Bad input for a plot: printed as one line, exit status 1."""


# Colours that stay distinct in print and for the common colour-vision deficiencies (Okabe-Ito,
# then a few more), in the order series take them.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
           "#8C564B", "#7F7F7F", "#BCBD22", "#17BECF"]


def number(text):
    """A CSV cell as int, float, or the text itself; empty cells are None."""
    if text is None or text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


class Results:
    """A sweep's results.csv: rows as dicts with numbers parsed, and the config columns (those
    between `hash` and `world_size`, which is how trident sweep writes them)."""

    def __init__(self, path, where=()):
        if not os.path.isfile(path):
            raise PlotError(f"{path} is not a file")
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            self.header = reader.fieldnames or []
            rows = [{k: number(v) for k, v in row.items()} for row in reader]
        for needed in ("hash", "world_size", "status"):
            if needed not in self.header:
                raise PlotError(f"{path} has no '{needed}' column: is it a results.csv of trident sweep?")
        start, end = self.header.index("hash") + 1, self.header.index("world_size")
        self.config_columns = self.header[start:end]
        self.path = path
        self.where = list(where)
        for condition in where:
            key, _, value = condition.partition("=")
            if key not in self.header:
                raise PlotError(f"--where {condition}: no column '{key}' in {path}")
            rows = [r for r in rows if str(r.get(key)) == value or r.get(key) == number(value)]
        self.all_rows = rows
        self.rows = [r for r in rows if r.get("status") == "ok"]
        if not self.rows:
            raise PlotError(f"{path} has no row with status ok" + (" matching --where" if where else ""))

    def grid_keys(self):
        """The columns the sweep's grid set, in the grid's order, read back from the label column
        ("pp=2 micro_batches=4 schedule=gpipe": a key's last component, or the whole key when two
        share it). Columns the plan derives from them (layout.layers_per_chunk) are not among them."""
        label = str(self.rows[0].get("label") or "")
        names = [token.split("=", 1)[0] for token in label.split(" ") if "=" in token]
        keys = []
        for name in names:
            if name in self.header:
                keys.append(name)
                continue
            match = [c for c in self.config_columns if c.rsplit(".", 1)[-1] == name]
            if len(match) == 1:
                keys.append(match[0])
        return keys

    def varying(self, exclude=()):
        """The grid's columns whose value differs between the selected rows, in the grid's order."""
        return [c for c in self.grid_keys()
                if c not in exclude and len({repr(r.get(c)) for r in self.rows}) > 1]

    def title(self):
        """The sweep's folder name, and the --where selection if any."""
        name = os.path.basename(os.path.dirname(os.path.abspath(self.path))) or self.path
        return name + (f" ({', '.join(self.where)})" if self.where else "")


def throughput(row):
    """Tokens/s at the run's median step time. summary.json's tokens_per_s is all tokens over all
    time after warm-up, so one step stalled by another process (common on a shared machine) pulls
    it down; the median step is what the run sustains. tokens_per_s × mean step = tokens per step."""
    tps, mean, median = (row.get(k) for k in ("tokens_per_s", "step_time_mean_s", "step_time_median_s"))
    if tps is None:
        return None
    return tps * mean / median if mean and median else tps


def short(key):
    return key.rsplit(".", 1)[-1]


def label(row, keys, sep=" "):
    return sep.join(f"{short(k)}={row.get(k)}" for k in keys) if keys else "all points"


def unique(values):
    """Distinct values in first-seen order."""
    seen, out = set(), []
    for v in values:
        if repr(v) not in seen:
            seen.add(repr(v))
            out.append(v)
    return out


def default_hue(results, hue):
    """The column that colours bars: --hue, else layout.schedule when it varies, else the last
    varying config column (None when nothing varies)."""
    if hue:
        if hue not in results.header:
            raise PlotError(f"--hue {hue}: no column '{hue}' in {results.path}")
        return hue
    varying = results.varying()
    if "layout.schedule" in varying:
        return "layout.schedule"
    return varying[-1] if varying else None


def save(figure, outs):
    for out in outs:
        folder = os.path.dirname(out)
        if folder:
            os.makedirs(folder, exist_ok=True)
        # Written beside the target and renamed: a reader never sees half a figure.
        tmp = out + ".tmp" + os.path.splitext(out)[1]
        figure.savefig(tmp, dpi=150, bbox_inches="tight", metadata={"Date": None} if out.endswith(".svg") else None)
        os.replace(tmp, out)
