//! A training run: [`run`] starts it (fresh or resumed) from a validated
//! [`RunConfig`] and builds the model and optimizer; [`epoch`] loops over
//! the epochs, [`steps`] takes an epoch's sharpness-aware steps,
//! [`evaluate`] scores the model and measures its Hessian, [`parallel`]
//! runs one replica per device. Written once over the inner backend `B`:
//! training runs on `Autodiff<B>`, Hessian products on
//! `Autodiff<Autodiff<B>>`.

mod epoch;
mod error;
mod evaluate;
mod parallel;
mod steps;

use std::path::PathBuf;
use std::time::Instant;

use burn::tensor::backend::Backend;
use tracing::info;

use crate::backend::{DevicesTask, check_devices, dispatch_devices};
use crate::checkpoint;
use crate::config::{ConfigError, RunConfig, TrainConfig};
use crate::data::RunData;
use crate::models::{Model, ModelConfig};
use crate::optimizer::BaseOptimizer;
use crate::output::OutputDir;
use crate::records::{RunState, Summary};
use epoch::{Run, train_in};
pub use error::RunError;
pub use evaluate::{evaluate, hessian_metrics};
pub(crate) use parallel::on_replicas;
use steps::{Ad, Optim, truncate_step_log};

/// How to run.
#[derive(Debug)]
pub struct RunOptions {
    /// Output directory.
    pub out: PathBuf,
    /// Continue the run in `out` from its last checkpoint.
    pub resume: bool,
    /// With `resume`: continue from the checkpoint of this epoch instead
    /// (the previous one, which a run keeps).
    pub from_epoch: Option<usize>,
    /// Show progress bars.
    pub progress: bool,
    /// The lock of `out`, when the caller holds it already (a sweep
    /// worker's claim); otherwise the run takes it.
    pub lock: Option<crate::lock::RunLock>,
}

/// Trains as configured; returns the summary (also in `summary.json`).
///
/// With several devices (`devices`), one replica per device trains on its
/// shard of every batch, and replica 0 evaluates and writes the outputs
/// (see [`sam_burn::parallel`] for what is made global).
pub fn run(cfg: RunConfig, options: RunOptions) -> Result<Summary, RunError> {
    let devices = cfg.device_list();
    // Every device is checked before any work starts.
    check_devices(cfg.backend, &devices)?;
    dispatch_devices(cfg.backend, &devices, TrainTask { cfg, options })?
}

struct TrainTask {
    cfg: RunConfig,
    options: RunOptions,
}

impl DevicesTask for TrainTask {
    type Output = Result<Summary, RunError>;

    fn run<B: Backend>(self, devices: Vec<B::Device>) -> Self::Output {
        train::<B>(self.cfg, self.options, devices)
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
    cfg: &RunConfig,
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
    let method = cfg.method();
    let optim = method
        .init(BaseOptimizer::new(&cfg.base))
        .map_err(|e| ConfigError::from_method(&method, e))?;
    Ok((model, optim))
}

fn train<B: Backend>(
    cfg: RunConfig,
    mut options: RunOptions,
    devices: Vec<B::Device>,
) -> Result<Summary, RunError> {
    let started = Instant::now();
    let mut held = options.lock.take();
    let mut claim = || match held.take() {
        Some(lock) => crate::output::Claim::Held(lock),
        None => crate::output::Claim::Take("train"),
    };
    let before_checkpoint = OutputDir::stopped_before_first_checkpoint(&options.out);
    if options.resume && !before_checkpoint {
        let out = OutputDir::open(&options.out, claim())?;
        let mut state = checkpoint::read_state(&out)?;
        if let Some(epoch) = options.from_epoch {
            state = state.rolled_back_to(epoch)?;
        }
        let cfg = cfg.resuming(&state.config)?;
        return train_on::<B>(&out, Some(state), cfg, &options, devices, started);
    }
    if options.resume {
        tracing::warn!(
            "{}: the run stopped before its first checkpoint: starting it from scratch",
            options.out.display()
        );
    }
    let out = OutputDir::create(&options.out, claim())?;
    let keep_log = cfg.log_steps;
    let result = train_on::<B>(&out, None, cfg, &options, devices, started);
    // A run that failed before its first checkpoint leaves nothing behind,
    // so the same command can be run again; unless it logged its steps,
    // which are what the user needs to see why it failed.
    if result.is_err() && !out.has_checkpoint() && !keep_log {
        out.abandon();
    }
    result
}

/// The epochs of the run in `dir` when it has finished (its summary is
/// written), for telling a `--resume` with nothing to do.
pub fn finished_epochs(dir: &std::path::Path) -> Option<usize> {
    if !dir.join("summary.json").is_file() {
        return None;
    }
    let out = OutputDir::open_run(dir).ok()?;
    checkpoint::read_state(&out).ok().map(|s| s.epochs_done)
}

/// The configuration a `--resume` of the run in `dir` starts from (its
/// stored one, or the `config.toml` of a run that stopped before its
/// first checkpoint), for building the requested configuration over it.
pub fn stored_config(dir: &std::path::Path) -> Result<TrainConfig, RunError> {
    if OutputDir::stopped_before_first_checkpoint(dir) {
        return Ok(TrainConfig::from_file(&dir.join("config.toml"))?);
    }
    let out = OutputDir::open_run(dir).map_err(|e| match e {
        crate::output::OutputError::NoRun(d) => crate::output::OutputError::NothingToResume(d),
        other => other,
    })?;
    Ok(checkpoint::read_state(&out)?.config)
}

/// Writes the configuration, loads the data once and trains on one device
/// or on one replica per device.
fn train_on<B: Backend>(
    out: &OutputDir,
    state: Option<RunState>,
    cfg: RunConfig,
    options: &RunOptions,
    devices: Vec<B::Device>,
    started: Instant,
) -> Result<Summary, RunError> {
    out.write("config.toml", cfg.to_toml().as_bytes())?;

    let data = RunData::load(&cfg)?;
    if cfg.batch_size > data.train.len() {
        tracing::warn!(
            "batch size {} is larger than the training set ({} examples): each epoch is one step on the whole set",
            cfg.batch_size,
            data.train.len()
        );
    }
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
        // A folder dataset is named by its path: the new one replaces it.
        if state.config.dataset.starts_with("folder:") {
            state.config.dataset = format!("folder:{}", dir.display());
        } else {
            state.config.data_dir = Some(dir.to_path_buf());
        }
    }
    let cfg = state.config.clone().validate()?;
    let data = RunData::load(&cfg)?;
    if cfg.batch_size > data.train.len() {
        tracing::warn!(
            "batch size {} is larger than the training set ({} examples): each epoch is one step on the whole set",
            cfg.batch_size,
            data.train.len()
        );
    }
    let (model, _) = build::<B>(&cfg, &data, device)?;
    let model = checkpoint::load_model(&out, &state, model, device)?;
    Ok((cfg.into_inner(), data, model))
}
