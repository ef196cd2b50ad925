//! What a run writes: one [`EpochRecord`] per line of `epochs.jsonl`, a
//! [`Summary`] in `summary.json`, and the checkpoint [`RunState`].

use sam_burn::optim::Between;
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::provenance::Provenance;

/// Loss and accuracy on a set of examples.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
pub struct Score {
    /// Mean cross-entropy.
    pub loss: f64,
    /// Fraction classified correctly.
    pub accuracy: f64,
    /// Number of examples.
    pub examples: usize,
}

/// The training set scored after an epoch (no augmentation), split by
/// label corruption.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
pub struct TrainScores {
    /// Every training example against its (possibly noisy) label.
    pub all: Score,
    /// Examples whose label was not corrupted.
    pub clean: Score,
    /// Corrupted examples against their TRUE labels (generalisation
    /// despite the noise); `None` without label noise.
    pub corrupted_true: Option<Score>,
    /// Corrupted examples against their NOISY labels (memorisation).
    pub corrupted_noisy: Option<Score>,
}

/// An estimate with its standard error (the Hessian estimators' own type,
/// written as `{"value": .., "std_error": ..}`).
pub use sam_burn::hessian::Estimate;

/// Hessian metrics of the training loss.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct HessianMetrics {
    /// `tr H` (Hutchinson, Rademacher probes).
    pub trace: Estimate,
    /// `||H||_F` (Gaussian probes).
    pub frobenius: Estimate,
    /// Hessian-vector products used (both estimates).
    pub hvps: usize,
    /// Training examples the loss averages over.
    pub samples: usize,
    /// Seconds spent.
    pub seconds: f64,
}

/// Mean, maximum and count of a per-step quantity over an epoch.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct RatioStats {
    /// Mean over the steps.
    pub mean: f64,
    /// Largest value.
    pub max: f64,
    /// Steps measured.
    pub count: usize,
}

/// One line of `steps.jsonl` (with `log_steps = true`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepRecord {
    /// Epoch, 1-based.
    pub epoch: usize,
    /// Step within the epoch, 0-based.
    pub step: usize,
    /// Clean-pass loss `L0`.
    pub loss: f64,
    /// `L_i - L0` for each perturbed pass (may hold a non-finite value,
    /// written as null, on a skipped step).
    pub loss_differences: Vec<Option<f64>>,
    /// The sharpness estimate.
    pub sharpness: Option<f64>,
    /// `||g0||` (universal methods).
    pub gradient_norm: Option<f64>,
    /// `||g - g0||` before the guard (universal methods).
    pub sharpness_norm: Option<f64>,
    /// "keep", "scale" or "skip".
    pub guard: Option<String>,
    /// The factor the sharpness part was scaled by, when it was.
    pub guard_factor: Option<f64>,
}

/// One line of `epochs.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EpochRecord {
    /// Epoch, 1-based.
    pub epoch: usize,
    /// Learning rate used.
    pub lr: f64,
    /// Mean clean-pass loss over the epoch's steps (augmented, noisy labels).
    pub train_loss: f64,
    /// Accuracy of the clean passes over the epoch.
    pub train_accuracy: f64,
    /// Mean sharpness estimate over the epoch (universal methods).
    pub sharpness: Option<f64>,
    /// `||g - g0|| / ||g0||`, the sharpness part of the step against the
    /// clean gradient, over the epoch's steps (universal methods): a ratio
    /// climbing far above 1 warns of a divergence before any NaN.
    #[serde(default)]
    pub sharpness_ratio: Option<RatioStats>,
    /// Steps whose sharpness part the stability guard scaled down.
    #[serde(default)]
    pub guard_bounded: usize,
    /// Steps whose sharpness part was dropped on a non-finite perturbed
    /// loss (`optimizer.on_non_finite = "skip"`).
    #[serde(default)]
    pub guard_skipped: usize,
    /// Test set.
    pub test: Score,
    /// Training set after the epoch, when evaluated.
    pub train_eval: Option<TrainScores>,
    /// Hessian metrics, on the epochs they were measured.
    pub hessian: Option<HessianMetrics>,
    /// Optimizer steps taken in the epoch.
    pub steps: usize,
    /// Forward-backward passes in the epoch.
    pub passes: usize,
    /// Seconds for the epoch's training steps.
    pub train_seconds: f64,
    /// Training images per second (clean-pass images).
    pub images_per_second: f64,
    /// Devices the epoch trained on (data-parallel replicas; 1 for runs
    /// written before data-parallel training existed).
    #[serde(default = "one")]
    pub devices: usize,
    /// Training throughput per device: `images_per_second / devices`.
    #[serde(default)]
    pub images_per_second_per_device: f64,
    /// Seconds since the run started (including resumed segments).
    pub wall_seconds: f64,
}

