//! `usam selftest`: is this backend (a GPU, say) computing what the CPU and
//! the f64 reference compute? Three checks, each printed with its error
//! and tolerance:
//!
//! 1. every optimizer's steps on analytic problems against `sam-core`'s
//!    f64 reference (`sam_burn::check::reference_agreement`);
//! 2. exact Hessian-vector products against the analytic Hessian
//!    (`sam_burn::check::hvp_agreement`);
//! 3. twenty Frob-SAM steps of the MNIST MLP on the bundled digits, from
//!    the same weights and batches, against the CPU backend (Flex).
//!
//! Some backends multiply f32 matrices in reduced precision: CubeCL's CUDA
//! matmuls use TF32 tensor cores (10-bit mantissa). Checks 1 and 2 contract
//! without `matmul`, so they hold the optimizer and the double backward to
//! f32 accuracy on every backend; the matmul precision is measured on its
//! own line first (plain f32 ~1e-7, TF32 ~1e-4 relative to the largest
//! entry), and check 3 covers models whose layers do use matmul.

use burn::backend::{Autodiff, Flex};
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::record::{BinBytesRecorder, FullPrecisionSettings, Recorder};
use burn::tensor::ElementConversion;
use burn::tensor::backend::Backend;
use sam_burn::check::{Agreement, hvp_agreement, reference_agreement, worst};
use sam_burn::optim::MethodConfig;

use crate::backend::{BackendKind, BackendTask, dispatch};
use crate::checkpoint::CheckpointError;
use crate::config::TrainConfig;
use crate::data::RunData;
use crate::models::{Model, ModelConfig, ModelKind};
use crate::optimizer::BaseOptimizer;
use crate::train::RunError;

/// Tolerance of the matmul precision line: TF32 reaches ~1e-4, so only a
/// broken product (wrong values, not rounded ones) fails it.
pub const MATMUL_TOLERANCE: f64 = 1e-2;

/// Relative tolerance of the training comparison. GPU matrix units may
/// multiply f32 in TF32 (10-bit mantissa, ~5e-4 relative per product) and
/// reductions run in another order; over 20 steps the loss drifts by a few
/// 1e-3 at most, while a wrong kernel or optimizer shows up as 1e-1.
pub const TRAINING_TOLERANCE: f64 = 1e-2;

const STEPS: usize = 20;

/// Every check's result.
#[derive(Debug, Clone)]
pub struct SelfTest {
    /// The backend checked.
    pub backend: BackendKind,
    /// Results, in order.
    pub results: Vec<Agreement>,
}

impl SelfTest {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.results.iter().all(Agreement::passed)
    }

    /// A Markdown table of the results.
    pub fn table(&self) -> String {
        let mut out = format!(
            "selftest on {}\n\n| problem | check | relative error | tolerance | result |\n|---|---|---|---|---|\n",
            self.backend
        );
        for r in &self.results {
            out.push_str(&format!(
                "| {} | {} | {:.2e} | {:.0e} | {} |\n",
                r.problem,
                r.method,
                r.relative_error,
                r.tolerance,
                if r.passed() { "ok" } else { "FAILED" }
            ));
        }
        out
    }
}

struct Task;

impl BackendTask for Task {
    type Output = Result<Vec<Agreement>, RunError>;

    fn run<B: Backend>(self, device: B::Device) -> Self::Output {
        let mut results = vec![Agreement {
            problem: "128x128 matmul".into(),
            method: "f32 product vs f64".into(),
            relative_error: matmul_precision::<B>(&device),
            tolerance: MATMUL_TOLERANCE,
        }];
        results.extend(reference_agreement::<Autodiff<B>>(&device));
        results.push(hvp_agreement::<Autodiff<B>>(&device));
        results.push(training_agreement::<B>(&device)?);
        Ok(results)
    }
}

/// Runs every check on `backend`.
pub fn run(backend: BackendKind, device: usize) -> Result<SelfTest, RunError> {
    Ok(SelfTest {
        backend,
        results: dispatch(backend, device, Task)??,
    })
}

