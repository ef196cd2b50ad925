//! Training a small MLP on the bundled MNIST-10k digits reduces the loss
//! with every method, without NaN (CPU backend, a few hundred steps).

use crate::backends;

use backends::FlexAd as Ad;
use burn::data::dataloader::batcher::Batcher;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig, Relu};
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::backend::Backend;
use burn::tensor::{ElementConversion, Int, Tensor};
use datasets::{ImageBatch, ImageBatcher, Normalization};
use sam_burn::optim::{
    AsamConfig, BaseConfig, MethodConfig, SamConfig, SsamConfig, UniversalSamConfig,
};
use sam_core::presets::Preset;

#[derive(Module, Debug)]
struct Mlp<B: Backend> {
    hidden: Linear<B>,
    out: Linear<B>,
    act: Relu,
}

impl<B: Backend> Mlp<B> {
    fn new(device: &B::Device) -> Self {
        Self {
            hidden: LinearConfig::new(784, 64).init(device),
            out: LinearConfig::new(64, 10).init(device),
            act: Relu::new(),
        }
    }

    fn loss(&self, images: Tensor<B, 4>, targets: Tensor<B, 1, Int>) -> Tensor<B, 1> {
        let x = images.flatten::<2>(1, 3);
        let logits = self.out.forward(self.act.forward(self.hidden.forward(x)));
        CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(logits, targets)
    }
}

const STEPS: usize = 240;
const BATCH: usize = 64;

#[test]
fn every_method_reduces_the_mnist_loss() {
    let device = Default::default();
    let split = datasets::bundled::mnist_10k().expect("bundled data");
    let batcher = ImageBatcher::new(Normalization::mnist());
    let batches: Vec<ImageBatch<Ad>> = (0..STEPS)
        .map(|s| {
            let items = (0..BATCH)
                .map(|k| {
                    split
                        .train
                        .item((s * BATCH + k) % split.train.len())
                        .unwrap()
                })
                .collect();
            batcher.batch(items, &device)
        })
        .collect();

    let methods = [
        ("sgd", MethodConfig::Base(BaseConfig::new())),
        ("sam", MethodConfig::Sam(SamConfig::new())),
        ("asam", MethodConfig::Asam(AsamConfig::new())),
        (
            "ssam",
            MethodConfig::Ssam(SsamConfig::new().with_refresh_every(100)),
        ),
        (
            "trace",
            MethodConfig::Universal(UniversalSamConfig::new(Preset::Trace)),
        ),
        (
            "frob",
            MethodConfig::Universal(UniversalSamConfig::new(Preset::Frob)),
        ),
        (
            "det",
            MethodConfig::Universal(UniversalSamConfig::new(Preset::Det)),
        ),
    ];
    let mut sgd_losses: Option<Vec<f64>> = None;
    for (name, method) in methods {
        // Same initial weights for every method.
        let mut model = {
            <Ad as Backend>::seed(&device, 42);
            Mlp::<Ad>::new(&device)
        };
        let base = SgdConfig::new()
            .with_momentum(Some(MomentumConfig::new().with_dampening(0.0)))
            .init();
        let mut optim = method.init(base).unwrap();
        let mut losses = Vec::with_capacity(STEPS);
        for batch in &batches {
            if let Some(ssam) = optim.rule_mut().inner_mut().as_ssam_mut()
                && ssam.needs_refresh()
            {
                // Fisher scores from 16 single-example gradients.
                ssam.refresh_mask(&model, |m: Mlp<Ad>, i| {
                    let image = batch.images.clone().narrow(0, i, 1);
                    let target = batch.targets.clone().narrow(0, i, 1);
                    let loss = m.loss(image, target);
                    GradientsParams::from_grads(loss.backward(), &m)
                })
                .unwrap();
            }
            let (next, report) = optim
                .step(0.02, model, |m: Mlp<Ad>, _| {
                    let loss = m.loss(batch.images.clone(), batch.targets.clone());
                    let value = loss.clone().into_scalar().elem::<f64>();
                    (value, GradientsParams::from_grads(loss.backward(), &m))
                })
                .unwrap_or_else(|f| panic!("{name}: {}", f.error));
            model = next;
            assert!(report.loss.is_finite(), "{name}: loss {}", report.loss);
            losses.push(report.loss);
        }
        let first: f64 = losses[..20].iter().sum::<f64>() / 20.0;
        let last: f64 = losses[STEPS - 20..].iter().sum::<f64>() / 20.0;
        eprintln!("{name}: mean loss of the first 20 steps {first:.3}, last 20 {last:.3}");
        // Chance level is ln 10 = 2.30; a working optimizer gets this MLP
        // well below half of its starting loss within 240 steps.
        assert!(last < 0.5 * first, "{name}: {first:.3} -> {last:.3}");
        // Not SGD in disguise: from the same weights and batches, every
        // other method's clean losses leave SGD's. The perturbations change
        // each step's gradient by a few percent (rho against weights of
        // order 0.1), so after 240 steps the losses differ by far more than
        // the 1e-3 asked; a method that fell back to the plain gradient
        // (zero radius, a dropped sharpness term) repeats SGD's to rounding.
        match &sgd_losses {
            None => sgd_losses = Some(losses),
            Some(sgd) => {
                let apart = sgd
                    .iter()
                    .zip(&losses)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f64::max);
                assert!(apart > 1e-3, "{name}: within {apart:e} of SGD's losses");
            }
        }
    }
}
