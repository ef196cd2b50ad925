//! The command line's flags, one struct per subcommand.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use experiments::backend::BackendKind;
use experiments::config::{BaseKind, ScheduleKind};
use experiments::models::ModelKind;
use sam_burn::optim::Between;
use sam_burn::optim::NonFinite;

#[derive(Parser)]
#[command(
    name = "usam",
    version,
    about = "Universal sharpness-aware minimization experiments on Burn"
)]
pub(crate) struct Cli {
    /// Log level filter (error, warn, info, debug, trace, off, or a
    /// tracing directive such as `experiments=debug`); also RUST_LOG.
    #[arg(long, global = true, default_value = "warn", value_parser = log_filter)]
    pub(crate) log: String,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Train the MNIST MLP on the bundled digits with SGD, SAM, Trace-,
    /// Frob- and Det-SAM, and compare accuracy and Hessian metrics.
    Demo(DemoArgs),
    /// Train one model (flags override --config; --set overrides both).
    Train(Box<TrainArgs>),
    /// Evaluate a run's checkpoint on the test and training sets.
    Eval(RunArgs),
    /// Measure a run's Hessian: trace, Frobenius norm, top eigenvalues,
    /// log-determinant.
    Hessian(HessianArgs),
    /// Run a grid of trainings from a sweep file (resumable).
    Sweep(SweepArgs),
    /// Print the paper-style table of a sweep's results.
    Table(TableArgs),
    /// Write an HTML report (and a Markdown twin) of a run or sweep: the
    /// paper-style table, learning and Hessian curves, configuration,
    /// machine and commit.
    Report(ReportArgs),
    /// Print optimizer benchmark figures.
    Bench(BenchArgs),
    /// Check a backend against the f64 reference and the CPU backend.
    Selftest(SelftestArgs),
}

#[derive(Args)]
pub(crate) struct SelftestArgs {
    /// Backend: cpu, ndarray, wgpu, cuda.
    #[arg(long, default_value = "cpu")]
    pub(crate) backend: BackendKind,
    /// Device index.
    #[arg(long, default_value_t = 0)]
    pub(crate) device: usize,
}

#[derive(Args)]
pub(crate) struct DemoArgs {
    /// Output directory (a fresh sibling is used if it exists).
    #[arg(long, default_value = "runs/demo")]
    pub(crate) out: PathBuf,
    /// Epochs per run.
    #[arg(long, default_value_t = 5, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub(crate) epochs: usize,
    /// Comma-separated seeds: each method trains once per seed, and the
    /// table shows mean ± std over them (one seed: "n = 1, no spread").
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    pub(crate) seeds: Vec<u64>,
    /// Backend: cpu, ndarray, wgpu, cuda.
    #[arg(long, default_value = "cpu")]
    pub(crate) backend: BackendKind,
    /// Comma-separated methods.
    #[arg(long, value_delimiter = ',', default_value = "sgd,sam,trace,frob,det")]
    pub(crate) methods: Vec<String>,
    /// Cap on steps per epoch (quick checks).
    #[arg(long)]
    pub(crate) steps_per_epoch: Option<usize>,
    /// No progress bars.
    #[arg(long)]
    pub(crate) quiet: bool,
}

