#!/usr/bin/env python3
"""Side-by-side step times of `usam bench steps --json` and
`scripts/torch_baseline.py --json`.

    python3 scripts/compare_steps.py [--per-image] FILE.json...

Each file holds one run (one tool, backend, model and batch):

    {"tool": "usam" | "pytorch", "backend": "cpu" | "ndarray" | "wgpu" | "cuda",
     "device_name": "...", "model": "mlp", "batch": 128, "steps": 10,
     "warmup": 2, "rows": [{"method": "sgd", "passes": 1, "median_ms": 1.25,
     "min_ms": 1.1, "ratio": 1.0, "ratio_per_pass": 1.0}, ...]}

Prints, per model and batch, one Markdown table of ms/step per method with
one column per (tool, backend) (`usam-cuda`, `PyTorch (cuda)`, ...), then a
column `usam-X / PyTorch` for every usam backend X when a PyTorch run of
the same model and batch exists (`usam-X / PyTorch (b)` when there are
PyTorch runs on several backends). With --per-image the tables also show
ms per image (median_ms / batch), and a last table compares, for every
usam run and every PyTorch run of the same model (any batch), SGD's time
per image: useful when the two tools ran at different batches on the CPU.

A path that does not exist is skipped with a note on stderr (so a GPU
script can call this even when one tool failed); invalid JSON, or JSON not
in the schema, is an error naming the file (exit 2). Exit 1 when no file
could be read at all. Standard library only.
"""

import argparse
import json
import math
import os
import sys

PROG = "compare_steps.py"


class InputError(Exception):
    pass


