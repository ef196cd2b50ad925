//! The steps of one epoch: the SSAM mask refresh, the sharpness-aware
//! steps, what they add up to ([`EpochStats`]) and the per-step log. The
//! loop over epochs is in [`epoch`](super::epoch).

use std::time::Instant;

use burn::backend::Autodiff;
use burn::nn::loss::CrossEntropyLoss;
use burn::optim::GradientsParams;
use burn::tensor::backend::Backend;
use burn::tensor::{ElementConversion, Int, Tensor};
use datasets::ImageBatch;
use sam_burn::optim::{Decision, MethodOptimizer, OptimError, Pass, StepReport, accumulate_with};
use sam_burn::parallel::Replica;

use super::error::RunError;
use crate::config::TrainConfig;
use crate::data::{RunData, Shard, permutation};
use crate::models::Model;
use crate::optimizer::BaseOptimizer;
use crate::output::OutputDir;
use crate::progress::Progress;
use crate::records::{RatioStats, StepRecord};

pub(super) type Ad<B> = Autodiff<B>;
/// The training loop's optimizer: any method around any base optimizer.
pub(super) type Optim<B> = MethodOptimizer<Model<Ad<B>>, Ad<B>, BaseOptimizer<Model<Ad<B>>, Ad<B>>>;

/// What every epoch of a run reads.
pub(super) struct EpochContext<'a, B: Backend> {
    pub cfg: &'a TrainConfig,
    pub data: &'a RunData,
    pub out: &'a OutputDir,
    pub progress: &'a Progress,
    pub loss_fn: &'a CrossEntropyLoss<Ad<B>>,
    pub device: &'a B::Device,
    /// This device's replica in a data-parallel run (`None`: one device).
    pub replica: Option<&'a Replica<Ad<B>>>,
}

impl<B: Backend> EpochContext<'_, B> {
    /// Whether this replica writes the run's outputs (always, on one device).
    pub fn is_main(&self) -> bool {
        self.replica.is_none_or(Replica::is_main)
    }

    fn shard(&self) -> Shard {
        self.replica.map_or(Shard::WHOLE, |r| Shard {
            rank: r.rank(),
            size: r.size(),
        })
    }
}

/// An epoch's steps, done.
pub(super) struct Stepped<B: Backend> {
    /// The model after the last step.
    pub model: Model<Ad<B>>,
    /// What the steps add up to.
    pub stats: EpochStats<B>,
    /// Seconds the steps took.
    pub seconds: f64,
}

/// SSAM draws its Fisher mask afresh at the start of every epoch, from
/// single training examples; other methods have no mask. In a data-parallel
/// run replica `r` of `D` scores the examples at positions `i mod D = r`
/// and the scores are summed over the replicas, so every replica keeps the
/// mask one device would.
pub(super) fn refresh_ssam_mask<B: Backend>(
    ctx: &EpochContext<'_, B>,
    model: &Model<Ad<B>>,
    optim: &mut Optim<B>,
    epoch: usize,
) -> Result<(), RunError> {
    if let Some(ssam) = optim.rule_mut().inner_mut().as_ssam_mut() {
        let picks = permutation(ctx.data.train.len(), ctx.cfg.seed ^ 0x55A4, epoch as u64);
        let shard = ctx.shard();
        let examples: Vec<ImageBatch<Ad<B>>> = picks
            .iter()
            .take(ssam.fisher_samples())
            .enumerate()
            .filter(|(position, _)| position % shard.size == shard.rank)
            .map(|(_, &i)| single_example(ctx.data, i, ctx.device))
            .collect();
        let example = |m: Model<Ad<B>>, i: usize| {
            let b = &examples[i];
            let loss = ctx
                .loss_fn
                .forward(m.forward(b.images.clone()), b.targets.clone());
            GradientsParams::from_grads(loss.backward(), &m)
        };
        ssam.refresh_mask_reduced(model, examples.len(), example, |scores| match ctx.replica {
            Some(r) => r.all_reduce_sum(scores).map_err(OptimError::from),
            None => Ok(scores),
        })
        .map_err(|source| RunError::Step {
            epoch: epoch + 1,
            step: 0,
            source,
        })?;
    }
    Ok(())
}

