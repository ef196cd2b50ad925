//! The loop over epochs: per epoch the SSAM mask, the steps
//! ([`steps`](super::steps)), evaluation and Hessian metrics, the epoch's
//! record and a checkpoint; at the end the run's summary.

use std::time::Instant;

use burn::module::AutodiffModule;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::backend::Backend;
use sam_burn::parallel::Replica;
use tracing::info;

use super::evaluate::{hessian_metrics, score, train_scores};
use super::steps::{Ad, EpochContext, EpochStats, Optim, refresh_ssam_mask, run_steps};
use super::{RunError, RunOptions, build, truncate_step_log};
use crate::checkpoint;
use crate::config::RunConfig;
use crate::data::RunData;
use crate::models::Model;
use crate::output::OutputDir;
use crate::plot;
use crate::progress::Progress;
use crate::records::{EpochRecord, RunState, Summary, to_json_lines};

/// What every replica of a run shares.
pub(super) struct Run<'a> {
    pub out: &'a OutputDir,
    pub state: Option<&'a RunState>,
    pub cfg: &'a RunConfig,
    pub data: &'a RunData,
    pub options: &'a RunOptions,
    pub started: Instant,
}

/// Where a run stands between epochs.
struct Progressed<B: Backend> {
    model: Model<Ad<B>>,
    optim: Optim<B>,
    history: Vec<EpochRecord>,
    /// Wall-clock seconds of the earlier processes of a resumed run.
    wall_before: f64,
}

/// Trains on `device`, alone or as `replica`; the main replica (or the only
/// device) evaluates, checkpoints and returns the summary, the others
/// `None`.
pub(super) fn train_in<B: Backend>(
    run: &Run<'_>,
    device: &B::Device,
    replica: Option<&Replica<Ad<B>>>,
) -> Result<Option<Summary>, RunError> {
    let (cfg, data) = (run.cfg, run.data);
    let main = replica.is_none_or(Replica::is_main);
    let mut at = start::<B>(run, device, main)?;
    if let Some(r) = replica {
        // Identical starting points whatever each device's generator did.
        at.model = r.broadcast_module(at.model)?;
    }
    let parameters = at.model.num_trainable_params();
    let devices = replica.map_or(1, Replica::size);
    let steps = data.steps_per_epoch_on(cfg.batch_size, cfg.steps_per_epoch, devices);
    let progress = Progress::new(run.options.progress && main, cfg.epochs, steps);
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    // CubeCL compiles and autotunes kernels during the first steps: say so,
    // or a run looks stuck for a minute.
    let mut tuning = cfg.backend.tunes_kernels() && main;
    let ctx = EpochContext {
        cfg,
        data,
        out: run.out,
        progress: &progress,
        loss_fn: &loss_fn,
        device,
        replica,
    };
    for epoch in at.history.len()..cfg.epochs {
        let lr = cfg.schedule.lr(cfg.base.lr, epoch, cfg.epochs);
        refresh_ssam_mask(&ctx, &at.model, &mut at.optim, epoch)?;
        let stepped = run_steps(&ctx, at.model, &mut at.optim, epoch, lr, &mut tuning)?;
        at.model = stepped.model;
        // Each replica counted the hits of its own shards.
        let hits = match replica {
            Some(r) => r.sum_values(&[stepped.stats.hits()])?[0],
            None => stepped.stats.hits(),
        };
        if !main {
            continue;
        }
        let measured = Measured {
            epoch,
            lr,
            steps,
            devices,
            hits,
            seconds: stepped.seconds,
            stats: &stepped.stats,
        };
        let record = evaluate_epoch::<B>(run, &at, measured, device)?;
        progress.epoch_done(&record);
        info!(
            epoch = record.epoch,
            train_loss = record.train_loss,
            test_accuracy = record.test.accuracy,
            "epoch done"
        );
        at.history.push(record);
        save_epoch::<B>(run, &at)?;
    }
    if !main {
        return Ok(None);
    }
    let summary = summary(cfg, &at.history, parameters);
    let json = serde_json::to_string_pretty(&summary).expect("a summary serialises");
    run.out.write("summary.json", json.as_bytes())?;
    Ok(Some(summary))
}

