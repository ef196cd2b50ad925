//! Frob-SAM inside burn-train's `Learner`: metrics, checkpoints and the
//! training loop are Burn's own; only `TrainStep::step` changes.
//!
//! ```text
//! cargo run --release -p sam-burn --example learner
//! ```
//!
//! The model keeps a [`SharedRule`] (a handle to the sharpness rule) in a
//! `#[module(skip)]` field; `TrainStep::step` asks it for the combined
//! gradient. The Learner's optimizer is the matching [`LearnerOptimizer`],
//! which steps the base optimizer (SGD here) and saves the rule's state
//! (the noise step counter) in the Learner's checkpoints.

use burn::backend::{Autodiff, Flex};
use burn::data::dataloader::DataLoaderBuilder;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig, Relu};
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::record::CompactRecorder;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Int, Tensor};
use burn::train::metric::{AccuracyMetric, LossMetric};
use burn::train::{
    ClassificationOutput, InferenceStep, Learner, SupervisedTraining, TrainOutput, TrainStep,
};
use datasets::{ImageBatch, ImageBatcher, Normalization};
use sam_burn::optim::{Scheduled, SharedRule, UniversalRule, UniversalSamConfig};
use sam_core::presets::Preset;

/// A 784-128-10 MLP that carries the sharpness rule.
#[derive(Module, Debug)]
struct Model<B: Backend> {
    hidden: Linear<B>,
    out: Linear<B>,
    act: Relu,
    /// Not a parameter: shared with the Learner's optimizer.
    #[module(skip)]
    sam: Option<SharedRule<Scheduled<UniversalRule>>>,
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

impl<B: AutodiffBackend> TrainStep for Model<B> {
    type Input = ImageBatch<B>;
    type Output = ClassificationOutput<B>;

    fn step(&self, batch: ImageBatch<B>) -> TrainOutput<ClassificationOutput<B>> {
        let sam = self
            .sam
            .as_ref()
            .expect("the training model carries the rule");
        let result = sam
            .gradients(self, |m: Model<B>, _| {
                let out = m.classify(batch.images.clone(), batch.targets.clone());
                let loss = out.loss.clone().into_scalar().elem::<f64>();
                let grads = GradientsParams::from_grads(out.loss.backward(), &m);
                // The clean pass's output feeds the Learner's metrics.
                (loss, grads, out)
            })
            // TrainStep cannot return an error; a typed error ends training
            // with its message (e.g. a non-finite loss).
            .unwrap_or_else(|e| panic!("sharpness-aware step failed: {e}"));
        TrainOutput {
            grads: result.grads,
            item: result.report.output,
        }
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
        .with_momentum(Some(MomentumConfig {
            momentum: 0.9,
            dampening: 0.0,
            nesterov: false,
        }))
        .init();
    // Frob-SAM with the MNIST study's settings (rho 0.01, lambda 0.005, n 2).
    let optim = UniversalSamConfig::new(Preset::Frob)
        .with_rho(Some(0.01))
        .with_seed(101)
        .init(base)
        .expect("valid configuration");
    let (rule, optim) = optim.into_learner();

    let model = Model::<Ad> {
        hidden: LinearConfig::new(784, 128).init(&device),
        out: LinearConfig::new(128, 10).init(&device),
        act: Relu::new(),
        sam: Some(rule),
    };

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
        .num_epochs(2)
        .summary();
    let result = training.launch(Learner::new(model, optim, 0.05));
    println!(
        "trained {} parameters with Frob-SAM; logs and checkpoints in {}",
        result.model.num_params(),
        dir.display()
    );
}
