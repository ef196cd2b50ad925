//! The data side of a run: the dataset with its regime applied, and
//! reproducible epochs (order and augmentation depend only on the seed and
//! the epoch, so a resumed run sees exactly the batches it would have seen).

use burn::data::dataloader::batcher::Batcher;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};
use datasets::{
    Augmentation, DatasetKind, ImageBatch, ImageBatcher, ImageDataset, LabelNoise, Limit,
    LoadOptions, Normalization, Regime,
};

use sam_burn::parallel::shard_range;
use sam_core::rng::SplitMix64;

use crate::config::{Subset, TrainConfig};

/// Why the data could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// Loading or a regime failed (the message names files and fixes).
    #[error(transparent)]
    Dataset(#[from] datasets::Error),
    /// The dataset name does not parse.
    #[error("unknown dataset `{0}`")]
    UnknownDataset(String),
    /// A split holds no images (after the regime, for the training set).
    #[error("the {split} set of {dataset} holds no images{hint}: nothing to train or evaluate on")]
    Empty {
        /// `training` or `test`.
        split: &'static str,
        /// The dataset.
        dataset: String,
        /// What emptied it, when a regime did.
        hint: String,
    },
    /// Training and test images differ in shape.
    #[error(
        "the training and test images of {dataset} differ in shape: {train} against {test} (channels x height x width)"
    )]
    ShapeMismatch {
        /// The dataset.
        dataset: String,
        /// Training image shape.
        train: String,
        /// Test image shape.
        test: String,
    },
}

fn shape_text(s: datasets::ImageShape) -> String {
    format!("{}x{}x{}", s.channels, s.height, s.width)
}

/// A run's data.
#[derive(Debug, Clone)]
pub struct RunData {
    /// The dataset kind.
    pub kind: DatasetKind,
    /// Training set after the regime (possibly a subset, possibly noisy).
    pub train: ImageDataset,
    /// Test set.
    pub test: ImageDataset,
    /// Per training index: whether its label was corrupted.
    pub corrupted: Vec<bool>,
    /// Per training index: the label before corruption.
    pub original_labels: Vec<u16>,
    /// Per-channel normalisation.
    pub normalization: Normalization,
    /// Training augmentation, if any.
    pub augmentation: Option<Augmentation>,
}

impl RunData {
    /// Loads the configured dataset and applies the regime.
    pub fn load(cfg: &TrainConfig) -> Result<Self, DataError> {
        let kind: DatasetKind = cfg
            .dataset
            .parse()
            .map_err(|_| DataError::UnknownDataset(cfg.dataset.clone()))?;
        let mut options = LoadOptions::default();
        if let Some(dir) = &cfg.data_dir {
            options = options.with_cache_dir(dir.clone());
        }
        options.allow_download = cfg.download;
        let split = datasets::load(&kind, &options)?;
        let (train_shape, test_shape) = (split.train.shape(), split.test.shape());
        if split.train.is_empty() || split.test.is_empty() {
            return Err(DataError::Empty {
                split: if split.train.is_empty() {
                    "training"
                } else {
                    "test"
                },
                dataset: cfg.dataset.clone(),
                hint: String::new(),
            });
        }
        if train_shape != test_shape {
            return Err(DataError::ShapeMismatch {
                dataset: cfg.dataset.clone(),
                train: shape_text(train_shape),
                test: shape_text(test_shape),
            });
        }
        let limit = (cfg.data_fraction < 1.0).then_some(match cfg.subset {
            Subset::Prefix => Limit::Prefix {
                fraction: cfg.data_fraction,
            },
            Subset::Balanced => Limit::Balanced {
                fraction: cfg.data_fraction,
                seed: cfg.seed,
            },
        });
        let label_noise = (cfg.label_noise > 0.0).then_some(LabelNoise {
            fraction: cfg.label_noise,
            seed: cfg.seed,
        });
        let noisy = Regime { limit, label_noise }.apply(&split.train)?;
        if noisy.dataset.is_empty() {
            return Err(DataError::Empty {
                split: "training",
                dataset: cfg.dataset.clone(),
                hint: format!(
                    " after keeping data_fraction = {} of {} images",
                    cfg.data_fraction,
                    split.train.len()
                ),
            });
        }
        let corrupted = noisy.corrupted_mask();
        let normalization = Normalization::for_kind(&kind)
            .unwrap_or_else(|| Normalization::from_dataset(&noisy.dataset));
        let augmentation = cfg.augmentation().then_some(Augmentation {
            crop_padding: Some(4),
            // Flipping digits changes them: SVHN gets crops only.
            horizontal_flip: !matches!(kind, DatasetKind::Svhn),
            seed: cfg.seed,
        });
        Ok(Self {
            kind,
            train: noisy.dataset.clone(),
            test: split.test,
            corrupted,
            original_labels: noisy.original_labels.clone(),
            normalization,
            augmentation,
        })
    }

    /// Number of corrupted training labels.
    pub fn corrupted_count(&self) -> usize {
        self.corrupted.iter().filter(|&&c| c).count()
    }

