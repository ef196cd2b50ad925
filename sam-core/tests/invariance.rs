//! Det's invariance under volume-preserving rescaling, and Trace's lack of
//! it, on `L(a, b) = f(ab)`, `f(t) = (t - 1)^2 / 2`.
//!
//! `L` is unchanged by `M: (a, b) -> (c a, b / c)`, so at `w' = M w`:
//! `g' = M^-T g`, `H' = M^-T H M^-1`. Hence `det H' = det H` (because
//! `det M = 1`) and `g'' H'^-1 g' = g' H^-1 g`, while
//! `tr H = f''(t) (a^2 + b^2)` changes. Det-SAM's Lebesgue limit is
//! `S = const * det(H) exp(-g' H^-1 g / (2 rho^2))`, invariant; Trace-SAM's
//! is `tr(H) / 2`, not.
//!
//! Why the test is built this way:
//!
//! - At a minimum (`ab = 1`) the Hessian is singular: the orbit of `M` is a
//!   flat valley, so `det H = 0` on both sides. The invariance holds
//!   exactly but trivially, and a finite cube would only measure how much
//!   of the flat direction it happens to contain. We assert the exact
//!   values there.
//! - The meaningful Monte Carlo comparison needs a positive definite
//!   Hessian, which for this `f` means `1/3 < ab < 1` (`det H =
//!   -(t - 1)(3t - 1)`), i.e. a point that is not stationary. There the
//!   Det integrand is a Gaussian centred at the Newton step
//!   `-H^-1 g / rho`, a distance O(1) away in weight space, where the quartic
//!   `L` is far from its quadratic model: no cube around `w` sees the
//!   Gaussian integral of `L` itself. So the Monte Carlo part evaluates Det
//!   (and Trace) on the second-order Taylor model of `L` at `w` and at
//!   `M w`, which is exactly the `rho -> 0` object the invariance is about,
//!   with a cube large enough to contain both Gaussians (justified below).

mod common;

use common::{Z, batch_means, check, samples_at};
use sam_core::presets::{Det, Trace};
use sam_core::problems::{Problem, Quadratic, ScaleInvariant, determinant, trace};

const SCALE: f64 = 2.0;

fn mapped(w: &[f64]) -> Vec<f64> {
    vec![SCALE * w[0], w[1] / SCALE]
}

/// `g' H^-1 g` for a 2x2 Hessian.
fn newton_decrement(g: &[f64], h: &[f64]) -> f64 {
    let det = h[0] * h[3] - h[1] * h[2];
    let hinv_g = [
        (h[3] * g[0] - h[1] * g[1]) / det,
        (h[0] * g[1] - h[2] * g[0]) / det,
    ];
    g[0] * hinv_g[0] + g[1] * hinv_g[1]
}

/// The second-order Taylor model of `problem` at `w`, as a quadratic:
/// `A = H(w)`, stationary point `w - H^-1 g`, value `L(w) - g'H^-1 g / 2`
/// there (so that the model has value `L(w)` and gradient `g` at `w`).
fn taylor_model(problem: &dyn Problem, w: &[f64]) -> Quadratic {
    let (g, h) = (problem.gradient(w), problem.hessian(w));
    let det = h[0] * h[3] - h[1] * h[2];
    let step = [
        (h[3] * g[0] - h[1] * g[1]) / det,
        (h[0] * g[1] - h[2] * g[0]) / det,
    ];
    let centre = vec![w[0] - step[0], w[1] - step[1]];
    Quadratic::from_matrix(
        h,
        centre,
        problem.loss(w) - 0.5 * newton_decrement(&g, &problem.hessian(w)),
    )
    .unwrap()
}

#[test]
fn exact_limits_det_invariant_trace_not() {
    let p = ScaleInvariant::default();
    // At a minimum: det H = 0 on both sides (singular), tr H changes.
    let w = [2.0, 0.5];
    let (h, hm) = (p.hessian(&w), p.hessian(&mapped(&w)));
    assert!(p.loss(&w) == 0.0 && p.loss(&mapped(&w)) == 0.0);
    assert!(determinant(&h, 2).unwrap().abs() < 1e-12);
    assert!(determinant(&hm, 2).unwrap().abs() < 1e-12);
    assert_eq!(trace(&h, 2).unwrap(), 4.25);
    assert_eq!(trace(&hm, 2).unwrap(), 16.0625);
    // At a positive definite point (ab = 0.5): det H = 0.25 on both sides,
    // and the gradient term of the Gaussian integral agrees too.
    let w = [0.5f64.sqrt(), 0.5f64.sqrt()];
    let wm = mapped(&w);
    let (h, hm) = (p.hessian(&w), p.hessian(&wm));
    // Products of numbers of order 1: 1e-14 absolute.
    assert!((determinant(&h, 2).unwrap() - 0.25).abs() < 1e-14);
    assert!((determinant(&hm, 2).unwrap() - 0.25).abs() < 1e-14);
    let (d, dm) = (
        newton_decrement(&p.gradient(&w), &h),
        newton_decrement(&p.gradient(&wm), &hm),
    );
    assert!((d - dm).abs() < 1e-14 && (d - 0.5).abs() < 1e-14);
    assert!((trace(&h, 2).unwrap() - 1.0).abs() < 1e-14);
    assert!((trace(&hm, 2).unwrap() - 2.125).abs() < 1e-14);
}

