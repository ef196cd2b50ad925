//! Training regimes of the paper: full data, limited data and label noise,
//! as seeded, composable transformations of a training set.
//!
//! All randomness comes from SplitMix64 ([`sam_core::rng`], written out so
//! a seed gives the same result on every platform and version).
//!
//! * [`Limit`]: keep a fraction of the examples, either the first ones (the
//!   reference code's "first 10%") or a seeded class-balanced subset.
//! * [`LabelNoise`]: change exactly `ceil(fraction * n)` labels, each to a
//!   different class drawn uniformly among the other `C - 1`, and report
//!   which ones.
//! * [`Regime`]: an optional limit followed by optional noise.

use crate::dataset::ImageDataset;
use crate::error::{Error, Result};
use sam_core::rng::SplitMix64;

/// Domain separation between the random streams of the regimes (so the
/// same seed used for a limit and for noise gives unrelated draws).
const NOISE_STREAM: u64 = 0x004E_4F49_5345; // "NOISE"
const BALANCE_STREAM: u64 = 0x4241_4C41_4E43; // "BALANC"

fn check_fraction(fraction: f64, what: &str) -> Result<()> {
    if fraction.is_finite() && (0.0..=1.0).contains(&fraction) {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "{what} fraction {fraction} is not in [0, 1]"
        )))
    }
}

/// `fraction * n` rounded up, where a product within `1e-9` (relative) of
/// an integer counts as that integer: `0.2 * 8000` gives 1600 even though
/// the floating-point product may be `1600.0000000000002`.
pub fn ceil_count(fraction: f64, n: usize) -> usize {
    let x = fraction * n as f64;
    let r = x.round();
    let k = if (x - r).abs() <= 1e-9 * x.abs().max(1.0) {
        r
    } else {
        x.ceil()
    };
    (k as usize).min(n)
}

/// `fraction * n` rounded down, with the same tolerance as [`ceil_count`].
pub fn floor_count(fraction: f64, n: usize) -> usize {
    let x = fraction * n as f64;
    let r = x.round();
    let k = if (x - r).abs() <= 1e-9 * x.abs().max(1.0) {
        r
    } else {
        x.floor()
    };
    (k as usize).min(n)
}

/// Symmetric label noise: exactly `ceil(fraction * n)` examples (see
/// [`ceil_count`]) get a label different from their own.
///
/// Procedure, fully determined by `seed`: a SplitMix64 stream seeded with
/// `(seed, "NOISE")` first picks the examples by a partial Fisher–Yates
/// shuffle of `0..n`, then, for each picked example in increasing index
/// order, draws `r` uniform in `0..C-1` and sets the label to `r` if
/// `r < old`, else `r + 1` (uniform over the other classes).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LabelNoise {
    /// Fraction of examples whose label is changed, in `[0, 1]`.
    pub fraction: f64,
    /// Seed.
    pub seed: u64,
}

/// A dataset with corrupted labels, and what was corrupted.
#[derive(Clone, Debug)]
pub struct NoisyLabels {
    /// The dataset with the noisy labels (pixels shared with the input).
    pub dataset: ImageDataset,
    /// Indices of the examples whose label was changed, sorted ascending.
    pub corrupted: Vec<usize>,
    /// The labels before corruption, index-aligned with `dataset`.
    pub original_labels: Vec<u16>,
}

impl NoisyLabels {
    /// A "noisy" view with nothing corrupted.
    pub fn clean(dataset: ImageDataset) -> Self {
        let original_labels = dataset.labels().to_vec();
        Self {
            dataset,
            corrupted: Vec::new(),
            original_labels,
        }
    }

    /// Whether example `index` had its label changed.
    pub fn is_corrupted(&self, index: usize) -> bool {
        self.corrupted.binary_search(&index).is_ok()
    }

    /// Per-example mask, `true` where the label was changed.
    pub fn corrupted_mask(&self) -> Vec<bool> {
        let mut mask = vec![false; self.dataset.len()];
        for &i in &self.corrupted {
            mask[i] = true;
        }
        mask
    }
}

