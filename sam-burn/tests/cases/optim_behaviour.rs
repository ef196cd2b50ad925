//! Behaviour of the optimizers beyond the reference formulas: hand-computed
//! perturbations, SSAM's mask size, reductions to the base step, state
//! round trips, batch-norm statistics, perturbation schedules and typed
//! errors. CPU backend (Flex).

use crate::backends;
use crate::problems;

use std::cell::RefCell;

use backends::FlexAd as Ad;
use burn::grad_clipping::GradientClippingConfig;
use burn::module::{AutodiffModule, Module, Param};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, Optimizer, SgdConfig};
use burn::record::{BinBytesRecorder, FullPrecisionSettings, Recorder};
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};
use problems::{QuadraticData, QuadraticModel, loss_and_grads, tensor1, to_vec};
use sam_burn::optim::{
    AsamConfig, BaseConfig, Between, Decision, Guard, MethodConfig, MethodOptimizer, NonFinite,
    OptimError, Pass, RunningStats, SamConfig, Schedule, SsamConfig, StepReport,
    UniversalSamConfig,
};
use sam_core::SamError;
use sam_core::presets::Preset;

/// A method's optimizer for the quadratic model, around base optimizer `O`.
type QuadOptim<O> = MethodOptimizer<QuadraticModel<Ad>, Ad, O>;

fn device() -> burn::tensor::Device<Ad> {
    Default::default()
}

/// SGD for the quadratic model; `momentum` gives it state to carry.
fn sgd(momentum: Option<MomentumConfig>) -> impl Optimizer<QuadraticModel<Ad>, Ad> {
    SgdConfig::new()
        .with_momentum(momentum)
        .init::<Ad, QuadraticModel<Ad>>()
}

/// Momentum 0.9 (Burn's default), no dampening.
fn momentum() -> Option<MomentumConfig> {
    Some(MomentumConfig::new().with_dampening(0.0))
}

/// `method` around plain SGD.
fn init(method: &MethodConfig) -> QuadOptim<impl Optimizer<QuadraticModel<Ad>, Ad> + use<>> {
    method.init(sgd(None)).unwrap()
}

/// The closure of every quadratic step: the loss and its gradients.
fn pass(
    data: &QuadraticData<Ad>,
) -> impl Fn(QuadraticModel<Ad>, Pass) -> (f64, GradientsParams) + Copy + '_ {
    move |m, _| {
        let loss = data.loss(&m);
        loss_and_grads(&m, loss)
    }
}

/// The gradient of `model`'s weights in `grads`.
fn grad_of(grads: &GradientsParams, model: &QuadraticModel<Ad>) -> Vec<f64> {
    to_vec(
        grads
            .get::<<Ad as AutodiffBackend>::InnerBackend, 1>(model.w.id)
            .expect("w has a gradient"),
    )
}

/// `L(w) = 1/2 ||w - w*||^2` in 2-D: g0 = w - w*, handy for hand values.
fn identity_quadratic() -> QuadraticData<Ad> {
    QuadraticData::new(&[1.0, 0.0, 0.0, 1.0], &[0.0, 0.0], 0.0, &device())
}

/// Runs one step and returns the weights the closure saw, in call order.
fn seen_weights(
    method: &MethodConfig,
    data: &QuadraticData<Ad>,
    w: &[f64],
) -> (Vec<Vec<f64>>, Vec<f64>) {
    let seen = RefCell::new(Vec::new());
    let model = data.model(w, &device());
    let mut optim = init(method);
    let (model, _) = optim
        .step(0.1, model, |m: QuadraticModel<Ad>, _| {
            seen.borrow_mut().push(to_vec(m.w.val()));
            let loss = data.loss(&m);
            loss_and_grads(&m, loss)
        })
        .unwrap();
    (seen.into_inner(), to_vec(model.w.val()))
}

fn assert_vec(actual: &[f64], expected: &[f64], tol: f64) {
    for (a, e) in actual.iter().zip(expected) {
        assert!(
            (a - e).abs() <= tol,
            "{actual:?} != {expected:?} (tol {tol})"
        );
    }
}

// Hand values below are exact in binary or to f32 precision; 1e-6 is a few
// f32 ulps of O(1) numbers.
#[test]
fn sam_perturbs_along_the_normalised_gradient() {
    // g0 = (3, 4), ||g0|| = 5: w + 0.05 * (0.6, 0.8).
    let (seen, _) = seen_weights(
        &MethodConfig::Sam(SamConfig::new()),
        &identity_quadratic(),
        &[3.0, 4.0],
    );
    assert_eq!(seen.len(), 2);
    assert_vec(&seen[0], &[3.0, 4.0], 0.0);
    assert_vec(&seen[1], &[3.03, 4.04], 1e-6);
}

#[test]
fn asam_perturbs_in_the_adaptive_metric() {
    // w = (3, 4), g0 = (3, 4), eta = 0.01: T = (3.01, 4.01),
    // T g = (9.03, 16.04), ||T g|| = sqrt(81.5409 + 257.2816) = 18.40718...,
    // e = 0.5 * T^2 g / ||T g|| = 0.5 * (27.1803, 64.32040) / 18.40718.
    let norm = (9.03f64 * 9.03 + 16.04 * 16.04).sqrt();
    let e = [
        0.5 * 3.01 * 3.01 * 3.0 / norm,
        0.5 * 4.01 * 4.01 * 4.0 / norm,
    ];
    let (seen, _) = seen_weights(
        &MethodConfig::Asam(AsamConfig::new()),
        &identity_quadratic(),
        &[3.0, 4.0],
    );
    assert_vec(&seen[1], &[3.0 + e[0], 4.0 + e[1]], 1e-5);
}

