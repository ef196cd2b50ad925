//! A small seeded generator for probe vectors.
//!
//! Probes are drawn on the host so that a seed gives the same vector on every
//! backend (Burn's device generators differ between backends and are global
//! state). xoshiro256++ seeded through SplitMix64, as recommended by its authors.

use sam_core::rng::SplitMix64;

/// Seed of the `index`-th stream derived from `seed` (independent streams for
/// the probes of one estimate).
pub(crate) fn derive_seed(seed: u64, index: u64) -> u64 {
    SplitMix64::new(seed ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03)).next_u64()
}

/// xoshiro256++.
pub(crate) struct Rng {
    s: [u64; 4],
}

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        let mut sm = SplitMix64::new(seed);
        Self {
            s: [sm.next_u64(), sm.next_u64(), sm.next_u64(), sm.next_u64()],
        }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
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

    /// Uniform in (0, 1): 53 random bits, never 0.
    pub(crate) fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
    }

    /// Fills `out` with independent +-1 values.
    pub(crate) fn fill_rademacher(&mut self, out: &mut [f32]) {
        for chunk in out.chunks_mut(64) {
            let bits = self.next_u64();
            for (i, x) in chunk.iter_mut().enumerate() {
                *x = if (bits >> i) & 1 == 1 { 1.0 } else { -1.0 };
            }
        }
    }

    /// Fills `out` with independent standard normal values (Box-Muller).
    pub(crate) fn fill_gaussian(&mut self, out: &mut [f32]) {
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
    fn moments() {
        // 20k samples: the sample mean has std 1/sqrt(20000) ~ 0.007, so 0.03
        // is more than four standard deviations.
        let mut rng = Rng::new(7);
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
}
