//! The training loop: epochs of sharpness-aware steps ([`epoch`]),
//! evaluation and Hessian metrics ([`evaluate`]), checkpoints and outputs.
//! Written once over the inner backend `B`: training runs on
//! `Autodiff<B>`, Hessian products on `Autodiff<Autodiff<B>>`.

mod epoch;
mod error;
mod evaluate;
mod parallel;

use std::path::PathBuf;
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::backend::Backend;
use tracing::info;

use crate::backend::{DevicesTask, check_devices, dispatch_devices};
use crate::checkpoint;
use crate::config::{ConfigError, TrainConfig};
use crate::data::RunData;
use crate::models::{Model, ModelConfig};
use crate::optimizer::{BaseOptimizer, method_config};
use crate::output::OutputDir;
use crate::plot;
use crate::progress::Progress;
use crate::records::{EpochRecord, RunState, Summary, to_json_lines};
use epoch::{Ad, EpochContext, Optim, refresh_ssam_mask, run_steps, truncate_step_log};
pub use error::RunError;
pub use evaluate::{evaluate, hessian_metrics};
use evaluate::{score, train_scores};
pub(crate) use parallel::on_replicas;
use sam_burn::parallel::Replica;

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
///
/// With several devices (`devices`), one replica per device trains on its
/// shard of every batch, and replica 0 evaluates and writes the outputs
/// (see [`sam_burn::parallel`] for what is made global).
pub fn run(cfg: TrainConfig, options: RunOptions) -> Result<Summary, RunError> {
    method_config(&cfg)?;
    let devices = cfg.device_list();
    // Every device is checked before any work starts.
    check_devices(cfg.backend, &devices)?;
    dispatch_devices(cfg.backend, &devices, TrainTask { cfg, options })?
}

struct TrainTask {
    cfg: TrainConfig,
    options: RunOptions,
}

impl DevicesTask for TrainTask {
    type Output = Result<Summary, RunError>;

    fn run<B: Backend>(self, devices: Vec<B::Device>) -> Self::Output {
        train::<B>(self.cfg, &self.options, devices)
    }
}

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

/// Runs `init` alone in the process: backends seed one global generator,
/// so replicas building their models on several threads at once would
/// draw each other's numbers (and the run would not be reproducible).
pub(crate) fn seeded<T>(init: impl FnOnce() -> T) -> T {
    static SEEDING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _alone = SEEDING.lock().unwrap_or_else(|e| e.into_inner());
    init()
}

/// Builds the model and optimizer of `cfg` (fresh, seeded).
fn build<B: Backend>(
    cfg: &TrainConfig,
    data: &RunData,
    device: &B::Device,
) -> Result<(Model<Ad<B>>, Optim<B>), RunError> {
    let model = seeded(|| {
        B::seed(device, cfg.seed);
        let model = model_config(cfg, data).init::<Ad<B>>(device)?;
        sam_burn::parallel::materialize(&model);
        Ok::<_, RunError>(model)
    })?;
    // A dataset the architecture cannot take (non-square images for a
    // model configured by one side, say) is an error here, not a panic
    // inside Burn at the first batch.
    let shape = data.train.shape();
    model.check_input([1, shape.channels, shape.height, shape.width])?;
    let method = method_config(cfg)?;
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
    devices: Vec<B::Device>,
) -> Result<Summary, RunError> {
    let started = Instant::now();
    if options.resume {
        let out = OutputDir::open(&options.out)?;
        let state = checkpoint::read_state(&out)?;
        let cfg = state.config.resumed_with(cfg)?;
        return train_on::<B>(&out, Some(state), cfg, options, devices, started);
    }
    let out = OutputDir::create(&options.out)?;
    let keep_log = cfg.log_steps;
    let result = train_on::<B>(&out, None, cfg, options, devices, started);
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

/// Writes the configuration, loads the data once and trains on one device
/// or on one replica per device.
fn train_on<B: Backend>(
    out: &OutputDir,
    state: Option<RunState>,
    cfg: TrainConfig,
    options: &RunOptions,
    devices: Vec<B::Device>,
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
    let run = Run {
        out,
        state: state.as_ref(),
        cfg: &cfg,
        data: &data,
        options,
        started,
    };
    match devices.as_slice() {
        [device] => Ok(train_in::<B>(&run, device, None)?.expect("one device is the main replica")),
        _ => parallel::train_replicas::<B>(&run, devices),
    }
}

/// What every replica of a run shares.
struct Run<'a> {
    out: &'a OutputDir,
    state: Option<&'a RunState>,
    cfg: &'a TrainConfig,
    data: &'a RunData,
    options: &'a RunOptions,
    started: Instant,
}

