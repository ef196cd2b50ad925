//! A tiny, fully specified random number generator.
//!
//! Regimes and augmentation must give the same result for the same seed on
//! every platform and for every future version of this crate, so they do not
//! use `rand`'s `StdRng` (whose algorithm may change between releases) but
//! SplitMix64 (Steele, Lea and Flood 2014), written out here.

/// SplitMix64: a 64-bit state advanced by the golden-ratio increment, output
/// passed through the `mix64` finaliser.
#[derive(Clone, Debug)]
pub(crate) struct SplitMix64 {
    state: u64,
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// The SplitMix64 / MurmurHash3-style finaliser: a bijection on `u64` with
/// good avalanche.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl SplitMix64 {
    /// A generator whose first output is `mix64(seed + GOLDEN)`.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// A generator seeded from several words: each word is folded in with
    /// `state = mix64(state ^ word) + GOLDEN`, starting from `mix64(0x5EED)`.
    pub(crate) fn from_words(words: &[u64]) -> Self {
        let mut state = mix64(0x5EED);
        for &w in words {
            state = mix64(state ^ w).wrapping_add(GOLDEN);
        }
        Self { state }
    }

    /// Next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        mix64(self.state)
    }

    /// Uniform integer in `0..n` (`n > 0`) by rejection sampling on the
    /// multiply-high method (Lemire 2019): exactly uniform.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }

    /// Uniform `usize` in `0..n` (`n > 0`).
    pub(crate) fn below_usize(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// A fair coin.
    pub(crate) fn coin(&mut self) -> bool {
        self.next_u64() >> 63 == 1
    }

    /// Moves a uniformly random `k`-subset of `items` to its front (partial
    /// Fisher–Yates: for `i` in `0..k`, swap `i` with a uniform `j` in `i..len`).
    pub(crate) fn partial_shuffle<T>(&mut self, items: &mut [T], k: usize) {
        let n = items.len();
        for i in 0..k.min(n) {
            let j = i + self.below_usize(n - i);
            items.swap(i, j);
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
