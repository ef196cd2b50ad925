//! A tiny two-layer tanh regression network with a hand-written gradient
//! and Hessian: a non-convex problem with several parameter tensors.

use super::{Problem, nan_vec, problem_noise};
use crate::error::{Result, SamError};
use crate::sampler::Sampler;

/// `f(x) = w2 . tanh(W1 x + b1) + b2` fitted by mean squared error
/// `L = (1/N) sum_k (f(x_k) - y_k)^2` on fixed data.
///
/// Inputs `x_k ~ N(0, I_p)` and targets from a random "teacher" network of
/// the same shape are drawn from the seed, so a zero-loss solution exists.
/// Parameters, in layout order `[h*p, h, h, 1]`: `W1` (`h x p`, row-major),
/// `b1`, `w2`, `b2`. The start is a small random network (entries
/// `N(0, 0.5^2)`).
#[derive(Debug, Clone, PartialEq)]
pub struct TanhNet {
    inputs: Vec<f64>,
    targets: Vec<f64>,
    samples: usize,
    p: usize,
    h: usize,
    start: Vec<f64>,
}

/// Per-example forward quantities: `a = tanh(z)`, `a' = 1 - a^2`,
/// `a'' = -2 a a'`, and the output.
struct Forward {
    a: Vec<f64>,
    da: Vec<f64>,
    dda: Vec<f64>,
    out: f64,
}

impl TanhNet {
    /// `samples` examples of `inputs` features, `hidden` tanh units; all
    /// three at least 1.
    pub fn new(seed: u64, samples: usize, inputs: usize, hidden: usize) -> Result<Self> {
        if samples == 0 || inputs == 0 || hidden == 0 {
            return Err(SamError::invalid(
                "shape",
                format!(
                    "samples, inputs and hidden must be >= 1, got {samples}, {inputs}, {hidden}"
                ),
            ));
        }
        let x = problem_noise(Sampler::Gaussian, seed, 20, samples * inputs);
        let dim = hidden * inputs + 2 * hidden + 1;
        let teacher = problem_noise(Sampler::Gaussian, seed, 21, dim);
        let start: Vec<f64> = problem_noise(Sampler::Gaussian, seed, 22, dim)
            .into_iter()
            .map(|v| 0.5 * v)
            .collect();
        let mut net = TanhNet {
            inputs: x,
            targets: vec![0.0; samples],
            samples,
            p: inputs,
            h: hidden,
            start,
        };
        net.targets = (0..samples).map(|k| net.forward(&teacher, k).out).collect();
        Ok(net)
    }

    fn offsets(&self) -> (usize, usize, usize) {
        let w1 = self.h * self.p;
        (w1, w1 + self.h, w1 + 2 * self.h)
    }

    fn forward(&self, w: &[f64], k: usize) -> Forward {
        let (ob1, ow2, ob2) = self.offsets();
        let x = &self.inputs[k * self.p..(k + 1) * self.p];
        let mut f = Forward {
            a: vec![0.0; self.h],
            da: vec![0.0; self.h],
            dda: vec![0.0; self.h],
            out: w[ob2],
        };
        for j in 0..self.h {
            let z: f64 = w[j * self.p..(j + 1) * self.p]
                .iter()
                .zip(x)
                .map(|(a, b)| a * b)
                .sum::<f64>()
                + w[ob1 + j];
            let a = z.tanh();
            f.a[j] = a;
            f.da[j] = 1.0 - a * a;
            f.dda[j] = -2.0 * a * f.da[j];
            f.out += w[ow2 + j] * a;
        }
        f
    }

    /// `d out / d w` for example `k`.
    fn output_gradient(&self, w: &[f64], k: usize, f: &Forward) -> Vec<f64> {
        let (ob1, ow2, ob2) = self.offsets();
        let x = &self.inputs[k * self.p..(k + 1) * self.p];
        let mut g = vec![0.0; self.dim()];
        for j in 0..self.h {
            let s = w[ow2 + j] * f.da[j];
            for l in 0..self.p {
                g[j * self.p + l] = s * x[l];
            }
            g[ob1 + j] = s;
            g[ow2 + j] = f.a[j];
        }
        g[ob2] = 1.0;
        g
    }
}

