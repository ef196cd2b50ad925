//! Gradient accumulation: for every method, a step over k micro-batches
//! equals the step over the one batch they make up; a wrong weighting of
//! the micro-batches fails the same comparison. On every backend.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Device, ElementConversion, Tensor, TensorData};
use sam_burn::optim::{
    AsamConfig, BaseConfig, MethodConfig, OptimError, Preset, SamConfig, SsamConfig,
    UniversalSamConfig, accumulate, accumulate_with,
};

/// A 6-8-3 tanh network: nonlinear, so the perturbed gradients differ
/// from the clean one and every coefficient of a step matters.
#[derive(Module, Debug)]
struct Net<B: burn::tensor::backend::Backend> {
    hidden: Linear<B>,
    out: Linear<B>,
}

impl<B: AutodiffBackend> Net<B> {
    fn new(device: &Device<B>) -> Self {
        Self {
            hidden: LinearConfig::new(6, 8).init(device),
            out: LinearConfig::new(8, 3).init(device),
        }
    }

    /// Mean squared error to the targets over the rows of `x`.
    fn loss(&self, x: &Tensor<B, 2>, y: &Tensor<B, 2>) -> Tensor<B, 1> {
        let pred = self.out.forward(self.hidden.forward(x.clone()).tanh());
        (pred - y.clone()).powi_scalar(2).mean()
    }

    fn weights(&self) -> Vec<f32> {
        let mut w = Vec::new();
        for t in [
            self.hidden.weight.val().flatten::<1>(0, 1),
            self.out.weight.val().flatten::<1>(0, 1),
        ] {
            w.extend(t.into_data().to_vec::<f32>().unwrap());
        }
        w
    }
}

/// A reproducible batch of `n` rows (inputs, targets), rows `from..from+n`.
fn rows<B: AutodiffBackend>(
    from: usize,
    n: usize,
    device: &Device<B>,
) -> (Tensor<B, 2>, Tensor<B, 2>) {
    let x: Vec<f32> = (from * 6..(from + n) * 6)
        .map(|i| ((i as f32) * 0.37).sin())
        .collect();
    let y: Vec<f32> = (from * 3..(from + n) * 3)
        .map(|i| ((i as f32) * 0.91).cos())
        .collect();
    (
        Tensor::from_data(TensorData::new(x, [n, 6]), device),
        Tensor::from_data(TensorData::new(y, [n, 3]), device),
    )
}

/// Every method, with settings under which each coefficient is visible.
fn methods() -> Vec<MethodConfig> {
    vec![
        MethodConfig::Base(BaseConfig::new()),
        MethodConfig::Sam(SamConfig::new().with_rho(0.1)),
        MethodConfig::Asam(AsamConfig::new()),
        MethodConfig::Ssam(SsamConfig::new().with_rho(0.1).with_fisher_samples(4)),
        MethodConfig::Universal(
            UniversalSamConfig::new(Preset::Trace)
                .with_rho(Some(0.05))
                .with_seed(3),
        ),
        MethodConfig::Universal(
            UniversalSamConfig::new(Preset::Frob)
                .with_rho(Some(0.05))
                .with_lambda(Some(0.05))
                .with_seed(3),
        ),
        MethodConfig::Universal(
            UniversalSamConfig::new(Preset::Det)
                .with_lambda(Some(0.1))
                .with_seed(3),
        ),
    ]
}

/// The micro-batches' sizes: unequal, so a wrong weighting shows.
const SIZES: [usize; 3] = [5, 4, 3];

/// Two steps of `method` (momentum, so the second step sees the first's
/// state) from `net`; `micro` runs each pass over the micro-batches with
/// `weigh` giving each one's weight, otherwise over the whole batch.
fn two_steps<B: AutodiffBackend>(
    method: &MethodConfig,
    net: Net<B>,
    micro: Option<fn(usize) -> usize>,
    device: &Device<B>,
) -> Vec<f32> {
    let base = SgdConfig::new()
        .with_momentum(Some(MomentumConfig::new().with_dampening(0.0)))
        .init();
    let mut optim = method.init(base).expect("valid method");
    let total: usize = SIZES.iter().sum();
    let whole = rows::<B>(0, total, device);
    let parts: Vec<_> = SIZES
        .iter()
        .scan(0, |from, &n| {
            let part = rows::<B>(*from, n, device);
            *from += n;
            Some(part)
        })
        .collect();
    if let Some(ssam) = optim.rule_mut().inner_mut().as_ssam_mut() {
        // The same mask for both runs: scores from single rows.
        ssam.refresh_mask(&net, |m: Net<B>, i| {
            let (x, y) = rows::<B>(i, 1, device);
            GradientsParams::from_grads(m.loss(&x, &y).backward(), &m)
        })
        .expect("mask");
    }
    let mut net = net;
    for _ in 0..2 {
        let stepped = match micro {
            None => optim.step(0.1, net, |m: Net<B>, _| {
                let loss = m.loss(&whole.0, &whole.1);
                let value = loss.clone().into_scalar().elem::<f64>();
                Ok::<_, OptimError>((value, GradientsParams::from_grads(loss.backward(), &m)))
            }),
            Some(weigh) => optim.step(0.1, net, |m: Net<B>, _| {
                accumulate(&m, &parts, |m, (x, y)| (m.loss(x, y), weigh(x.dims()[0])))
            }),
        };
        net = stepped.map_err(|f| f.error).expect("step").0;
    }
    net.weights()
}

