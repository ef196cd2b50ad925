use super::*;
use crate::presets::{Frob, Trace};
use crate::problems::Quadratic;

#[test]
fn sgd_matches_hand_computed_momentum_steps() {
    let cfg = SgdConfig {
        lr: 0.1,
        momentum: 0.9,
        dampening: 0.1,
        nesterov: false,
        weight_decay: 0.01,
    };
    let mut st = SgdState::default();
    let mut w = vec![1.0];
    sgd_step(&cfg, &mut st, &mut w, &[2.0]);
    // g = 2 + 0.01*1 = 2.01; v = g; w = 1 - 0.201.
    assert_eq!(st.velocity, Some(vec![2.01]));
    assert_eq!(w, vec![1.0 - 0.1 * 2.01]);
    let w1 = w[0];
    sgd_step(&cfg, &mut st, &mut w, &[1.0]);
    let g = w1 * 0.01 + 1.0;
    let v = g * 0.9 + 2.01 * 0.9;
    assert_eq!(st.velocity, Some(vec![v]));
    assert_eq!(w, vec![w1 - v * 0.1]);
    let nesterov = SgdConfig {
        nesterov: true,
        ..cfg
    };
    let mut st = SgdState::default();
    let mut w = vec![1.0];
    sgd_step(&nesterov, &mut st, &mut w, &[2.0]);
    // First step: v = g = 2.01, direction = 0.9 * 2.01 + 2.01.
    assert_eq!(w, vec![1.0 - (2.01 * 0.9 + 2.01) * 0.1]);
}

#[test]
fn bad_inputs_are_errors() {
    let q = Quadratic::spd(0, 3).unwrap();
    let w = q.initial_point();
    assert!(combined_gradient(&q, &w[..2], &Method::Sgd, 0, 0).is_err());
    let ssam = Method::Ssam {
        rho: 0.1,
        mask: vec![true],
    };
    assert!(combined_gradient(&q, &w, &ssam, 0, 0).is_err());
    let frob_one = Method::Universal {
        measure: Arc::new(Frob::default()),
        rho: 0.1,
        lambda: 1.0,
        samples: 1,
        scaling: Scaling::Exact,
    };
    assert_eq!(
        combined_gradient(&q, &w, &frob_one, 0, 0),
        Err(SamError::TooFewSamples { needed: 2, got: 1 })
    );
    let bad_rho = Method::Universal {
        measure: Arc::new(Trace::default()),
        rho: -0.1,
        lambda: 1.0,
        samples: 1,
        scaling: Scaling::Exact,
    };
    assert_eq!(
        combined_gradient(&q, &w, &bad_rho, 0, 0),
        Err(SamError::InvalidRho(-0.1))
    );
    assert!(matches!(
        combined_gradient(&q, &w, &Method::Sam { rho: f64::NAN }, 0, 0),
        Err(SamError::InvalidRho(_))
    ));
}

#[test]
fn universal_perturbations_follow_the_noise_keys() {
    let net = crate::problems::TanhNet::new(1, 4, 2, 3).unwrap();
    let w = net.initial_point();
    let m = Method::Universal {
        measure: Arc::new(Trace::default()),
        rho: 0.1,
        lambda: 1.0,
        samples: 2,
        scaling: Scaling::Exact,
    };
    let r = combined_gradient(&net, &w, &m, 7, 3).unwrap();
    assert_eq!(r.perturbations.len(), 2);
    // Tensor 1 (b1) of sample 1 at step 3 is exactly the key's draws.
    let mut b1 = vec![0.0; 3];
    crate::sampler::Sampler::Gaussian.fill_f64(
        NoiseKey {
            seed: 7,
            step: 3,
            sample: 1,
            tensor: 1,
        },
        0,
        &mut b1,
    );
    assert_eq!(
        &r.perturbations[1][6..9],
        &b1.iter().map(|d| 0.1 * d).collect::<Vec<_>>()[..]
    );
    // Sphere: the whole direction has norm 1.
    let sphere = Trace {
        sampler: crate::sampler::Sampler::Sphere,
    };
    let d = direction(&net, &sphere, 7, 3, 0);
    assert!((norm(&d) - 1.0).abs() < 1e-14);
}

