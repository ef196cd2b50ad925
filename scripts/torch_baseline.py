#!/usr/bin/env python3
"""PyTorch step-time baseline for `usam bench steps`.

What it is
----------
Times one optimizer step of SGD, SAM and the reference-scaled Trace-, Frob-
and Det-SAM (SPEC.md sections 2-3) in PyTorch, on the same two models, the
same synthetic batch shape and the same base optimizer that the Rust CLI
benchmarks with `usam bench steps`, and prints the same Markdown table
(backend `pytorch-cpu` or `pytorch-cuda`). Written for this project from the
formulas in SPEC.md; it is not the authors' code. With `--json FILE` it writes
the schema that `usam bench steps --json FILE` writes too, so that
`scripts/compare_steps.py` can put both tools side by side.

How the GPU check uses it
-------------------------
On the GPU machine, run it next to the Rust binary in one script, e.g.

    python3 scripts/torch_baseline.py --device cuda --model mlp --batch 128 \
        --steps 30 --warmup 5 --json $OUT/torch-mlp.json
    gpu/usam bench steps --backend cuda --model mlp --batch 128 \
        --steps 30 --warmup 5 --json $OUT/usam-mlp.json
    python3 scripts/compare_steps.py $OUT/torch-*.json $OUT/usam-*.json

compare_steps.py skips files that do not exist, so one tool failing does not
lose the other's figures.

A step
------
Each method step is n+1 forward-backward passes on the fixed batch; the
combined gradient is written into `p.grad` and then the base optimizer
(torch.optim.SGD, lr 0.01, momentum 0.9, weight decay 5e-4) steps:

- sgd   : 1 pass.
- sam   : rho 0.05, e = rho g0 / ||g0|| (global L2 norm), gradient at w + e.
- trace : rho 0.01, lambda 1, n 1, delta ~ N(0, I);
          g = g0 + lambda mean_i (g_i - g0)            (1/rho^2 dropped).
- frob  : rho 0.005, lambda 0.005, n 2, delta ~ N(0, I);
          g = g0 + lambda/rho^2 /(n-1) sum_i (L_i - mean L) g_i.
- det   : rho 1, delta ~ U[-0.01, 0.01]^d, lambda 1, n 1; x_i = (L_i-L0)/rho^2,
          m = mean exp(-x_i/2), g = g0 + lambda phi'(m) (1/n) sum_i
          psi'(x_i) (g_i - g0), phi'(m) = -2 m^-3, psi'(x) = -exp(-x/2)/2
          (1/rho^2 dropped), coefficients in the log domain.

Fresh noise is drawn for every parameter tensor at every step
(torch.randn_like / uniform_ on the device). The accumulation is streamed
like the Rust code's: gradients are moved out of `p.grad` (no copy) into at
most two running buffers (Trace with lambda 1 keeps none besides g1, Frob
two, Det one), never one per sample; the last sample's gradient is added
directly once its weight is known. Weights are restored exactly from a
copy of w taken before the first perturbation (`p.copy_(saved)`), not by
subtracting the perturbation, so every step starts from bit-identical
weights. Every pass reads its loss with `.item()` (the coefficients depend
on it, and it synchronises the device, as the Rust closure does); SAM reads
its gradient norm likewise. In train mode the perturbed passes update the
batch-norm running statistics too (buffers only, no effect on gradients).

Timing
------
`torch.backends.cudnn.benchmark = True`; TF32 settings are left at PyTorch's
defaults. Rounds are interleaved: round r runs one step of every method in
turn (each method has its own model, built from the same seed, and its own
optimizer), after `--warmup` untimed rounds, so drift in the machine's speed
hits every method alike. On CUDA each step is bracketed by
torch.cuda.synchronize(); on the CPU by time.perf_counter. The "median" is
the element at index len//2 of the sorted list (the upper median for an
even count), as in the Rust code; the ratio to SGD is the median over rounds
of (method time / SGD time of the same round).

OpenMP threads on the CPU
-------------------------
PyTorch's CPU kernels run on an OpenMP pool (GNU libgomp in the PyPI wheel;
MKL uses the same pool). After each parallel region its worker threads
spin-wait for a while before sleeping (libgomp: GOMP_SPINCOUNT, 300k spins
by default, effectively unbounded with OMP_WAIT_POLICY=ACTIVE; Intel's
runtime: KMP_BLOCKTIME, 200 ms). While they spin they hold the cores, which
matters on a 2-core machine when another process (the Rust tool, a compile)
runs at the same time, and it makes `time` report more CPU than work.
Measured on a 2-core machine with a compile running: libgomp's default
left each thread spinning a few ms after every region, and the MLP steps
were 2.5-3.5x slower than with OMP_WAIT_POLICY=PASSIVE (a thread that
has been preempted keeps its partner spinning at the barrier); on that
machine PASSIVE with 2 threads was about as fast as 1 thread.

On an idle machine, though, the spinning is what makes PyTorch fast: its
threads are ready for the next region at once. Measured on an idle 2-core
EPYC, the MLP's SGD step at batch 128 took 1.39 ms with libgomp's default
and 3.26 ms with PASSIVE. So this script leaves OpenMP at PyTorch's own
default (what its users run) unless OMP_WAIT_POLICY is set in the
environment or `--omp-wait-policy passive|active` is given (libgomp reads
it once, at start-up, so it is set before torch is imported); `unset`
removes the variable. The policy in use is printed under the table and
written to the JSON (`omp_wait_policy`, "default" when unset). Run the two
tools one after the other, never side by side, on an idle machine. `--threads N` calls torch.set_num_threads(N) (default: PyTorch's,
one per core). On CUDA the policy hardly matters (few CPU kernels).

Self-check
----------
`--check` compares each method's streamed combined gradient with a direct,
non-streamed computation of the same formula (all g_i kept, coefficients
from the textbook formulas) on a tiny float64 MLP on the CPU (--device is
ignored), with the same recorded
noise, both at the reference settings and at settings that exercise every
buffer (n 3, lambda != 1); it also checks that the weights come back bit
for bit. It prints the max abs difference and exits 1 on a mismatch.

Exit status: 0 on success, 1 on a failed --check or a non-finite
coefficient, 2 on bad flags.
"""

