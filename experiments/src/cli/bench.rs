//! `usam bench`: step times, Hessian-vector products, and peak memory
//! measured one method per process.

use experiments::bench::{self, BenchOptions};

use super::args::BenchArgs;
use super::failure::Failure;

pub(crate) fn bench_cmd(a: BenchArgs) -> Result<(), Failure> {
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
        "parallel" => {
            let rows = bench::scaling_timings(options.clone(), &a.devices)?;
            print!("{}", bench::scaling_table(&rows, &options, &a.devices));
        }
        "hessian" => {
            let timing = bench::hvp_timings(options.clone(), a.probes)?;
            print!("{}", bench::hvp_report(&timing, &options));
        }
        "memory-probe" => {
            let params = bench::memory_probe(options)?;
            println!(
                "PEAK_HEAP {} PEAK_RSS {} PARAMS {params}",
                crate::HEAP.peak(),
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
pub(crate) fn memory_table(a: &BenchArgs) -> Result<String, Failure> {
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
