//! The image classifiers: shapes, parameter counts, configuration errors,
//! the MLP's reuse quirk, and exact Hessian-vector products through
//! `sam_burn::hessian` for every kind (checked against central differences
//! of gradients in f64).

use std::sync::Arc;

use burn::backend::{Autodiff, Flex, NdArray};
use burn::module::{AutodiffModule, Module, Param};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::activation::relu;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData};
use experiments::models::*;
use sam_burn::hessian::{
    FiniteDifferenceConfig, FiniteDifferenceHessian, Hessian, HessianOperator, HvpModule,
    ParamLayout, ParamVector, Probe, lift, lift_int,
};
use sam_core::rng::SplitMix64;

type Cpu = Flex;
type CpuAd = Autodiff<Flex>;
type F64 = NdArray<f64>;
type F64Ad = Autodiff<F64>;
type Inner<AB> = <AB as AutodiffBackend>::InnerBackend;
type Batch<B> = (Tensor<B, 4>, Tensor<B, 1, Int>);

/// SplitMix64 + Box-Muller: deterministic data and parameters on every backend.
struct HostRng(SplitMix64);

impl HostRng {
    fn new(seed: u64) -> Self {
        Self(SplitMix64::new(seed))
    }
    fn normals(&mut self, n: usize) -> Vec<f64> {
        (0..n).map(|_| self.0.normal()).collect()
    }
}

fn tensor<B: Backend, const D: usize>(
    values: Vec<f64>,
    dims: [usize; D],
    d: &B::Device,
) -> Tensor<B, D> {
    Tensor::from_data(TensorData::new(values, dims), d)
}

fn to_vec<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f64> {
    t.into_data().convert::<f64>().into_vec::<f64>().unwrap()
}

fn norm(x: &[f64]) -> f64 {
    x.iter().map(|v| v * v).sum::<f64>().sqrt()
}

/// `n` normal images and targets `i mod classes`.
fn batch<B: Backend>(
    n: usize,
    c: usize,
    size: usize,
    classes: usize,
    seed: u64,
    d: &B::Device,
) -> Batch<B> {
    let x = tensor(
        HostRng::new(seed).normals(n * c * size * size),
        [n, c, size, size],
        d,
    );
    let y = (0..n).map(|i| (i % classes) as i64).collect::<Vec<_>>();
    (x, Tensor::from_data(TensorData::new(y, [n]), d))
}

/// Replaces every trainable parameter by deterministic draws: weights
/// `N(0, 2 / fan_in)` (He), vectors (biases, batch-norm gamma and beta)
/// `1 + 0.2 N(0, 1)`.
fn reinit<B: Backend, M: Module<B>>(module: M, seed: u64) -> M {
    struct Mapper(HostRng);
    impl<B: Backend> burn::module::ModuleMapper<B> for Mapper {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
            let (id, value, mapper) = param.consume();
            let dims = value.dims();
            let n: usize = dims.iter().product();
            let fan_in = match D {
                2 => dims[0],     // sam_burn Linear: [d_input, d_output]
                4 => n / dims[0], // Conv2d: [out, in, k, k]
                _ => 0,
            };
            let values: Vec<f64> = self
                .0
                .normals(n)
                .into_iter()
                .map(|z| {
                    if fan_in > 0 {
                        z * (2.0 / fan_in as f64).sqrt()
                    } else {
                        1.0 + 0.2 * z
                    }
                })
                .collect();
            let fresh = tensor::<B, D>(values, dims, &value.device());
            let fresh = if value.is_require_grad() {
                fresh.require_grad()
            } else {
                fresh
            };
            Param::from_mapped_value(id, fresh, mapper)
        }
    }
    module.map(&mut Mapper(HostRng::new(seed)))
}

fn cross_entropy<B: Backend>(logits: Tensor<B, 2>, y: Tensor<B, 1, Int>) -> Tensor<B, 1> {
    CrossEntropyLossConfig::new()
        .init(&logits.device())
        .forward(logits, y)
}

