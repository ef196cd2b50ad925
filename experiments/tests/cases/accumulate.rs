//! `usam train --accumulate K`: the effective batch in `config.toml`, the
//! one-batch trajectory up to rounding, and bad values refused by name.

use std::path::Path;

use crate::common;
use common::{ok, usam, words};

/// Three steps of `method` at batch 32 into `out`, with `extra` flags.
fn run(out: &Path, method: &str, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = words(
        "train --quiet --epochs 2 --batch-size 32 --set steps_per_epoch=3 --set hessian_every=0",
    );
    args.extend(["--method", method, "--out", out.to_str().unwrap()]);
    args.extend(extra);
    ok(&args);
    std::fs::read_to_string(out.join("epochs.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The figures of an epoch a trajectory is compared by.
fn figures(epoch: &serde_json::Value) -> [f64; 3] {
    [
        epoch["train_loss"].as_f64().unwrap(),
        epoch["test"]["loss"].as_f64().unwrap(),
        epoch["train_accuracy"].as_f64().unwrap(),
    ]
}

#[test]
fn accumulated_runs_follow_the_one_batch_trajectory() {
    let tmp = tempfile::tempdir().unwrap();
    for method in ["sgd", "sam", "frob"] {
        let whole = run(&tmp.path().join(format!("{method}-1")), method, &[]);
        let dir = tmp.path().join(format!("{method}-4"));
        // 4 micro-batches of 8: the MLP has no batch norm, so the steps
        // are the one-batch steps.
        let micro = run(&dir, method, &["--accumulate", "4"]);
        assert_eq!(whole.len(), micro.len());
        for (a, b) in whole.iter().zip(&micro) {
            for (x, y) in figures(a).into_iter().zip(figures(b)) {
                // Six steps that differ only in the f32 summation order of
                // 32 examples (about 1e-7 relative per step, amplified by
                // the momentum's sum and the perturbations' normalisation):
                // 1e-4 relative holds them; a wrong weighting or a per-
                // micro-batch perturbation changes the loss in the third
                // digit.
                assert!(
                    (x - y).abs() <= 1e-4 * x.abs().max(1e-3),
                    "{method}: {a} vs {b}"
                );
            }
        }
        let config = std::fs::read_to_string(dir.join("config.toml")).unwrap();
        assert!(config.contains("accumulate = 4"), "{config}");
        assert!(
            config.contains("the effective batch is batch_size = 32")
                && config.contains("micro-batches of about 8"),
            "{config}"
        );
    }
}

#[test]
fn bad_accumulation_values_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    for (k, needle) in [("0", "must be at least 1"), ("33", "at most batch_size")] {
        let out = tmp.path().join(format!("k{k}"));
        let mut args = words("train --quiet --epochs 1 --batch-size 32");
        args.extend(["--accumulate", k, "--out", out.to_str().unwrap()]);
        let result = usam(&args);
        let err = String::from_utf8_lossy(&result.stderr);
        assert_eq!(result.status.code(), Some(2), "{err}");
        assert!(err.contains("accumulate") && err.contains(needle), "{err}");
        assert!(!out.exists(), "nothing is created on bad input");
    }
}