#[test]
fn zero_lambda_and_zero_rho_are_exactly_the_base_step() {
    let data = identity_quadratic();
    let w = [0.7, -1.3];
    let (seen_base, base) = seen_weights(&MethodConfig::Base(BaseConfig::new()), &data, &w);
    assert_eq!(seen_base.len(), 1);
    for method in [
        MethodConfig::Universal(UniversalSamConfig::new(Preset::Frob).with_lambda(Some(0.0))),
        MethodConfig::Universal(UniversalSamConfig::new(Preset::Det).with_lambda(Some(0.0))),
        MethodConfig::Universal(
            UniversalSamConfig::new(Preset::Frob)
                .with_lambda(Some(0.0))
                .with_guard(
                    Guard::bounded(1e-3)
                        .unwrap()
                        .with_on_non_finite(NonFinite::Skip),
                ),
        ),
        MethodConfig::Sam(SamConfig::new().with_rho(0.0)),
        MethodConfig::Asam(AsamConfig::new().with_rho(0.0)),
    ] {
        let (seen, after) = seen_weights(&method, &data, &w);
        assert_eq!(seen.len(), 1, "{method:?} must skip the extra passes");
        assert_eq!(after, base, "{method:?} must equal the base step bitwise");
    }
}

#[test]
fn ssam_mask_keeps_exactly_the_requested_fraction() {
    // 37 weights, sparsity 0.3: round(0.7 * 37) = 26 kept.
    let n = 37;
    let data = QuadraticData::<Ad>::new(
        &(0..n * n)
            .map(|k| if k % (n + 1) == 0 { 1.0 } else { 0.0 })
            .collect::<Vec<_>>(),
        &vec![0.0; n],
        0.0,
        &device(),
    );
    let model = data.model(
        &(0..n).map(|i| i as f64 * 0.1 - 1.0).collect::<Vec<_>>(),
        &device(),
    );
    let mut rule = SsamConfig::new()
        .with_sparsity(0.3)
        .with_fisher_samples(4)
        .rule::<Ad>()
        .unwrap();
    assert!(rule.needs_refresh());
    rule.refresh_mask(&model, |m: QuadraticModel<Ad>, i| {
        // Per-example losses: different targets per example.
        let target = tensor1::<Ad>(&vec![i as f64 * 0.25; n], &device());
        let loss = (m.w.val() - target).square().sum();
        GradientsParams::from_grads(loss.backward(), &m)
    })
    .unwrap();
    assert_eq!(rule.mask_counts(), Some((26, 37)));
    assert!(!rule.needs_refresh());
}

#[test]
fn ssam_without_mask_is_a_typed_error_and_returns_the_model() {
    let data = identity_quadratic();
    let model = data.model(&[1.0, 2.0], &device());
    let mut optim = init(&MethodConfig::Ssam(SsamConfig::new()));
    let failure = optim.step(0.1, model, pass(&data)).unwrap_err();
    assert!(matches!(failure.error, OptimError::MaskMissing));
    assert_eq!(to_vec(failure.model.w.val()), vec![1.0, 2.0]);
}

#[test]
fn bad_configuration_is_a_typed_error() {
    let err = |r: Result<_, OptimError>| r.expect_err("must fail");
    assert!(matches!(
        err(SamConfig::new().with_rho(-0.1).rule().map(|_| ())),
        OptimError::InvalidConfig { name: "rho", .. }
    ));
    assert!(matches!(
        err(AsamConfig::new().with_eta(f64::NAN).rule().map(|_| ())),
        OptimError::InvalidConfig { name: "eta", .. }
    ));
    assert!(matches!(
        err(SsamConfig::new()
            .with_sparsity(1.0)
            .rule::<Ad>()
            .map(|_| ())),
        OptimError::InvalidConfig {
            name: "sparsity",
            ..
        }
    ));
    assert!(matches!(
        err(UniversalSamConfig::new(Preset::Frob)
            .with_guard(Guard {
                max_ratio: Some(-1.0),
                on_non_finite: NonFinite::Stop,
            })
            .rule()
            .map(|_| ())),
        OptimError::Core(SamError::InvalidParameter {
            name: "max_ratio",
            ..
        })
    ));
    assert!(matches!(
        err(UniversalSamConfig::new(Preset::Frob)
            .with_samples(Some(1))
            .rule()
            .map(|_| ())),
        OptimError::Core(SamError::TooFewSamples { needed: 2, got: 1 })
    ));
    assert!(matches!(
        err(UniversalSamConfig::new(Preset::Trace)
            .with_lambda(Some(-1.0))
            .rule()
            .map(|_| ())),
        OptimError::Core(SamError::InvalidLambda(_))
    ));
    assert!(matches!(
        err(UniversalSamConfig::new(Preset::Trace)
            .with_rho(Some(0.0))
            .rule()
            .map(|_| ())),
        OptimError::Core(SamError::InvalidRho(_))
    ));
}

#[test]
fn non_finite_loss_is_a_typed_error_and_changes_nothing() {
    let data = identity_quadratic();
    let mut optim = init(&MethodConfig::Universal(UniversalSamConfig::new(
        Preset::Trace,
    )));
    let mut calls = 0;
    let failure = optim
        .step(
            0.1,
            data.model(&[1.0, 2.0], &device()),
            |m: QuadraticModel<Ad>, _| {
                calls += 1;
                let (loss, grads) = loss_and_grads(&m, data.loss(&m));
                (if calls == 2 { f64::NAN } else { loss }, grads)
            },
        )
        .unwrap_err();
    assert!(matches!(
        failure.error,
        OptimError::NonFiniteLoss {
            pass: Pass::Perturbed { sample: 0 },
            ..
        }
    ));
    assert_eq!(to_vec(failure.model.w.val()), vec![1.0, 2.0]);
    assert_eq!(
        optim.rule().step_count(),
        0,
        "a failed step does not advance the noise"
    );
}

