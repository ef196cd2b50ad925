//! `usam sweep`: this process as one worker of the grid (any number of
//! others may share its `--out`), several workers on this machine
//! (`--workers`), a static part of the grid (`--shard`), or where the
//! sweep stands (`--status`).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use experiments::backend::BackendKind;
use experiments::sweep::root::{Marker, RootError, claim};
use experiments::sweep::worker::{Shard, WorkerOptions, work};
use experiments::sweep::{self, SweepConfig, status::standings};

use super::args::SweepArgs;
use super::failure::Failure;

pub(crate) fn sweep_cmd(a: SweepArgs) -> Result<(), Failure> {
    if let Some(dir) = &a.status {
        return print_status(dir);
    }
    let (Some(config), Some(out)) = (&a.config, &a.out) else {
        return Err(Failure::Usage("--config and --out name the sweep".into()));
    };
    if a.lease < 3 {
        return Err(Failure::Usage(format!(
            "--lease {}: a claim needs at least three heartbeats (one a second): 3 seconds or more",
            a.lease
        )));
    }
    let shard = shard(a.shard.as_deref())?;
    let sweep = SweepConfig::from_file(config)?;
    let runs = sweep.runs(out, &a.sets)?;
    if runs.is_empty() {
        return Err(Failure::Usage(format!(
            "{}: the grid has no run (are `methods`, `datasets`, `regimes` and `seeds` all non-empty?)",
            config.display()
        )));
    }
    claim(out, &runs, a.dry_run).map_err(|e| match e {
        RootError::Output(o @ experiments::output::OutputError::Locked(_)) => {
            Failure::Run(o.to_string())
        }
        other => Failure::Usage(other.to_string()),
    })?;
    if a.dry_run {
        for (i, run) in runs.iter().enumerate().filter(|(i, _)| shard.contains(*i)) {
            let status = sweep::status(&run.dir);
            println!(
                "[{}/{}] {} ({status:?})",
                i + 1,
                runs.len(),
                run.dir.display()
            );
        }
        return Ok(());
    }
    if a.workers > 1 {
        let cpu = runs
            .iter()
            .all(|r| matches!(r.config.backend, BackendKind::Cpu | BackendKind::Ndarray));
        spawn_workers(&a, (config, out), runs.len(), cpu)?;
        return finish(out);
    }
    let options = WorkerOptions {
        shard,
        lease: Duration::from_secs(a.lease),
        progress: !a.quiet,
    };
    let done = work(runs, &options, &mut |line| println!("{line}"))?;
    if done.trained.is_empty() && done.failed.is_empty() {
        println!(
            "no run left for this worker to take: each is finished, failed, or another worker's"
        );
    }
    if a.worker { Ok(()) } else { finish(out) }
}

/// The shard of `--shard`.
fn shard(arg: Option<&str>) -> Result<Shard, Failure> {
    match arg {
        None => Ok(Shard::ALL),
        Some("auto") => Shard::from_env(|name| std::env::var(name).ok())
            .map_err(|e| Failure::Usage(format!("--shard auto: {e}"))),
        Some(text) => text
            .parse()
            .map_err(|e| Failure::Usage(format!("--shard {text}: {e}"))),
    }
}

/// The table of what is finished, marked partial while runs are left, and
/// the report.
fn finish(out: &Path) -> Result<(), Failure> {
    let cells = sweep::collect(out).map_err(|e| Failure::Run(e.to_string()))?;
    println!("\n{}", sweep::markdown(&cells));
    if let Some((done, total)) = Marker::read(out).map(|m| m.progress(out))
        && done < total
    {
        println!(
            "partial: {done} of {total} runs finished (`usam sweep --status {}`)",
            out.display()
        );
    }
    match experiments::report::write_for_sweep(out) {
        Ok(w) => {
            println!(
                "report: {} (Markdown: {})",
                w.html.display(),
                w.markdown.display()
            );
            Ok(())
        }
        Err(e) => Err(Failure::Run(format!("cannot write the report: {e}"))),
    }
}

/// `--workers N`: N copies of this command as child processes, each pinned
/// to a device of `--devices` (round robin), or sharing the cores on CPU
/// backends; their lines are printed prefixed with the worker's number.
fn spawn_workers(
    a: &SweepArgs,
    (config, out): (&Path, &Path),
    runs: usize,
    cpu: bool,
) -> Result<(), Failure> {
    let exe = std::env::current_exe().map_err(|e| Failure::Run(e.to_string()))?;
    let n = a.workers;
    if n > runs {
        println!(
            "{n} workers for {runs} runs: the last {} will find nothing to take",
            n - runs
        );
    }
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let mut children = Vec::with_capacity(n);
    for k in 0..n {
        let mut cmd = Command::new(&exe);
        cmd.arg("sweep")
            .arg("--config")
            .arg(config)
            .arg("--out")
            .arg(out);
        cmd.args(["--quiet", "--worker", "--lease", &a.lease.to_string()]);
        if let Some(shard) = &a.shard {
            cmd.args(["--shard", shard]);
        }
        for set in &a.sets {
            cmd.args(["--set", set]);
        }
        if let Some(d) = (!a.devices.is_empty()).then(|| a.devices[k % a.devices.len()]) {
            cmd.args(["--set", &format!("device={d}")]);
        }
        if cpu {
            // Burn's CPU backend runs on rayon's pool: one share each.
            cmd.env("RAYON_NUM_THREADS", (cores / n).max(1).to_string());
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| Failure::Run(format!("cannot start worker {k}: {e}")))?;
        let stdout = child.stdout.take().expect("piped");
        let echo = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                println!("[worker {k}] {line}");
            }
        });
        children.push((k, child, echo));
    }
    let mut failed = Vec::new();
    for (k, mut child, echo) in children {
        let status = child.wait().map_err(|e| Failure::Run(e.to_string()))?;
        let _ = echo.join();
        if !status.success() {
            failed.push(format!("worker {k} ({status})"));
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failure::Run(format!(
            "{} failed; the sweep can be run again to finish",
            failed.join(", ")
        )))
    }
}

/// `--status DIR`: where each run stands; exit 0 only when all are done.
fn print_status(dir: &Path) -> Result<(), Failure> {
    let Some(standings) = standings(dir) else {
        return Err(Failure::Usage(format!(
            "{} holds no sweep (no sweep.json): pass the --out of `usam sweep`",
            dir.display()
        )));
    };
    print!("{}", sweep::status::render(&standings));
    if sweep::status::all_done(&standings) {
        Ok(())
    } else {
        Err(Failure::Run("the sweep is not finished".into()))
    }
}
