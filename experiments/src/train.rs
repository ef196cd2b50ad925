//! The training loop: epochs of sharpness-aware steps, evaluation, Hessian
//! metrics, checkpoints and outputs. Written once over the inner backend
//! `B`: training runs on `Autodiff<B>`, Hessian products on
//! `Autodiff<Autodiff<B>>`.

use std::path::PathBuf;
use std::time::Instant;

use burn::backend::Autodiff;
use burn::module::AutodiffModule;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::tensor::backend::Backend;
use burn::tensor::{ElementConversion, Int, Tensor, TensorData};
use datasets::ImageBatch;
use sam_burn::hessian::{Hessian, HessianError, HutchinsonConfig, HvpModule, lift, lift_int};
use sam_burn::optim::{Decision, MethodOptimizer, OptimError, StepReport};
use tracing::info;

use crate::backend::{BackendError, BackendTask, dispatch};
use crate::checkpoint::{self, CheckpointError};
use crate::config::{ConfigError, TrainConfig};
use crate::data::{DataError, RunData, eval_batches, permutation, sized_eval_batches};
use crate::models::{Model, ModelConfig, ModelError};
use crate::optimizer::{BaseOptimizer, method_config};
use crate::output::{OutputDir, OutputError};
use crate::plot;
use crate::progress::Progress;
use crate::records::{
    EpochRecord, Estimate, HessianMetrics, RatioStats, RunState, Score, StepRecord, Summary,
    TrainScores, to_json_lines,
};

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The backend is unavailable.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The data could not be prepared.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The model configuration is invalid for the data.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The output directory cannot be used.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// A training step failed (the last checkpoint is intact).
    #[error("epoch {epoch}, step {step}: {source}{}", divergence_hint(.source))]
    Step {
        /// Epoch (1-based).
        epoch: usize,
        /// Step within the epoch (0-based).
        step: usize,
        /// The optimizer's error.
        source: OptimError,
    },
    /// The Hessian metrics failed.
    #[error("Hessian metrics: {0}")]
    Hessian(#[from] HessianError),
    /// A checkpoint could not be written or read.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

/// What to try when a step failed on non-finite numbers.
fn divergence_hint(error: &OptimError) -> &'static str {
    use sam_core::SamError;
    match error {
        OptimError::NonFiniteLoss { .. }
        | OptimError::Core(SamError::NonFinite { .. } | SamError::NonFiniteLoss { .. }) => {
            " (the run diverged: try a lower learning rate, or the stability guard, optimizer.guard_ratio; see the README's notes on the mathematics)"
        }
        _ => "",
    }
}

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Output directory.
    pub out: PathBuf,
    /// Continue the run in `out` from its last checkpoint.
    pub resume: bool,
    /// Show progress bars.
    pub progress: bool,
}

/// Trains as configured; returns the summary (also in `summary.json`).
pub fn run(cfg: TrainConfig, options: RunOptions) -> Result<Summary, RunError> {
    cfg.validate()?;
    let (backend, device) = (cfg.backend, cfg.device);
    dispatch(backend, device, TrainTask { cfg, options })?
}

struct TrainTask {
    cfg: TrainConfig,
    options: RunOptions,
}

impl BackendTask for TrainTask {
    type Output = Result<Summary, RunError>;

    fn run<B: Backend>(self, device: B::Device) -> Self::Output {
        train::<B>(self.cfg, &self.options, &device)
    }
}

type Ad<B> = Autodiff<B>;
type Optim<B> = MethodOptimizer<Model<Ad<B>>, Ad<B>, BaseOptimizer<Model<Ad<B>>, Ad<B>>>;

fn model_config(cfg: &TrainConfig, data: &RunData) -> ModelConfig {
    let shape = data.train.shape();
    ModelConfig::new(
        cfg.model,
        data.train.num_classes(),
        shape.channels,
        shape.height,
    )
    .with_image_width((shape.width != shape.height).then_some(shape.width))
    .with_mlp_reuse_layer(cfg.mlp_reuse_layer)
}