/// Runs epoch `epoch`'s steps at learning rate `lr`. `tuning`: the backend
/// is still compiling kernels (said once, and cleared after the first step).
pub(super) fn run_steps<B: Backend>(
    ctx: &EpochContext<'_, B>,
    mut model: Model<Ad<B>>,
    optim: &mut Optim<B>,
    epoch: usize,
    lr: f64,
    tuning: &mut bool,
) -> Result<Stepped<B>, RunError> {
    let cfg = ctx.cfg;
    let bar = ctx.progress.epoch(epoch);
    let t0 = Instant::now();
    let mut stats = EpochStats::<B>::new();
    let mut step_log = String::new();
    let shards = ctx.data.train_shards::<Ad<B>>(
        cfg.seed,
        epoch,
        cfg.batch_size,
        cfg.steps_per_epoch,
        ctx.shard(),
        ctx.device,
    );
    for (step, shard) in shards.enumerate() {
        let step_start = Instant::now();
        if *tuning {
            ctx.progress.note(&bar, &tuning_note(cfg.backend));
        }
        let (next, report) = match one_step(ctx, optim, model, &shard, lr) {
            Ok(done) => done,
            Err(error) => {
                // The steps up to the failure are the diagnosis.
                if cfg.log_steps && ctx.is_main() {
                    ctx.out.append(STEP_LOG, step_log.as_bytes())?;
                }
                let source = match error {
                    StepError::Step(e) => e,
                    StepError::Run(e) => return Err(e),
                };
                return Err(RunError::Step {
                    epoch: epoch + 1,
                    step,
                    source,
                });
            }
        };
        model = next;
        if *tuning {
            *tuning = false;
            let took = step_start.elapsed().as_secs_f64();
            ctx.progress
                .note(&bar, &format!("first step done in {took:.1} s"));
        }
        if cfg.log_steps {
            step_log.push_str(&step_line(epoch + 1, step, &report));
        }
        // Every replica skips alike (the losses are global): one warning.
        if report.guard.is_some_and(|g| g.decision == Decision::Skip) && ctx.is_main() {
            ctx.progress
                .warn(&bar, &skip_note(epoch, step, stats.skipped));
        }
        let loss = report.loss;
        stats.add(shard.global, report);
        bar.step(loss);
    }
    let seconds = t0.elapsed().as_secs_f64();
    bar.finish();
    if cfg.log_steps && ctx.is_main() {
        ctx.out.append(STEP_LOG, step_log.as_bytes())?;
    }
    Ok(Stepped {
        model,
        stats,
        seconds,
    })
}

/// Said while the first steps compile and autotune the kernels.
fn tuning_note(backend: crate::backend::BackendKind) -> String {
    format!(
        "{backend}: compiling and autotuning kernels in the first steps (the choices are cached for later runs)"
    )
}

/// Said when a step skipped its sharpness part (`skipped` earlier this
/// epoch).
fn skip_note(epoch: usize, step: usize, skipped: usize) -> String {
    format!(
        "epoch {}, step {step}: a perturbed loss was not finite; the step took the clean gradient ({} skipped this epoch)",
        epoch + 1,
        skipped + 1
    )
}

/// Why one step failed: the optimizer's step, or (data parallel) the
/// averaging of batch-norm statistics after it.
enum StepError {
    Step(OptimError),
    Run(RunError),
}

/// Correct clean-pass predictions of a step, on the device.
type Hits<B> = Option<Tensor<B, 1, Int>>;

/// The model after one step, and the step's report.
type StepOutcome<B> = (Model<Ad<B>>, StepReport<Hits<B>>);

