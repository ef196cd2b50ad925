//! f64 reference implementations of one optimizer step of every method, on
//! a [`Problem`]. The tensor crate's tests compare against these.
//!
//! A step is two parts: [`combined_gradient`] (the method: which gradients
//! to evaluate and how to combine them) and [`sgd_step`] (the base
//! optimizer, mirroring Burn 0.21's SGD operation for operation).

use crate::error::{Result, SamError, finite};
use crate::estimator::{Estimator, Scaling};
use crate::guard::{Decision, Guard};
use crate::measure::Measure;
use crate::problems::Problem;
use crate::rules::{asam_perturbation, sam_perturbation};
use crate::sampler::{NoiseKey, norm};
use std::sync::Arc;

/// Base optimizer settings, Burn's `SgdConfig` in plain numbers.
///
/// `momentum == 0` means no momentum state at all and
/// `weight_decay == 0` no decay (Burn's `None`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdConfig {
    /// Learning rate.
    pub lr: f64,
    /// Momentum factor (0 = off).
    pub momentum: f64,
    /// Dampening of the gradient in the velocity update.
    pub dampening: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// L2 penalty added to the gradient (0 = off).
    pub weight_decay: f64,
}

impl SgdConfig {
    /// Plain gradient descent with learning rate `lr`.
    pub fn plain(lr: f64) -> Self {
        SgdConfig {
            lr,
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        }
    }
}

/// SGD's state: the momentum buffer, created on the first step.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SgdState {
    /// Velocity, `None` before the first step with momentum.
    pub velocity: Option<Vec<f64>>,
}

/// A method: how the gradient handed to the base optimizer is formed.
#[derive(Debug, Clone)]
pub enum Method {
    /// The plain gradient `g0`.
    Sgd,
    /// SAM: the gradient at `w + rho g0/‖g0‖`.
    Sam {
        /// Radius (0 reduces to [`Method::Sgd`]).
        rho: f64,
    },
    /// ASAM: the gradient at `w + rho T^2 g0/‖T g0‖`, `T = |w| + eta`.
    Asam {
        /// Radius.
        rho: f64,
        /// Offset of `T`.
        eta: f64,
    },
    /// SSAM: SAM's perturbation `rho g0/‖g0‖` (norm of the full
    /// gradient) with entries outside `mask` set to zero.
    Ssam {
        /// Radius.
        rho: f64,
        /// Which entries are perturbed (length `dim`).
        mask: Vec<bool>,
    },
    /// The universal class: `c0 g0 + sum_i c_i g_i` from a measure.
    Universal {
        /// The sharpness measure.
        measure: Arc<dyn Measure>,
        /// Radius.
        rho: f64,
        /// Sharpness weight (0 reduces to [`Method::Sgd`]).
        lambda: f64,
        /// Perturbed samples per step.
        samples: usize,
        /// Convention of `lambda`.
        scaling: Scaling,
    },
}

/// What one step computed.
#[derive(Debug, Clone, PartialEq)]
pub struct StepReport {
    /// `L(w)` before the step.
    pub loss: f64,
    /// The sharpness estimate (universal methods with `lambda > 0`).
    pub sharpness: Option<f64>,
    /// The combined gradient handed to the base step.
    pub gradient: Vec<f64>,
    /// The perturbations `e` that were evaluated (`w + e`), in order.
    pub perturbations: Vec<Vec<f64>>,
}

fn check_point(problem: &dyn Problem, w: &[f64]) -> Result<()> {
    if w.len() != problem.dim() {
        return Err(SamError::invalid(
            "w",
            format!(
                "{} has {} parameters, got {}",
                problem.name(),
                problem.dim(),
                w.len()
            ),
        ));
    }
    Ok(())
}

fn checked_gradient(problem: &dyn Problem, w: &[f64], what: &str) -> Result<Vec<f64>> {
    let g = problem.gradient(w);
    for (i, v) in g.iter().enumerate() {
        finite(*v, || format!("{what} gradient[{i}]"))?;
    }
    Ok(g)
}

fn add(w: &[f64], e: &[f64]) -> Vec<f64> {
    w.iter().zip(e).map(|(a, b)| a + b).collect()
}

/// The direction `delta_i` of universal sample `sample` at step `step`:
/// each tensor of the problem's layout filled from
/// `NoiseKey { seed, step, sample, tensor }` at offset 0, then, for
/// [`crate::sampler::Sampler::Sphere`], divided by the global norm.
pub fn direction(
    problem: &dyn Problem,
    measure: &dyn Measure,
    seed: u64,
    step: u64,
    sample: u32,
) -> Vec<f64> {
    let sampler = measure.sampler();
    let mut delta = vec![0.0; problem.dim()];
    let mut start = 0;
    for (t, size) in problem.layout().into_iter().enumerate() {
        let end = (start + size).min(delta.len());
        let key = NoiseKey {
            seed,
            step,
            sample,
            tensor: t as u32,
        };
        sampler.fill_f64(key, 0, &mut delta[start..end]);
        start = end;
    }
    if sampler.needs_global_normalisation() {
        let n = norm(&delta);
        if n > 0.0 {
            delta.iter_mut().for_each(|d| *d /= n);
        }
    }
    delta
}