/// The largest absolute difference of two weight vectors.
fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Tolerance: the two runs differ only in the order the per-example terms
/// of the loss and gradient are summed in f32 (relative rounding about
/// 1e-7 per sum over 12 rows), carried through two steps whose
/// perturbations and coefficients are smooth in the gradient; measured
/// differences are about 1e-7. A step moves the weights by about 1e-2,
/// and weighting the micro-batches equally instead of by size moves them
/// by more than 1e-4 (asserted below), so 1e-5 separates the two.
const TOLERANCE: f32 = 1e-5;

fn micro_batches_give_the_one_batch_step<B: AutodiffBackend>(device: &Device<B>) {
    for method in methods() {
        let net = Net::<B>::new(device);
        // Burn draws a parameter on first use: drawn now, the clones below
        // share the same weights instead of drawing their own.
        sam_burn::params::materialize(&net);
        let whole = two_steps(&method, net.clone(), None, device);
        let accumulated = two_steps(&method, net.clone(), Some(|n| n), device);
        let diff = max_diff(&whole, &accumulated);
        assert!(
            diff <= TOLERANCE,
            "{}: accumulated step differs by {diff:e}",
            method.name()
        );
        // The nearest wrong answer: each micro-batch's mean weighted alike.
        let unweighted = two_steps(&method, net.clone(), Some(|_| 1), device);
        let wrong = max_diff(&whole, &unweighted);
        assert!(
            wrong > 10.0 * TOLERANCE,
            "{}: equal weights differ by only {wrong:e}; the test cannot tell",
            method.name()
        );
        let moved = max_diff(&whole, &net.weights());
        assert!(moved > 1e-3, "{}: the step moved {moved:e}", method.name());
    }
}

backend_tests! {
    micro_batches_give_the_one_batch_step => micro_batches_give_the_one_batch_step,
}

/// The micro-batches' extra outputs come back in order, the loss is the
/// size-weighted mean, and bad input is a typed error.
#[test]
fn extras_losses_and_errors() {
    type B = crate::backends::FlexAd;
    let device = Default::default();
    let net = Net::<B>::new(&device);
    let parts: Vec<_> = [(0, 5), (5, 4), (9, 3)]
        .iter()
        .map(|&(from, n)| rows::<B>(from, n, &device))
        .collect();
    let (loss, _, sizes) = accumulate_with(&net, &parts, |m, (x, y)| {
        (m.loss(x, y), x.dims()[0], x.dims()[0])
    })
    .unwrap();
    assert_eq!(sizes, [5, 4, 3]);
    let whole = rows::<B>(0, 12, &device);
    let expected = net.loss(&whole.0, &whole.1).into_scalar().elem::<f64>();
    // f32 means of 12 squared errors near 1: rounding about 1e-7.
    assert!(
        (loss - expected).abs() <= 1e-6 * expected.abs().max(1.0),
        "{loss} vs {expected}"
    );

    let none: Vec<(Tensor<B, 2>, Tensor<B, 2>)> = Vec::new();
    let err = accumulate(&net, &none, |m, (x, y)| (m.loss(x, y), 1)).unwrap_err();
    assert!(matches!(err, OptimError::NoMicroBatches), "{err}");
    let err = accumulate(&net, &parts, |m, (x, y)| (m.loss(x, y), 0)).unwrap_err();
    assert!(
        matches!(err, OptimError::EmptyMicroBatch { index: 0 }),
        "{err}"
    );
    assert!(err.to_string().contains("micro-batch 0"), "{err}");
}
