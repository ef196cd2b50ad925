//! Helpers shared by the tests that run the `usam` binary.

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
