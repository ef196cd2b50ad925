//! The checks of the Hessian tests, run per backend by `cases/hessian.rs` (f32,
//! wgpu) and `suite_f64.rs` (f64: Burn keys default dtypes by device, so
//! NdArray<f32> and NdArray<f64> cannot share a process).

use std::sync::Arc;

use super::*;
use burn::backend::Autodiff;
use burn::module::{Module, Param};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor};
use sam_burn::hessian::*;
use sam_core::problems::{Problem, Quadratic, Rosenbrock, ScaleInvariant};

pub type Inner<AB> = <AB as AutodiffBackend>::InnerBackend;

/// Hands `$tests!` (after its `$head`) the list of the checks that hold in
/// both precisions, followed by `$extra`: `cases/hessian.rs` runs them in f32 with
/// its f32-only checks as `$extra`, `suite_f64.rs` in f64. One list, so a
/// new check runs in both.
#[macro_export]
macro_rules! with_checks_of_both_precisions {
    ($tests:ident! { $($head:tt)* } $(, $extra:ident)* $(,)?) => {
        $tests! { $($head)* [
            quadratic_matches_sam_core,
            rosenbrock_matches_sam_core,
            scale_invariant_matches_sam_core,
            tanh_net_matches_sam_core,
            hvp_matches_central_differences,
            relu_kink_breaks_finite_differences,
            dense_spectrum_checks,
            per_group_checks,
            batches_are_weighted_by_size,
            $($extra,)*
        ] }
    };
}

/// One parameter tensor.
#[derive(Module, Debug)]
pub struct Flat<B: Backend> {
    w: Param<Tensor<B, 1>>,
}

/// Two scalar tensors.
#[derive(Module, Debug)]
pub struct Pair<B: Backend> {
    a: Param<Tensor<B, 1>>,
    b: Param<Tensor<B, 1>>,
}

/// Asserts `|a - b| <= tol * scale` entrywise.
pub fn assert_close(what: &str, a: &[f64], b: &[f64], tol: f64) {
    let scale = max_abs(b).max(1e-12);
    let err = max_abs_diff(a, b);
    assert!(
        err <= tol * scale,
        "{what}: max error {err:e} > {tol:e} * {scale:e}"
    );
}

pub fn quadratic_matches_sam_core<AB: AutodiffBackend>(device: &AB::Device) {
    let d = 6;
    let q = Quadratic::indefinite(3, d).unwrap();
    let w0 = HostRng::new(1).normals(d, 1.0);
    let model = Flat::<AB> {
        w: param(&w0, [d], device),
    };
    let data = (
        tensor::<Inner<AB>, 2>(q.matrix(), [d, d], device),
        tensor::<Inner<AB>, 1>(q.minimiser(), [d], device),
    );
    let loss = |m: &Flat<Autodiff<AB>>, (a, ws): &(Tensor<Inner<AB>, 2>, Tensor<Inner<AB>, 1>)| {
        let r = m.w.val() - lift::<AB, 1>(ws.clone());
        let ar = lift::<AB, 2>(a.clone())
            .matmul(r.clone().unsqueeze_dim(1))
            .reshape([d]);
        (ar * r).sum().mul_scalar(0.5)
    };
    let hessian = Hessian::new(&model, loss, data).unwrap();
    // One matmul of O(1) entries: 1e-5 in f32, 1e-12 in f64.
    let tol = by_precision::<AB>(1e-5, 1e-12);
    assert_close("quadratic", &hessian.dense().unwrap(), &q.hessian(&w0), tol);
}

pub fn rosenbrock_matches_sam_core<AB: AutodiffBackend>(device: &AB::Device) {
    let d = 5;
    let problem = Rosenbrock::new(d).unwrap();
    let w0: Vec<f64> = HostRng::new(2)
        .normals(d, 0.5)
        .iter()
        .map(|x| 1.0 + x)
        .collect();
    let model = Flat::<AB> {
        w: param(&w0, [d], device),
    };
    let loss = |m: &Flat<Autodiff<AB>>, _: &()| {
        let w = m.w.val();
        let a = w.clone().narrow(0, 0, d - 1);
        let b = w.narrow(0, 1, d - 1);
        let valley = (b - a.clone().powi_scalar(2))
            .powi_scalar(2)
            .mul_scalar(100.0);
        let bowl = a.neg().add_scalar(1.0).powi_scalar(2);
        (valley + bowl).sum()
    };
    let hessian = Hessian::new(&model, loss, ()).unwrap();
    // Entries reach ~1e3 and mix terms of opposite sign: relative to the largest.
    let tol = by_precision::<AB>(1e-5, 1e-12);
    assert_close(
        "rosenbrock",
        &hessian.dense().unwrap(),
        &problem.hessian(&w0),
        tol,
    );
}

