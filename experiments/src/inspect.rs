//! `usam eval` and `usam hessian`: look at a trained run's checkpoint.

use std::path::{Path, PathBuf};

use burn::backend::Autodiff;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};
use sam_burn::hessian::{
    Hessian, HutchinsonConfig, HvpModule, LanczosConfig, SlqConfig, lift, lift_int,
};
use serde::{Deserialize, Serialize};

use crate::backend::{BackendKind, BackendTask, dispatch};
use crate::data::sized_eval_batches;
use crate::models::Model;
use crate::output::OutputDir;
use crate::records::{Estimate, RunState, Score, TrainScores};
use crate::train::{RunError, evaluate, load_run};

/// `usam eval`'s result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Evaluation {
    /// Epochs the checkpoint had trained.
    pub epochs_done: usize,
    /// Test set.
    pub test: Score,
    /// Training set (clean and corrupted subsets under label noise).
    pub train: TrainScores,
}

fn backend_of(
    dir: &Path,
    requested: Option<BackendKind>,
) -> Result<(BackendKind, usize, RunState), RunError> {
    let out = OutputDir::open_run(dir)?;
    let state = crate::checkpoint::read_state(&out).map_err(RunError::from)?;
    Ok((
        requested.unwrap_or(state.config.backend),
        state.config.device,
        state,
    ))
}

struct EvalTask(std::path::PathBuf, usize, Option<PathBuf>);

impl BackendTask for EvalTask {
    type Output = Result<Evaluation, RunError>;
    fn run<B: Backend>(self, device: B::Device) -> Self::Output {
        let (cfg, data, model) = load_run::<B>(&self.0, self.2.as_deref(), &device)?;
        let (test, train) = evaluate(&model, &data, cfg.eval_batch_size, &device);
        Ok(Evaluation {
            epochs_done: self.1,
            test,
            train,
        })
    }
}

/// Evaluates the last checkpoint of the run in `dir`, on `backend` (default:
/// the run's), reading the dataset from `data_dir` (default: the run's).
pub fn evaluate_run(
    dir: &Path,
    backend: Option<BackendKind>,
    data_dir: Option<PathBuf>,
) -> Result<Evaluation, RunError> {
    let (kind, device, state) = backend_of(dir, backend)?;
    dispatch(
        kind,
        device,
        EvalTask(dir.to_path_buf(), state.epochs_done, data_dir),
    )?
}

/// What `usam hessian` measures.
#[derive(Debug, Clone)]
pub struct HessianOptions {
    /// Training examples.
    pub samples: usize,
    /// Probes for trace and Frobenius norm.
    pub probes: usize,
    /// Top eigenvalues (0 = skip).
    pub top_k: usize,
    /// Estimate log|det H|.
    pub log_det: bool,
}

/// `usam hessian`'s result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HessianReport {
    /// Epochs the checkpoint had trained.
    pub epochs_done: usize,
    /// Training examples the loss averages over.
    pub samples: usize,
    /// `tr H`.
    pub trace: Estimate,
    /// `||H||_F`.
    pub frobenius: Estimate,
    /// Largest eigenvalues (Lanczos), descending.
    pub top_eigenvalues: Vec<f64>,
    /// `log|det H|` by SLQ, when asked, with the eigenvalue floor used.
    pub log_abs_det: Option<Estimate>,
    /// Ritz values floored in the log-determinant (near-zero eigenvalues).
    pub floored_ritz_values: Option<usize>,
    /// Hessian-vector products used in all.
    pub hvps: usize,
}

struct HessianTask(std::path::PathBuf, HessianOptions, usize, Option<PathBuf>);

impl BackendTask for HessianTask {
    type Output = Result<HessianReport, RunError>;
    fn run<B: Backend>(self, device: B::Device) -> Self::Output {
        type Ad<B> = Autodiff<B>;
        let (cfg, data, model) = load_run::<B>(&self.0, self.3.as_deref(), &device)?;
        let o = self.1;
        let batches = sized_eval_batches::<B>(
            &data.train,
            &data.normalization,
            cfg.eval_batch_size,
            o.samples,
            &device,
        );
        let samples = batches.iter().map(|(_, n)| n).sum();
        let loss = |m: &HvpModule<Model<Ad<B>>, Ad<B>>,
                    (x, y): &(Tensor<B, 4>, Tensor<B, 1, Int>)| {
            let logits = m.forward(lift::<Ad<B>, 4>(x.clone()));
            CrossEntropyLossConfig::new()
                .init(&logits.device())
                .forward(logits, lift_int::<Ad<B>, 1>(y.clone()))
        };
        let h = Hessian::from_batches(&model, loss, batches)?;
        let dim = h.layout().dim();
        if o.top_k > dim {
            return Err(crate::config::ConfigError::invalid(
                "--top-k",
                o.top_k,
                format!("the model has {dim} parameters, so at most {dim} eigenvalues"),
            )
            .into());
        }
        let probes = HutchinsonConfig::new()
            .with_max_probes(o.probes)
            .with_min_probes(o.probes.min(10))
            .with_seed(cfg.seed);
        let trace = h.trace(&probes)?;
        let frob = h.frobenius(&probes)?;
        let mut hvps = trace.hvps + frob.hvps;
        let top_eigenvalues = if o.top_k > 0 {
            let e = h.eigenvalues(o.top_k, &LanczosConfig::new().with_eigenvectors(false))?;
            hvps += e.hvps;
            e.eigenvalues
        } else {
            Vec::new()
        };
        let (log_abs_det, floored) = if o.log_det {
            let d = h.log_det(&SlqConfig::new().with_seed(cfg.seed))?;
            hvps += d.hvps;
            (Some(d.log_abs_det), Some(d.floored_ritz_values))
        } else {
            (None, None)
        };
        Ok(HessianReport {
            epochs_done: self.2,
            samples,
            trace: trace.trace,
            frobenius: frob.frobenius,
            top_eigenvalues,
            log_abs_det,
            floored_ritz_values: floored,
            hvps,
        })
    }
}

/// Measures the Hessian of the run in `dir` at its last checkpoint (data
/// from `data_dir`, default: the run's).
pub fn hessian_run(
    dir: &Path,
    backend: Option<BackendKind>,
    data_dir: Option<PathBuf>,
    options: &HessianOptions,
) -> Result<HessianReport, RunError> {
    let (kind, device, state) = backend_of(dir, backend)?;
    dispatch(
        kind,
        device,
        HessianTask(
            dir.to_path_buf(),
            options.clone(),
            state.epochs_done,
            data_dir,
        ),
    )?
}
