//! Streaming equals direct: for random losses, the update direction a
//! backend assembles from `Stream::push` weights and `Stream::finish`
//! weights has the same coefficient on `g0` and on every `g_i` as
//! `Estimator::estimate`, with and without the fixed-weight fold, and for
//! a gradient held back and added directly. Also the
//! per-measure invariants the stream relies on.
//!
//! Tolerances are relative to the sum of absolute values of the terms that
//! were added (the size of the numbers that can round): 1e-11 of it is
//! thousands of ulps for sums of at most a few dozen terms.

use proptest::prelude::*;
use sam_core::estimator::{Estimator, Scaling};
use sam_core::function::{Exp, Identity, Power};
use sam_core::measure::{ComposedMeasure, Measure};
use sam_core::outer::{InversePower, LinearCombination, SampleVariance, Scaled, ThirdCumulant};
use sam_core::presets::{Det, Frob, Moments, Trace};
use sam_core::sampler::Sampler;

fn measures() -> Vec<Box<dyn Measure>> {
    vec![
        Box::new(Trace::default()),
        Box::new(Frob::default()),
        Box::new(Det { half_width: 0.5 }),
        Box::new(Moments::new(1).unwrap()),
        Box::new(Moments::new(2).unwrap()),
        Box::new(Moments::new(3).unwrap()),
        Box::new(ComposedMeasure::scalar(Exp(-0.5), InversePower(2), Sampler::Gaussian).unwrap()),
        Box::new(
            ComposedMeasure::new(
                vec![Box::new(Identity), Box::new(Power(2))],
                Box::new(SampleVariance),
                Sampler::Gaussian,
            )
            .unwrap(),
        ),
    ]
}

/// The composed measure equal to each preset (same order as `measures`'s
/// first six).
fn composed_twins() -> Vec<ComposedMeasure> {
    let g = Sampler::Gaussian;
    vec![
        ComposedMeasure::scalar(Identity, sam_core::outer::Identity, g).unwrap(),
        ComposedMeasure::new(
            vec![Box::new(Identity), Box::new(Power(2))],
            Box::new(SampleVariance),
            g,
        )
        .unwrap(),
        ComposedMeasure::scalar(
            Exp(-0.5),
            InversePower(2),
            Sampler::Cube { half_width: 0.5 },
        )
        .unwrap(),
        ComposedMeasure::scalar(Identity, LinearCombination(vec![2.0]), g).unwrap(),
        ComposedMeasure::new(
            vec![Box::new(Identity), Box::new(Power(2))],
            Box::new(Scaled {
                factor: 2.0,
                inner: Box::new(SampleVariance),
            }),
            g,
        )
        .unwrap(),
        ComposedMeasure::new(
            vec![Box::new(Identity), Box::new(Power(2)), Box::new(Power(3))],
            Box::new(ThirdCumulant),
            g,
        )
        .unwrap(),
    ]
}

fn close(a: f64, b: f64, scale: f64) -> bool {
    (a - b).abs() <= 1e-11 * (scale + a.abs() + b.abs() + 1e-300)
}

