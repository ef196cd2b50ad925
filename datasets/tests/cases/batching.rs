//! The batcher and the Burn data loader on the NdArray backend.

use std::collections::BTreeSet;

use burn::backend::NdArray;
use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::tensor::DType;
use datasets::{
    AugmentChoice, Augmentation, ImageBatch, ImageBatcher, ImageDataset, ImageShape, Normalization,
    bundled,
};

type B = NdArray;

fn device() -> burn::tensor::Device<B> {
    Default::default()
}

/// A batch's targets, read back as integers.
fn targets_of(batch: &ImageBatch<B>) -> Vec<i64> {
    batch
        .targets
        .to_data()
        .convert::<i64>()
        .to_vec::<i64>()
        .unwrap()
}

fn rgb_dataset(n: usize) -> ImageDataset {
    let shape = ImageShape::new(3, 8, 6);
    let pixels: Vec<u8> = (0..n * shape.numel())
        .map(|i| (i * 31 % 256) as u8)
        .collect();
    let labels = (0..n).map(|i| (i % 5) as u16).collect();
    ImageDataset::new("rgb", shape, 5, pixels, labels).unwrap()
}

#[test]
fn shapes_dtypes_and_normalisation() {
    let split = bundled::mnist_10k().unwrap();
    let items: Vec<_> = (0..7).map(|i| split.test.get(i).unwrap()).collect();
    let batcher = ImageBatcher::new(Normalization::mnist());
    let batch: ImageBatch<B> = batcher.batch(items.clone(), &device());
    assert_eq!(batch.images.dims(), [7, 1, 28, 28]);
    assert_eq!(batch.images.dtype(), DType::F32);
    assert_eq!(batch.targets.dims(), [7]);
    assert!(matches!(batch.targets.dtype(), DType::I64 | DType::I32));
    assert_eq!(batch.indices, (0..7).collect::<Vec<_>>());
    assert_eq!(batch.flattened().dims(), [7, 784]);

    let values = batch.images.to_data().to_vec::<f32>().unwrap();
    for (k, item) in items.iter().enumerate() {
        for (p, &v) in item.pixels.iter().enumerate() {
            let expected = (f32::from(v) / 255.0 - 0.1307) / 0.3081;
            // f32 values up to 2.8 through a lookup table built in another
            // order of the same three roundings: a few ulps (2.4e-7 each);
            // a wrong constant moves them by 1e-3 or more.
            assert!((values[k * 784 + p] - expected).abs() < 1e-6);
        }
    }
    let targets = targets_of(&batch);
    let expected: Vec<i64> = items.iter().map(|i| i.label as i64).collect();
    assert_eq!(targets, expected);
}

#[test]
fn per_channel_normalisation() {
    let d = rgb_dataset(3);
    let norm = Normalization::new(vec![0.1, 0.5, 0.9], vec![0.2, 0.25, 0.5]).unwrap();
    let batcher = ImageBatcher::new(norm.clone());
    let items: Vec<_> = (0..3).map(|i| d.get(i).unwrap()).collect();
    let (values, shape) = batcher.batch_values(&items);
    assert_eq!(shape, d.shape());
    let plane = shape.plane();
    for (k, item) in items.iter().enumerate() {
        for (p, &v) in item.pixels.iter().enumerate() {
            let c = p / plane;
            let expected = (f32::from(v) / 255.0 - norm.mean[c]) / norm.std[c];
            assert!((values[k * shape.numel() + p] - expected).abs() < 1e-6);
        }
    }
    assert!(Normalization::new(vec![0.0], vec![0.0]).is_err());
    assert!(Normalization::new(vec![0.0, 1.0], vec![1.0]).is_err());
}

#[test]
fn dataset_statistics_match_constants() {
    // MNIST-10k is a sample of MNIST: its statistics are close to the
    // published 60k constants.
    let split = bundled::mnist_10k().unwrap();
    let n = Normalization::from_dataset(&split.train);
    assert!((n.mean[0] - 0.1307).abs() < 0.005, "{n:?}");
    assert!((n.std[0] - 0.3081).abs() < 0.005, "{n:?}");
    // Normalised training pixels then have mean ~0 and std ~1.
    let batcher = ImageBatcher::new(n);
    let items: Vec<_> = (0..split.train.len())
        .map(|i| split.train.get(i).unwrap())
        .collect();
    let (values, _) = batcher.batch_values(&items);
    let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / values.len() as f64;
    let var = values
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / values.len() as f64;
    assert!(
        mean.abs() < 1e-4 && (var.sqrt() - 1.0).abs() < 1e-3,
        "{mean} {var}"
    );
}

