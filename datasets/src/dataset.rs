//! The in-memory image classification set every loader produces.

use std::fmt;
use std::sync::Arc;

use crate::error::{Error, Result};

/// Shape of one image: channels, height, width (NCHW without the N).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ImageShape {
    /// Number of channels (1 for MNIST, 3 for CIFAR and SVHN).
    pub channels: usize,
    /// Height in pixels (rows).
    pub height: usize,
    /// Width in pixels (columns).
    pub width: usize,
}

impl ImageShape {
    /// A shape from its three extents.
    pub const fn new(channels: usize, height: usize, width: usize) -> Self {
        Self {
            channels,
            height,
            width,
        }
    }

    /// Number of bytes (= pixels times channels) of one image.
    pub const fn numel(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Pixels per channel plane (`height * width`).
    pub const fn plane(&self) -> usize {
        self.height * self.width
    }
}

impl fmt::Display for ImageShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}x{}", self.channels, self.height, self.width)
    }
}

/// In-memory image classification set: `u8` pixels, NCHW order (for each
/// image, its channel planes one after the other, each plane row-major).
///
/// Pixels are shared behind an [`Arc`], so cloning a dataset is cheap.
/// Invariants, checked by [`ImageDataset::new`]: `images.len() == len *
/// shape.numel()` and every label is `< num_classes`.
#[derive(Clone)]
pub struct ImageDataset {
    name: String,
    shape: ImageShape,
    num_classes: usize,
    images: Arc<[u8]>,
    labels: Vec<u16>,
}

impl fmt::Debug for ImageDataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImageDataset")
            .field("name", &self.name)
            .field("len", &self.len())
            .field("shape", &self.shape)
            .field("num_classes", &self.num_classes)
            .finish()
    }
}

impl ImageDataset {
    /// Builds a dataset from pixels (NCHW, `u8`) and labels, validating sizes
    /// and label range.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an empty shape or no classes,
    /// [`Error::CountMismatch`] when the pixel buffer does not hold exactly
    /// `labels.len()` images, [`Error::LabelOutOfRange`] for a label
    /// `>= num_classes`.
    pub fn new(
        name: impl Into<String>,
        shape: ImageShape,
        num_classes: usize,
        images: impl Into<Arc<[u8]>>,
        labels: Vec<u16>,
    ) -> Result<Self> {
        let name = name.into();
        let images = images.into();
        if shape.numel() == 0 {
            return Err(Error::InvalidArgument(format!(
                "{name}: image shape {shape} has no pixels"
            )));
        }
        if num_classes == 0 || num_classes > usize::from(u16::MAX) + 1 {
            return Err(Error::InvalidArgument(format!(
                "{name}: number of classes {num_classes} must be in 1..=65536"
            )));
        }
        if !images.len().is_multiple_of(shape.numel())
            || images.len() / shape.numel() != labels.len()
        {
            return Err(Error::CountMismatch {
                what: name,
                images: images.len() / shape.numel(),
                labels: labels.len(),
            });
        }
        check_labels(&labels, num_classes, &name)?;
        Ok(Self {
            name,
            shape,
            num_classes,
            images,
            labels,
        })
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the dataset has no examples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Shape of every image.
    pub fn shape(&self) -> ImageShape {
        self.shape
    }

    /// Number of classes (labels are `0..num_classes`).
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// Human-readable name, e.g. `"MNIST train"`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The same data under another name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// All labels, index-aligned with the images.
    pub fn labels(&self) -> &[u16] {
        &self.labels
    }

    /// Label of example `i`, or `None` past the end.
    pub fn label(&self, i: usize) -> Option<u16> {
        self.labels.get(i).copied()
    }

    /// All pixels, NCHW.
    pub fn pixels(&self) -> &[u8] {
        &self.images
    }

    /// Pixels of image `i` (CHW, `shape().numel()` bytes), or `None` past the
    /// end.
    pub fn image(&self, i: usize) -> Option<&[u8]> {
        if i >= self.len() {
            return None;
        }
        let n = self.shape.numel();
        self.images.get(i * n..(i + 1) * n)
    }

    /// Number of examples of each class (length `num_classes`).
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes];
        for &l in &self.labels {
            counts[usize::from(l)] += 1;
        }
        counts
    }

    /// The examples at `indices`, in that order (repeats allowed).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if an index is out of range.
    pub fn subset(&self, indices: &[usize]) -> Result<Self> {
        let n = self.shape.numel();
        let mut images = Vec::with_capacity(indices.len() * n);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            let img = self.image(i).ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "{}: subset index {i} out of range (len {})",
                    self.name,
                    self.len()
                ))
            })?;
            images.extend_from_slice(img);
            labels.push(self.labels[i]);
        }
        Ok(Self {
            name: self.name.clone(),
            shape: self.shape,
            num_classes: self.num_classes,
            images: images.into(),
            labels,
        })
    }

    /// The same images with other labels (pixels stay shared).
    ///
    /// # Errors
    /// [`Error::CountMismatch`] if `labels` has the wrong length,
    /// [`Error::LabelOutOfRange`] for a label `>= num_classes`.
    pub fn with_labels(&self, labels: Vec<u16>) -> Result<Self> {
        Self::new(
            self.name.clone(),
            self.shape,
            self.num_classes,
            Arc::clone(&self.images),
            labels,
        )
    }

    /// The example at `index` as a loader item (copies the pixels).
    pub fn item(&self, index: usize) -> Option<ImageItem> {
        Some(ImageItem {
            pixels: self.image(index)?.to_vec(),
            label: usize::from(self.labels[index]),
            index,
            shape: self.shape,
        })
    }
}

