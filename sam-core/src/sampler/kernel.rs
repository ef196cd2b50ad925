//! The arithmetic of the noise: 64-value blocks computed in `f32` lanes.
//!
//! Why blocks: entry `j` of a tensor lies in block `j / 64` at lane
//! `j % 64`. One strong 64-bit hash of `(stream, block)` keys the block, and
//! the 64 lanes are cheap 32-bit hashes of that key, written as fixed-size
//! loops over arrays with no branches and no cross-lane dependencies so that
//! LLVM turns them into SIMD (4 lanes with the baseline SSE2, 8 with AVX2):
//! a per-value 64-bit hash cannot be vectorised without 64-bit multiplies.
//! 64 amortises the scalar block hash, gives each half of a Gaussian block
//! a whole number of 8-lane vectors, and is exactly the 64 sign bits a
//! Rademacher block needs. The Gaussian block pairs lane `i` (radius) with
//! lane `i + 32` (angle), so a pair's two outputs land in two contiguous
//! halves with no shuffling.
//!
//! Every operation here is an integer operation or an IEEE 754 `+ - * sqrt`
//! or integer-to-float conversion, each rounded exactly, in a fixed order and
//! with no fused multiply-add (Rust never contracts `a * b + c`), so the
//! scalar, SSE2 and AVX2 code and every platform produce the same bits.

/// Values per block.
pub(super) const BLOCK: usize = 64;
const HALF: usize = BLOCK / 2;

/// Chris Wellons' `lowbias32` (hash-prospector): a 32-bit bijection with
/// near-ideal avalanche, two multiplies.
#[inline(always)]
fn lowbias32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x21F0_AAAD);
    x ^= x >> 15;
    x = x.wrapping_mul(0x735A_2D97);
    x ^ (x >> 15)
}

/// The 64 lane hashes of the block keyed by `key`: lane `i` is `lowbias32`
/// of the Weyl sequence `start + i * step`, whose start and (odd) step are
/// the key's two halves (the step's low bit forced to 1). Distinct keys
/// give overlapping input sequences only by coincidence (about 2^-63 per
/// pair); within a block the inputs are distinct, so lanes do not collide.
#[inline(always)]
fn lane_hashes(key: u64) -> [u32; BLOCK] {
    let start = key as u32;
    let step = (key >> 32) as u32 | 1;
    let mut h = [0u32; BLOCK];
    for (i, h) in h.iter_mut().enumerate() {
        *h = lowbias32(start.wrapping_add((i as u32).wrapping_mul(step)));
    }
    h
}

const TWO_POW_M23: f32 = 1.0 / 8_388_608.0;
const TWO_POW_M24: f32 = 1.0 / 16_777_216.0;
const TWO_POW_M31: f32 = 1.0 / 2_147_483_648.0;

/// `ln u` for a positive normal `u`, within about 2 ulp: `u = 2^e m` with
/// `m` in `[sqrt(1/2), sqrt(2))`, then Cephes' `logf` polynomial in `m - 1`
/// (no division), with `ln 2` split in two so that `e ln 2` adds no error.
#[inline(always)]
pub(super) fn ln_f32(u: f32) -> f32 {
    let b = u.to_bits();
    let e = (b >> 23) as i32 - 127;
    let m = f32::from_bits((b & 0x007F_FFFF) | 0x3F80_0000); // [1, 2)
    // Branch-free: the comparison is a coin flip on random input.
    let big = m > std::f32::consts::SQRT_2;
    // Both subtractions are exact (Sterbenz).
    let x = if big { 0.5 * m - 1.0 } else { m - 1.0 };
    let e = (e + i32::from(big)) as f32;
    let z = x * x;
    let mut p = 7.037_683_6e-2;
    for c in [
        -1.151_461e-1,
        1.167_699_9e-1,
        -1.242_014_1e-1,
        1.424_932_3e-1,
        -1.666_805_8e-1,
        2.000_071_5e-1,
        -2.499_999_4e-1,
        3.333_333e-1,
    ] {
        p = p * x + c;
    }
    let y = x * z * p + e * -2.121_944_4e-4 - 0.5 * z;
    (x + y) + e * 0.693_359_4 // 355/512 exactly
}

/// `(sin a, cos a)` for `|a| <= pi/4` by Cephes' `sinf`/`cosf` polynomials
/// (within about 1 ulp there).
#[inline(always)]
pub(super) fn sin_cos_f32(a: f32) -> (f32, f32) {
    let z = a * a;
    let s = ((-1.951_529_6e-4 * z + 8.332_161e-3) * z - 1.666_665_5e-1) * z * a + a;
    let c = ((2.443_315_7e-5 * z - 1.388_731_6e-3) * z + 4.166_664_6e-2) * z * z - 0.5 * z + 1.0;
    (s, c)
}

