//! `usam bench`: figures for the optimizers, printed, never asserted.
//!
//! - `steps`: median step time of SGD, SAM, Trace-, Frob- (n = 2) and
//!   Det-SAM on a synthetic batch, each one's ratio to SGD, and that ratio
//!   divided by the forward-backward passes the method needs (target:
//!   at most 1.05).
//! - `memory`: peak live heap bytes (and peak resident memory) of a few
//!   steps of each method, each in a fresh process (the peak is per
//!   process), and the heap excess over SGD in units of the model's
//!   parameter bytes.
//! - `hessian`: one exact Hessian-vector product (double backward) against
//!   one gradient of the same model and batch (target: at most 3x), and
//!   optionally a timed Frobenius-norm estimate.
//! - `parallel` ([`parallel`]): data-parallel step time on several devices
//!   against one, at the same global batch.

mod parallel;

pub use parallel::{ScalingTiming, scaling_table, scaling_timings};

use std::time::Instant;

use burn::backend::Autodiff;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, ElementConversion, Int, Tensor};

use crate::backend::{BackendKind, BackendTask, dispatch};
use crate::config::{BaseSettings, ConfigError};
use crate::models::{ModelConfig, ModelKind};
use crate::optimizer::BaseOptimizer;
use crate::train::RunError;

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Architecture.
    pub model: ModelKind,
    /// Backend.
    pub backend: BackendKind,
    /// Device index.
    pub device: usize,
    /// Batch size.
    pub batch: usize,
    /// Timed steps per method.
    pub steps: usize,
    /// Untimed warm-up steps (kernel compilation, allocator warm-up).
    pub warmup: usize,
    /// Methods.
    pub methods: Vec<String>,
}

/// One method's timing.
#[derive(Debug, Clone)]
pub struct StepTiming {
    /// Method.
    pub method: String,
    /// Forward-backward passes per step.
    pub passes: usize,
    /// Median seconds per step.
    pub median: f64,
    /// Fastest step.
    pub min: f64,
    /// Seconds of the method's first step, untimed: on wgpu and CUDA it
    /// compiles and autotunes the kernels (later steps reuse them).
    pub first: f64,
    /// Median over rounds of this step's time over the SGD step of the same
    /// round (NaN when SGD is not measured).
    pub ratio: f64,
}

/// The input shape and classes a model is benchmarked with.
pub fn input_shape(model: ModelKind) -> (usize, usize, usize) {
    match model {
        ModelKind::Mlp => (1, 28, 10),
        _ => (3, 32, 10),
    }
}

/// Medians need at least one timed round; on backends that compile and
/// autotune kernels the first round does that work, so it must not be
/// timed.
fn check_steps(options: &BenchOptions) -> Result<(), RunError> {
    let invalid = |field: &str, value: usize, reason: &str| {
        Err(ConfigError::invalid(field, value, reason).into())
    };
    if options.steps == 0 {
        return invalid("--steps", 0, "at least one timed round");
    }
    if options.batch == 0 {
        return invalid("--batch", 0, "a batch holds at least one example");
    }
    if options.warmup == 0 && options.backend.tunes_kernels() {
        return invalid(
            "--warmup",
            0,
            "the first round compiles and autotunes the kernels on wgpu and CUDA: at least 1",
        );
    }
    Ok(())
}

/// The benchmarks' batch: Gaussian images of the model's input shape and
/// cycling labels, the same for every method (seeded).
fn synthetic_batch<B: Backend>(
    o: &BenchOptions,
    device: &B::Device,
) -> (Tensor<B, 4>, Tensor<B, 1, Int>) {
    let (channels, size, classes) = input_shape(o.model);
    B::seed(device, 7);
    let images = Tensor::<B, 4>::random(
        [o.batch, channels, size, size],
        Distribution::Normal(0.0, 1.0),
        device,
    );
    let labels: Vec<i64> = (0..o.batch).map(|i| (i % classes) as i64).collect();
    let targets = Tensor::from_data(burn::tensor::TensorData::new(labels, [o.batch]), device);
    (images, targets)
}

