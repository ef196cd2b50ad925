//! `usam bench parallel`: step time of data-parallel training on `D`
//! devices against one device, at the same global batch (strong scaling),
//! for each method. Printed, never asserted.

use std::time::Instant;

use burn::backend::Autodiff;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::tensor::backend::Backend;
use burn::tensor::{ElementConversion, Int, Tensor};
use sam_burn::optim::MethodConfig;
use sam_burn::parallel::Replica;

use super::{BenchOptions, check_steps, median, sync_model, synthetic_batch};
use crate::backend::{DevicesTask, check_devices, dispatch_devices};
use crate::config::BaseSettings;
use crate::models::{Model, ModelConfig};
use crate::optimizer::BaseOptimizer;
use crate::train::RunError;

/// One method's data-parallel timing.
#[derive(Debug, Clone)]
pub struct ScalingTiming {
    /// Method.
    pub method: String,
    /// Median seconds per step on the first listed device alone.
    pub one: f64,
    /// Median seconds per step on all the listed devices.
    pub all: f64,
    /// Devices.
    pub devices: usize,
}

impl ScalingTiming {
    /// `one / all`.
    pub fn speedup(&self) -> f64 {
        self.one / self.all
    }

    /// Speedup over the device count (1 = perfect strong scaling).
    pub fn efficiency(&self) -> f64 {
        self.speedup() / self.devices as f64
    }
}

type Ad<B> = Autodiff<B>;

struct ScalingTask {
    options: BenchOptions,
}

impl DevicesTask for ScalingTask {
    type Output = Result<Vec<ScalingTiming>, RunError>;

    fn run<B: Backend>(self, devices: Vec<B::Device>) -> Self::Output {
        let o = &self.options;
        let mut rows = Vec::with_capacity(o.methods.len());
        for method in &o.methods {
            let config = crate::config::method::named(method)?.with_seed(7);
            let one = time_replicas::<B>(o, &config, &devices[..1])?;
            let all = time_replicas::<B>(o, &config, &devices)?;
            rows.push(ScalingTiming {
                method: method.clone(),
                one,
                all,
                devices: devices.len(),
            });
        }
        Ok(rows)
    }
}

/// Median seconds per step of `config` with one replica per device of
/// `devices` (replica 0's clock: the all-reduces keep the replicas in step).
fn time_replicas<B: Backend>(
    o: &BenchOptions,
    config: &MethodConfig,
    devices: &[B::Device],
) -> Result<f64, RunError> {
    if devices.len() == 1 {
        return time_replica::<B>(o, config, &devices[0], None);
    }
    let times = crate::train::on_replicas::<B, _>(devices, |replica, device| {
        time_replica::<B>(o, config, device, Some(replica))
    })?;
    Ok(times[0])
}

fn time_replica<B: Backend>(
    o: &BenchOptions,
    config: &MethodConfig,
    device: &B::Device,
    replica: Option<&Replica<Ad<B>>>,
) -> Result<f64, RunError> {
    let (channels, size, classes) = super::input_shape(o.model);
    let (images, targets) = crate::train::seeded(|| synthetic_batch::<B>(o, device));
    let range = replica.map_or(0..o.batch, |r| r.shard(o.batch));
    let images: Tensor<Ad<B>, 4> = Tensor::from_inner(images.narrow(0, range.start, range.len()));
    let targets: Tensor<Ad<B>, 1, Int> =
        Tensor::from_inner(targets.narrow(0, range.start, range.len()));
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let mut model: Model<Ad<B>> = crate::train::seeded(|| {
        B::seed(device, 7);
        let model = ModelConfig::new(o.model, classes, channels, size).init::<Ad<B>>(device)?;
        sam_burn::parallel::materialize(&model);
        Ok::<_, RunError>(model)
    })?;
    if let Some(r) = replica {
        model = r.broadcast_module(model)?;
    }
    let mut optim = config
        .clone()
        .init(BaseOptimizer::new(&BaseSettings::default()))
        .map_err(|e| crate::config::ConfigError::from_method(config, e))?;
    let weight = replica.map_or(1.0, |r| r.shard_weight(o.batch));
    let mut times = Vec::with_capacity(o.steps);
    for i in 0..o.warmup + o.steps {
        let t0 = Instant::now();
        let pass = |m: Model<Ad<B>>, _| {
            let loss = loss_fn.forward(m.forward(images.clone()), targets.clone());
            let v = loss.clone().into_scalar().elem::<f64>();
            (v, GradientsParams::from_grads(loss.backward(), &m))
        };
        let stepped = match replica {
            Some(r) => optim.step(0.01, model, r.closure(weight, pass)),
            None => optim.step(0.01, model, pass),
        };
        let next = stepped
            .map_err(|f| RunError::Step {
                epoch: 0,
                step: i,
                source: f.error,
            })?
            .0;
        model = match replica {
            Some(r) => r.average_buffers(next)?,
            None => next,
        };
        sync_model(&model);
        if i >= o.warmup {
            times.push(t0.elapsed().as_secs_f64());
        }
    }
    Ok(median(times))
}

/// Times every method on one device and on all of `devices`; see the
/// module docs.
pub fn scaling_timings(
    options: BenchOptions,
    devices: &[usize],
) -> Result<Vec<ScalingTiming>, RunError> {
    check_steps(&options)?;
    check_devices(options.backend, devices)?;
    if devices.len() < 2 {
        return Err(crate::config::ConfigError::invalid(
            "devices",
            format!("{devices:?}"),
            "a scaling benchmark needs at least two devices",
        )
        .into());
    }
    if !options.batch.is_multiple_of(devices.len()) {
        return Err(crate::config::ConfigError::invalid(
            "batch",
            options.batch,
            format!("must split evenly over the {} devices", devices.len()),
        )
        .into());
    }
    dispatch_devices(options.backend, devices, ScalingTask { options })?
}

/// The scaling table.
pub fn scaling_table(rows: &[ScalingTiming], options: &BenchOptions, devices: &[usize]) -> String {
    let d = devices.len();
    let mut out = format!(
        "model {}, backend {}, global batch {} ({} per device on {d} devices {devices:?}), {} timed steps after {} warm-up; strong scaling: the same global batch on 1 and on {d} devices\n\n| method | 1 device ms/step | {d} devices ms/step | speedup | efficiency |\n|---|---|---|---|---|\n",
        options.model,
        options.backend,
        options.batch,
        options.batch / d.max(1),
        options.steps,
        options.warmup,
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} |\n",
            r.method,
            1e3 * r.one,
            1e3 * r.all,
            r.speedup(),
            r.efficiency()
        ));
    }
    out
}
