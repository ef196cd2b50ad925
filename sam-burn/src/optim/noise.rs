//! Reproducible perturbation noise, regenerated from a seed.
//!
//! Noise is drawn on the host by `sam-core`'s counter-based samplers, so the
//! same `(seed, step, sample, tensor)` gives bit-identical draws on every
//! backend and in the f64 reference, and nothing has to be stored between
//! passes: the optimizer state is just the step counter.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use rayon::prelude::*;
use sam_core::sampler::{NoiseKey, Sampler};

use super::params::upload;

/// Entries per parallel chunk: large enough to amortise scheduling, small
/// enough to use every core on a single big tensor.
const CHUNK: usize = 1 << 16;

/// Fills a host vector with the raw draws for one tensor.
pub(crate) fn draws(sampler: &Sampler, key: NoiseKey, len: usize) -> Vec<f32> {
    let mut out = vec![0f32; len];
    if len <= CHUNK {
        sampler.fill_f32(key, 0, &mut out);
    } else {
        out.par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(c, chunk)| {
                sampler.fill_f32(key, (c * CHUNK) as u64, chunk);
            });
    }
    out
}

/// Sum of squares of the draws of one tensor, without keeping them (the
/// first pass of a globally normalised sampler).
pub(crate) fn squared_norm(sampler: &Sampler, key: NoiseKey, len: usize) -> f64 {
    (0..len.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| {
            let start = c * CHUNK;
            let mut buf = vec![0f32; CHUNK.min(len - start)];
            sampler.fill_f32(key, start as u64, &mut buf);
            buf.iter()
                .map(|&v| f64::from(v) * f64::from(v))
                .sum::<f64>()
        })
        .sum()
}

/// Noise for one perturbed pass over a parameter list.
pub(crate) struct SampleNoise {
    pub sampler: Sampler,
    pub seed: u64,
    pub step: u64,
    pub sample: u32,
    /// Multiplies every draw: rho, divided by the global norm for `Sphere`.
    pub scale: f64,
}

impl SampleNoise {
    /// Prepares the noise of sample `sample`, computing the global norm
    /// first when the sampler needs one.
    pub fn new(
        sampler: Sampler,
        seed: u64,
        step: u64,
        sample: u32,
        rho: f64,
        sizes: &[usize],
    ) -> Self {
        let mut noise = Self {
            sampler,
            seed,
            step,
            sample,
            scale: rho,
        };
        if sampler.needs_global_normalisation() {
            let total: f64 = sizes
                .iter()
                .enumerate()
                .map(|(t, &len)| squared_norm(&sampler, noise.key(t), len))
                .sum();
            // A zero-norm draw has probability zero; guard anyway.
            noise.scale = if total > 0.0 { rho / total.sqrt() } else { 0.0 };
        }
        noise
    }

    fn key(&self, tensor: usize) -> NoiseKey {
        NoiseKey {
            seed: self.seed,
            step: self.step,
            sample: self.sample,
            tensor: tensor as u32,
        }
    }

    /// `w + scale * delta` for tensor `t`.
    pub fn perturb<B: Backend>(&self, t: usize, w: Tensor<B, 1>) -> Tensor<B, 1> {
        let n = w.shape().num_elements();
        let delta = upload::<B>(draws(&self.sampler, self.key(t), n), &w.device());
        w.add(delta.mul_scalar(self.scale))
    }
}