pub fn scale_invariant_matches_sam_core<AB: AutodiffBackend>(device: &AB::Device) {
    let problem = ScaleInvariant::default();
    let w0 = [1.3, 0.4];
    let model = Pair::<AB> {
        a: param(&w0[..1], [1], device),
        b: param(&w0[1..], [1], device),
    };
    let target = problem.target;
    let loss = move |m: &Pair<Autodiff<AB>>, _: &()| {
        (m.a.val() * m.b.val())
            .sub_scalar(target)
            .powi_scalar(2)
            .mul_scalar(0.5)
    };
    let hessian = Hessian::new(&model, loss, ()).unwrap();
    assert_eq!(
        hessian.layout().num_params(),
        2,
        "two tensors, as sam-core's layout [1, 1]"
    );
    assert_close(
        "scale-invariant",
        &hessian.dense().unwrap(),
        &problem.hessian(&w0),
        by_precision::<AB>(1e-6, 1e-13),
    );
}

pub fn tanh_net_matches_sam_core<AB: AutodiffBackend>(device: &AB::Device) {
    let prob = TanhProblem::new(5, 8, 3, 4);
    let model = prob.model::<AB>(device);
    let loss = |m: &TanhNet<Autodiff<AB>>,
                (x, y): &(Tensor<Inner<AB>, 2>, Tensor<Inner<AB>, 1>)| {
        m.loss(lift::<AB, 2>(x.clone()), lift::<AB, 1>(y.clone()))
    };
    let hessian = Hessian::new(&model, loss, tanh_data::<AB>(&prob, device)).unwrap();
    let layout = hessian.layout();
    let paths: Vec<_> = layout.params().iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["w1", "b1", "w2", "b2"], "sam-core's TanhNet layout");
    let sizes: Vec<usize> = layout.params().iter().map(|p| p.len).collect();
    assert_eq!(sizes, sam_core::problems::Problem::layout(&prob.problem));
    assert_eq!(layout.dim(), prob.dim());
    // A few dozen operations per entry, summed over 8 examples: 1e-4 in
    // f32, 1e-11 in f64.
    let tol = by_precision::<AB>(1e-4, 1e-11);
    assert_close("tanh net", &hessian.dense().unwrap(), &prob.hessian(), tol);
}

pub type MlpData<AB> = (Tensor<Inner<AB>, 2>, Tensor<Inner<AB>, 1, Int>);

/// The MLP's loss on its data, on the first-order model (for gradients and
/// finite differences).
fn mlp_loss<AB: AutodiffBackend>(m: &SmallMlp<AB>, (x, y): &MlpData<AB>) -> Tensor<AB, 1> {
    let (x, y) = (Tensor::from_inner(x.clone()), Tensor::from_inner(y.clone()));
    m.loss(x, y, 0.0)
}

pub fn hvp_matches_central_differences<AB: AutodiffBackend>(device: &AB::Device) {
    let model = SmallMlp::<AB>::new([4, 6, 3], 11, device);
    let data: MlpData<AB> = class_data(12, 10, 4, 3, device);
    let exact = Hessian::new(
        &model,
        |m: &SmallMlp<Autodiff<AB>>, (x, y): &MlpData<AB>| {
            m.loss(lift::<AB, 2>(x.clone()), lift_int::<AB, 1>(y.clone()), 0.0)
        },
        data.clone(),
    )
    .unwrap();
    let fd = FiniteDifferenceHessian::new(
        &model,
        mlp_loss::<AB>,
        data,
        &FiniteDifferenceConfig::new().with_eps(by_precision::<AB>(1e-2, 1e-5)),
    )
    .unwrap();
    for seed in 0..3 {
        let v = ParamVector::random(exact.layout().clone(), Probe::Gaussian, seed, device);
        let a = exact.hvp(&v).unwrap().to_vec();
        let b = fd.apply(&v).unwrap().to_vec();
        // f32: step 1e-2 along v/|v|, truncation ~1e-4 relative (third
        // derivatives are O(1)), rounding of the gradients ~1e-7/1e-2 = 1e-5.
        // f64: step 1e-5, truncation ~1e-10, rounding ~1e-16/1e-5 = 1e-11.
        let err = norm(&a.iter().zip(&b).map(|(x, y)| x - y).collect::<Vec<_>>());
        assert!(
            err <= by_precision::<AB>(2e-3, 1e-7) * norm(&a),
            "probe {seed}: |exact - fd| = {err:e}, |exact| = {:e}",
            norm(&a)
        );
    }
}

