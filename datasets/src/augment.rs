//! Seeded data augmentation: random crop with zero padding and horizontal
//! flip (the paper's CIFAR recipe: crop 32 with padding 4, then flip).
//!
//! # What determines the random choices
//!
//! The choice for one example depends on exactly three numbers: the
//! augmentation `seed`, the `epoch` and the example's `index` in the dataset
//! given to the loader — never on batch composition, worker threads or the
//! order in which examples are visited. A SplitMix64 stream is seeded with
//! the words `(seed, epoch, index)` ([`Augmentation::choice`]); its first
//! two draws give the vertical then horizontal crop offsets, each uniform in
//! `-p..=p` for padding `p` (no draw when there is no padding), and the next
//! draw's top bit decides the flip (no draw when flipping is off). The
//! [`crate::ImageBatcher`] takes `epoch` from a counter the training loop
//! sets with [`crate::ImageBatcher::set_epoch`].
//!
//! # What a choice does
//!
//! Like torchvision's `RandomCrop(size, padding=p)` then
//! `RandomHorizontalFlip()`: output pixel `(y, x)` of every channel is
//! source pixel `(y + dy, x' + dx)` where `x' = W - 1 - x` if flipped, else
//! `x`, and is 0 (black, before normalisation) when that falls outside the
//! image.

use crate::dataset::ImageShape;
use sam_core::rng::SplitMix64;

/// Random crop and flip settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Augmentation {
    /// Zero padding on each side before a random crop back to the original
    /// size; `None` or `Some(0)` disables cropping.
    pub crop_padding: Option<usize>,
    /// Flip horizontally with probability 1/2.
    pub horizontal_flip: bool,
    /// Seed of the random choices.
    pub seed: u64,
}

/// The random choices for one example: a crop offset and a flip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct AugmentChoice {
    /// Vertical offset of the crop window, in `-p..=p`.
    pub dy: isize,
    /// Horizontal offset of the crop window, in `-p..=p`.
    pub dx: isize,
    /// Whether the image is mirrored left-right.
    pub flip: bool,
}

impl Augmentation {
    /// The CIFAR/SVHN recipe of the paper: padding 4 and flip.
    pub fn cifar(seed: u64) -> Self {
        Self {
            crop_padding: Some(4),
            horizontal_flip: true,
            seed,
        }
    }

    /// Whether this augmentation can change an image at all.
    pub fn is_identity(&self) -> bool {
        self.crop_padding.unwrap_or(0) == 0 && !self.horizontal_flip
    }

    /// The choice for example `index` at `epoch` (see the module docs).
    pub fn choice(&self, epoch: u64, index: usize) -> AugmentChoice {
        let mut rng = SplitMix64::from_words(&[self.seed, epoch, index as u64]);
        let (dy, dx) = match self.crop_padding {
            Some(p) if p > 0 => {
                let span = 2 * p as u64 + 1;
                let dy = rng.below(span) as isize - p as isize;
                let dx = rng.below(span) as isize - p as isize;
                (dy, dx)
            }
            _ => (0, 0),
        };
        let flip = self.horizontal_flip && rng.coin();
        AugmentChoice { dy, dx, flip }
    }

    /// Augments one image (CHW bytes) as example `index` at `epoch`.
    pub fn apply(&self, pixels: &[u8], shape: ImageShape, epoch: u64, index: usize) -> Vec<u8> {
        self.choice(epoch, index).apply(pixels, shape)
    }
}

impl AugmentChoice {
    /// The choice that changes nothing.
    pub const IDENTITY: AugmentChoice = AugmentChoice {
        dy: 0,
        dx: 0,
        flip: false,
    };

    /// For output column `x`, the source column, or `None` in the padding.
    #[inline]
    pub fn source_x(&self, x: usize, width: usize) -> Option<usize> {
        let xc = if self.flip { width - 1 - x } else { x };
        let sx = xc as isize + self.dx;
        (0..width as isize).contains(&sx).then_some(sx as usize)
    }

    /// For output row `y`, the source row, or `None` in the padding.
    #[inline]
    pub fn source_y(&self, y: usize, height: usize) -> Option<usize> {
        let sy = y as isize + self.dy;
        (0..height as isize).contains(&sy).then_some(sy as usize)
    }

    /// Applies the choice to one image (CHW bytes of `shape`), padding with
    /// zeros.
    pub fn apply(&self, pixels: &[u8], shape: ImageShape) -> Vec<u8> {
        let mut out = vec![0u8; shape.numel()];
        self.map_into(pixels, shape, &mut out, 0u8, |v| v);
        out
    }

    /// Writes the augmented image into `out` (length `shape.numel()`),
    /// mapping every source byte through `f` and writing `pad` where the
    /// window leaves the image. This is the single implementation shared by
    /// [`AugmentChoice::apply`] and the batcher (which maps bytes to
    /// normalised `f32` on the way, per channel).
    pub(crate) fn map_into<T: Copy>(
        &self,
        pixels: &[u8],
        shape: ImageShape,
        out: &mut [T],
        pad: T,
        mut f: impl FnMut(u8) -> T,
    ) {
        self.map_into_channels(pixels, shape, out, |_| pad, |_, v| f(v));
    }

