//! `usam`: run the universal-SAM paper's studies.
//!
//! Exit codes: 0 success, 1 a run failed, 2 invalid flags or configuration.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use experiments::backend::BackendKind;
use experiments::bench::{self, BenchOptions};
use experiments::config::{ConfigError, GuardRatio, Schedule, TrainConfig};
use experiments::demo::{DemoOptions, run_demo};
use experiments::heap::Counting;
use experiments::models::ModelKind;
use experiments::sweep::{self, RunStatus, SweepConfig};
use experiments::train::{RunError, RunOptions};
use sam_core::guard::NonFinite;
use sam_core::schedule::Between;

// CPU backends allocate every tensor op's result with the global allocator.
// glibc's malloc hands parameter-sized buffers (hundreds of KiB) back to the
// kernel and page-faults them in again on the next step, which costs a small
// model's sharpness-aware step 10-15% (BENCHMARKS.md); mimalloc keeps them.
// The counting wrapper gives `bench memory` the live heap bytes.
#[global_allocator]
static HEAP: Counting<mimalloc::MiMalloc> = Counting::new(mimalloc::MiMalloc);

#[derive(Parser)]
#[command(
    name = "usam",
    version,
    about = "Universal sharpness-aware minimization experiments on Burn"
)]
struct Cli {
    /// Log level filter (error, warn, info, debug); also RUST_LOG.
    #[arg(long, global = true, default_value = "warn")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
struct SelftestArgs {
    /// Backend: cpu, ndarray, wgpu, cuda.
    #[arg(long, default_value = "cpu")]
    backend: BackendKind,
    /// Device index.
    #[arg(long, default_value_t = 0)]
    device: usize,
}

#[derive(Args)]
struct DemoArgs {
    /// Output directory (a fresh sibling is used if it exists).
    #[arg(long, default_value = "runs/demo")]
    out: PathBuf,
    /// Epochs per method.
    #[arg(long, default_value_t = 8)]
    epochs: usize,
    /// Backend: cpu, ndarray, wgpu, cuda.
    #[arg(long, default_value = "cpu")]
    backend: BackendKind,
    /// Comma-separated methods.
    #[arg(long, value_delimiter = ',', default_value = "sgd,sam,trace,frob,det")]
    methods: Vec<String>,
    /// Cap on steps per epoch (quick checks).
    #[arg(long)]
    steps_per_epoch: Option<usize>,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args)]
#[command(allow_negative_numbers = true)]
struct TrainArgs {
    /// TOML configuration file (see configs/).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Output directory (must not exist or be empty, unless --resume).
    #[arg(long)]
    out: PathBuf,
    /// Continue the run in --out from its last checkpoint.
    #[arg(long)]
    resume: bool,
    /// Dataset: mnist-10k, mnist, fashion-mnist, cifar10, cifar100, cifar100-coarse, svhn, `folder:<path>`.
    #[arg(long)]
    dataset: Option<String>,
    /// Where datasets are cached.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Fraction of training labels corrupted.
    #[arg(long)]
    label_noise: Option<f64>,
    /// Fraction of the training set kept.
    #[arg(long)]
    data_fraction: Option<f64>,
    /// Model: mlp, cnn, resnet18, wrn28-10, vgg16-bn.
    #[arg(long)]
    model: Option<ModelKind>,
    /// Method: sgd, sam, asam, ssam, trace, frob, det, moments1..3.
    #[arg(long)]
    method: Option<String>,
    /// Perturbation radius.
    #[arg(long)]
    rho: Option<f64>,
    /// Sharpness weight.
    #[arg(long)]
    lambda: Option<f64>,
    /// Noise draws per step.
    #[arg(long)]
    samples: Option<usize>,
    /// Universal class: bound ||g - g0|| at this multiple of ||g0||, or
    /// `off` for the reference code's step (default 0.5).
    #[arg(long)]
    guard_ratio: Option<GuardRatio>,
    /// Universal class: on a non-finite perturbed loss, `stop` or `skip`
    /// the sharpness part of that step.
    #[arg(long)]
    on_non_finite: Option<NonFinite>,
    /// Run the perturbed passes on one step in this many (default 1:
    /// every step, the methods as published; ignored by sgd).
    #[arg(long)]
    every: Option<u64>,
    /// What the steps between perturbed ones do: `base` (plain base
    /// steps) or `reuse` (add the last sharpness part, LookSAM-style).
    #[arg(long)]
    between: Option<Between>,
    /// Write every step's losses, norms and guard decision to steps.jsonl.
    #[arg(long)]
    log_steps: bool,
    /// Base optimizer: sgd, adam, adamw.
    #[arg(long)]
    base: Option<String>,
    /// Initial learning rate.
    #[arg(long)]
    lr: Option<f64>,
    /// Schedule: constant, multistep, cosine.
    #[arg(long)]
    schedule: Option<String>,
    /// Multistep milestones (epochs), comma-separated.
    #[arg(long, value_delimiter = ',')]
    milestones: Vec<usize>,
    /// Multistep factor.
    #[arg(long, default_value_t = 0.1)]
    gamma: f64,
    /// Epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Batch size.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Backend: cpu, ndarray, wgpu, cuda.
    #[arg(long)]
    backend: Option<BackendKind>,
    /// Device index.
    #[arg(long)]
    device: Option<usize>,
    /// Hessian metrics every N epochs.
    #[arg(long)]
    hessian_every: Option<usize>,
    /// Override any field: key=value (dotted path, TOML value).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Print the effective configuration and exit.
    #[arg(long)]
    print_config: bool,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args)]
