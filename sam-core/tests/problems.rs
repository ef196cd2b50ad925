//! The analytic problems' gradients and Hessians against finite
//! differences, and their layouts.

use sam_core::problems::{
    Problem, Quadratic, Rosenbrock, ScaleInvariant, TanhNet, finite_difference_gradient,
    finite_difference_hessian,
};
use sam_core::sampler::{NoiseKey, Sampler};

fn problems() -> Vec<Box<dyn Problem>> {
    vec![
        Box::new(Quadratic::spd(1, 4).unwrap()),
        Box::new(Quadratic::indefinite(2, 3).unwrap()),
        Box::new(ScaleInvariant::default()),
        Box::new(ScaleInvariant {
            target: -0.5,
            start: [0.3, 1.7],
        }),
        Box::new(TanhNet::new(4, 7, 3, 4).unwrap()),
        Box::new(Rosenbrock::new(4).unwrap()),
    ]
}

/// The initial point and a random point near it.
fn points(p: &dyn Problem) -> Vec<Vec<f64>> {
    let w0 = p.initial_point();
    let mut noise = vec![0.0; w0.len()];
    Sampler::Gaussian.fill_f64(
        NoiseKey {
            seed: 9,
            step: 0,
            sample: 0,
            tensor: 0,
        },
        0,
        &mut noise,
    );
    let w1 = w0.iter().zip(&noise).map(|(w, n)| w + 0.3 * n).collect();
    vec![w0, w1]
}

#[test]
fn layouts_cover_the_parameters() {
    for p in problems() {
        assert_eq!(p.layout().iter().sum::<usize>(), p.dim(), "{}", p.name());
        assert_eq!(p.initial_point().len(), p.dim());
        // A wrong-length argument gives NaN, not a panic.
        assert!(p.loss(&[0.0; 1]).is_nan());
        assert!(p.gradient(&[0.0; 1]).iter().all(|g| g.is_nan()));
        assert_eq!(p.hessian(&[0.0; 1]).len(), p.dim() * p.dim());
    }
    assert_eq!(TanhNet::new(0, 5, 3, 2).unwrap().layout(), vec![6, 2, 2, 1]);
    assert!(TanhNet::new(0, 0, 3, 2).is_err());
    assert!(Rosenbrock::new(1).is_err());
}

#[test]
fn gradients_match_finite_differences() {
    for p in problems() {
        for w in points(p.as_ref()) {
            let g = p.gradient(&w);
            let fd = finite_difference_gradient(p.as_ref(), &w, 1e-6);
            // Central differences, h = 1e-6: truncation h^2 L''' / 6 ~ 1e-10
            // for these polynomial/tanh losses (|L'''| < 1e3 at these
            // points) and round-off eps |L| / h ~ 1e-8 for |L| < 50;
            // 1e-6 of the gradient's scale bounds both with margin.
            let scale = g.iter().fold(1.0_f64, |m, v| m.max(v.abs()));
            for (j, (a, b)) in g.iter().zip(&fd).enumerate() {
                assert!(
                    (a - b).abs() < 1e-6 * scale,
                    "{} dL/dw[{j}]: {a} vs {b}",
                    p.name()
                );
            }
        }
    }
}

#[test]
fn hessians_match_finite_differences_and_are_symmetric() {
    for p in problems() {
        let d = p.dim();
        for w in points(p.as_ref()) {
            let h = p.hessian(&w);
            let fd = finite_difference_hessian(p.as_ref(), &w, 1e-6);
            // Differences of the exact gradient: truncation h^2 L'''' / 6
            // and round-off eps |g| / h ~ 1e-8 |g|; 1e-6 of the larger of
            // the Hessian's and gradient's scales bounds both.
            let scale = h
                .iter()
                .chain(&p.gradient(&w))
                .fold(1.0_f64, |m, v| m.max(v.abs()));
            for i in 0..d {
                for j in 0..d {
                    let (a, b) = (h[i * d + j], fd[i * d + j]);
                    assert!(
                        (a - b).abs() < 1e-6 * scale,
                        "{} H[{i},{j}]: {a} vs {b}",
                        p.name()
                    );
                    assert_eq!(h[i * d + j], h[j * d + i], "{} not symmetric", p.name());
                }
            }
        }
    }
}
