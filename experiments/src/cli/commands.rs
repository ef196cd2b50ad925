//! What each subcommand does, and how its failures map to exit codes.

use experiments::demo::{DemoOptions, run_demo};
use experiments::sweep;
use experiments::train::RunOptions;

use super::args::{Command, DemoArgs, HessianArgs, RunArgs, TableArgs, TrainArgs};
use super::bench::bench_cmd;
use super::failure::Failure;
use super::sweep::sweep_cmd;
use super::train_config::{absolute, train_config};

pub(crate) fn dispatch(command: Command) -> Result<(), Failure> {
    match command {
        Command::Demo(a) => demo(a),
        Command::Train(a) => train(*a),
        Command::Eval(a) => eval(a),
        Command::Hessian(a) => hessian(a),
        Command::Sweep(a) => sweep_cmd(a),
        Command::Table(a) => table(a),
        Command::Report(a) => report(&a.dir, true, a.force),
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

pub(crate) fn demo(a: DemoArgs) -> Result<(), Failure> {
    let options = DemoOptions {
        out: a.out,
        epochs: a.epochs,
        seeds: a.seeds,
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
    report(&outcome.dir, false, false)
}

/// Writes the report of `dir` and says where. `usage`: a directory without
/// runs is the caller's mistake (exit 2), not a failed run.
/// Writes the report of `dir`; `usage`: the user asked for it by name
/// (`usam report`), so a wrong directory is bad usage.
pub(crate) fn report(dir: &std::path::Path, usage: bool, force: bool) -> Result<(), Failure> {
    use experiments::output::OutputError;
    use experiments::report::ReportError;
    if usage && !dir.is_dir() {
        return Err(Failure::Usage(format!(
            "{} is not a directory: pass a run's or a sweep's output directory",
            dir.display()
        )));
    }
    match experiments::report::write(dir, force) {
        Ok(w) => {
            println!(
                "report: {} (Markdown: {})",
                w.html.display(),
                w.markdown.display()
            );
            Ok(())
        }
        Err(e @ ReportError::NoRuns(_)) if usage => Err(Failure::Usage(e.to_string())),
        Err(ReportError::Output(o @ OutputError::FileExists(_))) => {
            Err(Failure::Usage(o.to_string()))
        }
        Err(ReportError::Output(o @ OutputError::Locked(_))) => Err(Failure::Run(o.to_string())),
        Err(e) => Err(Failure::Run(format!("cannot write the report: {e}"))),
    }
}

pub(crate) fn train(a: TrainArgs) -> Result<(), Failure> {
    // The run's one validation.
    let cfg = train_config(&a)?.validate()?;
    if a.resume
        && a.from_epoch.is_none()
        && let Some(done) = experiments::train::finished_epochs(&a.out)
        && done >= cfg.epochs
    {
        return Err(Failure::Usage(format!(
            "the run in {} has finished its {done} epochs: nothing to resume (--epochs {} or more trains it further)",
            a.out.display(),
            done + 1
        )));
    }
    if a.print_config {
        print!("{}", cfg.to_toml());
        return Ok(());
    }
    let summary = experiments::train::run(
        cfg,
        RunOptions {
            out: a.out.clone(),
            resume: a.resume,
            from_epoch: a.from_epoch,
            lock: None,
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

pub(crate) fn eval(a: RunArgs) -> Result<(), Failure> {
    let data_dir = a.data_dir.as_deref().map(absolute).transpose()?;
    let result = experiments::inspect::evaluate_run(&a.run, a.backend, data_dir)?;
    println!(
        "{}",
        serde_json::to_string_pretty(&result).expect("serialises")
    );
    Ok(())
}

pub(crate) fn hessian(a: HessianArgs) -> Result<(), Failure> {
    let options = experiments::inspect::HessianOptions {
        samples: a.samples,
        probes: a.probes,
        top_k: a.top_k,
        log_det: a.log_det,
    };
    for (flag, value) in [("--samples", a.samples), ("--probes", a.probes)] {
        if value == 0 {
            return Err(Failure::Usage(format!(
                "{flag} 0: the Hessian estimates need at least one"
            )));
        }
    }
    // The user's own file is checked before the work, not after.
    if let Some(path) = &a.json {
        if path.is_dir() {
            return Err(Failure::Usage(format!(
                "--json {}: is a directory; name a file",
                path.display()
            )));
        }
        experiments::output::check_new(path, a.force).map_err(|e| Failure::Usage(e.to_string()))?;
    }
    let RunArgs {
        run,
        backend,
        data_dir,
    } = &a.target;
    // hessian.json goes into the run, and the checkpoint must not change
    // under the measurement: one writer at a time.
    let _lock = run
        .join("state.json")
        .is_file()
        .then(|| experiments::lock::RunLock::acquire(run, "hessian"))
        .transpose()?;
    let data_dir = data_dir.as_deref().map(absolute).transpose()?;
    let report = experiments::inspect::hessian_run(run, *backend, data_dir, &options)?;
    let json = serde_json::to_string_pretty(&report).expect("serialises");
    let written = match &a.json {
        Some(path) => experiments::output::write_new(path, json.as_bytes(), a.force),
        None => experiments::output::write_atomic(&run.join("hessian.json"), json.as_bytes()),
    };
    written.map_err(|e| Failure::Run(e.to_string()))?;
    println!("{json}");
    Ok(())
}

pub(crate) fn table(a: TableArgs) -> Result<(), Failure> {
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
    if let Some((done, total)) = sweep::root::Marker::read(&a.dir).map(|m| m.progress(&a.dir))
        && done < total
    {
        println!("partial: {done} of {total} runs finished");
    }
    for (path, text) in [(&a.markdown, &md), (&a.csv, &csv)] {
        if let Some(p) = path {
            experiments::output::write_new(p, text.as_bytes(), a.force)
                .map_err(|e| Failure::Run(e.to_string()))?;
        }
    }
    Ok(())
}
