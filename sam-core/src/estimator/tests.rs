use super::*;
use crate::presets::{Det, Frob, Trace};

/// Trace with a stream plan that has nowhere to put the gradients.
#[derive(Debug)]
struct NoSlots;

impl Measure for NoSlots {
    fn name(&self) -> String {
        "no-slots".into()
    }
    fn sampler(&self) -> crate::sampler::Sampler {
        Trace::default().sampler()
    }
    fn min_samples(&self) -> usize {
        1
    }
    fn evaluate(&self, xs: &[f64]) -> Result<crate::measure::Evaluation> {
        Trace::default().evaluate(xs)
    }
    fn stream_plan(&self, _samples: usize) -> crate::measure::StreamPlan {
        crate::measure::StreamPlan {
            slots: 0,
            fixed: None,
        }
    }
    fn slot_weights(&self, _x: f64, _out: &mut [f64]) -> Result<()> {
        Ok(())
    }
    fn slot_finals(&self, _xs: &[f64]) -> Result<Vec<f64>> {
        Ok(Vec::new())
    }
}

#[test]
fn a_plan_without_slots_is_a_typed_error() {
    let e = Estimator::new(&NoSlots, 0.1, 1.0, Scaling::Exact).unwrap();
    for r in [e.stream(1.0), e.stream_with_samples(1.0, 2)] {
        assert!(matches!(
            r,
            Err(SamError::InvalidParameter {
                name: "stream_plan.slots",
                ..
            })
        ));
    }
}

#[test]
fn direct_weight_checks_its_input() {
    let frob = Frob::default();
    let est = Estimator::new(&frob, 0.1, 1.0, Scaling::Exact).unwrap();
    let mut stream = est.stream_with_samples(1.0, 2).unwrap();
    let w0 = stream.push(1.01).unwrap();
    let w1 = stream.push(1.03).unwrap();
    let r = stream.finish().unwrap();
    // Frob's slot 1 has weight 1 for every sample, slot 0 the shifted x.
    assert_eq!(w0[1], 1.0);
    assert_eq!(w1[1], 1.0);
    let expected = w1[0] * r.slot_weights[0] + r.slot_weights[1];
    assert_eq!(r.direct_weight(&w1).unwrap(), expected);
    assert!(matches!(
        r.direct_weight(&[1.0]),
        Err(SamError::InvalidParameter {
            name: "weights",
            ..
        })
    ));
    assert!(matches!(
        r.direct_weight(&[f64::MAX, f64::MAX]),
        Err(SamError::NonFinite { .. })
    ));
}

#[test]
fn constructor_rejects_bad_hyperparameters() {
    let t = Trace::default();
    for rho in [0.0, -0.1, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            Estimator::new(&t, rho, 1.0, Scaling::Exact),
            Err(SamError::InvalidRho(_))
        ));
    }
    for lambda in [-1e-9, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            Estimator::new(&t, 0.1, lambda, Scaling::Exact),
            Err(SamError::InvalidLambda(_))
        ));
    }
    // lambda / rho^2 overflows.
    assert!(matches!(
        Estimator::new(&t, 1e-200, 1.0, Scaling::Exact),
        Err(SamError::NonFinite { .. })
    ));
    let bad_cube = Det { half_width: 0.0 };
    assert!(matches!(
        Estimator::new(&bad_cube, 0.1, 1.0, Scaling::Exact),
        Err(SamError::InvalidParameter {
            name: "half_width",
            ..
        })
    ));
}

#[test]
fn bad_losses_are_typed_errors() {
    let frob = Frob::default();
    let est = Estimator::new(&frob, 0.1, 1.0, Scaling::Exact).unwrap();
    assert_eq!(est.estimate(1.0, &[]), Err(SamError::NoSamples));
    assert_eq!(
        est.estimate(1.0, &[1.1]),
        Err(SamError::TooFewSamples { needed: 2, got: 1 })
    );
    assert_eq!(
        est.estimate(1.0, &[1.1, f64::INFINITY]),
        Err(SamError::NonFiniteLoss {
            index: 1,
            value: f64::INFINITY
        })
    );
    assert!(matches!(
        est.estimate(1.0, &[f64::NAN, 1.0]),
        Err(SamError::NonFiniteLoss { index: 0, .. })
    ));
    assert!(matches!(
        est.estimate(f64::NAN, &[1.0, 1.0]),
        Err(SamError::NonFinite { .. })
    ));
    // Finite losses whose difference overflows once divided by rho^2.
    let tiny = Estimator::new(&frob, 1e-160, 0.0, Scaling::Exact).unwrap();
    assert!(matches!(
        tiny.estimate(-1e300, &[1e300, 0.0]),
        Err(SamError::NonFinite { .. })
    ));
    // Streams report the same errors.
    assert_eq!(
        est.stream_with_samples(1.0, 1).err(),
        Some(SamError::TooFewSamples { needed: 2, got: 1 })
    );
    assert_eq!(
        est.stream_with_samples(1.0, 0).err(),
        Some(SamError::NoSamples)
    );
    let mut s = est.stream(1.0).unwrap();
    assert_eq!(
        s.push(f64::NAN)
            .err()
            .map(|e| matches!(e, SamError::NonFiniteLoss { index: 0, .. })),
        Some(true)
    );
    s.push(1.2).unwrap();
    assert_eq!(
        s.finish(),
        Err(SamError::TooFewSamples { needed: 2, got: 1 })
    );
    let s = est.stream(1.0).unwrap();
    assert_eq!(s.finish(), Err(SamError::NoSamples));
    let mut s = est.stream_with_samples(1.0, 2).unwrap();
    s.push(1.0).unwrap();
    s.push(1.0).unwrap();
    assert!(matches!(
        s.push(1.0),
        Err(SamError::InvalidParameter {
            name: "samples",
            ..
        })
    ));
    let mut s = est.stream_with_samples(1.0, 3).unwrap();
    s.push(1.0).unwrap();
    s.push(1.0).unwrap();
    assert_eq!(
        s.finish(),
        Err(SamError::TooFewSamples { needed: 3, got: 2 })
    );
}

