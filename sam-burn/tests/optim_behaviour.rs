//! Behaviour of the optimizers beyond the reference formulas: hand-computed
//! perturbations, SSAM's mask size, reductions to the base step, state
//! round trips, batch-norm statistics and typed errors. CPU backend (Flex).

mod backends;
mod problems;

use std::cell::RefCell;

use backends::FlexAd as Ad;
use burn::grad_clipping::GradientClippingConfig;
use burn::module::{AutodiffModule, Module, Param};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::optim::{GradientsParams, Optimizer, SgdConfig};
use burn::record::{BinBytesRecorder, FullPrecisionSettings, Recorder};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use problems::{QuadraticData, QuadraticModel, loss_and_grads, tensor1, to_vec};
use sam_burn::optim::{
    AsamConfig, Decision, Guard, MethodConfig, NonFinite, OptimError, Pass, RunningStats,
    SamConfig, SsamConfig, StepReport, UniversalSamConfig,
};
use sam_core::SamError;
use sam_core::presets::Preset;

fn device() -> burn::tensor::Device<Ad> {
    Default::default()
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
    let mut optim = method
        .init(SgdConfig::new().init::<Ad, QuadraticModel<Ad>>())
        .unwrap();
    let (model, _) = optim
        .step(0.1, model, |m: QuadraticModel<Ad>| {
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
    let (seen_base, base) = seen_weights(&MethodConfig::Base, &data, &w);
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
    let mut optim = MethodConfig::Ssam(SsamConfig::new())
        .init(SgdConfig::new().init::<Ad, QuadraticModel<Ad>>())
        .unwrap();
    let failure = optim
        .step(0.1, model, |m: QuadraticModel<Ad>| {
            let loss = data.loss(&m);
            loss_and_grads(&m, loss)
        })
        .unwrap_err();
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
    let mut optim = MethodConfig::Universal(UniversalSamConfig::new(Preset::Trace))
        .init(SgdConfig::new().init::<Ad, QuadraticModel<Ad>>())
        .unwrap();
    let mut calls = 0;
    let failure = optim
        .step(
            0.1,
            data.model(&[1.0, 2.0], &device()),
            |m: QuadraticModel<Ad>| {
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

/// Steps `k` times from `model`, returning the model and the optimizer.
fn run_steps<O: Optimizer<QuadraticModel<Ad>, Ad>>(
    optim: &mut sam_burn::optim::MethodOptimizer<QuadraticModel<Ad>, Ad, O>,
    data: &QuadraticData<Ad>,
    mut model: QuadraticModel<Ad>,
    k: usize,
) -> QuadraticModel<Ad> {
    for _ in 0..k {
        model = optim
            .step(0.05, model, |m: QuadraticModel<Ad>| {
                let loss = data.loss(&m);
                loss_and_grads(&m, loss)
            })
            .unwrap()
            .0;
    }
    model
}

#[test]
fn record_round_trip_resumes_exactly() {
    let data = QuadraticData::<Ad>::new(
        &[2.0, 0.5, 0.0, 0.5, 1.0, 0.3, 0.0, 0.3, 3.0],
        &[0.1, -0.2, 0.3],
        0.5,
        &device(),
    );
    let base = || {
        SgdConfig::new()
            .with_momentum(Some(burn::optim::momentum::MomentumConfig {
                momentum: 0.9,
                dampening: 0.0,
                nesterov: false,
            }))
            .init::<Ad, QuadraticModel<Ad>>()
    };
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
        // Uninterrupted: 5 steps.
        let mut a = method.init(base()).unwrap();
        let straight = run_steps(&mut a, &data, start.clone(), 5);

        // Interrupted after 3: save model and optimizer, load into fresh ones.
        let mut b = method.init(base()).unwrap();
        let mid = run_steps(&mut b, &data, start, 3);
        let recorder = BinBytesRecorder::<FullPrecisionSettings>::default();
        let model_bytes = recorder.record(mid.into_record(), ()).unwrap();
        let optim_bytes = recorder.record(b.to_record(), ()).unwrap();
        drop(b);

        let fresh = data.model(&[9.0, 9.0, 9.0], &device());
        let loaded = fresh.load_record(recorder.load(model_bytes, &device()).unwrap());
        let mut c = method
            .init(base())
            .unwrap()
            .load_record(recorder.load(optim_bytes, &device()).unwrap());
        assert_eq!(c.rule().step_count(), 3);
        if let MethodConfig::Universal(u) = &method
            && u.guard.max_ratio.is_some()
        {
            assert_eq!(c.rule().guard_counts(), (3, 0));
        }
        let resumed = run_steps(&mut c, &data, loaded, 2);
        assert_eq!(
            to_vec(resumed.w.val()),
            to_vec(straight.w.val()),
            "{method:?}: resume must equal the uninterrupted run bitwise"
        );
    }
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
    let closure = |m: BnNet<Ad>| {
        let loss = m.loss(x.clone());
        loss_and_grads(&m, loss)
    };

    // The clean pass alone.
    let clean = copy();
    let _ = closure(clean.clone());
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
    let data = identity_quadratic();
    let mut model = data.model(&[3.0, 4.0], &device());
    model.w = Param::from_tensor(model.w.val()).set_require_grad(false);
    let mut optim = MethodConfig::Sam(SamConfig::new())
        .init(SgdConfig::new().init::<Ad, QuadraticModel<Ad>>())
        .unwrap();
    let failure = optim
        .step(0.1, model, |m: QuadraticModel<Ad>| {
            let loss = data.loss(&m);
            loss_and_grads(&m, loss)
        })
        .unwrap_err();
    assert!(matches!(failure.error, OptimError::NoGradients));
}

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
        let out = rule
            .gradients(&model, |m: QuadraticModel<Ad>| {
                let loss = data.loss(&m);
                loss_and_grads(&m, loss)
            })
            .unwrap();
        model = optim.step(0.1, model, out.grads);
    }
    let record = optim.to_record();
    assert_eq!(record.1.step, 3, "three steps keyed the noise");

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
    let mut optim = method
        .init(SgdConfig::new().init::<Ad, QuadraticModel<Ad>>())
        .unwrap();
    let out = optim
        .gradients(&model, |m: QuadraticModel<Ad>| {
            let loss = data.loss(&m);
            loss_and_grads(&m, loss)
        })
        .unwrap();
    let g = out
        .grads
        .get::<<Ad as burn::tensor::backend::AutodiffBackend>::InnerBackend, 1>(model.w.id)
        .expect("w has a gradient");
    (to_vec(g), out.report, optim.rule().guard_counts())
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
    let (_, base) = seen_weights(&MethodConfig::Base, &data, &w);
    let method = MethodConfig::Universal(
        UniversalSamConfig::new(Preset::Trace)
            .with_guard(Guard::OFF.with_on_non_finite(NonFinite::Skip)),
    );
    let mut optim = method
        .init(SgdConfig::new().init::<Ad, QuadraticModel<Ad>>())
        .unwrap();
    let mut calls = 0;
    let (model, report) = optim
        .step(0.1, data.model(&w, &device()), |m: QuadraticModel<Ad>| {
            calls += 1;
            let (loss, grads) = loss_and_grads(&m, data.loss(&m));
            (if calls == 2 { f64::INFINITY } else { loss }, grads)
        })
        .unwrap();
    assert_eq!(calls, 2);
    assert_eq!(report.passes, 2);
    assert!(report.sharpness.is_none());
    assert_eq!(report.guard.unwrap().decision, Decision::Skip);
    // The base step from g0, bit for bit.
    assert_eq!(to_vec(model.w.val()), base);
    assert_eq!(optim.rule().step_count(), 1, "a skipped step still counts");
    assert_eq!(optim.rule().guard_counts(), (0, 1));
}