/// The fresh model and optimizer, or those of the checkpoint a resume
/// continues from.
fn start<B: Backend>(
    run: &Run<'_>,
    device: &B::Device,
    main: bool,
) -> Result<Progressed<B>, RunError> {
    let (model, optim) = build::<B>(run.cfg, run.data, device)?;
    let Some(state) = run.state else {
        return Ok(Progressed {
            model,
            optim,
            history: Vec::new(),
            wall_before: 0.0,
        });
    };
    let model = checkpoint::load_model(run.out, state, model, device)?;
    let optim = optim.load_record(checkpoint::decode(
        run.out,
        state,
        &state.optimizer_file,
        device,
    )?);
    if main {
        // Steps of an epoch that did not reach its checkpoint are run
        // again; their old lines go.
        truncate_step_log(run.out, state.epochs_done)?;
        info!(epochs_done = state.epochs_done, "resumed");
    }
    Ok(Progressed {
        model,
        optim,
        history: state.history.clone(),
        wall_before: state.wall_seconds,
    })
}

/// What an epoch's steps measured.
struct Measured<'a, B: Backend> {
    epoch: usize,
    lr: f64,
    steps: usize,
    devices: usize,
    hits: f64,
    seconds: f64,
    stats: &'a EpochStats<B>,
}

/// The epoch's record: the steps' figures, the test (and training) scores
/// and, on the epochs that take them, the Hessian metrics.
fn evaluate_epoch<B: Backend>(
    run: &Run<'_>,
    at: &Progressed<B>,
    m: Measured<'_, B>,
    device: &B::Device,
) -> Result<EpochRecord, RunError> {
    let (cfg, data) = (run.cfg, run.data);
    let valid = at.model.valid();
    let test = score(&valid, &data.test, data, cfg.eval_batch_size, device, None);
    let train_eval = cfg
        .eval_train
        .then(|| train_scores(&valid, data, cfg.eval_batch_size, device));
    let hessian = if cfg.hessian_every > 0 && (m.epoch + 1).is_multiple_of(cfg.hessian_every) {
        Some(hessian_metrics::<B>(&at.model, data, cfg, m.epoch, device)?)
    } else {
        None
    };
    let stats = m.stats;
    let seen = stats.seen.max(1) as f64;
    let images_per_second = stats.seen as f64 / m.seconds.max(1e-9);
    Ok(EpochRecord {
        epoch: m.epoch + 1,
        lr: m.lr,
        train_loss: stats.loss_sum / seen,
        train_accuracy: m.hits / seen,
        sharpness: (stats.sharp_n > 0).then(|| stats.sharp_sum / stats.sharp_n as f64),
        sharpness_ratio: stats.ratio(),
        guard_bounded: stats.bounded,
        guard_skipped: stats.skipped,
        test,
        train_eval,
        hessian,
        steps: m.steps,
        passes: stats.passes,
        train_seconds: m.seconds,
        images_per_second,
        devices: m.devices,
        images_per_second_per_device: images_per_second / m.devices as f64,
        wall_seconds: at.wall_before + run.started.elapsed().as_secs_f64(),
    })
}

/// The checkpoint, the epoch log and the curves after an epoch.
fn save_epoch<B: Backend>(run: &Run<'_>, at: &Progressed<B>) -> Result<(), RunError> {
    let wall = at.wall_before + run.started.elapsed().as_secs_f64();
    checkpoint::write(
        run.out,
        &at.model,
        at.optim.to_record(),
        &at.history,
        run.cfg,
        wall,
    )?;
    run.out
        .write("epochs.jsonl", to_json_lines(&at.history).as_bytes())?;
    if let Err(e) = plot::curves(run.out, &at.history) {
        tracing::warn!("could not draw the curves: {e}");
    }
    Ok(())
}

/// The run's summary, from its epochs.
fn summary(cfg: &RunConfig, history: &[EpochRecord], parameters: usize) -> Summary {
    let last = history.last().cloned().expect("at least one epoch ran");
    let schedule = cfg.optimizer.schedule();
    Summary {
        dataset: cfg.dataset.clone(),
        model: cfg.model.to_string(),
        method: cfg.optimizer.name(),
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
        every: schedule.every,
        between: schedule.between,
    }
}
