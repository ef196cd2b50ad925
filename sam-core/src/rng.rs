//! The workspace's random number generators, small and fully specified.
//!
//! Data regimes, augmentation, shuffling and Hessian probes must give the
//! same result for the same seed on every platform and for every future
//! version, so they do not use `rand`'s `StdRng` (whose algorithm may change
//! between releases) but generators written out here: [`SplitMix64`]
//! (Steele, Lea and Flood 2014) for seeds and short streams, and
//! [`Xoshiro256pp`] (Blackman and Vigna 2021, seeded through SplitMix64 as
//! its authors recommend) for the long streams of Hessian probe vectors.
//! (The perturbation noise has its own counter-based generator,
//! [`crate::sampler`], built for random access.)
//!
//! ```
//! use sam_core::rng::SplitMix64;
//!
//! let mut r = SplitMix64::new(0);
//! assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF); // Vigna's splitmix64.c
//! let u = r.uniform();
//! assert!(u > 0.0 && u < 1.0);
//! assert!(r.below(10) < 10);
//! ```

/// SplitMix64: a 64-bit state advanced by the golden-ratio increment, output
/// passed through the `mix64` finaliser.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

/// The golden-ratio increment of SplitMix64.
pub const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// The SplitMix64 / MurmurHash3-style finaliser: a bijection on `u64` with
/// good avalanche.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl SplitMix64 {
    /// A generator whose first output is `mix64(seed + GOLDEN)`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// A generator seeded from several words: each word is folded in with
    /// `state = mix64(state ^ word) + GOLDEN`, starting from `mix64(0x5EED)`.
    pub fn from_words(words: &[u64]) -> Self {
        let mut state = mix64(0x5EED);
        for &w in words {
            state = mix64(state ^ w).wrapping_add(GOLDEN);
        }
        Self { state }
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        mix64(self.state)
    }

    /// The `stream`-th generator of `seed`: state `seed ^ stream * GOLDEN`,
    /// its first output discarded.
    pub fn stream(seed: u64, stream: u64) -> Self {
        let mut s = Self::new(seed ^ stream.wrapping_mul(GOLDEN));
        s.next_u64();
        s
    }

    /// Uniform in (0, 1): 53 random bits plus one half, never 0 or 1 (safe
    /// under `ln`).
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// A standard normal value (Box-Muller, cosine branch; two uniforms).
    pub fn normal(&mut self) -> f64 {
        (-2.0 * self.uniform().ln()).sqrt() * (std::f64::consts::TAU * self.uniform()).cos()
    }

    /// Uniform integer in `0..n` by rejection sampling on the multiply-high
    /// method (Lemire 2019): exactly uniform. `n = 0` returns 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }

    /// Uniform `usize` in `0..n` (`n = 0` returns 0).
    pub fn below_usize(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// A fair coin.
    pub fn coin(&mut self) -> bool {
        self.next_u64() >> 63 == 1
    }

    /// Moves a uniformly random `k`-subset of `items` to its front (partial
    /// Fisher–Yates: for `i` in `0..k`, swap `i` with a uniform `j` in `i..len`).
    pub fn partial_shuffle<T>(&mut self, items: &mut [T], k: usize) {
        let n = items.len();
        for i in 0..k.min(n) {
            let j = i + self.below_usize(n - i);
            items.swap(i, j);
        }
    }
}

/// Seed of the `index`-th independent stream derived from `seed` (the
/// probes of one Hessian estimate each get one).
pub fn derive_seed(seed: u64, index: u64) -> u64 {
    SplitMix64::new(seed ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03)).next_u64()
}

/// xoshiro256++ (Blackman and Vigna), its state filled by SplitMix64: the
/// generator of Hessian probe vectors (Rademacher and Gaussian, in `f32`).
#[derive(Clone, Debug)]
pub struct Xoshiro256pp {
    s: [u64; 4],
}

impl Xoshiro256pp {
    /// A generator whose state is the first four outputs of
    /// `SplitMix64::new(seed)`.
    pub fn new(seed: u64) -> Self {
        let mut sm = SplitMix64::new(seed);
        Self {
            s: [sm.next_u64(), sm.next_u64(), sm.next_u64(), sm.next_u64()],
        }
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[0]
            .wrapping_add(self.s[3])
            .rotate_left(23)
            .wrapping_add(self.s[0]);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in (0, 1): 53 random bits plus one half, never 0.
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
    }