import argparse
import json
import math
import os
import platform
import sys
import time

METHODS = ("sgd", "sam", "trace", "frob", "det")
MODELS = ("mlp", "resnet18")
PARAMS = {"mlp": 167_818, "resnet18": 11_173_962}


def fail(msg):
    print(f"torch_baseline.py: error: {msg}", file=sys.stderr)
    sys.exit(2)


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="PyTorch step-time baseline of `usam bench steps`.")
    p.add_argument("--device", choices=("cpu", "cuda"), default=None,
                   help="default: cuda if available, else cpu")
    p.add_argument("--model", default="mlp", help="mlp | resnet18 (default mlp)")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=10, help="timed rounds")
    p.add_argument("--warmup", type=int, default=2, help="untimed rounds")
    p.add_argument("--methods", default=",".join(METHODS),
                   help="comma list of " + ",".join(METHODS))
    p.add_argument("--threads", type=int, default=None,
                   help="torch.set_num_threads(N)")
    p.add_argument("--omp-wait-policy", choices=("passive", "active", "unset"),
                   default=None,
                   help="OMP_WAIT_POLICY to import torch with (default: the "
                        "environment's, else libgomp's own; unset: remove "
                        "it from the environment)")
    p.add_argument("--json", metavar="FILE", default=None,
                   help="also write the results as JSON")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--check", action="store_true",
                   help="self-check the streamed gradients in float64 and exit")
    a = p.parse_args(argv)
    if a.model not in MODELS:
        fail(f"unknown model {a.model!r} (expected one of {', '.join(MODELS)})")
    methods = [m.strip() for m in a.methods.split(",") if m.strip()]
    if not methods:
        fail("--methods is empty")
    for m in methods:
        if m not in METHODS:
            fail(f"unknown method {m!r} (expected some of {', '.join(METHODS)})")
    if len(set(methods)) != len(methods):
        fail(f"--methods lists a method twice: {a.methods!r}")
    a.methods = methods
    if a.steps < 1:
        fail(f"--steps must be at least 1 (got {a.steps})")
    if a.batch < 1:
        fail(f"--batch must be at least 1 (got {a.batch})")
    if a.warmup < 0:
        fail(f"--warmup must be at least 0 (got {a.warmup})")
    if a.threads is not None and a.threads < 1:
        fail(f"--threads must be at least 1 (got {a.threads})")
    return a