struct RunArgs {
    /// A run's output directory.
    #[arg(long)]
    run: PathBuf,
    /// Backend to evaluate on (default: the run's).
    #[arg(long)]
    backend: Option<BackendKind>,
    /// Where the run's dataset is (default: where it was trained from).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Args)]
struct HessianArgs {
    /// A run's output directory.
    #[arg(long)]
    run: PathBuf,
    /// Backend (default: the run's).
    #[arg(long)]
    backend: Option<BackendKind>,
    /// Where the run's dataset is (default: where it was trained from).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Training examples the loss averages over.
    #[arg(long, default_value_t = 1280)]
    samples: usize,
    /// Probes for trace and Frobenius norm (at most).
    #[arg(long, default_value_t = 64)]
    probes: usize,
    /// Top eigenvalues by Lanczos (0 to skip).
    #[arg(long, default_value_t = 5)]
    top_k: usize,
    /// Also estimate log|det H| by stochastic Lanczos quadrature.
    #[arg(long)]
    log_det: bool,
    /// Write the result as JSON here (default: hessian.json in the run,
    /// replaced on each call); an existing file is refused unless --force.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Replace an existing --json file.
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
struct SweepArgs {
    /// Sweep file (see configs/paper-table.toml).
    #[arg(long)]
    config: PathBuf,
    /// Output root.
    #[arg(long)]
    out: PathBuf,
    /// List the runs and their status without training.
    #[arg(long)]
    dry_run: bool,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
    /// Override a field of every run: key=value (dotted path, TOML value),
    /// e.g. `--set optimizer.guard_ratio=off`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
}

#[derive(Args)]
struct ReportArgs {
    /// A run's or a sweep's output directory (report.html and report.md
    /// are written into it).
    #[arg(long)]
    dir: PathBuf,
}

#[derive(Args)]
struct TableArgs {
    /// A sweep's output root.
    #[arg(long)]
    dir: PathBuf,
    /// Also write CSV here.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Also write Markdown here.
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Replace existing --csv / --markdown files.
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
struct BenchArgs {
    /// steps (step time per method), memory (peak memory per method) or
    /// hessian (one Hessian-vector product against one gradient).
    #[arg(value_parser = ["steps", "memory", "hessian", "memory-probe"])]
    what: String,
    /// Model.
    #[arg(long, default_value = "mlp")]
    model: ModelKind,
    /// Backend.
    #[arg(long, default_value = "cpu")]
    backend: BackendKind,
    /// Device index.
    #[arg(long, default_value_t = 0)]
    device: usize,
    /// Batch size.
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// Timed steps.
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// Warm-up steps.
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Methods, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "sgd,sam,trace,frob,det")]
    methods: Vec<String>,
    /// `hessian`: probes of the timed Frobenius-norm estimate (0: none).
    #[arg(long, default_value_t = 0)]
    probes: usize,
    /// `steps`: also write the figures as JSON here (the schema of
    /// `scripts/torch_baseline.py`, for `scripts/compare_steps.py`).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Replace an existing --json file.
    #[arg(long)]
    force: bool,
}

/// A failure, with the exit code it maps to.
enum Failure {
    Usage(String),
    Run(String),
}

impl From<RunError> for Failure {
    fn from(e: RunError) -> Self {
        match e {
            RunError::Config(c) => Failure::Usage(c.to_string()),
            RunError::Output(o) => Failure::Usage(o.to_string()),
            other => Failure::Run(other.to_string()),
        }
    }
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        Failure::Usage(e.to_string())
    }
}

