//! Checks that a backend computes what the f64 reference computes: every
//! optimizer's steps and exact Hessian-vector products on `sam-core`'s
//! analytic problems. The tests run them on the CPU backends and wgpu; the
//! `usam selftest` command runs them on any backend (CUDA included), so a
//! user can check a GPU before trusting it.
//!
//! ```
//! use burn::backend::{Autodiff, NdArray};
//! let results = sam_burn::check::reference_agreement::<Autodiff<NdArray>>(&Default::default());
//! assert!(results.iter().all(|r| r.passed()));
//! ```

pub mod problems;

use std::sync::Arc;

use burn::backend::Autodiff;
use burn::module::{AutodiffModule, ModuleVisitor, Param, ParamId};
use burn::optim::momentum::MomentumConfig;
use burn::optim::{Optimizer, SgdConfig, decay::WeightDecayConfig};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use hashbrown::HashMap;
use sam_core::estimator::Scaling;
use sam_core::presets::Preset;
use sam_core::problems::{Problem, Quadratic, TanhNet};
use sam_core::reference::{self, Method, SgdState};
use sam_core::sampler::Sampler;

use crate::hessian::{HvpModule, ParamLayout, ParamVector, hvp, lift};
use crate::optim::{
    AsamConfig, BaseConfig, MethodConfig, MethodOptimizer, SamConfig, SsamConfig,
    UniversalSamConfig,
};
use problems::{QuadraticData, QuadraticModel, TanhData, TanhModel, loss_and_grads, to_vec};

/// Learning rate of the checked steps.
const LR: f64 = 0.05;
const MOMENTUM: f64 = 0.9;
const WEIGHT_DECAY: f64 = 5e-4;
const SEED: u64 = 7;
const STEPS: usize = 2;

/// Relative tolerance of [`reference_agreement`].
///
/// The tensors are f32, the reference f64. One step moves each weight by
/// `lr * |g|`, computed from losses and gradients with relative error about
/// 1e-6 (a few f32 roundings of O(1) values, sums of at most 16
/// terms). The universal coefficients divide loss differences by rho^2 only
/// in `Exact` scaling, where the cases use rho >= 0.1, so the amplification
/// stays below 1e2. 2e-4 relative to the largest weight leaves a margin of
/// about 10x, while any wrong formula (a missing factor 2, a wrong sign,
/// noise keyed to another tensor) is off by orders of magnitude more.
pub const REFERENCE_TOLERANCE: f64 = 2e-4;

/// Relative tolerance of [`hvp_agreement`]: an f32 double backward through
/// a tanh network of a few dozen weights, against the exact f64 Hessian;
/// errors are a few f32 ulps times the depth of the graph (~1e-6), 1e-4
/// leaves ample margin and still catches a wrong term.
pub const HVP_TOLERANCE: f64 = 1e-4;

/// One method on one problem, against the f64 reference.
#[derive(Debug, Clone)]
pub struct Agreement {
    /// The problem.
    pub problem: String,
    /// The method.
    pub method: String,
    /// max |w_tensor - w_reference| / max(1, max |w_reference|) after the steps.
    pub relative_error: f64,
    /// The tolerance it is held to.
    pub tolerance: f64,
}

