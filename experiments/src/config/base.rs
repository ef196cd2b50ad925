//! The base optimizer taking each step: SGD, Adam or AdamW and their
//! hyperparameters (`[base]`). `optimizer::BaseOptimizer` builds it.

use serde::{Deserialize, Serialize};

/// The base optimizer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BaseSettings {
    /// sgd, adam or adamw.
    pub kind: BaseKind,
    /// Initial learning rate.
    pub lr: f64,
    /// SGD momentum (0 disables it).
    pub momentum: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// Weight decay (L2 for SGD and Adam, decoupled for AdamW).
    pub weight_decay: f64,
    /// Adam's beta1.
    pub beta1: f32,
    /// Adam's beta2.
    pub beta2: f32,
    /// Adam's epsilon.
    pub epsilon: f32,
}

/// Which base optimizer.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum BaseKind {
    /// SGD with optional momentum.
    #[default]
    Sgd,
    /// Adam.
    Adam,
    /// AdamW.
    Adamw,
}

impl core::str::FromStr for BaseKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "sgd" => Ok(BaseKind::Sgd),
            "adam" => Ok(BaseKind::Adam),
            "adamw" => Ok(BaseKind::Adamw),
            other => Err(format!(
                "unknown base optimizer `{other}` (expected sgd, adam or adamw)"
            )),
        }
    }
}

impl Default for BaseSettings {
    fn default() -> Self {
        Self {
            kind: BaseKind::Sgd,
            lr: 0.05,
            momentum: 0.9,
            nesterov: false,
            weight_decay: 5e-4,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
        }
    }
}
