//! `usam demo`: the MNIST MLP on the bundled MNIST-10k digits with SGD, SAM
//! and Trace-, Frob- and Det-SAM; a table of test accuracy, final loss and
//! the Hessian's trace and Frobenius norm, and a plot. No arguments needed.

use std::path::PathBuf;

use crate::backend::BackendKind;
use crate::config::{ConfigError, RunConfig, TrainConfig};
use crate::models::ModelKind;
use crate::output::OutputDir;
use crate::plot::{Series, draw};
use crate::records::{EpochRecord, RunState, Summary};
use crate::train::{RunError, RunOptions, run};
use sam_burn::optim::MethodConfig;

/// Options of the demo.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Where to write (a fresh directory next to it if it exists).
    pub out: PathBuf,
    /// Epochs per method.
    pub epochs: usize,
    /// Backend.
    pub backend: BackendKind,
    /// Methods to compare.
    pub methods: Vec<String>,
    /// Progress bars.
    pub progress: bool,
    /// Cap on steps per epoch (tests).
    pub steps_per_epoch: Option<usize>,
    /// Hessian probes.
    pub hessian_probes: usize,
    /// Hessian samples.
    pub hessian_samples: usize,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            out: PathBuf::from("runs/demo"),
            epochs: 8,
            backend: BackendKind::Cpu,
            methods: ["sgd", "sam", "trace", "frob", "det"]
                .map(String::from)
                .to_vec(),
            progress: true,
            steps_per_epoch: None,
            hessian_probes: 32,
            hessian_samples: 1280,
        }
    }
}

/// The demo's result.
#[derive(Debug, Clone)]
pub struct DemoReport {
    /// Where everything was written.
    pub dir: PathBuf,
    /// One summary per method, in order.
    pub summaries: Vec<Summary>,
    /// The Markdown table (also in `demo.md`).
    pub table: String,
}

/// The configuration of one method in the demo: the MNIST study's setup
/// (`configs/mnist-study.toml`) with Frob-SAM at rho 0.01, lambda 0.005, n 2, and every
/// other method at its reference settings.
pub fn demo_config(method: &str, options: &DemoOptions) -> Result<RunConfig, ConfigError> {
    let mut optimizer = crate::config::method::named(method)?;
    if let MethodConfig::Universal(c) = &optimizer
        && method == "frob"
    {
        optimizer = MethodConfig::Universal(c.clone().with_rho(Some(0.01)));
    }
    TrainConfig {
        dataset: "mnist-10k".into(),
        model: ModelKind::Mlp,
        epochs: options.epochs,
        backend: options.backend,
        hessian_every: options.epochs,
        hessian_probes: options.hessian_probes,
        hessian_samples: options.hessian_samples,
        eval_train: false,
        steps_per_epoch: options.steps_per_epoch,
        optimizer,
        ..TrainConfig::default()
    }
    .validate()
}

/// Runs the demo.
pub fn run_demo(options: &DemoOptions) -> Result<DemoReport, RunError> {
    let dir = OutputDir::fresh_path(&options.out);
    let root = OutputDir::create(&dir, "demo")?;
    let mut summaries = Vec::new();
    let mut histories = Vec::new();
    for method in &options.methods {
        if options.progress {
            eprintln!("== {method} ==");
        }
        let run_dir = dir.join(method);
        let summary = run(
            demo_config(method, options)?,
            RunOptions {
                out: run_dir.clone(),
                resume: false,
                from_epoch: None,
                progress: options.progress,
                lock: None,
            },
        )?;
        let state: RunState =
            serde_json::from_slice(&OutputDir::open_run(&run_dir)?.read("state.json")?)
                .expect("written by this program");
        histories.push((method.clone(), state.history));
        summaries.push(summary);
    }
    let table = table(&summaries);
    root.write("demo.md", table.as_bytes())?;
    if let Err(e) = plot(&root, &histories) {
        tracing::warn!("could not draw the demo plot: {e}");
    }
    Ok(DemoReport {
        dir,
        summaries,
        table,
    })
}

/// The comparison table.
pub fn table(summaries: &[Summary]) -> String {
    let mut out = String::from(
        "| method | test accuracy | final test loss | Hessian trace | Hessian Frobenius norm | seconds |\n|---|---|---|---|---|---|\n",
    );
    for s in summaries {
        let (trace, frob) = match s.final_hessian {
            Some(h) => (
                format!("{:.2} ± {:.2}", h.trace.value, h.trace.std_error),
                format!("{:.2} ± {:.2}", h.frobenius.value, h.frobenius.std_error),
            ),
            None => ("-".into(), "-".into()),
        };
        out.push_str(&format!(
            "| {} | {:.2}% | {:.4} | {} | {} | {:.1} |\n",
            s.method,
            100.0 * s.final_test.accuracy,
            s.final_test.loss,
            trace,
            frob,
            s.wall_seconds
        ));
    }
    out
}

fn plot(
    root: &OutputDir,
    histories: &[(String, Vec<EpochRecord>)],
) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    let series = |f: fn(&EpochRecord) -> f64| -> Vec<Series> {
        histories
            .iter()
            .map(|(m, h)| Series {
                label: m.clone(),
                points: h.iter().map(|r| (r.epoch as f64, f(r))).collect(),
            })
            .collect()
    };
    let panels = [
        ("test accuracy", series(|r| r.test.accuracy)),
        ("train loss", series(|r| r.train_loss)),
    ];
    let png = root.path("demo.png");
    draw(
        BitMapBackend::new(&png, (1200, 450)).into_drawing_area(),
        &panels,
    )?;
    let svg = root.path("demo.svg");
    draw(
        SVGBackend::new(&svg, (1200, 450)).into_drawing_area(),
        &panels,
    )?;
    Ok(())
}
