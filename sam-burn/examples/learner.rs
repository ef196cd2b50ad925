//! Frob-SAM inside burn-train's `Learner`: metrics, checkpoints and the
//! training loop are Burn's own; only `TrainStep::step` changes.
//!
//! ```text
//! cargo run --release -p sam-burn --example learner
//! ```
//!
//! The model is a plain Burn module: it implements [`SharpnessStep`] (its
//! loss on a batch) and `InferenceStep`, and [`SharpnessModel`] wraps it
//! with the shared rule into the Learner's `TrainStep`. The Learner's
//! optimizer is the matching `LearnerOptimizer`, which steps the base
//! optimizer (SGD here) and saves the rule's state (the noise step counter)
//! in the Learner's checkpoints. A failed step (a non-finite loss) leaves
//! the weights unchanged and stops training through the interrupter, with
//! the error as the reason.

use burn::backend::{Autodiff, Flex};
use burn::data::dataloader::DataLoaderBuilder;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig, Relu};
use burn::optim::SgdConfig;
use burn::optim::momentum::MomentumConfig;
use burn::record::CompactRecorder;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor};
use burn::train::metric::{AccuracyMetric, LossMetric};
use burn::train::{ClassificationOutput, InferenceStep, Interrupter, Learner, SupervisedTraining};
use datasets::{ImageBatch, ImageBatcher, Normalization};
use sam_burn::optim::{SharpnessModel, SharpnessStep, UniversalSamConfig};
use sam_core::presets::Preset;

/// A 784-128-10 MLP.
#[derive(Module, Debug)]
struct Model<B: Backend> {
    hidden: Linear<B>,
    out: Linear<B>,
    act: Relu,
}

impl<B: Backend> Model<B> {
    fn classify(
        &self,
        images: Tensor<B, 4>,
        targets: Tensor<B, 1, Int>,
    ) -> ClassificationOutput<B> {
        let x = images.flatten::<2>(1, 3);
        let output = self.out.forward(self.act.forward(self.hidden.forward(x)));
        let loss = CrossEntropyLossConfig::new()
            .init(&output.device())
            .forward(output.clone(), targets.clone());
        ClassificationOutput::new(loss, output, targets)
    }
}

impl<B: AutodiffBackend> SharpnessStep<B> for Model<B> {
    type Input = ImageBatch<B>;
    type Output = ClassificationOutput<B>;

    fn loss(&self, batch: &ImageBatch<B>) -> (Tensor<B, 1>, ClassificationOutput<B>) {
        let out = self.classify(batch.images.clone(), batch.targets.clone());
        (out.loss.clone(), out)
    }
}

impl<B: Backend> InferenceStep for Model<B> {
    type Input = ImageBatch<B>;
    type Output = ClassificationOutput<B>;

    fn step(&self, batch: ImageBatch<B>) -> ClassificationOutput<B> {
        self.classify(batch.images, batch.targets)
    }
}

fn main() {
    type Ad = Autodiff<Flex>;
    let device = Default::default();
    let split = datasets::bundled::mnist_10k().expect("bundled MNIST-10k");

    let base = SgdConfig::new()
        .with_momentum(Some(MomentumConfig::new().with_dampening(0.0)))
        .init();
    // Frob-SAM with the MNIST study's settings (rho 0.01, lambda 0.005, n 2).
    let optim = UniversalSamConfig::new(Preset::Frob)
        .with_rho(Some(0.01))
        .with_seed(101)
        .init(base)
        .expect("valid configuration");
    let (rule, optim) = optim.into_learner();

    let interrupter = Interrupter::new();
    let model = Model::<Ad> {
        hidden: LinearConfig::new(784, 128).init(&device),
        out: LinearConfig::new(128, 10).init(&device),
        act: Relu::new(),
    };
    let model = SharpnessModel::new(model, rule).with_interrupter(interrupter.clone());
    let failures = model.failures().clone();

    let batcher = ImageBatcher::new(Normalization::mnist());
    let train = DataLoaderBuilder::new(batcher.clone())
        .batch_size(128)
        .shuffle(101)
        .num_workers(2)
        .build(split.train);
    let valid = DataLoaderBuilder::new(batcher)
        .batch_size(500)
        .num_workers(2)
        .build(split.test);

    let dir = std::env::temp_dir().join("usam-learner-example");
    let training = SupervisedTraining::new(&dir, train, valid)
        .metric_train_numeric(LossMetric::new())
        .metric_valid_numeric(LossMetric::new())
        .metric_valid_numeric(AccuracyMetric::new())
        .with_file_checkpointer(CompactRecorder::new())
        .with_interrupter(interrupter)
        .num_epochs(2)
        .summary();
    let result = training.launch(Learner::new(model, optim, 0.05));
    if let Some(reason) = failures.last() {
        eprintln!("training stopped: {reason}");
        std::process::exit(1);
    }
    println!(
        "trained {} parameters with Frob-SAM; logs and checkpoints in {}",
        result.model.num_params(),
        dir.display()
    );
}