# Everything below needs torch, imported in main() once the environment
# (OMP_WAIT_POLICY) is settled.
torch = None
nn = None


def build_model(kind):
    if kind == "mlp":
        layers = [nn.Flatten(), nn.Linear(784, 128), nn.ReLU()]
        for _ in range(4):
            layers += [nn.Linear(128, 128), nn.ReLU()]
        layers.append(nn.Linear(128, 10))
        return nn.Sequential(*layers)
    return ResNet18()


def _resnet_classes():
    class BasicBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.shortcut = nn.Sequential()
            if stride != 1 or cin != cout:
                self.shortcut = nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride, bias=False),
                    nn.BatchNorm2d(cout))

        def forward(self, x):
            out = torch.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return torch.relu(out + self.shortcut(x))

    class Net(nn.Module):
        def __init__(self, classes=10):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            blocks, cin = [], 64
            for width, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
                for s in (stride, 1):
                    blocks.append(BasicBlock(cin, width, s))
                    cin = width
            self.layers = nn.Sequential(*blocks)
            self.linear = nn.Linear(512, classes)

        def forward(self, x):
            out = torch.relu(self.bn1(self.conv1(x)))
            out = self.layers(out)
            out = torch.flatten(nn.functional.adaptive_avg_pool2d(out, 1), 1)
            return self.linear(out)

    return Net


def ResNet18():
    return _resnet_classes()()


