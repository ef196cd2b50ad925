//! Every method's tensor implementation against `sam-core`'s f64 reference:
//! two steps of SGD with momentum and weight decay on analytic problems, the
//! same noise (both draw from `sam-core`'s counter-based sampler), on every
//! backend.
//!
//! Tolerance: the tensors are f32, the reference f64. One step moves each
//! weight by `lr * |g|`, computed from losses and gradients with relative
//! error about 1e-6 (a few f32 roundings of O(1) values, matmul sums of at
//! most 16 terms). The universal coefficients divide loss differences by
//! rho^2 only in `Exact` scaling, where the tests use rho = 0.1 so the
//! amplification stays below 1e2. 2e-4 relative to the largest weight leaves
//! a margin of about 10x over that budget while any wrong formula (a missing
//! factor 2, a wrong sign, noise from another tensor index) is off by
//! orders of magnitude more.

mod backends;
mod problems;

use std::sync::Arc;

use burn::module::{AutodiffModule, Module as _};
use burn::optim::momentum::MomentumConfig;
use burn::optim::{SgdConfig, decay::WeightDecayConfig};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Tensor, TensorData};
use hashbrown::HashMap;
use problems::{QuadraticData, QuadraticModel, TanhData, TanhModel, loss_and_grads, to_vec};
use sam_burn::optim::{
    AsamConfig, MethodConfig, RunningStats, SamConfig, SsamConfig, UniversalSamConfig,
};
use sam_core::estimator::Scaling;
use sam_core::presets::Preset;
use sam_core::problems::{Problem, Quadratic, TanhNet};
use sam_core::reference::{self, Method, SgdState};
use sam_core::sampler::Sampler;

const LR: f64 = 0.05;
const MOMENTUM: f64 = 0.9;
const WEIGHT_DECAY: f64 = 5e-4;
const SEED: u64 = 7;
const STEPS: usize = 2;
const TOL: f64 = 2e-4;

fn sgd_reference() -> reference::SgdConfig {
    reference::SgdConfig {
        lr: LR,
        momentum: MOMENTUM,
        dampening: 0.0,
        nesterov: false,
        weight_decay: WEIGHT_DECAY,
    }
}

fn sgd_burn() -> SgdConfig {
    SgdConfig::new()
        .with_momentum(Some(MomentumConfig {
            momentum: MOMENTUM,
            dampening: 0.0,
            nesterov: false,
        }))
        .with_weight_decay(Some(WeightDecayConfig {
            penalty: WEIGHT_DECAY as f32,
        }))
}

/// A method in both worlds.
struct Case {
    name: &'static str,
    burn: MethodConfig,
    reference: Method,
}

fn universal(
    preset: Preset,
    rho: f64,
    lambda: f64,
    n: usize,
    scaling: Scaling,
    sampler: Option<Sampler>,
) -> (MethodConfig, Method) {
    let config = UniversalSamConfig::new(preset)
        .with_rho(Some(rho))
        .with_lambda(Some(lambda))
        .with_samples(Some(n))
        .with_scaling(scaling)
        .with_sampler(sampler)
        .with_seed(SEED);
    let measure: Arc<dyn sam_core::measure::Measure> = Arc::from(match sampler {
        Some(s) => preset.measure_with_sampler(s).unwrap(),
        None => preset.measure(),
    });
    (
        MethodConfig::Universal(config),
        Method::Universal {
            measure,
            rho,
            lambda,
            samples: n,
            scaling,
        },
    )
}

