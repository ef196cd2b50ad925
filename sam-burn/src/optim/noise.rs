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

/// The draws of one perturbed pass over a parameter list, scaled to the
/// perturbation (rho, over the global norm for `Sphere`), on the host, in
/// one contiguous buffer (tensor after tensor) so that a pass costs a
/// single host-to-device copy rather than one per parameter tensor.
pub(crate) struct SampleNoise {
    draws: Vec<f32>,
    /// Start of each tensor's draws in `draws`, plus the total at the end.
    offsets: Vec<usize>,
}

/// What keys and scales one step's noise.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NoiseSpec {
    /// The measure's distribution.
    pub sampler: Sampler,
    /// The optimizer's seed.
    pub seed: u64,
    /// The step being taken.
    pub step: u64,
    /// The perturbation radius.
    pub rho: f64,
}

impl NoiseSpec {
    /// Starts drawing the noise of `sample` for tensors of `sizes` on a
    /// background thread.
    pub fn prefetch(self, sample: u32, sizes: &[usize]) -> Prefetch {
        let sizes = sizes.to_vec();
        Prefetch {
            handle: std::thread::spawn(move || SampleNoise::generate(self, sample, &sizes)),
        }
    }
}

impl SampleNoise {
    /// Draws the noise of sample `sample` of `spec`'s step for tensors of
    /// `sizes`, in parallel over all tensors and chunks.
    pub fn generate(spec: NoiseSpec, sample: u32, sizes: &[usize]) -> Self {
        let NoiseSpec {
            sampler,
            seed,
            step,
            rho,
        } = spec;
        let key = |tensor: usize| NoiseKey {
            seed,
            step,
            sample,
            tensor: tensor as u32,
        };
        let mut offsets = Vec::with_capacity(sizes.len() + 1);
        let mut total = 0;
        for &n in sizes {
            offsets.push(total);
            total += n;
        }
        offsets.push(total);
        let mut draws = vec![0f32; total];
        let mut segments = Vec::with_capacity(sizes.len());
        let mut rest: &mut [f32] = &mut draws;
        for &n in sizes {
            let (head, tail) = rest.split_at_mut(n);
            segments.push(head);
            rest = tail;
        }
        // Scaling here, while each chunk is in cache, saves the device a
        // pass over the parameters; the product is the same f32 multiply.
        let global = sampler.needs_global_normalisation();
        let local = if global { 1.0 } else { rho as f32 };
        segments.into_par_iter().enumerate().for_each(|(t, out)| {
            out.par_chunks_mut(CHUNK)
                .enumerate()
                .for_each(|(c, chunk)| {
                    sampler.fill_f32(key(t), (c * CHUNK) as u64, chunk);
                    if local != 1.0 {
                        chunk.iter_mut().for_each(|v| *v *= local);
                    }
                });
        });
        if global {
            let total: f64 = draws
                .par_chunks(CHUNK)
                .map(|d| d.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>())
                .sum();
            // A zero-norm draw has probability zero; guard anyway.
            let scale = if total > 0.0 { rho / total.sqrt() } else { 0.0 } as f32;
            draws
                .par_chunks_mut(CHUNK)
                .for_each(|d| d.iter_mut().for_each(|v| *v *= scale));
        }
        Self { draws, offsets }
    }

    /// Copies the scaled draws to `device` in one transfer.
    pub fn upload<B: Backend>(self, device: &B::Device) -> DeviceNoise<B> {
        DeviceNoise {
            delta: upload::<B>(self.draws, device),
            offsets: self.offsets,
        }
    }
}

/// One sample's scaled perturbation on the device.
pub(crate) struct DeviceNoise<B: Backend> {
    delta: Tensor<B, 1>,
    offsets: Vec<usize>,
}

impl<B: Backend> DeviceNoise<B> {
    /// `w + delta` for tensor `t` (`delta` is already scaled).
    pub fn perturb(&self, t: usize, w: Tensor<B, 1>) -> Tensor<B, 1> {
        let (start, end) = (self.offsets[t], self.offsets[t + 1]);
        w.add(self.delta.clone().narrow(0, start, end - start))
    }
}

/// The noise of one sample, being drawn on a background thread.
pub(crate) struct Prefetch {
    handle: JoinHandle<SampleNoise>,
}

impl Prefetch {
    /// Waits for the draws.
    pub fn wait(self) -> SampleNoise {
        self.handle
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}