struct StepsTask(BenchOptions);

impl BackendTask for StepsTask {
    type Output = Result<Vec<StepTiming>, RunError>;

    fn run<B: Backend>(self, device: B::Device) -> Self::Output {
        let o = self.0;
        let (channels, size, classes) = input_shape(o.model);
        let (images, targets) = synthetic_batch::<B>(&o, &device);
        let (images, targets) = (Tensor::from_inner(images), Tensor::from_inner(targets));
        let loss_fn = CrossEntropyLossConfig::new().init(&device);
        let mut runs = Vec::with_capacity(o.methods.len());
        for method in &o.methods {
            let config = crate::config::method::named(method)?.with_seed(7);
            B::seed(&device, 7);
            let model =
                ModelConfig::new(o.model, classes, channels, size).init::<Autodiff<B>>(&device)?;
            let optim = config
                .init(BaseOptimizer::new(&BaseSettings::default()))
                .map_err(|e| ConfigError::from_method(&config, e))?;
            runs.push((Some(model), optim, config.passes_per_step()));
        }
        // Rounds of one step per method: drift in the machine's speed (other
        // jobs, clocks) then hits every method alike, and each round gives
        // a ratio to the SGD step taken moments apart.
        let mut times = vec![Vec::with_capacity(o.steps); runs.len()];
        let mut first = vec![0.0; runs.len()];
        for i in 0..o.warmup + o.steps {
            for (k, (slot, optim, _)) in runs.iter_mut().enumerate() {
                let model = slot.take().expect("the model is put back after each step");
                let t0 = Instant::now();
                let (next, report) = optim
                    .step(0.01, model, |m: crate::models::Model<Autodiff<B>>, _| {
                        let loss = loss_fn.forward(m.forward(images.clone()), targets.clone());
                        // Reading the loss synchronises the device, so the
                        // clock measures finished work.
                        let v = loss.clone().into_scalar().elem::<f64>();
                        (v, GradientsParams::from_grads(loss.backward(), &m))
                    })
                    .map_err(|f| RunError::Step {
                        epoch: 0,
                        step: i,
                        source: f.error,
                    })?;
                // The base step is queued lazily on GPU backends: wait for it.
                sync_model(&next);
                let seconds = t0.elapsed().as_secs_f64();
                if i == 0 {
                    first[k] = seconds;
                }
                if i >= o.warmup {
                    times[k].push(seconds);
                }
                debug_assert!(report.loss.is_finite());
                *slot = Some(next);
            }
        }
        let sgd = o.methods.iter().position(|m| m == "sgd");
        let rows = o
            .methods
            .iter()
            .zip(&runs)
            .zip(&times)
            .zip(&first)
            .map(|(((method, (_, _, passes)), t), &first)| StepTiming {
                method: method.clone(),
                passes: *passes,
                median: median(t.clone()),
                min: t.iter().copied().fold(f64::INFINITY, f64::min),
                first,
                ratio: sgd.map_or(f64::NAN, |s| {
                    median(t.iter().zip(&times[s]).map(|(a, b)| a / b).collect())
                }),
            })
            .collect();
        Ok(rows)
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Reads one weight so queued updates finish before the clock stops.
fn sync_model<B: burn::tensor::backend::AutodiffBackend>(model: &crate::models::Model<B>) {
    struct First(bool);
    impl<B: Backend> burn::module::ModuleVisitor<B> for First {
        fn visit_float<const D: usize>(&mut self, p: &burn::module::Param<Tensor<B, D>>) {
            if !self.0 {
                self.0 = true;
                let _ = p.val().flatten::<1>(0, D - 1).narrow(0, 0, 1).into_data();
            }
        }
    }
    model.visit(&mut First(false));
}

/// Times every method; see the module docs.
pub fn step_timings(options: BenchOptions) -> Result<Vec<StepTiming>, RunError> {
    check_steps(&options)?;
    dispatch(options.backend, options.device, StepsTask(options.clone()))?
}

/// The step-time table.
pub fn timing_table(rows: &[StepTiming], options: &BenchOptions) -> String {
    let mut out = format!(
        "model {}, backend {}, batch {}, {} timed rounds after {} warm-up (one step per method per round; ratios are medians of per-round ratios)\n\n| method | passes | median step (ms) | ratio to SGD | ratio / passes |\n|---|---|---|---|---|\n",
        options.model, options.backend, options.batch, options.steps, options.warmup
    );
    for r in rows {
        let ratio = r.ratio;
        out.push_str(&format!(
            "| {} | {} | {:.2} | {:.2} | {:.3} |\n",
            r.method,
            r.passes,
            1e3 * r.median,
            ratio,
            ratio / r.passes as f64
        ));
    }
    let first: Vec<String> = rows
        .iter()
        .map(|r| format!("{} {:.2} s", r.method, r.first))
        .collect();
    out.push_str(&format!(
        "\nfirst step of each method (untimed{}): {}\n",
        if options.backend.tunes_kernels() {
            "; kernel compilation and autotuning"
        } else {
            ""
        },
        first.join(", ")
    ));
    out
}

/// The step timings as JSON, in the schema `scripts/torch_baseline.py`
/// writes, for `scripts/compare_steps.py`. Undefined ratios (no SGD row)
/// are `null`.
pub fn timing_json(rows: &[StepTiming], options: &BenchOptions) -> String {
    let finite = |v: f64| v.is_finite().then_some(v);
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "method": r.method,
                "passes": r.passes,
                "median_ms": 1e3 * r.median,
                "min_ms": 1e3 * r.min,
                "first_ms": 1e3 * r.first,
                "ratio": finite(r.ratio),
                "ratio_per_pass": finite(r.ratio / r.passes as f64),
            })
        })
        .collect();
    let doc = serde_json::json!({
        "tool": "usam",
        "backend": options.backend.to_string(),
        "device_name": format!("{}:{}", options.backend, options.device),
        "model": options.model.to_string(),
        "batch": options.batch,
        "steps": options.steps,
        "warmup": options.warmup,
        "rows": rows,
    });
    serde_json::to_string_pretty(&doc).expect("plain JSON values serialise")
}

