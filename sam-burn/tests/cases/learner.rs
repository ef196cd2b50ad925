//! The Learner wrapper ([`SharpnessModel`]): the same step as the
//! optimizer's own, a failed step that changes nothing and stops training
//! without a panic, checkpoints of the plain model, and real burn-train
//! runs. CPU backend (Flex).

use crate::backends;

use backends::FlexAd as Ad;
use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::InMemDataset;
use burn::module::{AutodiffModule, Module, Param};
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Tensor, TensorData};
use burn::train::{InferenceStep, Interrupter, Learner, SupervisedTraining, TrainStep};
use sam_burn::optim::{
    Scheduled, SharpnessModel, SharpnessStep, UniversalRule, UniversalSamConfig,
};
use sam_core::presets::Preset;

/// `L(w) = 1/2 ||w - t||^2` for a batch target `t`.
#[derive(Module, Debug)]
struct Quad<B: Backend> {
    w: Param<Tensor<B, 1>>,
}

impl<B: Backend> Quad<B> {
    fn new(w: [f32; 2], device: &B::Device) -> Self {
        Self {
            w: Param::from_tensor(Tensor::from_floats(w, device)),
        }
    }

    fn loss_of(&self, target: &Tensor<B, 1>) -> Tensor<B, 1> {
        (self.w.val() - target.clone()).powi_scalar(2).sum() * 0.5
    }

    fn weights(&self) -> Vec<f32> {
        self.w.val().into_data().to_vec().unwrap()
    }
}

impl<B: AutodiffBackend> SharpnessStep<B> for Quad<B> {
    type Input = Tensor<B, 1>;
    type Output = ();

    fn loss(&self, target: &Tensor<B, 1>) -> (Tensor<B, 1>, ()) {
        (self.loss_of(target), ())
    }
}

impl<B: Backend> InferenceStep for Quad<B> {
    type Input = Tensor<B, 1>;
    type Output = ();

    fn step(&self, _target: Tensor<B, 1>) {}
}

/// Batches targets by their mean.
#[derive(Clone)]
struct Targets;

impl<B: Backend> Batcher<B, [f32; 2], Tensor<B, 1>> for Targets {
    fn batch(&self, items: Vec<[f32; 2]>, device: &B::Device) -> Tensor<B, 1> {
        let n = items.len();
        let flat: Vec<f32> = items.into_iter().flatten().collect();
        Tensor::<B, 2>::from_data(TensorData::new(flat, [n, 2]), device)
            .mean_dim(0)
            .reshape([2])
    }
}

fn frob() -> UniversalSamConfig {
    UniversalSamConfig::new(Preset::Frob)
        .with_rho(Some(0.05))
        .with_seed(7)
}

fn target(t: [f32; 2]) -> Tensor<Ad, 1> {
    Tensor::from_floats(t, &Default::default())
}

#[test]
fn the_wrapper_steps_exactly_like_the_optimizer() {
    let device = Default::default();
    let targets = [[1.0, -2.0], [0.5, 0.0], [2.0, 1.0]];

    let mut direct = frob()
        .init(SgdConfig::new().init::<Ad, Quad<Ad>>())
        .unwrap();
    let mut plain = Quad::<Ad>::new([0.3, 0.7], &device);
    for t in targets {
        let t = target(t);
        (plain, _) = direct
            .step(0.1, plain, |m: Quad<Ad>, _| {
                let loss = m.loss_of(&t);
                let value = loss.clone().into_scalar().elem::<f64>();
                (value, GradientsParams::from_grads(loss.backward(), &m))
            })
            .unwrap();
    }

    let (rule, mut optim) = frob().init(SgdConfig::new().init()).unwrap().into_learner();
    let mut wrapped = SharpnessModel::new(Quad::<Ad>::new([0.3, 0.7], &device), rule.clone());
    for t in targets {
        let out = TrainStep::step(&wrapped, target(t));
        wrapped = wrapped.optimize(&mut optim, 0.1, out.grads);
    }

    // Same rule, same seed, same closure: the same float operations.
    assert_eq!(wrapped.model().weights(), plain.weights());
    assert_eq!(rule.with(|r| r.step_count()), 3);
    assert_eq!(wrapped.failures().count(), 0);
}

