//! Progress bars with ETA (indicatif), silent when not wanted.

use indicatif::{ProgressBar, ProgressStyle};

use crate::records::EpochRecord;

/// Progress of a run.
#[derive(Debug, Clone)]
pub struct Progress {
    enabled: bool,
    epochs: usize,
    steps: usize,
}

/// Progress of one epoch.
#[derive(Debug)]
pub struct EpochBar {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A run of `epochs` epochs of `steps` steps; `enabled = false` prints
    /// nothing (tests, non-interactive use).
    pub fn new(enabled: bool, epochs: usize, steps: usize) -> Self {
        Self {
            enabled,
            epochs,
            steps,
        }
    }

    /// Starts epoch `epoch` (0-based).
    pub fn epoch(&self, epoch: usize) -> EpochBar {
        if !self.enabled {
            return EpochBar { bar: None };
        }
        let bar = ProgressBar::new(self.steps as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} steps, {per_sec}, ETA {eta} {msg}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix(format!("epoch {}/{}", epoch + 1, self.epochs));
        EpochBar { bar: Some(bar) }
    }

    /// Prints a line about the run (above the bar, if one is drawn); with
    /// progress off it goes to the log (`--log info`) instead.
    pub fn note(&self, bar: &EpochBar, message: &str) {
        match (&bar.bar, self.enabled) {
            (Some(b), _) => b.println(message),
            (None, true) => eprintln!("{message}"),
            (None, false) => tracing::info!("{message}"),
        }
    }

    /// Prints a warning: above the bar, on stderr without bars, and through
    /// the log (shown at the default level) when progress is off.
    pub fn warn(&self, bar: &EpochBar, message: &str) {
        match (&bar.bar, self.enabled) {
            (Some(b), _) => b.println(format!("warning: {message}")),
            (None, true) => eprintln!("warning: {message}"),
            (None, false) => tracing::warn!("{message}"),
        }
    }

    /// Prints an epoch's result line.
    pub fn epoch_done(&self, r: &EpochRecord) {
        if !self.enabled {
            return;
        }
        let hessian = r
            .hessian
            .map(|h| {
                format!(
                    ", tr H {:.3} +- {:.3}, ||H||_F {:.3} +- {:.3}",
                    h.trace.value, h.trace.std_error, h.frobenius.value, h.frobenius.std_error
                )
            })
            .unwrap_or_default();
        eprintln!(
            "epoch {:>3}: train loss {:.4}, test loss {:.4}, test acc {:.2}%, {:.0} img/s{}",
            r.epoch,
            r.train_loss,
            r.test.loss,
            100.0 * r.test.accuracy,
            r.images_per_second,
            hessian
        );
    }
}

impl EpochBar {
    /// One step done.
    pub fn step(&self, loss: f64) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("loss {loss:.4}"));
            bar.inc(1);
        }
    }

    /// The epoch's steps are done.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
