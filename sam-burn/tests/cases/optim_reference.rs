//! Every method's tensor implementation against `sam-core`'s f64 reference
//! (`sam_burn::check`), and exact HVPs against the analytic Hessian, on
//! every backend. Tolerances and their reasons: `check::REFERENCE_TOLERANCE`
//! and `check::HVP_TOLERANCE`.

use crate::backends;

use burn::tensor::backend::AutodiffBackend;
use sam_burn::check::problems::{TanhData, to_vec};
use sam_burn::check::{Agreement, hvp_agreement, reference_agreement};
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
    // 13 methods on each of the two problems.
    assert_eq!(results.len(), 26);
    assert_all(&results);
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
