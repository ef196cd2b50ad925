//! Reproducible perturbation noise, regenerated from a seed.
//!
//! Noise is drawn on the host by `sam-core`'s counter-based samplers, so the
//! same `(seed, step, sample, tensor)` gives bit-identical draws on every
//! backend and in the f64 reference, and nothing has to be stored between
//! steps: the optimizer state is just the step counter.
//!
//! Drawing millions of values costs about as much as a small model's
//! forward-backward pass, so the draws of the next sample are made on a
//! long-lived background thread while the current pass runs ([`Prefetch`]).

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use rayon::prelude::*;
use sam_core::sampler::{NoiseKey, Sampler};

use crate::params::upload;

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
    /// Starts drawing the noise of `sample` for tensors of `sizes` in the
    /// background.
    pub fn prefetch(self, sample: u32, sizes: &[usize]) -> Prefetch {
        let (tx, rx) = mpsc::sync_channel(1);
        let sizes: Arc<[usize]> = sizes.into();
        let job_sizes = Arc::clone(&sizes);
        in_background(Box::new(move || {
            // The receiver is gone only when the step was abandoned.
            let _ = tx.send(SampleNoise::generate(self, sample, &job_sizes));
        }));
        Prefetch {
            rx,
            spec: self,
            sample,
            sizes,
        }
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// The sender of the long-lived thread that draws noise in the background.
/// One thread serves every optimizer: spawning one per sample costs tens of
/// microseconds, a visible share of a small model's step.
static WORKER: Mutex<Option<Sender<Job>>> = Mutex::new(None);

/// Runs `job` on the noise thread, starting it when there is none (or the
/// last one died because a job panicked); runs it here if no thread can be
/// started.
fn in_background(job: Job) {
    let mut worker = WORKER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let job = match worker.as_ref() {
        Some(tx) => match tx.send(job) {
            Ok(()) => return,
            Err(mpsc::SendError(job)) => job,
        },
        None => job,
    };
    let (tx, rx) = mpsc::channel::<Job>();
    let started = std::thread::Builder::new()
        .name("sam-noise".into())
        .spawn(move || rx.into_iter().for_each(|job| job()));
    match started {
        Ok(_) => {
            // The thread holds the receiver until it exits, so this
            // send cannot fail.
            let _ = tx.send(job);
            *worker = Some(tx);
        }
        Err(_) => {
            drop(worker);
            job();
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
    rx: Receiver<SampleNoise>,
    spec: NoiseSpec,
    sample: u32,
    /// Shared with the background job, for drawing again here.
    sizes: Arc<[usize]>,
}

impl Prefetch {
    /// Waits for the draws. Should the background job have died (a panic in
    /// the sampler), they are drawn here instead, which reports the panic
    /// on the caller's thread.
    pub fn wait(self) -> SampleNoise {
        self.rx
            .recv()
            .unwrap_or_else(|_| SampleNoise::generate(self.spec, self.sample, &self.sizes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> NoiseSpec {
        NoiseSpec {
            sampler: Sampler::Gaussian,
            seed: 3,
            step: 7,
            rho: 0.5,
        }
    }

    #[test]
    fn prefetched_noise_equals_noise_drawn_in_place() {
        let sizes = [5, 40_000, 1];
        let direct = SampleNoise::generate(spec(), 1, &sizes);
        let fetched = spec().prefetch(1, &sizes).wait();
        assert_eq!(fetched.offsets, [0, 5, 40_005, 40_006]);
        assert_eq!(fetched.offsets, direct.offsets);
        assert_eq!(fetched.draws, direct.draws);
        // Scaled by rho: a unit Gaussian's draws are not all within 0.5.
        assert!(direct.draws.iter().any(|v| v.abs() > 0.5));
        assert!(direct.draws.iter().all(|v| v.abs() < 0.5 * 7.0));
    }

    #[test]
    fn a_panicking_job_does_not_lose_later_draws() {
        in_background(Box::new(|| panic!("a job that dies on the noise thread")));
        let sizes = [300, 2];
        for sample in 0..3 {
            let fetched = spec().prefetch(sample, &sizes).wait();
            assert_eq!(
                fetched.draws,
                SampleNoise::generate(spec(), sample, &sizes).draws
            );
        }
    }
}
