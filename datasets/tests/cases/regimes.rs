//! Label noise and limited data on the bundled MNIST-10k.

use datasets::{ImageDataset, ImageShape, LabelNoise, Limit, Regime, bundled};

fn train() -> ImageDataset {
    bundled::mnist_10k().unwrap().train
}

#[test]
fn noise_changes_exactly_ceil_fraction_labels() {
    let d = train();
    for (fraction, expected) in [
        (0.2, 1600),
        (0.0, 0),
        (1.0, 8000),
        (0.123, 984),
        (0.00001, 1),
    ] {
        let noisy = LabelNoise { fraction, seed: 7 }.apply(&d).unwrap();
        assert_eq!(noisy.corrupted.len(), expected, "fraction {fraction}");
        // Sorted, unique, in range.
        assert!(noisy.corrupted.windows(2).all(|w| w[0] < w[1]));
        assert!(noisy.corrupted.iter().all(|&i| i < d.len()));
        // Every corrupted label differs; every other label is unchanged.
        let mask = noisy.corrupted_mask();
        assert_eq!(mask.len(), d.len());
        for (i, &corrupted) in mask.iter().enumerate() {
            let (new, old) = (noisy.dataset.labels()[i], d.labels()[i]);
            assert_eq!(noisy.original_labels[i], old);
            if corrupted {
                assert_ne!(new, old, "index {i}");
                assert!(usize::from(new) < 10);
            } else {
                assert_eq!(new, old, "index {i}");
            }
        }
        // Pixels untouched.
        assert_eq!(noisy.dataset.pixels(), d.pixels());
    }
}

#[test]
fn noise_is_deterministic_per_seed_and_differs_across_seeds() {
    let d = train();
    let a = LabelNoise {
        fraction: 0.2,
        seed: 101,
    }
    .apply(&d)
    .unwrap();
    let b = LabelNoise {
        fraction: 0.2,
        seed: 101,
    }
    .apply(&d)
    .unwrap();
    let c = LabelNoise {
        fraction: 0.2,
        seed: 102,
    }
    .apply(&d)
    .unwrap();
    assert_eq!(a.corrupted, b.corrupted);
    assert_eq!(a.dataset.labels(), b.dataset.labels());
    assert_ne!(a.corrupted, c.corrupted);
    assert_ne!(a.dataset.labels(), c.dataset.labels());
}

#[test]
fn noisy_labels_are_uniform_over_the_other_classes() {
    // 10 classes, all labels 0: the new labels should be spread evenly over
    // 1..=9 (chi-square with 8 degrees of freedom, 99.9% quantile 26.1).
    let n = 9000;
    let d = ImageDataset::new(
        "zeros",
        ImageShape::new(1, 1, 1),
        10,
        vec![0u8; n],
        vec![0; n],
    )
    .unwrap();
    let noisy = LabelNoise {
        fraction: 1.0,
        seed: 3,
    }
    .apply(&d)
    .unwrap();
    let counts = noisy.dataset.class_counts();
    assert_eq!(counts[0], 0);
    let expected = n as f64 / 9.0;
    let chi2: f64 = counts[1..]
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum();
    assert!(chi2 < 26.1, "{counts:?} chi2 {chi2}");
    // Corrupted positions are spread over the whole set, not a prefix.
    let noisy = LabelNoise {
        fraction: 0.1,
        seed: 3,
    }
    .apply(&d)
    .unwrap();
    let first_half = noisy.corrupted.iter().filter(|&&i| i < n / 2).count();
    assert!((350..550).contains(&first_half), "{first_half}");
}

#[test]
fn prefix_limit_takes_the_first_examples() {
    let d = train();
    let limited = Limit::Prefix { fraction: 0.1 }.apply(&d).unwrap();
    assert_eq!(limited.len(), 800);
    assert_eq!(limited.labels(), &d.labels()[..800]);
    assert_eq!(limited.pixels(), &d.pixels()[..800 * 784]);
    assert_eq!(
        Limit::Prefix { fraction: 1.0 }.indices(&d).unwrap().len(),
        8000
    );
}

#[test]
fn balanced_limit_is_balanced_deterministic_and_seeded() {
    let d = train();
    for fraction in [0.1, 0.0125, 0.33] {
        let limit = Limit::Balanced { fraction, seed: 5 };
        let idx = limit.indices(&d).unwrap();
        let k = (fraction * 8000.0 + 1e-9).floor() as usize;
        assert_eq!(idx.len(), k);
        assert!(idx.windows(2).all(|w| w[0] < w[1]));
        let subset = limit.apply(&d).unwrap();
        let counts = subset.class_counts();
        let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
        assert!(max - min <= 1, "{fraction}: {counts:?}");
        for (j, &i) in idx.iter().enumerate() {
            assert_eq!(subset.image(j), d.image(i));
            assert_eq!(subset.label(j), d.label(i));
        }
        assert_eq!(limit.indices(&d).unwrap(), idx);
        assert_ne!(
            Limit::Balanced { fraction, seed: 6 }.indices(&d).unwrap(),
            idx
        );
    }
}

#[test]
fn balanced_limit_with_a_rare_class() {
    // Class 2 has only 3 examples: it gives all of them, the others share
    // the rest within one of each other.
    let mut labels = Vec::new();
    labels.extend(std::iter::repeat_n(0u16, 50));
    labels.extend(std::iter::repeat_n(1u16, 50));
    labels.extend(std::iter::repeat_n(2u16, 3));
    labels.extend(std::iter::repeat_n(3u16, 50));
    let n = labels.len();
    let d = ImageDataset::new("rare", ImageShape::new(1, 1, 1), 4, vec![0u8; n], labels).unwrap();
    let subset = Limit::Balanced {
        fraction: 0.2,
        seed: 1,
    }
    .apply(&d)
    .unwrap();
    let counts = subset.class_counts();
    assert_eq!(subset.len(), 30);
    assert_eq!(counts[2], 3);
    assert_eq!(counts, vec![9, 9, 3, 9]);
}

#[test]
fn regimes_compose() {
    let d = train();
    let regime = Regime {
        limit: Some(Limit::Balanced {
            fraction: 0.1,
            seed: 1,
        }),
        label_noise: Some(LabelNoise {
            fraction: 0.2,
            seed: 1,
        }),
    };
    let out = regime.apply(&d).unwrap();
    assert_eq!(out.dataset.len(), 800);
    assert_eq!(out.corrupted.len(), 160);
    let again = regime.apply(&d).unwrap();
    assert_eq!(again.corrupted, out.corrupted);
    assert_eq!(again.dataset.labels(), out.dataset.labels());
}
