//! `usam train --devices`: data-parallel runs on several CPU replicas of the
//! bundled MNIST digits, end to end: outputs written once, replicas that
//! match one device, exact resume, and bad device lists refused before any
//! work.

use std::path::Path;

use crate::common;
use common::{ok, read_json, usam, words};

use experiments::config::TrainConfig;
use experiments::records::{EpochRecord, Summary};

fn history(dir: &Path) -> Vec<EpochRecord> {
    std::fs::read_to_string(dir.join("epochs.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Every float tensor of a run's last checkpoint, in visiting order.
fn weights(dir: &Path) -> Vec<f32> {
    use burn::module::{Module, ModuleVisitor, Param};
    use burn::tensor::{Tensor, backend::Backend};
    struct Collect(Vec<f32>);
    impl<B: Backend> ModuleVisitor<B> for Collect {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<B, D>>) {
            let v = p
                .val()
                .into_data()
                .convert::<f32>()
                .to_vec::<f32>()
                .unwrap();
            self.0.extend(v);
        }
    }
    let (_, _, model) =
        experiments::train::load_run::<burn::backend::Flex>(dir, None, &Default::default())
            .unwrap();
    let mut c = Collect(Vec::new());
    model.visit(&mut c);
    c.0
}

/// One device's weights `a` and two replicas' `b` agree within 1e-4 (see
/// the tolerance note below).
fn assert_close(a: &[f32], b: &[f32], method: &str) {
    assert_eq!(a.len(), b.len());
    let diff = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    assert!(
        diff < 1e-4,
        "{method}: 2 replicas differ from 1 device by {diff}"
    );
}

fn train(out: &Path, extra: &str) {
    let mut args = vec!["train", "--out", out.to_str().unwrap()];
    args.extend(words(
        "--quiet --set steps_per_epoch=10 --set eval_train=false --batch-size 64",
    ));
    args.extend(words(extra));
    ok(&args);
}

/// Two replicas on the host CPU against one device, same global batch of
/// 64: the MNIST MLP has no batch norm, so the steps are the same up to
/// float rounding. Tolerance 1e-4 on weights of order 0.1 after 20 steps:
/// the shards' means are averaged instead of one mean over 64 examples
/// (~1e-7 relative per step), which SGD with momentum carries forward but
/// does not blow up in 20 steps; a lost shard or a missing all-reduce moves
/// the weights by more than 1e-2.
#[test]
fn two_replicas_match_one_device_write_once_and_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let one = tmp.path().join("one");
    let two = tmp.path().join("two");
    let resumed = tmp.path().join("resumed");
    for method in ["sgd", "frob"] {
        let m = format!("--method {method} --epochs 2");
        train(&one, &m);
        train(&two, &format!("{m} --devices 0,1"));

        let b = weights(&two);
        assert_close(&weights(&one), &b, method);

        let h = history(&two);
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].devices, 2);
        let per_device = h[0].images_per_second / 2.0;
        assert!((h[0].images_per_second_per_device - per_device).abs() <= 1e-9 * per_device);
        assert_eq!(history(&one)[0].devices, 1);
        // The global batch is the configured one: 10 steps of 64 images.
        let loss_gap = (h[1].train_loss - history(&one)[1].train_loss).abs();
        assert!(
            loss_gap < 1e-4,
            "{method}: train loss differs by {loss_gap}"
        );

        let text = std::fs::read_to_string(two.join("config.toml")).unwrap();
        assert!(
            text.starts_with("# Data-parallel over 2 devices [0, 1]: the global batch is batch_size = 64, 32 examples per device"),
            "{text}"
        );
        let config = TrainConfig::from_file(&two.join("config.toml")).unwrap();
        assert_eq!(config.devices, vec![0, 1]);
        let summary: Summary = read_json(&two.join("summary.json"));
        assert_eq!(summary.epochs, 2);

        // Interrupted after one epoch, resumed on the same two replicas: the
        // uninterrupted run's weights, bit for bit.
        train(
            &resumed,
            &format!("--method {method} --epochs 1 --devices 0,1"),
        );
        train(
            &resumed,
            &format!("--method {method} --epochs 2 --devices 0,1 --resume"),
        );
        assert_eq!(weights(&resumed), b, "{method}: the resumed run differs");
        assert_eq!(history(&resumed).len(), 2);

        for dir in [&one, &two, &resumed] {
            std::fs::remove_dir_all(dir).unwrap();
        }
    }
}

/// SSAM shares its Fisher examples among the replicas and sums their
/// scores: the mask, and so the run, is one device's.
#[test]
fn ssam_on_two_replicas_keeps_one_devices_mask() {
    let tmp = tempfile::tempdir().unwrap();
    let (one, two) = (tmp.path().join("one"), tmp.path().join("two"));
    train(&one, "--method ssam --epochs 1");
    train(&two, "--method ssam --epochs 1 --devices 0,1");
    assert_close(&weights(&one), &weights(&two), "ssam");
}

#[test]
fn bad_device_lists_are_refused_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("x");
    let d = d.to_str().unwrap();
    let cases: [(&str, &str); 5] = [
        ("--devices 0,0", "device 0 is listed twice"),
        ("--devices 0,4096", "has no device 4096"),
        (
            "--devices 0,1 --batch-size 63",
            "split evenly over the 2 devices",
        ),
        (
            "--devices 0,1 --method ssam --set optimizer.fisher_samples=1",
            "at least one each",
        ),
        ("--devices 0,1 --device 1", "cannot be used with"),
    ];
    for (flags, needle) in cases {
        let mut args = vec!["train", "--out", d, "--quiet"];
        args.extend(words(flags));
        let out = usam(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flags}: {err}");
        assert!(err.contains(needle), "{flags}: `{needle}` not in: {err}");
        assert!(
            !Path::new(d).exists(),
            "{flags}: nothing is created on bad input"
        );
    }
}

/// The scaling benchmark prints one row per method.
#[test]
fn the_scaling_benchmark_prints_figures() {
    let out = ok(&words(
        "bench parallel --model mlp --devices 0,1 --batch 32 --steps 2 --warmup 1 --methods sgd,sam",
    ));
    assert!(
        out.contains("| 1 device ms/step | 2 devices ms/step | speedup | efficiency |"),
        "{out}"
    );
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with("| sgd") || l.starts_with("| sam"))
            .count(),
        2,
        "{out}"
    );
}