/// Box-Muller on two hashes: `(r cos theta, r sin theta)` with
/// `r = sqrt(-2 ln u)`, `u` uniform on `(0, 1]` from the top 31 bits of
/// `hr` (so `r <= sqrt(64 ln 2) = 6.66`, the tail mass beyond being
/// 2^-32), and `theta` from `ha`: its top two bits pick the quadrant, the
/// next 23 the offset `a` in `(-pi/4, pi/4)` (cell midpoints, so the angle is
/// symmetric), so no range reduction is needed.
#[inline(always)]
pub(super) fn gaussian_pair(hr: u32, ha: u32) -> (f32, f32) {
    // (t + 0.5) 2^-31 with t < 2^31: in (0, 1], never 0.
    let u = ((hr >> 1) as i32 as f32 + 0.5) * TWO_POW_M31;
    let r = (-2.0 * ln_f32(u)).sqrt();
    // An odd integer in (-2^23, 2^23), exact in f32, so t is in (-1/2, 1/2).
    let t = ((((ha >> 6) & 0x00FF_FFFE) | 1) as i32 - 0x0080_0000) as f32 * TWO_POW_M24;
    let (s, c) = sin_cos_f32(t * std::f32::consts::FRAC_PI_2);
    // theta = q pi/2 + a covers the circle uniformly. Quadrants 0..3 give
    // (sin, cos) = (s, c), (c, -s), (-s, -c), (-c, s): swap for odd q,
    // negate both for q >= 2, with selects and a sign-bit XOR rather than
    // (randomly taken, so mispredicted) branches.
    let q = ha >> 30;
    let odd = q & 1 == 1;
    let x = if odd { c } else { s };
    let y = if odd { -s } else { c };
    let flip = (q >> 1) << 31;
    let sin_t = f32::from_bits(x.to_bits() ^ flip);
    let cos_t = f32::from_bits(y.to_bits() ^ flip);
    (r * cos_t, r * sin_t)
}

/// A uniform on `(-scale 2^23, scale 2^23)` from the top 24 bits of `h`:
/// `scale` times an odd integer in `(-2^23, 2^23)` (exact in f32), so the
/// values are the midpoints of `2^23` equal cells, symmetric about 0, and
/// `|value| <= (1 - 2^-23) scale 2^23`.
#[inline(always)]
pub(super) fn cube_value(h: u32, scale: f32) -> f32 {
    (((h >> 8) | 1) as i32 - 0x0080_0000) as f32 * scale
}

/// One block of one sampler's draws.
pub(super) trait Block: Copy {
    /// Writes the 64 values of the block keyed by `key`.
    fn block(self, key: u64, out: &mut [f32; BLOCK]);
}

/// Standard normal draws: lane `i < 32` is `r_i cos theta_i`, lane `i + 32`
/// is `r_i sin theta_i`, from lane hashes `i` (radius) and `i + 32` (angle).
#[derive(Clone, Copy)]
pub(super) struct Gaussian;

impl Block for Gaussian {
    #[inline(always)]
    fn block(self, key: u64, out: &mut [f32; BLOCK]) {
        let h = lane_hashes(key);
        let (cos_half, sin_half) = out.split_at_mut(HALF);
        for i in 0..HALF {
            let (a, b) = gaussian_pair(h[i], h[i + HALF]);
            cos_half[i] = a;
            sin_half[i] = b;
        }
    }
}

/// Uniform draws strictly inside `(-c, c)`, `scale = c 2^-23` (see
/// [`cube_value`]).
#[derive(Clone, Copy)]
pub(super) struct Cube {
    pub scale: f32,
}

impl Cube {
    /// The cube of half width `c` in f32: `c` rounded *down* to f32, so
    /// every draw stays strictly inside `(-c, c)` (the largest,
    /// `(1 - 2^-23) c32`, rounds to at most the f32 below `c32 <= c`).
    pub fn new(half_width: f64) -> Self {
        let mut c = half_width as f32;
        if f64::from(c) > half_width {
            c = c.next_down();
        }
        Cube {
            scale: c * TWO_POW_M23,
        }
    }
}

impl Block for Cube {
    #[inline(always)]
    fn block(self, key: u64, out: &mut [f32; BLOCK]) {
        let h = lane_hashes(key);
        for (o, h) in out.iter_mut().zip(h) {
            *o = cube_value(h, self.scale);
        }
    }
}

/// Fair signs: lane `i` is `-1` if bit `i` of the block key is set, else
/// `+1` (the 64-bit block hash already has 64 independent-looking bits).
#[derive(Clone, Copy)]
pub(super) struct Rademacher;

impl Block for Rademacher {
    #[inline(always)]
    fn block(self, key: u64, out: &mut [f32; BLOCK]) {
        let (lo, hi) = out.split_at_mut(HALF);
        for (half, word) in [(lo, key as u32), (hi, (key >> 32) as u32)] {
            for (i, o) in half.iter_mut().enumerate() {
                let sign = word & (1 << i) != 0;
                *o = if sign { -1.0 } else { 1.0 };
            }
        }
    }
}