impl Agreement {
    /// Whether the error is within tolerance (NaN fails).
    pub fn passed(&self) -> bool {
        self.relative_error <= self.tolerance
    }
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
        Some(s) => preset
            .measure_with_sampler(s)
            .expect("the check's samplers are valid"),
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

/// The universal class's cases: name, preset, rho, lambda, samples,
/// scaling and sampler (`None`: the preset's). Reference and exact
/// scalings, one and several samples, every sampler family.
type UniversalCase = (
    &'static str,
    Preset,
    f64,
    f64,
    usize,
    Scaling,
    Option<Sampler>,
);

#[rustfmt::skip]
const UNIVERSAL_CASES: [UniversalCase; 9] = [
    ("trace-reference", Preset::Trace, 0.01, 1.0, 1, Scaling::Reference, None),
    ("trace-exact-n3", Preset::Trace, 0.1, 0.05, 3, Scaling::Exact, None),
    ("frob-reference", Preset::Frob, 0.05, 0.005, 2, Scaling::Reference, None),
    ("frob-exact-n3", Preset::Frob, 0.1, 0.01, 3, Scaling::Exact, None),
    ("det-reference", Preset::Det, 1.0, 1.0, 1, Scaling::Reference, None),
    ("det-wide-cube-n2", Preset::Det, 0.3, 0.1, 2, Scaling::Exact, Some(Sampler::Cube { half_width: 0.5 })),
    ("moments2", Preset::Moments(2), 0.1, 0.01, 2, Scaling::Exact, None),
    ("trace-sphere", Preset::Trace, 0.1, 0.05, 2, Scaling::Exact, Some(Sampler::Sphere)),
    ("frob-rademacher", Preset::Frob, 0.1, 0.01, 2, Scaling::Exact, Some(Sampler::Rademacher)),
];

fn cases(dim: usize) -> Vec<Case> {
    let mask: Vec<bool> = (0..dim).map(|i| i % 3 != 1).collect();
    let mut out = vec![
        Case {
            name: "sgd",
            burn: MethodConfig::Base(BaseConfig::new()),
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
    for (name, preset, rho, lambda, n, scaling, sampler) in UNIVERSAL_CASES {
        let (burn, reference) = universal(preset, rho, lambda, n, scaling, sampler);
        out.push(Case {
            name,
            burn,
            reference,
        });
    }
    out
}

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

fn relative_error(tensor: &[f64], reference: &[f64]) -> f64 {
    if tensor.len() != reference.len() {
        return f64::INFINITY;
    }
    let scale = reference.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    worst(tensor.iter().zip(reference).map(|(b, r)| (b - r).abs())) / scale
}

/// The largest of `errors`, where a NaN counts as infinite: a NaN must
/// never compare as "small" and let a broken backend pass.
pub fn worst(errors: impl IntoIterator<Item = f64>) -> f64 {
    errors.into_iter().fold(
        0.0f64,
        |m, d| if d.is_nan() { f64::INFINITY } else { m.max(d) },
    )
}

/// Runs `STEPS` steps of `method` on the reference and returns the weights.
fn reference_run(problem: &dyn Problem, method: &Method) -> Result<Vec<f64>, sam_core::SamError> {
    let mut w = problem.initial_point();
    let mut state = SgdState::default();
    for step in 0..STEPS {
        reference::step(
            problem,
            &mut w,
            method,
            &sgd_reference(),
            &mut state,
            SEED,
            step as u64,
        )?;
    }
    Ok(w)
}

/// Installs the reference's SSAM mask, split into the model's parameters.
fn install_mask<B, M, O>(
    optim: &mut MethodOptimizer<M, B, O>,
    case: &Case,
    model: &M,
    device: &B::Device,
) where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
    O: Optimizer<M, B>,
{
    let Method::Ssam { mask, .. } = &case.reference else {
        return;
    };
    struct Ids(Vec<(ParamId, usize)>);
    impl<B: Backend> ModuleVisitor<B> for Ids {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<B, D>>) {
            self.0.push((p.id, p.val().shape().num_elements()));
        }
    }
    let mut ids = Ids(Vec::new());
    model.visit(&mut ids);
    let mut map = HashMap::new();
    let mut offset = 0;
    for (id, n) in ids.0 {
        let values: Vec<f32> = mask[offset..offset + n]
            .iter()
            .map(|&k| if k { 1.0 } else { 0.0 })
            .collect();
        offset += n;
        map.insert(
            id,
            Tensor::<B, 1>::from_data(TensorData::new(values, [n]), device),
        );
    }
    if let Some(ssam) = optim.rule_mut().inner_mut().as_ssam_mut() {
        ssam.set_mask(map);
    }
}

fn agreement(problem: &str, method: &str, relative_error: f64) -> Agreement {
    Agreement {
        problem: problem.into(),
        method: method.into(),
        relative_error,
        tolerance: REFERENCE_TOLERANCE,
    }
}

/// A deliberately wrong reference: the nearest wrong answers a
/// [`REFERENCE_TOLERANCE`] must reject ([`reference_disagreement`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrongAnswer {
    /// SGD's step instead of the method's (a sharpness part dropped).
    Sgd,
    /// Twice the sharpness weight (universal: lambda) or radius (SAM,
    /// ASAM, SSAM): a factor-2 slip.
    Doubled,
    /// The universal class's other scaling convention: the `1/rho^2` of
    /// the exact gradient dropped, or added where the reference drops it
    /// (cases with rho = 1 have no such difference and are left out).
    OtherScaling,
}

impl WrongAnswer {
    /// Every wrong answer.
    pub const ALL: [WrongAnswer; 3] = [Self::Sgd, Self::Doubled, Self::OtherScaling];