/// Builds the model and optimizer of `cfg` (fresh, seeded).
fn build<B: Backend>(
    cfg: &TrainConfig,
    data: &RunData,
    device: &B::Device,
) -> Result<(Model<Ad<B>>, Optim<B>), RunError> {
    B::seed(device, cfg.seed);
    let model = model_config(cfg, data).init::<Ad<B>>(device)?;
    // A dataset the architecture cannot take (non-square images for a
    // model configured by one side, say) is an error here, not a panic
    // inside Burn at the first batch.
    let shape = data.train.shape();
    model.check_input([1, shape.channels, shape.height, shape.width])?;
    let method = method_config(&cfg.optimizer, cfg.seed)?;
    let optim = method
        .init(BaseOptimizer::new(&cfg.base))
        .map_err(|e| ConfigError::Invalid {
            field: "optimizer",
            value: cfg.optimizer.method.clone(),
            reason: e.to_string(),
        })?;
    Ok((model, optim))
}

fn train<B: Backend>(
    cfg: TrainConfig,
    options: &RunOptions,
    device: &B::Device,
) -> Result<Summary, RunError> {
    let started = Instant::now();
    if options.resume {
        let out = OutputDir::open(&options.out)?;
        let state = checkpoint::read_state(&out)?;
        let cfg = state.config.resumed_with(cfg)?;
        return train_in::<B>(&out, Some(state), cfg, options, device, started);
    }
    let out = OutputDir::create(&options.out)?;
    let keep_log = cfg.log_steps;
    let result = train_in::<B>(&out, None, cfg, options, device, started);
    // A run that failed before its first checkpoint leaves nothing behind,
    // so the same command can be run again; unless it logged its steps,
    // which are what the user needs to see why it failed.
    if result.is_err() && !out.has_checkpoint() && !keep_log {
        out.abandon();
    }
    result
}

/// The configuration a `--resume` of the run in `dir` starts from (its
/// stored one), for building the requested configuration over it.
pub fn stored_config(dir: &std::path::Path) -> Result<TrainConfig, RunError> {
    let out = OutputDir::open(dir)?;
    Ok(checkpoint::read_state(&out)?.config)
}