fn main() -> ExitCode {
    restore_sigpipe();
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cli.log));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(m)) => {
            eprintln!("error: {m}");
            ExitCode::from(2)
        }
        Err(Failure::Run(m)) => {
            eprintln!("error: {m}");
            ExitCode::from(1)
        }
    }
}

/// `usam ... | head` should end quietly, as other command-line tools do,
/// not panic on a closed pipe.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: resetting a signal disposition to its default at start-up,
    // before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn dispatch(command: Command) -> Result<(), Failure> {
    match command {
        Command::Demo(a) => demo(a),
        Command::Train(a) => train(*a),
        Command::Eval(a) => eval(a),
        Command::Hessian(a) => hessian(a),
        Command::Sweep(a) => sweep_cmd(a),
        Command::Table(a) => table(a),
        Command::Report(a) => report(&a.dir, true),
        Command::Bench(a) => bench_cmd(a),
        Command::Selftest(a) => {
            let report = experiments::selftest::run(a.backend, a.device)?;
            print!("{}", report.table());
            if report.passed() {
                Ok(())
            } else {
                Err(Failure::Run("some checks failed".into()))
            }
        }
    }
}

fn demo(a: DemoArgs) -> Result<(), Failure> {
    let options = DemoOptions {
        out: a.out,
        epochs: a.epochs.max(1),
        backend: a.backend,
        methods: a.methods,
        progress: !a.quiet,
        steps_per_epoch: a.steps_per_epoch,
        ..DemoOptions::default()
    };
    let outcome = run_demo(&options)?;
    println!("{}", outcome.table);
    println!(
        "results, curves and checkpoints in {} (demo.md, demo.png)",
        outcome.dir.display()
    );
    report(&outcome.dir, false)
}

/// Writes the report of `dir` and says where. `usage`: a directory without
/// runs is the caller's mistake (exit 2), not a failed run.
fn report(dir: &std::path::Path, usage: bool) -> Result<(), Failure> {
    match experiments::report::write(dir) {
        Ok(w) => {
            println!(
                "report: {} (Markdown: {})",
                w.html.display(),
                w.markdown.display()
            );
            Ok(())
        }
        Err(e @ experiments::report::ReportError::NoRuns(_)) if usage => {
            Err(Failure::Usage(e.to_string()))
        }
        Err(e) => Err(Failure::Run(format!("cannot write the report: {e}"))),
    }
}

fn train_config(a: &TrainArgs) -> Result<TrainConfig, Failure> {
    let mut c = match &a.config {
        Some(path) => TrainConfig::from_file(path)?,
        // A resume's flags are changes to the run's own settings, which
        // the run then checks (only some may change midway).
        None if a.resume => experiments::train::stored_config(&a.out)?,
        None => TrainConfig::default(),
    };
    macro_rules! set {
        ($field:expr, $value:expr) => {
            if let Some(v) = $value.clone() {
                $field = v;
            }
        };
    }
    set!(c.dataset, a.dataset);
    if let Some(dir) = &a.data_dir {
        // Stored absolute, so `eval` and `hessian` find the data from any
        // working directory.
        c.data_dir = Some(absolute(dir)?);
    }
    set!(c.label_noise, a.label_noise);
    set!(c.data_fraction, a.data_fraction);
    set!(c.model, a.model);
    set!(c.optimizer.method, a.method);
    if a.rho.is_some() {
        c.optimizer.rho = a.rho;
    }
    if a.lambda.is_some() {
        c.optimizer.lambda = a.lambda;
    }
    if a.samples.is_some() {
        c.optimizer.samples = a.samples;
    }
    set!(c.optimizer.guard_ratio, a.guard_ratio);
    set!(c.optimizer.on_non_finite, a.on_non_finite);
    set!(c.optimizer.every, a.every);
    set!(c.optimizer.between, a.between);
    if a.log_steps {
        c.log_steps = true;
    }
    if let Some(base) = &a.base {
        c = c.with_overrides(&[format!("base.kind=\"{base}\"")])?;
    }
    set!(c.base.lr, a.lr);
    if let Some(s) = &a.schedule {
        c.schedule = match s.as_str() {
            "constant" => Schedule::Constant,
            "multistep" => Schedule::Multistep {
                milestones: if a.milestones.is_empty() {
                    vec![50, 100, 150]
                } else {
                    a.milestones.clone()
                },
                gamma: a.gamma,
            },
            "cosine" => Schedule::Cosine { min_lr: 0.0 },
            other => {
                return Err(Failure::Usage(format!(
                    "unknown schedule `{other}` (expected constant, multistep or cosine)"
                )));
            }
        };
    }
    set!(c.epochs, a.epochs);
    set!(c.batch_size, a.batch_size);
    set!(c.seed, a.seed);
    set!(c.backend, a.backend);
    set!(c.device, a.device);
    set!(c.hessian_every, a.hessian_every);
    let c = c.with_overrides(&a.sets)?;
    c.validate()?;
    Ok(c)
}