/// Cross-entropy of the model lifted to the Hessian's nested backend.
fn hvp_loss<AB: AutodiffBackend>(
    m: &HvpModule<Model<AB>, AB>,
    (x, y): &Batch<Inner<AB>>,
) -> Tensor<Autodiff<AB>, 1> {
    cross_entropy(
        m.forward(lift::<AB, 4>(x.clone())),
        lift_int::<AB, 1>(y.clone()),
    )
}

/// Cross-entropy on the training backend (the finite-difference side).
fn train_loss<AB: AutodiffBackend>(m: &Model<AB>, (x, y): &Batch<Inner<AB>>) -> Tensor<AB, 1> {
    cross_entropy(
        m.forward(Tensor::from_inner(x.clone())),
        Tensor::from_inner(y.clone()),
    )
}

fn config(kind: ModelKind, classes: usize, channels: usize, size: usize) -> ModelConfig {
    ModelConfig::new(kind, classes, channels, size)
}

/// A convolutional kind at `width` channels instead of its default.
fn narrow(
    kind: ModelKind,
    classes: usize,
    channels: usize,
    size: usize,
    width: usize,
) -> ModelConfig {
    config(kind, classes, channels, size).with_base_width(Some(width))
}

/// A 3-class MLP on 1x4x4 images with three hidden layers of 6.
fn tiny_mlp() -> ModelConfig {
    config(ModelKind::Mlp, 3, 1, 4)
        .with_mlp_hidden(6)
        .with_mlp_depth(3)
}

/// A WRN-10-1 on 3x8x8 images, 3 classes, at `width` channels.
fn tiny_wrn(width: usize) -> ModelConfig {
    narrow(ModelKind::Wrn28x10, 3, 3, 8, width)
        .with_wrn_depth(10)
        .with_wrn_widen(1)
}

/// Tiny versions of every kind: `(config, batch size)`, cheap enough for
/// nested autodiff on the CPU.
fn tiny_configs() -> Vec<(ModelConfig, usize)> {
    vec![
        (tiny_mlp(), 4),
        (tiny_mlp().with_mlp_reuse_layer(true), 4),
        (narrow(ModelKind::Cnn, 3, 2, 8, 2), 4),
        (narrow(ModelKind::ResNet18, 3, 3, 8, 2), 4),
        (tiny_wrn(2), 4),
        (narrow(ModelKind::Vgg16Bn, 3, 3, 32, 1), 2),
    ]
}

#[test]
fn kinds_parse_print_and_serialise() {
    let names = ["mlp", "cnn", "resnet18", "wrn28-10", "vgg16-bn"];
    for (kind, name) in ModelKind::ALL.into_iter().zip(names) {
        assert_eq!(kind.to_string(), name);
        assert_eq!(name.parse::<ModelKind>().unwrap(), kind);
        assert_eq!(
            name.to_uppercase()
                .replace('-', "_")
                .parse::<ModelKind>()
                .unwrap(),
            kind
        );
        assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{name}\""));
        assert_eq!(
            serde_json::from_str::<ModelKind>(&format!("\"{name}\"")).unwrap(),
            kind
        );
    }
    assert_eq!(
        "resnet50".parse::<ModelKind>(),
        Err(ModelError::UnknownKind("resnet50".into()))
    );
    assert!(serde_json::from_str::<ModelKind>("\"resnet50\"").is_err());

    // The whole config round-trips, defaults included.
    let c = config(ModelKind::Wrn28x10, 100, 3, 32).with_wrn_dropout(0.3);
    let json = serde_json::to_string(&c).unwrap();
    assert!(json.contains("\"wrn28-10\""), "{json}");
    let back: ModelConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(
        (back.kind, back.num_classes, back.wrn_depth, back.wrn_widen),
        (ModelKind::Wrn28x10, 100, 28, 10)
    );
    assert_eq!(
        (
            back.wrn_dropout,
            back.mlp_hidden,
            back.mlp_depth,
            back.mlp_reuse_layer
        ),
        (0.3, 128, 5, false)
    );
    assert_eq!(back.base_width, None);
}