def count_params(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# --------------------------------------------------------------------------
# Methods: each computes the step's combined gradient into p.grad.


class Method:
    """One method's hyper-parameters and its streamed gradient."""

    def __init__(self, name, rho=0.0, lam=0.0, n=0, cube=0.01):
        self.name, self.rho, self.lam, self.n, self.cube = name, rho, lam, n, cube
        # Draws the noise of one parameter tensor; replaced by --check.
        self.noise = self.default_noise
        self.saved = None  # persistent copy of w, allocated once

    @staticmethod
    def reference(name):
        return {
            "sgd": Method("sgd"),
            "sam": Method("sam", rho=0.05),
            "trace": Method("trace", rho=0.01, lam=1.0, n=1),
            "frob": Method("frob", rho=0.005, lam=0.005, n=2),
            "det": Method("det", rho=1.0, lam=1.0, n=1, cube=0.01),
        }[name]

    @property
    def passes(self):
        return {"sgd": 1, "sam": 2}.get(self.name, 1 + self.n)

    def default_noise(self, p):
        if self.name == "det":
            return torch.empty_like(p).uniform_(-self.cube, self.cube)
        return torch.randn_like(p)

    # -- helpers ---------------------------------------------------------
    @staticmethod
    def grad_pass(model, params, x, y):
        """One forward-backward pass; returns the loss as a float and the
        gradients, moved out of p.grad (no copy)."""
        for p in params:
            p.grad = None
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        value = loss.item()
        grads = [p.grad for p in params]
        for p in params:
            p.grad = None
        return value, grads

    def save(self, params):
        with torch.no_grad():
            if self.saved is None:
                self.saved = [p.detach().clone() for p in params]
            else:
                _foreach_copy(self.saved, params)

    def restore(self, params):
        with torch.no_grad():
            _foreach_copy(params, self.saved)

    def perturb_random(self, params, first):
        with torch.no_grad():
            if not first:
                _foreach_copy(params, self.saved)
            for p in params:
                p.add_(self.noise(p), alpha=self.rho)

    # -- the step's gradient ---------------------------------------------
    def combined_grad(self, model, params, x, y):
        """Writes the combined gradient into p.grad; returns the losses
        [L0, L1, ..., Ln]."""
        l0, g0 = self.grad_pass(model, params, x, y)
        if self.name == "sgd":
            out, losses = g0, [l0]
        elif self.name == "sam":
            out, losses = self._sam(model, params, x, y, l0, g0)
        else:
            self.save(params)
            try:
                out, losses = getattr(self, "_" + self.name)(
                    model, params, x, y, l0, g0)
            finally:
                self.restore(params)
        for p, g in zip(params, out):
            p.grad = g
        return losses

    def _sam(self, model, params, x, y, l0, g0):
        norm = _global_norm(g0)
        scale = self.rho / norm if (norm > 0.0 and math.isfinite(norm)) else 0.0
        self.save(params)
        with torch.no_grad():
            _foreach_add(params, g0, scale)
        del g0
        try:
            l1, g1 = self.grad_pass(model, params, x, y)
        finally:
            self.restore(params)
        return g1, [l0, l1]

    def _perturbed_passes(self, model, params, x, y, losses):
        """The n perturbed passes in order: yields (i, L_i, g_i), L_i also
        appended to `losses`. g_i is released before the next pass, so one
        perturbed gradient is alive at a time (once the caller drops it)."""
        for i in range(self.n):
            self.perturb_random(params, first=(i == 0))
            li, gi = self.grad_pass(model, params, x, y)
            losses.append(li)
            yield i, li, gi
            del gi

    def _trace(self, model, params, x, y, l0, g0):
        # g = (1 - lambda) g0 + (lambda / n) sum_i g_i: fixed weights.
        n, lam = self.n, self.lam
        c0, ci = 1.0 - lam, lam / n
        acc = None
        if c0 != 0.0:
            acc = g0
            _foreach_mul(acc, c0)
        del g0
        losses = [l0]
        for _, _, gi in self._perturbed_passes(model, params, x, y, losses):
            acc = _accumulate(acc, gi, ci)
            del gi
        return acc, losses

    def _frob(self, model, params, x, y, l0, g0):
        # g = g0 + k sum_i (L_i - Lbar) g_i, k = lambda / rho^2 / (n - 1),
        # streamed relative to L_1:  A = g0 + k sum_{i<n} (L_i - L_1) g_i,
        # B = sum_{i<n} g_i,  g = A - k (Lbar - L_1) B + k (L_n - Lbar) g_n.
        n = self.n
        if n < 2:
            raise ValueError("frob needs n >= 2")
        k = self.lam / self.rho ** 2 / (n - 1)
        a, b = g0, None
        del g0
        losses = [l0]
        for i, li, gi in self._perturbed_passes(model, params, x, y, losses):
            if i + 1 == n:
                lbar = sum(losses[1:]) / n
                wb = -k * (lbar - losses[1])
                wn = k * (li - lbar)
                _check_finite(self.name, [wb, wn])
                _foreach_add(a, b, wb)
                del b
                _foreach_add(a, gi, wn)
            else:
                wa = k * (li - losses[1])
                if wa != 0.0:
                    _foreach_add(a, gi, wa)
                b = _accumulate(b, gi, 1.0)
            del gi
        return a, losses

    def _det(self, model, params, x, y, l0, g0):
        # c_i = lambda/n * phi'(m) psi'(x_i) = lambda/n * exp(-3 log m - x_i/2),
        # g = (1 - sum c_i) g0 + sum c_i g_i; the g_i with i < n go into
        # B = sum exp(-(x_i - x_1)/2) g_i, whose final weight is
        # lambda/n * exp(-3 log m - x_1/2).
        n, lam, r2 = self.n, self.lam, self.rho ** 2
        acc, b = g0, None
        del g0
        losses, xs = [l0], []
        for i, li, gi in self._perturbed_passes(model, params, x, y, losses):
            xs.append((li - l0) / r2)
            if i + 1 == n:
                h = [-xi / 2.0 for xi in xs]
                top = max(h)
                log_m = top + math.log(sum(math.exp(v - top) for v in h)) - math.log(n)
                with _no_overflow():
                    ci = [lam / n * math.exp(-3.0 * log_m + v) for v in h]
                    wb = lam / n * math.exp(-3.0 * log_m + h[0])
                c0 = 1.0 - sum(ci)
                _check_finite(self.name, ci + [wb, c0])
                _foreach_mul(acc, c0)
                if b is not None:
                    _foreach_add(acc, b, wb)
                    del b
                _foreach_add(acc, gi, ci[-1])
            else:
                w = math.exp(-(xs[-1] - xs[0]) / 2.0)
                b = _accumulate(b, gi, w)
            del gi
        return acc, losses


class _no_overflow:
    """math.exp raises OverflowError; turn it into a clear failure."""

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        if kind is OverflowError:
            print("torch_baseline.py: error: det coefficient overflowed "
                  "(phi'(m) = -2/m^3 with m tiny)", file=sys.stderr)
            sys.exit(1)
        return False


def _check_finite(name, values):
    if not all(math.isfinite(v) for v in values):
        print(f"torch_baseline.py: error: non-finite {name} coefficient "
              f"in {values}", file=sys.stderr)
        sys.exit(1)


def _foreach_copy(dst, src):
    if hasattr(torch, "_foreach_copy_"):
        torch._foreach_copy_(dst, src)
    else:
        for d, s in zip(dst, src):
            d.copy_(s)


def _foreach_add(dst, src, alpha):
    if hasattr(torch, "_foreach_add_"):
        torch._foreach_add_(dst, src, alpha=alpha)
    else:
        for d, s in zip(dst, src):
            d.add_(s, alpha=alpha)


def _accumulate(acc, g, weight):
    """acc += weight * g in place; the first term (acc None) reuses g's
    buffers, scaled, instead of allocating a zero accumulator."""
    if acc is None:
        if weight != 1.0:
            _foreach_mul(g, weight)
        return g
    _foreach_add(acc, g, weight)
    return acc


def _foreach_mul(dst, scalar):
    if hasattr(torch, "_foreach_mul_"):
        torch._foreach_mul_(dst, scalar)
    else:
        for d in dst:
            d.mul_(scalar)


def _global_norm(grads):
    if hasattr(torch, "_foreach_norm"):
        norms = torch._foreach_norm(grads)
    else:
        norms = [g.norm() for g in grads]
    return torch.linalg.vector_norm(torch.stack(norms)).item()


# --------------------------------------------------------------------------
# The self-check.


def _direct(method, model, params, x, y, deltas):
    """The same gradient without streaming: every g_i kept, coefficients
    from the formulas of the module docstring."""
    w0 = [p.detach().clone() for p in params]

    def at(ws):
        with torch.no_grad():
            for p, w in zip(params, ws):
                p.copy_(w)
        loss = nn.functional.cross_entropy(model(x), y)
        gs = torch.autograd.grad(loss, params)
        return loss.item(), [g.detach().clone() for g in gs]

    l0, g0 = at(w0)
    name, rho, lam, n = method.name, method.rho, method.lam, method.n
    if name == "sgd":
        out = g0
    elif name == "sam":
        norm = math.sqrt(sum(float((g * g).sum()) for g in g0))
        _, out = at([w + rho / norm * g for w, g in zip(w0, g0)])
    else:
        ls, gs = [], []
        for d in deltas:
            li, gi = at([w + rho * di for w, di in zip(w0, d)])
            ls.append(li)
            gs.append(gi)
        if name == "trace":
            out = [g0[j] + lam * sum(gs[i][j] - g0[j] for i in range(n)) / n
                   for j in range(len(g0))]
        elif name == "frob":
            lbar = sum(ls) / n
            k = lam / rho ** 2 / (n - 1)
            out = [g0[j] + k * sum((ls[i] - lbar) * gs[i][j] for i in range(n))
                   for j in range(len(g0))]
        else:  # det
            xs = [(li - l0) / rho ** 2 for li in ls]
            m = sum(math.exp(-xi / 2) for xi in xs) / n
            dphi = -2.0 * m ** -3
            dpsi = [-math.exp(-xi / 2) / 2 for xi in xs]
            out = [g0[j] + lam * dphi * sum(dpsi[i] * (gs[i][j] - g0[j])
                                            for i in range(n)) / n
                   for j in range(len(g0))]
    with torch.no_grad():
        for p, w in zip(params, w0):
            p.copy_(w)
    return out


def self_check(seed):
    torch.manual_seed(seed)
    dt = torch.float64
    model = nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 5), nn.ReLU(),
                          nn.Linear(5, 3)).to(dt)
    params = [p for p in model.parameters() if p.requires_grad]
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(16, 6, generator=gen, dtype=dt)
    y = torch.arange(16) % 3
    cases = [Method.reference(m) for m in METHODS] + [
        Method("trace", rho=0.1, lam=0.5, n=3),
        Method("frob", rho=0.1, lam=0.01, n=3),
        Method("det", rho=0.5, lam=0.5, n=3, cube=0.5),
    ]
    ok = True
    print("self-check: streamed vs direct combined gradient, float64 tiny MLP")
    for method in cases:
        drawn = []  # per sample, per tensor

        def record(p, method=method, drawn=drawn):
            d = method.default_noise(p)
            if not drawn or len(drawn[-1]) == len(params):
                drawn.append([])
            drawn[-1].append(d.clone())
            return d

        method.noise = record
        w_before = [p.detach().clone() for p in params]
        method.combined_grad(model, params, x, y)
        streamed = [p.grad.detach().clone() for p in params]
        for p in params:
            p.grad = None
        restored = all(torch.equal(a, b) for a, b in zip(w_before, params))
        direct = _direct(method, model, params, x, y, drawn)
        diff = max(float((a - b).abs().max()) for a, b in zip(streamed, direct))
        size = max(float(b.abs().max()) for b in direct)
        # How far the step is from plain SGD's g0 (the part being checked).
        _, g0 = Method.grad_pass(model, params, x, y)
        moved = max(float((a - b).abs().max()) for a, b in zip(direct, g0))
        good = diff <= 1e-10 * max(1.0, size) and restored and (
            method.name in ("sgd", "sam") or len(drawn) == method.n)
        ok &= good
        label = {"sgd": "sgd", "sam": f"sam (rho {method.rho:g})"}.get(
            method.name, f"{method.name} (rho {method.rho:g}, lambda "
                         f"{method.lam:g}, n {method.n})")
        print(f"  {label:<36} max|streamed-direct| {diff:.1e}  max|g| "
              f"{size:.2e}  max|g-g0| {moved:.2e}  weights restored: "
              f"{'bitwise' if restored else 'NO'}  {'ok' if good else 'MISMATCH'}")
    print("self-check", "passed" if ok else "FAILED")
    return ok