fn absolute(path: &std::path::Path) -> Result<PathBuf, Failure> {
    std::path::absolute(path)
        .map_err(|e| Failure::Usage(format!("cannot resolve {}: {e}", path.display())))
}

fn train(a: TrainArgs) -> Result<(), Failure> {
    let cfg = train_config(&a)?;
    if a.print_config {
        print!("{}", cfg.to_toml());
        return Ok(());
    }
    let summary = experiments::train::run(
        cfg,
        RunOptions {
            out: a.out.clone(),
            resume: a.resume,
            progress: !a.quiet,
        },
    )?;
    println!(
        "{} on {}: test accuracy {:.2}% (best {:.2}%), results in {}",
        summary.method,
        summary.dataset,
        100.0 * summary.final_test.accuracy,
        100.0 * summary.best_test_accuracy,
        a.out.display()
    );
    Ok(())
}

fn eval(a: RunArgs) -> Result<(), Failure> {
    let data_dir = a.data_dir.as_deref().map(absolute).transpose()?;
    let result = experiments::inspect::evaluate_run(&a.run, a.backend, data_dir)?;
    println!(
        "{}",
        serde_json::to_string_pretty(&result).expect("serialises")
    );
    Ok(())
}

fn hessian(a: HessianArgs) -> Result<(), Failure> {
    let options = experiments::inspect::HessianOptions {
        samples: a.samples,
        probes: a.probes,
        top_k: a.top_k,
        log_det: a.log_det,
    };
    // The user's own file is checked before the work, not after.
    if let Some(path) = &a.json {
        experiments::output::check_new(path, a.force).map_err(|e| Failure::Usage(e.to_string()))?;
    }
    let data_dir = a.data_dir.as_deref().map(absolute).transpose()?;
    let report = experiments::inspect::hessian_run(&a.run, a.backend, data_dir, &options)?;
    let json = serde_json::to_string_pretty(&report).expect("serialises");
    let written = match &a.json {
        Some(path) => experiments::output::write_new(path, json.as_bytes(), a.force),
        None => experiments::output::write_atomic(&a.run.join("hessian.json"), json.as_bytes()),
    };
    written.map_err(|e| Failure::Run(e.to_string()))?;
    println!("{json}");
    Ok(())
}