/// `f(x) = W2 relu(W1 x + b1) + b2` with unit 0's pre-activation at `1e-4`,
/// loss `(f - y)^2 / 2` on one example.
#[derive(Module, Debug)]
pub struct ReluNet<B: Backend> {
    l1: sam_burn::nn::Linear<B>,
    l2: sam_burn::nn::Linear<B>,
}

impl<B: Backend> ReluNet<B> {
    fn near_kink(device: &B::Device) -> Self {
        let linear = |w: &[f64], b: &[f64], shape: [usize; 2]| sam_burn::nn::Linear {
            weight: param(w, shape, device),
            bias: Some(param(b, [shape[1]], device)),
        };
        // x = (1, 0.5): z0 = 0.3 - 0.3 + 1e-4 = 1e-4, z1 = 0.4 + 0.4 = 0.8.
        Self {
            l1: linear(&[0.3, 0.4, -0.6, 0.8], &[1e-4, 0.0], [2, 2]),
            l2: linear(&[1.5, -0.7], &[0.1], [2, 1]),
        }
    }

    fn loss(&self, x: Tensor<B, 2>, relu: bool) -> Tensor<B, 1> {
        let z = self.l1.forward(x);
        let a = if relu {
            burn::tensor::activation::relu(z)
        } else {
            z
        };
        self.l2
            .forward(a)
            .sub_scalar(1.0)
            .powi_scalar(2)
            .mul_scalar(0.5)
            .reshape([1])
    }
}

pub fn relu_kink_breaks_finite_differences<AB: AutodiffBackend>(device: &AB::Device) {
    let model = ReluNet::<AB>::near_kink(device);
    let x = tensor::<Inner<AB>, 2>(&[1.0, 0.5], [1, 2], device);
    let exact = Hessian::new(
        &model,
        |m: &ReluNet<Autodiff<AB>>, x: &Tensor<Inner<AB>, 2>| {
            m.loss(lift::<AB, 2>(x.clone()), true)
        },
        x.clone(),
    )
    .unwrap();
    let fd = |relu: bool| {
        FiniteDifferenceHessian::new(
            &model,
            move |m: &ReluNet<AB>, x: &Tensor<Inner<AB>, 2>| {
                m.loss(Tensor::from_inner(x.clone()), relu)
            },
            x.clone(),
            &FiniteDifferenceConfig::new().with_eps(1e-3),
        )
        .unwrap()
    };
    // Move b1_0, the bias of the unit at the kink: a step of 1e-3 switches it off.
    let b1 = exact.layout().params()[1].offset;
    let v = ParamVector::basis(exact.layout().clone(), b1, device).unwrap();
    let hv = exact.hvp(&v).unwrap().to_vec();
    // On this side of the kink both units are active, where the network is
    // linear in x: the Hessian equals that of the identity-activation net,
    // whose loss is smooth (quartic), so finite differences are accurate there.
    let smooth = fd(false).apply(&v).unwrap().to_vec();
    // Finite differences of the quartic piece with step 1e-3: 1e-3 relative
    // in f32 (rounding), 1e-6 in f64 (truncation).
    let tol = by_precision::<AB>(1e-3, 1e-6);
    assert_close("exact vs smooth piece", &hv, &smooth, tol);
    let kinked = fd(true).apply(&v).unwrap().to_vec();
    let err = norm(
        &kinked
            .iter()
            .zip(&hv)
            .map(|(a, b)| a - b)
            .collect::<Vec<_>>(),
    );
    // The gradient jumps by O(1) across the kink, so the difference quotient
    // is O(1 / eps) = O(1e3) while the true entries are O(1).
    assert!(
        err > 100.0 * norm(&hv),
        "finite differences should fail at the kink: err {err}, |Hv| {}",
        norm(&hv)
    );
}

