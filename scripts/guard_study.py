#!/usr/bin/env python3
"""Figures of the stability-guard study (RESULTS.md, README), from run output.

    python3 scripts/guard_study.py table runs/lr-study runs/lr-study-off
        The combined table of two `configs/lr-study.toml` sweeps (guard on, off):
        divergences, test accuracy, final ||H||_F, the ratio ||g - g0|| / ||g0||
        of the unguarded runs and the share of steps the guard scaled down.
    python3 scripts/guard_study.py ratios RUN [RUN ...]
        Quantiles of ||g - g0|| / ||g0|| over the steps.jsonl of runs trained
        with --log-steps, and the share above 0.25, 0.5, 1 and 5.

Standard library only.
"""

import glob
import json
import os
import statistics
import sys

METHODS = ["sgd", "sam", "trace", "frob", "det"]


def load(root):
    """(method, lr) -> the finished and failed runs of one sweep."""
    cells = {}
    for d in sorted(glob.glob(os.path.join(root, "*", "*", "*", "lr-*", "seed-*"))):
        method, lr = d.split(os.sep)[-3], float(d.split(os.sep)[-2][3:])
        c = cells.setdefault((method, lr), {"acc": [], "fro": [], "fail": 0,
                                            "bounded": [], "steps": 0,
                                            "rmean": [], "rmax": []})
        if os.path.exists(os.path.join(d, "failed.json")):
            c["fail"] += 1
            continue
        if not os.path.exists(os.path.join(d, "summary.json")):
            continue
        with open(os.path.join(d, "summary.json")) as f:
            s = json.load(f)
        c["acc"].append(100 * s["final_test"]["accuracy"])
        if s.get("final_hessian"):
            c["fro"].append(s["final_hessian"]["frobenius"]["value"])
        with open(os.path.join(d, "epochs.jsonl")) as f:
            hist = [json.loads(line) for line in f]
        c["bounded"].append(sum(h.get("guard_bounded", 0) for h in hist))
        c["steps"] = sum(h["steps"] for h in hist)
        ratios = [h["sharpness_ratio"] for h in hist if h.get("sharpness_ratio")]
        if ratios:
            n = sum(r["count"] for r in ratios)
            c["rmean"].append(sum(r["mean"] * r["count"] for r in ratios) / n)
            c["rmax"].append(max(r["max"] for r in ratios))
    return cells


def mean_std(values, fmt="%.2f"):
    if not values:
        return "-"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return (fmt + " ± " + fmt) % (statistics.mean(values), sd)


def table(on_root, off_root):
    on, off = load(on_root), load(off_root)
    lines = ["| method | lr | diverged (off / guard) | test acc. % off | test acc. % guard "
             "| ‖H‖F off | ‖H‖F guard | ratio mean / max (off) | guarded steps |",
             "|---|---|---|---|---|---|---|---|---|"]
    rates = sorted({lr for _, lr in list(on) + list(off)})
    for m in METHODS:
        for lr in rates:
            a, b = off.get((m, lr)), on.get((m, lr))
            if not a or not b:
                continue
            n = a["fail"] + len(a["acc"])
            ratio = ("-" if not a["rmean"] else
                     "%.3f / %.2f" % (statistics.mean(a["rmean"]), max(a["rmax"])))
            guarded = ("-" if not b["rmean"] or not b["steps"] else
                       "%.1f%%" % (100 * statistics.mean(b["bounded"]) / b["steps"]))
            lines.append("| %s | %g | %d / %d of %d | %s | %s | %s | %s | %s | %s |" % (
                m, lr, a["fail"], b["fail"], n, mean_std(a["acc"]), mean_std(b["acc"]),
                mean_std(a["fro"], "%.1f"), mean_std(b["fro"], "%.1f"), ratio, guarded))
    return "\n".join(lines)


def ratios(runs):
    rs = []
    for d in runs:
        with open(os.path.join(d, "steps.jsonl")) as f:
            for line in f:
                x = json.loads(line)
                if x.get("sharpness_norm") is not None and x.get("gradient_norm"):
                    rs.append(x["sharpness_norm"] / x["gradient_norm"])
    if not rs:
        raise SystemExit("no step with both norms in " + ", ".join(runs))
    rs.sort()
    n = len(rs)
    q = lambda p: rs[min(n - 1, int(p * n))]  # noqa: E731
    above = " ".join(">%g %.2f%%" % (c, 100 * sum(r > c for r in rs) / n)
                     for c in (0.25, 0.5, 1, 5))
    return "%d steps: median %.3f p90 %.3f p99 %.3f max %.2f; %s" % (
        n, q(0.5), q(0.9), q(0.99), rs[-1], above)


def main(argv):
    if len(argv) == 3 and argv[0] == "table":
        print(table(argv[1], argv[2]))
    elif len(argv) >= 2 and argv[0] == "ratios":
        print(ratios(argv[1:]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