#[test]
fn clipping_applies_to_the_combined_gradient() {
    // SAM's gradient at w + e is (3.03, 4.04); clipping by value 1 makes
    // the SGD step exactly lr * (1, 1).
    let data = identity_quadratic();
    let (_, after) = seen_weights(
        &MethodConfig::Sam(
            SamConfig::new().with_grad_clipping(Some(GradientClippingConfig::Value(1.0))),
        ),
        &data,
        &[3.0, 4.0],
    );
    assert_vec(&after, &[2.9, 3.9], 1e-6);
}

#[test]
fn the_base_method_clips_and_needs_gradients_like_the_others() {
    // The clean gradient at (3, 4) is (3, 4); clipped by value 1 the step
    // is lr * (1, 1), exactly as SAM's above.
    let data = identity_quadratic();
    let clipped = BaseConfig::new().with_grad_clipping(Some(GradientClippingConfig::Value(1.0)));
    let (_, after) = seen_weights(&MethodConfig::Base(clipped), &data, &[3.0, 4.0]);
    assert_vec(&after, &[2.9, 3.9], 1e-6);

    let mut optim = init(&MethodConfig::Base(BaseConfig::new()));
    let failure = optim
        .step(0.1, data.model(&[3.0, 4.0], &device()), |m, _| {
            let (loss, _) = loss_and_grads(&m, data.loss(&m));
            (loss, GradientsParams::new())
        })
        .unwrap_err();
    assert!(matches!(failure.error, OptimError::NoGradients));
    assert_eq!(to_vec(failure.model.w.val()), vec![3.0, 4.0]);
    assert_eq!(optim.rule().step_count(), 0);
}

#[test]
fn the_base_method_is_the_burn_optimizer_bit_for_bit() {
    // Flattening the gradients and registering them again only moves
    // tensor handles: five steps with momentum and weight decay must match
    // Burn's SGD fed the closure's gradients directly, exactly.
    let data = tilted_quadratic();
    let decayed = || {
        SgdConfig::new()
            .with_momentum(momentum())
            .with_weight_decay(Some(burn::optim::decay::WeightDecayConfig {
                penalty: 5e-4,
            }))
            .init::<Ad, QuadraticModel<Ad>>()
    };
    let start = data.model(&[1.0, -2.0, 0.5], &device());
    let mut plain = decayed();
    let mut model = start.clone();
    for _ in 0..5 {
        let (_, grads) = loss_and_grads(&model, data.loss(&model));
        model = plain.step(0.05, model, grads);
    }
    let mut base = MethodConfig::Base(BaseConfig::new())
        .init(decayed())
        .unwrap();
    let stepped = run_steps(&mut base, &data, start, 5);
    assert_eq!(to_vec(stepped.w.val()), to_vec(model.w.val()));
}

#[test]
fn the_closure_is_told_which_pass_it_runs() {
    let data = identity_quadratic();
    let passes = |method: MethodConfig, steps: usize| {
        let mut optim = init(&method);
        let mut model = data.model(&[1.0, 2.0], &device());
        let mut seen = Vec::new();
        for _ in 0..steps {
            let (next, report) = optim
                .step(0.01, model, |m: QuadraticModel<Ad>, pass| {
                    seen.push(pass);
                    let (loss, grads) = loss_and_grads(&m, data.loss(&m));
                    (loss, grads, pass)
                })
                .unwrap();
            // The report keeps the clean pass's extra output.
            assert_eq!(report.output, Pass::Clean);
            model = next;
        }
        seen
    };
    let p = |sample| Pass::Perturbed { sample };
    assert_eq!(
        passes(MethodConfig::Base(BaseConfig::new()), 2),
        [Pass::Clean; 2]
    );
    assert_eq!(
        passes(MethodConfig::Sam(SamConfig::new()), 1),
        [Pass::Clean, p(0)]
    );
    assert_eq!(
        passes(
            MethodConfig::Universal(UniversalSamConfig::new(Preset::Frob).with_samples(Some(3))),
            1
        ),
        [Pass::Clean, p(0), p(1), p(2)]
    );
    // On one step in two: the step between has the clean pass alone.
    for between in [Between::Base, Between::Reuse] {
        assert_eq!(
            passes(
                MethodConfig::Asam(AsamConfig::new().with_schedule(every(2, between))),
                3
            ),
            [Pass::Clean, p(0), Pass::Clean, Pass::Clean, p(0)]
        );
    }
    assert!(Pass::Clean.is_clean() && !p(0).is_clean());
}

#[test]
fn validate_rejects_what_init_rejects_with_the_same_error() {
    let bad = [
        MethodConfig::Sam(SamConfig::new().with_rho(f64::INFINITY)),
        MethodConfig::Asam(AsamConfig::new().with_eta(-1.0)),
        MethodConfig::Ssam(SsamConfig::new().with_fisher_samples(0)),
        MethodConfig::Universal(UniversalSamConfig::new(Preset::Det).with_samples(Some(0))),
        MethodConfig::Universal(
            UniversalSamConfig::new(Preset::Frob).with_schedule(Schedule {
                every: 0,
                between: Between::Base,
            }),
        ),
    ];
    for method in bad {
        let validated = method.validate().expect_err("must fail").to_string();
        let built = method
            .init(sgd(None))
            .err()
            .expect("init must fail too")
            .to_string();
        assert_eq!(validated, built, "{method:?}");
    }
    for good in scheduled_methods(every(3, Between::Reuse)) {
        assert!(good.validate().is_ok(), "{good:?}");
    }
    assert!(MethodConfig::Base(BaseConfig::new()).validate().is_ok());
}

