//! Normalisation and the Burn [`Batcher`] that turns [`ImageItem`]s into
//! `f32` tensors.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use burn::data::dataloader::batcher::Batcher;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use crate::augment::{AugmentChoice, Augmentation};
use crate::dataset::{ImageDataset, ImageItem, ImageShape};
use crate::error::{Error, Result};
use crate::load::DatasetKind;

/// Per-channel normalisation `x -> (x / 255 - mean[c]) / std[c]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Normalization {
    /// Per-channel mean of `x / 255`.
    pub mean: Vec<f32>,
    /// Per-channel standard deviation of `x / 255`.
    pub std: Vec<f32>,
}

impl Normalization {
    /// A normalisation from its constants.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if the lengths differ or are zero, or a
    /// value is not finite, or a standard deviation is not positive.
    pub fn new(mean: Vec<f32>, std: Vec<f32>) -> Result<Self> {
        if mean.is_empty() || mean.len() != std.len() {
            return Err(Error::InvalidArgument(format!(
                "normalisation needs as many means as stds (got {} and {})",
                mean.len(),
                std.len()
            )));
        }
        if mean.iter().any(|m| !m.is_finite()) || std.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(Error::InvalidArgument(format!(
                "normalisation constants must be finite with positive std: {mean:?} {std:?}"
            )));
        }
        Ok(Self { mean, std })
    }

    /// No centring: `x / 255` for `channels` channels.
    pub fn unit(channels: usize) -> Self {
        Self {
            mean: vec![0.0; channels],
            std: vec![1.0; channels],
        }
    }

    /// MNIST: mean 0.1307, std 0.3081 (the usual constants, from the 60k
    /// training set).
    pub fn mnist() -> Self {
        Self {
            mean: vec![0.1307],
            std: vec![0.3081],
        }
    }

    /// Fashion-MNIST: mean 0.2860, std 0.3530 (training set).
    pub fn fashion_mnist() -> Self {
        Self {
            mean: vec![0.2860],
            std: vec![0.3530],
        }
    }

    /// CIFAR-10 training-set statistics: mean (0.4914, 0.4822, 0.4465),
    /// std (0.2470, 0.2435, 0.2616).
    pub fn cifar10() -> Self {
        Self {
            mean: vec![0.4914, 0.4822, 0.4465],
            std: vec![0.2470, 0.2435, 0.2616],
        }
    }

    /// CIFAR-100 training-set statistics: mean (0.5071, 0.4865, 0.4409),
    /// std (0.2673, 0.2564, 0.2762).
    pub fn cifar100() -> Self {
        Self {
            mean: vec![0.5071, 0.4865, 0.4409],
            std: vec![0.2673, 0.2564, 0.2762],
        }
    }

    /// SVHN training-set statistics: mean (0.4377, 0.4438, 0.4728), std
    /// (0.1980, 0.2010, 0.1970).
    pub fn svhn() -> Self {
        Self {
            mean: vec![0.4377, 0.4438, 0.4728],
            std: vec![0.1980, 0.2010, 0.1970],
        }
    }

    /// The published constants for a dataset kind, or `None` for an image
    /// folder (use [`Normalization::from_dataset`] on its training set).
    pub fn for_kind(kind: &DatasetKind) -> Option<Self> {
        match kind {
            DatasetKind::Mnist | DatasetKind::Mnist10k => Some(Self::mnist()),
            DatasetKind::FashionMnist => Some(Self::fashion_mnist()),
            DatasetKind::Cifar10 => Some(Self::cifar10()),
            DatasetKind::Cifar100 { .. } => Some(Self::cifar100()),
            DatasetKind::Svhn => Some(Self::svhn()),
            DatasetKind::Folder(_) => None,
        }
    }

    /// Per-channel mean and (population) standard deviation of `x / 255`
    /// over a dataset; a channel with zero spread gets std 1.
    pub fn from_dataset(dataset: &ImageDataset) -> Self {
        let shape = dataset.shape();
        let plane = shape.plane();
        let mut sums = vec![0u64; shape.channels];
        let mut squares = vec![0u64; shape.channels];
        for img in dataset.pixels().chunks_exact(shape.numel()) {
            for (c, chan) in img.chunks_exact(plane).enumerate() {
                for &v in chan {
                    let v = u64::from(v);
                    sums[c] += v;
                    squares[c] += v * v;
                }
            }
        }
        let count = (dataset.len() * plane).max(1) as f64;
        let mut mean = Vec::with_capacity(shape.channels);
        let mut std = Vec::with_capacity(shape.channels);
        for c in 0..shape.channels {
            let m = sums[c] as f64 / count;
            let var = (squares[c] as f64 / count - m * m).max(0.0);
            let s = var.sqrt() / 255.0;
            mean.push((m / 255.0) as f32);
            std.push(if s > 0.0 { s as f32 } else { 1.0 });
        }
        Self { mean, std }
    }

    /// Number of channels.
    pub fn channels(&self) -> usize {
        self.mean.len()
    }

    /// The normalised value of byte `v` in channel `c`.
    pub fn apply(&self, c: usize, v: u8) -> f32 {
        (f32::from(v) / 255.0 - self.mean[c]) / self.std[c]
    }

    /// A 256-entry table per channel: `table[c][v] == self.apply(c, v)`.
    pub fn tables(&self) -> Vec<[f32; 256]> {
        (0..self.channels())
            .map(|c| std::array::from_fn(|v| self.apply(c, v as u8)))
            .collect()
    }
}