def load(path):
    """The run in `path`, or None if the file does not exist."""
    if not os.path.exists(path):
        print(f"{PROG}: note: skipping {path}: no such file", file=sys.stderr)
        return None
    try:
        with open(path) as f:
            doc = json.load(f)
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: invalid JSON: {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read: {e}") from None
    return validate(path, doc)


def validate(path, doc):
    def bad(what):
        raise InputError(f"{path}: not a step-time file: {what}")

    if not isinstance(doc, dict):
        bad("the top level is not an object")
    for key, kind in (("tool", str), ("backend", str), ("model", str),
                      ("batch", int), ("rows", list)):
        if key not in doc:
            bad(f"missing {key!r}")
        if not isinstance(doc[key], kind) or isinstance(doc[key], bool):
            bad(f"{key!r} is not a {kind.__name__}")
    if doc["batch"] < 1:
        bad("'batch' is below 1")
    for i, row in enumerate(doc["rows"]):
        if not isinstance(row, dict):
            bad(f"row {i} is not an object")
        if not isinstance(row.get("method"), str):
            bad(f"row {i} has no 'method' string")
        ms = row.get("median_ms")
        if not isinstance(ms, (int, float)) or isinstance(ms, bool) \
                or not math.isfinite(ms):
            bad(f"row {i} ({row['method']}) has no finite 'median_ms'")
    doc["path"] = path
    return doc


def column_name(run):
    tool, backend = run["tool"], run["backend"]
    if tool == "usam":
        return f"usam-{backend}"
    if tool == "pytorch":
        # A non-default OpenMP wait policy is named: it changes PyTorch's
        # CPU times by 2x either way (see torch_baseline.py).
        policy = run.get("omp_wait_policy")
        if isinstance(policy, str) and policy.lower() not in ("", "default"):
            return f"PyTorch ({backend}, {policy.upper()})"
        return f"PyTorch ({backend})"
    return f"{tool} ({backend})"


def fmt(v):
    """At least 3 significant digits and at least 2 decimals."""
    if v is None:
        return "-"
    if v == 0 or not math.isfinite(v):
        return f"{v:.2f}"
    digits = max(2, 2 - math.floor(math.log10(abs(v))))
    return f"{v:.{digits}f}"


def row_of(run, method):
    for r in run["rows"]:
        if r["method"] == method:
            return r
    return None


def group_table(model, batch, runs, per_image):
    # Column names, unique within the table.
    names, seen = [], {}
    for run in runs:
        name = column_name(run)
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name} #{seen[name]}")
    methods, passes = [], {}
    for run in runs:
        for r in run["rows"]:
            if r["method"] not in passes:
                methods.append(r["method"])
                passes[r["method"]] = r.get("passes")
    usam = [i for i, r in enumerate(runs) if r["tool"] == "usam"]
    torch = [i for i, r in enumerate(runs) if r["tool"] == "pytorch"]
    pairs = [(u, t) for u in usam for t in torch]

    def pair_name(u, t):
        if len(torch) == 1:
            return f"{names[u]} / PyTorch"
        return f"{names[u]} / {names[t]}"

    lines = [f"model {model}, batch {batch}"]
    for name, run in zip(names, runs):
        extra = []
        if run.get("device_name"):
            extra.append(str(run["device_name"]))
        if isinstance(run.get("steps"), int):
            extra.append(f"{run['steps']} rounds after {run.get('warmup', '?')} warm-up")
        if run.get("threads"):
            extra.append(f"{run['threads']} CPU threads")
        lines.append(f"- {name}: {', '.join(extra) or 'no details'} ({run['path']})")
    lines.append("")
    head = ["method", "passes"] + [f"{n} ms/step" for n in names]
    if per_image:
        head += [f"{n} ms/image" for n in names]
    head += [pair_name(u, t) for u, t in pairs]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    for m in methods:
        cells = [m, str(passes[m]) if passes[m] is not None else "-"]
        ms = []
        for run in runs:
            r = row_of(run, m)
            ms.append(None if r is None else float(r["median_ms"]))
        cells += [fmt(v) for v in ms]
        if per_image:
            cells += [fmt(None if v is None else v / batch) for v in ms]
        for u, t in pairs:
            ok = ms[u] is not None and ms[t] is not None and ms[t] > 0
            cells.append(f"{ms[u] / ms[t]:.2f}" if ok else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def per_image_table(runs):
    """SGD ms per image, every usam run against every PyTorch run of the
    same model (any batch)."""
    lines = []
    for model in sorted({r["model"] for r in runs}):
        usam = [r for r in runs if r["model"] == model and r["tool"] == "usam"]
        torch = [r for r in runs if r["model"] == model and r["tool"] == "pytorch"]
        for u in usam:
            for t in torch:
                ru, rt = row_of(u, "sgd"), row_of(t, "sgd")
                if ru is None or rt is None:
                    continue
                pu = ru["median_ms"] / u["batch"]
                pt = rt["median_ms"] / t["batch"]
                ratio = f"{pu / pt:.2f}" if pt > 0 else "-"
                lines.append(f"| {model} | {column_name(u)} | {u['batch']} | "
                             f"{column_name(t)} | {t['batch']} | {fmt(pu)} | "
                             f"{fmt(pt)} | {ratio} |")
    if not lines:
        return ""
    return ("SGD time per image (median_ms / batch), usam against PyTorch, any batch\n\n"
            "| model | usam | batch | PyTorch | batch | usam ms/image | "
            "PyTorch ms/image | usam / PyTorch |\n|---|---|---|---|---|---|---|---|\n"
            + "\n".join(lines) + "\n")


def report(runs, per_image=False):
    groups = {}
    for run in runs:
        groups.setdefault((run["model"], run["batch"]), []).append(run)
    parts = []
    for (model, batch) in sorted(groups):
        # usam columns first, then PyTorch (its default settings before a
        # named OpenMP policy), then anything else; stable.
        order = {"usam": 0, "pytorch": 1}
        members = sorted(groups[(model, batch)],
                         key=lambda r: (order.get(r["tool"], 2),
                                        column_name(r) != f"PyTorch ({r['backend']})"))
        parts.append(group_table(model, batch, members, per_image))
    if per_image:
        extra = per_image_table(runs)
        if extra:
            parts.append(extra)
    return "\n".join(parts)


def main(argv=None):
    p = argparse.ArgumentParser(
        prog=PROG, description="Compare step-time JSON files of usam and PyTorch.")
    p.add_argument("files", nargs="+", metavar="FILE.json")
    p.add_argument("--per-image", action="store_true",
                   help="add ms per image, and SGD per-image ratios across batches")
    a = p.parse_args(argv)
    runs = []
    try:
        for path in a.files:
            run = load(path)
            if run is not None:
                runs.append(run)
    except InputError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    if not runs:
        print(f"{PROG}: error: none of the {len(a.files)} files could be read",
              file=sys.stderr)
        return 1
    print(report(runs, a.per_image), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