#[test]
fn parameter_counts() {
    let d = Default::default();
    let count = |c: ModelConfig| c.init::<Cpu>(&d).unwrap().num_trainable_params();
    // 784*128+128 + 4*(128*128+128) + 128*10+10.
    assert_eq!(count(config(ModelKind::Mlp, 10, 1, 28)), 167_818);
    // One 128-128 layer fewer.
    assert_eq!(
        count(config(ModelKind::Mlp, 10, 1, 28).with_mlp_reuse_layer(true)),
        151_306
    );
    assert_eq!(count(config(ModelKind::Cnn, 10, 1, 28)), 421_642);
    assert_eq!(count(config(ModelKind::Cnn, 10, 3, 32)), 545_098);
    assert_eq!(count(config(ModelKind::ResNet18, 10, 3, 32)), 11_173_962);
    // The head grows by 512*90 + 90.
    assert_eq!(count(config(ModelKind::ResNet18, 100, 3, 32)), 11_220_132);
    assert_eq!(count(config(ModelKind::Wrn28x10, 10, 3, 32)), 36_479_194);
    assert_eq!(count(config(ModelKind::Vgg16Bn, 10, 3, 32)), 14_724_042);
    // Burn's num_params adds batch norm's running mean and variance: 2 x
    // 4,800 channels for ResNet18.
    let resnet = config(ModelKind::ResNet18, 10, 3, 32)
        .init::<Cpu>(&d)
        .unwrap();
    assert_eq!(Module::<Cpu>::num_params(&resnet), 11_173_962 + 9_600);
}

#[test]
fn full_size_outputs_have_one_row_of_logits_per_image() {
    let d = Default::default();
    let cases = [
        (config(ModelKind::Mlp, 10, 1, 28), 3),
        (config(ModelKind::Cnn, 10, 1, 28), 3),
        (config(ModelKind::Cnn, 100, 3, 32), 2),
        (config(ModelKind::ResNet18, 10, 3, 32), 2),
        (config(ModelKind::Wrn28x10, 10, 3, 32), 1),
        (config(ModelKind::Vgg16Bn, 100, 3, 32), 2),
    ];
    for (c, n) in cases {
        let model = c.init::<Cpu>(&d).unwrap();
        let (x, _) = batch::<Cpu>(n, c.in_channels, c.image_size, c.num_classes, 1, &d);
        model.check_input(x.dims()).unwrap();
        let logits = model.forward(x);
        assert_eq!(logits.dims(), [n, c.num_classes], "{}", c.kind);
        let logits = to_vec(logits);
        assert!(logits.iter().all(|v| v.is_finite()), "{}", c.kind);
        assert_eq!(model.num_classes(), c.num_classes);
    }
}

#[test]
fn other_sizes_and_tiny_widths_have_the_right_shapes() {
    let d = Default::default();
    let cases = [
        (config(ModelKind::Mlp, 2, 3, 5), 2),
        (narrow(ModelKind::Cnn, 7, 3, 12, 3), 2),
        (narrow(ModelKind::ResNet18, 5, 1, 16, 4), 3),
        (
            narrow(ModelKind::Wrn28x10, 4, 1, 12, 2)
                .with_wrn_depth(16)
                .with_wrn_widen(2),
            2,
        ),
        (narrow(ModelKind::Vgg16Bn, 6, 1, 64, 2), 2),
    ];
    for (c, n) in cases {
        let model = c.init::<Cpu>(&d).unwrap();
        let (x, _) = batch::<Cpu>(n, c.in_channels, c.image_size, c.num_classes, 2, &d);
        assert_eq!(model.forward(x).dims(), [n, c.num_classes], "{}", c.kind);
        // Also in training mode (batch statistics).
        let model = c.init::<CpuAd>(&d).unwrap();
        let (x, _) = batch::<CpuAd>(n, c.in_channels, c.image_size, c.num_classes, 2, &d);
        assert_eq!(model.forward(x).dims(), [n, c.num_classes], "{}", c.kind);
    }
}