/// `summary.json`: the run's result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    /// Dataset.
    pub dataset: String,
    /// Model.
    pub model: String,
    /// Method.
    pub method: String,
    /// Label-noise fraction.
    pub label_noise: f64,
    /// Data fraction.
    pub data_fraction: f64,
    /// Seed.
    pub seed: u64,
    /// Backend.
    pub backend: String,
    /// Epochs trained.
    pub epochs: usize,
    /// Final test score.
    pub final_test: Score,
    /// Best test accuracy over the epochs.
    pub best_test_accuracy: f64,
    /// Final training-set scores, when evaluated.
    pub final_train: Option<TrainScores>,
    /// Last Hessian metrics measured.
    pub final_hessian: Option<HessianMetrics>,
    /// Total seconds.
    pub wall_seconds: f64,
    /// Seconds of training steps over all epochs (evaluation, Hessian
    /// measurements and checkpoints excluded).
    /// `None` in summaries written before it was recorded.
    #[serde(default)]
    pub train_seconds: Option<f64>,
    /// Parameters of the model.
    pub parameters: usize,
    /// The commit and machine of the run.
    #[serde(default)]
    pub provenance: Option<Provenance>,
    /// The base optimizer's initial learning rate.
    #[serde(default)]
    pub lr: Option<f64>,
    /// The perturbation schedule's `every` (1: every step).
    #[serde(default = "one_step")]
    pub every: u64,
    /// What the steps between perturbed ones did.
    #[serde(default)]
    pub between: Between,
}

/// Serde default of `every` in files written before schedules existed.
pub(crate) fn one_step() -> u64 {
    sam_burn::optim::Schedule::EVERY_STEP.every
}

/// The checkpointed state beside the model and optimizer records.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunState {
    /// Epochs completed.
    pub epochs_done: usize,
    /// Every completed epoch's record.
    pub history: Vec<EpochRecord>,
    /// The configuration the run started with.
    pub config: TrainConfig,
    /// Seconds spent before this segment.
    pub wall_seconds: f64,
    /// File names of the model and optimizer records of `epochs_done`.
    pub model_file: String,
    /// See `model_file`.
    pub optimizer_file: String,
    /// SHA-256 (hex) of every checkpoint file named here, recorded when it
    /// was written and checked when it is read (empty in states written
    /// before usam recorded them).
    #[serde(default)]
    pub checksums: std::collections::BTreeMap<String, String>,
    /// The checkpoint before this one, kept until the next is written: what
    /// a run resumes from (`--from-epoch`) when the latest is damaged.
    #[serde(default)]
    pub previous: Option<Checkpoint>,
}

/// One epoch's checkpoint files.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Checkpoint {
    /// Epochs done when it was written.
    pub epoch: usize,
    /// The model record.
    pub model_file: String,
    /// The optimizer record.
    pub optimizer_file: String,
}

/// Renders records as JSON lines.
pub fn to_json_lines(history: &[EpochRecord]) -> String {
    let mut out = String::new();
    for r in history {
        out.push_str(&serde_json::to_string(r).expect("records serialise"));
        out.push('\n');
    }
    out
}

fn one() -> usize {
    1
}