#[allow(clippy::type_complexity)]
/// Dense Hessian of the small MLP (31 parameters) with weight decay 0.5, so
/// that it is positive definite and `log det` is finite.
pub fn small_problem<AB: AutodiffBackend>(
    device: &AB::Device,
) -> Hessian<
    AB,
    SmallMlp<AB>,
    MlpData<AB>,
    impl Fn(&SmallMlp<Autodiff<AB>>, &MlpData<AB>) -> Tensor<Autodiff<AB>, 1>,
> {
    let model = SmallMlp::<AB>::new([3, 4, 3], 21, device);
    let data: MlpData<AB> = class_data(22, 12, 3, 3, device);
    Hessian::new(
        &model,
        |m: &SmallMlp<Autodiff<AB>>, (x, y): &MlpData<AB>| {
            m.loss(lift::<AB, 2>(x.clone()), lift_int::<AB, 1>(y.clone()), 0.5)
        },
        data,
    )
    .unwrap()
}

pub fn within_3se(what: &str, estimate: f64, se: f64, truth: f64) {
    assert!(se.is_finite() && se > 0.0, "{what}: standard error {se}");
    assert!(
        (estimate - truth).abs() <= 3.0 * se,
        "{what}: estimate {estimate} +- {se}, truth {truth}"
    );
}

/// Holds a Monte Carlo estimate to the exact value with a tolerance that
/// does not come from the estimator under test: `exact_se`, the standard
/// error its probes have by theory given the dense Hessian. Within 4 of
/// them (a 6e-5 two-sided chance for a Gaussian mean; the seeds are fixed,
/// so a pass is a pass on every run), and the estimator's own standard
/// error within a factor 2 of the exact one (its relative spread is about
/// 1/sqrt(2m), 5% at m = 200 and 11% at 40), so a bug that inflates or
/// deflates it fails too.
pub fn within_exact_se(what: &str, estimate: f64, reported_se: f64, truth: f64, exact_se: f64) {
    assert!(
        exact_se.is_finite() && exact_se > 0.0,
        "{what}: exact se {exact_se}"
    );
    assert!(
        (estimate - truth).abs() <= 4.0 * exact_se,
        "{what}: estimate {estimate}, truth {truth}, exact standard error {exact_se}"
    );
    assert!(
        reported_se >= 0.5 * exact_se && reported_se <= 2.0 * exact_se,
        "{what}: reported standard error {reported_se} against the exact {exact_se}"
    );
}