fn cases(dim: usize) -> Vec<Case> {
    let mask: Vec<bool> = (0..dim).map(|i| i % 3 != 1).collect();
    let mut out = vec![
        Case {
            name: "sgd",
            burn: MethodConfig::Base,
            reference: Method::Sgd,
        },
        Case {
            name: "sam",
            burn: MethodConfig::Sam(SamConfig::new().with_rho(0.1)),
            reference: Method::Sam { rho: 0.1 },
        },
        Case {
            name: "asam",
            burn: MethodConfig::Asam(AsamConfig::new().with_rho(0.5).with_eta(0.01)),
            reference: Method::Asam {
                rho: 0.5,
                eta: 0.01,
            },
        },
        Case {
            name: "ssam",
            burn: MethodConfig::Ssam(SsamConfig::new().with_rho(0.1)),
            reference: Method::Ssam { rho: 0.1, mask },
        },
    ];
    let universal_cases = [
        (
            "trace-reference",
            Preset::Trace,
            0.01,
            1.0,
            1,
            Scaling::Reference,
            None,
        ),
        (
            "trace-exact-n3",
            Preset::Trace,
            0.1,
            0.05,
            3,
            Scaling::Exact,
            None,
        ),
        (
            "frob-reference",
            Preset::Frob,
            0.05,
            0.005,
            2,
            Scaling::Reference,
            None,
        ),
        (
            "frob-exact-n3",
            Preset::Frob,
            0.1,
            0.01,
            3,
            Scaling::Exact,
            None,
        ),
        (
            "det-reference",
            Preset::Det,
            1.0,
            1.0,
            1,
            Scaling::Reference,
            None,
        ),
        (
            "det-wide-cube-n2",
            Preset::Det,
            0.3,
            0.1,
            2,
            Scaling::Exact,
            Some(Sampler::Cube { half_width: 0.5 }),
        ),
        (
            "moments2",
            Preset::Moments(2),
            0.1,
            0.01,
            2,
            Scaling::Exact,
            None,
        ),
        (
            "trace-sphere",
            Preset::Trace,
            0.1,
            0.05,
            2,
            Scaling::Exact,
            Some(Sampler::Sphere),
        ),
        (
            "frob-rademacher",
            Preset::Frob,
            0.1,
            0.01,
            2,
            Scaling::Exact,
            Some(Sampler::Rademacher),
        ),
    ];
    for (name, preset, rho, lambda, n, scaling, sampler) in universal_cases {
        let (burn, reference) = universal(preset, rho, lambda, n, scaling, sampler);
        out.push(Case {
            name,
            burn,
            reference,
        });
    }
    out
}

fn assert_close(name: &str, burn: &[f64], reference: &[f64]) {
    assert_eq!(burn.len(), reference.len(), "{name}: length");
    let scale = reference.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    let err = burn
        .iter()
        .zip(reference)
        .fold(0.0f64, |m, (b, r)| m.max((b - r).abs()));
    assert!(
        err <= TOL * scale,
        "{name}: max deviation {err:e} > {TOL:e} x {scale}\nburn      {burn:?}\nreference {reference:?}"
    );
}

/// Runs `STEPS` steps of a case on the reference and returns the weights.
fn reference_run(problem: &dyn Problem, case: &Case) -> Vec<f64> {
    let mut w = problem.initial_point();
    let mut state = SgdState::default();
    for step in 0..STEPS {
        reference::step(
            problem,
            &mut w,
            &case.reference,
            &sgd_reference(),
            &mut state,
            SEED,
            step as u64,
        )
        .unwrap_or_else(|e| panic!("{}: reference failed: {e}", case.name));
    }
    w
}

