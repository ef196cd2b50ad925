#!/usr/bin/env python3
"""Tests of scripts/compare_steps.py (standard library only, no torch).

Run from the repository root with either of

    python3 -m unittest scripts/test_compare_steps.py
    python3 scripts/test_compare_steps.py
"""

import io
import json
import os
import subprocess
import sys
import tempfile
import unittest
from contextlib import redirect_stderr, redirect_stdout

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import compare_steps  # noqa: E402

# Real usam output: the committed copy (scripts/regen-fixtures.sh), or what
# the Rust test `python_scripts_read_real_usam_output` just wrote.
OUTPUT = os.environ.get("USAM_OUTPUT_DIR", os.path.join(HERE, "fixtures"))


def run_doc(tool, backend, batch, rows, model="mlp"):
    return {"tool": tool, "backend": backend, "device_name": "Test GPU",
            "model": model, "batch": batch, "steps": 10, "warmup": 2,
            "rows": [{"method": m, "passes": p, "median_ms": ms, "min_ms": ms,
                      "ratio": None, "ratio_per_pass": None}
                     for m, p, ms in rows]}


class CompareSteps(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, name, doc):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            if isinstance(doc, str):
                f.write(doc)
            else:
                json.dump(doc, f)
        return path

    def main(self, *args):
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            rc = compare_steps.main(list(args))
        return rc, out.getvalue(), err.getvalue()

    def two_files(self):
        usam = self.write("usam.json", run_doc(
            "usam", "cuda", 128, [("sgd", 1, 2.0), ("sam", 2, 4.5)]))
        torch = self.write("torch.json", run_doc(
            "pytorch", "cuda", 128, [("sgd", 1, 1.0), ("sam", 2, 3.0)]))
        return usam, torch

    def test_table_with_ratio_column(self):
        usam, torch = self.two_files()
        missing = os.path.join(self.dir, "absent.json")
        rc, out, err = self.main(torch, missing, usam)
        self.assertEqual(rc, 0)
        lines = out.splitlines()
        self.assertEqual(lines[0], "model mlp, batch 128")
        self.assertIn(
            "| method | passes | usam-cuda ms/step | PyTorch (cuda) ms/step "
            "| usam-cuda / PyTorch |", lines)
        self.assertIn("| sgd | 1 | 2.00 | 1.00 | 2.00 |", lines)
        self.assertIn("| sam | 2 | 4.50 | 3.00 | 1.50 |", lines)
        # The missing file is a note, not an error.
        self.assertIn("skipping", err)
        self.assertIn("absent.json", err)

    def test_per_image(self):
        usam = self.write("usam.json", run_doc(
            "usam", "ndarray", 32, [("sgd", 1, 64.0)]))
        torch = self.write("torch.json", run_doc(
            "pytorch", "cpu", 128, [("sgd", 1, 128.0)]))
        rc, out, _ = self.main("--per-image", usam, torch)
        self.assertEqual(rc, 0)
        # Different batches: two tables, each with a ms/image column.
        self.assertIn("model mlp, batch 32", out)
        self.assertIn("model mlp, batch 128", out)
        self.assertIn("| sgd | 1 | 64.00 | 2.00 |", out)
        self.assertIn("| sgd | 1 | 128.00 | 1.00 |", out)
        # usam 2 ms/image against PyTorch 1 ms/image.
        self.assertIn("| mlp | usam-ndarray | 32 | PyTorch (cpu) | 128 | 2.00 "
                      "| 1.00 | 2.00 |", out)

    def test_missing_method_and_several_pytorch_backends(self):
        usam = self.write("u.json", run_doc("usam", "wgpu", 8, [("sgd", 1, 3.0),
                                                                ("det", 2, 7.0)]))
        t1 = self.write("t1.json", run_doc("pytorch", "cuda", 8, [("sgd", 1, 1.5)]))
        t2 = self.write("t2.json", run_doc("pytorch", "cpu", 8, [("sgd", 1, 30.0)]))
        rc, out, _ = self.main(usam, t1, t2)
        self.assertEqual(rc, 0)
        self.assertIn("usam-wgpu / PyTorch (cuda)", out)
        self.assertIn("usam-wgpu / PyTorch (cpu)", out)
        self.assertIn("| sgd | 1 | 3.00 | 1.50 | 30.00 | 2.00 | 0.10 |", out)
        self.assertIn("| det | 2 | 7.00 | - | - | - | - |", out)

    def test_default_and_passive_openmp_are_two_columns(self):
        usam = self.write("u.json", run_doc("usam", "cpu", 128, [("sgd", 1, 1.5)]))
        default = run_doc("pytorch", "cpu", 128, [("sgd", 1, 1.0)])
        default["omp_wait_policy"] = "default"
        passive = run_doc("pytorch", "cpu", 128, [("sgd", 1, 3.0)])
        passive["omp_wait_policy"] = "PASSIVE"
        # Given PASSIVE first: the default still comes first.
        rc, out, _ = self.main(usam, self.write("p.json", passive),
                               self.write("d.json", default))
        self.assertEqual(rc, 0)
        # The default is the plain PyTorch column; PASSIVE is labelled.
        self.assertIn("usam-cpu / PyTorch (cpu) |", out)
        self.assertIn("usam-cpu / PyTorch (cpu, PASSIVE) |", out)
        self.assertIn("| sgd | 1 | 1.50 | 1.00 | 3.00 | 1.50 | 0.50 |", out)

    def test_invalid_json_names_the_file(self):
        usam, _ = self.two_files()
        broken = self.write("broken.json", '{"tool": "usam", "rows": [')
        rc, out, err = self.main(usam, broken)
        self.assertEqual(rc, 2)
        self.assertEqual(out, "")
        self.assertIn("broken.json", err)
        self.assertIn("invalid JSON", err)

    def test_wrong_schema_names_the_file(self):
        odd = self.write("odd.json", {"tool": "usam", "backend": "cuda",
                                      "model": "mlp", "batch": 4,
                                      "rows": [{"method": "sgd"}]})
        rc, _, err = self.main(odd)
        self.assertEqual(rc, 2)
        self.assertIn("odd.json", err)
        self.assertIn("median_ms", err)

    def test_only_missing_files(self):
        rc, out, err = self.main(os.path.join(self.dir, "nope.json"))
        self.assertEqual(rc, 1)
        self.assertEqual(out, "")
        self.assertIn("skipping", err)

    def test_reads_what_usam_bench_steps_writes(self):
        usam = os.path.join(OUTPUT, "bench-steps.json")
        torch = self.write("torch.json", run_doc(
            "pytorch", "cpu", 8, [("sgd", 1, 1.0), ("frob", 3, 2.0)]))
        rc, out, err = self.main(usam, torch)
        self.assertEqual(rc, 0, err)
        self.assertIn("model mlp, batch 8", out)
        rows = {line.split("|")[1].strip(): line for line in out.splitlines()
                if line.startswith("| sgd |") or line.startswith("| frob |")}
        self.assertEqual(sorted(rows), ["frob", "sgd"], out)
        # passes, usam ms, PyTorch ms, ratio: usam's figures are positive.
        cells = [c.strip() for c in rows["frob"].split("|")[2:-1]]
        self.assertEqual(cells[0], "3")
        self.assertGreater(float(cells[1]), 0.0)
        self.assertAlmostEqual(float(cells[3]), float(cells[1]) / 2.0, delta=0.01)

    def test_command_line(self):
        usam, torch = self.two_files()
        p = subprocess.run([sys.executable, os.path.join(HERE, "compare_steps.py"),
                            usam, torch], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("| sgd | 1 | 2.00 | 1.00 | 2.00 |", p.stdout)


if __name__ == "__main__":
    unittest.main()