# --------------------------------------------------------------------------
# Timing.


def upper_median(values):
    v = sorted(values)
    return v[len(v) // 2]


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def make_batch(model_kind, batch, seed, device):
    gen = torch.Generator().manual_seed(seed)
    shape = (batch, 1, 28, 28) if model_kind == "mlp" else (batch, 3, 32, 32)
    x = torch.randn(shape, generator=gen).to(device)
    y = (torch.arange(batch) % 10).to(device)
    return x, y


def run(a):
    device = torch.device(a.device)
    torch.backends.cudnn.benchmark = True
    cuda = device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)

    x, y = make_batch(a.model, a.batch, a.seed, device)
    runs = []
    for name in a.methods:
        torch.manual_seed(a.seed)
        model = build_model(a.model).to(device).train()
        params = [p for p in model.parameters() if p.requires_grad]
        n_params = count_params(model)
        if n_params != PARAMS[a.model]:
            print(f"torch_baseline.py: error: {a.model} has {n_params} "
                  f"trainable parameters, expected {PARAMS[a.model]}",
                  file=sys.stderr)
            sys.exit(1)
        base = torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=5e-4)
        runs.append((Method.reference(name), model, params, base))
    torch.manual_seed(a.seed)

    times = [[] for _ in runs]
    for r in range(a.warmup + a.steps):
        for k, (method, model, params, base) in enumerate(runs):
            sync()
            t0 = time.perf_counter()
            method.combined_grad(model, params, x, y)
            base.step()
            sync()
            t1 = time.perf_counter()
            if r >= a.warmup:
                times[k].append(t1 - t0)

    sgd = a.methods.index("sgd") if "sgd" in a.methods else None
    rows = []
    for (method, _, _, _), t in zip(runs, times):
        ratio = None
        if sgd is not None:
            ratio = upper_median([u / v for u, v in zip(t, times[sgd])])
        rows.append({
            "method": method.name,
            "passes": method.passes,
            "median_ms": 1e3 * upper_median(t),
            "min_ms": 1e3 * min(t),
            "ratio": ratio,
            "ratio_per_pass": None if ratio is None else ratio / method.passes,
        })
    return rows, PARAMS[a.model]


