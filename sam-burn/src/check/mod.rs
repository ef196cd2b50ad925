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

mod gate;
pub mod problems;

pub use gate::{Gate, GateError};

use std::sync::Arc;

use burn::backend::Autodiff;
use burn::module::{AutodiffModule, ModuleVisitor, Param, ParamId};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, Optimizer, Sgd, SgdConfig, decay::WeightDecayConfig};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use hashbrown::HashMap;
use sam_core::estimator::Scaling;
use sam_core::measure::{ComposedMeasure, Measure};
use sam_core::presets::Preset;
use sam_core::problems::{Problem, Quadratic, TanhNet};
use sam_core::reference::{self, Method, SgdState};
use sam_core::rules::fisher_mask;
use sam_core::sampler::Sampler;
use sam_core::schedule::Schedule;

use crate::hessian::{HvpModule, ParamLayout, ParamVector, hvp, lift};
use crate::optim::{
    AsamConfig, BaseConfig, MethodConfig, MethodOptimizer, MethodRule, OptimError, SamConfig,
    SharpnessAware, SsamConfig, UniversalSamConfig,
};
use problems::{QuadraticData, TanhData, TanhModel, loss_and_grads, to_vec};

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

/// The checks' base optimizer.
type SgdOf<M, B> = OptimizerAdaptor<Sgd<<B as AutodiffBackend>::InnerBackend>, M, B>;

/// A method in both worlds.
struct Case {
    name: &'static str,
    burn: Build,
    reference: Method,
}

/// How the tensor side builds a case's optimizer.
enum Build {
    /// [`MethodConfig::init`]; SSAM gets the reference's mask injected, so
    /// the step is checked apart from the selection.
    Config(MethodConfig),
    /// SSAM choosing its own mask from per-example Fisher scores
    /// ([`SsamRule::refresh_mask`](crate::optim::SsamRule::refresh_mask)).
    Fisher(SsamConfig),
    /// A universal configuration around a user-composed measure
    /// ([`UniversalSamConfig::rule_with_measure`]).
    Composed(UniversalSamConfig, Arc<dyn Measure>),
}

impl Build {
    fn init<B, M>(&self) -> Result<MethodOptimizer<M, B, SgdOf<M, B>>, OptimError>
    where
        B: AutodiffBackend,
        M: AutodiffModule<B>,
    {
        let base = sgd_burn().init::<B, M>();
        match self {
            Build::Config(config) => config.init(base),
            Build::Fisher(config) => MethodConfig::Ssam(config.clone()).init(base),
            Build::Composed(config, measure) => SharpnessAware::scheduled(
                MethodRule::Universal(config.rule_with_measure(measure.clone())?),
                Schedule::EVERY_STEP,
                base,
            ),
        }
    }
}