pub fn dense_spectrum_checks<AB: AutodiffBackend>(device: &AB::Device) {
    let hessian = small_problem::<AB>(device);
    let n = hessian.layout().dim();
    assert_eq!(n, 31);
    let h = hessian.dense().unwrap();
    // Symmetry: the two halves are computed by different products, so they
    // agree to rounding (1e-5 relative in f32, 1e-12 in f64).
    let sym_tol = by_precision::<AB>(1e-5, 1e-12);
    let scale = max_abs(&h);
    for i in 0..n {
        for j in 0..i {
            assert!(
                (h[i * n + j] - h[j * n + i]).abs() <= sym_tol * scale,
                "asymmetric at ({i}, {j})"
            );
        }
    }
    let eig = sym_eigenvalues(&h, n);
    assert!(
        eig[0] > 0.02,
        "weight decay should make H positive definite: {}",
        eig[0]
    );
    let top = eig[n - 1];
    let tr: f64 = eig.iter().sum();
    let frob_sq: f64 = eig.iter().map(|l| l * l).sum();
    let log_det: f64 = eig.iter().map(|l| l.ln()).sum();

    // Trace: 200 Rademacher probes (40 on wgpu), no early stop.
    let probes = budget::<AB>(200, 40);
    let cfg = HutchinsonConfig::new()
        .with_max_probes(probes)
        .with_rel_tol(0.0)
        .with_seed(3);
    let t = hessian.trace(&cfg).unwrap();
    assert_eq!((t.probes, t.hvps), (probes, probes));
    // Rademacher probes: Var(z'Hz) = 2 (||H||_F^2 - sum_i H_ii^2).
    let diag_sq: f64 = (0..n).map(|i| h[i * n + i].powi(2)).sum();
    let trace_se = (2.0 * (frob_sq - diag_sq) / probes as f64).sqrt();
    within_exact_se("trace", t.trace.value, t.trace.std_error, tr, trace_se);

    // Tolerance stopping: the relative error target is reached long before
    // 10 000 probes (1%; 5% on wgpu).
    let rel_tol = budget::<AB>(100, 500) as f64 * 1e-4;
    let t = hessian
        .trace(
            &HutchinsonConfig::new()
                .with_max_probes(10_000)
                .with_rel_tol(rel_tol),
        )
        .unwrap();
    assert!(t.converged && t.probes < 10_000 && t.trace.std_error <= rel_tol * t.trace.value.abs());

    // Frobenius: 200 Gaussian probes.
    let f = hessian.frobenius(&cfg).unwrap();
    // Gaussian probes: ||Hz||^2 = z'H^2 z has variance 2 ||H^2||_F^2 =
    // 2 sum lambda^4.
    let fourth: f64 = eig.iter().map(|l| l.powi(4)).sum();
    within_exact_se(
        "frobenius^2",
        f.frobenius_sq.value,
        f.frobenius_sq.std_error,
        frob_sq,
        (2.0 * fourth / probes as f64).sqrt(),
    );
    within_3se(
        "frobenius",
        f.frobenius.value,
        f.frobenius.std_error,
        frob_sq.sqrt(),
    );

    // Lanczos with n steps spans the whole space: Ritz values are the
    // eigenvalues up to rounding of the products (1e-4 of the top one in
    // f32, 1e-10 in f64).
    let eig_tol = by_precision::<AB>(1e-4, 1e-10);
    let lz = hessian
        .eigenvalues(3, &LanczosConfig::new().with_steps(n))
        .unwrap();
    for (k, (&est, &res)) in lz.eigenvalues.iter().zip(&lz.residuals).enumerate() {
        assert!(
            (est - eig[n - 1 - k]).abs() <= eig_tol * top + res,
            "lanczos {k}: {est} vs {}",
            eig[n - 1 - k]
        );
    }
    // At most n steps; fewer when the Krylov space is exhausted early (in f64
    // the weight-decay eigenvalue is exactly repeated: softmax invariances).
    assert!(lz.hvps <= n);
    assert_eq!(lz.eigenvectors.len(), 3);
    // Eigenvector check: |H y - theta y| small.
    let y = &lz.eigenvectors[0];
    let r = hessian.hvp(y).unwrap().axpy(-lz.eigenvalues[0], y).norm();
    let tol = by_precision::<AB>(1e-3, 1e-8);
    assert!(r <= tol * top, "Ritz vector residual {r}");
    let low = hessian
        .eigenvalues(
            2,
            &LanczosConfig::new()
                .with_steps(n)
                .with_which(Spectrum::Smallest),
        )
        .unwrap();
    assert!((low.eigenvalues[0] - eig[0]).abs() <= eig_tol * top + low.residuals[0]);

    // Power iteration: |lambda - lambda_true| <= residual (symmetric H), plus rounding.
    let pw = hessian
        .eigenvalues_power(
            2,
            &PowerIterationConfig::new()
                .with_max_iters(300)
                .with_tol(1e-6),
        )
        .unwrap();
    for k in 0..2 {
        let truth = eig[n - 1 - k];
        assert!(
            (pw.eigenvalues[k] - truth).abs() <= pw.residuals[k] + eig_tol * top,
            "power {k}: {} (residual {}) vs {truth}",
            pw.eigenvalues[k],
            pw.residuals[k]
        );
    }

    // SLQ with n steps: each probe's quadrature is exact, v' log(H) v, so the
    // mean over probes is Hutchinson's estimate of tr log H. 60 probes (8 on
    // wgpu), n HVPs each.
    let probes = budget::<AB>(60, 8);
    let slq_cfg = SlqConfig::new()
        .with_steps(n)
        .with_max_probes(probes)
        .with_rel_tol(0.0);
    let ld = hessian.log_det(&slq_cfg).unwrap();
    within_3se(
        "log det",
        ld.log_abs_det.value,
        ld.log_abs_det.std_error,
        log_det,
    );
    assert_eq!((ld.negative_ritz_values, ld.floored_ritz_values), (0, 0));
    assert!(ld.probes == probes && ld.hvps <= probes * n);

    let density = hessian
        .density(&slq_cfg.with_max_probes(budget::<AB>(10, 4)))
        .unwrap();
    let slq_trace = density.trace_of(|x| x);
    let (tr_slq, se) = (slq_trace.value, slq_trace.std_error);
    within_3se("slq trace", tr_slq, se, tr);
    // The smoothed density integrates to one (trapezoid rule on a fine grid).
    let sigma = 0.02 * top;
    let grid = density.grid(2000, 6.0 * sigma);
    let rho = density.density(&grid, sigma);
    let dx = grid[1] - grid[0];
    let integral: f64 = rho.windows(2).map(|w| 0.5 * (w[0] + w[1]) * dx).sum();
    assert!(
        (integral - 1.0).abs() < 1e-3,
        "density integrates to {integral}"
    );
}