    /// The training batches of `epoch`, in order: a permutation seeded by
    /// `(seed, epoch)`, augmented by `(seed, epoch, index)`.
    pub fn train_epoch<'a, B: Backend>(
        &'a self,
        seed: u64,
        epoch: usize,
        batch_size: usize,
        max_steps: Option<usize>,
        device: &'a B::Device,
    ) -> impl Iterator<Item = ImageBatch<B>> + 'a {
        self.train_shards(seed, epoch, batch_size, max_steps, Shard::WHOLE, device)
            .map(|s| s.batch)
    }

    /// `shard`'s part of each training batch of `epoch` (the same global
    /// batches as [`train_epoch`](Self::train_epoch), split by
    /// [`shard_range`]). Augmentation is keyed by the dataset index, so an
    /// example is augmented alike whichever replica takes it. A last batch
    /// too small to give every replica an example is left out
    /// ([`steps_per_epoch`](Self::steps_per_epoch) counts the same).
    pub fn train_shards<'a, B: Backend>(
        &'a self,
        seed: u64,
        epoch: usize,
        batch_size: usize,
        max_steps: Option<usize>,
        shard: Shard,
        device: &'a B::Device,
    ) -> impl Iterator<Item = ShardBatch<B>> + 'a {
        let mut batcher = ImageBatcher::new(self.normalization.clone());
        if let Some(aug) = &self.augmentation {
            batcher = batcher.with_augmentation(*aug);
        }
        batcher.set_epoch(epoch as u64);
        let order = permutation(self.train.len(), seed, epoch as u64);
        let steps = self.steps_per_epoch_on(batch_size, max_steps, shard.size);
        (0..steps).map(move |s| {
            let end = ((s + 1) * batch_size).min(order.len());
            let global = &order[s * batch_size..end];
            let items = global[shard_range(global.len(), shard.rank, shard.size)]
                .iter()
                .map(|&i| self.train.item(i).expect("indices come from the dataset"))
                .collect();
            ShardBatch {
                global: global.len(),
                batch: batcher.batch(items, device),
            }
        })
    }

    /// Number of training batches per epoch.
    pub fn steps_per_epoch(&self, batch_size: usize, max_steps: Option<usize>) -> usize {
        self.steps_per_epoch_on(batch_size, max_steps, 1)
    }

    /// Number of training batches per epoch split over `replicas`: a last
    /// batch of fewer than `replicas` examples is left out.
    pub fn steps_per_epoch_on(
        &self,
        batch_size: usize,
        max_steps: Option<usize>,
        replicas: usize,
    ) -> usize {
        let n = self.train.len();
        let mut steps = n.div_ceil(batch_size);
        if steps > 0 && n - (steps - 1) * batch_size < replicas.max(1) {
            steps -= 1;
        }
        max_steps.map_or(steps, |m| m.min(steps))
    }
}

/// Which replica of how many a batch is split for (data-parallel runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// The replica, from 0.
    pub rank: usize,
    /// The number of replicas.
    pub size: usize,
}

impl Shard {
    /// The whole batch: one replica.
    pub const WHOLE: Shard = Shard { rank: 0, size: 1 };
}

/// One replica's part of a training batch.
#[derive(Debug, Clone)]
pub struct ShardBatch<B: Backend> {
    /// Examples in the whole (global) batch.
    pub global: usize,
    /// This replica's examples.
    pub batch: ImageBatch<B>,
}

/// Batches of `dataset` in order, without augmentation.
pub fn eval_batches<'a, B: Backend>(
    dataset: &'a ImageDataset,
    normalization: &Normalization,
    batch_size: usize,
    limit: usize,
    device: &'a B::Device,
) -> impl Iterator<Item = ImageBatch<B>> + 'a {
    let batcher = ImageBatcher::new(normalization.clone());
    let n = dataset.len().min(limit);
    (0..n.div_ceil(batch_size)).map(move |s| {
        let items = (s * batch_size..((s + 1) * batch_size).min(n))
            .map(|i| dataset.item(i).expect("index in range"))
            .collect();
        batcher.batch(items, device)
    })
}

/// A batch as the Hessian operators take it: `((images, targets), size)`.
pub type SizedBatch<B> = ((Tensor<B, 4>, Tensor<B, 1, Int>), usize);

/// The first `limit` examples of `dataset` as [`SizedBatch`]es, in order and
/// without augmentation.
pub fn sized_eval_batches<B: Backend>(
    dataset: &ImageDataset,
    normalization: &Normalization,
    batch_size: usize,
    limit: usize,
    device: &B::Device,
) -> Vec<SizedBatch<B>> {
    eval_batches::<B>(dataset, normalization, batch_size, limit, device)
        .map(|b| {
            let n = b.len();
            ((b.images, b.targets), n)
        })
        .collect()
}

/// A seeded permutation of `0..n` (Fisher-Yates).
pub fn permutation(n: usize, seed: u64, stream: u64) -> Vec<usize> {
    let mut rng = SplitMix64::stream(seed, stream);
    let mut v: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        v.swap(i, rng.below_usize(i + 1));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn permutations_are_permutations(n in 0usize..500, seed: u64, stream: u64) {
            let mut p = permutation(n, seed, stream);
            prop_assert_eq!(&p, &permutation(n, seed, stream));
            p.sort_unstable();
            prop_assert_eq!(p, (0..n).collect::<Vec<_>>());
        }
    }

    /// The order the generator gave before it moved to `sam_core::rng`
    /// (computed independently), so resumed and repeated runs keep theirs.
    #[test]
    fn permutation_is_pinned() {
        assert_eq!(
            permutation(12, 7, 3),
            vec![4, 1, 7, 9, 11, 3, 2, 10, 0, 5, 8, 6]
        );
    }

    #[test]
    fn epochs_differ() {
        assert_ne!(permutation(100, 1, 0), permutation(100, 1, 1));
        assert_ne!(permutation(100, 1, 0), permutation(100, 2, 0));
    }
}