/// A batch of images for training or evaluation.
#[derive(Clone, Debug)]
pub struct ImageBatch<B: Backend> {
    /// `[N, C, H, W]`, normalised `f32`.
    pub images: Tensor<B, 4>,
    /// `[N]` class indices.
    pub targets: Tensor<B, 1, Int>,
    /// Dataset index of each example (so clean and corrupted examples can
    /// be scored separately).
    pub indices: Vec<usize>,
}

impl<B: Backend> ImageBatch<B> {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// The images as `[N, C * H * W]` (for multilayer perceptrons).
    pub fn flattened(&self) -> Tensor<B, 2> {
        self.images.clone().flatten(1, 3)
    }
}

/// Turns [`ImageItem`]s into an [`ImageBatch`]: normalises with per-channel
/// lookup tables, optionally augments (crop and flip, fused into the same
/// pass), writes the whole batch into one `Vec<f32>` and creates the tensor
/// once.
///
/// Clones share the epoch counter, so keep a clone to call
/// [`ImageBatcher::set_epoch`] after handing one to the data loader.
#[derive(Clone, Debug)]
pub struct ImageBatcher {
    normalization: Normalization,
    tables: Arc<[[f32; 256]]>,
    augmentation: Option<Augmentation>,
    epoch: Arc<AtomicU64>,
}

impl ImageBatcher {
    /// A batcher without augmentation (evaluation).
    pub fn new(normalization: Normalization) -> Self {
        let tables = normalization.tables().into();
        Self {
            normalization,
            tables,
            augmentation: None,
            epoch: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The same batcher with augmentation (training). An augmentation that
    /// cannot change anything ([`Augmentation::is_identity`]) is dropped.
    pub fn with_augmentation(mut self, augmentation: Augmentation) -> Self {
        self.augmentation = (!augmentation.is_identity()).then_some(augmentation);
        self
    }

    /// The normalisation.
    pub fn normalization(&self) -> &Normalization {
        &self.normalization
    }

    /// The augmentation, if any.
    pub fn augmentation(&self) -> Option<&Augmentation> {
        self.augmentation.as_ref()
    }

    /// Sets the epoch that seeds the augmentation (shared by all clones).
    /// Call it before iterating the loader for that epoch; every batch of
    /// an iteration is built before the iteration ends, so changing it
    /// between iterations is race-free.
    pub fn set_epoch(&self, epoch: u64) {
        self.epoch.store(epoch, Ordering::SeqCst);
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// The CPU half of batching: the `[N, C, H, W]` values, row-major, and
    /// the shape of one image.
    ///
    /// # Panics
    /// If items have different shapes, or their channel count differs from
    /// the normalisation's: both are programming errors (items come from one
    /// [`ImageDataset`], the normalisation is chosen for it).
    pub fn batch_values(&self, items: &[ImageItem]) -> (Vec<f32>, ImageShape) {
        let Some(first) = items.first() else {
            return (
                Vec::new(),
                ImageShape::new(self.normalization.channels(), 0, 0),
            );
        };
        let shape = first.shape;
        assert_eq!(
            shape.channels,
            self.normalization.channels(),
            "images have {} channels but the normalisation has {}",
            shape.channels,
            self.normalization.channels()
        );
        let numel = shape.numel();
        let plane = shape.plane();
        let epoch = self.epoch();
        let mut values = vec![0f32; items.len() * numel];
        for (item, out) in items.iter().zip(values.chunks_exact_mut(numel)) {
            assert!(
                item.shape == shape && item.pixels.len() == numel,
                "item {} has shape {} ({} bytes), expected {shape}",
                item.index,
                item.shape,
                item.pixels.len()
            );
            let choice = match &self.augmentation {
                Some(a) => a.choice(epoch, item.index),
                None => AugmentChoice::IDENTITY,
            };
            if choice == AugmentChoice::IDENTITY {
                for (c, (src, dst)) in item
                    .pixels
                    .chunks_exact(plane)
                    .zip(out.chunks_exact_mut(plane))
                    .enumerate()
                {
                    let table = &self.tables[c];
                    for (d, &s) in dst.iter_mut().zip(src) {
                        *d = table[usize::from(s)];
                    }
                }
            } else {
                let tables = &self.tables;
                choice.map_into_channels(
                    &item.pixels,
                    shape,
                    out,
                    |c| tables[c][0],
                    |c, v| tables[c][usize::from(v)],
                );
            }
        }
        (values, shape)
    }
}

impl<B: Backend> Batcher<B, ImageItem, ImageBatch<B>> for ImageBatcher {
    fn batch(&self, items: Vec<ImageItem>, device: &B::Device) -> ImageBatch<B> {
        let n = items.len();
        let (values, shape) = self.batch_values(&items);
        let images = Tensor::<B, 4>::from_data(
            TensorData::new(values, [n, shape.channels, shape.height, shape.width]),
            device,
        );
        let labels: Vec<i64> = items.iter().map(|i| i.label as i64).collect();
        let targets = Tensor::<B, 1, Int>::from_data(TensorData::new(labels, [n]), device);
        let indices = items.iter().map(|i| i.index).collect();
        ImageBatch {
            images,
            targets,
            indices,
        }
    }
}