impl Problem for TanhNet {
    fn name(&self) -> String {
        format!("tanh-net({}x{}, h={})", self.samples, self.p, self.h)
    }
    fn dim(&self) -> usize {
        self.h * self.p + 2 * self.h + 1
    }
    fn layout(&self) -> Vec<usize> {
        vec![self.h * self.p, self.h, self.h, 1]
    }
    fn loss(&self, w: &[f64]) -> f64 {
        if w.len() != self.dim() {
            return f64::NAN;
        }
        (0..self.samples)
            .map(|k| {
                let r = self.forward(w, k).out - self.targets[k];
                r * r
            })
            .sum::<f64>()
            / self.samples as f64
    }
    fn gradient(&self, w: &[f64]) -> Vec<f64> {
        if w.len() != self.dim() {
            return nan_vec(self.dim());
        }
        let mut g = vec![0.0; self.dim()];
        let scale = 2.0 / self.samples as f64;
        for k in 0..self.samples {
            let f = self.forward(w, k);
            let r = f.out - self.targets[k];
            for (gi, oi) in g.iter_mut().zip(self.output_gradient(w, k, &f)) {
                *gi += scale * r * oi;
            }
        }
        g
    }
    /// `(2/N) sum_k [J_k J_k' + r_k d2 out_k]`. The output's second
    /// derivatives couple only parameters of the same hidden unit `j`:
    /// `(w2_j, b1_j) = a'_j`, `(w2_j, W1_jl) = a'_j x_l`,
    /// `(b1_j, b1_j) = w2_j a''_j`, `(b1_j, W1_jl) = w2_j a''_j x_l`,
    /// `(W1_jl, W1_jm) = w2_j a''_j x_l x_m`.
    fn hessian(&self, w: &[f64]) -> Vec<f64> {
        let d = self.dim();
        if w.len() != d {
            return nan_vec(d * d);
        }
        let (ob1, ow2, _) = self.offsets();
        let scale = 2.0 / self.samples as f64;
        let mut hess = vec![0.0; d * d];
        let mut add = |i: usize, j: usize, v: f64| {
            hess[i * d + j] += v;
            if i != j {
                hess[j * d + i] += v;
            }
        };
        for k in 0..self.samples {
            let f = self.forward(w, k);
            let r = f.out - self.targets[k];
            let jac = self.output_gradient(w, k, &f);
            for i in 0..d {
                for j in 0..=i {
                    add(i, j, scale * jac[i] * jac[j]);
                }
            }
            let x = &self.inputs[k * self.p..(k + 1) * self.p];
            for u in 0..self.h {
                let c = scale * r;
                let s2 = w[ow2 + u] * f.dda[u];
                add(ow2 + u, ob1 + u, c * f.da[u]);
                add(ob1 + u, ob1 + u, c * s2);
                for l in 0..self.p {
                    let wl = u * self.p + l;
                    add(ow2 + u, wl, c * f.da[u] * x[l]);
                    add(ob1 + u, wl, c * s2 * x[l]);
                    for m in 0..=l {
                        add(wl, u * self.p + m, c * s2 * x[l] * x[m]);
                    }
                }
            }
        }
        hess
    }
    fn initial_point(&self) -> Vec<f64> {
        self.start.clone()
    }
}

impl TanhNet {
    /// `(samples, inputs, hidden)`.
    pub fn shape(&self) -> (usize, usize, usize) {
        (self.samples, self.p, self.h)
    }

    /// The inputs, row-major `samples x inputs`.
    pub fn inputs(&self) -> &[f64] {
        &self.inputs
    }

    /// The targets, one per sample.
    pub fn targets(&self) -> &[f64] {
        &self.targets
    }

    /// The gradient of example `k`'s squared error `(f(x_k) - y_k)^2`
    /// alone (the loss is their mean): what SSAM's Fisher scores square and
    /// sum. NaN for a wrong-sized `w` or `k >= samples`.
    pub fn example_gradient(&self, w: &[f64], k: usize) -> Vec<f64> {
        if w.len() != self.dim() || k >= self.samples {
            return nan_vec(self.dim());
        }
        let f = self.forward(w, k);
        let r = f.out - self.targets[k];
        self.output_gradient(w, k, &f)
            .into_iter()
            .map(|o| 2.0 * r * o)
            .collect()
    }
}