/// Steps `k` times from `model`, returning the model and the optimizer.
fn run_steps<O: Optimizer<QuadraticModel<Ad>, Ad>>(
    optim: &mut QuadOptim<O>,
    data: &QuadraticData<Ad>,
    mut model: QuadraticModel<Ad>,
    k: usize,
) -> QuadraticModel<Ad> {
    for _ in 0..k {
        model = optim.step(0.05, model, pass(data)).unwrap().0;
    }
    model
}

#[test]
fn record_round_trip_resumes_exactly() {
    let data = tilted_quadratic();
    for method in [
        MethodConfig::Universal(UniversalSamConfig::new(Preset::Frob).with_seed(11)),
        MethodConfig::Universal(UniversalSamConfig::new(Preset::Det)),
        // Bounded on every step: the guard's counters resume too.
        MethodConfig::Universal(
            UniversalSamConfig::new(Preset::Frob)
                .with_seed(11)
                .with_guard(Guard::bounded(1e-3).unwrap()),
        ),
        MethodConfig::Sam(SamConfig::new()),
    ] {
        let start = data.model(&[1.0, 1.0, 1.0], &device());
        let (straight, mid, mut c) = interrupted(&method, || sgd(momentum()), &data, start);
        // The model goes through its record too, into fresh weights.
        let recorder = BinBytesRecorder::<FullPrecisionSettings>::default();
        let model_bytes = recorder.record(mid.into_record(), ()).unwrap();
        let fresh = data.model(&[9.0, 9.0, 9.0], &device());
        let loaded = fresh.load_record(recorder.load(model_bytes, &device()).unwrap());
        if let MethodConfig::Universal(u) = &method
            && u.guard.max_ratio.is_some()
        {
            assert_eq!(c.rule().inner().guard_counts(), (3, 0));
        }
        let resumed = run_steps(&mut c, &data, loaded, 2);
        assert_eq!(
            to_vec(resumed.w.val()),
            to_vec(straight.w.val()),
            "{method:?}: resume must equal the uninterrupted run bitwise"
        );
    }
}

/// Five steps of `method` (around `base()`) from `start`, and an
/// interrupted run: three steps, then the optimizer saved and loaded into a
/// fresh one. Returns the five-step model, the three-step one and the
/// restored optimizer (checked to be at step 3).
fn interrupted<O: Optimizer<QuadraticModel<Ad>, Ad>>(
    method: &MethodConfig,
    base: impl Fn() -> O,
    data: &QuadraticData<Ad>,
    start: QuadraticModel<Ad>,
) -> (QuadraticModel<Ad>, QuadraticModel<Ad>, QuadOptim<O>) {
    let mut a = method.init(base()).unwrap();
    let straight = run_steps(&mut a, data, start.clone(), 5);
    let mut b = method.init(base()).unwrap();
    let mid = run_steps(&mut b, data, start, 3);
    let recorder = BinBytesRecorder::<FullPrecisionSettings>::default();
    let optim_bytes = recorder.record(b.to_record(), ()).unwrap();
    drop(b);
    let restored = method
        .init(base())
        .unwrap()
        .load_record(recorder.load(optim_bytes, &device()).unwrap());
    assert_eq!(restored.rule().step_count(), 3, "{method:?}");
    (straight, mid, restored)
}

/// A linear layer followed by batch norm over features.
#[derive(Module, Debug)]
struct BnNet<B: Backend> {
    linear: Linear<B>,
    norm: BatchNorm<B>,
}

impl<B: Backend> BnNet<B> {
    fn loss(&self, x: Tensor<B, 2>) -> Tensor<B, 1> {
        let h = self.linear.forward(x).unsqueeze_dim::<3>(2);
        self.norm.forward(h).tanh().square().mean()
    }
}

fn bn_running_mean(net: &BnNet<Ad>) -> Vec<f64> {
    to_vec(net.norm.running_mean.value_sync())
}

#[test]
fn batch_norm_statistics_come_from_the_clean_pass_only() {
    let dev = device();
    let template = BnNet::<Ad> {
        linear: LinearConfig::new(3, 4).init(&dev),
        norm: BatchNormConfig::new(4).init(&dev),
    };
    let x = Tensor::<Ad, 2>::from_floats(
        [
            [1.0, -2.0, 0.5],
            [0.3, 0.8, -1.0],
            [2.0, 0.1, 0.4],
            [-0.7, 1.5, 0.9],
        ],
        &dev,
    );
    // A fresh copy with private running states (a clone would share them).
    let copy = || BnNet::<Ad>::from_inner(template.valid());
    let closure = |m: BnNet<Ad>, _: Pass| {
        let loss = m.loss(x.clone());
        loss_and_grads(&m, loss)
    };

    // The clean pass alone.
    let clean = copy();
    let _ = closure(clean.clone(), Pass::Clean);
    let expected = bn_running_mean(&clean);
    assert_ne!(
        expected,
        bn_running_mean(&template),
        "the clean pass must move the statistics"
    );

    for method in [
        MethodConfig::Sam(SamConfig::new().with_rho(0.5)),
        MethodConfig::Universal(UniversalSamConfig::new(Preset::Frob).with_rho(Some(0.5))),
    ] {
        let mut optim = method
            .init(SgdConfig::new().init::<Ad, BnNet<Ad>>())
            .unwrap();
        let (after, _) = optim.step(0.0, copy(), closure).unwrap();
        assert_eq!(bn_running_mean(&after), expected, "{method:?}");
    }

    // Opting in to the reference behaviour lets perturbed passes through.
    let mut optim = MethodConfig::Sam(
        SamConfig::new()
            .with_rho(0.5)
            .with_running_stats(RunningStats::AllPasses),
    )
    .init(SgdConfig::new().init::<Ad, BnNet<Ad>>())
    .unwrap();
    let (after, _) = optim.step(0.0, copy(), closure).unwrap();
    assert_ne!(bn_running_mean(&after), expected);
}

