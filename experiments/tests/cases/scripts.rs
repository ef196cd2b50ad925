//! The Python scripts read what `usam` writes: `scripts/regen-fixtures.sh`
//! writes real output with the binary under test into a temporary
//! directory, and the scripts' own tests run on it, so a change to usam's
//! output schema fails here rather than in a study on another machine.

use std::process::Command;

use crate::common::python;

const SCRIPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts");

#[test]
fn python_scripts_read_real_usam_output() {
    if !python() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let regen = Command::new("bash")
        .arg(format!("{SCRIPTS}/regen-fixtures.sh"))
        .arg(tmp.path())
        .env("USAM", env!("CARGO_BIN_EXE_usam"))
        .output()
        .expect("bash runs");
    assert!(
        regen.status.success(),
        "regen-fixtures.sh failed: {}",
        String::from_utf8_lossy(&regen.stderr)
    );
    let tests = Command::new("python3")
        .args([
            "-m",
            "unittest",
            "-v",
            "test_compare_steps",
            "test_guard_study",
        ])
        .current_dir(SCRIPTS)
        .env("USAM_OUTPUT_DIR", tmp.path())
        .output()
        .expect("python3 runs");
    let report = String::from_utf8_lossy(&tests.stderr);
    assert!(tests.status.success(), "{report}");
    // The real-output tests ran (and were not skipped).
    for name in [
        "test_reads_what_usam_bench_steps_writes",
        "test_table_of_two_sweeps",
        "test_ratios_of_logged_steps",
    ] {
        assert!(
            report
                .lines()
                .any(|l| l.starts_with(name) && l.ends_with("ok")),
            "{name} did not pass: {report}"
        );
    }
}
