//! Every method's tensor implementation against `sam-core`'s f64 reference
//! (`sam_burn::check`), and exact HVPs against the analytic Hessian, on
//! every backend. Tolerances and their reasons: `check::REFERENCE_TOLERANCE`
//! and `check::HVP_TOLERANCE`.

use crate::backends;

use burn::tensor::backend::AutodiffBackend;
use sam_burn::check::problems::{TanhData, to_vec};
use sam_burn::check::{
    Agreement, REFERENCE_TOLERANCE, WrongAnswer, hvp_agreement, reference_agreement,
    reference_disagreement,
};
use sam_core::problems::{Problem, TanhNet};

fn assert_all(results: &[Agreement]) {
    let failed: Vec<_> = results.iter().filter(|r| !r.passed()).collect();
    assert!(
        failed.is_empty(),
        "disagreements with the f64 reference: {failed:#?}"
    );
}

fn optimizers_match_reference<B: AutodiffBackend>(device: &B::Device) {
    let results = reference_agreement::<B>(device);
    // 17 methods on each of the two problems, and SSAM choosing its own
    // Fisher mask on the tanh network.
    assert_eq!(results.len(), 35);
    for r in &results {
        eprintln!("{} {}: {:.3e}", r.problem, r.method, r.relative_error);
    }
    assert_all(&results);
}

/// The tolerance is tight enough to mean something: against a reference
/// with the nearest wrong answers put in (SGD instead of the method, a
/// doubled weight or radius, the other 1/rho^2 convention), every case
/// lands outside it. The margins differ by case: the closest measured are
/// 1.7 tolerances (the other scaling) and 1.9 (SGD, a doubled weight:
/// Det on the wide cube on the tanh network, whose sharpness part is small
/// after two steps); the others are far out.
fn wrong_answers_fail_the_reference_tolerance<B: AutodiffBackend>(device: &B::Device) {
    for wrong in WrongAnswer::ALL {
        let results = reference_disagreement::<B>(device, wrong);
        assert!(!results.is_empty(), "{wrong:?}: no case applies");
        let inside: Vec<_> = results.iter().filter(|r| r.passed()).collect();
        let closest = results
            .iter()
            .map(|r| r.relative_error)
            .fold(f64::INFINITY, f64::min);
        eprintln!(
            "{wrong:?}: the closest case is {:.1} tolerances away",
            closest / REFERENCE_TOLERANCE
        );
        assert!(
            inside.is_empty(),
            "{wrong:?} is not rejected by the tolerance {REFERENCE_TOLERANCE:e}: {inside:#?}"
        );
    }
}

fn hvp_matches_analytic_hessian<B: AutodiffBackend>(device: &B::Device) {
    assert_all(&[hvp_agreement::<B>(device)]);
}

/// The Burn module computes sam-core's loss, so both sides check the same
/// function (guards the module definitions).
fn modules_compute_the_reference_loss<B: AutodiffBackend>(device: &B::Device) {
    let net = TanhNet::new(5, 12, 3, 4).unwrap();
    let data = TanhData::<B>::new(&net, device);
    let w = net.initial_point();
    let burn_loss = to_vec(data.loss(&data.model(&w, device)))[0];
    // f32 evaluation of an O(1) mean of 12 squares: 1e-5 is ~100 ulps.
    assert!((burn_loss - net.loss(&w)).abs() <= 1e-5 * (1.0 + net.loss(&w)));
}

backend_tests! {
    optimizers => optimizers_match_reference,
    hvp => hvp_matches_analytic_hessian,
    module_losses => modules_compute_the_reference_loss,
}

/// On the CPU backends only: the margin is about the formulas, and wgpu's
/// rounding is held to the same tolerance by the agreement check above.
#[test]
fn wrong_answers_fail_the_tolerance_on_flex() {
    wrong_answers_fail_the_reference_tolerance::<backends::FlexAd>(&Default::default());
}

#[test]
fn wrong_answers_fail_the_tolerance_on_ndarray() {
    wrong_answers_fail_the_reference_tolerance::<backends::NdArrayAd>(&Default::default());
}

/// The wgpu checks above run on the backend users get, with Burn's kernel
/// fusion on: nested autodiff (`Autodiff<Autodiff<Fusion<...>>>`) included.
#[test]
fn wgpu_tests_run_with_fusion() {
    use burn::tensor::backend::Backend;
    if !backends::wgpu_enabled() {
        return;
    }
    let name = <burn::backend::Wgpu as Backend>::name(&Default::default());
    assert!(name.starts_with("fusion<"), "wgpu backend is {name}");
}
