//! Cost of exact Hessian-vector products.
//!
//! Prints, for the paper's MNIST MLP (784-128x5-10, ReLU, batch 128) and a
//! CIFAR ResNet18 (batch 8 by default), the time of one gradient, of one HVP
//! and their ratio (target: at most 3), and the time of a Frobenius-norm
//! estimate with 128 probes on the MLP. Data are random: only shapes matter.
//!
//! ```text
//! cargo bench -p sam-burn --bench hessian -- [flex|ndarray|wgpu|cuda] [--quick]
//! USAM_BENCH_BACKEND=wgpu cargo bench -p sam-burn --bench hessian
//! ```
//! `cuda` needs `--features cuda`. `--quick` (or `USAM_BENCH_QUICK=1`) runs
//! fewer repetitions and skips ResNet18 (a smoke test). Other settings:
//! `USAM_BENCH_RESNET_BATCH` (default 8), `USAM_BENCH_REPS` (default 5).

use std::time::{Duration, Instant};

use burn::backend::Autodiff;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Distribution, Int, Tensor, TensorData};
use sam_burn::hessian::{
    Hessian, HutchinsonConfig, HvpBackend, ParamVector, Probe, gradient, lift, lift_int,
};
use sam_burn::nn::{GlobalAvgPool2d, Linear, LinearConfig};

/// The MNIST study's network: 784-128x5-10 with ReLU.
#[derive(Module, Debug)]
struct Mlp<B: Backend> {
    layers: Vec<Linear<B>>,
}

impl<B: Backend> Mlp<B> {
    fn new(device: &B::Device) -> Self {
        let sizes = [784, 128, 128, 128, 128, 128, 10];
        let layers = sizes
            .windows(2)
            .map(|w| LinearConfig::new(w[0], w[1]).init(device))
            .collect();
        Self { layers }
    }

    fn forward(&self, mut x: Tensor<B, 2>) -> Tensor<B, 2> {
        let last = self.layers.len() - 1;
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x);
            if i < last {
                x = relu(x);
            }
        }
        x
    }
}

/// CIFAR ResNet18 basic block.
#[derive(Module, Debug)]
struct Block<B: Backend> {
    conv1: Conv2d<B>,
    bn1: BatchNorm<B>,
    conv2: Conv2d<B>,
    bn2: BatchNorm<B>,
    shortcut: Option<(Conv2d<B>, BatchNorm<B>)>,
}

fn conv<B: Backend>(
    cin: usize,
    cout: usize,
    k: usize,
    stride: usize,
    device: &B::Device,
) -> Conv2d<B> {
    let p = k / 2;
    Conv2dConfig::new([cin, cout], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
        .with_bias(false)
        .init(device)
}

impl<B: Backend> Block<B> {
    fn new(cin: usize, cout: usize, stride: usize, device: &B::Device) -> Self {
        Self {
            conv1: conv(cin, cout, 3, stride, device),
            bn1: BatchNormConfig::new(cout).init(device),
            conv2: conv(cout, cout, 3, 1, device),
            bn2: BatchNormConfig::new(cout).init(device),
            shortcut: (stride != 1 || cin != cout).then(|| {
                (
                    conv(cin, cout, 1, stride, device),
                    BatchNormConfig::new(cout).init(device),
                )
            }),
        }
    }

    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let out = relu(self.bn1.forward(self.conv1.forward(x.clone())));
        let out = self.bn2.forward(self.conv2.forward(out));
        let skip = match &self.shortcut {
            Some((c, bn)) => bn.forward(c.forward(x)),
            None => x,
        };
        relu(out + skip)
    }
}

/// ResNet18 for 32x32 images (3x3 stem, no max pool), 11.2M parameters.
#[derive(Module, Debug)]
struct ResNet18<B: Backend> {
    stem: Conv2d<B>,
    bn: BatchNorm<B>,
    blocks: Vec<Block<B>>,
    pool: GlobalAvgPool2d,
    head: Linear<B>,
}