impl LabelNoise {
    /// Applies the noise to a dataset.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if the fraction is outside `[0, 1]`, or if
    /// labels must change but the dataset has fewer than two classes.
    pub fn apply(&self, dataset: &ImageDataset) -> Result<NoisyLabels> {
        check_fraction(self.fraction, "label-noise")?;
        let n = dataset.len();
        let k = ceil_count(self.fraction, n);
        let classes = dataset.num_classes();
        if k > 0 && classes < 2 {
            return Err(Error::InvalidArgument(format!(
                "{}: label noise needs at least two classes",
                dataset.name()
            )));
        }
        let mut rng = SplitMix64::from_words(&[self.seed, NOISE_STREAM]);
        let mut order: Vec<usize> = (0..n).collect();
        rng.partial_shuffle(&mut order, k);
        let mut corrupted = order[..k].to_vec();
        corrupted.sort_unstable();
        let original_labels = dataset.labels().to_vec();
        let mut labels = original_labels.clone();
        for &i in &corrupted {
            let old = labels[i];
            let r = rng.below_usize(classes - 1) as u16;
            labels[i] = if r < old { r } else { r + 1 };
        }
        Ok(NoisyLabels {
            dataset: dataset.with_labels(labels)?,
            corrupted,
            original_labels,
        })
    }
}

/// Limited data: which examples of the training set to keep.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Limit {
    /// The first `floor(fraction * n)` examples, in order (the reference
    /// code's choice).
    Prefix {
        /// Fraction kept, in `(0, 1]`.
        fraction: f64,
    },
    /// A seeded class-balanced subset of `floor(fraction * n)` examples:
    /// each class gets `q` or `q + 1` examples, except classes with fewer
    /// than `q` examples, which give all they have (the shortfall is spread
    /// over the other classes). Which classes get the `+ 1` and which
    /// examples of each class are kept are drawn with SplitMix64 seeded with
    /// `(seed, "BALANC")`; the kept examples stay in their original order.
    Balanced {
        /// Fraction kept, in `(0, 1]`.
        fraction: f64,
        /// Seed.
        seed: u64,
    },
}

impl Limit {
    /// Indices of the examples kept, ascending.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if the fraction is outside `[0, 1]` or
    /// keeps no example of a non-empty dataset.
    pub fn indices(&self, dataset: &ImageDataset) -> Result<Vec<usize>> {
        let (fraction, seed) = match *self {
            Limit::Prefix { fraction } => (fraction, None),
            Limit::Balanced { fraction, seed } => (fraction, Some(seed)),
        };
        check_fraction(fraction, "limited-data")?;
        let n = dataset.len();
        let k = floor_count(fraction, n);
        if k == 0 && n > 0 {
            return Err(Error::InvalidArgument(format!(
                "{}: limited-data fraction {fraction} keeps no example of {n}",
                dataset.name()
            )));
        }
        match seed {
            None => Ok((0..k).collect()),
            Some(seed) => Ok(balanced_indices(dataset, k, seed)),
        }
    }

    /// The kept subset.
    ///
    /// # Errors
    /// As [`Limit::indices`].
    pub fn apply(&self, dataset: &ImageDataset) -> Result<ImageDataset> {
        dataset.subset(&self.indices(dataset)?)
    }
}

/// Per-class quotas summing to `k` (`k <= total available`): the largest
/// level `q` with `sum min(avail, q) <= k`, then one more for `k - sum`
/// classes drawn among those with more than `q` available.
fn quotas(avail: &[usize], k: usize, rng: &mut SplitMix64) -> Vec<usize> {
    let level_sum = |q: usize| avail.iter().map(|&a| a.min(q)).sum::<usize>();
    let (mut lo, mut hi) = (0usize, avail.iter().copied().max().unwrap_or(0));
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if level_sum(mid) <= k {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let q = lo;
    let mut quota: Vec<usize> = avail.iter().map(|&a| a.min(q)).collect();
    let mut left = k - level_sum(q);
    let mut open: Vec<usize> = (0..avail.len()).filter(|&c| avail[c] > q).collect();
    rng.partial_shuffle(&mut open, left);
    for &c in &open {
        if left == 0 {
            break;
        }
        quota[c] += 1;
        left -= 1;
    }
    quota
}

fn balanced_indices(dataset: &ImageDataset, k: usize, seed: u64) -> Vec<usize> {
    let mut rng = SplitMix64::from_words(&[seed, BALANCE_STREAM]);
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); dataset.num_classes()];
    for (i, &l) in dataset.labels().iter().enumerate() {
        by_class[usize::from(l)].push(i);
    }
    let avail: Vec<usize> = by_class.iter().map(Vec::len).collect();
    let quota = quotas(&avail, k, &mut rng);
    let mut kept = Vec::with_capacity(k);
    for (members, q) in by_class.iter_mut().zip(quota) {
        rng.partial_shuffle(members, q);
        kept.extend_from_slice(&members[..q]);
    }
    kept.sort_unstable();
    kept
}

