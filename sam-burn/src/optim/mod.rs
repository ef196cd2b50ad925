//! Sharpness-aware optimizers wrapping any Burn optimizer.
//!
//! One file per method: [`universal`] (Trace-, Frob-, Det-SAM, spectral
//! moments, user-defined measures), [`sam`], [`asam`], [`ssam`]. Each has a
//! `#[derive(Config)]` config whose defaults are the reference settings (the
//! universal class adds an optional stability [`guard`]), a
//! [`schedule`] (perturbed passes on one step in `every`, plain or
//! LookSAM-style steps between) and an `init(base)` that wraps any Burn
//! [`Optimizer`](burn::optim::Optimizer).
//! [`base`] holds what they share: the closure contract ([`Pass`] in,
//! [`PassOutput`] out), the [`SharpnessRule`] trait and the
//! [`SharpnessAware`] wrapper; [`learner`] plugs any of them into
//! burn-train's `Learner` ([`SharpnessModel`], [`LearnerOptimizer`]);
//! [`method`] picks one at run time; [`mod@accumulate`] takes a step's
//! batch as micro-batches.

pub mod accumulate;
pub mod asam;
pub mod base;
mod combine;
mod error;
pub mod guard;
#[cfg(feature = "learner")]
pub mod learner;
pub mod method;
mod noise;
mod pass;
pub mod sam;
pub mod schedule;
pub mod ssam;
pub mod universal;

pub use crate::error::ParallelError;
pub use crate::params::RunningStats;
pub use accumulate::{accumulate, accumulate_with};
pub use asam::{Asam, AsamConfig, AsamRule};
pub use base::{
    ExtraOf, GradientsOf, PassFn, PassOutput, SharpnessAware, SharpnessGradients, SharpnessRecord,
    SharpnessRule, StepFailure, StepReport,
};
pub use error::OptimError;
pub use guard::GuardReport;
#[cfg(feature = "learner")]
pub use learner::{LearnerOptimizer, SharedRule, SharpnessModel, SharpnessStep, StepFailures};
pub use method::{
    BaseConfig, MethodConfig, MethodOptimizer, MethodRecord, MethodRule, SchemaError,
};
pub use pass::Pass;
pub use sam::{Sam, SamConfig, SamRule};
pub use sam_core::guard::{Decision, Guard, NonFinite};
pub use sam_core::presets::Preset;
pub use sam_core::schedule::{Between, Schedule};
pub use schedule::{ScheduleRecord, Scheduled};
pub use ssam::{Ssam, SsamConfig, SsamRecord, SsamRule};
pub use universal::{UniversalRecord, UniversalRule, UniversalSam, UniversalSamConfig};
