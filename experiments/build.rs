//! Embeds the commit the binary was built from (`git describe --always
//! --dirty`), for the provenance of runs and reports; "unknown" outside a
//! git checkout.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn main() {
    let commit = git(&["describe", "--always", "--dirty", "--abbrev=12"]);
    println!(
        "cargo:rustc-env=USAM_GIT_COMMIT={}",
        commit.as_deref().unwrap_or("unknown")
    );
    // A new commit moves HEAD or the index; edits here change src.
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        println!("cargo:rerun-if-changed={dir}/index");
    }
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=build.rs");
}
