//! Reproducible perturbation noise, regenerated from a seed.
//!
//! Noise is drawn on the host by `sam-core`'s counter-based samplers, so the
//! same `(seed, step, sample, tensor)` gives bit-identical draws on every
//! backend and in the f64 reference, and nothing has to be stored between
//! steps: the optimizer state is just the step counter.
//!
//! Drawing millions of values costs about as much as a small model's
//! forward-backward pass, so the draws of the next sample are made on a
//! background thread while the current pass runs ([`Prefetch`]).

use std::thread::JoinHandle;

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use rayon::prelude::*;
use sam_core::sampler::{NoiseKey, Sampler};

use super::params::upload;

/// Entries per parallel chunk: large enough to amortise scheduling, small
/// enough to use every core on a single big tensor.
const CHUNK: usize = 1 << 15;

/// The draws of one perturbed pass over a parameter list, on the host.
pub(crate) struct SampleNoise {
    /// Raw draws per tensor, taken as each tensor is perturbed.
    draws: Vec<Option<Vec<f32>>>,
    /// Multiplies every draw: rho, divided by the global norm for `Sphere`.
    scale: f64,
}

impl SampleNoise {
    /// Draws the noise of sample `sample` of step `step` for tensors of
    /// `sizes`, in parallel over all tensors and chunks.
    pub fn generate(
        sampler: Sampler,
        seed: u64,
        step: u64,
        sample: u32,
        rho: f64,
        sizes: &[usize],
    ) -> Self {
        let key = |tensor: usize| NoiseKey {
            seed,
            step,
            sample,
            tensor: tensor as u32,
        };
        let mut draws: Vec<Vec<f32>> = sizes.iter().map(|&n| vec![0f32; n]).collect();
        draws.par_iter_mut().enumerate().for_each(|(t, out)| {
            out.par_chunks_mut(CHUNK)
                .enumerate()
                .for_each(|(c, chunk)| {
                    sampler.fill_f32(key(t), (c * CHUNK) as u64, chunk);
                });
        });
        let mut scale = rho;
        if sampler.needs_global_normalisation() {
            let total: f64 = draws
                .par_iter()
                .map(|d| d.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>())
                .sum();
            // A zero-norm draw has probability zero; guard anyway.
            scale = if total > 0.0 { rho / total.sqrt() } else { 0.0 };
        }
        Self {
            draws: draws.into_iter().map(Some).collect(),
            scale,
        }
    }

    /// `w + scale * delta` for tensor `t` (each tensor once).
    pub fn perturb<B: Backend>(&mut self, t: usize, w: Tensor<B, 1>) -> Tensor<B, 1> {
        let values = self.draws[t]
            .take()
            .expect("each tensor is perturbed once per sample");
        let delta = upload::<B>(values, &w.device());
        w.add(delta.mul_scalar(self.scale))
    }
}

/// The noise of one sample, being drawn on a background thread.
pub(crate) struct Prefetch {
    handle: JoinHandle<SampleNoise>,
}

impl Prefetch {
    /// Starts drawing the noise of `sample`.
    pub fn start(
        sampler: Sampler,
        seed: u64,
        step: u64,
        sample: u32,
        rho: f64,
        sizes: &[usize],
    ) -> Self {
        let sizes = sizes.to_vec();
        Self {
            handle: std::thread::spawn(move || {
                SampleNoise::generate(sampler, seed, step, sample, rho, &sizes)
            }),
        }
    }

    /// Waits for the draws.
    pub fn wait(self) -> SampleNoise {
        self.handle
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}
