//! Samplers for the perturbation measure mu, and the reproducible noise
//! behind them.
//!
//! The noise is counter-based: entry `j` of a tensor's draw is a pure
//! function of `(sampler, key, j)`, where the [`NoiseKey`] names the seed, the
//! optimizer step, the sample and the tensor. Nothing is stateful, so a tensor
//! can be filled in chunks, in any order, on any number of threads, and the
//! numbers are the same; a step can be replayed from its key alone.
//!
//! The generator hashes `(key, j)` with the `rrmxmx` 64-bit mixer (Pelle
//! Evensen's, built for counter inputs) and turns the bits into numbers with
//! only `+ - * /` and `sqrt`, which IEEE 754 rounds exactly: the
//! logarithm and the sine/cosine of Box-Muller are our own short polynomials
//! rather than the platform's `libm`, so a seed gives bit-identical noise on
//! every platform, and the loop is fast (see `examples/noise_throughput.rs`).

use crate::error::{Result, SamError};

/// The distribution of the perturbation directions `delta`.
///
/// The raw draws of every variant are what [`Sampler::fill_f64`] returns; only
/// [`Sampler::Sphere`] needs a further step by the caller (dividing the whole
/// parameter vector by its norm, see [`Sampler::needs_global_normalisation`]).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Sampler {
    /// Standard normal entries, `delta ~ N(0, I)`.
    Gaussian,
    /// Uniform on the unit sphere of the *whole* parameter vector (all tensors
    /// together). Raw draws are `N(0, 1)`; the caller divides every tensor of
    /// a sample by the global Euclidean norm of that sample's draws.
    Sphere,
    /// The authors' quirk: their code calls this sampler "sphere" but never
    /// normalises, so it is plain `N(0, I)` (the same numbers as
    /// [`Sampler::Gaussian`]). Use it to reproduce their runs.
    ReferenceSphere,
    /// Uniform on the cube `[-half_width, half_width]^d` (Det-SAM's stand-in
    /// for the Lebesgue measure).
    Cube {
        /// Half the side length `c` of the cube; finite and positive.
        half_width: f64,
    },
    /// Independent fair signs, `+1` or `-1`.
    Rademacher,
}

/// Names one stream of noise: entry `j` of tensor `tensor` of perturbation
/// sample `sample` at optimizer step `step`, for the run seeded with `seed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NoiseKey {
    /// The run's seed.
    pub seed: u64,
    /// The optimizer step (fresh noise every step).
    pub step: u64,
    /// The perturbation sample within the step (0-based).
    pub sample: u32,
    /// The parameter tensor, in the model's parameter order (0-based).
    pub tensor: u32,
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
const RRMXMX_MUL: u64 = 0x9FB2_1C65_1E98_DF25;

/// Evensen's `rrmxmx` mixer: a bijection of u64 with strong avalanche, built
/// to give good random bits from counters.
#[inline(always)]
fn mix(mut v: u64) -> u64 {
    v ^= v.rotate_right(49) ^ v.rotate_right(24);
    v = v.wrapping_mul(RRMXMX_MUL);
    v ^= v >> 28;
    v = v.wrapping_mul(RRMXMX_MUL);
    v ^ (v >> 28)
}

impl NoiseKey {
    /// Folds the four fields into one 64-bit stream key. Each field passes
    /// through a mixer, so keys that differ in any field give unrelated
    /// streams.
    #[inline]
    fn stream(&self) -> u64 {
        let k = mix(self.seed.wrapping_add(GOLDEN));
        let k = mix(k ^ self.step);
        mix(k ^ ((u64::from(self.sample) << 32) | u64::from(self.tensor)))
    }
}

/// Random bits of counter `j` in stream `k`. XOR with a multiple of the
/// golden ratio (rather than adding) keeps two streams from ever being
/// shifted copies of each other.
#[inline(always)]
fn bits(k: u64, j: u64) -> u64 {
    mix(k ^ j.wrapping_mul(GOLDEN))
}

const TWO_POW_M53: f64 = 1.0 / 9_007_199_254_740_992.0;

/// Uniform on `(0, 1)`, symmetric about 1/2 (the midpoints of the 2^53 cells).
#[inline(always)]
fn open_unit(h: u64) -> f64 {
    ((h >> 11) as f64 + 0.5) * TWO_POW_M53
}