/// The SSAM mask of the reference, as per-parameter tensors of `model`.
fn install_mask<B: AutodiffBackend, M: AutodiffModule<B>>(
    optim: &mut sam_burn::optim::MethodOptimizer<M, B, impl burn::optim::Optimizer<M, B>>,
    case: &Case,
    model: &M,
    device: &B::Device,
) {
    let Method::Ssam { mask, .. } = &case.reference else {
        return;
    };
    let mut ids = Vec::new();
    let mut sizes = Vec::new();
    struct Ids<'a>(&'a mut Vec<burn::module::ParamId>, &'a mut Vec<usize>);
    impl<B: burn::tensor::backend::Backend> burn::module::ModuleVisitor<B> for Ids<'_> {
        fn visit_float<const D: usize>(&mut self, p: &burn::module::Param<Tensor<B, D>>) {
            self.0.push(p.id);
            self.1.push(p.val().shape().num_elements());
        }
    }
    model.visit(&mut Ids(&mut ids, &mut sizes));
    let mut map = HashMap::new();
    let mut offset = 0;
    for (id, n) in ids.into_iter().zip(sizes) {
        let values: Vec<f32> = mask[offset..offset + n]
            .iter()
            .map(|&k| k as u8 as f32)
            .collect();
        offset += n;
        map.insert(
            id,
            Tensor::<B, 1>::from_data(TensorData::new(values, [n]), device),
        );
    }
    optim
        .rule_mut()
        .as_ssam_mut()
        .expect("an SSAM case")
        .set_mask(map);
}

fn quadratic_matches_reference<B: AutodiffBackend>(device: &B::Device) {
    // An indefinite quadratic exercises negative curvature; seed fixed.
    let problem = Quadratic::indefinite(3, 6).unwrap();
    let minimiser = problem.minimiser().to_vec();
    let offset = problem.loss(&minimiser);
    let data = QuadraticData::<B>::new(problem.matrix(), &minimiser, offset, device);
    for case in cases(problem.dim()) {
        let expected = reference_run(&problem, &case);
        let mut model: QuadraticModel<B> = data.model(&problem.initial_point(), device);
        let mut optim = case
            .burn
            .init(sgd_burn().init::<B, QuadraticModel<B>>())
            .unwrap();
        install_mask(&mut optim, &case, &model, device);
        for _ in 0..STEPS {
            let (next, _) = optim
                .step(LR, model, |m: QuadraticModel<B>| {
                    let loss = data.loss(&m);
                    loss_and_grads(&m, loss)
                })
                .unwrap_or_else(|f| panic!("{}: {}", case.name, f.error));
            model = next;
        }
        assert_close(case.name, &to_vec(model.w.val()), &expected);
    }
}

fn tanh_net_matches_reference<B: AutodiffBackend>(device: &B::Device) {
    // Four parameter tensors: noise keyed per tensor must line up.
    let problem = TanhNet::new(5, 12, 3, 4).unwrap();
    let data = TanhData::<B>::new(&problem, device);
    for case in cases(problem.dim()) {
        let expected = reference_run(&problem, &case);
        let mut model: TanhModel<B> = data.model(&problem.initial_point(), device);
        let mut optim = case
            .burn
            .init(sgd_burn().init::<B, TanhModel<B>>())
            .unwrap();
        install_mask(&mut optim, &case, &model, device);
        for _ in 0..STEPS {
            let (next, _) = optim
                .step(LR, model, |m: TanhModel<B>| {
                    let loss = data.loss(&m);
                    loss_and_grads(&m, loss)
                })
                .unwrap_or_else(|f| panic!("{}: {}", case.name, f.error));
            model = next;
        }
        assert_close(case.name, &model.flat(), &expected);
    }
}

/// The loss the reference reports equals the Burn closure's, so the two
/// problems are the same function (guards the module definitions above).
fn modules_compute_the_reference_loss<B: AutodiffBackend>(device: &B::Device) {
    let net = TanhNet::new(5, 12, 3, 4).unwrap();
    let data = TanhData::<B>::new(&net, device);
    let w = net.initial_point();
    let burn_loss = to_vec(data.loss(&data.model(&w, device)))[0];
    assert!((burn_loss - net.loss(&w)).abs() <= 1e-5 * (1.0 + net.loss(&w)));
    let _ = RunningStats::default();
}

backend_tests! {
    quadratic => quadratic_matches_reference,
    tanh_net => tanh_net_matches_reference,
    module_losses => modules_compute_the_reference_loss,
}