/// The gradient `method` hands to the base optimizer at `w`, and what it
/// evaluated. Noise for universal methods comes from [`direction`] with
/// `(seed, step, sample i)`. Methods that reduce to SGD (`lambda = 0`,
/// `rho = 0` for SAM/ASAM/SSAM) return `g0` without extra evaluations.
pub fn combined_gradient(
    problem: &dyn Problem,
    w: &[f64],
    method: &Method,
    seed: u64,
    step: u64,
) -> Result<StepReport> {
    check_point(problem, w)?;
    let loss = finite(problem.loss(w), || "loss L(w)".into())?;
    let g0 = checked_gradient(problem, w, "base")?;
    let perturbation = match method {
        Method::Sgd => None,
        Method::Sam { rho } => Some((sam_perturbation(&g0, *rho)?, *rho)),
        Method::Asam { rho, eta } => Some((asam_perturbation(w, &g0, *rho, *eta)?, *rho)),
        Method::Ssam { rho, mask } => Some((ssam_perturbation(&g0, *rho, mask)?, *rho)),
        Method::Universal { .. } => {
            return universal_gradient(problem, w, method, (loss, g0), (seed, step));
        }
    };
    match perturbation {
        // rho = 0: the base optimizer's step, without a second evaluation.
        None | Some((_, 0.0)) => Ok(StepReport {
            loss,
            sharpness: None,
            gradient: g0,
            perturbations: Vec::new(),
        }),
        Some((e, _)) => Ok(StepReport {
            loss,
            sharpness: None,
            gradient: checked_gradient(problem, &add(w, &e), "perturbed")?,
            perturbations: vec![e],
        }),
    }
}

/// SSAM's perturbation: SAM's, zero outside the mask.
fn ssam_perturbation(g0: &[f64], rho: f64, mask: &[bool]) -> Result<Vec<f64>> {
    if mask.len() != g0.len() {
        return Err(SamError::invalid(
            "mask",
            format!("{} entries for {} parameters", mask.len(), g0.len()),
        ));
    }
    let mut e = sam_perturbation(g0, rho)?;
    e.iter_mut().zip(mask).for_each(|(v, &keep)| {
        if !keep {
            *v = 0.0
        }
    });
    Ok(e)
}

/// The universal class's step: `n` perturbed evaluations, combined with
/// the estimator's coefficients.
fn universal_gradient(
    problem: &dyn Problem,
    w: &[f64],
    method: &Method,
    (loss, g0): (f64, Vec<f64>),
    (seed, step): (u64, u64),
) -> Result<StepReport> {
    let Method::Universal {
        measure,
        rho,
        lambda,
        samples,
        scaling,
    } = method
    else {
        unreachable!("called for the universal class only");
    };
    let est = Estimator::new(measure.as_ref(), *rho, *lambda, *scaling)?;
    if *samples == 0 {
        return Err(SamError::NoSamples);
    }
    if *samples < measure.min_samples() {
        return Err(SamError::TooFewSamples {
            needed: measure.min_samples(),
            got: *samples,
        });
    }
    if *lambda == 0.0 {
        return Ok(StepReport {
            loss,
            sharpness: None,
            gradient: g0,
            perturbations: Vec::new(),
        });
    }
    let (losses, grads, perturbations) =
        perturbed_passes(problem, w, measure.as_ref(), *rho, *samples, (seed, step))?;
    let estimate = est.estimate(loss, &losses)?;
    let gradient = estimate.coefficients.combine(&g0, &grads)?;
    Ok(StepReport {
        loss,
        sharpness: Some(estimate.sharpness),
        gradient,
        perturbations,
    })
}

/// The losses, gradients and perturbations of the `samples` perturbed
/// passes of a universal step.
#[allow(clippy::type_complexity)]
fn perturbed_passes(
    problem: &dyn Problem,
    w: &[f64],
    measure: &dyn Measure,
    rho: f64,
    samples: usize,
    (seed, step): (u64, u64),
) -> Result<(Vec<f64>, Vec<Vec<f64>>, Vec<Vec<f64>>)> {
    let mut losses = Vec::with_capacity(samples);
    let mut grads = Vec::with_capacity(samples);
    let mut perturbations = Vec::with_capacity(samples);
    for i in 0..samples {
        let delta = direction(problem, measure, seed, step, i as u32);
        let e: Vec<f64> = delta.iter().map(|d| rho * d).collect();
        let wi = add(w, &e);
        losses.push(problem.loss(&wi));
        grads.push(checked_gradient(problem, &wi, "perturbed")?);
        perturbations.push(e);
    }
    Ok((losses, grads, perturbations))
}

