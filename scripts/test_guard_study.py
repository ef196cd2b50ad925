#!/usr/bin/env python3
"""Tests of scripts/guard_study.py on small run directories written here."""

import json
import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import guard_study  # noqa: E402

# Real usam output: the committed copy (scripts/regen-fixtures.sh), or what
# the Rust test `python_scripts_read_real_usam_output` just wrote.
OUTPUT = os.environ.get("USAM_OUTPUT_DIR", os.path.join(HERE, "fixtures"))


def run(root, method, lr, seed, acc=None, bounded=0, ratio=None):
    d = os.path.join(root, "mnist-10k", "full", method, "lr-%g" % lr, "seed-%d" % seed)
    os.makedirs(d)
    if acc is None:
        with open(os.path.join(d, "failed.json"), "w") as f:
            json.dump({"error": "NaN"}, f)
        return
    with open(os.path.join(d, "summary.json"), "w") as f:
        json.dump({"final_test": {"accuracy": acc},
                   "final_hessian": {"frobenius": {"value": 10.0 * acc}}}, f)
    epoch = {"steps": 100, "guard_bounded": bounded,
             "sharpness_ratio": None if ratio is None else
             {"mean": ratio, "max": 2 * ratio, "count": 100}}
    with open(os.path.join(d, "epochs.jsonl"), "w") as f:
        f.write(json.dumps(epoch) + "\n")


class GuardStudyTest(unittest.TestCase):
    def test_table_counts_divergences_and_guarded_steps(self):
        with tempfile.TemporaryDirectory() as on, tempfile.TemporaryDirectory() as off:
            run(off, "frob", 0.1, 1, acc=0.9, ratio=0.2)
            run(off, "frob", 0.1, 2)
            run(on, "frob", 0.1, 1, acc=0.9, bounded=4, ratio=0.1)
            run(on, "frob", 0.1, 2, acc=0.8, bounded=6, ratio=0.1)
            out = guard_study.table(on, off)
        row = [line for line in out.splitlines() if line.startswith("| frob | 0.1 |")]
        self.assertEqual(len(row), 1, out)
        self.assertIn("| 1 / 0 of 2 |", row[0])
        self.assertIn("| 90.00 ± 0.00 | 85.00 ± 7.07 |", row[0])
        self.assertIn("| 0.200 / 0.40 | 5.0% |", row[0])

    def test_ratios_summarise_step_logs(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "steps.jsonl"), "w") as f:
                for s in [0.1, 0.2, 0.3, 0.6, 2.0]:
                    f.write(json.dumps({"gradient_norm": 1.0, "sharpness_norm": s}) + "\n")
                f.write(json.dumps({"gradient_norm": 1.0, "sharpness_norm": None}) + "\n")
            out = guard_study.ratios([d])
        self.assertTrue(out.startswith("5 steps: median 0.300"), out)
        self.assertIn("max 2.00", out)
        self.assertIn(">0.5 40.00%", out)
        self.assertIn(">5 0.00%", out)


class RealOutputTest(unittest.TestCase):
    """Two tiny sweeps written by usam (scripts/fixtures/guard-tiny.toml:
    sgd and frob, two seeds, four steps, guard on and off)."""

    def test_table_of_two_sweeps(self):
        out = guard_study.table(os.path.join(OUTPUT, "guard-on"),
                                os.path.join(OUTPUT, "guard-off"))
        rows = {line.split("|")[1].strip(): line for line in out.splitlines()[2:]}
        self.assertEqual(sorted(rows), ["frob", "sgd"], out)
        cells = [c.strip() for c in rows["frob"].split("|")[2:-1]]
        # lr, diverged, acc off, acc guard, ||H||F off, guard, ratio, guarded
        self.assertEqual(cells[0], "0.1")
        self.assertEqual(cells[1], "0 / 0 of 2")
        for acc in cells[2:4]:
            mean = float(acc.split(" ± ")[0])
            self.assertTrue(0.0 < mean <= 100.0, out)
        for fro in cells[4:6]:
            self.assertGreater(float(fro.split(" ± ")[0]), 0.0, out)
        # The unguarded Frob runs log the ratio; the guarded ones count steps.
        self.assertRegex(cells[6], r"^\d+\.\d{3} / \d+\.\d{2}$")
        self.assertRegex(cells[7], r"^\d+\.\d%$")
        # SGD has no sharpness part: no ratio.
        self.assertEqual([c.strip() for c in rows["sgd"].split("|")[2:-1]][6], "-")

    def test_ratios_of_logged_steps(self):
        runs = [os.path.join(OUTPUT, "guard-off", "mnist-10k", "full", "frob",
                             "lr-0.1", "seed-%d" % s) for s in (1, 2)]
        out = guard_study.ratios(runs)
        self.assertTrue(out.startswith("8 steps: median "), out)


if __name__ == "__main__":
    unittest.main()