/// One sharpness-aware step on `shard`.
fn one_step<B: Backend>(
    ctx: &EpochContext<'_, B>,
    optim: &mut Optim<B>,
    model: Model<Ad<B>>,
    shard: &crate::data::ShardBatch<Ad<B>>,
    lr: f64,
) -> Result<StepOutcome<B>, StepError> {
    let batch = &shard.batch;
    // Training accuracy is the clean pass's; the report drops the
    // perturbed passes' extra output.
    let forward = |m: &Model<Ad<B>>, b: &ImageBatch<Ad<B>>, pass: Pass| {
        let logits = m.forward(b.images.clone());
        let hits = pass
            .is_clean()
            .then(|| count_correct(logits.clone().inner(), b.targets.clone().inner()));
        (ctx.loss_fn.forward(logits, b.targets.clone()), hits)
    };
    let micro = micro_batches(batch, ctx.cfg.accumulate);
    let pass_fn = |m: Model<Ad<B>>, pass: Pass| -> Result<_, OptimError> {
        if micro.is_empty() {
            let (loss, hits) = forward(&m, batch, pass);
            let value = loss.clone().into_scalar().elem::<f64>();
            return Ok((
                value,
                GradientsParams::from_grads(loss.backward(), &m),
                hits,
            ));
        }
        let (value, grads, hits) = accumulate_with(&m, &micro, |m, b| {
            let (loss, hits) = forward(m, b, pass);
            (loss, b.len(), hits)
        })?;
        let hits = hits.into_iter().flatten().reduce(|a, b| a.add(b));
        Ok((value, grads, hits))
    };
    // On several devices every pass is made global (the loss and the
    // gradient of the whole batch), so every replica takes the same step.
    let stepped = match ctx.replica {
        Some(r) => optim.step(lr, model, r.closure(r.shard_weight(shard.global), pass_fn)),
        None => optim.step(lr, model, pass_fn),
    };
    let (next, report) = stepped.map_err(|failure| StepError::Step(failure.error))?;
    // Batch norm's running statistics saw only this shard: average them
    // so the replicas stay identical.
    let next = match ctx.replica {
        Some(r) => r
            .average_buffers(next)
            .map_err(|e| StepError::Run(e.into()))?,
        None => next,
    };
    Ok((next, report))
}

/// `batch` as `k` micro-batches whose sizes differ by at most one (fewer
/// when the batch, the last of an epoch, holds fewer than `k` examples);
/// none when `k` is 1.
fn micro_batches<B: Backend>(batch: &ImageBatch<B>, k: usize) -> Vec<ImageBatch<B>> {
    let n = batch.len();
    let k = k.min(n);
    if k <= 1 {
        return Vec::new();
    }
    let mut start = 0;
    (0..k)
        .map(|i| {
            let len = n / k + usize::from(i < n % k);
            let part = ImageBatch {
                images: batch.images.clone().narrow(0, start, len),
                targets: batch.targets.clone().narrow(0, start, len),
                indices: batch.indices[start..start + len].to_vec(),
            };
            start += len;
            part
        })
        .collect()
}

/// The per-step log of `log_steps = true`.
pub(super) const STEP_LOG: &str = "steps.jsonl";

/// Keeps the step log's lines of the first `epochs` epochs.
pub(super) fn truncate_step_log(out: &OutputDir, epochs: usize) -> Result<(), RunError> {
    let Ok(bytes) = out.read(STEP_LOG) else {
        return Ok(());
    };
    let text = String::from_utf8_lossy(&bytes);
    let kept: String = text
        .lines()
        .filter(|line| serde_json::from_str::<StepRecord>(line).is_ok_and(|r| r.epoch <= epochs))
        .flat_map(|line| [line, "\n"])
        .collect();
    out.write(STEP_LOG, kept.as_bytes())?;
    Ok(())
}