/// [`Error::LabelOutOfRange`] for the first label `>= num_classes`.
pub(crate) fn check_labels<L: Copy + Into<u16>>(
    labels: &[L],
    num_classes: usize,
    what: &str,
) -> Result<()> {
    match labels
        .iter()
        .map(|&l| l.into())
        .enumerate()
        .find(|&(_, l)| usize::from(l) >= num_classes)
    {
        Some((index, label)) => Err(Error::LabelOutOfRange {
            what: what.to_string(),
            index,
            label: i64::from(label),
            num_classes,
        }),
        None => Ok(()),
    }
}

/// A train/test pair.
#[derive(Clone, Debug)]
pub struct Split {
    /// Training set.
    pub train: ImageDataset,
    /// Test set.
    pub test: ImageDataset,
}

/// One example as handed to the Burn data loader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageItem {
    /// Pixels, CHW, `u8`.
    pub pixels: Vec<u8>,
    /// Class index.
    pub label: usize,
    /// Position of the example in the dataset the loader reads (so clean
    /// and corrupted examples can be told apart after shuffling, and so the
    /// augmentation of an example does not depend on batch order).
    pub index: usize,
    /// Shape of `pixels`.
    pub shape: ImageShape,
}

impl burn::data::dataset::Dataset<ImageItem> for ImageDataset {
    fn get(&self, index: usize) -> Option<ImageItem> {
        self.item(index)
    }

    fn len(&self) -> usize {
        self.labels.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::data::dataset::Dataset;

    fn tiny() -> ImageDataset {
        let shape = ImageShape::new(1, 2, 2);
        let images: Vec<u8> = (0..12).collect();
        ImageDataset::new("tiny", shape, 3, images, vec![0, 2, 1]).unwrap()
    }

    #[test]
    fn accessors() {
        let d = tiny();
        assert_eq!(d.len(), 3);
        assert_eq!(d.image(1), Some(&[4u8, 5, 6, 7][..]));
        assert_eq!(d.image(3), None);
        assert_eq!(d.class_counts(), vec![1, 1, 1]);
        let item = Dataset::get(&d, 2).unwrap();
        assert_eq!(item.pixels, vec![8, 9, 10, 11]);
        assert_eq!((item.label, item.index), (1, 2));
        assert!(Dataset::get(&d, 3).is_none());
    }

    #[test]
    fn subset_reorders_and_rejects_out_of_range() {
        let d = tiny();
        let s = d.subset(&[2, 0]).unwrap();
        assert_eq!(s.labels(), &[1, 0]);
        assert_eq!(s.image(0), d.image(2));
        assert!(matches!(d.subset(&[3]), Err(Error::InvalidArgument(_))));
    }

    #[test]
    fn new_validates() {
        let shape = ImageShape::new(1, 2, 2);
        assert!(matches!(
            ImageDataset::new("x", shape, 3, vec![0u8; 7], vec![0, 0]),
            Err(Error::CountMismatch { .. })
        ));
        assert!(matches!(
            ImageDataset::new("x", shape, 3, vec![0u8; 8], vec![0]),
            Err(Error::CountMismatch { .. })
        ));
        assert!(matches!(
            ImageDataset::new("x", shape, 3, vec![0u8; 8], vec![0, 3]),
            Err(Error::LabelOutOfRange {
                index: 1,
                label: 3,
                ..
            })
        ));
        assert!(ImageDataset::new("x", shape, 0, vec![], vec![]).is_err());
        assert!(ImageDataset::new("x", ImageShape::new(0, 1, 1), 2, vec![], vec![]).is_err());
    }

    #[test]
    fn with_labels_shares_pixels() {
        let d = tiny();
        let e = d.with_labels(vec![1, 1, 1]).unwrap();
        assert!(std::ptr::eq(d.pixels().as_ptr(), e.pixels().as_ptr()));
        assert!(d.with_labels(vec![1]).is_err());
    }
}