/// Peak resident set size of this process, in bytes (Linux; `None`
/// elsewhere).
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Runs a few steps of one method and returns the model's parameter
/// count: the body of one `memory` child process, whose caller then reads
/// its peak heap ([`crate::heap::Counting`]) and [`peak_rss`].
pub fn memory_probe(options: BenchOptions) -> Result<usize, RunError> {
    let params = {
        let (c, s, k) = input_shape(options.model);
        ModelConfig::new(options.model, k, c, s)
            .init::<burn::backend::NdArray>(&Default::default())?
            .num_trainable_params()
    };
    step_timings(options)?;
    Ok(params)
}

/// Gradient and Hessian-vector-product timings of one model and batch.
#[derive(Debug, Clone)]
pub struct HvpTiming {
    /// Trainable parameters.
    pub params: usize,
    /// Median seconds of one gradient (forward, backward, flattened).
    pub gradient: f64,
    /// Median seconds of one exact HVP (double backward, flattened).
    pub hvp: f64,
    /// Median over rounds of the HVP's time over the gradient's of the same
    /// round (target: at most 3).
    pub ratio: f64,
    /// A Hutchinson Frobenius-norm estimate, when probes were asked for.
    pub frobenius: Option<FrobeniusTiming>,
}

/// The time and result of a Frobenius-norm estimate.
#[derive(Debug, Clone)]
pub struct FrobeniusTiming {
    /// Probes (one HVP each).
    pub probes: usize,
    /// Seconds in all.
    pub seconds: f64,
    /// `||H||_F`, with its standard error.
    pub frobenius: sam_burn::hessian::Estimate,
}

struct HvpTask(BenchOptions, usize);

impl BackendTask for HvpTask {
    type Output = Result<HvpTiming, RunError>;