/// One line of the step log.
fn step_line<T>(epoch: usize, step: usize, report: &StepReport<T>) -> String {
    let guard = report.guard;
    let record = StepRecord {
        epoch,
        step,
        loss: report.loss,
        loss_differences: report
            .perturbed_losses
            .iter()
            .map(|l| Some(l - report.loss).filter(|d| d.is_finite()))
            .collect(),
        sharpness: report.sharpness,
        gradient_norm: guard.map(|g| g.gradient_norm),
        sharpness_norm: guard.and_then(|g| g.sharpness_norm),
        guard: guard.map(|g| {
            match g.decision {
                Decision::Keep => "keep",
                Decision::Scale(_) => "scale",
                Decision::Skip => "skip",
            }
            .to_string()
        }),
        guard_factor: guard.and_then(|g| match g.decision {
            Decision::Scale(f) => Some(f),
            _ => None,
        }),
    };
    let mut line = serde_json::to_string(&record).expect("records serialise");
    line.push('\n');
    line
}

/// What an epoch's steps add up to.
pub(super) struct EpochStats<B: Backend> {
    pub(super) loss_sum: f64,
    pub(super) seen: usize,
    pub(super) passes: usize,
    pub(super) sharp_sum: f64,
    pub(super) sharp_n: usize,
    pub(super) ratio_sum: f64,
    pub(super) ratio_max: f64,
    pub(super) ratio_n: usize,
    pub(super) bounded: usize,
    pub(super) skipped: usize,
    /// Correct clean-pass predictions, summed on the device (read once).
    pub(super) correct: Option<Tensor<B, 1, Int>>,
}

impl<B: Backend> EpochStats<B> {
    fn new() -> Self {
        Self {
            loss_sum: 0.0,
            seen: 0,
            passes: 0,
            sharp_sum: 0.0,
            sharp_n: 0,
            ratio_sum: 0.0,
            ratio_max: 0.0,
            ratio_n: 0,
            bounded: 0,
            skipped: 0,
            correct: None,
        }
    }

    /// Adds a step over `n` examples.
    fn add(&mut self, n: usize, report: StepReport<Option<Tensor<B, 1, Int>>>) {
        self.loss_sum += report.loss * n as f64;
        self.seen += n;
        self.passes += report.passes;
        if let Some(s) = report.sharpness {
            self.sharp_sum += s;
            self.sharp_n += 1;
        }
        if let Some(g) = report.guard {
            match g.decision {
                Decision::Keep => {}
                Decision::Scale(_) => self.bounded += 1,
                Decision::Skip => self.skipped += 1,
            }
            // A non-zero part against an exactly zero g0 has an infinite
            // ratio, which JSON cannot hold; the guard's count shows it.
            if let Some(r) = g.ratio().filter(|r| r.is_finite()) {
                self.ratio_sum += r;
                self.ratio_max = self.ratio_max.max(r);
                self.ratio_n += 1;
            }
        }
        if let Some(hits) = report.output {
            self.correct = Some(match self.correct.take() {
                Some(c) => c + hits,
                None => hits,
            });
        }
    }

    pub(super) fn hits(&self) -> f64 {
        self.correct
            .clone()
            .map_or(0, |c| c.into_scalar().elem::<i64>()) as f64
    }

    pub(super) fn ratio(&self) -> Option<RatioStats> {
        (self.ratio_n > 0).then(|| RatioStats {
            mean: self.ratio_sum / self.ratio_n as f64,
            max: self.ratio_max,
            count: self.ratio_n,
        })
    }
}

fn single_example<B: burn::tensor::backend::AutodiffBackend>(
    data: &RunData,
    index: usize,
    device: &B::Device,
) -> ImageBatch<B> {
    use burn::data::dataloader::batcher::Batcher;
    let batcher = datasets::ImageBatcher::new(data.normalization.clone());
    batcher.batch(vec![data.train.item(index).expect("in range")], device)
}

fn count_correct<B: Backend>(
    logits: Tensor<B, 2>,
    targets: Tensor<B, 1, Int>,
) -> Tensor<B, 1, Int> {
    logits
        .argmax(1)
        .squeeze_dim::<1>(1)
        .equal(targets)
        .int()
        .sum()
}
