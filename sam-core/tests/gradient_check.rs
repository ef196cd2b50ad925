//! The coefficients are a gradient: with the samples `delta_i` held fixed,
//! `S(w) = S(x_1(w), ..., x_n(w))`, `x_i(w) = (L(w + rho delta_i) - L(w)) /
//! rho^2`, and the update direction minus `g0` must equal
//! `lambda grad_w S` (exact scaling). Checked against central finite
//! differences of `S` for every preset and a user-composed measure, on
//! problems with several parameter tensors.

use sam_core::estimator::{Estimator, Scaling};
use sam_core::function::{Exp, Identity, Power};
use sam_core::measure::{ComposedMeasure, Measure};
use sam_core::outer::{Log, SampleVariance};
use sam_core::presets::{Det, Frob, Moments, Trace};
use sam_core::problems::{Problem, Rosenbrock, ScaleInvariant, TanhNet};
use sam_core::reference::{Method, combined_gradient, direction};
use sam_core::sampler::Sampler;
use std::sync::Arc;

const RHO: f64 = 0.1;
const LAMBDA: f64 = 0.7;
const SEED: u64 = 5;
const SAMPLES: usize = 4;

fn measures() -> Vec<Arc<dyn Measure>> {
    vec![
        Arc::new(Trace::default()),
        Arc::new(Trace {
            sampler: Sampler::Sphere,
        }),
        Arc::new(Frob::default()),
        Arc::new(Det { half_width: 1.0 }),
        Arc::new(Moments::new(1).unwrap()),
        Arc::new(Moments::new(2).unwrap()),
        Arc::new(Moments::new(3).unwrap()),
        // A user measure: the entropic risk ln E exp(0.3 x).
        Arc::new(ComposedMeasure::scalar(Exp(0.3), Log, Sampler::Gaussian).unwrap()),
        Arc::new(
            ComposedMeasure::new(
                vec![Box::new(Identity), Box::new(Power(2))],
                Box::new(SampleVariance),
                Sampler::Rademacher,
            )
            .unwrap(),
        ),
    ]
}

/// `S(w)` with the directions of step 0 held fixed.
fn fixed_sample_sharpness(problem: &dyn Problem, measure: &dyn Measure, w: &[f64]) -> f64 {
    let est = Estimator::new(measure, RHO, LAMBDA, Scaling::Exact).unwrap();
    let l0 = problem.loss(w);
    let losses: Vec<f64> = (0..SAMPLES as u32)
        .map(|i| {
            let d = direction(problem, measure, SEED, 0, i);
            let wi: Vec<f64> = w.iter().zip(&d).map(|(w, d)| w + RHO * d).collect();
            problem.loss(&wi)
        })
        .collect();
    est.estimate(l0, &losses).unwrap().sharpness
}

#[test]
fn coefficient_gradient_matches_finite_differences_of_s() {
    let problems: Vec<Box<dyn Problem>> = vec![
        Box::new(TanhNet::new(3, 6, 2, 3).unwrap()),
        Box::new(Rosenbrock::new(3).unwrap()),
        Box::new(ScaleInvariant {
            target: 1.0,
            start: [1.3, 0.4],
        }),
    ];
    for problem in &problems {
        // Rosenbrock's start has gradients in the hundreds; scale it down
        // so that x stays moderate (Det's exp(-x/2) is then well behaved).
        let w: Vec<f64> = if problem.name().starts_with("rosenbrock") {
            vec![0.6, 0.3, 0.2]
        } else {
            problem.initial_point()
        };
        let g0 = problem.gradient(&w);
        for measure in measures() {
            let method = Method::Universal {
                measure: measure.clone(),
                rho: RHO,
                lambda: LAMBDA,
                samples: SAMPLES,
                scaling: Scaling::Exact,
            };
            let g = combined_gradient(problem.as_ref(), &w, &method, SEED, 0)
                .unwrap()
                .gradient;
            let analytic: Vec<f64> = g.iter().zip(&g0).map(|(a, b)| (a - b) / LAMBDA).collect();
            // Central differences with h = 1e-5: truncation h^2 S''' / 6
            // (~1e-10 S''') and round-off eps |L| / (rho^2 h) ~ 2e-9 |dS/dx|
            // stay below 5e-8 of the gradient's scale here (3e-8 observed);
            // 1e-6 leaves a margin and still catches any wrong factor (a
            // missing 1/rho^2 or 1/n is off by 100% or more).
            let h = 1e-5;
            let scale = analytic.iter().fold(1.0_f64, |m, v| m.max(v.abs()));
            for j in 0..w.len() {
                let mut up = w.clone();
                let mut down = w.clone();
                up[j] += h;
                down[j] -= h;
                let fd = (fixed_sample_sharpness(problem.as_ref(), measure.as_ref(), &up)
                    - fixed_sample_sharpness(problem.as_ref(), measure.as_ref(), &down))
                    / (2.0 * h);
                assert!(
                    (fd - analytic[j]).abs() <= 1e-6 * scale,
                    "{} / {}: dS/dw[{j}] = {} but finite differences give {fd}",
                    problem.name(),
                    measure.name(),
                    analytic[j]
                );
            }
        }
    }
}

#[test]
fn reference_scaling_rescales_the_same_direction() {
    // The reference coefficients are the exact ones times F_ref / F_exact.
    let net = TanhNet::new(3, 6, 2, 3).unwrap();
    let w = net.initial_point();
    for measure in measures() {
        let l0 = net.loss(&w);
        let losses: Vec<f64> = (0..SAMPLES as u32)
            .map(|i| {
                let d = direction(&net, measure.as_ref(), SEED, 0, i);
                let wi: Vec<f64> = w.iter().zip(&d).map(|(w, d)| w + RHO * d).collect();
                net.loss(&wi)
            })
            .collect();
        let exact = Estimator::new(measure.as_ref(), RHO, LAMBDA, Scaling::Exact).unwrap();
        let reference = Estimator::new(measure.as_ref(), RHO, LAMBDA, Scaling::Reference).unwrap();
        let ratio = reference.gradient_factor() / exact.gradient_factor();
        let ce = exact.estimate(l0, &losses).unwrap().coefficients;
        let cr = reference.estimate(l0, &losses).unwrap().coefficients;
        for (a, b) in ce.c.iter().zip(&cr.c) {
            // One extra multiplication and division: 1e-14 relative.
            assert!((a * ratio - b).abs() <= 1e-14 * b.abs().max(1e-300));
        }
    }
}

#[test]
fn tanh_example_gradients_average_to_the_gradient() {
    // The loss is the mean of the examples' squared errors, so the mean of
    // their gradients is the gradient: a few f64 roundings of O(1) terms,
    // 1e-12 is far below any wrong factor (a dropped 2 or 1/N is O(1)).
    let net = TanhNet::new(3, 6, 2, 3).unwrap();
    let w = net.initial_point();
    let (samples, _, _) = net.shape();
    let mut mean = vec![0.0; net.dim()];
    for k in 0..samples {
        for (m, g) in mean.iter_mut().zip(net.example_gradient(&w, k)) {
            *m += g / samples as f64;
        }
    }
    for (m, g) in mean.iter().zip(net.gradient(&w)) {
        assert!((m - g).abs() <= 1e-12 * (1.0 + g.abs()), "{m} vs {g}");
    }
    assert!(net.example_gradient(&w, samples).iter().all(|v| v.is_nan()));
}
