//! Configuration files written for usam 0.1 (its flat `[optimizer]` table:
//! `guard_ratio`, `every`, `bn_all_passes`, ... beside every method's
//! settings) still load, into the same methods as today's layout. The
//! fixtures are real: the sweep files as they shipped, and the
//! `config.toml` files that 0.1's `usam demo` wrote.

use std::path::{Path, PathBuf};

use experiments::config::TrainConfig;
use experiments::sweep::SweepConfig;
use sam_burn::optim::MethodConfig;
use sam_core::guard::Guard;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/legacy")
        .join(name)
}

fn config(path: &Path) -> TrainConfig {
    TrainConfig::from_file(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn run_directories_written_by_usam_0_1_load_as_the_same_methods() {
    for (method, expected) in [
        ("sgd", "optimizer.method=sgd"),
        ("sam", "optimizer.method=sam"),
        ("frob", "optimizer.method=frob"),
    ] {
        let old = config(&fixture(&format!("run-{method}-config.toml")));
        let mut sets = vec![expected.to_string()];
        if method == "frob" {
            // The demo's Frob-SAM: rho 0.01, the usam default guard (0.5).
            sets.push("optimizer.rho=0.01".into());
        }
        let new = TrainConfig::default()
            .with_overrides(&sets)
            .unwrap()
            .optimizer;
        assert_eq!(old.optimizer, new, "{method}");
        old.clone().validate().unwrap();
        // Written again, the run's configuration is in today's layout and
        // reads back to itself.
        let text = old.to_toml();
        assert!(
            !text.contains("guard_ratio") && !text.contains("eta ="),
            "{text}"
        );
        assert_eq!(TrainConfig::from_toml(&text).unwrap(), old);
    }
    let frob = config(&fixture("run-frob-config.toml"));
    let MethodConfig::Universal(u) = &frob.optimizer else {
        panic!("{:?}", frob.optimizer)
    };
    assert_eq!(u.guard, Guard::recommended());
}

#[test]
fn the_sweep_files_of_usam_0_1_give_the_runs_of_todays_files() {
    for name in [
        "paper-table.toml",
        "mnist-study.toml",
        "lr-study.toml",
        "schedule-study.toml",
    ] {
        let old = SweepConfig::from_file(&fixture(name)).unwrap();
        let new = SweepConfig::from_file(&Path::new("../configs").join(name)).unwrap();
        let out = Path::new("out");
        let (old, new) = (
            old.runs::<&str>(out, &[]).unwrap(),
            new.runs::<&str>(out, &[]).unwrap(),
        );
        assert_eq!(old.len(), new.len(), "{name}");
        for (a, b) in old.iter().zip(&new) {
            assert_eq!(a.dir, b.dir, "{name}");
            assert_eq!(*a.config, *b.config, "{name}: {}", a.dir.display());
        }
    }
    let old = config(&fixture("cifar10-frob.toml"));
    let new = config(Path::new("../configs/cifar10-frob.toml"));
    assert_eq!(old, new);
    let MethodConfig::Universal(u) = &new.optimizer else {
        panic!("{:?}", new.optimizer)
    };
    assert_eq!(u.guard, Guard::OFF, "the paper's step: no guard");
}

#[test]
fn a_0_1_name_given_with_set_still_works() {
    // The Justfile of 0.1 switched the guard off this way.
    let sweep = SweepConfig::from_file(Path::new("../configs/lr-study.toml")).unwrap();
    let runs = sweep
        .runs(Path::new("out"), &["optimizer.guard_ratio=off"])
        .unwrap();
    for run in &runs {
        match &run.config.optimizer {
            MethodConfig::Universal(u) => assert_eq!(u.guard.max_ratio, None),
            other => assert!(!other.field_names().contains(&"guard".to_string())),
        }
    }
    // A field no method of the sweep has is refused before any work.
    let err = sweep
        .runs(Path::new("out"), &["optimizer.sparsity=0.2"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("optimizer.sparsity"), "{err}");
}

#[test]
fn a_legacy_table_with_an_unknown_key_is_refused_by_name() {
    let err =
        TrainConfig::from_toml("[optimizer]\nmethod = \"frob\"\nguard_ratio = 0.5\nrhoo = 0.1\n")
            .unwrap_err()
            .to_string();
    assert!(err.contains("method `frob` has no field `rhoo`"), "{err}");
}
