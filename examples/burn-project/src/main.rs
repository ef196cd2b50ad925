//! Frob-SAM on MNIST digits through burn-train's `Learner`: the metrics,
//! checkpoints and training loop are Burn's own; sam-burn supplies the
//! optimizer and the `TrainStep`.
//!
//! ```text
//! cargo run --release -- [DATA_DIR] [--train N] [--epochs E]
//! ```
//!
//! `DATA_DIR` holds the four MNIST IDX files (gzipped or not); it defaults
//! to the digits bundled with the sam-burn repository. The model is a plain
//! Burn module: it implements [`SharpnessStep`] (its loss on a batch) and
//! `InferenceStep`, and [`SharpnessModel`] wraps it with the shared rule
//! into the Learner's `TrainStep`. The Learner's optimizer is the matching
//! `LearnerOptimizer`: it steps the base optimizer (SGD with momentum) and
//! saves the rule's state in the Learner's checkpoints. A failed step (a
//! non-finite loss) leaves the weights unchanged and stops training through
//! the interrupter, with the error as the reason.

use std::io::Read;
use std::path::{Path, PathBuf};

use burn::backend::{Autodiff, NdArray};
use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::InMemDataset;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig, Relu};
use burn::optim::SgdConfig;
use burn::optim::momentum::MomentumConfig;
use burn::record::CompactRecorder;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData};
use burn::train::metric::{AccuracyMetric, LossMetric};
use burn::train::{ClassificationOutput, InferenceStep, Interrupter, Learner, SupervisedTraining};
use sam_burn::optim::{Preset, SharpnessModel, SharpnessStep, UniversalSamConfig};

/// One digit: 784 pixels in `[0, 1]` and its label.
#[derive(Clone, Debug)]
struct Digit {
    pixels: Vec<f32>,
    label: u8,
}

/// A batch of digits, normalised with MNIST's mean and standard deviation.
#[derive(Clone, Debug)]
struct DigitBatch<B: Backend> {
    images: Tensor<B, 2>,
    targets: Tensor<B, 1, Int>,
}

#[derive(Clone, Default)]
struct DigitBatcher;

impl<B: Backend> Batcher<B, Digit, DigitBatch<B>> for DigitBatcher {
    fn batch(&self, items: Vec<Digit>, device: &B::Device) -> DigitBatch<B> {
        let n = items.len();
        let pixels: Vec<f32> = items
            .iter()
            .flat_map(|d| d.pixels.iter().map(|p| (p - 0.1307) / 0.3081))
            .collect();
        let labels: Vec<i64> = items.iter().map(|d| i64::from(d.label)).collect();
        DigitBatch {
            images: Tensor::from_data(TensorData::new(pixels, [n, 784]), device),
            targets: Tensor::from_data(TensorData::new(labels, [n]), device),
        }
    }
}

/// Reads one IDX file (`name`, or `name.gz`) from `dir`.
fn read_idx(dir: &Path, name: &str) -> std::io::Result<Vec<u8>> {
    let plain = dir.join(name);
    let mut bytes = Vec::new();
    if plain.exists() {
        std::fs::File::open(plain)?.read_to_end(&mut bytes)?;
    } else {
        let gz = std::fs::File::open(dir.join(format!("{name}.gz")))?;
        flate2::read::GzDecoder::new(gz).read_to_end(&mut bytes)?;
    }
    Ok(bytes)
}

/// The first `limit` digits of an IDX image file and its label file.
fn read_digits(dir: &Path, images: &str, labels: &str, limit: usize) -> Result<Vec<Digit>, String> {
    let what = |e: std::io::Error| format!("{}: {e}", dir.join(images).display());
    let images = read_idx(dir, images).map_err(what)?;
    let labels = read_idx(dir, labels).map_err(what)?;
    let be =
        |b: &[u8], at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize;
    // Magic numbers: 2051 for 28x28 images, 2049 for labels.
    if images.len() < 16 || labels.len() < 8 || be(&images, 0) != 2051 || be(&labels, 0) != 2049 {
        return Err("not an MNIST IDX image/label pair".into());
    }
    let (count, rows, cols) = (be(&images, 4), be(&images, 8), be(&images, 12));
    if (rows, cols) != (28, 28) || be(&labels, 4) != count || images.len() < 16 + count * 784 {
        return Err(format!(
            "unexpected IDX shape: {count} images of {rows}x{cols}"
        ));
    }
    Ok((0..count.min(limit))
        .map(|i| Digit {
            pixels: images[16 + i * 784..16 + (i + 1) * 784]
                .iter()
                .map(|&p| f32::from(p) / 255.0)
                .collect(),
            label: labels[8 + i],
        })
        .collect())
}

