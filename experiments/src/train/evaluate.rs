//! Scores of a model on the test and training sets, and the Hessian
//! metrics of its training loss.

use std::time::Instant;

use burn::backend::Autodiff;
use burn::module::AutodiffModule;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use sam_burn::hessian::{Hessian, HutchinsonConfig, HvpModule, lift, lift_int};

use super::error::RunError;
use crate::config::TrainConfig;
use crate::data::{RunData, eval_batches, sized_eval_batches};
use crate::models::Model;
use crate::records::{HessianMetrics, Score, TrainScores};

type Ad<B> = Autodiff<B>;

/// What every evaluation pass of one run shares: its data (for the
/// normalisation and the labels), the batch size and the device.
struct EvalSetup<'a, B: Backend> {
    data: &'a RunData,
    batch_size: usize,
    device: &'a B::Device,
}

/// Per-example loss and correctness of `model` on `dataset` (labels from
/// the dataset, or `labels` when given).
fn per_example<B: Backend>(
    model: &Model<B>,
    dataset: &datasets::ImageDataset,
    labels: Option<&[u16]>,
    setup: &EvalSetup<'_, B>,
) -> Vec<(f64, bool)> {
    let EvalSetup {
        data,
        batch_size,
        device,
    } = *setup;
    let mut out = Vec::with_capacity(dataset.len());
    for batch in eval_batches::<B>(dataset, &data.normalization, batch_size, usize::MAX, device) {
        let targets = match labels {
            Some(l) => {
                let t: Vec<i64> = batch.indices.iter().map(|&i| i64::from(l[i])).collect();
                Tensor::<B, 1, Int>::from_data(TensorData::new(t, [batch.len()]), device)
            }
            None => batch.targets,
        };
        let logits = model.forward(batch.images);
        let logp = burn::tensor::activation::log_softmax(logits.clone(), 1);
        let nll = logp
            .gather(1, targets.clone().unsqueeze_dim(1))
            .squeeze_dim::<1>(1)
            .neg();
        let hit = logits.argmax(1).squeeze_dim::<1>(1).equal(targets);
        let nll: Vec<f32> = nll.into_data().convert::<f32>().to_vec().expect("f32");
        let hit: Vec<bool> = hit.into_data().to_vec().expect("bool");
        out.extend(nll.into_iter().map(f64::from).zip(hit));
    }
    out
}

fn aggregate<'a>(items: impl Iterator<Item = &'a (f64, bool)>) -> Score {
    let (mut loss, mut hits, mut n) = (0.0, 0, 0);
    for (l, h) in items {
        loss += l;
        hits += usize::from(*h);
        n += 1;
    }
    Score {
        loss: loss / n.max(1) as f64,
        accuracy: hits as f64 / n.max(1) as f64,
        examples: n,
    }
}

pub(super) fn score<B: Backend>(
    model: &Model<B>,
    dataset: &datasets::ImageDataset,
    data: &RunData,
    batch_size: usize,
    device: &B::Device,
    labels: Option<&[u16]>,
) -> Score {
    let setup = EvalSetup {
        data,
        batch_size,
        device,
    };
    aggregate(per_example(model, dataset, labels, &setup).iter())
}

pub(super) fn train_scores<B: Backend>(
    model: &Model<B>,
    data: &RunData,
    batch_size: usize,
    device: &B::Device,
) -> TrainScores {
    let setup = EvalSetup {
        data,
        batch_size,
        device,
    };
    let noisy = per_example(model, &data.train, None, &setup);
    let clean = aggregate(
        noisy
            .iter()
            .zip(&data.corrupted)
            .filter(|(_, c)| !**c)
            .map(|(s, _)| s),
    );
    if data.corrupted_count() == 0 {
        return TrainScores {
            all: aggregate(noisy.iter()),
            clean,
            corrupted_true: None,
            corrupted_noisy: None,
        };
    }
    let truth = per_example(model, &data.train, Some(&data.original_labels), &setup);
    let corrupted = |v: &Vec<(f64, bool)>| {
        aggregate(
            v.iter()
                .zip(&data.corrupted)
                .filter(|(_, c)| **c)
                .map(|(s, _)| s),
        )
    };
    TrainScores {
        all: aggregate(noisy.iter()),
        clean,
        corrupted_true: Some(corrupted(&truth)),
        corrupted_noisy: Some(corrupted(&noisy)),
    }
}

/// Hessian trace and Frobenius norm of the training loss on the first
/// `hessian_samples` training examples (no augmentation).
pub fn hessian_metrics<B: Backend>(
    model: &Model<Ad<B>>,
    data: &RunData,
    cfg: &TrainConfig,
    epoch: usize,
    device: &B::Device,
) -> Result<HessianMetrics, RunError> {
    let t0 = Instant::now();
    let batches = sized_eval_batches::<B>(
        &data.train,
        &data.normalization,
        cfg.eval_batch_size,
        cfg.hessian_samples,
        device,
    );
    let samples = batches.iter().map(|(_, n)| n).sum();
    let loss = |m: &HvpModule<Model<Ad<B>>, Ad<B>>, (x, y): &(Tensor<B, 4>, Tensor<B, 1, Int>)| {
        let logits = m.forward(lift::<Ad<B>, 4>(x.clone()));
        CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(logits, lift_int::<Ad<B>, 1>(y.clone()))
    };
    let hessian = Hessian::from_batches(model, loss, batches)?;
    let probes = HutchinsonConfig::new()
        .with_max_probes(cfg.hessian_probes)
        .with_min_probes(cfg.hessian_probes.min(10))
        .with_seed(cfg.seed ^ (epoch as u64) << 20);
    let trace = hessian.trace(&probes)?;
    let frob = hessian.frobenius(&probes)?;
    Ok(HessianMetrics {
        trace: trace.trace,
        frobenius: frob.frobenius,
        hvps: trace.hvps + frob.hvps,
        samples,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// Test score of a trained model (for `eval`).
pub fn evaluate<B: Backend>(
    model: &Model<Ad<B>>,
    data: &RunData,
    batch_size: usize,
    device: &B::Device,
) -> (Score, TrainScores) {
    let valid = model.valid();
    (
        score(&valid, &data.test, data, batch_size, device, None),
        train_scores(&valid, data, batch_size, device),
    )
}