#[derive(Args)]
#[command(allow_negative_numbers = true)]
pub(crate) struct TrainArgs {
    /// TOML configuration file (see configs/).
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// Output directory (must not exist or be empty, unless --resume).
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Continue the run in --out from its last checkpoint.
    #[arg(long)]
    pub(crate) resume: bool,
    /// With --resume: continue from the checkpoint of this epoch instead of
    /// the last (a run keeps its previous one, for a damaged last
    /// checkpoint).
    #[arg(long, requires = "resume")]
    pub(crate) from_epoch: Option<usize>,
    /// Dataset: mnist-10k, mnist, fashion-mnist, cifar10, cifar100, cifar100-coarse, svhn, `folder:<path>`.
    #[arg(long)]
    pub(crate) dataset: Option<String>,
    /// Where datasets are cached.
    #[arg(long)]
    pub(crate) data_dir: Option<PathBuf>,
    /// Fraction of training labels corrupted.
    #[arg(long)]
    pub(crate) label_noise: Option<f64>,
    /// Fraction of the training set kept.
    #[arg(long)]
    pub(crate) data_fraction: Option<f64>,
    /// Model: mlp, cnn, resnet18, wrn28-10, vgg16-bn.
    #[arg(long)]
    pub(crate) model: Option<ModelKind>,
    /// Method: sgd, sam, asam, ssam, trace, frob, det, moments1..3.
    #[arg(long)]
    pub(crate) method: Option<String>,
    /// Perturbation radius (`optimizer.rho`; every flag of the method
    /// sets the field of `[optimizer]` it names).
    #[arg(long)]
    pub(crate) rho: Option<f64>,
    /// Sharpness weight.
    #[arg(long)]
    pub(crate) lambda: Option<f64>,
    /// Noise draws per step.
    #[arg(long)]
    pub(crate) samples: Option<usize>,
    /// Universal class: bound ||g - g0|| at this multiple of ||g0||, or
    /// `off` for the reference code's step (default 0.5); sets
    /// `optimizer.guard.max_ratio`.
    #[arg(long, value_parser = guard_ratio)]
    pub(crate) guard_ratio: Option<String>,
    /// Universal class: on a non-finite perturbed loss, `stop` or `skip`
    /// the sharpness part of that step.
    #[arg(long)]
    pub(crate) on_non_finite: Option<NonFinite>,
    /// Run the perturbed passes on one step in this many (default 1:
    /// every step, the methods as published); sets
    /// `optimizer.schedule.every`.
    #[arg(long)]
    pub(crate) every: Option<u64>,
    /// What the steps between perturbed ones do: `base` (plain base
    /// steps) or `reuse` (add the last sharpness part, LookSAM-style).
    #[arg(long)]
    pub(crate) between: Option<Between>,
    /// Write every step's losses, norms and guard decision to steps.jsonl.
    #[arg(long)]
    pub(crate) log_steps: bool,
    /// Base optimizer: sgd, adam, adamw.
    #[arg(long)]
    pub(crate) base: Option<BaseKind>,
    /// Initial learning rate.
    #[arg(long)]
    pub(crate) lr: Option<f64>,
    /// Schedule: constant, multistep, cosine (to 0).
    #[arg(long)]
    pub(crate) schedule: Option<ScheduleKind>,
    /// Multistep milestones (epochs), comma-separated (default: a quarter,
    /// half and three quarters of the epochs; 50,100,150 of 200).
    #[arg(long, value_delimiter = ',')]
    pub(crate) milestones: Vec<usize>,
    /// Multistep factor (default 0.1).
    #[arg(long)]
    pub(crate) gamma: Option<f64>,
    /// Epochs.
    #[arg(long)]
    pub(crate) epochs: Option<usize>,
    /// Batch size (with --devices: the global batch, split evenly; with
    /// --accumulate: the effective batch).
    #[arg(long)]
    pub(crate) batch_size: Option<usize>,
    /// Gradient accumulation: run each step's batch as K micro-batches
    /// (every pass of the step over all of them; the step is the one-batch
    /// step with less activation memory).
    #[arg(long, value_name = "K")]
    pub(crate) accumulate: Option<usize>,
    /// Seed.
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// Backend: cpu, ndarray, wgpu, cuda.
    #[arg(long)]
    pub(crate) backend: Option<BackendKind>,
    /// Device index.
    #[arg(long, conflicts_with = "devices")]
    pub(crate) device: Option<usize>,
    /// Data-parallel training over these devices, one replica each
    /// (comma-separated, e.g. 0,1; CPU backends: replicas on the host, one
    /// index per core).
    #[arg(long, value_delimiter = ',')]
    pub(crate) devices: Vec<usize>,
    /// Hessian metrics every N epochs.
    #[arg(long)]
    pub(crate) hessian_every: Option<usize>,
    /// Override any field: key=value (dotted path, TOML value).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub(crate) sets: Vec<String>,
    /// Print the effective configuration and exit.
    #[arg(long)]
    pub(crate) print_config: bool,
    /// No progress bars.
    #[arg(long)]
    pub(crate) quiet: bool,
}

#[derive(Args)]
pub(crate) struct RunArgs {
    /// A run's output directory.
    #[arg(long)]
    pub(crate) run: PathBuf,
    /// Backend (default: the run's).
    #[arg(long)]
    pub(crate) backend: Option<BackendKind>,
    /// Where the run's dataset is (default: where it was trained from; for
    /// a `folder:` dataset, the folder itself).
    #[arg(long)]
    pub(crate) data_dir: Option<PathBuf>,
}