    /// The wrong reference for `method`; `None` where the mistake does
    /// not apply (SGD has no sharpness part to drop).
    fn apply(self, method: &Method) -> Option<Method> {
        Some(match (self, method) {
            (_, Method::Sgd) => return None,
            (Self::Sgd, _) => Method::Sgd,
            (Self::Doubled, Method::Sam { rho }) => Method::Sam { rho: 2.0 * rho },
            (Self::Doubled, Method::Asam { rho, eta }) => Method::Asam {
                rho: 2.0 * rho,
                eta: *eta,
            },
            (Self::Doubled, Method::Ssam { rho, mask }) => Method::Ssam {
                rho: 2.0 * rho,
                mask: mask.clone(),
            },
            (
                Self::Doubled,
                Method::Universal {
                    measure,
                    rho,
                    lambda,
                    samples,
                    scaling,
                },
            ) => Method::Universal {
                measure: measure.clone(),
                rho: *rho,
                lambda: 2.0 * lambda,
                samples: *samples,
                scaling: *scaling,
            },
            (
                Self::OtherScaling,
                Method::Universal {
                    measure,
                    rho,
                    lambda,
                    samples,
                    scaling,
                },
            ) if *rho != 1.0 => Method::Universal {
                measure: measure.clone(),
                rho: *rho,
                lambda: *lambda,
                samples: *samples,
                scaling: match scaling {
                    Scaling::Exact => Scaling::Reference,
                    Scaling::Reference => Scaling::Exact,
                },
            },
            (Self::OtherScaling, _) => return None,
        })
    }
}

/// [`reference_agreement`] against a wrong reference: the tensors run
/// each method as it is, the f64 reference runs it with `wrong` put in.
/// Every error must be far above [`REFERENCE_TOLERANCE`] for the tolerance
/// to mean anything; cases the mistake does not apply to are left out.
pub fn reference_disagreement<B: AutodiffBackend>(
    device: &B::Device,
    wrong: WrongAnswer,
) -> Vec<Agreement> {
    compare::<B>(device, |case| wrong.apply(&case.reference))
}

/// Two steps of every method (SGD, SAM, ASAM, SSAM and nine universal
/// configurations: every preset, both scalings, four samplers) with SGD
/// (momentum 0.9, weight decay 5e-4) as the base, on an indefinite
/// quadratic and a two-layer tanh network, against `sam-core`'s f64
/// reference with the same noise. A failed step counts as an infinite
/// error.
pub fn reference_agreement<B: AutodiffBackend>(device: &B::Device) -> Vec<Agreement> {
    compare::<B>(device, |case| Some(case.reference.clone()))
}

/// Every case on both problems: the tensors run `case.burn`, the
/// reference runs `reference(case)` (cases without one are left out).
fn compare<B: AutodiffBackend>(
    device: &B::Device,
    reference: impl Fn(&Case) -> Option<Method>,
) -> Vec<Agreement> {
    let mut out = Vec::new();

    let quadratic = Quadratic::indefinite(3, 6).expect("a valid problem");
    let minimiser = quadratic.minimiser().to_vec();
    let offset = quadratic.loss(&minimiser);
    let data = QuadraticData::<B>::new(quadratic.matrix(), &minimiser, offset, device);
    for case in cases(quadratic.dim()) {
        let Some(method) = reference(&case) else {
            continue;
        };
        let error = (|| {
            let expected = reference_run(&quadratic, &method).ok()?;
            let mut model: QuadraticModel<B> = data.model(&quadratic.initial_point(), device);
            let mut optim = case
                .burn
                .init(sgd_burn().init::<B, QuadraticModel<B>>())
                .ok()?;
            install_mask(&mut optim, &case, &model, device);
            for _ in 0..STEPS {
                model = optim
                    .step(LR, model, |m: QuadraticModel<B>, _| {
                        let loss = data.loss(&m);
                        loss_and_grads(&m, loss)
                    })
                    .ok()?
                    .0;
            }
            Some(relative_error(&to_vec(model.w.val()), &expected))
        })();
        out.push(agreement(
            "quadratic",
            case.name,
            error.unwrap_or(f64::INFINITY),
        ));
    }

    let net = TanhNet::new(5, 12, 3, 4).expect("a valid problem");
    let data = TanhData::<B>::new(&net, device);
    for case in cases(net.dim()) {
        let Some(method) = reference(&case) else {
            continue;
        };
        let error = (|| {
            let expected = reference_run(&net, &method).ok()?;
            let mut model: TanhModel<B> = data.model(&net.initial_point(), device);
            let mut optim = case.burn.init(sgd_burn().init::<B, TanhModel<B>>()).ok()?;
            install_mask(&mut optim, &case, &model, device);
            for _ in 0..STEPS {
                model = optim
                    .step(LR, model, |m: TanhModel<B>, _| {
                        let loss = data.loss(&m);
                        loss_and_grads(&m, loss)
                    })
                    .ok()?
                    .0;
            }
            Some(relative_error(&model.flat(), &expected))
        })();
        out.push(agreement(
            "tanh-net",
            case.name,
            error.unwrap_or(f64::INFINITY),
        ));
    }
    out
}

/// Exact Hessian-vector products of the two-layer tanh network, one per
/// coordinate direction, against `sam-core`'s analytic Hessian; returns
/// the worst error relative to the largest Hessian entry (held to
/// [`HVP_TOLERANCE`]; an HVP error counts as infinite).
pub fn hvp_agreement<B: AutodiffBackend>(device: &B::Device) -> Agreement {
    let net = TanhNet::new(5, 12, 3, 4).expect("a valid problem");
    let w = net.initial_point();
    let exact = net.hessian(&w);
    let data = TanhData::<B::InnerBackend>::new(&net, device);
    let model: TanhModel<B> = TanhData::<B>::new(&net, device).model(&w, device);
    let loss = |m: &HvpModule<TanhModel<B>, B>, d: &TanhData<B::InnerBackend>| {
        let lifted = TanhData::<Autodiff<B>> {
            x: lift::<B, 2>(d.x.clone()),
            y: lift::<B, 1>(d.y.clone()),
            hidden: d.hidden,
            inputs: d.inputs,
        };
        lifted.loss(m)
    };
    let layout = Arc::new(ParamLayout::from_module(&model));
    let dim = net.dim();
    let scale = exact.iter().fold(1e-12f64, |m, v| m.max(v.abs()));
    let mut worst = 0.0f64;
    for j in 0..dim {
        let Ok(v) = ParamVector::<B::InnerBackend>::basis(layout.clone(), j, device) else {
            worst = f64::INFINITY;
            break;
        };
        let Ok(hv) = hvp(&model, loss, &data, &v) else {
            worst = f64::INFINITY;
            break;
        };
        let column = to_vec(hv.tensor().clone());
        let expected: Vec<f64> = (0..dim).map(|i| exact[i * dim + j]).collect();
        let diff = self::worst(column.iter().zip(&expected).map(|(a, b)| (a - b).abs()));
        worst = worst.max(diff / scale);
    }
    Agreement {
        problem: "tanh-net".into(),
        method: "hvp".into(),
        relative_error: worst,
        tolerance: HVP_TOLERANCE,
    }
}