#[test]
fn frozen_parameters_are_neither_perturbed_nor_updated() {
    // All parameters frozen: no gradient, a typed error.
    let data = identity_quadratic();
    let mut model = data.model(&[3.0, 4.0], &device());
    model.w = Param::from_tensor(model.w.val()).set_require_grad(false);
    let mut optim = init(&MethodConfig::Sam(SamConfig::new()));
    let failure = optim.step(0.1, model, pass(&data)).unwrap_err();
    assert!(matches!(failure.error, OptimError::NoGradients));

    // A frozen weight beside a trainable bias: every pass sees the weight
    // as it was, the step leaves it bit for bit, and the bias moves.
    let values = |t: Tensor<Ad, 2>| t.into_data().to_vec::<f32>().unwrap();
    for method in [
        MethodConfig::Sam(SamConfig::new().with_rho(0.5)),
        MethodConfig::Universal(UniversalSamConfig::new(Preset::Frob).with_rho(Some(0.5))),
    ] {
        let mut linear: Linear<Ad> = LinearConfig::new(3, 1).init(&device());
        linear.weight = Param::from_tensor(linear.weight.val()).set_require_grad(false);
        let frozen = values(linear.weight.val());
        let bias = linear
            .bias
            .as_ref()
            .unwrap()
            .val()
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        let x = Tensor::<Ad, 2>::ones([4, 3], &device());
        let seen = RefCell::new(Vec::new());
        let mut optim = method.init(SgdConfig::new().init()).unwrap();
        let (after, report) = optim
            .step(0.1, linear, |m: Linear<Ad>, _| {
                seen.borrow_mut().push(values(m.weight.val()));
                let loss = m.forward(x.clone()).sub_scalar(5.0).powi_scalar(2).mean();
                loss_and_grads(&m, loss)
            })
            .map_err(|f| f.error)
            .unwrap();
        assert_eq!(report.passes, seen.borrow().len());
        assert!(
            report.passes >= 2,
            "{}: perturbed passes ran",
            method.name()
        );
        for weights in seen.borrow().iter() {
            assert_eq!(
                weights,
                &frozen,
                "{}: a pass saw a perturbed frozen weight",
                method.name()
            );
        }
        assert_eq!(
            values(after.weight.val()),
            frozen,
            "{}: the step moved it",
            method.name()
        );
        let moved = after
            .bias
            .as_ref()
            .unwrap()
            .val()
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        assert_ne!(moved, bias, "{}: the trainable bias moved", method.name());
    }
}

#[cfg(feature = "learner")]
#[test]
fn learner_optimizer_records_the_shared_rule() {
    let data = identity_quadratic();
    let make = || {
        UniversalSamConfig::new(Preset::Trace)
            .init(SgdConfig::new().init::<Ad, QuadraticModel<Ad>>())
            .unwrap()
            .into_learner()
    };
    let (rule, optim) = make();
    let mut model = data.model(&[1.0, 2.0], &device());
    let mut optim = optim;
    for _ in 0..3 {
        let out = rule.gradients(&model, pass(&data)).unwrap();
        model = optim.step(0.1, model, out.grads);
    }
    let record = optim.to_record();
    assert_eq!(record.1.0.step, 3, "three steps keyed the noise");

    let (fresh_rule, fresh_optim) = make();
    let _restored = fresh_optim.load_record(record);
    assert_eq!(fresh_rule.with(|r| r.step_count()), 3);
}

/// The combined gradient of one step at `w` and its report.
fn combined_at(
    method: &MethodConfig,
    data: &QuadraticData<Ad>,
    w: &[f64],
) -> (Vec<f64>, StepReport<()>, (u64, u64)) {
    let model = data.model(w, &device());
    let mut optim = init(method);
    let out = optim.gradients(&model, pass(data)).unwrap();
    let g = grad_of(&out.grads, &model);
    (g, out.report, optim.rule().inner().guard_counts())
}

fn frob(lambda: f64, guard: Guard) -> MethodConfig {
    MethodConfig::Universal(
        UniversalSamConfig::new(Preset::Frob)
            .with_lambda(Some(lambda))
            .with_seed(5)
            .with_guard(guard),
    )
}

#[test]
fn guard_bounds_an_exploding_sharpness_part() {
    // Frob's sharpness part is linear in lambda; at lambda 1e4 on the
    // identity quadratic (g0 = w) it dwarfs g0.
    let data = identity_quadratic();
    let w = [0.3, -0.4];
    let lambda = 1e4;
    let (g_off, report, counts) = combined_at(&frob(lambda, Guard::OFF), &data, &w);
    let off = report.guard.expect("the universal class reports its norms");
    assert_eq!(off.decision, Decision::Keep);
    assert_eq!(counts, (0, 0));
    let ratio = off.ratio().unwrap();
    assert!(
        ratio > 10.0,
        "the test needs an exploding part: ratio {ratio}"
    );
    // ||g0|| = 0.5 exactly; f32 norms agree to a few ulps.
    assert!((off.gradient_norm - 0.5).abs() < 1e-6);

    let c = 2.0;
    let (g, report, counts) = combined_at(&frob(lambda, Guard::bounded(c).unwrap()), &data, &w);
    let guarded = report.guard.unwrap();
    assert!(matches!(guarded.decision, Decision::Scale(f) if f < 1.0));
    assert_eq!(counts, (1, 0));
    // The f64 reference of the guard applied to the unguarded step. The
    // tensor side forms g - g0 and its norm in f32: relative error a few
    // 1e-7 of ||g||, so 1e-5 of the largest entry is ample.
    let (want, decision) = Guard::bounded(c).unwrap().apply(&w, &g_off).unwrap();
    assert!(matches!(decision, Decision::Scale(_)));
    let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    assert_vec(&g, &want, 1e-5 * scale);
    // The bounded part has norm c ||g0|| = 1.
    let part: f64 = g
        .iter()
        .zip(&w)
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f64>()
        .sqrt();
    assert!((part - c * 0.5).abs() < 1e-5, "||g - g0|| = {part}");
}

