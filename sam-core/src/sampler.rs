//! Samplers for the perturbation measure mu, and the reproducible noise
//! behind them.
//!
//! The noise is counter-based: entry `j` of a tensor's draw is a pure
//! function of `(sampler, key, j)`, where the [`NoiseKey`] names the seed, the
//! optimizer step, the sample and the tensor. Nothing is stateful, so a tensor
//! can be filled in chunks, in any order, on any number of threads, and the
//! numbers are the same; a step can be replayed from its key alone.
//!
//! The entries of a tensor come in blocks of 64: block `b = j / 64` is keyed
//! by the `rrmxmx` 64-bit mixer (Pelle Evensen's, built for counter inputs)
//! of `(key, b)`, and its 64 lanes by a 32-bit hash of that block key. The
//! numbers are computed in `f32` with only integer operations and IEEE 754
//! `+ - *`, `sqrt` and int-to-float conversions, each exactly rounded, in a
//! fixed order and without fused multiply-add: the logarithm and the
//! sine/cosine of Box-Muller are short polynomials rather than the platform's
//! `libm`. So a seed gives bit-identical noise on every platform, and the
//! block loops vectorise (see `examples/noise_throughput.rs`): the same code
//! is compiled for the baseline target and, chosen at run time, for AVX2,
//! and both give the same bits. [`Sampler::fill_f64`] returns exactly the
//! values of [`Sampler::fill_f32`], widened.

mod kernel;
mod text;

use crate::error::{Result, SamError};
use crate::rng::GOLDEN;
use kernel::{BLOCK, Block};

/// Smallest cube half width: below `2^-100` the f32 draw scale `c 2^-23`
/// turns subnormal and draws could round onto the cube's boundary.
pub const MIN_CUBE_HALF_WIDTH: f64 = 7.888609052210118e-31; // 2^-100

/// Largest cube half width: the draws are f32.
pub const MAX_CUBE_HALF_WIDTH: f64 = f32::MAX as f64;

/// The distribution of the perturbation directions `delta`.
///
/// The raw draws of every variant are what [`Sampler::fill_f64`] returns; only
/// [`Sampler::Sphere`] needs a further step by the caller (dividing the whole
/// parameter vector by its norm, see [`Sampler::needs_global_normalisation`]).
/// Written and parsed as text (`gaussian`, `cube:0.01`, ...; see its
/// `FromStr`), which is also its serde form.
#[derive(Debug, Clone, Copy, PartialEq)]
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

/// Random bits of counter `j` in stream `k` (here: the key of block `j`).
/// XOR with a multiple of the golden ratio (rather than adding) keeps two
/// streams from ever being shifted copies of each other.
#[inline(always)]
fn bits(k: u64, j: u64) -> u64 {
    mix(k ^ j.wrapping_mul(GOLDEN))
}

/// Entries per `f32` buffer when [`Sampler::fill_f64`] widens.
const WIDEN_CHUNK: usize = 4 * BLOCK;

impl Sampler {
    /// Raw draws for entries `offset .. offset + out.len()` of one tensor.
    ///
    /// Value `j` depends only on `(self, key, j)`, so callers may fill chunks
    /// in parallel, in any order, and get identical results (entries past
    /// `u64::MAX` wrap around to entry 0). The values are:
    ///
    /// - Gaussian family: standard normals by Box-Muller, with `|z| <= 6.66`
    ///   (the radius comes from a 31-bit uniform, so the tail mass cut off
    ///   is 2^-32); entries `64b + i` and `64b + 32 + i` (`i < 32`) are the
    ///   two halves of one pair;
    /// - Cube: uniform on the midpoints of `2^23` equal cells of `(-c, c)`,
    ///   where `c` is the half width rounded down to `f32`, so every draw is
    ///   strictly inside the cube;
    /// - Rademacher: exactly `1.0` or `-1.0`.
    ///
    /// Invalid parameters (a cube width that [`Sampler::validate`] rejects)
    /// are not checked here, on the hot path: they scale the output as
    /// written, so validate once up front.
    pub fn fill_f32(&self, key: NoiseKey, offset: u64, out: &mut [f32]) {
        self.fill_stream(key.stream(), offset, out);
    }