/// A training regime: an optional limit, then optional label noise (noise
/// indices refer to the limited set).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Regime {
    /// Limited data, applied first.
    pub limit: Option<Limit>,
    /// Label noise, applied to the limited set.
    pub label_noise: Option<LabelNoise>,
}

impl Regime {
    /// Full data, clean labels.
    pub fn full() -> Self {
        Self::default()
    }

    /// Applies the regime to a training set.
    ///
    /// # Errors
    /// As [`Limit::apply`] and [`LabelNoise::apply`].
    pub fn apply(&self, train: &ImageDataset) -> Result<NoisyLabels> {
        let limited = match &self.limit {
            Some(limit) => limit.apply(train)?,
            None => train.clone(),
        };
        match &self.label_noise {
            Some(noise) => noise.apply(&limited),
            None => Ok(NoisyLabels::clean(limited)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::ImageShape;

    fn ds(labels: Vec<u16>, classes: usize) -> ImageDataset {
        let n = labels.len();
        ImageDataset::new("t", ImageShape::new(1, 1, 1), classes, vec![0u8; n], labels).unwrap()
    }

    #[test]
    fn counts_with_float_tolerance() {
        assert_eq!(ceil_count(0.2, 8000), 1600);
        assert_eq!(ceil_count(0.2, 50000), 10000);
        assert_eq!(ceil_count(0.1, 7), 1);
        assert_eq!(ceil_count(0.0, 7), 0);
        assert_eq!(ceil_count(1.0, 7), 7);
        assert_eq!(floor_count(0.1, 50000), 5000);
        assert_eq!(floor_count(0.1, 73257), 7325);
        assert_eq!(floor_count(0.3, 10), 3);
    }

    #[test]
    fn quotas_water_fill() {
        let mut rng = SplitMix64::new(1);
        let q = quotas(&[100, 2, 100, 100], 20, &mut rng);
        assert_eq!(q.iter().sum::<usize>(), 20);
        assert_eq!(q[1], 2);
        for c in [0, 2, 3] {
            assert!(q[c] == 6, "{q:?}");
        }
        let q = quotas(&[5, 5, 5], 7, &mut rng);
        assert_eq!(q.iter().sum::<usize>(), 7);
        assert!(q.iter().all(|&v| v == 2 || v == 3));
        assert_eq!(quotas(&[3, 0, 4], 7, &mut rng), vec![3, 0, 4]);
    }

    #[test]
    fn noise_needs_two_classes() {
        let d = ds(vec![0; 10], 1);
        assert!(
            LabelNoise {
                fraction: 0.5,
                seed: 0
            }
            .apply(&d)
            .is_err()
        );
        assert!(
            LabelNoise {
                fraction: 0.0,
                seed: 0
            }
            .apply(&d)
            .is_ok()
        );
    }

    #[test]
    fn bad_fractions() {
        let d = ds(vec![0, 1, 0, 1], 2);
        for f in [-0.1, 1.5, f64::NAN] {
            assert!(
                LabelNoise {
                    fraction: f,
                    seed: 0
                }
                .apply(&d)
                .is_err()
            );
            assert!(Limit::Prefix { fraction: f }.apply(&d).is_err());
        }
        assert!(Limit::Prefix { fraction: 0.1 }.apply(&d).is_err());
    }

    #[test]
    fn regime_composes_limit_then_noise() {
        let d = ds((0..100).map(|i| (i % 4) as u16).collect(), 4);
        let r = Regime {
            limit: Some(Limit::Prefix { fraction: 0.5 }),
            label_noise: Some(LabelNoise {
                fraction: 0.2,
                seed: 3,
            }),
        };
        let out = r.apply(&d).unwrap();
        assert_eq!(out.dataset.len(), 50);
        assert_eq!(out.corrupted.len(), 10);
        assert!(out.corrupted.iter().all(|&i| i < 50));
        assert_eq!(&out.original_labels[..], &d.labels()[..50]);
        let full = Regime::full().apply(&d).unwrap();
        assert!(full.corrupted.is_empty());
        assert_eq!(full.dataset.labels(), d.labels());
    }
}