#[test]
fn guard_bounds_a_det_step_whose_coefficient_overflows() {
    // Det on a steep quadratic (A = 1e9 I): x = (L_1 - L_0) / rho^2 is
    // about 5e4, so the coefficient exp(x) leaves f64's range.
    let k = 1e9;
    let data = QuadraticData::<Ad>::new(&[k, 0.0, 0.0, k], &[0.0, 0.0], 0.0, &device());
    let w = [1e-4, -2e-4];
    let det = |guard| {
        MethodConfig::Universal(
            UniversalSamConfig::new(Preset::Det)
                .with_seed(3)
                .with_guard(guard),
        )
    };
    // Without a bound: today's typed error, nothing changed.
    let mut optim = init(&det(Guard::OFF));
    let failure = optim
        .step(0.1, data.model(&w, &device()), pass(&data))
        .unwrap_err();
    assert!(
        matches!(failure.error, OptimError::Core(SamError::Overflow { .. })),
        "{:?}",
        failure.error
    );
    // With one: the step is bounded in the log domain.
    let guard = Guard::bounded(0.5).unwrap();
    let (g, report, counts) = combined_at(&det(guard), &data, &w);
    let decision = report.guard.unwrap().decision;
    assert!(
        matches!(decision, Decision::Scale(f) if f < 1e-300),
        "{decision:?}"
    );
    assert_eq!(counts, (1, 0));
    let problem =
        sam_core::problems::Quadratic::from_matrix(vec![k, 0.0, 0.0, k], vec![0.0, 0.0], 0.0)
            .unwrap();
    let method = sam_core::reference::Method::Universal {
        measure: std::sync::Arc::new(sam_core::presets::Det::default()),
        rho: 1.0,
        lambda: 1.0,
        samples: 1,
        scaling: sam_core::estimator::Scaling::Reference,
    };
    let (want, _) =
        sam_core::reference::guarded_gradient(&problem, &w, &method, &guard, (3, 0)).unwrap();
    // g1 - g0 = A delta is formed in f32 from gradients of order 1e7: an
    // absolute error near 1, scaled down with the part by ~5e-3. 1e-5 of
    // the largest entry (~1e5) is 1; a wrong sign or a bound on the wrong
    // norm moves the result by ~5e4.
    let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    assert_vec(&g, &want, 1e-5 * scale);
    let flipped: Vec<f64> = want.iter().zip(&w).map(|(g, w)| 2.0 * k * w - g).collect();
    assert!(
        g.iter().zip(&flipped).any(|(a, b)| (a - b).abs() > 1e3),
        "the part's sign matters"
    );
}

#[test]
fn guard_that_does_not_act_leaves_the_step_bitwise() {
    let data = identity_quadratic();
    let w = [0.3, -0.4];
    let (g_off, _, _) = combined_at(&frob(0.005, Guard::OFF), &data, &w);
    let (g, report, counts) = combined_at(&frob(0.005, Guard::bounded(1e9).unwrap()), &data, &w);
    assert_eq!(report.guard.unwrap().decision, Decision::Keep);
    assert_eq!(counts, (0, 0));
    assert_eq!(g, g_off);
}

#[test]
fn non_finite_perturbed_loss_can_skip_the_sharpness_part() {
    let data = identity_quadratic();
    let w = [1.0, 2.0];
    let (_, base) = seen_weights(&MethodConfig::Base(BaseConfig::new()), &data, &w);
    let method = MethodConfig::Universal(
        UniversalSamConfig::new(Preset::Trace)
            .with_guard(Guard::OFF.with_on_non_finite(NonFinite::Skip)),
    );
    let mut optim = init(&method);
    let mut calls = 0;
    let (model, report) = optim
        .step(
            0.1,
            data.model(&w, &device()),
            |m: QuadraticModel<Ad>, _| {
                calls += 1;
                let (loss, grads) = loss_and_grads(&m, data.loss(&m));
                (if calls == 2 { f64::INFINITY } else { loss }, grads)
            },
        )
        .unwrap();
    assert_eq!(calls, 2);
    assert_eq!(report.passes, 2);
    assert!(report.sharpness.is_none());
    assert_eq!(report.guard.unwrap().decision, Decision::Skip);
    // The base step from g0, bit for bit.
    assert_eq!(to_vec(model.w.val()), base);
    assert_eq!(optim.rule().step_count(), 1, "a skipped step still counts");
    assert_eq!(optim.rule().inner().guard_counts(), (0, 1));
}

fn every(k: u64, between: Between) -> Schedule {
    Schedule::every(k, between).unwrap()
}

/// The methods with perturbed passes, on schedule `s`.
fn scheduled_methods(s: Schedule) -> Vec<MethodConfig> {
    vec![
        MethodConfig::Sam(SamConfig::new().with_schedule(s)),
        MethodConfig::Asam(AsamConfig::new().with_schedule(s)),
        MethodConfig::Universal(
            UniversalSamConfig::new(Preset::Frob)
                .with_seed(3)
                .with_schedule(s),
        ),
        MethodConfig::Universal(UniversalSamConfig::new(Preset::Det).with_schedule(s)),
    ]
}

/// A 3-D quadratic with unequal curvatures, so gradients change direction
/// from step to step.
fn tilted_quadratic() -> QuadraticData<Ad> {
    QuadraticData::<Ad>::new(
        &[2.0, 0.5, 0.0, 0.5, 1.0, 0.3, 0.0, 0.3, 3.0],
        &[0.1, -0.2, 0.3],
        0.5,
        &device(),
    )
}