#[test]
fn a_failed_step_changes_nothing_and_stops_training() {
    let device = Default::default();
    let (rule, mut optim) = frob().init(SgdConfig::new().init()).unwrap().into_learner();
    let interrupter = Interrupter::new();
    let wrapped = SharpnessModel::new(Quad::<Ad>::new([0.3, 0.7], &device), rule.clone())
        .with_interrupter(interrupter.clone());

    let out = TrainStep::step(&wrapped, target([f32::NAN, 0.0]));
    assert!(out.grads.is_empty(), "a failed step hands back no gradient");
    let after = wrapped.optimize(&mut optim, 0.1, out.grads);

    assert_eq!(after.model().weights(), vec![0.3, 0.7]);
    assert_eq!(after.failures().count(), 1);
    let message = after.failures().last().unwrap();
    assert!(message.contains("non-finite"), "{message}");
    assert!(interrupter.should_stop());
    assert_eq!(interrupter.get_message().as_deref(), Some(message.as_str()));
    assert_eq!(rule.with(|r| r.step_count()), 0, "the rule's state is kept");

    // Without an interrupter the step is skipped and training goes on.
    let skipping = SharpnessModel::new(after.into_model(), rule);
    let out = TrainStep::step(&skipping, target([f32::INFINITY, 0.0]));
    assert!(out.grads.is_empty());
    assert_eq!(skipping.failures().count(), 1);
    let out = TrainStep::step(&skipping, target([1.0, 1.0]));
    assert!(!out.grads.is_empty());
    assert_eq!(skipping.failures().count(), 1);
}

#[test]
fn checkpoints_hold_the_plain_model() {
    let device = Default::default();
    let (rule, _) = frob()
        .init(SgdConfig::new().init::<Ad, SharpnessModel<Ad, Quad<Ad>, Scheduled<UniversalRule>>>())
        .unwrap()
        .into_learner();
    let wrapped = SharpnessModel::new(Quad::<Ad>::new([0.3, 0.7], &device), rule);
    assert_eq!(wrapped.num_params(), 2);

    let plain = Quad::<Ad>::new([0.0, 0.0], &device).load_record(wrapped.clone().into_record());
    assert_eq!(plain.weights(), vec![0.3, 0.7]);

    // The inference model keeps the wrapper and comes back unchanged.
    let valid = wrapped.valid();
    assert_eq!(valid.model().weights(), vec![0.3, 0.7]);
    let back = SharpnessModel::<Ad, Quad<Ad>, _>::from_inner(valid);
    assert_eq!(back.model().weights(), vec![0.3, 0.7]);
}