/// Uniform on `(0, 1]`: never 0, so its logarithm is finite.
#[inline(always)]
fn half_open_unit(h: u64) -> f64 {
    ((h >> 11) as f64 + 1.0) * TWO_POW_M53
}

const LN_2: f64 = std::f64::consts::LN_2;
const SQRT_2: f64 = std::f64::consts::SQRT_2;

/// Natural logarithm of a positive normal `u` with relative error about
/// 1e-16: split `u = 2^e m` with `m` in `[sqrt(1/2), sqrt(2))`, then
/// `ln m = 2 atanh(s)`, `s = (m-1)/(m+1)`, `|s| <= 0.1716`, whose series
/// converges fast enough that 11 terms leave an error below 3e-17.
#[inline(always)]
pub(crate) fn ln_positive(u: f64) -> f64 {
    let b = u.to_bits();
    let mut e = ((b >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((b & 0x000F_FFFF_FFFF_FFFF) | 0x3FF0_0000_0000_0000);
    // Branch-free: the comparison is a coin flip on random input, and a
    // mispredicted branch costs more than the multiply.
    let big = m > SQRT_2;
    m *= if big { 0.5 } else { 1.0 };
    e += i64::from(big);
    let s = (m - 1.0) / (m + 1.0);
    let z = s * s;
    // 1 + z/3 + z^2/5 + ... + z^10/21 by Horner.
    let p = 1.0
        + z * (1.0 / 3.0
            + z * (1.0 / 5.0
                + z * (1.0 / 7.0
                    + z * (1.0 / 9.0
                        + z * (1.0 / 11.0
                            + z * (1.0 / 13.0
                                + z * (1.0 / 15.0
                                    + z * (1.0 / 17.0 + z * (1.0 / 19.0 + z * (1.0 / 21.0))))))))));
    e as f64 * LN_2 + 2.0 * s * p
}

/// `(sin a, cos a)` for `|a| <= pi/4` by Taylor polynomials to degree 15 and
/// 16, whose truncation errors there are below 5e-17 and 2e-18.
#[inline(always)]
pub(crate) fn sin_cos_small(a: f64) -> (f64, f64) {
    const S3: f64 = -1.0 / 6.0;
    const S5: f64 = 1.0 / 120.0;
    const S7: f64 = -1.0 / 5040.0;
    const S9: f64 = 1.0 / 362_880.0;
    const S11: f64 = -1.0 / 39_916_800.0;
    const S13: f64 = 1.0 / 6_227_020_800.0;
    const S15: f64 = -1.0 / 1_307_674_368_000.0;
    const C2: f64 = -1.0 / 2.0;
    const C4: f64 = 1.0 / 24.0;
    const C6: f64 = -1.0 / 720.0;
    const C8: f64 = 1.0 / 40_320.0;
    const C10: f64 = -1.0 / 3_628_800.0;
    const C12: f64 = 1.0 / 479_001_600.0;
    const C14: f64 = -1.0 / 87_178_291_200.0;
    const C16: f64 = 1.0 / 20_922_789_888_000.0;
    let z = a * a;
    let s = a * (1.0 + z * (S3 + z * (S5 + z * (S7 + z * (S9 + z * (S11 + z * (S13 + z * S15)))))));
    let c = 1.0
        + z * (C2 + z * (C4 + z * (C6 + z * (C8 + z * (C10 + z * (C12 + z * (C14 + z * C16)))))));
    (s, c)
}

/// Box-Muller on pair `p` of stream `k`: two independent standard normals,
/// `r cos(theta)` (even entry) and `r sin(theta)` (odd entry). The angle's
/// quadrant comes from the top two bits and its offset within the quadrant
/// from the next 53, so no range reduction is needed.
#[inline(always)]
fn gaussian_pair(k: u64, p: u64) -> (f64, f64) {
    // Wrapping: entries past u64::MAX wrap around rather than panic.
    let h1 = bits(k, p.wrapping_mul(2));
    let h2 = bits(k, p.wrapping_mul(2).wrapping_add(1));
    let r = (-2.0 * ln_positive(half_open_unit(h1))).sqrt();
    let f = ((h2 << 2) >> 11) as f64 * TWO_POW_M53; // [0, 1)
    let a = (f - 0.5) * std::f64::consts::FRAC_PI_2; // [-pi/4, pi/4)
    let (s, c) = sin_cos_small(a);
    // theta = q pi/2 + a covers [-pi/4, 7pi/4) uniformly. Quadrants
    // 0..3 give (sin, cos) = (s, c), (c, -s), (-s, -c), (-c, s): swap for
    // odd q, negate both for q >= 2. Done with selects and a sign-bit XOR
    // instead of a (randomly taken, so mispredicted) branch.
    let q = h2 >> 62;
    let odd = q & 1 == 1;
    let x = if odd { c } else { s };
    let y = if odd { -s } else { c };
    let flip = (q >> 1) << 63;
    let sin_t = f64::from_bits(x.to_bits() ^ flip);
    let cos_t = f64::from_bits(y.to_bits() ^ flip);
    (r * cos_t, r * sin_t)
}

/// Output element of the fill loops (f32 is the f64 value rounded once).
trait Element: Copy {
    fn from_f64(v: f64) -> Self;
}
impl Element for f32 {
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v as f32
    }
}
impl Element for f64 {
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v
    }
}