/// Det on a steep quadratic: `x = (L_1 - L_0) / rho^2` is in the
/// thousands, so the coefficient `exp(x)` overflows f64.
fn steep_det() -> (Quadratic, Vec<f64>, Method) {
    let k = 1e9;
    let problem = Quadratic::from_matrix(vec![k, 0.0, 0.0, k], vec![0.0, 0.0], 0.0).unwrap();
    let w = vec![1e-4, -2e-4];
    let method = Method::Universal {
        measure: Arc::new(crate::presets::Det::default()),
        rho: 1.0,
        lambda: 1.0,
        samples: 1,
        scaling: Scaling::Reference,
    };
    (problem, w, method)
}

#[test]
fn an_overflowing_det_step_is_an_error_without_a_bound_and_bounded_with_one() {
    let (problem, w, method) = steep_det();
    let unguarded = combined_gradient(&problem, &w, &method, 3, 0);
    assert!(
        matches!(unguarded, Err(SamError::Overflow { .. })),
        "{unguarded:?}"
    );
    assert!(matches!(
        guarded_gradient(&problem, &w, &method, &Guard::OFF, (3, 0)),
        Err(SamError::Overflow { .. })
    ));
    let r = 0.5;
    let guard = Guard::bounded(r).unwrap();
    let (g, decision) = guarded_gradient(&problem, &w, &method, &guard, (3, 0)).unwrap();
    assert!(
        matches!(decision, Decision::Scale(f) if f < 1e-300),
        "{decision:?}"
    );
    // By hand: with one sample the part is along g_1 - g0 = A delta_1, with
    // Det's positive coefficient, at norm r ||g0||.
    let g0 = problem.gradient(&w);
    let delta = direction(&problem, &crate::presets::Det::default(), 3, 0, 0);
    let ad: Vec<f64> = delta.iter().map(|d| 1e9 * d).collect();
    let scale = r * norm(&g0) / norm(&ad);
    for i in 0..2 {
        let want = g0[i] + scale * ad[i];
        // Rounding of a few f64 operations on numbers of order 1e4.
        assert!((g[i] - want).abs() <= 1e-9 * want.abs().max(1.0), "{g:?}");
    }
    // The nearest wrong answers fail: the sign of the part flipped, or the
    // bound not applied to g0's norm but to 1.
    let flipped: Vec<f64> = (0..2).map(|i| g0[i] - scale * ad[i]).collect();
    assert!((g[0] - flipped[0]).abs() + (g[1] - flipped[1]).abs() > 1e-3);
}

#[test]
fn decide_unbounded_keeps_a_step_within_the_bound() {
    let guard = Guard::bounded(1.0).unwrap();
    // exp(0) * 0.5 is within 1 * 1.
    assert_eq!(
        guard.decide_unbounded(0.0, false, 0.5, 1.0).unwrap(),
        (1.0, Decision::Keep)
    );
    assert_eq!(
        guard.decide_unbounded(0.0, true, 0.5, 1.0).unwrap(),
        (-1.0, Decision::Keep)
    );
    // exp(10) * 0.5 is beyond: brought to norm 1.
    let (f, d) = guard.decide_unbounded(10.0, false, 0.5, 1.0).unwrap();
    assert!((f - 2.0).abs() < 1e-15);
    assert!(matches!(d, Decision::Scale(s) if (s - 2.0 / 10f64.exp()).abs() < 1e-15));
    // A part of norm 0 leaves g0; a NaN part is the non-finite policy's.
    assert_eq!(
        guard.decide_unbounded(1e6, false, 0.0, 1.0).unwrap(),
        (0.0, Decision::Keep)
    );
    assert!(guard.decide_unbounded(1.0, false, f64::NAN, 1.0).is_err());
    let skip = guard.with_on_non_finite(crate::guard::NonFinite::Skip);
    assert_eq!(
        skip.decide_unbounded(1.0, false, f64::NAN, 1.0).unwrap(),
        (0.0, Decision::Skip)
    );
    // Without a bound an overflowing part is non-finite: stop, or skip.
    assert!(Guard::OFF.decide_unbounded(1e6, false, 1.0, 1.0).is_err());
    assert_eq!(
        Guard::OFF
            .with_on_non_finite(crate::guard::NonFinite::Skip)
            .decide_unbounded(1e6, false, 1.0, 1.0)
            .unwrap(),
        (0.0, Decision::Skip)
    );
}
