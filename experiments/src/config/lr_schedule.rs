//! The learning rate as a function of the epoch (`[schedule]`):
//! constant, multistep or cosine. Not to be confused with the perturbation
//! schedule of a sharpness-aware method (`optimizer.schedule`,
//! `sam_core::schedule::Schedule`: on which steps the perturbed passes
//! run).

use serde::{Deserialize, Serialize};

/// Which kind of learning-rate [`LrSchedule`], as the command line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleKind {
    /// [`LrSchedule::Constant`].
    Constant,
    /// [`LrSchedule::Multistep`].
    Multistep,
    /// [`LrSchedule::Cosine`].
    Cosine,
}

impl core::str::FromStr for ScheduleKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "constant" => Ok(ScheduleKind::Constant),
            "multistep" => Ok(ScheduleKind::Multistep),
            "cosine" => Ok(ScheduleKind::Cosine),
            other => Err(format!(
                "unknown schedule `{other}` (expected constant, multistep or cosine)"
            )),
        }
    }
}

/// Learning rate as a function of the epoch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
#[derive(Default)]
pub enum LrSchedule {
    /// The initial rate throughout.
    #[default]
    Constant,
    /// Multiply by `gamma` at each milestone epoch.
    Multistep {
        /// Epochs (0-based) at which the rate drops.
        milestones: Vec<usize>,
        /// The factor.
        gamma: f64,
    },
    /// Cosine annealing from the initial rate to `min_lr` over the run.
    Cosine {
        /// The final rate.
        min_lr: f64,
    },
}

impl LrSchedule {
    /// A schedule of `kind` for a run of `epochs`: multistep multiplies by
    /// `gamma` at `milestones`, or, when none are given, at a quarter, half
    /// and three quarters of the run (the paper's 50, 100 and 150 of 200
    /// epochs); cosine anneals to 0.
    pub fn of_kind(kind: ScheduleKind, milestones: &[usize], gamma: f64, epochs: usize) -> Self {
        match kind {
            ScheduleKind::Constant => LrSchedule::Constant,
            ScheduleKind::Multistep => LrSchedule::Multistep {
                milestones: if milestones.is_empty() {
                    vec![epochs / 4, epochs / 2, 3 * epochs / 4]
                } else {
                    milestones.to_vec()
                },
                gamma,
            },
            ScheduleKind::Cosine => LrSchedule::Cosine { min_lr: 0.0 },
        }
    }

    /// Its kind, as the command line names it.
    pub fn kind_name(&self) -> &'static str {
        match self {
            LrSchedule::Constant => "constant",
            LrSchedule::Multistep { .. } => "multistep",
            LrSchedule::Cosine { .. } => "cosine",
        }
    }

    /// The rate of `epoch` (0-based) in a run of `epochs`.
    pub fn lr(&self, base: f64, epoch: usize, epochs: usize) -> f64 {
        match self {
            LrSchedule::Constant => base,
            LrSchedule::Multistep { milestones, gamma } => {
                let drops = milestones.iter().filter(|&&m| epoch >= m).count();
                base * gamma.powi(drops as i32)
            }
            LrSchedule::Cosine { min_lr } => {
                let t = if epochs <= 1 {
                    0.0
                } else {
                    epoch as f64 / (epochs - 1) as f64
                };
                min_lr + 0.5 * (base - min_lr) * (1.0 + (std::f64::consts::PI * t).cos())
            }
        }
    }
}