#[test]
fn descriptions_name_the_architecture_and_its_size() {
    let d = Default::default();
    let describe = |c: ModelConfig| c.init::<Cpu>(&d).unwrap().describe();
    assert_eq!(
        describe(config(ModelKind::Mlp, 10, 1, 28)),
        "mlp 784-128x5-10, ReLU; 167,818 parameters"
    );
    assert_eq!(
        describe(config(ModelKind::Mlp, 10, 1, 28).with_mlp_reuse_layer(true)),
        "mlp 784-128x5-10, ReLU, last hidden layer applied twice; 151,306 parameters"
    );
    let resnet = describe(config(ModelKind::ResNet18, 10, 3, 32));
    assert!(
        resnet.starts_with("resnet18 (CIFAR variant) widths 64-128-256-512 blocks [2, 2, 2, 2]"),
        "{resnet}"
    );
    assert!(resnet.ends_with("11,173,962 parameters"), "{resnet}");
    let wrn = describe(config(ModelKind::Wrn28x10, 10, 3, 32));
    assert!(
        wrn.starts_with("wrn-28-10 (stem 16, groups 160-320-640"),
        "{wrn}"
    );
    let vgg = describe(config(ModelKind::Vgg16Bn, 10, 3, 32));
    assert!(
        vgg.starts_with("vgg16-bn (CIFAR variant) [64, 64, M, 128, 128, M, 256, 256, 256, M, 512"),
        "{vgg}"
    );
    assert!(vgg.ends_with("14,724,042 parameters"), "{vgg}");
}

#[test]
fn mlp_reuse_applies_the_last_hidden_layer_twice() {
    let d = Default::default();
    let c = config(ModelKind::Mlp, 10, 1, 28).with_mlp_reuse_layer(true);
    let Model::Mlp(mlp) = c.init::<Cpu>(&d).unwrap() else {
        panic!("not an MLP")
    };
    assert_eq!(mlp.hidden.len(), 3);
    assert_eq!(mlp.depth(), 5);
    let (x, _) = batch::<Cpu>(3, 1, 28, 10, 3, &d);
    // Manual composition: input, hidden 0, 1, 2, 2 again, output.
    let layer = |l: &sam_burn::nn::Linear<Cpu>, h: Tensor<Cpu, 2>| {
        h.matmul(l.weight.val()) + l.bias.as_ref().unwrap().val().unsqueeze_dim(0)
    };
    let mut h = relu(layer(&mlp.input, x.clone().reshape([3, 784])));
    for i in [0, 1, 2, 2] {
        h = relu(layer(&mlp.hidden[i], h));
    }
    let manual = to_vec(layer(&mlp.output, h));
    let got = to_vec(mlp.forward(x.clone()));
    let err = manual
        .iter()
        .zip(&got)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    // Same f32 operations in the same order.
    assert!(err <= 1e-6 * norm(&manual), "error {err:e}");
    // Without the second application the logits differ.
    let mut h = relu(layer(&mlp.input, x.reshape([3, 784])));
    for i in [0, 1, 2] {
        h = relu(layer(&mlp.hidden[i], h));
    }
    let once = to_vec(layer(&mlp.output, h));
    assert!(
        norm(
            &once
                .iter()
                .zip(&got)
                .map(|(a, b)| a - b)
                .collect::<Vec<_>>()
        ) > 1e-3 * norm(&got)
    );

    // The default network has four distinct 128-128 layers, each applied once.
    let Model::Mlp(plain) = config(ModelKind::Mlp, 10, 1, 28).init::<Cpu>(&d).unwrap() else {
        panic!()
    };
    assert_eq!(
        (plain.hidden.len(), plain.depth(), plain.reuse_last),
        (4, 5, false)
    );
}