/// Monte Carlo: Det-SAM's estimate (rho = 1, the reference radius) on the
/// Taylor models at `w` and `M w` agrees within Monte Carlo error and with
/// the Gaussian-integral value; Trace-SAM's does not agree.
///
/// The cube: the Det integrand `exp(-x/2)` is a Gaussian with covariance
/// `2 H^-1`, centred at `delta* = -H^-1 g / rho`. At `w` that is
/// `(0.71, 0.71)` with standard deviations `(2, 2)`; at `M w` it is
/// `M delta* = (1.41, 0.35)` with standard deviations `(4, 1)`. A half
/// width of 22 > 1.41 + 5 * 4 keeps every coordinate 5 standard
/// deviations inside, so the truncated mass is below
/// `2 * P(|N(0,1)| > 5) = 1.1e-6`, negligible next to the ~2% Monte Carlo
/// error.
#[test]
fn monte_carlo_det_invariant_trace_not() {
    let p = ScaleInvariant::default();
    let w = vec![0.5f64.sqrt(), 0.5f64.sqrt()];
    let wm = mapped(&w);
    let (qw, qm) = (taylor_model(&p, &w), taylor_model(&p, &wm));
    let rho = 1.0;
    let c = 22.0;
    let det = Det { half_width: c };
    // The Gaussians fill ~1% of the cube: 500k draws give ~2% error on
    // each S, enough to tell the gradient term's factor 0.78 apart.
    let n = 500_000;
    // Common random numbers: the same cube draws at both points.
    let xw = samples_at(&qw, &w, &det, rho, n, 40);
    let xm = samples_at(&qm, &wm, &det, rho, n, 40);
    let sw = batch_means(n, |r| det.evaluate_value(&xw[r]));
    let sm = batch_means(n, |r| det.evaluate_value(&xm[r]));
    let diff = batch_means(n, |r| {
        det.evaluate_value(&xw[r.clone()]) - det.evaluate_value(&xm[r])
    });
    // S = (2c)^4 det(H) exp(-g'H^-1 g / (2 rho^2)) / (4 pi)^2, the same at
    // both points: det H = 0.25, g'H^-1 g = 0.5.
    let want = (2.0 * c).powi(4) * 0.25 * (-0.25f64).exp() / (4.0 * std::f64::consts::PI).powi(2);
    // Wrong answers: without the gradient term (exp(-0.25) = 0.78), or
    // scaled with the trace ratio 2.125.
    check("det at w", &sw, want, want / (-0.25f64).exp());
    check("det at Mw", &sm, want, want / (-0.25f64).exp());
    assert!(
        diff.value.abs() < Z * diff.se,
        "det changed by {} (SE {})",
        diff.value,
        diff.se
    );
    // A change as large as the trace's (factor 2.125) would be caught.
    assert!(1.125 * want > 2.0 * Z * diff.se);

    // Trace-SAM on the same models (Gaussian directions, the same rho so
    // the linear term's variance |g|^2 / rho^2 stays small):
    // E x = tr(H)/2 exactly on a quadratic, 0.5 at w and 1.0625 at M w.
    let trace = Trace::default();
    let n = 20_000;
    let tw = samples_at(&qw, &w, &trace, rho, n, 41);
    let tm = samples_at(&qm, &wm, &trace, rho, n, 41);
    let stw = batch_means(n, |r| trace.evaluate_value(&tw[r]));
    let stm = batch_means(n, |r| trace.evaluate_value(&tm[r]));
    check("trace at w", &stw, 0.5, 1.0625);
    check("trace at Mw", &stm, 1.0625, 0.5);
}

/// `evaluate(..).value` for brevity.
trait Value {
    fn evaluate_value(&self, xs: &[f64]) -> f64;
}

impl<M: sam_core::Measure> Value for M {
    fn evaluate_value(&self, xs: &[f64]) -> f64 {
        self.evaluate(xs).unwrap().value
    }
}
