//! Measures the throughput of the counter-based noise (the hot path of
//! every universal-SAM step): `cargo run --release -p sam-core --example
//! noise_throughput`.

use sam_core::sampler::{NoiseKey, Sampler};
use std::time::Instant;

fn main() {
    let len = 1 << 22;
    let mut out = vec![0.0f32; len];
    let samplers = [
        Sampler::Gaussian,
        Sampler::Cube { half_width: 0.01 },
        Sampler::Rademacher,
    ];
    println!("{:<12} {:>12}", "sampler", "ns/value");
    for sampler in samplers {
        let mut best = f64::INFINITY;
        for step in 0..5 {
            let key = NoiseKey {
                seed: 1,
                step,
                sample: 0,
                tensor: 0,
            };
            let t = Instant::now();
            sampler.fill_f32(key, 0, &mut out);
            best = best.min(t.elapsed().as_secs_f64());
        }
        // Keep the work observable so it is not optimised away.
        let checksum: f32 = out.iter().step_by(4096).sum();
        println!(
            "{:<12} {:>12.2}   (checksum {checksum:.3})",
            sampler.name(),
            best * 1e9 / len as f64
        );
    }
}