def table(a, rows):
    out = (f"model {a.model}, backend pytorch-{a.device}, batch {a.batch}, "
           f"{a.steps} timed rounds after {a.warmup} warm-up (one step per "
           "method per round; ratios are medians of per-round ratios)\n\n"
           "| method | passes | median step (ms) | ratio to SGD | ratio / passes |\n"
           "|---|---|---|---|---|\n")

    def f(v, digits):
        return "NaN" if v is None else f"{v:.{digits}f}"

    for r in rows:
        out += (f"| {r['method']} | {r['passes']} | {r['median_ms']:.2f} | "
                f"{f(r['ratio'], 2)} | {f(r['ratio_per_pass'], 3)} |\n")
    return out


def main(argv=None):
    global torch, nn
    a = parse_args(argv)
    if a.omp_wait_policy == "unset":
        os.environ.pop("OMP_WAIT_POLICY", None)
    elif a.omp_wait_policy:
        os.environ["OMP_WAIT_POLICY"] = a.omp_wait_policy.upper()
    import torch as _torch
    import torch.nn as _nn
    torch, nn = _torch, _nn
    if a.threads is not None:
        torch.set_num_threads(a.threads)

    if a.check:
        sys.exit(0 if self_check(a.seed) else 1)

    if a.device is None:
        a.device = "cuda" if torch.cuda.is_available() else "cpu"
    if a.device == "cuda" and not torch.cuda.is_available():
        fail("--device cuda but CUDA is not available to this PyTorch "
             f"({torch.__version__}, built for CUDA {torch.version.cuda})")

    rows, n_params = run(a)
    device_name = (torch.cuda.get_device_name(0) if a.device == "cuda"
                   else cpu_name())
    threads = torch.get_num_threads()
    print(table(a, rows), end="")
    wait = os.environ.get("OMP_WAIT_POLICY", "unset (libgomp's default)")
    print(f"\ntorch {torch.__version__}, device {device_name}, "
          f"CPU threads {threads}, OMP_WAIT_POLICY {wait}, "
          f"{n_params} trainable parameters")
    if a.json:
        doc = {
            "tool": "pytorch",
            "backend": a.device,
            "device_name": device_name,
            "model": a.model,
            "batch": a.batch,
            "steps": a.steps,
            "warmup": a.warmup,
            "rows": rows,
            # Extras (compare_steps.py ignores them).
            "torch_version": torch.__version__,
            "threads": threads,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
            "params": n_params,
        }
        with open(a.json, "w") as f:
            json.dump(doc, f, indent=1, allow_nan=False)
            f.write("\n")


if __name__ == "__main__":
    main()