/// Steps plain SGD (no state, so any step can be replayed alone) and
/// returns the passes of each step.
fn passes_of_steps(
    method: &MethodConfig,
    data: &QuadraticData<Ad>,
    mut model: QuadraticModel<Ad>,
    steps: usize,
) -> (QuadraticModel<Ad>, Vec<usize>) {
    let mut optim = init(method);
    let mut passes = Vec::new();
    for _ in 0..steps {
        let calls = RefCell::new(0usize);
        let (next, report) = optim
            .step(0.05, model, |m: QuadraticModel<Ad>, _| {
                *calls.borrow_mut() += 1;
                let loss = data.loss(&m);
                loss_and_grads(&m, loss)
            })
            .unwrap();
        assert_eq!(report.passes, calls.into_inner(), "{method:?}");
        passes.push(report.passes);
        model = next;
    }
    (model, passes)
}

#[test]
fn every_k_runs_the_perturbed_passes_on_one_step_in_k() {
    let data = tilted_quadratic();
    for method in scheduled_methods(every(3, Between::Base)) {
        let full = method.passes_per_step();
        let (_, passes) =
            passes_of_steps(&method, &data, data.model(&[1.0, 1.0, 1.0], &device()), 7);
        assert_eq!(passes, [full, 1, 1, full, 1, 1, full], "{method:?}");
        assert!((method.mean_passes_per_step() - (full as f64 + 2.0) / 3.0).abs() < 1e-12);
    }
}

#[test]
fn steps_between_are_exactly_base_steps() {
    // After the perturbed step 0, steps 1 and 2 of every = 3 are SGD's
    // steps from the same weights, bit for bit.
    let data = tilted_quadratic();
    let start = data.model(&[1.0, -1.0, 0.5], &device());
    for method in scheduled_methods(every(3, Between::Base)) {
        let (after_first, _) = passes_of_steps(&method, &data, start.clone(), 1);
        let (scheduled, _) = passes_of_steps(&method, &data, start.clone(), 3);
        let (base, _) = passes_of_steps(
            &MethodConfig::Base(BaseConfig::new()),
            &data,
            after_first,
            2,
        );
        assert_eq!(
            to_vec(scheduled.w.val()),
            to_vec(base.w.val()),
            "{method:?}"
        );
    }
}

#[test]
fn reuse_adds_the_remembered_part_rescaled_to_the_clean_gradient() {
    // SAM on L = 1/2 ||w||^2 from w0 = (3, 4): g0 = w0, ||g0|| = 5, the
    // perturbed gradient is w0 (1 + 0.05 / 5), so the part is 0.01 w0.
    // SGD (lr 0.1) moves to w1 = 0.899 w0; the reuse step's gradient is
    // w1 + (||w1|| / 5) 0.01 w0 = w1 + 0.01 w1 (as ||w1|| / 5 = 0.899), and
    // w2 = w1 - 0.1 * 1.01 w1. f32 arithmetic: 1e-6 is a few ulps.
    let data = identity_quadratic();
    let method = MethodConfig::Sam(SamConfig::new().with_schedule(every(2, Between::Reuse)));
    let mut optim = init(&method);
    let mut model = data.model(&[3.0, 4.0], &device());
    let mut passes = Vec::new();
    for _ in 0..2 {
        let (next, report) = optim.step(0.1, model, pass(&data)).unwrap();
        passes.push(report.passes);
        model = next;
    }
    assert_eq!(passes, [2, 1]);
    let w1 = [3.0 * 0.899, 4.0 * 0.899];
    assert_vec(
        &to_vec(model.w.val()),
        &[w1[0] * (1.0 - 0.101), w1[1] * (1.0 - 0.101)],
        1e-6,
    );
    assert!(optim.rule().remembers_part());
}

#[test]
fn reuse_step_matches_the_f64_reference() {
    // The perturbed step's combined gradient g_k at w_k, then a reuse step
    // at other weights w_t against `Schedule::reuse` in f64 from the
    // same g0_t and part g_k - g0_k. Tolerance 1e-5: f32 sums of O(1)
    // entries, and the norm ratio, each good to a few 1e-7.
    let data = tilted_quadratic();
    let schedule = every(2, Between::Reuse);
    for method in scheduled_methods(schedule) {
        let mut optim = init(&method);
        // One parameter id for both weights, as in training.
        let id = data.model(&[0.0; 3], &device()).w.id;
        let grad_at = |optim: &mut QuadOptim<_>, w: &[f64]| {
            let model = QuadraticModel {
                w: Param::initialized(id, tensor1::<Ad>(w, &device()).require_grad()),
            };
            let out = optim.gradients(&model, pass(&data)).unwrap();
            (grad_of(&out.grads, &model), out.report.passes)
        };
        let (wk, wt) = ([1.0, -1.0, 0.5], [0.4, 0.2, -0.7]);
        let (gk, passes_k) = grad_at(&mut optim, &wk);
        let (gt, passes_t) = grad_at(&mut optim, &wt);
        assert_eq!((passes_k > 1, passes_t), (true, 1), "{method:?}");
        let clean = |w: &[f64]| grad_at_base(&data, w);
        let (g0k, g0t) = (clean(&wk), clean(&wt));
        let part: Vec<f64> = gk.iter().zip(&g0k).map(|(a, b)| a - b).collect();
        let norm_k = g0k.iter().map(|x| x * x).sum::<f64>().sqrt();
        let expected = schedule.reuse(&g0t, &part, norm_k).unwrap();
        assert_vec(&gt, &expected, 1e-5);
        assert!(
            part.iter().any(|p| p.abs() > 1e-3),
            "{method:?}: the part must be visible for the test to mean anything"
        );
    }
}