fn sweep_cmd(a: SweepArgs) -> Result<(), Failure> {
    let sweep = SweepConfig::from_file(&a.config)?;
    let runs = sweep.runs(&a.out)?;
    let total = runs.len();
    for (i, mut run) in runs.into_iter().enumerate() {
        if !a.sets.is_empty() {
            run.config = run.config.with_overrides(&a.sets)?;
            run.config.validate()?;
        }
        let status = sweep::status(&run.dir);
        println!("[{}/{total}] {} ({status:?})", i + 1, run.dir.display());
        if a.dry_run || status == RunStatus::Done {
            continue;
        }
        if status == RunStatus::Failed {
            continue;
        }
        let failed = sweep::FailedRun::new(&run.config, "");
        match experiments::train::run(
            run.config,
            RunOptions {
                out: run.dir.clone(),
                resume: status == RunStatus::Resume,
                progress: !a.quiet,
            },
        ) {
            Ok(summary) => println!(
                "    test accuracy {:.2}%",
                100.0 * summary.final_test.accuracy
            ),
            // A diverging run is a result of the sweep, not the end of it.
            Err(e @ RunError::Step { .. }) => {
                println!("    failed: {e}");
                sweep::FailedRun {
                    error: e.to_string(),
                    ..failed
                }
                .write(&run.dir)
                .map_err(|io| {
                    Failure::Run(format!(
                        "cannot record the failure in {}: {io}",
                        run.dir.display()
                    ))
                })?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    if !a.dry_run {
        let cells = sweep::collect(&a.out).map_err(|e| Failure::Run(e.to_string()))?;
        println!("\n{}", sweep::markdown(&cells));
        report(&a.out, false)?;
    }
    Ok(())
}

fn table(a: TableArgs) -> Result<(), Failure> {
    let cells = sweep::collect(&a.dir)
        .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", a.dir.display())))?;
    if cells.is_empty() {
        return Err(Failure::Usage(format!(
            "no summary.json under {}",
            a.dir.display()
        )));
    }
    for path in [&a.markdown, &a.csv].into_iter().flatten() {
        experiments::output::check_new(path, a.force).map_err(|e| Failure::Usage(e.to_string()))?;
    }
    let md = sweep::markdown(&cells);
    let csv = sweep::csv(&cells);
    print!("{md}");
    for (path, text) in [(&a.markdown, &md), (&a.csv, &csv)] {
        if let Some(p) = path {
            experiments::output::write_new(p, text.as_bytes(), a.force)
                .map_err(|e| Failure::Run(e.to_string()))?;
        }
    }
    Ok(())
}

fn bench_cmd(a: BenchArgs) -> Result<(), Failure> {
    let options = BenchOptions {
        model: a.model,
        backend: a.backend,
        device: a.device,
        batch: a.batch,
        steps: a.steps,
        warmup: a.warmup,
        methods: a.methods.clone(),
    };
    if let Some(path) = &a.json {
        experiments::output::check_new(path, a.force).map_err(|e| Failure::Usage(e.to_string()))?;
    }
    match a.what.as_str() {
        "steps" => {
            let rows = bench::step_timings(options.clone())?;
            print!("{}", bench::timing_table(&rows, &options));
            if let Some(path) = &a.json {
                let json = bench::timing_json(&rows, &options);
                experiments::output::write_new(path, json.as_bytes(), a.force)
                    .map_err(|e| Failure::Usage(e.to_string()))?;
            }
        }
        "hessian" => {
            let timing = bench::hvp_timings(options.clone(), a.probes)?;
            print!("{}", bench::hvp_report(&timing, &options));
        }
        "memory-probe" => {
            let params = bench::memory_probe(options)?;
            println!(
                "PEAK_HEAP {} PEAK_RSS {} PARAMS {params}",
                HEAP.peak(),
                bench::peak_rss().unwrap_or(0)
            );
        }
        _ => {
            print!("{}", memory_table(&a)?);
        }
    }
    Ok(())
}

/// Runs each method in its own process (peak memory is per process).
fn memory_table(a: &BenchArgs) -> Result<String, Failure> {
    let exe = std::env::current_exe().map_err(|e| Failure::Run(e.to_string()))?;
    let mut rows = Vec::new();
    for method in &a.methods {
        let out = std::process::Command::new(&exe)
            .args(["bench", "memory-probe", "--model", &a.model.to_string()])
            .args([
                "--backend",
                &a.backend.to_string(),
                "--device",
                &a.device.to_string(),
            ])
            .args([
                "--batch",
                &a.batch.to_string(),
                "--steps",
                &a.steps.to_string(),
            ])
            // One untimed round: GPU backends tune kernels in it.
            .args(["--warmup", "1", "--methods", method])
            .output()
            .map_err(|e| Failure::Run(e.to_string()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let fields: Vec<&str> = text.split_whitespace().collect();
        let number = |s: &str| s.parse::<f64>().unwrap_or(f64::NAN);
        let (heap, rss, params) = match fields.as_slice() {
            ["PEAK_HEAP", h, "PEAK_RSS", r, "PARAMS", n, ..] => (number(h), number(r), number(n)),
            _ => {
                return Err(Failure::Run(format!(
                    "memory probe for {method} failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                )));
            }
        };
        rows.push((method.clone(), heap, rss, params));
    }
    let base = rows
        .iter()
        .find(|r| r.0 == "sgd")
        .map(|r| r.1)
        .unwrap_or(f64::NAN);
    let mut out = format!(
        "model {}, backend {}, batch {}, {} steps per process; peak live heap bytes (peak RSS, which adds what the allocator keeps cached, for reference)\n\n| method | peak heap MiB | excess over SGD (MiB) | excess / parameter bytes | peak RSS MiB |\n|---|---|---|---|---|\n",
        a.model, a.backend, a.batch, a.steps
    );
    const MIB: f64 = 1048576.0;
    for (method, heap, rss, params) in rows {
        let excess = heap - base;
        out.push_str(&format!(
            "| {method} | {:.1} | {:.1} | {:.2} | {:.1} |\n",
            heap / MIB,
            excess / MIB,
            excess / (4.0 * params),
            rss / MIB
        ));
    }
    Ok(out)
}