fn train_in<B: Backend>(
    out: &OutputDir,
    state: Option<RunState>,
    cfg: TrainConfig,
    options: &RunOptions,
    device: &B::Device,
    started: Instant,
) -> Result<Summary, RunError> {
    out.write("config.toml", cfg.to_toml().as_bytes())?;

    let data = RunData::load(&cfg)?;
    info!(
        train = data.train.len(),
        test = data.test.len(),
        corrupted = data.corrupted_count(),
        "data ready"
    );
    let (mut model, mut optim) = build::<B>(&cfg, &data, device)?;
    let mut history = Vec::new();
    let mut wall_before = 0.0;
    if let Some(state) = &state {
        model = checkpoint::load_model(out, &state.model_file, model, device)?;
        optim = optim.load_record(checkpoint::decode(out, &state.optimizer_file, device)?);
        history = state.history.clone();
        wall_before = state.wall_seconds;
        // Steps of an epoch that did not reach its checkpoint are run
        // again; their old lines go.
        truncate_step_log(out, state.epochs_done)?;
        info!(epochs_done = state.epochs_done, "resumed");
    }
    let start_epoch = history.len();
    let parameters = model.num_trainable_params();
    let steps = data.steps_per_epoch(cfg.batch_size, cfg.steps_per_epoch);
    let progress = Progress::new(options.progress, cfg.epochs, steps);
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    // CubeCL compiles and autotunes kernels during the first steps: say so,
    // or a run looks stuck for a minute.
    let mut tuning = cfg.backend.tunes_kernels();

    for epoch in start_epoch..cfg.epochs {
        let lr = cfg.schedule.lr(cfg.base.lr, epoch, cfg.epochs);
        if let Some(ssam) = optim.rule_mut().inner_mut().as_ssam_mut() {
            let picks = permutation(data.train.len(), cfg.seed ^ 0x55A4, epoch as u64);
            let examples: Vec<ImageBatch<Ad<B>>> = picks
                .iter()
                .take(cfg.optimizer.fisher_samples)
                .map(|&i| single_example(&data, i, device))
                .collect();
            ssam.refresh_mask(&model, |m: Model<Ad<B>>, i| {
                let b = &examples[i % examples.len()];
                let loss = loss_fn.forward(m.forward(b.images.clone()), b.targets.clone());
                GradientsParams::from_grads(loss.backward(), &m)
            })
            .map_err(|source| RunError::Step {
                epoch: epoch + 1,
                step: 0,
                source,
            })?;
        }

        let bar = progress.epoch(epoch);
        let t0 = Instant::now();
        let mut stats = EpochStats::<B>::new();
        let mut step_log = String::new();
        for (step, batch) in data
            .train_epoch::<Ad<B>>(cfg.seed, epoch, cfg.batch_size, cfg.steps_per_epoch, device)
            .enumerate()
        {
            let n = batch.len();
            let step_start = Instant::now();
            if tuning {
                progress.note(
                    &bar,
                    &format!(
                        "{}: compiling and autotuning kernels in the first steps (the choices are cached for later runs)",
                        cfg.backend
                    ),
                );
            }
            let stepped = optim.step(lr, model, |m: Model<Ad<B>>| {
                let logits = m.forward(batch.images.clone());
                let hits = count_correct(logits.clone().inner(), batch.targets.clone().inner());
                let loss = loss_fn.forward(logits, batch.targets.clone());
                let value = loss.clone().into_scalar().elem::<f64>();
                (
                    value,
                    GradientsParams::from_grads(loss.backward(), &m),
                    hits,
                )
            });
            let (next, report) = match stepped {
                Ok(done) => done,
                Err(failure) => {
                    // The steps up to the failure are the diagnosis.
                    if cfg.log_steps {
                        out.append(STEP_LOG, step_log.as_bytes())?;
                    }
                    return Err(RunError::Step {
                        epoch: epoch + 1,
                        step,
                        source: failure.error,
                    });
                }
            };
            model = next;
            if tuning {
                tuning = false;
                progress.note(
                    &bar,
                    &format!(
                        "first step done in {:.1} s",
                        step_start.elapsed().as_secs_f64()
                    ),
                );
            }
            if cfg.log_steps {
                step_log.push_str(&step_line(epoch + 1, step, &report));
            }
            if let Some(g) = report.guard
                && g.decision == Decision::Skip
            {
                progress.warn(
                    &bar,
                    &format!(
                        "epoch {}, step {step}: a perturbed loss was not finite; the step took the clean gradient ({} skipped this epoch)",
                        epoch + 1,
                        stats.skipped + 1
                    ),
                );
            }
            let loss = report.loss;
            stats.add(n, report);
            bar.step(loss);
        }
        let train_seconds = t0.elapsed().as_secs_f64();
        bar.finish();
        if cfg.log_steps {
            out.append(STEP_LOG, step_log.as_bytes())?;
        }
        let seen = stats.seen;

        let valid = model.valid();
        let test = score(&valid, &data.test, &data, cfg.eval_batch_size, device, None);
        let train_eval = cfg
            .eval_train
            .then(|| train_scores(&valid, &data, cfg.eval_batch_size, device));
        let hessian = if cfg.hessian_every > 0 && (epoch + 1) % cfg.hessian_every == 0 {
            Some(hessian_metrics::<B>(&model, &data, &cfg, epoch, device)?)
        } else {
            None
        };
        let record = EpochRecord {
            epoch: epoch + 1,
            lr,
            train_loss: stats.loss_sum / seen.max(1) as f64,
            train_accuracy: stats.hits() / seen.max(1) as f64,
            sharpness: (stats.sharp_n > 0).then(|| stats.sharp_sum / stats.sharp_n as f64),
            sharpness_ratio: stats.ratio(),
            guard_bounded: stats.bounded,
            guard_skipped: stats.skipped,
            test,
            train_eval,
            hessian,
            steps,
            passes: stats.passes,
            train_seconds,
            images_per_second: seen as f64 / train_seconds.max(1e-9),
            wall_seconds: wall_before + started.elapsed().as_secs_f64(),
        };
        progress.epoch_done(&record);
        info!(
            epoch = record.epoch,
            train_loss = record.train_loss,
            test_accuracy = record.test.accuracy,
            "epoch done"
        );
        history.push(record);
        checkpoint::write(
            out,
            &model,
            optim.to_record(),
            &history,
            &cfg,
            wall_before + started.elapsed().as_secs_f64(),
        )?;
        out.write("epochs.jsonl", to_json_lines(&history).as_bytes())?;
        if let Err(e) = plot::curves(out, &history) {
            tracing::warn!("could not draw the curves: {e}");
        }
    }

    let last = history.last().cloned().expect("at least one epoch ran");
    let summary = Summary {
        dataset: cfg.dataset.clone(),
        model: cfg.model.to_string(),
        method: cfg.optimizer.method.clone(),
        label_noise: cfg.label_noise,
        data_fraction: cfg.data_fraction,
        seed: cfg.seed,
        backend: cfg.backend.to_string(),
        epochs: history.len(),
        final_test: last.test,
        best_test_accuracy: history.iter().map(|r| r.test.accuracy).fold(0.0, f64::max),
        final_train: last.train_eval,
        final_hessian: history.iter().rev().find_map(|r| r.hessian),
        wall_seconds: last.wall_seconds,
        train_seconds: Some(history.iter().map(|r| r.train_seconds).sum()),
        parameters,
        provenance: Some(crate::provenance::Provenance::current()),
        lr: Some(cfg.base.lr),
        every: cfg.optimizer.every,
        between: cfg.optimizer.between,
    };
    out.write(
        "summary.json",
        serde_json::to_string_pretty(&summary)
            .expect("serialises")
            .as_bytes(),
    )?;
    Ok(summary)
}