#[test]
fn invalid_configurations_are_typed_errors() {
    let d = Default::default();
    let err = |c: ModelConfig| {
        let e = c.validate().unwrap_err();
        assert_eq!(c.init::<Cpu>(&d).unwrap_err(), e);
        e
    };
    for kind in ModelKind::ALL {
        let size = if kind == ModelKind::Vgg16Bn { 32 } else { 8 };
        assert_eq!(err(config(kind, 1, 3, size)), ModelError::TooFewClasses(1));
        assert_eq!(err(config(kind, 0, 3, size)), ModelError::TooFewClasses(0));
        assert_eq!(err(config(kind, 10, 0, size)), ModelError::NoInputChannels);
        assert!(
            matches!(
                err(config(kind, 10, 3, 0)),
                ModelError::ImageSize { height: 0, .. }
            ),
            "{kind}"
        );
    }
    let size_err = |c: ModelConfig, model: &str| match err(c) {
        ModelError::ImageSize { model: m, .. } => assert_eq!(m, model),
        e => panic!("{e}"),
    };
    size_err(config(ModelKind::Cnn, 10, 1, 30), "cnn");
    size_err(config(ModelKind::ResNet18, 10, 3, 28), "resnet");
    size_err(config(ModelKind::Wrn28x10, 10, 3, 30), "wide-resnet");
    size_err(config(ModelKind::Vgg16Bn, 10, 3, 28), "vgg");
    size_err(config(ModelKind::Vgg16Bn, 10, 3, 48), "vgg");
    size_err(config(ModelKind::Mlp, 10, usize::MAX, 2), "mlp");

    let invalid = |c: ModelConfig, model: &str, needle: &str| match err(c) {
        ModelError::InvalidConfig { model: m, reason } => {
            assert_eq!(m, model);
            assert!(reason.contains(needle), "{reason}");
        }
        e => panic!("{e}"),
    };
    let mlp = || config(ModelKind::Mlp, 10, 1, 28);
    invalid(mlp().with_mlp_depth(0), "mlp", "depth");
    invalid(mlp().with_mlp_hidden(0), "mlp", "hidden");
    let reused_once = mlp().with_mlp_depth(1).with_mlp_reuse_layer(true);
    invalid(reused_once, "mlp", "reuse_layer");
    let wrn = |c: fn(ModelConfig) -> ModelConfig, needle| {
        invalid(
            c(config(ModelKind::Wrn28x10, 10, 3, 32)),
            "wide-resnet",
            needle,
        )
    };
    wrn(|c| c.with_wrn_depth(27), "6n + 4");
    wrn(|c| c.with_wrn_depth(4), "6n + 4");
    wrn(|c| c.with_wrn_widen(0), "widen_factor");
    wrn(|c| c.with_wrn_dropout(1.0), "dropout");
    wrn(|c| c.with_wrn_dropout(f64::NAN), "dropout");
    wrn(|c| c.with_wrn_dropout(-0.1), "dropout");
    for kind in [
        ModelKind::Cnn,
        ModelKind::ResNet18,
        ModelKind::Wrn28x10,
        ModelKind::Vgg16Bn,
    ] {
        for width in [0, usize::MAX / 2] {
            assert!(
                matches!(
                    err(narrow(kind, 10, 3, 32, width)),
                    ModelError::InvalidConfig { .. }
                ),
                "{kind} at width {width}"
            );
        }
    }
    // The architectures' own configs check too.
    for (size, blocks) in [(32, vec![]), (32, vec![2, 0]), (64, vec![1; 70])] {
        let c = ResNetConfig::new(3, size, 10).with_blocks(blocks);
        assert!(c.validate().is_err(), "{c:?}");
    }
    assert!(VggConfig::new(3, 32, 10).with_depth(15).validate().is_err());
    assert!(MlpConfig::new(0, 10).validate().is_err());
    // Messages say what is wrong.
    assert_eq!(
        err(config(ModelKind::Vgg16Bn, 10, 3, 28)).to_string(),
        "vgg cannot take 28x28 images: height and width must be positive multiples of 32 (five 2x2 max-poolings)"
    );
}

/// Rectangular images (a 14x56 folder dataset, say): every kind takes a
/// height and a separate width, and rejects the transposed shape.
#[test]
fn non_square_images_have_the_right_shapes() {
    let d = Default::default();
    // (config, image width)
    let cases = [
        (config(ModelKind::Mlp, 3, 1, 14), 56),
        (narrow(ModelKind::Cnn, 3, 1, 12, 2), 56),
        (narrow(ModelKind::ResNet18, 3, 3, 8, 2), 16),
        (tiny_wrn(2), 12),
        (narrow(ModelKind::Vgg16Bn, 3, 1, 32, 1), 64),
    ];
    for (c, w) in cases {
        let c = c.with_image_width(Some(w));
        assert_eq!(c.width(), w);
        let h = c.image_size;
        let n = 2;
        let model = c.init::<CpuAd>(&d).unwrap();
        model.check_input([n, c.in_channels, h, w]).unwrap();
        // The MLP flattens, so only convolutional kinds see the transpose.
        if c.kind != ModelKind::Mlp {
            assert!(
                model.check_input([n, c.in_channels, w, h]).is_err(),
                "{}: the transposed shape must be refused",
                c.kind
            );
        }
        let x = tensor::<CpuAd, 4>(
            HostRng::new(5).normals(n * c.in_channels * h * w),
            [n, c.in_channels, h, w],
            &d,
        );
        assert_eq!(model.forward(x).dims(), [n, c.num_classes], "{}", c.kind);
    }
    // The width is checked like the height, and messages name both sides.
    assert_eq!(
        config(ModelKind::Cnn, 3, 1, 14)
            .with_image_width(Some(56))
            .validate()
            .unwrap_err()
            .to_string(),
        "cnn cannot take 14x56 images: height and width must be positive multiples of 4 (two 2x2 max-poolings)"
    );
    assert!(matches!(
        config(ModelKind::Cnn, 3, 1, 16)
            .with_image_width(Some(30))
            .validate(),
        Err(ModelError::ImageSize { width: 30, .. })
    ));
}