    /// Raw draws as [`Sampler::fill_f32`], widened to f64 (exactly the same
    /// numbers: the f64 reference optimizers see the noise of the tensors).
    pub fn fill_f64(&self, key: NoiseKey, offset: u64, out: &mut [f64]) {
        let stream = key.stream();
        let mut buf = [0.0f32; WIDEN_CHUNK];
        let mut j = offset;
        for chunk in out.chunks_mut(WIDEN_CHUNK) {
            let buf = &mut buf[..chunk.len()];
            self.fill_stream(stream, j, buf);
            for (o, v) in chunk.iter_mut().zip(buf.iter()) {
                *o = f64::from(*v);
            }
            j = j.wrapping_add(chunk.len() as u64);
        }
    }

    /// [`Sampler::fill_f32`] for a folded stream key.
    fn fill_stream(&self, stream: u64, offset: u64, out: &mut [f32]) {
        match *self {
            Sampler::Gaussian | Sampler::Sphere | Sampler::ReferenceSphere => {
                fill_dispatch(kernel::Gaussian, stream, offset, out)
            }
            Sampler::Cube { half_width } => {
                fill_dispatch(kernel::Cube::new(half_width), stream, offset, out)
            }
            Sampler::Rademacher => fill_dispatch(kernel::Rademacher, stream, offset, out),
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
            Sampler::Cube { half_width }
                if !(MIN_CUBE_HALF_WIDTH..=MAX_CUBE_HALF_WIDTH).contains(&half_width) =>
            {
                Err(SamError::invalid(
                    "half_width",
                    format!(
                        "the cube's half width must lie in [{MIN_CUBE_HALF_WIDTH:e}, {MAX_CUBE_HALF_WIDTH:e}] \
                         (draws are f32), got {half_width}"
                    ),
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

/// Runs [`fill_blocks`] compiled for AVX2 where the CPU has it, else the
/// portable build. Same source, same IEEE operations, so the same bits; AVX2
/// doubles the lanes and multiplies 32-bit lanes natively (SSE2 emulates
/// that with shuffles), which makes the Gaussian fill about 3.5x faster.
#[inline]
fn fill_dispatch<B: Block>(sampler: B, stream: u64, offset: u64, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: `fill_avx2` only requires AVX2, which the CPU was just
        // found to support.
        unsafe { fill_avx2(sampler, stream, offset, out) };
        return;
    }
    fill_blocks(sampler, stream, offset, out);
}

/// [`fill_blocks`] compiled with AVX2 enabled (no FMA: the bits must not
/// depend on the path).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn fill_avx2<B: Block>(sampler: B, stream: u64, offset: u64, out: &mut [f32]) {
    fill_blocks(sampler, stream, offset, out);
}

/// Writes entries `offset ..` of the stream: whole blocks straight into
/// `out`, a partial block at either end through a scratch block (so any
/// chunking gives the same numbers).
#[inline(always)]
fn fill_blocks<B: Block>(sampler: B, stream: u64, offset: u64, out: &mut [f32]) {
    const B64: u64 = BLOCK as u64;
    let mut pos = 0;
    while pos < out.len() {
        let j = offset.wrapping_add(pos as u64);
        let lane = (j % B64) as usize;
        let key = bits(stream, j / B64);
        let rest = &mut out[pos..];
        if let (0, Some(whole)) = (lane, rest.first_chunk_mut::<BLOCK>()) {
            sampler.block(key, whole);
            pos += BLOCK;
        } else {
            let n = (BLOCK - lane).min(rest.len());
            let mut scratch = [0.0; BLOCK];
            sampler.block(key, &mut scratch);
            rest[..n].copy_from_slice(&scratch[lane..lane + n]);
            pos += n;
        }
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
mod tests;