/// The per-step log of `log_steps = true`.
const STEP_LOG: &str = "steps.jsonl";

/// Keeps the step log's lines of the first `epochs` epochs.
fn truncate_step_log(out: &OutputDir, epochs: usize) -> Result<(), RunError> {
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
struct EpochStats<B: Backend> {
    loss_sum: f64,
    seen: usize,
    passes: usize,
    sharp_sum: f64,
    sharp_n: usize,
    ratio_sum: f64,
    ratio_max: f64,
    ratio_n: usize,
    bounded: usize,
    skipped: usize,
    /// Correct clean-pass predictions, summed on the device (read once).
    correct: Option<Tensor<B, 1, Int>>,
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
    fn add(&mut self, n: usize, report: StepReport<Tensor<B, 1, Int>>) {
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
        self.correct = Some(match self.correct.take() {
            Some(c) => c + report.output,
            None => report.output,
        });
    }

    fn hits(&self) -> f64 {
        self.correct
            .clone()
            .map_or(0, |c| c.into_scalar().elem::<i64>()) as f64
    }

    fn ratio(&self) -> Option<RatioStats> {
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

/// Per-example loss and correctness of `model` on `dataset` (labels from
/// the dataset, or `labels` when given).
fn per_example<B: Backend>(
    model: &Model<B>,
    dataset: &datasets::ImageDataset,
    data: &RunData,
    batch_size: usize,
    device: &B::Device,
    labels: Option<&[u16]>,
) -> Vec<(f64, bool)> {
    let mut out = Vec::with_capacity(dataset.len());
    for batch in eval_batches::<B>(dataset, &data.normalization, batch_size, usize::MAX, device) {
        let targets = match labels {
            Some(l) => {
                let t: Vec<i64> = batch.indices.iter().map(|&i| i64::from(l[i])).collect();
                Tensor::<B, 1, Int>::from_data(TensorData::new(t, [batch.len()]), device)
            }
            None => batch.targets,
        };
        let logits = model.forward(batch.images);
        let logp = burn::tensor::activation::log_softmax(logits.clone(), 1);
        let nll = logp
            .gather(1, targets.clone().unsqueeze_dim(1))
            .squeeze_dim::<1>(1)
            .neg();
        let hit = logits.argmax(1).squeeze_dim::<1>(1).equal(targets);
        let nll: Vec<f32> = nll.into_data().convert::<f32>().to_vec().expect("f32");
        let hit: Vec<bool> = hit.into_data().to_vec().expect("bool");
        out.extend(nll.into_iter().map(f64::from).zip(hit));
    }
    out
}

fn aggregate<'a>(items: impl Iterator<Item = &'a (f64, bool)>) -> Score {
    let (mut loss, mut hits, mut n) = (0.0, 0, 0);
    for (l, h) in items {
        loss += l;
        hits += usize::from(*h);
        n += 1;
    }
    Score {
        loss: loss / n.max(1) as f64,
        accuracy: hits as f64 / n.max(1) as f64,
        examples: n,
    }
}

fn score<B: Backend>(
    model: &Model<B>,
    dataset: &datasets::ImageDataset,
    data: &RunData,
    batch_size: usize,
    device: &B::Device,
    labels: Option<&[u16]>,
) -> Score {
    aggregate(per_example(model, dataset, data, batch_size, device, labels).iter())
}

fn train_scores<B: Backend>(
    model: &Model<B>,
    data: &RunData,
    batch_size: usize,
    device: &B::Device,
) -> TrainScores {
    let noisy = per_example(model, &data.train, data, batch_size, device, None);
    let clean = aggregate(
        noisy
            .iter()
            .zip(&data.corrupted)
            .filter(|(_, c)| !**c)
            .map(|(s, _)| s),
    );
    if data.corrupted_count() == 0 {
        return TrainScores {
            all: aggregate(noisy.iter()),
            clean,
            corrupted_true: None,
            corrupted_noisy: None,
        };
    }
    let truth = per_example(
        model,
        &data.train,
        data,
        batch_size,
        device,
        Some(&data.original_labels),
    );
    let corrupted = |v: &Vec<(f64, bool)>| {
        aggregate(
            v.iter()
                .zip(&data.corrupted)
                .filter(|(_, c)| **c)
                .map(|(s, _)| s),
        )
    };
    TrainScores {
        all: aggregate(noisy.iter()),
        clean,
        corrupted_true: Some(corrupted(&truth)),
        corrupted_noisy: Some(corrupted(&noisy)),
    }
}

/// Hessian trace and Frobenius norm of the training loss on the first
/// `hessian_samples` training examples (no augmentation).
pub fn hessian_metrics<B: Backend>(
    model: &Model<Ad<B>>,
    data: &RunData,
    cfg: &TrainConfig,
    epoch: usize,
    device: &B::Device,
) -> Result<HessianMetrics, RunError> {
    let t0 = Instant::now();
    let batches = sized_eval_batches::<B>(
        &data.train,
        &data.normalization,
        cfg.eval_batch_size,
        cfg.hessian_samples,
        device,
    );
    let samples = batches.iter().map(|(_, n)| n).sum();
    let loss = |m: &HvpModule<Model<Ad<B>>, Ad<B>>, (x, y): &(Tensor<B, 4>, Tensor<B, 1, Int>)| {
        let logits = m.forward(lift::<Ad<B>, 4>(x.clone()));
        CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(logits, lift_int::<Ad<B>, 1>(y.clone()))
    };
    let hessian = Hessian::from_batches(model, loss, batches)?;
    let probes = HutchinsonConfig::new()
        .with_max_probes(cfg.hessian_probes)
        .with_min_probes(cfg.hessian_probes.min(10))
        .with_seed(cfg.seed ^ (epoch as u64) << 20);
    let trace = hessian.trace(&probes)?;
    let frob = hessian.frobenius(&probes)?;
    Ok(HessianMetrics {
        trace: Estimate {
            value: trace.trace,
            std_error: trace.std_error,
        },
        frobenius: Estimate {
            value: frob.frobenius,
            std_error: frob.frobenius_std_error,
        },
        hvps: trace.hvps + frob.hvps,
        samples,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// Loads the model of a finished or interrupted run (for `eval` and
/// `hessian`): its configuration, data (from `data_dir` when given, else
/// where the run read it) and trained model.
pub fn load_run<B: Backend>(
    dir: &std::path::Path,
    data_dir: Option<&std::path::Path>,
    device: &B::Device,
) -> Result<(TrainConfig, RunData, Model<Ad<B>>), RunError> {
    let out = OutputDir::open_run(dir)?;
    let mut state = checkpoint::read_state(&out)?;
    if let Some(dir) = data_dir {
        state.config.data_dir = Some(dir.to_path_buf());
    }
    let data = RunData::load(&state.config)?;
    let (model, _) = build::<B>(&state.config, &data, device)?;
    let model = checkpoint::load_model(&out, &state.model_file, model, device)?;
    Ok((state.config, data, model))
}

/// Test score of a trained model (for `eval`).
pub fn evaluate<B: Backend>(
    model: &Model<Ad<B>>,
    data: &RunData,
    batch_size: usize,
    device: &B::Device,
) -> (Score, TrainScores) {
    let valid = model.valid();
    (
        score(&valid, &data.test, data, batch_size, device, None),
        train_scores(&valid, data, batch_size, device),
    )
}