fn universal(
    preset: Preset,
    rho: f64,
    lambda: f64,
    n: usize,
    scaling: Scaling,
    sampler: Option<Sampler>,
) -> (Build, Method) {
    let config = UniversalSamConfig::new(preset)
        .with_rho(Some(rho))
        .with_lambda(Some(lambda))
        .with_samples(Some(n))
        .with_scaling(scaling)
        .with_sampler(sampler)
        .with_seed(SEED);
    let measure: Arc<dyn Measure> = Arc::from(match sampler {
        Some(s) => preset
            .measure_with_sampler(s)
            .expect("the check's samplers are valid"),
        None => preset.measure(),
    });
    (
        Build::Config(MethodConfig::Universal(config)),
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
const UNIVERSAL_CASES: [UniversalCase; 10] = [
    ("trace-reference", Preset::Trace, 0.01, 1.0, 1, Scaling::Reference, None),
    ("trace-exact-n3", Preset::Trace, 0.1, 0.05, 3, Scaling::Exact, None),
    ("frob-reference", Preset::Frob, 0.05, 0.005, 2, Scaling::Reference, None),
    ("frob-exact-n3", Preset::Frob, 0.1, 0.01, 3, Scaling::Exact, None),
    ("det-reference", Preset::Det, 1.0, 1.0, 1, Scaling::Reference, None),
    ("det-wide-cube-n2", Preset::Det, 0.3, 0.1, 2, Scaling::Exact, Some(Sampler::Cube { half_width: 0.5 })),
    ("moments2", Preset::Moments(2), 0.1, 0.01, 2, Scaling::Exact, None),
    // rho 0.3 and four draws: the third k-statistic's cancellations
    // amplify f32 rounding about 10x less than at rho 0.1 with three.
    ("moments3", Preset::Moments(3), 0.3, 0.01, 4, Scaling::Exact, None),
    ("trace-sphere", Preset::Trace, 0.1, 0.05, 2, Scaling::Exact, Some(Sampler::Sphere)),
    ("frob-rademacher", Preset::Frob, 0.1, 0.01, 2, Scaling::Exact, Some(Sampler::Rademacher)),
];

/// User-composed measures ([`ComposedMeasure`]): the generic slot
/// streaming with one, two and three slots. Name, measure, rho, lambda,
/// samples; exact scaling.
fn composed_cases() -> Vec<(&'static str, ComposedMeasure, f64, f64, usize)> {
    use sam_core::function::{Exp, Identity, Power};
    use sam_core::outer;
    let build = |psi: Vec<Box<dyn sam_core::function::ScalarFn>>, phi: Box<dyn outer::OuterFn>| {
        ComposedMeasure::new(psi, phi, Sampler::Gaussian).expect("the check's measures are valid")
    };
    vec![
        (
            "composed-log-exp",
            build(vec![Box::new(Exp(0.2))], Box::new(outer::Log)),
            0.1,
            0.01,
            2,
        ),
        (
            "composed-variance",
            build(
                vec![Box::new(Identity), Box::new(Power(2))],
                Box::new(outer::SampleVariance),
            ),
            0.1,
            0.01,
            3,
        ),
        (
            "composed-cumulant3",
            build(
                vec![Box::new(Identity), Box::new(Power(2)), Box::new(Power(3))],
                Box::new(outer::ThirdCumulant),
            ),
            0.3,
            0.01,
            4,
        ),
    ]
}

fn cases(dim: usize) -> Vec<Case> {
    let mask: Vec<bool> = (0..dim).map(|i| i % 3 != 1).collect();
    let mut out = vec![
        Case {
            name: "sgd",
            burn: Build::Config(MethodConfig::Base(BaseConfig::new())),
            reference: Method::Sgd,
        },
        Case {
            name: "sam",
            burn: Build::Config(MethodConfig::Sam(SamConfig::new().with_rho(0.1))),
            reference: Method::Sam { rho: 0.1 },
        },
        Case {
            name: "asam",
            burn: Build::Config(MethodConfig::Asam(
                AsamConfig::new().with_rho(0.5).with_eta(0.01),
            )),
            reference: Method::Asam {
                rho: 0.5,
                eta: 0.01,
            },
        },
        Case {
            name: "ssam",
            burn: Build::Config(MethodConfig::Ssam(SsamConfig::new().with_rho(0.1))),
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
    for (name, measure, rho, lambda, samples) in composed_cases() {
        let config = UniversalSamConfig::new(Preset::Frob)
            .with_rho(Some(rho))
            .with_lambda(Some(lambda))
            .with_samples(Some(samples))
            .with_scaling(Scaling::Exact)
            .with_seed(SEED);
        let measure: Arc<dyn Measure> = Arc::new(measure);
        out.push(Case {
            name,
            burn: Build::Composed(config, measure.clone()),
            reference: Method::Universal {
                measure,
                rho,
                lambda,
                samples,
                scaling: Scaling::Exact,
            },
        });
    }
    out
}

/// SSAM's Fisher selection on the tanh network: the tensors score every
/// example's squared gradients and keep the top half, the reference gets
/// the mask of the same scores in f64 (`sam_core::rules::fisher_mask`).
fn fisher_case(net: &TanhNet) -> Case {
    const RHO: f64 = 0.1;
    const SPARSITY: f64 = 0.5;
    let (samples, _, _) = net.shape();
    let config = SsamConfig::new()
        .with_rho(RHO)
        .with_sparsity(SPARSITY)
        .with_fisher_samples(samples);
    let mask = fisher_scores(net)
        .and_then(|s| fisher_mask(&s, 1.0 - SPARSITY).ok())
        .unwrap_or_default();
    Case {
        name: "ssam-fisher",
        burn: Build::Fisher(config),
        reference: Method::Ssam { rho: RHO, mask },
    }
}

/// Per-weight Fisher scores of `net` at its initial point: the squared
/// per-example gradients summed over the examples (f32, as the tensors
/// keep them); `None` if one is not finite.
fn fisher_scores(net: &TanhNet) -> Option<Vec<f32>> {
    let w = net.initial_point();
    let (samples, _, _) = net.shape();
    let mut scores = vec![0.0f64; net.dim()];
    for k in 0..samples {
        for (s, g) in scores.iter_mut().zip(net.example_gradient(&w, k)) {
            *s += g * g;
        }
    }
    scores
        .iter()
        .all(|s| s.is_finite())
        .then(|| scores.into_iter().map(|s| s as f32).collect())
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

/// What the f64 side runs for a case.
struct Expected {
    method: Method,
    /// Subtract the sharpness part `g - g0` instead of adding it (the
    /// step `2 g0 - g`): a wrong sign.
    flipped: bool,
}

impl Expected {
    fn exact(method: Method) -> Self {
        Self {
            method,
            flipped: false,
        }
    }

    /// Runs `STEPS` steps on the reference and returns the weights.
    fn run(&self, problem: &dyn Problem) -> Result<Vec<f64>, sam_core::SamError> {
        let mut w = problem.initial_point();
        let mut state = SgdState::default();
        for step in 0..STEPS {
            let mut g = reference::combined_gradient(problem, &w, &self.method, SEED, step as u64)?
                .gradient;
            if self.flipped {
                let g0 = problem.gradient(&w);
                for (g, g0) in g.iter_mut().zip(g0) {
                    *g = 2.0 * g0 - *g;
                }
            }
            reference::sgd_step(&sgd_reference(), &mut state, &mut w, &g);
        }
        Ok(w)
    }
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

/// A case's result; a failed step or reference (`None`) counts as an
/// infinite error.
fn agreement(problem: &str, method: &str, relative_error: Option<f64>) -> Agreement {
    Agreement {
        problem: problem.into(),
        method: method.into(),
        relative_error: relative_error.unwrap_or(f64::INFINITY),
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
    /// The sharpness part `g - g0` with the wrong sign (the step uses
    /// `2 g0 - g`): SAM's ascent taken as a descent, or `-lambda`.
    WrongSign,
}

impl WrongAnswer {
    /// Every wrong answer.
    pub const ALL: [WrongAnswer; 4] = [
        Self::Sgd,
        Self::Doubled,
        Self::OtherScaling,
        Self::WrongSign,
    ];

    /// The wrong reference for `method`; `None` where the mistake does
    /// not apply (SGD has no sharpness part to drop).
    fn apply(self, method: &Method) -> Option<Expected> {
        if self == Self::WrongSign && !matches!(method, Method::Sgd) {
            return Some(Expected {
                method: method.clone(),
                flipped: true,
            });
        }
        Some(Expected::exact(self.method(method)?))
    }

    fn method(self, method: &Method) -> Option<Method> {
        Some(match (self, method) {
            (_, Method::Sgd) | (Self::WrongSign, _) => return None,
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

/// Two steps of every method (SGD, SAM, ASAM, SSAM with the reference's
/// mask, ten universal configurations: every preset, both scalings, four
/// samplers; three user-composed measures with one, two and three
/// streaming slots) with SGD (momentum 0.9, weight decay 5e-4) as the
/// base, on an indefinite quadratic and a two-layer tanh network, and SSAM
/// choosing its own Fisher mask on the tanh network, against `sam-core`'s
/// f64 reference with the same noise. A failed step counts as an infinite
/// error.
pub fn reference_agreement<B: AutodiffBackend>(device: &B::Device) -> Vec<Agreement> {
    compare::<B>(device, |case| Some(Expected::exact(case.reference.clone())))
}

/// Every case on both problems: the tensors run `case.burn`, the
/// reference runs `reference(case)` (cases without one are left out).
fn compare<B: AutodiffBackend>(
    device: &B::Device,
    reference: impl Fn(&Case) -> Option<Expected>,
) -> Vec<Agreement> {
    let mut out = Vec::new();

    let quadratic = Quadratic::indefinite(3, 6).expect("a valid problem");
    let minimiser = quadratic.minimiser().to_vec();
    let offset = quadratic.loss(&minimiser);
    let data = QuadraticData::<B>::new(quadratic.matrix(), &minimiser, offset, device);
    for case in cases(quadratic.dim()) {
        let Some(expected) = reference(&case) else {
            continue;
        };
        let error = (|| {
            let expected = expected.run(&quadratic).ok()?;
            let model = data.model(&quadratic.initial_point(), device);
            let model = run_tensors(&case, model, |m| data.loss(m), None, device)?;
            Some(relative_error(&to_vec(model.w.val()), &expected))
        })();
        out.push(agreement("quadratic", case.name, error));
    }

    let net = TanhNet::new(5, 12, 3, 4).expect("a valid problem");
    let data = TanhData::<B>::new(&net, device);
    let example = |m: &TanhModel<B>, k: usize| data.example_loss(m, k);
    for case in cases(net.dim()).into_iter().chain([fisher_case(&net)]) {
        let Some(expected) = reference(&case) else {
            continue;
        };
        let error = (|| {
            let expected = expected.run(&net).ok()?;
            let model = data.model(&net.initial_point(), device);
            let model = run_tensors(&case, model, |m| data.loss(m), Some(&example), device)?;
            Some(relative_error(&model.flat(), &expected))
        })();
        out.push(agreement("tanh-net", case.name, error));
    }
    out
}

/// Example `k`'s loss alone, for the Fisher mask.
type ExampleLoss<'a, M, B> = dyn Fn(&M, usize) -> Tensor<B, 1> + 'a;

/// `STEPS` steps of `case` on the tensors from `model`, with `loss` the
/// training loss and `example(m, k)` example `k`'s loss alone (for the
/// Fisher mask); `None` if a step fails.
fn run_tensors<B, M>(
    case: &Case,
    mut model: M,
    loss: impl Fn(&M) -> Tensor<B, 1>,
    example: Option<&ExampleLoss<'_, M, B>>,
    device: &B::Device,
) -> Option<M>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
{
    let mut optim = case.burn.init::<B, M>().ok()?;
    match (&case.burn, example) {
        (Build::Fisher(_), Some(example)) => {
            let ssam = optim.rule_mut().inner_mut().as_ssam_mut()?;
            ssam.refresh_mask(&model, |m: M, k| {
                GradientsParams::from_grads(example(&m, k).backward(), &m)
            })
            .ok()?;
        }
        (Build::Fisher(_), None) => return None,
        _ => install_mask(&mut optim, case, &model, device),
    }
    for _ in 0..STEPS {
        model = optim
            .step(LR, model, |m: M, _| loss_and_grads(&m, loss(&m)))
            .ok()?
            .0;
    }
    Some(model)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The Fisher case compares whole runs, so the tensors must pick the
    /// reference's mask: the scores at the cut (the last kept and the
    /// first dropped) differ by far more than f32 rounding of the tensor
    /// side's scores (about 1e-6 relative) could bridge.
    #[test]
    fn fisher_cut_is_well_separated() {
        let net = TanhNet::new(5, 12, 3, 4).unwrap();
        let mut scores = fisher_scores(&net).unwrap();
        scores.sort_by(|a, b| b.total_cmp(a));
        let keep = sam_core::rules::fisher_keep_count(scores.len(), 0.5).unwrap();
        let (kept, dropped) = (scores[keep - 1], scores[keep]);
        assert!(kept - dropped > 1e-3 * kept, "{kept} vs {dropped}");
    }
}