#[test]
fn inputs_of_the_wrong_shape_are_typed_errors() {
    let d = Default::default();
    let mlp = config(ModelKind::Mlp, 10, 1, 28).init::<Cpu>(&d).unwrap();
    mlp.check_input([5, 1, 28, 28]).unwrap();
    mlp.check_input([5, 4, 14, 14]).unwrap(); // any C*H*W = 784
    assert!(matches!(
        mlp.check_input([5, 1, 28, 27]),
        Err(ModelError::InputShape { .. })
    ));
    assert!(matches!(
        mlp.check_input([0, 1, 28, 28]),
        Err(ModelError::InputShape { .. })
    ));
    assert!(mlp.check_input([1, usize::MAX, 2, 2]).is_err());
    let cnn = config(ModelKind::Cnn, 10, 3, 32)
        .with_base_width(Some(2))
        .init::<Cpu>(&d)
        .unwrap();
    cnn.check_input([2, 3, 32, 32]).unwrap();
    let e = cnn.check_input([2, 1, 32, 32]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "cnn cannot take an input of shape [2, 1, 32, 32]: expected [batch >= 1, 3, 32, 32]"
    );
    for (c, _) in tiny_configs().into_iter().skip(3) {
        let m = c.init::<Cpu>(&d).unwrap();
        m.check_input([1, c.in_channels, c.image_size, c.image_size])
            .unwrap();
        assert!(
            m.check_input([1, c.in_channels, c.image_size * 2, c.image_size * 2])
                .is_err()
        );
    }
}

#[test]
fn wrn_dropout_is_active_only_in_training() {
    let d = Default::default();
    let c = tiny_wrn(4).with_wrn_dropout(0.5);
    let model = c.init::<CpuAd>(&d).unwrap();
    let (x, _) = batch::<CpuAd>(4, 3, 8, 3, 4, &d);
    let a = to_vec(model.forward(x.clone()));
    let b = to_vec(model.forward(x.clone()));
    assert_ne!(a, b, "training mode: fresh dropout masks");
    let eval = model.valid();
    let x = x.inner();
    assert_eq!(to_vec(eval.forward(x.clone())), to_vec(eval.forward(x)));
}

#[test]
fn records_round_trip() {
    let d = Default::default();
    for (c, n) in tiny_configs() {
        let a = reinit(c.init::<Cpu>(&d).unwrap(), 5);
        let b = c
            .init::<Cpu>(&d)
            .unwrap()
            .load_record(a.clone().into_record());
        let (x, _) = batch::<Cpu>(n, c.in_channels, c.image_size, c.num_classes, 6, &d);
        assert_eq!(
            to_vec(a.forward(x.clone())),
            to_vec(b.forward(x)),
            "{}",
            c.kind
        );
    }
}

