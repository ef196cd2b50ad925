//! With `lambda = 0` (universal methods) or `rho = 0` (SAM, ASAM, SSAM)
//! every method is its base optimizer, bit for bit, over several steps of
//! SGD with momentum, Nesterov and weight decay (learning rate 5e-4, small
//! enough for Rosenbrock's curvature ~2e3 at its start).

use sam_core::estimator::Scaling;
use sam_core::presets::Preset;
use sam_core::problems::{Problem, Quadratic, Rosenbrock, ScaleInvariant, TanhNet};
use sam_core::reference::{Method, SgdConfig, SgdState, step};
use std::sync::Arc;

fn configs() -> Vec<SgdConfig> {
    vec![
        SgdConfig::plain(5e-4),
        SgdConfig {
            lr: 5e-4,
            momentum: 0.9,
            dampening: 0.1,
            nesterov: false,
            weight_decay: 5e-4,
        },
        SgdConfig {
            lr: 5e-4,
            momentum: 0.9,
            dampening: 0.0,
            nesterov: true,
            weight_decay: 5e-4,
        },
    ]
}

fn trajectory(problem: &dyn Problem, method: &Method, cfg: &SgdConfig) -> Vec<Vec<u64>> {
    let mut w = problem.initial_point();
    let mut state = SgdState::default();
    let mut out = Vec::new();
    for t in 0..5 {
        step(problem, &mut w, method, cfg, &mut state, 3, t).unwrap();
        let mut bits: Vec<u64> = w.iter().map(|v| v.to_bits()).collect();
        bits.extend(state.velocity.iter().flatten().map(|v| v.to_bits()));
        out.push(bits);
    }
    out
}

fn degenerate_methods(dim: usize, lambda: f64, rho: f64) -> Vec<Method> {
    let mut methods: Vec<Method> = Preset::ALL
        .iter()
        .map(|p| Method::Universal {
            measure: Arc::from(p.measure()),
            rho: 0.05,
            lambda,
            samples: 3,
            scaling: Scaling::Exact,
        })
        .collect();
    methods.push(Method::Sam { rho });
    methods.push(Method::Asam { rho, eta: 0.01 });
    methods.push(Method::Ssam {
        rho,
        mask: (0..dim).map(|i| i % 2 == 0).collect(),
    });
    methods
}

#[test]
fn degenerate_methods_are_bitwise_sgd() {
    let problems: Vec<Box<dyn Problem>> = vec![
        Box::new(TanhNet::new(1, 5, 2, 3).unwrap()),
        Box::new(Rosenbrock::new(3).unwrap()),
        Box::new(ScaleInvariant::default()),
        Box::new(Quadratic::indefinite(4, 3).unwrap()),
    ];
    for p in &problems {
        for cfg in configs() {
            let sgd = trajectory(p.as_ref(), &Method::Sgd, &cfg);
            for m in degenerate_methods(p.dim(), 0.0, 0.0) {
                assert_eq!(trajectory(p.as_ref(), &m, &cfg), sgd, "{} {m:?}", p.name());
            }
            // The comparison is sensitive: the same methods with a tiny
            // lambda or rho leave SGD's trajectory.
            for m in degenerate_methods(p.dim(), 1e-12, 1e-6) {
                assert_ne!(trajectory(p.as_ref(), &m, &cfg), sgd, "{} {m:?}", p.name());
            }
        }
    }
}