#[test]
fn augmentation_keeps_shapes_and_label_alignment() {
    let d = rgb_dataset(20);
    let aug = Augmentation {
        crop_padding: Some(2),
        horizontal_flip: true,
        seed: 11,
    };
    let norm = Normalization::unit(3);
    let batcher = ImageBatcher::new(norm.clone()).with_augmentation(aug);
    batcher.set_epoch(4);
    let items: Vec<_> = (0..20).rev().map(|i| d.get(i).unwrap()).collect();
    let batch: ImageBatch<B> = batcher.batch(items.clone(), &device());
    assert_eq!(batch.images.dims(), [20, 3, 8, 6]);
    assert_eq!(batch.indices, (0..20).rev().collect::<Vec<_>>());
    let targets = targets_of(&batch);
    for (k, &i) in batch.indices.iter().enumerate() {
        assert_eq!(targets[k], i64::from(d.labels()[i]));
    }
    // Each batched image equals the reference augmentation of its own
    // example (seed, epoch 4, index), whatever its position in the batch.
    let values = batch.images.to_data().to_vec::<f32>().unwrap();
    let numel = d.shape().numel();
    let mut changed = 0;
    for (k, item) in items.iter().enumerate() {
        let expected = aug.apply(&item.pixels, d.shape(), 4, item.index);
        changed += usize::from(expected != item.pixels);
        for (p, &v) in expected.iter().enumerate() {
            assert!((values[k * numel + p] - f32::from(v) / 255.0).abs() < 1e-6);
        }
    }
    assert!(changed > 10, "{changed}");
    // Another epoch gives other choices.
    batcher.set_epoch(5);
    let (other, _) = batcher.batch_values(&items);
    assert_ne!(other, values);
}

#[test]
fn padding_is_zero_before_normalisation() {
    let d = rgb_dataset(1);
    let norm = Normalization::cifar10();
    let item = d.get(0).unwrap();
    // Find an example index whose crop moves the window down by >= 1 row.
    let aug = Augmentation {
        crop_padding: Some(3),
        horizontal_flip: false,
        seed: 1,
    };
    let (index, choice) = (0..1000)
        .map(|i| (i, aug.choice(0, i)))
        .find(|(_, c)| c.dy > 0)
        .unwrap();
    let mut item = item;
    item.index = index;
    let batcher = ImageBatcher::new(norm.clone()).with_augmentation(aug);
    let (values, shape) = batcher.batch_values(&[item]);
    // The last row of each channel lies in the padding.
    for c in 0..3 {
        let last_row = (c * shape.height + shape.height - 1) * shape.width;
        for v in &values[last_row..last_row + shape.width] {
            assert!((v - norm.apply(c, 0)).abs() < 1e-6);
        }
    }
    assert!(choice.dy > 0);
}

#[test]
fn flip_is_an_involution_and_zero_padding_crop_is_identity() {
    let d = rgb_dataset(4);
    let flip = AugmentChoice {
        flip: true,
        ..AugmentChoice::IDENTITY
    };
    for i in 0..4 {
        let img = d.image(i).unwrap();
        let once = flip.apply(img, d.shape());
        assert_ne!(once, img);
        assert_eq!(flip.apply(&once, d.shape()), img);
    }
    let crop0 = Augmentation {
        crop_padding: Some(0),
        horizontal_flip: false,
        seed: 3,
    };
    let batcher = ImageBatcher::new(Normalization::unit(3)).with_augmentation(crop0);
    assert!(batcher.augmentation().is_none());
    let items: Vec<_> = (0..4).map(|i| d.get(i).unwrap()).collect();
    let plain = ImageBatcher::new(Normalization::unit(3));
    assert_eq!(batcher.batch_values(&items), plain.batch_values(&items));
}

fn epoch_images(
    workers: usize,
    batcher: &ImageBatcher,
    d: &ImageDataset,
) -> Vec<(usize, Vec<f32>)> {
    let loader = DataLoaderBuilder::<B, _, ImageBatch<B>>::new(batcher.clone())
        .batch_size(16)
        .shuffle(42)
        .num_workers(workers)
        .build(d.clone());
    let numel = d.shape().numel();
    let mut out = Vec::new();
    for batch in loader.iter() {
        let values = batch.images.to_data().to_vec::<f32>().unwrap();
        for (k, &i) in batch.indices.iter().enumerate() {
            out.push((i, values[k * numel..(k + 1) * numel].to_vec()));
        }
    }
    out.sort_by_key(|(i, _)| *i);
    out
}

#[test]
fn loader_with_workers_covers_every_example_once_and_augments_reproducibly() {
    let d = rgb_dataset(100);
    let batcher = ImageBatcher::new(Normalization::unit(3)).with_augmentation(Augmentation {
        crop_padding: Some(2),
        horizontal_flip: true,
        seed: 9,
    });
    batcher.set_epoch(1);
    let single = epoch_images(0, &batcher, &d);
    let threaded = epoch_images(3, &batcher, &d);
    let seen: BTreeSet<usize> = threaded.iter().map(|(i, _)| *i).collect();
    assert_eq!(threaded.len(), 100);
    assert_eq!(seen.len(), 100);
    // Same (seed, epoch, index) -> same augmented image, whatever the
    // number of workers and the batch an example lands in.
    assert_eq!(single, threaded);
    batcher.set_epoch(2);
    assert_ne!(epoch_images(2, &batcher, &d), threaded);
}
