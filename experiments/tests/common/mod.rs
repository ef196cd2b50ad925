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
