#!/usr/bin/env python3
"""Smoke tests of scripts/torch_baseline.py.

The argument checks run everywhere (the script imports torch only after
parsing). The rest needs torch: where it cannot be imported, those tests
are reported as skipped with the reason (unittest prints "skipped").
"""

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "torch_baseline.py")
HAVE_TORCH = importlib.util.find_spec("torch") is not None
NO_TORCH = "torch is not installed (pip install torch to run the PyTorch baseline tests)"


def run(*args):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True,
                          text=True, timeout=600)


class Arguments(unittest.TestCase):
    def test_bad_arguments_are_refused_with_a_reason(self):
        for args, words in [(["--model", "vgg"], "unknown model"),
                            (["--methods", "sgd,nope"], "unknown method"),
                            (["--methods", "sgd,sgd"], "twice"),
                            (["--methods", ","], "empty")]:
            p = run(*args)
            self.assertNotEqual(p.returncode, 0, args)
            self.assertIn(words, p.stderr, args)


@unittest.skipUnless(HAVE_TORCH, NO_TORCH)
class WithTorch(unittest.TestCase):
    def test_self_check_passes(self):
        p = run("--check")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_json_is_what_compare_steps_reads(self):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "torch.json")
            p = run("--device", "cpu", "--model", "mlp", "--batch", "8",
                    "--steps", "2", "--warmup", "0", "--methods", "sgd,frob",
                    "--json", out)
            self.assertEqual(p.returncode, 0, p.stderr)
            with open(out) as f:
                doc = json.load(f)
            self.assertEqual(doc["tool"], "pytorch")
            self.assertEqual([r["method"] for r in doc["rows"]], ["sgd", "frob"])
            # PyTorch's own OpenMP default unless the environment sets one.
            self.assertEqual(doc["omp_wait_policy"],
                             os.environ.get("OMP_WAIT_POLICY", "default"))
            self.assertTrue(all(r["median_ms"] > 0 for r in doc["rows"]))
            c = subprocess.run([sys.executable, os.path.join(HERE, "compare_steps.py"), out],
                               capture_output=True, text=True)
            self.assertEqual(c.returncode, 0, c.stderr)
            self.assertIn("| frob | 3 |", c.stdout)


if __name__ == "__main__":
    unittest.main()
