//! Image classification datasets for the universal-SAM experiments: bytes
//! on disk to Burn batches.
//!
//! * **Loaders** for MNIST and Fashion-MNIST ([`mnist`], IDX gzipped or
//!   raw), CIFAR-10/100 ([`cifar`], binary version, fine or coarse labels),
//!   SVHN ([`svhn`], MATLAB files read by [`matfile`]) and image folders
//!   ([`folder`]); all return an [`ImageDataset`] pair ([`Split`]).
//! * **Downloads** ([`download`], [`ensure`]) from the canonical URLs into a cache
//!   directory (`$USAM_DATA_DIR`, else `~/.cache/usam`), SHA-256 verified,
//!   written atomically; offline, the error names the missing files and
//!   where to put them.
//! * **Bundled** MNIST-10k ([`bundled::mnist_10k`]): 10,000 real digits
//!   compiled in, checksummed, for demos and tests.
//! * **Regimes** ([`regime`]): limited data ([`Limit`]) and label noise
//!   ([`LabelNoise`]), seeded and composable ([`Regime`]).
//! * **Augmentation** ([`augment`]) and **batching** ([`ImageBatcher`]):
//!   per-channel normalisation, seeded crop and flip, one `f32` buffer per
//!   batch, for `burn::data::dataloader` with worker threads.
//!
//! ```
//! use burn::backend::NdArray;
//! use burn::data::dataloader::DataLoaderBuilder;
//! use datasets::{bundled, Augmentation, ImageBatch, ImageBatcher, LabelNoise, Normalization};
//!
//! # fn main() -> datasets::Result<()> {
//! let split = bundled::mnist_10k()?;
//! assert_eq!((split.train.len(), split.test.len()), (8000, 2000));
//!
//! // 20% label noise, reporting which examples were corrupted.
//! let noisy = LabelNoise { fraction: 0.2, seed: 101 }.apply(&split.train)?;
//! assert_eq!(noisy.corrupted.len(), 1600);
//!
//! let batcher = ImageBatcher::new(Normalization::mnist())
//!     .with_augmentation(Augmentation { crop_padding: Some(2), horizontal_flip: false, seed: 1 });
//! let epochs = batcher.clone(); // shares the epoch counter
//! let loader = DataLoaderBuilder::<NdArray, _, ImageBatch<NdArray>>::new(batcher)
//!     .batch_size(128)
//!     .shuffle(101)
//!     .num_workers(2)
//!     .build(noisy.dataset.clone());
//!
//! epochs.set_epoch(0);
//! let batch = loader.iter().next().unwrap();
//! assert_eq!(batch.images.dims(), [128, 1, 28, 28]);
//! let corrupted_in_batch = batch.indices.iter().filter(|&&i| noisy.is_corrupted(i)).count();
//! assert!(corrupted_in_batch <= 128);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

pub mod augment;
pub mod batcher;
pub mod bundled;
pub mod cifar;
mod dataset;
pub mod download;
pub mod error;
pub mod folder;
mod load;
pub mod matfile;
pub mod mnist;
mod options;
pub mod regime;
pub mod svhn;

pub use augment::{AugmentChoice, Augmentation};
pub use batcher::{ImageBatch, ImageBatcher, Normalization};
pub use dataset::{ImageDataset, ImageItem, ImageShape, Split};
pub use download::{Fetcher, Resource};
pub use error::{Error, Result};
pub use load::{DatasetKind, load};
pub use options::{LoadOptions, ensure};
pub use regime::{LabelNoise, Limit, NoisyLabels, Regime};