/// Exact HVPs run for every kind at tiny sizes (f32, nested autodiff on
/// Flex, batch norm in training mode), and also for the full MNIST MLP.
#[test]
fn exact_hvp_works_for_every_kind() {
    let d = Default::default();
    let mut cases = tiny_configs();
    cases.push((config(ModelKind::Mlp, 10, 1, 28), 8));
    cases.push((tiny_wrn(2).with_wrn_dropout(0.3), 4));
    for (c, n) in cases {
        let model = c.init::<CpuAd>(&d).unwrap();
        let data = batch::<Cpu>(n, c.in_channels, c.image_size, c.num_classes, 7, &d);
        let hessian = Hessian::new(&model, hvp_loss::<CpuAd>, data).unwrap();
        assert_eq!(
            hessian.layout().dim(),
            model.num_trainable_params(),
            "{}",
            c.kind
        );
        let v = ParamVector::random(hessian.layout().clone(), Probe::Rademacher, 1, &d);
        let hv = hessian.hvp(&v).unwrap().to_vec();
        assert!(hv.iter().all(|x| x.is_finite()), "{}", c.kind);
        assert!(norm(&hv) > 0.0, "{}", c.kind);
    }
}

/// Exact `Hv` against central differences of exact gradients, in f64:
/// ReLU and max-pooling make the loss piecewise smooth, and a step of
/// length 1e-6 along `v / |v|` crosses no kink for these data (deterministic
/// parameters and inputs), so the difference is `O(eps^2)` truncation plus
/// `1e-16 / eps` rounding, seen at 4e-10 to 4e-9 relative: the bound is
/// 1e-7. Batch norm runs in
/// training mode on both sides. Also checks `u'Hv = v'Hu`.
#[test]
fn exact_hvp_matches_finite_differences_in_f64() {
    let d = Default::default();
    for (c, n) in tiny_configs() {
        let model = reinit(c.init::<F64Ad>(&d).unwrap(), 11);
        let data = batch::<F64>(n, c.in_channels, c.image_size, c.num_classes, 12, &d);
        let exact = Hessian::new(&model, hvp_loss::<F64Ad>, data.clone()).unwrap();
        let fd = FiniteDifferenceHessian::new(
            &model,
            train_loss::<F64Ad>,
            data,
            &FiniteDifferenceConfig::new().with_eps(1e-6),
        )
        .unwrap();
        let layout: Arc<ParamLayout> = exact.layout().clone();
        let u = ParamVector::random(layout.clone(), Probe::Gaussian, 21, &d);
        let v = ParamVector::random(layout, Probe::Gaussian, 22, &d);
        let hu = exact.hvp(&u).unwrap();
        let hv = exact.hvp(&v).unwrap();
        let fd_v = fd.apply(&v).unwrap();
        let diff = hv.sub(&fd_v).norm();
        assert!(hv.norm() > 0.0, "{}", label(&c));
        assert!(
            diff <= 1e-7 * hv.norm(),
            "{}: |exact - fd| = {diff:e}, |Hv| = {:e}",
            label(&c),
            hv.norm()
        );
        let (uhv, vhu) = (u.dot(&hv), v.dot(&hu));
        assert!(
            (uhv - vhu).abs() <= 1e-9 * (hu.norm() * hv.norm()).sqrt() * u.norm(),
            "{}: {uhv} vs {vhu}",
            label(&c)
        );
    }
}

/// The kind, and whether the MLP reuses a layer.
fn label(c: &ModelConfig) -> String {
    format!("{} (reuse {})", c.kind, c.mlp_reuse_layer)
}

/// Measuring the Hessian mid-training must not move the model's batch-norm
/// running statistics (the products run on a fork), while a training
/// forward pass does.
#[test]
fn hessian_products_leave_running_statistics_alone() {
    let d = Default::default();
    let c = config(ModelKind::ResNet18, 3, 3, 8).with_base_width(Some(2));
    let model = c.init::<CpuAd>(&d).unwrap();
    let running = |m: &Model<CpuAd>| match m {
        Model::ResNet(r) => to_vec(r.stem_bn.running_mean.value_sync()),
        _ => unreachable!(),
    };
    let before = running(&model);
    let data = batch::<Cpu>(4, 3, 8, 3, 7, &d);
    let hessian = Hessian::new(&model, hvp_loss::<CpuAd>, data.clone()).unwrap();
    let v = ParamVector::random(hessian.layout().clone(), Probe::Rademacher, 1, &d);
    hessian.hvp(&v).unwrap();
    assert_eq!(running(&model), before);
    let _ = model.forward(Tensor::from_inner(data.0));
    assert_ne!(running(&model), before);
}
