//! Helpers shared by the tests that run the `usam` binary.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `usam` with `args`, capturing its output.
pub fn usam(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_usam"))
        .args(args)
        .output()
        .expect("the binary runs")
}

/// Runs `usam` with `args`, which must succeed; returns its stdout.
pub fn ok(args: &[&str]) -> String {
    let out = usam(args);
    assert!(
        out.status.success(),
        "usam {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Splits a command line written as one string (flags and values without
/// spaces) into `usam`'s arguments.
pub fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// The JSON file at `path`, parsed.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> T {
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Waits until `path` exists (a background process got that far).
pub fn wait_for(path: &Path) {
    for _ in 0..600 {
        if path.exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("{} never appeared", path.display());
}

/// Whether the wgpu checks run, by `USAM_WGPU_TESTS` through
/// `sam_burn::check::Gate` (the parser the sam-burn tests use): `1`
/// requires an adapter (CI, on lavapipe), `0` skips, unset or `auto` runs
/// where an adapter can be created and says why otherwise.
pub fn wgpu_enabled() -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ENABLED.get_or_init(|| {
        let probe = || {
            std::panic::catch_unwind(|| {
                let device = burn::backend::wgpu::WgpuDevice::default();
                burn::tensor::Tensor::<burn::backend::Wgpu, 1>::from_floats([1.0, 2.0], &device)
                    .sum()
                    .into_data()
            })
            .is_ok()
        };
        sam_burn::check::Gate::decide("USAM_WGPU_TESTS", "a wgpu adapter", probe)
            .unwrap_or_else(|e| panic!("{e}"))
    })
}

/// Whether python3 runs, by `USAM_PYTHON_TESTS` (CI sets 1: required);
/// elsewhere its absence skips the Python checks with a note.
pub fn python() -> bool {
    sam_burn::check::Gate::decide("USAM_PYTHON_TESTS", "python3", || {
        Command::new("python3")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
    .unwrap_or_else(|e| panic!("{e}"))
}