    fn run<B: Backend>(self, device: B::Device) -> Self::Output {
        use crate::models::Model;
        use sam_burn::hessian::{
            Hessian, HutchinsonConfig, HvpModule, ParamVector, Probe, gradient, lift, lift_int,
        };
        type Ad<B> = Autodiff<B>;
        type Batch<B> = (Tensor<B, 4>, Tensor<B, 1, Int>);

        let (o, probes) = (self.0, self.1);
        let (channels, size, classes) = input_shape(o.model);
        let data: Batch<B> = synthetic_batch::<B>(&o, &device);
        let model = ModelConfig::new(o.model, classes, channels, size).init::<Ad<B>>(&device)?;
        let hvp_loss = |m: &HvpModule<Model<Ad<B>>, Ad<B>>, (x, y): &Batch<B>| {
            let logits = m.forward(lift::<Ad<B>, 4>(x.clone()));
            CrossEntropyLossConfig::new()
                .init(&logits.device())
                .forward(logits, lift_int::<Ad<B>, 1>(y.clone()))
        };
        let grad_loss = |m: &Model<Ad<B>>, (x, y): &Batch<B>| {
            let logits = m.forward(Tensor::from_inner(x.clone()));
            CrossEntropyLossConfig::new()
                .init(&logits.device())
                .forward(logits, Tensor::from_inner(y.clone()))
        };
        let hessian = Hessian::new(&model, hvp_loss, data.clone())?;
        let v = ParamVector::random(hessian.layout().clone(), Probe::Gaussian, 0, &device);
        // Rounds of one gradient and one HVP, as in `steps`; reading the
        // result's norm waits for asynchronous backends.
        let (mut grads, mut hvps) = (Vec::new(), Vec::new());
        for round in 0..o.warmup + o.steps {
            let t0 = Instant::now();
            std::hint::black_box(gradient(&model, grad_loss, &data)?.norm());
            let t1 = Instant::now();
            std::hint::black_box(hessian.hvp(&v)?.norm());
            let t2 = Instant::now();
            if round >= o.warmup {
                grads.push((t1 - t0).as_secs_f64());
                hvps.push((t2 - t1).as_secs_f64());
            }
        }
        let ratio = median(hvps.iter().zip(&grads).map(|(h, g)| h / g).collect());
        let frobenius = if probes > 0 {
            let cfg = HutchinsonConfig::new()
                .with_max_probes(probes)
                .with_min_probes(probes)
                .with_rel_tol(0.0);
            let start = Instant::now();
            let f = hessian.frobenius(&cfg)?;
            Some(FrobeniusTiming {
                probes,
                seconds: start.elapsed().as_secs_f64(),
                frobenius: f.frobenius,
            })
        } else {
            None
        };
        Ok(HvpTiming {
            params: hessian.layout().dim(),
            gradient: median(grads),
            hvp: median(hvps),
            ratio,
            frobenius,
        })
    }
}

/// Times gradients against exact Hessian-vector products (`steps` rounds
/// after `warmup`), then a Frobenius-norm estimate with `probes` probes
/// (none when 0).
pub fn hvp_timings(options: BenchOptions, probes: usize) -> Result<HvpTiming, RunError> {
    check_steps(&options)?;
    dispatch(
        options.backend,
        options.device,
        HvpTask(options.clone(), probes),
    )?
}

/// The HVP report, one line per figure.
pub fn hvp_report(t: &HvpTiming, options: &BenchOptions) -> String {
    let mut out = format!(
        "model {}, backend {}, batch {}, {} params, {} timed rounds after {} warm-up (medians)\n\
         gradient {:.2} ms   HVP {:.2} ms   HVP/gradient {:.2} (target <= 3)\n",
        options.model,
        options.backend,
        options.batch,
        t.params,
        options.steps,
        options.warmup,
        t.gradient * 1e3,
        t.hvp * 1e3,
        t.ratio
    );
    if let Some(f) = &t.frobenius {
        out.push_str(&format!(
            "Frobenius estimate, {} probes: {:.2} s ({:.1} ms/probe)   ||H||_F = {:.4} +- {:.4}\n",
            f.probes,
            f.seconds,
            f.seconds * 1e3 / f.probes as f64,
            f.frobenius.value,
            f.frobenius.std_error
        ));
    }
    out
}
