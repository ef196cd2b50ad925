//! Images per second through the loader and the batcher.
//!
//! Run with `cargo bench -p datasets --bench loader`. Measures, on the
//! NdArray backend (CPU):
//! * decoding: the bundled MNIST-10k (gunzip + IDX) and a CIFAR-shaped
//!   binary file of 10,000 records written to a temporary directory;
//! * the batcher alone (normalise, augment, build the tensors);
//! * Burn's `DataLoaderBuilder` (batch 128, shuffled) with 1 and N worker
//!   threads, consuming every batch of several epochs.

use std::time::{Duration, Instant};

use burn::backend::NdArray;
use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use datasets::cifar::{self, CifarVariant};
use datasets::{Augmentation, ImageBatch, ImageBatcher, ImageDataset, Normalization, bundled};

type B = NdArray;

const BATCH: usize = 128;

fn rate(images: usize, elapsed: Duration) -> String {
    format!("{:>10.0} images/s", images as f64 / elapsed.as_secs_f64())
}

/// Best of `reps` timed runs of `f`, after one warm-up run.
fn best(reps: usize, mut f: impl FnMut()) -> Duration {
    f(); // warm-up
    let mut best = Duration::MAX;
    for _ in 0..reps {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed());
    }
    best
}

fn bench_loader(label: &str, dataset: &ImageDataset, batcher: &ImageBatcher, workers: usize) {
    let epochs = 3;
    let loader = DataLoaderBuilder::<B, _, ImageBatch<B>>::new(batcher.clone())
        .batch_size(BATCH)
        .shuffle(101)
        .num_workers(workers)
        .build(dataset.clone());
    let images = dataset.len() * epochs;
    let elapsed = best(2, || {
        let mut seen = 0;
        for epoch in 0..epochs {
            batcher.set_epoch(epoch as u64);
            for batch in loader.iter() {
                seen += batch.len();
                std::hint::black_box(&batch.images);
            }
        }
        assert_eq!(seen, images);
    });
    println!(
        "{label:<44} workers={workers:<2} {}  ({} images in {:.3} s)",
        rate(images, elapsed),
        images,
        elapsed.as_secs_f64()
    );
}

fn bench_batcher(label: &str, dataset: &ImageDataset, batcher: &ImageBatcher) {
    let device = Default::default();
    let items: Vec<_> = (0..dataset.len())
        .map(|i| dataset.get(i).unwrap())
        .collect();
    let n = items.len();
    let elapsed = best(3, || {
        for chunk in items.chunks(BATCH) {
            let b: ImageBatch<B> = batcher.batch(chunk.to_vec(), &device);
            std::hint::black_box(&b.images);
        }
    });
    println!("{label:<55} {}", rate(n, elapsed));
}

fn main() {
    let n_workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .max(2);
    println!(
        "datasets loader benchmark (NdArray CPU backend, batch {BATCH}, {} hardware threads)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    // MNIST-10k, bundled.
    let t = Instant::now();
    let split = bundled::mnist_10k().expect("bundled MNIST-10k");
    let decode = t.elapsed();
    println!(
        "decode bundled MNIST-10k (sha256 + gunzip + IDX, 10,000 images) {:>8.1} ms  {}",
        decode.as_secs_f64() * 1e3,
        rate(10_000, decode)
    );
    let mnist_train = split.train;
    let mnist_batcher = ImageBatcher::new(Normalization::mnist());
    bench_batcher(
        "batcher only, MNIST-10k train (no augmentation)",
        &mnist_train,
        &mnist_batcher,
    );
    for workers in [1, n_workers] {
        bench_loader(
            "loader+batcher, MNIST-10k train",
            &mnist_train,
            &mnist_batcher,
            workers,
        );
    }

    // CIFAR-shaped synthetic file, 10,000 records.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("data_batch_1.bin");
    let n = 10_000;
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let pixels: Vec<u8> = (0..n * cifar::IMAGE_BYTES)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 32) as u8
        })
        .collect();
    let labels: Vec<(u8, u8)> = (0..n).map(|i| ((i % 10) as u8, 0)).collect();
    let bytes = cifar::write_records(CifarVariant::Cifar10, &pixels, &labels).expect("records");
    std::fs::write(&path, &bytes).expect("write");
    drop(bytes);
    let t = Instant::now();
    let raw = std::fs::read(&path).expect("read");
    let cifar_ds = cifar::parse(&raw, CifarVariant::Cifar10, "synthetic CIFAR").expect("parse");
    let decode = t.elapsed();
    println!(
        "read + parse CIFAR-shaped file (10,000 records, 30.7 MB)   {:>8.1} ms  {}",
        decode.as_secs_f64() * 1e3,
        rate(n, decode)
    );
    let plain = ImageBatcher::new(Normalization::cifar10());
    let augmented = plain.clone().with_augmentation(Augmentation::cifar(101));
    bench_batcher(
        "batcher only, CIFAR-shaped (no augmentation)",
        &cifar_ds,
        &plain,
    );
    bench_batcher(
        "batcher only, CIFAR-shaped (crop 32 pad 4 + flip)",
        &cifar_ds,
        &augmented,
    );
    for workers in [1, n_workers] {
        bench_loader(
            "loader+batcher, CIFAR-shaped, no augmentation",
            &cifar_ds,
            &plain,
            workers,
        );
    }
    for workers in [1, n_workers] {
        bench_loader(
            "loader+batcher, CIFAR-shaped, crop pad 4 + flip",
            &cifar_ds,
            &augmented,
            workers,
        );
    }
}