    /// Fills `out` with independent +-1 values, 64 from each output.
    pub fn fill_rademacher(&mut self, out: &mut [f32]) {
        for chunk in out.chunks_mut(64) {
            let bits = self.next_u64();
            for (i, x) in chunk.iter_mut().enumerate() {
                *x = if (bits >> i) & 1 == 1 { 1.0 } else { -1.0 };
            }
        }
    }

    /// Fills `out` with independent standard normal values (Box-Muller,
    /// both branches).
    pub fn fill_gaussian(&mut self, out: &mut [f32]) {
        for pair in out.chunks_mut(2) {
            let r = (-2.0 * self.uniform().ln()).sqrt();
            let theta = std::f64::consts::TAU * self.uniform();
            pair[0] = (r * theta.cos()) as f32;
            if pair.len() > 1 {
                pair[1] = (r * theta.sin()) as f32;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_reference_values() {
        // Reference output of SplitMix64 seeded with 0 (Vigna's splitmix64.c).
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn below_is_in_range_and_covers() {
        let mut r = SplitMix64::new(7);
        let mut seen = [false; 5];
        for _ in 0..200 {
            let v = r.below(5) as usize;
            seen[v] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }

    proptest::proptest! {
        /// The exact `below` returns what plain multiply-shift would
        /// whenever it accepts (all but ~n / 2^64 of draws), so callers
        /// that used multiply-shift keep their streams.
        #[test]
        fn below_agrees_with_multiply_shift(state in proptest::num::u64::ANY, n in 1u64..1_000_000) {
            let mut a = SplitMix64::new(state);
            let mut b = SplitMix64::new(state);
            let shift = ((u128::from(b.next_u64()) * u128::from(n)) >> 64) as u64;
            proptest::prop_assert_eq!(a.below(n), shift);
        }
    }

    #[test]
    fn stream_and_zero_bound() {
        let mut s = SplitMix64::stream(3, 2);
        let mut r = SplitMix64::new(3 ^ 2u64.wrapping_mul(GOLDEN));
        r.next_u64();
        assert_eq!(s.next_u64(), r.next_u64());
        assert_eq!(s.below(0), 0);
        // 20k uniforms: mean 0.5 with std 1/sqrt(12 * 20000) ~ 0.002, so 0.01
        // is five standard deviations.
        let mean = (0..20_000).map(|_| s.uniform()).sum::<f64>() / 20_000.0;
        assert!((mean - 0.5).abs() < 0.01, "{mean}");
    }

    #[test]
    fn xoshiro_reference_values_and_moments() {
        // xoshiro256++ from the state [1, 2, 3, 4]: the first outputs of
        // Vigna's xoshiro256plusplus.c are 41943041 and 58720359.
        let mut x = Xoshiro256pp { s: [1, 2, 3, 4] };
        assert_eq!(x.next_u64(), 41_943_041);
        assert_eq!(x.next_u64(), 58_720_359);
        // 20k samples: the sample mean has std 1/sqrt(20000) ~ 0.007, so
        // 0.03 is more than four standard deviations; the variance's
        // std is sqrt(2/20000) = 0.01, so 0.05 is five.
        let mut rng = Xoshiro256pp::new(7);
        let mut g = vec![0.0f32; 20_000];
        rng.fill_gaussian(&mut g);
        let mean = g.iter().map(|&x| x as f64).sum::<f64>() / g.len() as f64;
        let var = g.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / g.len() as f64;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
        let mut r = vec![0.0f32; 20_000];
        rng.fill_rademacher(&mut r);
        let mean = r.iter().map(|&x| x as f64).sum::<f64>() / r.len() as f64;
        assert!(mean.abs() < 0.03);
        assert!(r.iter().all(|&x| x == 1.0 || x == -1.0));
    }

    #[test]
    fn partial_shuffle_is_a_permutation() {
        let mut r = SplitMix64::new(1);
        let mut v: Vec<usize> = (0..50).collect();
        r.partial_shuffle(&mut v, 20);
        let mut s = v.clone();
        s.sort_unstable();
        assert_eq!(s, (0..50).collect::<Vec<_>>());
    }
}