#[test]
fn lambda_zero_gives_exactly_the_base_gradient() {
    for m in [
        &Trace::default() as &dyn Measure,
        &Frob::default(),
        &Det::default(),
    ] {
        let est = Estimator::new(m, 0.05, 0.0, Scaling::Exact).unwrap();
        let e = est.estimate(0.3, &[0.31, 0.35, 0.29]).unwrap();
        assert_eq!(e.coefficients.c0, 1.0);
        assert!(e.coefficients.c.iter().all(|c| c.to_bits() == 0));
        let g0 = [-0.0, 1.5, -2.25];
        let gs = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]];
        let g = e.coefficients.combine(&g0, &gs).unwrap();
        assert!(g.iter().zip(&g0).all(|(a, b)| a.to_bits() == b.to_bits()));
    }
}

#[test]
fn reference_scaling_factors() {
    // Trace and Det drop 1/rho^2; Frob halves lambda (derivation in
    // presets::Frob's docs).
    let (rho, lambda) = (0.05, 0.3);
    let t = Trace::default();
    let f = Frob::default();
    let d = Det::default();
    let r = |m: &dyn Measure| {
        Estimator::new(m, rho, lambda, Scaling::Reference)
            .unwrap()
            .gradient_factor()
    };
    let x = |m: &dyn Measure| {
        Estimator::new(m, rho, lambda, Scaling::Exact)
            .unwrap()
            .gradient_factor()
    };
    assert_eq!(r(&t), lambda);
    assert_eq!(r(&d), lambda);
    assert_eq!(r(&f), lambda / 2.0);
    assert_eq!(x(&t), lambda / (rho * rho));
}

#[test]
fn frob_reference_scaling_matches_the_authors_update() {
    // Their update: g0 + (lambda/rho^2)/(n-1) sum_i (L_i - mean L) g_i.
    let (rho, lambda) = (0.005, 0.005);
    let frob = Frob::default();
    let est = Estimator::new(&frob, rho, lambda, Scaling::Reference).unwrap();
    let losses = [2.3, 2.31, 2.2995, 2.305];
    let e = est.estimate(2.3, &losses).unwrap();
    let n = losses.len() as f64;
    let mean = losses.iter().sum::<f64>() / n;
    for (c, l) in e.coefficients.c.iter().zip(&losses) {
        let theirs = lambda / (rho * rho) / (n - 1.0) * (l - mean);
        // Same quantity through x_i = (L_i - L0)/rho^2: relative 1e-10
        // covers the cancellation in L_i - L0 (|L| ~ 2 vs differences
        // ~ 1e-2: a factor 1e3 over f64's 2e-16, twice).
        assert!(
            (c - theirs).abs() <= 1e-10 * theirs.abs().max(1.0),
            "{c} vs {theirs}"
        );
    }
    assert!((e.coefficients.c0 - 1.0).abs() < 1e-10);
}

#[test]
fn combine_checks_lengths() {
    let c = Coefficients {
        c0: 0.5,
        c: vec![0.5],
    };
    assert!(c.combine(&[1.0], &[[1.0, 2.0]]).is_err());
    assert!(c.combine::<[f64; 1]>(&[1.0], &[]).is_err());
    assert_eq!(
        c.combine(&[1.0, 2.0], &[[3.0, 4.0]]).unwrap(),
        vec![2.0, 3.0]
    );
}

#[test]
fn det_stream_survives_a_large_common_offset() {
    // x ~ 600: S = m^-2 ~ e^600 and dS/dx_i ~ e^600 are in range, but
    // unshifted the slot weight e^-300 and the final factor
    // m^-3 / n ~ e^900 are not (the latter overflows). Relative to the
    // first sample the weights are e^(+-1) and everything fits.
    let det = Det { half_width: 1.0 };
    let est = Estimator::new(&det, 1.0, 1.0, Scaling::Exact).unwrap();
    let losses = [600.0, 602.0, 598.0];
    let direct = est.estimate(0.0, &losses).unwrap();
    assert!(direct.sharpness > 1e250 && direct.sharpness.is_finite());
    let mut s = est.stream_with_samples(0.0, 3).unwrap();
    let weights: Vec<f64> = losses.iter().map(|&l| s.push(l).unwrap()[0]).collect();
    let r = s.finish().unwrap();
    for (w, c) in weights.iter().zip(&direct.coefficients.c) {
        let streamed = w * r.slot_weights[0];
        // The same exponentials split differently: 1e-12 relative.
        assert!((streamed - c).abs() <= 1e-12 * c.abs(), "{streamed} vs {c}");
    }
    // Unshifted, the final factor overflows: a typed error.
    assert!(matches!(
        det.slot_finals(&losses),
        Err(SamError::Overflow { .. })
    ));
    // Beyond the f64 range even the estimate overflows.
    assert!(matches!(
        est.estimate(0.0, &[800.0]),
        Err(SamError::Overflow { .. })
    ));
}