    /// As [`AugmentChoice::map_into`] with channel-dependent padding and
    /// mapping.
    pub(crate) fn map_into_channels<T: Copy>(
        &self,
        pixels: &[u8],
        shape: ImageShape,
        out: &mut [T],
        pad: impl Fn(usize) -> T,
        mut f: impl FnMut(usize, u8) -> T,
    ) {
        let (h, w) = (shape.height, shape.width);
        let plane = shape.plane();
        // Output columns whose source column is inside the image:
        // without flip sx = x + dx, with flip sx = w - 1 - x + dx; both give
        // the contiguous range x_lo..x_hi below.
        let shift = if self.flip { -self.dx } else { self.dx };
        let x_lo = (-shift).clamp(0, w as isize) as usize;
        let x_hi = (w as isize - shift).clamp(0, w as isize) as usize;
        let x_hi = x_hi.max(x_lo);
        for c in 0..shape.channels {
            let src = &pixels[c * plane..(c + 1) * plane];
            let dst = &mut out[c * plane..(c + 1) * plane];
            let pad_value = pad(c);
            for y in 0..h {
                let row = &mut dst[y * w..(y + 1) * w];
                let Some(sy) = self.source_y(y, h) else {
                    row.fill(pad_value);
                    continue;
                };
                let src_row = &src[sy * w..(sy + 1) * w];
                row[..x_lo].fill(pad_value);
                row[x_hi..].fill(pad_value);
                if x_lo == x_hi {
                    continue;
                }
                let inner = &mut row[x_lo..x_hi];
                // Source columns of x_lo and x_hi - 1.
                let s_first = self.source_x(x_lo, w).expect("inside");
                let s_last = self.source_x(x_hi - 1, w).expect("inside");
                if self.flip {
                    let s = &src_row[s_last..=s_first];
                    for (o, &v) in inner.iter_mut().zip(s.iter().rev()) {
                        *o = f(c, v);
                    }
                } else {
                    let s = &src_row[s_first..=s_last];
                    for (o, &v) in inner.iter_mut().zip(s) {
                        *o = f(c, v);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHAPE: ImageShape = ImageShape::new(2, 3, 4);

    fn img() -> Vec<u8> {
        (1..=24).collect()
    }

    #[test]
    fn flip_mirrors_rows() {
        let c = AugmentChoice {
            flip: true,
            ..AugmentChoice::IDENTITY
        };
        let out = c.apply(&img(), SHAPE);
        assert_eq!(&out[..4], &[4, 3, 2, 1]);
        assert_eq!(&out[12..16], &[16, 15, 14, 13]);
        assert_eq!(c.apply(&out, SHAPE), img());
    }

    #[test]
    fn crop_shifts_and_pads_with_zero() {
        let c = AugmentChoice {
            dy: 1,
            dx: -1,
            flip: false,
        };
        let out = c.apply(&img(), SHAPE);
        // Row 0 of the output is source row 1 shifted right by one.
        assert_eq!(&out[..4], &[0, 5, 6, 7]);
        assert_eq!(&out[4..8], &[0, 9, 10, 11]);
        assert_eq!(&out[8..12], &[0, 0, 0, 0]);
    }

    #[test]
    fn choices_are_deterministic_and_in_range() {
        let a = Augmentation::cifar(5);
        let mut flips = 0;
        for i in 0..1000 {
            let c = a.choice(3, i);
            assert_eq!(c, a.choice(3, i));
            assert!((-4..=4).contains(&c.dy) && (-4..=4).contains(&c.dx));
            flips += usize::from(c.flip);
        }
        assert!((400..600).contains(&flips), "{flips}");
        assert_ne!(
            (0..20).map(|i| a.choice(3, i)).collect::<Vec<_>>(),
            (0..20).map(|i| a.choice(4, i)).collect::<Vec<_>>()
        );
    }

    /// Straightforward per-pixel definition, to check the row-wise one.
    fn naive(c: &AugmentChoice, pixels: &[u8], shape: ImageShape) -> Vec<u8> {
        let (h, w) = (shape.height, shape.width);
        let mut out = vec![0u8; shape.numel()];
        for ch in 0..shape.channels {
            for y in 0..h {
                for x in 0..w {
                    let xc = if c.flip { w - 1 - x } else { x } as isize;
                    let (sy, sx) = (y as isize + c.dy, xc + c.dx);
                    if (0..h as isize).contains(&sy) && (0..w as isize).contains(&sx) {
                        out[ch * h * w + y * w + x] =
                            pixels[ch * h * w + sy as usize * w + sx as usize];
                    }
                }
            }
        }
        out
    }

    #[test]
    fn row_wise_matches_per_pixel_definition() {
        for (h, w) in [(3, 4), (1, 1), (5, 2), (32, 32)] {
            let shape = ImageShape::new(2, h, w);
            let img: Vec<u8> = (0..shape.numel()).map(|i| (i % 251) as u8 + 1).collect();
            for dy in -6..=6 {
                for dx in -6..=6 {
                    for flip in [false, true] {
                        let c = AugmentChoice { dy, dx, flip };
                        assert_eq!(
                            c.apply(&img, shape),
                            naive(&c, &img, shape),
                            "{c:?} {h}x{w}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn no_padding_no_flip_is_identity() {
        let a = Augmentation {
            crop_padding: Some(0),
            horizontal_flip: false,
            seed: 9,
        };
        assert!(a.is_identity());
        for i in 0..10 {
            assert_eq!(a.choice(0, i), AugmentChoice::IDENTITY);
            assert_eq!(a.apply(&img(), SHAPE, 1, i), img());
        }
    }
}