pub fn per_group_checks<AB: AutodiffBackend>(device: &AB::Device) {
    let hessian = small_problem::<AB>(device);
    let layout = hessian.layout().clone();
    let n = layout.dim();
    let h = hessian.dense().unwrap();
    let groups = layout.module_groups();
    let names: Vec<_> = groups.iter().map(|g| g.name()).collect();
    assert_eq!(names, ["l1", "l2"]);
    assert_eq!(layout.group_by_prefix("l2").unwrap(), groups[1]);
    let cfg = HutchinsonConfig::new()
        .with_max_probes(budget::<AB>(150, 30))
        .with_rel_tol(0.0)
        .with_seed(9);
    let traces = hessian.trace_by_group(&groups, &cfg).unwrap();
    let tops = hessian
        .top_eigenvalue_by_group(&groups, &LanczosConfig::new().with_steps(n))
        .unwrap();
    for ((g, t), e) in groups.iter().zip(&traces).zip(&tops) {
        let idx: Vec<usize> = g
            .indices()
            .iter()
            .flat_map(|&i| {
                let p = &layout.params()[i];
                p.offset..p.offset + p.len
            })
            .collect();
        assert_eq!(idx.len(), g.dim());
        let block: Vec<f64> = idx
            .iter()
            .flat_map(|&i| idx.iter().map(move |&j| (i, j)))
            .map(|(i, j)| h[i * n + j])
            .collect();
        let tr: f64 = idx.iter().map(|&i| h[i * n + i]).sum();
        within_3se(
            &format!("trace of {}", g.name()),
            t.result.trace.value,
            t.result.trace.std_error,
            tr,
        );
        let eig = sym_eigenvalues(&block, idx.len());
        let top = *eig.last().unwrap();
        let est = e.result.eigenvalues[0];
        // Lanczos restricted to the block: steps capped at the block's size, exact up to rounding.
        assert!(
            (est - top).abs() <= by_precision::<AB>(1e-4, 1e-10) * top + e.result.residuals[0],
            "{}: {est} vs {top}",
            g.name()
        );
        assert!(e.result.hvps <= g.dim());
    }
}

pub fn batches_are_weighted_by_size<AB: AutodiffBackend>(device: &AB::Device) {
    let model = SmallMlp::<AB>::new([3, 4, 3], 31, device);
    let (x, y): MlpData<AB> = class_data(32, 8, 3, 3, device);
    let loss = |m: &SmallMlp<Autodiff<AB>>, (x, y): &MlpData<AB>| {
        m.loss(lift::<AB, 2>(x.clone()), lift_int::<AB, 1>(y.clone()), 0.0)
    };
    let whole = Hessian::new(&model, loss, (x.clone(), y.clone())).unwrap();
    let split = |a: usize, b: usize| (x.clone().narrow(0, a, b - a), y.clone().narrow(0, a, b - a));
    let parts =
        Hessian::from_batches(&model, loss, vec![(split(0, 3), 3), (split(3, 8), 5)]).unwrap();
    let v = ParamVector::random(whole.layout().clone(), Probe::Gaussian, 4, device);
    // Same sum in a different order: rounding, 1e-5 relative in f32.
    assert_close(
        "batches",
        &parts.hvp(&v).unwrap().to_vec(),
        &whole.hvp(&v).unwrap().to_vec(),
        by_precision::<AB>(1e-5, 1e-12),
    );
}

