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


if __name__ == "__main__":
    unittest.main()
