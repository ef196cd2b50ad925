//! Measures the throughput of the counter-based noise (the hot path of
//! every universal-SAM step): `cargo run --release -p sam-core --example
//! noise_throughput`. Prints the best and the median of 9 fills of 4 Mi
//! `f32` values per sampler, single-threaded.

use sam_core::sampler::{NoiseKey, Sampler};
use std::time::Instant;

fn main() {
    let len = 1 << 22;
    let mut out = vec![0.0f32; len];
    // Touch every page first, so no timing pays for the page faults.
    out.fill(1.0);
    let samplers = [
        Sampler::Gaussian,
        Sampler::Cube { half_width: 0.01 },
        Sampler::Rademacher,
    ];
    #[cfg(target_arch = "x86_64")]
    println!(
        "SIMD path: {}",
        if std::arch::is_x86_feature_detected!("avx2") {
            "AVX2 (8 lanes)"
        } else {
            "baseline (SSE2, 4 lanes)"
        }
    );
    println!("{:<12} {:>12} {:>12}", "sampler", "best ns/val", "median");
    for sampler in samplers {
        let mut times: Vec<f64> = (0..9)
            .map(|step| {
                let key = NoiseKey {
                    seed: 1,
                    step,
                    sample: 0,
                    tensor: 0,
                };
                let t = Instant::now();
                sampler.fill_f32(key, 0, &mut out);
                t.elapsed().as_secs_f64() * 1e9 / len as f64
            })
            .collect();
        times.sort_by(f64::total_cmp);
        // Keep the work observable so it is not optimised away.
        let checksum: f32 = out.iter().step_by(4096).sum();
        println!(
            "{:<12} {:>12.2} {:>12.2}   (checksum {checksum:.3})",
            sampler.name(),
            times[0],
            times[times.len() / 2]
        );
    }
}