/// A model using burn's fused linear layer.
#[derive(Module, Debug)]
pub struct BurnLinear<B: Backend> {
    l: burn::nn::Linear<B>,
}

/// Conv, then burn's average pooling, then a linear head.
#[derive(Module, Debug)]
pub struct BurnPool<B: Backend> {
    conv: burn::nn::conv::Conv2d<B>,
    pool: burn::nn::pool::AvgPool2d,
    head: sam_burn::nn::Linear<B>,
}

pub fn unsupported_ops_are_named<AB: AutodiffBackend>(device: &AB::Device) {
    let model = BurnLinear::<AB> {
        l: burn::nn::LinearConfig::new(3, 2).init(device),
    };
    let x = tensor::<Inner<AB>, 2>(&[0.5; 12], [4, 3], device);
    let loss = |m: &BurnLinear<Autodiff<AB>>, x: &Tensor<Inner<AB>, 2>| {
        m.l.forward(lift::<AB, 2>(x.clone()))
            .tanh()
            .powi_scalar(2)
            .mean()
    };
    let hessian = Hessian::new(&model, loss, x.clone()).unwrap();
    let v = ParamVector::random(hessian.layout().clone(), Probe::Gaussian, 0, device);
    match hessian.hvp(&v) {
        Err(HessianError::NotTwiceDifferentiable { op }) => {
            assert!(op.starts_with("linear_"), "{op}")
        }
        other => panic!("expected NotTwiceDifferentiable, got {other:?}"),
    }
    // The same layer through sam_burn::nn::Linear works (same parameters).
    let fixed = sam_burn::nn::Linear::from_burn(model.l.clone());
    let ok = hvp(
        &fixed,
        |m: &sam_burn::nn::Linear<Autodiff<AB>>, x: &Tensor<Inner<AB>, 2>| {
            m.forward(lift::<AB, 2>(x.clone()))
                .tanh()
                .powi_scalar(2)
                .mean()
        },
        &x,
        &v,
    );
    assert!(ok.is_ok(), "{ok:?}");

    let model = BurnPool::<AB> {
        conv: burn::nn::conv::Conv2dConfig::new([1, 2], [3, 3]).init(device),
        pool: burn::nn::pool::AvgPool2dConfig::new([2, 2]).init(),
        head: sam_burn::nn::LinearConfig::new(8, 1).init(device),
    };
    let img = tensor::<Inner<AB>, 4>(&HostRng::new(3).normals(2 * 36, 1.0), [2, 1, 6, 6], device);
    let loss = |m: &BurnPool<Autodiff<AB>>, x: &Tensor<Inner<AB>, 4>| {
        let a = m
            .pool
            .forward(m.conv.forward(lift::<AB, 4>(x.clone())).tanh());
        m.head.forward(a.flatten::<2>(1, 3)).powi_scalar(2).mean()
    };
    let err = Hessian::new(&model, loss, img)
        .and_then(|h| hvp_random(&h))
        .unwrap_err();
    assert_eq!(
        err,
        HessianError::NotTwiceDifferentiable {
            op: "avg pool 2d backward".into()
        }
    );
    assert!(err.to_string().contains("sam_burn::nn"));
}

pub fn hvp_random<B: Backend, O: HessianOperator<B>>(
    op: &O,
) -> Result<ParamVector<B>, HessianError> {
    op.apply(&ParamVector::random(
        op.layout().clone(),
        Probe::Gaussian,
        0,
        &op.device(),
    ))
}