impl Sampler {
    /// Raw draws for entries `offset .. offset + out.len()` of one tensor.
    ///
    /// Value `j` depends only on `(self, key, j)`, so callers may fill chunks
    /// in parallel, in any order, and get identical results. The values are
    /// exactly those of [`Sampler::fill_f64`] rounded to `f32`.
    ///
    /// Invalid parameters (a cube width that [`Sampler::validate`] rejects)
    /// are not checked here, on the hot path: they scale the output as
    /// written, so validate once up front.
    pub fn fill_f32(&self, key: NoiseKey, offset: u64, out: &mut [f32]) {
        self.fill(key, offset, out);
    }

    /// Raw draws as [`Sampler::fill_f32`], in f64.
    pub fn fill_f64(&self, key: NoiseKey, offset: u64, out: &mut [f64]) {
        self.fill(key, offset, out);
    }

    fn fill<T: Element>(&self, key: NoiseKey, offset: u64, out: &mut [T]) {
        let k = key.stream();
        match *self {
            Sampler::Gaussian | Sampler::Sphere | Sampler::ReferenceSphere => {
                fill_gaussian(k, offset, out)
            }
            Sampler::Cube { half_width } => {
                for (i, o) in out.iter_mut().enumerate() {
                    let j = offset.wrapping_add(i as u64);
                    *o = T::from_f64(half_width * (2.0 * open_unit(bits(k, j)) - 1.0));
                }
            }
            Sampler::Rademacher => {
                for (i, o) in out.iter_mut().enumerate() {
                    let j = offset.wrapping_add(i as u64);
                    let sign = if bits(k, j) >> 63 == 0 { 1.0 } else { -1.0 };
                    *o = T::from_f64(sign);
                }
            }
        }
    }

    /// True only for [`Sampler::Sphere`]: the caller must divide each
    /// sample's draws, across all tensors, by their global Euclidean norm.
    pub fn needs_global_normalisation(&self) -> bool {
        matches!(self, Sampler::Sphere)
    }

    /// Checks the parameters: a cube's half width must be finite and > 0.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Sampler::Cube { half_width } if !(half_width.is_finite() && half_width > 0.0) => {
                Err(SamError::invalid(
                    "half_width",
                    format!("the cube's half width must be finite and > 0, got {half_width}"),
                ))
            }
            _ => Ok(()),
        }
    }

    /// Second moment `E[delta_j^2]` of one raw entry (1 for the Gaussian
    /// family and Rademacher, `c^2/3` for the cube), before any global
    /// normalisation.
    pub fn entry_variance(&self) -> f64 {
        match *self {
            Sampler::Cube { half_width } => half_width * half_width / 3.0,
            _ => 1.0,
        }
    }

    /// A short lower-case name (`gaussian`, `sphere`, `reference-sphere`,
    /// `cube(c)`, `rademacher`).
    pub fn name(&self) -> String {
        match *self {
            Sampler::Gaussian => "gaussian".into(),
            Sampler::Sphere => "sphere".into(),
            Sampler::ReferenceSphere => "reference-sphere".into(),
            Sampler::Cube { half_width } => format!("cube({half_width})"),
            Sampler::Rademacher => "rademacher".into(),
        }
    }
}

