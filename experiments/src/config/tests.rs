use super::*;
use proptest::prelude::*;
use sam_burn::optim::Guard;
use sam_burn::optim::{BaseConfig, UniversalSamConfig};
use sam_core::presets::Preset;

fn universal(c: &TrainConfig) -> &UniversalSamConfig {
    match &c.optimizer {
        MethodConfig::Universal(u) => u,
        other => panic!("not a universal method: {other:?}"),
    }
}

#[test]
fn defaults_round_trip_through_toml() {
    let c = TrainConfig::default();
    assert_eq!(TrainConfig::from_toml(&c.to_toml()).unwrap(), c);
    c.validate().unwrap();
}

#[test]
fn every_method_round_trips_through_toml_with_usams_defaults() {
    for name in MethodConfig::names() {
        let c = TrainConfig::default()
            .with_overrides(&[format!("optimizer.method={name}")])
            .unwrap();
        assert_eq!(c.optimizer.name(), name);
        let back = TrainConfig::from_toml(&c.to_toml()).unwrap();
        assert_eq!(back, c, "{name}");
        back.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
        // The universal class is guarded by default (the library's own
        // default is the reference code's unguarded step).
        if let MethodConfig::Universal(u) = &c.optimizer {
            assert_eq!(u.guard, Guard::recommended(), "{name}");
        }
    }
}

#[test]
fn overrides_reach_nested_fields() {
    let c = TrainConfig::default()
        .with_overrides(&[
            "optimizer.method=frob",
            "optimizer.rho=0.01",
            "optimizer.guard.max_ratio=\"off\"",
            "optimizer.schedule.every=5",
            "epochs=3",
        ])
        .unwrap();
    let u = universal(&c);
    assert_eq!((u.preset, u.rho), (Preset::Frob, Some(0.01)));
    assert_eq!(u.guard.max_ratio, None);
    assert_eq!(u.schedule.every, 5);
    assert_eq!(c.epochs, 3);
}