/// Max relative error of a 128x128x128 f32 matrix product on the backend
/// against the same product in f64.
pub fn matmul_precision<B: Backend>(device: &B::Device) -> f64 {
    use burn::tensor::{Tensor, TensorData};
    use sam_core::sampler::{NoiseKey, Sampler};
    let n = 128;
    let draw = |tensor| {
        let mut v = vec![0f32; n * n];
        let key = NoiseKey {
            seed: 3,
            step: 0,
            sample: 0,
            tensor,
        };
        Sampler::Gaussian.fill_f32(key, 0, &mut v);
        v
    };
    let (a, b) = (draw(0), draw(1));
    let ta = Tensor::<B, 2>::from_data(TensorData::new(a.clone(), [n, n]), device);
    let tb = Tensor::<B, 2>::from_data(TensorData::new(b.clone(), [n, n]), device);
    let got: Vec<f32> = ta
        .matmul(tb)
        .into_data()
        .convert::<f32>()
        .to_vec()
        .unwrap_or_default();
    if got.len() != n * n {
        return f64::INFINITY;
    }
    let exact: Vec<f64> = (0..n * n)
        .map(|ij| {
            let (i, j) = (ij / n, ij % n);
            (0..n)
                .map(|k| f64::from(a[i * n + k]) * f64::from(b[k * n + j]))
                .sum()
        })
        .collect();
    let scale = exact.iter().fold(0.0f64, |m, e| m.max(e.abs()));
    worst(
        got.iter()
            .zip(&exact)
            .map(|(&g, e)| (f64::from(g) - e).abs()),
    ) / scale
}

/// The per-step losses of `STEPS` Frob-SAM steps from `weights`.
fn losses<B: Backend>(
    weights: &[u8],
    data: &RunData,
    device: &B::Device,
) -> Result<Vec<f64>, RunError> {
    let recorder = BinBytesRecorder::<FullPrecisionSettings>::default();
    let config = ModelConfig::new(ModelKind::Mlp, 10, 1, 28);
    let record = recorder.load(weights.to_vec(), device).map_err(|e| {
        RunError::Checkpoint(CheckpointError::Encode {
            path: "selftest weights".into(),
            detail: e.to_string(),
        })
    })?;
    let mut model: Model<Autodiff<B>> = config.init::<Autodiff<B>>(device)?.load_record(record);
    let method = match crate::config::method::named("frob")? {
        MethodConfig::Universal(c) => MethodConfig::Universal(c.with_rho(Some(0.01))),
        other => other,
    };
    let mut optim = method
        .with_seed(1)
        .init(BaseOptimizer::new(&TrainConfig::default().base))
        .expect("the defaults of frob at rho 0.01 are valid");
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let mut out = Vec::with_capacity(STEPS);
    for (step, batch) in data
        .train_epoch::<Autodiff<B>>(1, 0, 64, Some(STEPS), device)
        .enumerate()
    {
        let (next, report) = optim
            .step(0.05, model, |m: Model<Autodiff<B>>, _| {
                let loss = loss_fn.forward(m.forward(batch.images.clone()), batch.targets.clone());
                let v = loss.clone().into_scalar().elem::<f64>();
                (v, GradientsParams::from_grads(loss.backward(), &m))
            })
            .map_err(|f| RunError::Step {
                epoch: 1,
                step,
                source: f.error,
            })?;
        model = next;
        out.push(report.loss);
    }
    Ok(out)
}

/// The MNIST MLP trained on `B` and on the CPU from the same weights.
fn training_agreement<B: Backend>(device: &B::Device) -> Result<Agreement, RunError> {
    let data = RunData::load(&TrainConfig::default())?;
    let cpu = Default::default();
    <Flex as Backend>::seed(&cpu, 5);
    let weights = BinBytesRecorder::<FullPrecisionSettings>::default()
        .record(
            ModelConfig::new(ModelKind::Mlp, 10, 1, 28)
                .init::<Flex>(&cpu)?
                .into_record(),
            (),
        )
        .map_err(|e| {
            RunError::Checkpoint(CheckpointError::Encode {
                path: "selftest weights".into(),
                detail: e.to_string(),
            })
        })?;
    let reference = losses::<Flex>(&weights, &data, &cpu)?;
    let here = losses::<B>(&weights, &data, device)?;
    let error = worst(
        reference
            .iter()
            .zip(&here)
            .map(|(a, b)| (a - b).abs() / a.abs().max(1e-12)),
    );
    Ok(Agreement {
        problem: "mnist-mlp".into(),
        method: format!("{STEPS} frob steps vs cpu"),
        relative_error: error,
        tolerance: TRAINING_TOLERANCE,
    })
}