/// Gaussian fill: entry `j` is half `j % 2` of pair `j / 2`. A leading odd
/// entry and a trailing even entry compute their whole pair and keep one
/// half, so any chunking gives the same numbers.
fn fill_gaussian<T: Element>(k: u64, offset: u64, out: &mut [T]) {
    let mut start = 0;
    let mut j = offset;
    if j % 2 == 1
        && let Some(first) = out.first_mut()
    {
        *first = T::from_f64(gaussian_pair(k, j / 2).1);
        start = 1;
        j = j.wrapping_add(1);
    }
    let mut pairs = out[start..].chunks_exact_mut(2);
    let mut p = j / 2;
    for pair in &mut pairs {
        let (a, b) = gaussian_pair(k, p);
        pair[0] = T::from_f64(a);
        pair[1] = T::from_f64(b);
        p = p.wrapping_add(1);
    }
    if let [last] = pairs.into_remainder() {
        *last = T::from_f64(gaussian_pair(k, p).0);
    }
}

/// Euclidean norm of `v`, scaled so that no square overflows or underflows.
pub fn norm(v: &[f64]) -> f64 {
    let scale = v.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
    if scale == 0.0 || !scale.is_finite() {
        return scale;
    }
    scale
        * v.iter()
            .map(|x| (x / scale) * (x / scale))
            .sum::<f64>()
            .sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(seed: u64) -> NoiseKey {
        NoiseKey {
            seed,
            step: 3,
            sample: 1,
            tensor: 2,
        }
    }

    #[test]
    fn ln_matches_std_to_a_few_ulps() {
        // The polynomial's truncation error is < 3e-17 relative; rounding in
        // ~15 operations adds a few ulps: 1e-15 relative (plus 1e-16
        // absolute near u = 1, where ln u -> 0) is a tight bound.
        let mut worst = 0.0_f64;
        for i in 0..200_000u64 {
            let u = half_open_unit(bits(12345, i));
            let got = ln_positive(u);
            let want = u.ln();
            let err = (got - want).abs() / (want.abs() + 1e-1);
            worst = worst.max(err);
        }
        for u in [TWO_POW_M53, 0.5, SQRT_2 / 2.0, 1.0, 1e-300, 3.0] {
            assert!(
                (ln_positive(u) - u.ln()).abs() <= 1e-15 * (u.ln().abs() + 1e-1),
                "u={u}"
            );
        }
        assert!(worst < 1e-15, "worst relative error {worst}");
    }

    #[test]
    fn sin_cos_match_std() {
        // Truncation < 5e-17 on |a| <= pi/4 plus rounding: 4e-16 absolute.
        for i in 0..=10_000 {
            let a = (i as f64 / 10_000.0 - 0.5) * std::f64::consts::FRAC_PI_2;
            let (s, c) = sin_cos_small(a);
            assert!((s - a.sin()).abs() < 4e-16, "sin {a}");
            assert!((c - a.cos()).abs() < 4e-16, "cos {a}");
        }
    }

    #[test]
    fn gaussian_pair_lies_on_its_circle() {
        // r^2 = -2 ln u1 must be recovered from the two outputs (round-off
        // only: 1e-13 relative).
        for p in 0..1000 {
            let (a, b) = gaussian_pair(99, p);
            let r2 = -2.0 * half_open_unit(bits(99, 2 * p)).ln();
            assert!((a * a + b * b - r2).abs() <= 1e-13 * r2.max(1e-3));
        }
    }

    #[test]
    fn f32_is_f64_rounded() {
        for s in [
            Sampler::Gaussian,
            Sampler::Cube { half_width: 0.3 },
            Sampler::Rademacher,
        ] {
            let mut a = vec![0.0f64; 257];
            let mut b = vec![0.0f32; 257];
            s.fill_f64(key(1), 5, &mut a);
            s.fill_f32(key(1), 5, &mut b);
            for (x, y) in a.iter().zip(&b) {
                assert_eq!(*x as f32, *y);
            }
        }
    }

    #[test]
    fn gaussian_family_shares_numbers_and_only_sphere_normalises() {
        let mut g = vec![0.0; 33];
        let mut s = vec![0.0; 33];
        let mut r = vec![0.0; 33];
        Sampler::Gaussian.fill_f64(key(7), 0, &mut g);
        Sampler::Sphere.fill_f64(key(7), 0, &mut s);
        Sampler::ReferenceSphere.fill_f64(key(7), 0, &mut r);
        assert_eq!(g, s);
        assert_eq!(g, r);
        assert!(Sampler::Sphere.needs_global_normalisation());
        for other in [
            Sampler::Gaussian,
            Sampler::ReferenceSphere,
            Sampler::Rademacher,
            Sampler::Cube { half_width: 1.0 },
        ] {
            assert!(!other.needs_global_normalisation());
        }
    }

    #[test]
    fn validate_rejects_bad_cubes() {
        for c in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                Sampler::Cube { half_width: c }.validate(),
                Err(SamError::InvalidParameter {
                    name: "half_width",
                    ..
                })
            ));
        }
        assert_eq!(Sampler::Cube { half_width: 0.01 }.validate(), Ok(()));
        assert_eq!(Sampler::Gaussian.validate(), Ok(()));
    }

    #[test]
    fn keys_differing_in_one_field_give_different_streams() {
        let base = key(5);
        let variants = [
            NoiseKey { seed: 6, ..base },
            NoiseKey { step: 4, ..base },
            NoiseKey { sample: 2, ..base },
            NoiseKey { tensor: 3, ..base },
            // Swapping sample and tensor must not collide either.
            NoiseKey {
                sample: base.tensor,
                tensor: base.sample,
                ..base
            },
        ];
        let mut a = vec![0.0; 64];
        Sampler::Gaussian.fill_f64(base, 0, &mut a);
        for v in variants {
            let mut b = vec![0.0; 64];
            Sampler::Gaussian.fill_f64(v, 0, &mut b);
            assert!(a.iter().zip(&b).all(|(x, y)| x != y), "{v:?}");
        }
    }

    #[test]
    fn norm_is_scaled() {
        assert_eq!(norm(&[3.0, 4.0]), 5.0);
        assert_eq!(norm(&[0.0, 0.0]), 0.0);
        assert_eq!(norm(&[]), 0.0);
        // Naive sum of squares would overflow to inf here.
        assert!((norm(&[3e200, 4e200]) / 5e200 - 1.0).abs() < 1e-15);
    }

    fn any_sampler() -> impl Strategy<Value = Sampler> {
        prop_oneof![
            Just(Sampler::Gaussian),
            Just(Sampler::Sphere),
            Just(Sampler::ReferenceSphere),
            (0.001f64..10.0).prop_map(|half_width| Sampler::Cube { half_width }),
            Just(Sampler::Rademacher),
        ]
    }

    proptest! {
        /// Filling in chunks (any split points, odd offsets included) gives
        /// exactly the numbers of one whole fill.
        #[test]
        fn chunked_fill_equals_whole_fill(
            sampler in any_sampler(),
            seed in any::<u64>(),
            offset in 0u64..1_000_000,
            len in 0usize..200,
            cuts in proptest::collection::vec(0usize..200, 0..6),
        ) {
            let k = NoiseKey { seed, step: 1, sample: 0, tensor: 0 };
            let mut whole = vec![0.0f32; len];
            sampler.fill_f32(k, offset, &mut whole);
            let mut points: Vec<usize> = cuts.into_iter().map(|c| c.min(len)).collect();
            points.push(0);
            points.push(len);
            points.sort_unstable();
            let mut chunked = vec![0.0f32; len];
            // Fill the chunks in reverse order to show order does not matter.
            for w in points.windows(2).rev() {
                sampler.fill_f32(k, offset + w[0] as u64, &mut chunked[w[0]..w[1]]);
            }
            prop_assert_eq!(whole, chunked);
        }

        /// Every draw is finite and inside the sampler's support.
        #[test]
        fn draws_are_in_support(sampler in any_sampler(), seed in any::<u64>(), offset in any::<u64>()) {
            let k = NoiseKey { seed, step: 0, sample: 0, tensor: 0 };
            let mut v = vec![0.0; 64];
            sampler.fill_f64(k, offset, &mut v);
            for x in v {
                prop_assert!(x.is_finite());
                match sampler {
                    Sampler::Cube { half_width } => prop_assert!(x.abs() < half_width),
                    Sampler::Rademacher => prop_assert!(x == 1.0 || x == -1.0),
                    // sqrt(-2 ln 2^-53) = 8.57 is the largest radius.
                    _ => prop_assert!(x.abs() <= 8.58),
                }
            }
        }
    }
}
