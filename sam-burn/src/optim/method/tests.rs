use super::*;
use burn::grad_clipping::GradientClippingConfig;
use proptest::prelude::*;
use sam_core::estimator::Scaling;
use sam_core::guard::{Guard, NonFinite};
use sam_core::presets::Preset;
use sam_core::sampler::Sampler;
use sam_core::schedule::Between;

use crate::params::RunningStats;

fn toml_round_trip(m: &MethodConfig) -> MethodConfig {
    let text = toml::to_string(m).unwrap_or_else(|e| panic!("{m:?}: {e}"));
    toml::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn from_toml(text: &str) -> Result<MethodConfig, String> {
    toml::from_str::<MethodConfig>(text).map_err(|e| e.to_string())
}

/// Frob with every field away from its default.
fn frob_changed() -> MethodConfig {
    MethodConfig::Universal(
        UniversalSamConfig::new(Preset::Frob)
            .with_rho(Some(0.02))
            .with_lambda(Some(0.3))
            .with_samples(Some(4))
            .with_sampler(Some(Sampler::Rademacher))
            .with_scaling(Scaling::Exact)
            .with_seed(9)
            .with_running_stats(RunningStats::AllPasses)
            .with_grad_clipping(Some(GradientClippingConfig::Norm(2.0)))
            .with_guard(
                Guard::bounded(0.25)
                    .unwrap()
                    .with_on_non_finite(NonFinite::Skip),
            )
            .with_schedule(Schedule::every(5, Between::Reuse).unwrap()),
    )
}

#[test]
fn every_method_round_trips_through_toml_and_json() {
    let mut all: Vec<MethodConfig> = MethodConfig::names()
        .iter()
        .map(|n| MethodConfig::reference(n).unwrap())
        .collect();
    all.push(frob_changed());
    all.push(MethodConfig::Ssam(
        SsamConfig::new().with_sparsity(0.9).with_fisher_samples(3),
    ));
    for m in &all {
        assert_eq!(&toml_round_trip(m), m);
        let json = serde_json::to_string(m).unwrap();
        assert_eq!(
            &serde_json::from_str::<MethodConfig>(&json).unwrap(),
            m,
            "{json}"
        );
        m.validate().unwrap_or_else(|e| panic!("{m:?}: {e}"));
    }
    // Burn's Config trait saves and loads the same form.
    let dir = std::env::temp_dir().join(format!("sam-burn-method-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("method.json");
    frob_changed().save(&path).unwrap();
    let loaded = MethodConfig::load(&path).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(loaded, frob_changed());
}

#[test]
fn a_table_sets_fields_over_the_reference_settings() {
    let m = from_toml(
        "method = \"FROB\"\nrho = 0.01\nguard = { max_ratio = 0.5 }\nschedule = { every = 3 }",
    )
    .unwrap();
    let MethodConfig::Universal(u) = &m else {
        panic!("{m:?}")
    };
    assert_eq!(
        (u.preset, u.rho, u.lambda),
        (Preset::Frob, Some(0.01), None)
    );
    // Nested tables merge: the unset halves keep their defaults.
    assert_eq!(u.guard, Guard::bounded(0.5).unwrap());
    assert_eq!(u.schedule, Schedule::every(3, Between::Base).unwrap());
    assert_eq!(
        from_toml("").unwrap(),
        MethodConfig::default(),
        "no method: sgd"
    );
    assert_eq!(
        from_toml("method = \"base\"").unwrap().name(),
        "sgd",
        "base is sgd's other name"
    );
    // An enum value (a one-key table) replaces, it does not merge.
    let clip = from_toml("method = \"sam\"\ngrad_clipping = { Value = 1.5 }").unwrap();
    let MethodConfig::Sam(s) = clip else { panic!() };
    assert!(matches!(s.grad_clipping, Some(GradientClippingConfig::Value(v)) if v == 1.5));
    let guard_off = from_toml("method = \"det\"\nguard = { max_ratio = \"off\" }").unwrap();
    let MethodConfig::Universal(d) = guard_off else {
        panic!()
    };
    assert_eq!(d.guard.max_ratio, None);
}

#[test]
fn a_field_the_method_lacks_is_refused_naming_method_and_field() {
    for (text, needle) in [
        (
            "method = \"sam\"\nlambda = 0.1",
            "method `sam` has no field `lambda`",
        ),
        (
            "method = \"sgd\"\nrho = 0.1",
            "method `sgd` has no field `rho`",
        ),
        (
            "method = \"asam\"\nsparsity = 0.1",
            "method `asam` has no field `sparsity`",
        ),
        (
            "method = \"frob\"\npreset = \"Det\"",
            "method `frob` has no field `preset`",
        ),
        (
            "method = \"frob\"\nguard = { ratio = 1 }",
            "method `frob` has no field `guard.ratio`",
        ),
        (
            "method = \"trace\"\nschedule = { evry = 2 }",
            "has no field `schedule.evry`",
        ),
        ("method = \"lbfgs\"", "unknown method `lbfgs`"),
        ("method = 3", "`method` must be a method's name"),
        ("method = \"frob\"\nrho = \"big\"", "`rho` of method `frob`"),
        (
            "method = \"frob\"\nsamples = 2.5",
            "`samples` of method `frob`",
        ),
        (
            "method = \"frob\"\nsampler = \"hypercube\"",
            "`sampler` of method `frob`",
        ),
        ("method = \"frob\"\nrho = inf", "not a finite number"),
        ("method = \"frob\"\nrho = nan", "not a finite number"),
    ] {
        let err = from_toml(text).expect_err(text);
        assert!(err.contains(needle), "{text}: {err}");
    }
    // The error lists the method's fields.
    let err = from_toml("method = \"sam\"\nlambda = 0.1").unwrap_err();
    assert!(
        err.contains("grad_clipping, rho, running_stats, schedule"),
        "{err}"
    );
}

#[test]
fn schema_errors_name_their_field() {
    let table = |text: &str| -> serde_json::Map<String, serde_json::Value> {
        toml::from_str(text).unwrap()
    };
    let err = MethodConfig::from_table(table("method = \"sam\"\nlambda = 1")).unwrap_err();
    assert_eq!(err.field(), Some("lambda"));
    let err = MethodConfig::from_table(table("method = \"nope\"")).unwrap_err();
    assert_eq!(err.field(), Some("method"));
    assert!(matches!(err, SchemaError::UnknownMethod { .. }));
}

#[test]
fn validation_errors_name_the_field_of_the_table() {
    let cases: [(MethodConfig, &str); 5] = [
        (MethodConfig::Sam(SamConfig::new().with_rho(-1.0)), "rho"),
        (
            MethodConfig::Asam(AsamConfig::new().with_eta(f64::NAN)),
            "eta",
        ),
        (
            MethodConfig::Universal(UniversalSamConfig::new(Preset::Frob).with_samples(Some(1))),
            "samples",
        ),
        (
            MethodConfig::Universal(UniversalSamConfig::new(Preset::Det).with_guard(Guard {
                max_ratio: Some(0.0),
                on_non_finite: NonFinite::Stop,
            })),
            "guard.max_ratio",
        ),
        (
            MethodConfig::Ssam(SsamConfig::new().with_schedule(Schedule {
                every: 0,
                between: Between::Base,
            })),
            "schedule.every",
        ),
    ];
    for (m, field) in cases {
        let err = m.validate().expect_err(field);
        assert_eq!(err.config_field(), Some(field), "{err}");
    }
}

proptest! {
    /// Any universal config the schema can write, it reads back.
    #[test]
    fn universal_configs_round_trip(
        preset in 0usize..6,
        rho in proptest::option::of(1e-6f64..10.0),
        lambda in proptest::option::of(0.0f64..10.0),
        samples in proptest::option::of(1usize..8),
        every in 1u64..20,
        reuse in any::<bool>(),
        ratio in proptest::option::of(1e-3f64..100.0),
        skip in any::<bool>(),
    ) {
        let m = MethodConfig::Universal(
            UniversalSamConfig::new(Preset::ALL[preset])
                .with_rho(rho)
                .with_lambda(lambda)
                .with_samples(samples)
                .with_guard(Guard {
                    max_ratio: ratio,
                    on_non_finite: if skip { NonFinite::Skip } else { NonFinite::Stop },
                })
                .with_schedule(Schedule {
                    every,
                    between: if reuse { Between::Reuse } else { Between::Base },
                }),
        );
        prop_assert_eq!(toml_round_trip(&m), m);
    }
}