impl<B: Backend> ResNet18<B> {
    fn new(device: &B::Device) -> Self {
        let mut blocks = Vec::new();
        let mut cin = 64;
        for (cout, stride) in [(64, 1), (128, 2), (256, 2), (512, 2)] {
            blocks.push(Block::new(cin, cout, stride, device));
            blocks.push(Block::new(cout, cout, 1, device));
            cin = cout;
        }
        Self {
            stem: conv(3, 64, 3, 1, device),
            bn: BatchNormConfig::new(64).init(device),
            blocks,
            pool: GlobalAvgPool2d::new(),
            head: LinearConfig::new(512, 10).init(device),
        }
    }

    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 2> {
        let mut x = relu(self.bn.forward(self.stem.forward(x)));
        for block in &self.blocks {
            x = block.forward(x);
        }
        self.head.forward(self.pool.forward(x))
    }
}

fn cross_entropy<B: Backend>(logits: Tensor<B, 2>, y: Tensor<B, 1, Int>) -> Tensor<B, 1> {
    CrossEntropyLossConfig::new()
        .init(&logits.device())
        .forward(logits, y)
}

struct Settings {
    reps: usize,
    quick: bool,
    resnet_batch: usize,
}

/// Median of `reps` timed runs after one warm-up run.
fn time(reps: usize, mut f: impl FnMut()) -> Duration {
    f();
    let mut times: Vec<Duration> = (0..reps)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn labels<B: Backend>(n: usize, classes: usize, device: &B::Device) -> Tensor<B, 1, Int> {
    let y: Vec<i64> = (0..n).map(|i| (i * 7 % classes) as i64).collect();
    Tensor::from_data(TensorData::new(y, [n]), device)
}

fn report(name: &str, params: usize, grad: Duration, hvp: Duration) {
    let ratio = hvp.as_secs_f64() / grad.as_secs_f64();
    println!(
        "{name:<28} {params:>10} params   gradient {:>9.2} ms   HVP {:>9.2} ms   HVP/gradient {ratio:>5.2}{}",
        grad.as_secs_f64() * 1e3,
        hvp.as_secs_f64() * 1e3,
        if ratio <= 3.0 {
            ""
        } else {
            "  (above the 3x target)"
        }
    );
}

fn mlp<AB: AutodiffBackend>(device: &AB::Device, s: &Settings) {
    let model = Mlp::<AB>::new(device);
    let batch = 128;
    let x =
        Tensor::<AB::InnerBackend, 2>::random([batch, 784], Distribution::Normal(0.0, 1.0), device);
    let data = (x, labels::<AB::InnerBackend>(batch, 10, device));
    let loss = |m: &Mlp<HvpBackend<AB>>,
                (x, y): &(
        Tensor<AB::InnerBackend, 2>,
        Tensor<AB::InnerBackend, 1, Int>,
    )| {
        cross_entropy(
            m.forward(lift::<AB, 2>(x.clone())),
            lift_int::<AB, 1>(y.clone()),
        )
    };
    let hessian = Hessian::new(&model, loss, data.clone()).expect("MLP is twice differentiable");
    let v = ParamVector::random(hessian.layout().clone(), Probe::Gaussian, 0, device);
    let grad = time(s.reps, || {
        let g = gradient(
            &model,
            |m: &Mlp<AB>,
             (x, y): &(
                Tensor<AB::InnerBackend, 2>,
                Tensor<AB::InnerBackend, 1, Int>,
            )| {
                cross_entropy(
                    m.forward(Tensor::from_inner(x.clone())),
                    Tensor::from_inner(y.clone()),
                )
            },
            &data,
        )
        .unwrap();
        // Reading a scalar waits for asynchronous backends.
        std::hint::black_box(g.norm());
    });
    let hvp = time(s.reps, || {
        std::hint::black_box(hessian.hvp(&v).unwrap().norm());
    });
    report(
        "MLP 784-128x5-10, batch 128",
        hessian.layout().dim(),
        grad,
        hvp,
    );

    let probes = if s.quick { 16 } else { 128 };
    let cfg = HutchinsonConfig::new()
        .with_max_probes(probes)
        .with_rel_tol(0.0);
    let start = Instant::now();
    let f = hessian.frobenius(&cfg).unwrap();
    let elapsed = start.elapsed();
    println!(
        "Frobenius estimate, {probes} probes: {:.2} s ({:.1} ms/probe)   ||H||_F = {:.4} +- {:.4}",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e3 / probes as f64,
        f.frobenius,
        f.frobenius_std_error
    );
}

fn resnet<AB: AutodiffBackend>(device: &AB::Device, s: &Settings) {
    let model = ResNet18::<AB>::new(device);
    let batch = s.resnet_batch;
    let x = Tensor::<AB::InnerBackend, 4>::random(
        [batch, 3, 32, 32],
        Distribution::Normal(0.0, 1.0),
        device,
    );
    type Batch<B> = (Tensor<B, 4>, Tensor<B, 1, Int>);
    let data: Batch<AB::InnerBackend> = (x, labels::<AB::InnerBackend>(batch, 10, device));
    let loss = |m: &ResNet18<HvpBackend<AB>>, (x, y): &Batch<AB::InnerBackend>| {
        cross_entropy(
            m.forward(lift::<AB, 4>(x.clone())),
            lift_int::<AB, 1>(y.clone()),
        )
    };
    let hessian =
        Hessian::new(&model, loss, data.clone()).expect("ResNet18 blocks are twice differentiable");
    let v = ParamVector::random(hessian.layout().clone(), Probe::Gaussian, 0, device);
    let reps = s.reps.clamp(1, 3);
    let grad = time(reps, || {
        let g = gradient(
            &model,
            |m: &ResNet18<AB>, (x, y): &Batch<AB::InnerBackend>| {
                cross_entropy(
                    m.forward(Tensor::from_inner(x.clone())),
                    Tensor::from_inner(y.clone()),
                )
            },
            &data,
        )
        .unwrap();
        std::hint::black_box(g.norm());
    });
    let hvp = time(reps, || {
        std::hint::black_box(hessian.hvp(&v).unwrap().norm());
    });
    report(
        &format!("ResNet18 CIFAR, batch {batch}"),
        hessian.layout().dim(),
        grad,
        hvp,
    );
}

fn run<AB: AutodiffBackend>(name: &str, device: AB::Device, s: &Settings) {
    println!("backend: {name} ({} repetitions, median)", s.reps);
    mlp::<AB>(&device, s);
    if s.quick {
        println!("ResNet18 skipped (--quick)");
    } else {
        resnet::<AB>(&device, s);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick")
        || std::env::var("USAM_BENCH_QUICK").is_ok_and(|v| v == "1");
    let backend = args
        .iter()
        .find(|a| !a.starts_with('-'))
        .cloned()
        .or_else(|| std::env::var("USAM_BENCH_BACKEND").ok())
        .unwrap_or_else(|| "flex".into());
    let env_usize = |key: &str, default: usize| {
        std::env::var(key)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let s = Settings {
        reps: if quick {
            2
        } else {
            env_usize("USAM_BENCH_REPS", 5).max(1)
        },
        quick,
        resnet_batch: env_usize("USAM_BENCH_RESNET_BATCH", 8).max(1),
    };
    match backend.as_str() {
        "flex" => run::<Autodiff<burn::backend::Flex>>("flex", Default::default(), &s),
        "ndarray" => run::<Autodiff<burn::backend::NdArray>>("ndarray", Default::default(), &s),
        "wgpu" => run::<Autodiff<burn::backend::Wgpu>>("wgpu", Default::default(), &s),
        #[cfg(feature = "cuda")]
        "cuda" => run::<Autodiff<burn::backend::Cuda>>("cuda", Default::default(), &s),
        other => {
            eprintln!(
                "unknown backend `{other}`: use flex, ndarray, wgpu or cuda (with --features cuda)"
            );
            std::process::exit(2);
        }
    }
}