#[derive(Args)]
pub(crate) struct HessianArgs {
    // --run, --backend and --data-dir, as for `eval`.
    #[command(flatten)]
    pub(crate) target: RunArgs,
    /// Training examples the loss averages over.
    #[arg(long, default_value_t = 1280)]
    pub(crate) samples: usize,
    /// Probes for trace and Frobenius norm (at most).
    #[arg(long, default_value_t = 64)]
    pub(crate) probes: usize,
    /// Top eigenvalues by Lanczos (0 to skip).
    #[arg(long, default_value_t = 5)]
    pub(crate) top_k: usize,
    /// Also estimate log|det H| by stochastic Lanczos quadrature.
    #[arg(long)]
    pub(crate) log_det: bool,
    /// Write the result as JSON here (default: hessian.json in the run,
    /// replaced on each call); an existing file is refused unless --force.
    #[arg(long)]
    pub(crate) json: Option<PathBuf>,
    /// Replace an existing --json file.
    #[arg(long)]
    pub(crate) force: bool,
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("mode").args(["config", "status"]).required(true)))]
pub(crate) struct SweepArgs {
    /// Sweep file (see configs/paper-table.toml).
    #[arg(long, requires = "out")]
    pub(crate) config: Option<PathBuf>,
    /// Output root. Any number of `usam sweep` processes on one --out work
    /// through the grid together, on one machine or several sharing the
    /// filesystem.
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// Print where each run of the sweep in this directory stands (done,
    /// running, failed, pending) and exit: 0 when every run is done.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["config", "out"])]
    pub(crate) status: Option<PathBuf>,
    /// List the runs and their status without training.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// No progress bars.
    #[arg(long)]
    pub(crate) quiet: bool,
    /// Override a field of every run: key=value (dotted path, TOML value),
    /// e.g. `--set optimizer.guard.max_ratio=off` (a method's field applies
    /// to the methods that have it).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub(crate) sets: Vec<String>,
    /// Start this many worker processes on this machine (default 1: this
    /// process alone). With --devices each is pinned to a device, round
    /// robin; on CPU backends they share the cores.
    #[arg(long, default_value_t = 1, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub(crate) workers: usize,
    /// The devices the workers are pinned to (comma-separated; with
    /// --workers).
    #[arg(long, value_delimiter = ',', requires = "workers")]
    pub(crate) devices: Vec<usize>,
    /// Take only part of the grid: `i/n` (runs i, i+n, i+2n, ...), or `auto`
    /// for the index a Slurm job array or a Kubernetes Indexed Job gives.
    #[arg(long, value_name = "i/n|auto")]
    pub(crate) shard: Option<String>,
    /// Seconds a run's claim by a worker on another host stays valid
    /// without a heartbeat (the heartbeat comes every lease / 3).
    #[arg(long, default_value_t = 120)]
    pub(crate) lease: u64,
    /// Set by `--workers` on the processes it starts: no table or report at
    /// the end (the starting process writes them).
    #[arg(long, hide = true)]
    pub(crate) worker: bool,
}

#[derive(Args)]
pub(crate) struct ReportArgs {
    /// A run's or a sweep's output directory (report.html and report.md
    /// are written into it).
    #[arg(long)]
    pub(crate) dir: PathBuf,
    /// Replace a report.html or report.md that usam did not write.
    #[arg(long)]
    pub(crate) force: bool,
}

#[derive(Args)]
pub(crate) struct TableArgs {
    /// A sweep's output root.
    #[arg(long)]
    pub(crate) dir: PathBuf,
    /// Also write CSV here.
    #[arg(long)]
    pub(crate) csv: Option<PathBuf>,
    /// Also write Markdown here.
    #[arg(long)]
    pub(crate) markdown: Option<PathBuf>,
    /// Replace existing --csv / --markdown files.
    #[arg(long)]
    pub(crate) force: bool,
}

#[derive(Args)]
pub(crate) struct BenchArgs {
    /// steps (step time per method), memory (peak memory per method),
    /// hessian (one Hessian-vector product against one gradient) or
    /// parallel (data-parallel step time on --devices against one device).
    #[arg(value_parser = ["steps", "memory", "hessian", "parallel", "memory-probe"])]
    pub(crate) what: String,
    /// Model.
    #[arg(long, default_value = "mlp")]
    pub(crate) model: ModelKind,
    /// Backend.
    #[arg(long, default_value = "cpu")]
    pub(crate) backend: BackendKind,
    /// Device index.
    #[arg(long, default_value_t = 0)]
    pub(crate) device: usize,
    /// `parallel`: the devices of the data-parallel run (comma-separated;
    /// CPU backends: replicas on the host).
    #[arg(long, value_delimiter = ',', default_value = "0,1")]
    pub(crate) devices: Vec<usize>,
    /// Batch size (`parallel`: the global batch).
    #[arg(long, default_value_t = 128)]
    pub(crate) batch: usize,
    /// Timed steps.
    #[arg(long, default_value_t = 10)]
    pub(crate) steps: usize,
    /// Warm-up steps.
    #[arg(long, default_value_t = 2)]
    pub(crate) warmup: usize,
    /// Methods, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "sgd,sam,trace,frob,det")]
    pub(crate) methods: Vec<String>,
    /// `hessian`: probes of the timed Frobenius-norm estimate (0: none).
    #[arg(long, default_value_t = 0)]
    pub(crate) probes: usize,
    /// `steps`: also write the figures as JSON here (the schema of
    /// `scripts/torch_baseline.py`, for `scripts/compare_steps.py`).
    #[arg(long)]
    pub(crate) json: Option<PathBuf>,
    /// Replace an existing --json file.
    #[arg(long)]
    pub(crate) force: bool,
}

/// `--guard-ratio`: a positive number or `off`, as the TOML value of
/// `optimizer.guard.max_ratio`.
fn guard_ratio(s: &str) -> Result<String, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("off") || t.eq_ignore_ascii_case("none") {
        return Ok("\"off\"".into());
    }
    match t.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(super::train_config::toml_float(r)),
        _ => Err(format!("`{s}`: expected a finite positive number or off")),
    }
}

/// `--log`: a level or a tracing directive (`loud` is neither).
fn log_filter(s: &str) -> Result<String, String> {
    let levels = ["error", "warn", "info", "debug", "trace", "off"];
    let ok = s.split(',').all(|d| {
        let level = d.rsplit('=').next().unwrap_or(d).trim();
        levels.contains(&level.to_ascii_lowercase().as_str())
    });
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "`{s}`: expected one of {} (or target=level, comma-separated)",
            levels.join(", ")
        ))
    }
}