fn scaling() -> impl Strategy<Value = Scaling> {
    prop_oneof![Just(Scaling::Exact), Just(Scaling::Reference)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// The streamed combination equals the direct coefficients.
    #[test]
    fn stream_matches_direct_coefficients(
        xs in proptest::collection::vec(-30.0f64..30.0, 3..9),
        l0 in -5.0f64..5.0,
        rho in 0.05f64..1.0,
        lambda in prop_oneof![Just(0.0), 0.0f64..5.0],
        scaling in scaling(),
        fold in any::<bool>(),
    ) {
        for m in measures() {
            let est = Estimator::new(m.as_ref(), rho, lambda, scaling).unwrap();
            // Losses with exactly these normalised differences (up to
            // rounding, which both paths share).
            let losses: Vec<f64> = xs.iter().map(|x| l0 + rho * rho * x).collect();
            let direct = est.estimate(l0, &losses).unwrap();
            let mut stream = if fold {
                est.stream_with_samples(l0, losses.len()).unwrap()
            } else {
                est.stream(l0).unwrap()
            };
            let plan = stream.plan();
            prop_assert_eq!(plan.fixed.is_some(), fold && m.stream_plan(losses.len()).fixed.is_some());
            let pushed: Vec<Vec<f64>> = losses.iter().map(|&l| stream.push(l).unwrap()).collect();
            let result = stream.finish().unwrap();
            prop_assert!(close(result.sharpness, direct.sharpness, 0.0));
            prop_assert_eq!(result.xs.clone(), direct.xs.clone());
            // The coefficient of g0 and of each g_i in the backend's sum.
            let g0 = match plan.fixed {
                Some(f) => {
                    prop_assert_eq!(result.g0_weight, 0.0);
                    prop_assert_eq!(result.slot_weights[0], 1.0);
                    f.g0
                }
                None => result.g0_weight,
            };
            let c_scale: f64 = direct.coefficients.c.iter().map(|c| c.abs()).sum();
            prop_assert!(close(g0, direct.coefficients.c0, 1.0 + c_scale), "{}: g0 {} vs {}", m.name(), g0, direct.coefficients.c0);
            // Whether g_i went into the buffers or was held back and added
            // directly, its weight is sum_s w_s * slot_weights[s].
            for (w, c) in pushed.iter().zip(&direct.coefficients.c) {
                let scale: f64 = w.iter().zip(&result.slot_weights).map(|(a, b)| (a * b).abs()).sum();
                let streamed = result.direct_weight(w).unwrap();
                prop_assert!(close(streamed, *c, scale), "{}: {} vs {}", m.name(), streamed, c);
            }
        }
    }

    /// The coefficients always sum to 1, and lambda = 0 gives (1, 0, ...)
    /// exactly.
    #[test]
    fn coefficients_sum_to_one(
        xs in proptest::collection::vec(-30.0f64..30.0, 3..9),
        rho in 0.05f64..1.0,
        lambda in 0.0f64..5.0,
        scaling in scaling(),
    ) {
        for m in measures() {
            let losses: Vec<f64> = xs.iter().map(|x| rho * rho * x).collect();
            let c = Estimator::new(m.as_ref(), rho, lambda, scaling).unwrap()
                .estimate(0.0, &losses).unwrap().coefficients;
            let scale: f64 = c.c.iter().map(|v| v.abs()).sum::<f64>() + 1.0;
            prop_assert!(close(c.c0 + c.c.iter().sum::<f64>(), 1.0, scale));
            let zero = Estimator::new(m.as_ref(), rho, 0.0, scaling).unwrap()
                .estimate(0.0, &losses).unwrap().coefficients;
            prop_assert_eq!(zero.c0, 1.0);
            prop_assert!(zero.c.iter().all(|v| *v == 0.0));
        }
    }

    /// Every preset equals its hand-composed (phi, psi, mu) twin, in value
    /// and derivative. The twins use raw moments, which cancel: with
    /// |x| <= 3 the raw moments are at most 27, so 1e-11 of the summed
    /// magnitudes covers the difference.
    #[test]
    fn presets_equal_their_composed_twins(xs in proptest::collection::vec(-3.0f64..3.0, 3..12)) {
        for (preset, twin) in measures().into_iter().zip(composed_twins()) {
            prop_assert_eq!(preset.sampler(), twin.sampler());
            prop_assert_eq!(preset.min_samples(), twin.min_samples());
            let a = preset.evaluate(&xs).unwrap();
            let b = twin.evaluate(&xs).unwrap();
            let scale = 30.0f64.powi(3);
            prop_assert!(close(a.value, b.value, scale), "{}: {} vs {}", preset.name(), a.value, b.value);
            for (da, db) in a.dvalue_dx.iter().zip(&b.dvalue_dx) {
                prop_assert!(close(*da, *db, scale), "{}: {} vs {}", preset.name(), da, db);
            }
        }
    }

    /// The slot decomposition holds for every shift, and declared fixed
    /// weights are what the samples give: `-sum_i dS/dx_i = fixed.g0` and
    /// `D_0 = fixed.slot0`.
    #[test]
    fn slot_decomposition_and_fixed_weights(
        xs in proptest::collection::vec(-10.0f64..10.0, 3..9),
        shift in -20.0f64..20.0,
    ) {
        for m in measures() {
            let e = m.evaluate(&xs).unwrap();
            let plan = m.stream_plan(xs.len());
            let finals = m.shifted_slot_finals(&xs, shift).unwrap();
            prop_assert_eq!(finals.len(), plan.slots);
            let mut w = vec![0.0; plan.slots];
            for (x, d) in xs.iter().zip(&e.dvalue_dx) {
                m.shifted_slot_weights(*x, shift, &mut w).unwrap();
                let terms: Vec<f64> = finals.iter().zip(&w).map(|(a, b)| a * b).collect();
                let scale: f64 = terms.iter().map(|t| t.abs()).sum();
                prop_assert!(close(terms.iter().sum(), *d, scale), "{}", m.name());
            }
            if let Some(f) = plan.fixed {
                let sum: f64 = e.dvalue_dx.iter().sum();
                let scale: f64 = e.dvalue_dx.iter().map(|d| d.abs()).sum();
                prop_assert!(close(-sum, f.g0, scale), "{}: g0 {} vs {}", m.name(), -sum, f.g0);
                prop_assert!(close(finals[0], f.slot0, 0.0), "{}", m.name());
            }
        }
    }
}

#[test]
fn buffer_counts_match_the_documentation() {
    // Buffers a backend keeps with a known sample count: slots, plus g0
    // when it cannot be folded.
    let buffers = |m: &dyn Measure, n: usize| {
        let p = m.stream_plan(n);
        p.slots + usize::from(p.fixed.is_none())
    };
    let all = measures();
    let counts: Vec<usize> = all.iter().map(|m| buffers(m.as_ref(), 4)).collect();
    // Trace 1, Frob 2, Det 2, Moments 1/2/3, composed Det 2, composed Frob 3.
    assert_eq!(counts, [1, 2, 2, 1, 2, 3, 2, 3]);
}