/// The gradient a universal `method` hands to the base optimizer under
/// `guard`, and the guard's decision: [`combined_gradient`] with
/// [`Guard::apply`], except where the step's weights leave the f64 range
/// (Det at large `x`): then, with a bound, the step is bounded in the log
/// domain (`estimator::Unbounded`, [`Guard::decide_unbounded`]) and stays
/// finite whenever the gradients are.
pub fn guarded_gradient(
    problem: &dyn Problem,
    w: &[f64],
    method: &Method,
    guard: &Guard,
    (seed, step): (u64, u64),
) -> Result<(Vec<f64>, Decision)> {
    let g0 = checked_gradient(problem, w, "base")?;
    let overflow = match combined_gradient(problem, w, method, seed, step) {
        Ok(report) => return guard.apply(&g0, &report.gradient),
        Err(e @ SamError::Overflow { .. }) => e,
        Err(e) => return Err(e),
    };
    let Method::Universal {
        measure,
        rho,
        lambda,
        samples,
        scaling,
    } = method
    else {
        return Err(overflow);
    };
    if guard.max_ratio.is_none() {
        return Err(overflow);
    }
    let est = Estimator::new(measure.as_ref(), *rho, *lambda, *scaling)?;
    let l0 = problem.loss(w);
    let (losses, grads, _) =
        perturbed_passes(problem, w, measure.as_ref(), *rho, *samples, (seed, step))?;
    let mut stream = est.stream_with_samples(l0, *samples)?;
    let mut slot = vec![0.0; w.len()];
    for (li, gi) in losses.iter().zip(&grads) {
        let wi = stream.push(*li)?[0];
        slot.iter_mut().zip(gi).for_each(|(s, g)| *s += wi * g);
    }
    let u = stream.finish_unbounded()?;
    let part: Vec<f64> = slot
        .iter()
        .zip(&g0)
        .map(|(s, g)| s - u.weight_sum * g)
        .collect();
    let (factor, decision) =
        guard.decide_unbounded(u.ln_scale, u.negative, norm(&part), norm(&g0))?;
    let g = g0.iter().zip(&part).map(|(g, p)| g + factor * p).collect();
    Ok((g, decision))
}

/// One step of Burn 0.21's SGD on `w` with gradient `grad`, operation for
/// operation: `grad += weight_decay * w`; with momentum the velocity is
/// `grad` on the first step and `momentum * v + (1 - dampening) * grad`
/// after; the step direction is `grad + momentum * v` (Nesterov) or `v`;
/// finally `w -= lr * direction`.
pub fn sgd_step(cfg: &SgdConfig, state: &mut SgdState, w: &mut [f64], grad: &[f64]) {
    let mut g: Vec<f64> = grad.to_vec();
    if cfg.weight_decay != 0.0 {
        // Burn: tensor.mul_scalar(penalty).add(grad) (addition commutes
        // bitwise).
        g.iter_mut()
            .zip(w.iter())
            .for_each(|(g, w)| *g += w * cfg.weight_decay);
    }
    if cfg.momentum != 0.0 {
        let velocity: Vec<f64> = match state.velocity.take() {
            // Burn: grad.mul_scalar(1 - dampening).add(velocity.mul_scalar(momentum)).
            Some(v) if v.len() == g.len() => g
                .iter()
                .zip(&v)
                .map(|(g, v)| g * (1.0 - cfg.dampening) + v * cfg.momentum)
                .collect(),
            _ => g.clone(),
        };
        if cfg.nesterov {
            // Burn: velocity.mul_scalar(momentum).add(grad).
            g.iter_mut()
                .zip(&velocity)
                .for_each(|(g, v)| *g += v * cfg.momentum);
        } else {
            g.clone_from(&velocity);
        }
        state.velocity = Some(velocity);
    }
    w.iter_mut().zip(&g).for_each(|(w, g)| *w -= g * cfg.lr);
}

/// [`combined_gradient`] followed by [`sgd_step`]; returns the report of
/// the gradient part (`loss` is the loss before the step).
pub fn step(
    problem: &dyn Problem,
    w: &mut [f64],
    method: &Method,
    cfg: &SgdConfig,
    state: &mut SgdState,
    seed: u64,
    step: u64,
) -> Result<StepReport> {
    let report = combined_gradient(problem, w, method, seed, step)?;
    sgd_step(cfg, state, w, &report.gradient);
    Ok(report)
}

/// Where a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// The final parameters.
    pub w: Vec<f64>,
    /// `L` at the final parameters.
    pub loss: f64,
    /// The last sharpness estimate seen (universal methods).
    pub last_sharpness: Option<f64>,
}

/// `steps` steps of `method` with the base optimizer `cfg` from `w0`,
/// steps numbered `0..steps` for the noise keys.
pub fn run(
    problem: &dyn Problem,
    w0: &[f64],
    method: &Method,
    cfg: &SgdConfig,
    steps: u64,
    seed: u64,
) -> Result<RunSummary> {
    check_point(problem, w0)?;
    let mut w = w0.to_vec();
    let mut state = SgdState::default();
    let mut last_sharpness = None;
    for t in 0..steps {
        let r = step(problem, &mut w, method, cfg, &mut state, seed, t)?;
        last_sharpness = r.sharpness.or(last_sharpness);
    }
    let loss = problem.loss(&w);
    Ok(RunSummary {
        w,
        loss,
        last_sharpness,
    })
}

#[cfg(test)]
mod tests;