pub fn input_errors<AB: AutodiffBackend>(device: &AB::Device) {
    let model = SmallMlp::<AB>::new([3, 4, 3], 41, device);
    let data: MlpData<AB> = class_data(42, 5, 3, 3, device);
    // Per-example losses instead of their mean.
    let per_example = |m: &SmallMlp<Autodiff<AB>>, (x, _): &MlpData<AB>| {
        m.forward(lift::<AB, 2>(x.clone())).sum_dim(1).reshape([5])
    };
    let h = Hessian::new(&model, per_example, data.clone()).unwrap();
    assert_eq!(
        hvp_random(&h).unwrap_err(),
        HessianError::NonScalarLoss { shape: vec![5] }
    );

    let loss = |m: &SmallMlp<Autodiff<AB>>, (x, y): &MlpData<AB>| {
        m.loss(lift::<AB, 2>(x.clone()), lift_int::<AB, 1>(y.clone()), 0.0)
    };
    assert_eq!(
        Hessian::from_batches(&model, loss, Vec::<(MlpData<AB>, usize)>::new()).err(),
        Some(HessianError::NoData)
    );
    let h = Hessian::new(&model, loss, data).unwrap();
    let other = Arc::new(ParamLayout::from_module(&SmallMlp::<AB>::new(
        [3, 5, 3],
        1,
        device,
    )));
    let v = ParamVector::random(other, Probe::Gaussian, 0, device);
    assert!(matches!(
        h.hvp(&v),
        Err(HessianError::LayoutMismatch { .. })
    ));
    assert!(matches!(
        h.layout().group_by_prefix("l3"),
        Err(sam_burn::params::ParamsError::EmptyGroup { .. })
    ));
    // "l" is not a path prefix of "l1.weight".
    assert!(h.layout().group_by_prefix("l").is_err());
    assert!(matches!(
        h.eigenvalues(0, &LanczosConfig::new()),
        Err(HessianError::InvalidConfig(_))
    ));
    assert!(matches!(
        h.trace(
            &HutchinsonConfig::new()
                .with_min_probes(5)
                .with_max_probes(2)
        ),
        Err(HessianError::InvalidConfig(_))
    ));
    assert!(matches!(
        h.log_det(&SlqConfig::new().with_log_floor(0.0)),
        Err(HessianError::InvalidConfig(_))
    ));
}

pub fn vectors_round_trip<AB: AutodiffBackend>(device: &AB::Device) {
    let model = SmallMlp::<AB>::new([3, 4, 3], 51, device);
    let layout = Arc::new(ParamLayout::from_module(&model));
    assert_eq!(layout.dim(), 31);
    let paths: Vec<_> = layout.params().iter().map(|p| p.path.clone()).collect();
    assert_eq!(paths, ["l1.weight", "l1.bias", "l2.weight", "l2.bias"]);
    let v = ParamVector::<Inner<AB>>::random(layout.clone(), Probe::Rademacher, 7, device);
    assert!(v.to_vec().iter().all(|x| x.abs() == 1.0));
    // Same seed, same vector.
    assert_eq!(
        v.to_vec(),
        ParamVector::<Inner<AB>>::random(layout.clone(), Probe::Rademacher, 7, device).to_vec()
    );
    let grads = v.to_gradients().unwrap();
    let w = model.l1.weight.id;
    assert_eq!(grads.get::<Inner<AB>, 2>(w).unwrap().dims(), [3, 4]);
    let back = ParamVector::<Inner<AB>>::from_gradients(layout.clone(), &grads, device).unwrap();
    assert_eq!(back.to_vec(), v.to_vec());
    assert_eq!(v.param::<2>(w).unwrap().dims(), [3, 4]);
    assert!(v.param::<1>(w).is_none());
    let values = ParamVector::<Inner<AB>>::from_module(layout.clone(), &model);
    assert_eq!(
        values.param_flat(w).map(to_vec),
        Some(to_vec(model.l1.weight.val().inner().reshape([12])))
    );
    // Linear algebra on the host agrees with the device: exact for +-1 entries.
    assert_eq!(v.dot(&v), 31.0);
    assert!((v.axpy(2.0, &v).norm() - 3.0 * 31f64.sqrt()).abs() < 1e-12);
    let g = layout.group_by_prefix("l2").unwrap();
    assert_eq!(
        v.restrict(&g)
            .to_vec()
            .iter()
            .filter(|x| **x != 0.0)
            .count(),
        g.dim()
    );
    // The gradient helper.
    let data: MlpData<AB> = class_data(52, 5, 3, 3, device);
    let g = gradient(&model, mlp_loss::<AB>, &data).unwrap();
    assert_eq!(g.dim(), 31);
}