/// A 784-128-10 MLP.
#[derive(Module, Debug)]
struct Model<B: Backend> {
    hidden: Linear<B>,
    out: Linear<B>,
    act: Relu,
}

impl<B: Backend> Model<B> {
    fn new(device: &B::Device) -> Self {
        Self {
            hidden: LinearConfig::new(784, 128).init(device),
            out: LinearConfig::new(128, 10).init(device),
            act: Relu::new(),
        }
    }

    fn classify(&self, batch: DigitBatch<B>) -> ClassificationOutput<B> {
        let logits = self
            .out
            .forward(self.act.forward(self.hidden.forward(batch.images)));
        let loss = CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(logits.clone(), batch.targets.clone());
        ClassificationOutput::new(loss, logits, batch.targets)
    }
}

/// The loss the sharpness-aware rule differentiates (and perturbs).
impl<B: AutodiffBackend> SharpnessStep<B> for Model<B> {
    type Input = DigitBatch<B>;
    type Output = ClassificationOutput<B>;

    fn loss(&self, batch: &DigitBatch<B>) -> (Tensor<B, 1>, ClassificationOutput<B>) {
        let out = self.classify(batch.clone());
        (out.loss.clone(), out)
    }
}

impl<B: Backend> InferenceStep for Model<B> {
    type Input = DigitBatch<B>;
    type Output = ClassificationOutput<B>;

    fn step(&self, batch: DigitBatch<B>) -> ClassificationOutput<B> {
        self.classify(batch)
    }
}

/// Command line: `[DATA_DIR] [--train N] [--epochs E]`.
struct Args {
    data: PathBuf,
    train: usize,
    epochs: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        data: Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/data/mnist-10k"),
        train: usize::MAX,
        epochs: 2,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut number = |flag: &str| -> Result<usize, String> {
            let v = it.next().ok_or(format!("{flag} needs a value"))?;
            v.parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or(format!("{flag} {v}: expected a positive integer"))
        };
        match arg.as_str() {
            "--train" => args.train = number("--train")?,
            "--epochs" => args.epochs = number("--epochs")?,
            flag if flag.starts_with("--") => return Err(format!("unknown flag {flag}")),
            dir => args.data = PathBuf::from(dir),
        }
    }
    Ok(args)
}

fn run() -> Result<(), String> {
    type Ad = Autodiff<NdArray>;
    let args = parse_args()?;
    let device = Default::default();
    let train = read_digits(
        &args.data,
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        args.train,
    )?;
    let test = read_digits(
        &args.data,
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
        usize::MAX,
    )?;

    let base = SgdConfig::new()
        .with_momentum(Some(MomentumConfig::new().with_dampening(0.0)))
        .init();
    // Frob-SAM with the paper's MNIST settings (rho 0.01, lambda 0.005, n 2).
    let optim = UniversalSamConfig::new(Preset::Frob)
        .with_rho(Some(0.01))
        .with_seed(101)
        .init(base)
        .map_err(|e| e.to_string())?;
    let (rule, optim) = optim.into_learner();

    let interrupter = Interrupter::new();
    let model =
        SharpnessModel::new(Model::<Ad>::new(&device), rule).with_interrupter(interrupter.clone());
    let failures = model.failures().clone();

    let train = DataLoaderBuilder::new(DigitBatcher)
        .batch_size(128)
        .shuffle(101)
        .build(InMemDataset::new(train));
    let valid = DataLoaderBuilder::new(DigitBatcher)
        .batch_size(500)
        .build(InMemDataset::new(test));

    let dir = std::env::temp_dir().join("sam-burn-project");
    let training = SupervisedTraining::new(&dir, train, valid)
        .metric_train_numeric(LossMetric::new())
        .metric_valid_numeric(LossMetric::new())
        .metric_valid_numeric(AccuracyMetric::new())
        .with_file_checkpointer(CompactRecorder::new())
        .with_interrupter(interrupter)
        .num_epochs(args.epochs)
        .summary();
    let result = training.launch(Learner::new(model, optim, 0.05));
    if let Some(reason) = failures.last() {
        return Err(format!("training stopped: {reason}"));
    }
    println!(
        "trained {} parameters with Frob-SAM for {} epochs; logs and checkpoints in {}",
        result.model.num_params(),
        args.epochs,
        dir.display()
    );
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