fn training_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("usam-learner-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Trains with burn-train's own loop on `items`, batches of two.
fn train(
    name: &str,
    items: Vec<[f32; 2]>,
    epochs: usize,
) -> (Vec<f32>, u64, usize, Option<String>) {
    let device = Default::default();
    let (rule, optim) = frob().init(SgdConfig::new().init()).unwrap().into_learner();
    let interrupter = Interrupter::new();
    let model = SharpnessModel::new(Quad::<Ad>::new([0.0, 0.0], &device), rule.clone())
        .with_interrupter(interrupter.clone());
    let failures = model.failures().clone();

    let training = SupervisedTraining::new(
        training_dir(name),
        DataLoaderBuilder::new(Targets)
            .batch_size(2)
            .build(InMemDataset::new(items.clone())),
        DataLoaderBuilder::new(Targets)
            .batch_size(2)
            .build(InMemDataset::new(items)),
    )
    .with_interrupter(interrupter.clone())
    .num_epochs(epochs);
    let result = training.launch(Learner::new(model, optim, 0.2));
    (
        result.model.model().weights(),
        rule.with(|r| r.step_count()),
        failures.count(),
        interrupter.get_message(),
    )
}

#[test]
fn burn_train_runs_the_sharpness_aware_step() {
    let (w, steps, failures, stopped) = train("fit", vec![[1.0, -2.0]; 8], 3);
    // Twelve steps of lr 0.2 on a unit-curvature quadratic: the distance to
    // the target shrinks by about 0.8 per step, to under 10% of its start.
    assert_eq!(steps, 12);
    assert_eq!((failures, stopped), (0, None));
    let distance = ((w[0] - 1.0).powi(2) + (w[1] + 2.0).powi(2)).sqrt();
    assert!(distance < 0.1 * 5f32.sqrt(), "{w:?}");
}

#[test]
fn burn_train_stops_on_a_failed_step_without_a_panic() {
    let mut items = vec![[1.0, -2.0]; 8];
    items[4] = [f32::NAN, 0.0];
    let (w, steps, failures, stopped) = train("nan", items, 3);
    // Batches of two: the third batch holds the NaN; two good steps ran.
    assert_eq!(steps, 2);
    assert_eq!(failures, 1);
    assert!(stopped.unwrap().contains("non-finite"));
    assert!(w.iter().all(|x| x.is_finite()), "{w:?}");
}

/// Targets, and the size of the micro-batches to split them into (none:
/// the batch runs whole).
#[derive(Clone, Debug)]
struct TargetBatch {
    targets: Vec<[f32; 2]>,
    chunk: Option<usize>,
}

/// The quadratic's mean over a batch of targets, splittable into
/// micro-batches.
#[derive(Module, Debug)]
struct Quads<B: Backend> {
    w: Param<Tensor<B, 1>>,
}

impl<B: AutodiffBackend> SharpnessStep<B> for Quads<B> {
    type Input = TargetBatch;
    type Output = ();

    fn loss(&self, batch: &TargetBatch) -> (Tensor<B, 1>, ()) {
        let n = batch.targets.len();
        let flat: Vec<f32> = batch.targets.iter().flatten().copied().collect();
        let t = Tensor::<B, 2>::from_data(TensorData::new(flat, [n, 2]), &self.w.device());
        let diff = self.w.val().unsqueeze_dim::<2>(0) - t;
        (
            diff.powi_scalar(2)
                .sum_dim(1)
                .mean()
                .mul_scalar(0.5)
                .reshape([1]),
            (),
        )
    }

    fn micro_batches(&self, batch: &TargetBatch) -> Option<Vec<(TargetBatch, usize)>> {
        let chunk = batch.chunk?;
        Some(
            batch
                .targets
                .chunks(chunk)
                .map(|c| {
                    let part = TargetBatch {
                        targets: c.to_vec(),
                        chunk: None,
                    };
                    (part, c.len())
                })
                .collect(),
        )
    }
}

#[test]
fn the_wrapper_accumulates_micro_batches_into_the_one_batch_step() {
    let device = Default::default();
    let targets = vec![[1.0, -2.0], [0.5, 0.0], [2.0, 1.0], [-1.0, 0.5], [0.0, 3.0]];
    let run = |chunk: Option<usize>| {
        let (rule, mut optim) = frob().init(SgdConfig::new().init()).unwrap().into_learner();
        let w = Param::from_tensor(Tensor::from_floats([0.3, 0.7], &device));
        let mut wrapped = SharpnessModel::new(Quads::<Ad> { w }, rule);
        for _ in 0..3 {
            let batch = TargetBatch {
                targets: targets.clone(),
                chunk,
            };
            let out = TrainStep::step(&wrapped, batch);
            wrapped = wrapped.optimize(&mut optim, 0.1, out.grads);
        }
        assert_eq!(wrapped.failures().count(), 0);
        wrapped.model().w.val().into_data().to_vec::<f32>().unwrap()
    };
    let whole = run(None);
    // Micro-batches of 2, 2 and 1: weighted by size, the same three steps
    // up to the f32 rounding of summing five terms in another order
    // (about 1e-7 on weights of order 1; 1e-5 leaves room and is far below
    // the 0.03 to 0.1 an unweighted mean of the micro-batch means, whose
    // mean target is off by (0.08, 0.33), would move them in three steps).
    for (a, b) in whole.iter().zip(run(Some(2))) {
        assert!((a - b).abs() <= 1e-5, "{whole:?} vs {b}");
    }
    assert!((whole[0] - 0.3).abs() > 1e-2, "the steps moved the weights");
}