/// Trains on `device`, alone or as `replica`; the main replica (or the only
/// device) evaluates, checkpoints and returns the summary, the others
/// `None`.
fn train_in<B: Backend>(
    run: &Run<'_>,
    device: &B::Device,
    replica: Option<&Replica<Ad<B>>>,
) -> Result<Option<Summary>, RunError> {
    let Run {
        out,
        state,
        cfg,
        data,
        options,
        started,
    } = *run;
    let main = replica.is_none_or(Replica::is_main);
    let (mut model, mut optim) = build::<B>(cfg, data, device)?;
    let mut history = Vec::new();
    let mut wall_before = 0.0;
    if let Some(state) = state {
        model = checkpoint::load_model(out, &state.model_file, model, device)?;
        optim = optim.load_record(checkpoint::decode(out, &state.optimizer_file, device)?);
        history = state.history.clone();
        wall_before = state.wall_seconds;
        if main {
            // Steps of an epoch that did not reach its checkpoint are run
            // again; their old lines go.
            truncate_step_log(out, state.epochs_done)?;
            info!(epochs_done = state.epochs_done, "resumed");
        }
    }
    if let Some(r) = replica {
        // Identical starting points whatever each device's generator did.
        model = r.broadcast_module(model)?;
    }
    let start_epoch = history.len();
    let parameters = model.num_trainable_params();
    let devices = replica.map_or(1, Replica::size);
    let steps = data.steps_per_epoch_on(cfg.batch_size, cfg.steps_per_epoch, devices);
    let progress = Progress::new(options.progress && main, cfg.epochs, steps);
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    // CubeCL compiles and autotunes kernels during the first steps: say so,
    // or a run looks stuck for a minute.
    let mut tuning = cfg.backend.tunes_kernels() && main;
    let ctx = EpochContext {
        cfg,
        data,
        out,
        progress: &progress,
        loss_fn: &loss_fn,
        device,
        replica,
    };

    for epoch in start_epoch..cfg.epochs {
        let lr = cfg.schedule.lr(cfg.base.lr, epoch, cfg.epochs);
        refresh_ssam_mask(&ctx, &model, &mut optim, epoch)?;
        let steps_done = run_steps(&ctx, model, &mut optim, epoch, lr, &mut tuning)?;
        model = steps_done.model;
        let (stats, train_seconds) = (steps_done.stats, steps_done.seconds);
        let seen = stats.seen;
        let images_per_second = seen as f64 / train_seconds.max(1e-9);
        // Each replica counted the hits of its own shards.
        let hits = match replica {
            Some(r) => r.sum_values(&[stats.hits()])?[0],
            None => stats.hits(),
        };
        if !main {
            continue;
        }

        let valid = model.valid();
        let test = score(&valid, &data.test, data, cfg.eval_batch_size, device, None);
        let train_eval = cfg
            .eval_train
            .then(|| train_scores(&valid, data, cfg.eval_batch_size, device));
        let hessian = if cfg.hessian_every > 0 && (epoch + 1) % cfg.hessian_every == 0 {
            Some(hessian_metrics::<B>(&model, data, cfg, epoch, device)?)
        } else {
            None
        };
        let record = EpochRecord {
            epoch: epoch + 1,
            lr,
            train_loss: stats.loss_sum / seen.max(1) as f64,
            train_accuracy: hits / seen.max(1) as f64,
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
            images_per_second,
            devices,
            images_per_second_per_device: images_per_second / devices as f64,
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
            cfg,
            wall_before + started.elapsed().as_secs_f64(),
        )?;
        out.write("epochs.jsonl", to_json_lines(&history).as_bytes())?;
        if let Err(e) = plot::curves(out, &history) {
            tracing::warn!("could not draw the curves: {e}");
        }
    }

    if !main {
        return Ok(None);
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
    Ok(Some(summary))
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