#[test]
fn switching_methods_keeps_what_was_set_and_refuses_what_the_new_one_lacks() {
    let frob = TrainConfig::default()
        .with_overrides(&["optimizer.method=frob", "optimizer.rho=0.02"])
        .unwrap();
    // Trace has rho: the setting travels.
    let trace = frob
        .clone()
        .with_overrides(&["optimizer.method=trace"])
        .unwrap();
    assert_eq!(universal(&trace).rho, Some(0.02));
    // Frob's defaults (its guard, say) are not "settings": sgd takes none.
    let plain = TrainConfig::default()
        .with_overrides(&["optimizer.method=frob"])
        .unwrap()
        .with_overrides(&["optimizer.method=sgd"])
        .unwrap();
    assert_eq!(plain.optimizer, MethodConfig::default());
    // lambda is set, and SAM has none: refused by name.
    let err = frob
        .with_overrides(&["optimizer.lambda=0.1", "optimizer.method=sam"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("method `sam` has no field `lambda`"), "{err}");
}

#[test]
fn command_line_names_parse() {
    assert_eq!(
        LrSchedule::of_kind(ScheduleKind::Multistep, &[], 0.2, 200),
        LrSchedule::Multistep {
            milestones: vec![50, 100, 150],
            gamma: 0.2
        }
    );
    assert_eq!("Cosine".parse::<ScheduleKind>(), Ok(ScheduleKind::Cosine));
    assert!(
        "step"
            .parse::<ScheduleKind>()
            .unwrap_err()
            .contains("multistep")
    );
    assert_eq!("adamw".parse::<BaseKind>(), Ok(BaseKind::Adamw));
    assert!(
        "lbfgs"
            .parse::<BaseKind>()
            .unwrap_err()
            .contains("sgd, adam")
    );
}

#[test]
fn unknown_fields_are_rejected_naming_the_method_and_field() {
    let err = TrainConfig::default()
        .with_overrides(&["optimizer.method=frob", "optimizer.rhoo=1"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("method `frob` has no field `rhoo`"), "{err}");
    assert!(err.contains("rho"), "the message lists the fields: {err}");
    let err = TrainConfig::from_toml("[optimizer]\nmethod = \"asam\"\nsparsity = 0.5")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("method `asam` has no field `sparsity`"),
        "{err}"
    );
    let err = TrainConfig::from_toml("[optimizer]\nmethod = \"det\"\nguard = { ratio = 1 }")
        .unwrap_err()
        .to_string();
    assert!(err.contains("has no field `guard.ratio`"), "{err}");
    let err = TrainConfig::from_toml("[optimizer]\nmethod = \"frob\"\nseed = 3")
        .unwrap_err()
        .to_string();
    assert!(err.contains("the run's `seed`"), "{err}");
    assert!(TrainConfig::from_toml("epochz = 3").is_err());
    assert!(matches!(
        TrainConfig::default().with_overrides(&["=3"]),
        Err(ConfigError::Set(_))
    ));
}

#[test]
fn out_of_range_values_are_rejected_by_field() {
    for (set, field) in [
        ("label_noise=1.5", "label_noise"),
        ("data_fraction=0", "data_fraction"),
        ("epochs=0", "epochs"),
        ("eval_batch_size=0", "eval_batch_size"),
        ("base.lr=-1", "base.lr"),
        ("dataset=\"imagenet\"", "dataset"),
    ] {
        let c = TrainConfig::default().with_overrides(&[set]).unwrap();
        let err = c.validate().unwrap_err();
        assert!(
            matches!(&err, ConfigError::Invalid { field: f, .. } if f == field),
            "{set}: {err}"
        );
    }
    let c = TrainConfig::default()
        .with_overrides(&["hessian_every=1", "hessian_probes=0"])
        .unwrap();
    assert!(matches!(
        c.validate(),
        Err(ConfigError::Invalid { field, .. }) if field == "hessian_probes"
    ));
}

#[test]
fn methods_are_checked_by_their_own_validation_naming_the_field() {
    for (sets, field) in [
        (
            &["optimizer.method=sam", "optimizer.rho=-0.1"][..],
            "optimizer.rho",
        ),
        (
            &["optimizer.method=ssam", "optimizer.sparsity=1.5"],
            "optimizer.sparsity",
        ),
        (
            &["optimizer.method=frob", "optimizer.samples=1"],
            "optimizer.samples",
        ),
        (
            &["optimizer.method=frob", "optimizer.rho=0"],
            "optimizer.rho",
        ),
        (
            &["optimizer.method=trace", "optimizer.lambda=-1"],
            "optimizer.lambda",
        ),
        (
            &["optimizer.method=asam", "optimizer.schedule.every=0"],
            "optimizer.schedule.every",
        ),
        (
            &["optimizer.method=det", "optimizer.guard.max_ratio=-2"],
            "optimizer.guard.max_ratio",
        ),
        (
            &["optimizer.method=det", "optimizer.sampler=\"gaussian\""],
            "optimizer.sampler",
        ),
    ] {
        let c = TrainConfig::default().with_overrides(sets).unwrap();
        let err = c.validate().unwrap_err();
        assert!(
            matches!(&err, ConfigError::Invalid { field: f, .. } if f == field),
            "{sets:?}: {err}"
        );
    }
    // A value the schema cannot read names its field before validation.
    for (set, needle) in [
        ("optimizer.sampler=\"hypercube\"", "sampler"),
        ("optimizer.samples=2.5", "samples"),
        ("optimizer.method=\"lbfgs\"", "unknown method `lbfgs`"),
    ] {
        let err = TrainConfig::default()
            .with_overrides(&["optimizer.method=trace", set])
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{set}: {err}");
    }
}

#[test]
fn the_base_optimizer_alone_takes_clipping_too() {
    let c = TrainConfig::from_toml("[optimizer]\nmethod = \"sgd\"\ngrad_clipping = { Norm = 1.0 }")
        .unwrap();
    match &c.optimizer {
        MethodConfig::Base(BaseConfig { grad_clipping }) => assert!(grad_clipping.is_some()),
        other => panic!("sgd gave {other:?}"),
    }
}

#[test]
fn the_runs_seed_seeds_the_methods_noise() {
    let c = TrainConfig::default()
        .with_overrides(&["optimizer.method=frob", "seed=11"])
        .unwrap()
        .validate()
        .unwrap();
    match c.method() {
        MethodConfig::Universal(u) => assert_eq!(u.seed, 11),
        other => panic!("frob gave {other:?}"),
    }
    assert!(
        !c.to_toml().contains("seed = 0"),
        "no second seed in config.toml"
    );
}

#[test]
fn resume_lists_every_changed_setting_and_keeps_the_allowed_ones() {
    let stored = TrainConfig::default()
        .with_overrides(&["optimizer.method=frob", "epochs=4"])
        .unwrap();
    // More epochs and another backend are fine.
    let more = stored
        .clone()
        .with_overrides(&["epochs=9", "backend=\"ndarray\""])
        .unwrap()
        .validate()
        .unwrap();
    let resumed = more.resuming(&stored).unwrap();
    assert_eq!((resumed.epochs, resumed.backend), (9, BackendKind::Ndarray));
    // Anything else is refused, naming each setting.
    let changed = stored
        .clone()
        .with_overrides(&["optimizer.method=sam", "optimizer.rho=0.1", "base.lr=0.2"])
        .unwrap()
        .validate()
        .unwrap();
    let err = changed.resuming(&stored).unwrap_err().to_string();
    for needle in [
        "optimizer.method: \"frob\" -> \"sam\"",
        "optimizer.rho: unset -> 0.1",
        "base.lr",
    ] {
        assert!(err.contains(needle), "{needle} missing from: {err}");
    }
}

#[test]
fn lr_schedules() {
    let m = LrSchedule::Multistep {
        milestones: vec![50, 100, 150],
        gamma: 0.1,
    };
    // Exact: no drop has happened at epoch 0.
    assert_eq!(m.lr(0.1, 0, 200), 0.1);
    // 0.1 * 0.1 and 0.1 * 0.1^3 are a few ulps from 0.01 and 1e-4:
    // 1e-15 is about ten ulps of 0.01.
    assert!((m.lr(0.1, 50, 200) - 0.01).abs() < 1e-15);
    assert!((m.lr(0.1, 199, 200) - 1e-4).abs() < 1e-15);
    let c = LrSchedule::Cosine { min_lr: 0.0 };
    assert_eq!(c.lr(0.1, 0, 11), 0.1);
    // cos(pi) = -1 up to rounding: 0.05 (1 + cos pi) is ~1e-18 from 0.
    assert!(c.lr(0.1, 10, 11).abs() < 1e-15);
    // cos(pi / 2) is 6e-17, not 0: the midpoint is 0.05 within 1e-12.
    assert!((c.lr(0.1, 5, 11) - 0.05).abs() < 1e-12);
}

proptest! {
    #[test]
    fn arbitrary_set_strings_never_panic(s in ".{0,40}") {
        let _ = TrainConfig::default().with_overrides(&[s]);
    }

    #[test]
    fn multistep_defaults_scale_the_papers_milestones(epochs in 1usize..1000) {
        let s = LrSchedule::of_kind(ScheduleKind::Multistep, &[], 0.1, epochs);
        let LrSchedule::Multistep { milestones, .. } = s else { panic!("{s:?}") };
        prop_assert!(milestones.windows(2).all(|w| w[0] <= w[1]));
        prop_assert!(milestones.iter().all(|&m| m < epochs));
    }

    #[test]
    fn multistep_never_increases(epoch in 0usize..300) {
        let m = LrSchedule::Multistep { milestones: vec![50, 100, 150], gamma: 0.1 };
        prop_assert!(m.lr(0.1, epoch + 1, 300) <= m.lr(0.1, epoch, 300));
    }
}

/// A run is validated once, wherever it was configured: `validate` is the
/// only way to a `RunConfig`, and a run starts from one without checking
/// again (this thread's count of validations shows it).
#[test]
fn a_run_is_validated_once() {
    let before = validations_on_this_thread();
    let cfg = TrainConfig {
        epochs: 1,
        steps_per_epoch: Some(2),
        eval_train: false,
        ..TrainConfig::default()
    }
    .validate()
    .unwrap();
    assert_eq!(validations_on_this_thread(), before + 1);
    let dir = tempfile::tempdir().unwrap();
    let options = crate::train::RunOptions {
        out: dir.path().join("r"),
        resume: false,
        from_epoch: None,
        progress: false,
        lock: None,
    };
    crate::train::run(cfg, options).unwrap();
    assert_eq!(
        validations_on_this_thread(),
        before + 1,
        "the run did not validate again"
    );
    // A sweep validates each of its runs once, as it expands the grid.
    let sweep: crate::sweep::SweepConfig = toml::from_str(
        "methods = [\"sgd\", \"frob\"]\ndatasets = [\"mnist-10k\"]\nseeds = [1, 2]\n[[regimes]]\nname = \"full\"\n",
    )
    .unwrap();
    let runs = sweep.runs::<&str>(dir.path(), &[]).unwrap();
    assert_eq!(validations_on_this_thread(), before + 1 + runs.len());
}