/// The clean gradient at `w`.
fn grad_at_base(data: &QuadraticData<Ad>, w: &[f64]) -> Vec<f64> {
    let (g, report, _) = combined_at(&MethodConfig::Base(BaseConfig::new()), data, w);
    assert_eq!(report.passes, 1);
    g
}

#[test]
fn schedules_with_zero_rho_or_lambda_are_exactly_the_base_optimizer() {
    let data = tilted_quadratic();
    let start = data.model(&[1.0, 1.0, 1.0], &device());
    let mut base = MethodConfig::Base(BaseConfig::new())
        .init(sgd(momentum()))
        .unwrap();
    let expected = to_vec(run_steps(&mut base, &data, start.clone(), 5).w.val());
    for between in [Between::Base, Between::Reuse] {
        let s = every(2, between);
        for method in [
            MethodConfig::Sam(SamConfig::new().with_rho(0.0).with_schedule(s)),
            MethodConfig::Asam(AsamConfig::new().with_rho(0.0).with_schedule(s)),
            MethodConfig::Universal(
                UniversalSamConfig::new(Preset::Frob)
                    .with_lambda(Some(0.0))
                    .with_schedule(s),
            ),
        ] {
            let mut optim = method.init(sgd(momentum())).unwrap();
            let got = to_vec(run_steps(&mut optim, &data, start.clone(), 5).w.val());
            assert_eq!(got, expected, "{method:?}");
            assert!(!optim.rule().remembers_part());
        }
    }
}

#[test]
fn scheduled_records_resume_exactly() {
    // Interrupted after 3 steps: with every = 2 the 4th step is a reuse
    // step that needs the part remembered at step 2 (only in the record).
    let data = tilted_quadratic();
    for s in [every(2, Between::Reuse), every(3, Between::Base)] {
        for method in scheduled_methods(s) {
            let start = data.model(&[1.0, 1.0, 1.0], &device());
            let (straight, mid, mut c) = interrupted(&method, || sgd(None), &data, start);
            assert_eq!(c.rule().perturbed_steps(), if s.every == 2 { 2 } else { 1 });
            assert_eq!(c.rule().remembers_part(), s.reuses());
            let resumed = run_steps(&mut c, &data, mid, 2);
            assert_eq!(
                to_vec(resumed.w.val()),
                to_vec(straight.w.val()),
                "{method:?} {s:?}: resume must equal the uninterrupted run bitwise"
            );
        }
    }
}

#[test]
fn bad_schedules_and_mismatched_parts_are_typed_errors() {
    let zero = Schedule {
        every: 0,
        between: Between::Base,
    };
    let err = SamConfig::new()
        .with_schedule(zero)
        .init::<QuadraticModel<Ad>, Ad, _>(sgd(None))
        .map(|_| ())
        .unwrap_err();
    assert!(
        matches!(
            err,
            OptimError::Core(SamError::InvalidParameter { name: "every", .. })
        ),
        "{err:?}"
    );

    // A part remembered for one model does not fit another one (new
    // parameter ids): the reuse step fails and hands the model back.
    let data = identity_quadratic();
    let method = MethodConfig::Sam(SamConfig::new().with_schedule(every(2, Between::Reuse)));
    let mut optim = init(&method);
    let closure = |m: QuadraticModel<Ad>, _: Pass| {
        let loss = data.loss(&m);
        loss_and_grads(&m, loss)
    };
    optim
        .step(0.1, data.model(&[3.0, 4.0], &device()), closure)
        .unwrap();
    let other = data.model(&[1.0, 2.0], &device());
    let failure = optim.step(0.1, other, closure).unwrap_err();
    assert!(
        matches!(failure.error, OptimError::ScheduleMismatch(_)),
        "{:?}",
        failure.error
    );
    assert_eq!(to_vec(failure.model.w.val()), [1.0, 2.0]);
    assert_eq!(
        optim.rule().step_count(),
        1,
        "a failed step changes nothing"
    );
}

/// Burn draws a fresh module's weights lazily, and a clone of a module not
/// yet drawn draws its own: before `materialize`, the first step of a fresh
/// model computed the gradient at the closure's clone and applied it to
/// other weights (the demo's SGD and SAM runs started that way). Every
/// method's first step must update the very weights it differentiated.
#[test]
fn the_first_step_of_a_fresh_model_updates_the_weights_it_differentiated() {
    use burn::tensor::ElementConversion;
    let device = device();
    let x = Tensor::<Ad, 2>::ones([2, 3], &device);
    for method in [
        MethodConfig::Base(BaseConfig::new()),
        MethodConfig::Sam(SamConfig::new().with_rho(0.0)),
    ] {
        // Lazily initialised: nothing drawn yet.
        let model: Linear<Ad> = LinearConfig::new(3, 1).init(&device);
        let mut optim = method.init(SgdConfig::new().init()).unwrap();
        let mut seen = Vec::new();
        let (next, _) = optim
            .step(0.5, model, |m: Linear<Ad>, _| {
                seen = m.weight.val().into_data().to_vec::<f32>().unwrap();
                // d/dw of the sum over two rows of ones: 2 for every weight.
                let loss = m.forward(x.clone()).sum();
                let value = loss.clone().into_scalar().elem::<f64>();
                (value, GradientsParams::from_grads(loss.backward(), &m))
            })
            .unwrap();
        let after = next.weight.val().into_data().to_vec::<f32>().unwrap();
        // w - 0.5 * 2: exact in f32 for these magnitudes, so the tolerance
        // only covers a last-bit difference in how SGD orders it.
        for (a, s) in after.iter().zip(&seen) {
            assert!(
                (a - (s - 1.0)).abs() < 1e-6,
                "{method:?}: {a} after, {s} seen"
            );
        }
    }
}
