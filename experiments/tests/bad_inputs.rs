//! Bad inputs and faults a new user meets: foreign or damaged checkpoints,
//! files that would be overwritten, odd image shapes, empty data, failed
//! first attempts and changed flags on `--resume`. Each must end in a clear
//! message and lose nothing, with exit code 2 for bad usage and 1 for a run
//! that cannot proceed (never a panic's 101).

use std::path::{Path, PathBuf};

mod common;
use common::{ok, read_json, usam, words};

use datasets::mnist::{FILE_NAMES, write_images, write_labels};

/// Exit code of bad usage (flags, settings, paths).
const USAGE: i32 = 2;
/// Exit code of a run that cannot proceed (its data or files).
const FAILED: i32 = 1;

/// Runs a command that must fail cleanly with `code`; returns its stderr.
fn fails(code: i32, args: &[&str]) -> String {
    let out = usam(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "usam {args:?}: {err}");
    assert!(!err.contains("panicked"), "usam {args:?} panicked: {err}");
    err
}

fn assert_has(text: &str, needles: &[&str]) {
    for n in needles {
        assert!(text.contains(n), "`{n}` not in: {text}");
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A quick training command into `out` (one epoch unless `extra` says),
/// with `extra` flags.
fn train<'a>(out: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args =
        words("train --quiet --batch-size 16 --set steps_per_epoch=2 --set hessian_every=0");
    args.extend(["--out", s(out)]);
    if !extra.contains(&"--epochs") {
        args.extend(["--epochs", "1"]);
    }
    args.extend(extra);
    args
}

fn train_ok(out: &Path, extra: &[&str]) {
    ok(&train(out, extra));
}

fn train_fails(code: i32, out: &Path, extra: &[&str]) -> String {
    fails(code, &train(out, extra))
}

/// Flags that train on the MNIST-format cache `cache`, then `extra`.
fn from_cache<'a>(cache: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--dataset", "mnist", "--data-dir", s(cache)];
    args.extend(extra);
    args
}

/// A quick `hessian` command on `run`, then `extra`.
fn hessian<'a>(run: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["hessian", "--run", s(run)];
    args.extend(words("--samples 32 --probes 2"));
    args.extend(extra);
    args
}

/// Writes an MNIST-format cache directory (`<root>/mnist/` with the four
/// IDX files) of `n_train` and `n_test` images of the given sizes, with
/// pixel values and labels that vary so training has something to fit.
fn idx_cache(root: &Path, train: (usize, usize, usize), test: (usize, usize, usize)) -> PathBuf {
    let dir = root.join("mnist");
    std::fs::create_dir_all(&dir).unwrap();
    let write = |(n, h, w): (usize, usize, usize), images: &str, labels: &str| {
        let pixels: Vec<u8> = (0..n * h * w).map(|i| (i * 37 % 251) as u8).collect();
        let ls: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        std::fs::write(
            dir.join(images.trim_end_matches(".gz")),
            write_images(h, w, &pixels).unwrap(),
        )
        .unwrap();
        std::fs::write(
            dir.join(labels.trim_end_matches(".gz")),
            write_labels(&ls).unwrap(),
        )
        .unwrap();
    };
    write(train, FILE_NAMES[0], FILE_NAMES[1]);
    write(test, FILE_NAMES[2], FILE_NAMES[3]);
    root.to_path_buf()
}

fn model_file(run: &Path) -> PathBuf {
    run.join("model-0001.mpk")
}

/// Item 1: a checkpoint of another model (another variant, or the same
/// variant with other shapes) is a typed error naming the file, for every
/// command that loads one.
#[test]
fn a_foreign_checkpoint_is_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let mlp = tmp.path().join("mlp");
    let cnn = tmp.path().join("cnn");
    train_ok(&mlp, &[]);
    train_ok(&cnn, &["--model", "cnn"]);
    let original = std::fs::read(model_file(&mlp)).unwrap();
    std::fs::copy(model_file(&cnn), model_file(&mlp)).unwrap();
    let file = "model-0001.mpk";
    let needles = [file, "holds a different model"];
    assert_has(&fails(FAILED, &["eval", "--run", s(&mlp)]), &needles);
    assert_has(&fails(FAILED, &hessian(&mlp, &[])), &needles);
    assert_has(
        &train_fails(FAILED, &mlp, &["--resume", "--epochs", "2"]),
        &needles,
    );
    // Nothing was lost: the run continues once its own file is back.
    std::fs::write(model_file(&mlp), &original).unwrap();
    ok(&["eval", "--run", s(&mlp)]);

    // An MLP trained on 32x32 inputs (1,024 of them) in an MNIST MLP run
    // (784): same variant, other shapes.
    let big = tmp.path().join("big");
    let cache = idx_cache(&tmp.path().join("data32"), (40, 32, 32), (20, 32, 32));
    train_ok(&big, &from_cache(&cache, &[]));
    std::fs::copy(model_file(&big), model_file(&mlp)).unwrap();
    let err = fails(FAILED, &["eval", "--run", s(&mlp)]);
    assert_has(&err, &needles);
    assert_has(&err, &["1024"]);
    assert_has(
        &train_fails(FAILED, &mlp, &["--resume", "--epochs", "2"]),
        &needles,
    );
}

/// Item 7: truncated or random checkpoints say "corrupt", not Burn's
/// format text or debug output.
#[test]
fn a_damaged_checkpoint_is_reported_as_corrupt() {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path().join("r");
    train_ok(&r, &[]);
    let bytes = std::fs::read(model_file(&r)).unwrap();
    let junk: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    for damaged in [&bytes[..bytes.len() / 2], &bytes[..7], &junk[..], &[][..]] {
        std::fs::write(model_file(&r), damaged).unwrap();
        for err in [
            fails(FAILED, &["eval", "--run", s(&r)]),
            train_fails(FAILED, &r, &["--resume", "--epochs", "2"]),
        ] {
            assert_has(&err, &["model-0001.mpk", "is corrupt"]);
            for leak in ["0.14.0", "Unknown(", "panicked"] {
                assert!(!err.contains(leak), "`{leak}` leaked into: {err}");
            }
        }
    }
    std::fs::write(model_file(&r), &bytes).unwrap();
    ok(&["eval", "--run", s(&r)]);
}

/// Item 7: `eval` and `hessian` on a directory without a run say so
/// rather than "cannot resume".
#[test]
fn a_missing_run_is_named_as_such() {
    let tmp = tempfile::tempdir().unwrap();
    let absent = tmp.path().join("absent");
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    for dir in [&absent, &empty] {
        for cmd in ["eval", "hessian"] {
            let err = fails(USAGE, &[cmd, "--run", s(dir)]);
            assert_has(&err, &["holds no trained run", s(dir)]);
            assert!(!err.contains("cannot resume"), "{err}");
        }
    }
    assert!(!absent.exists(), "nothing is created");
}

/// Item 2: `hessian --json` never replaces a file unless told to.
#[test]
fn hessian_json_refuses_to_overwrite_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path().join("r");
    train_ok(&r, &[]);
    let json = tmp.path().join("h.json");
    std::fs::write(&json, "precious").unwrap();
    let mut args = hessian(&r, &["--top-k", "1", "--json", s(&json)]);
    assert_has(&fails(USAGE, &args), &["already exists", "--force"]);
    assert_eq!(std::fs::read_to_string(&json).unwrap(), "precious");
    args.push("--force");
    ok(&args);
    let written: serde_json::Value = read_json(&json);
    assert!(written.is_object(), "{written}");
}

/// Items 3 and 7: non-square images size the models from both sides, and
/// `eval`/`hessian` reuse the run's data directory (or take a new one).
#[test]
fn non_square_images_train_and_evaluate() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = idx_cache(&tmp.path().join("d1456"), (48, 14, 56), (16, 14, 56));
    let mlp = tmp.path().join("mlp");
    train_ok(&mlp, &from_cache(&cache, &[]));
    // The CNN's two poolings need multiples of 4: 14 is not, and the
    // message names the real shape.
    let cnn = tmp.path().join("cnn");
    let err = train_fails(FAILED, &cnn, &from_cache(&cache, &["--model", "cnn"]));
    assert_has(&err, &["14x56", "multiples of 4"]);
    assert!(!err.contains("14x14"), "{err}");
    let cache12 = idx_cache(&tmp.path().join("d1256"), (48, 12, 56), (16, 12, 56));
    train_ok(&cnn, &from_cache(&cache12, &["--model", "cnn"]));

    // The stored data directory is reused ...
    ok(&["eval", "--run", s(&mlp)]);
    ok(&hessian(&mlp, &["--top-k", "1"]));
    // ... and a moved one can be named.
    let moved = tmp.path().join("moved");
    std::fs::rename(&cache, &moved).unwrap();
    assert!(
        fails(FAILED, &["eval", "--run", s(&mlp)]).contains("d1456"),
        "the old directory is named"
    );
    ok(&["eval", "--run", s(&mlp), "--data-dir", s(&moved)]);
    ok(&hessian(&mlp, &["--data-dir", s(&moved), "--top-k", "1"]));
}

/// Item 3: training and test images of different shapes are reported as
/// such.
#[test]
fn a_train_test_shape_mismatch_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = idx_cache(&tmp.path().join("d"), (32, 14, 56), (16, 28, 28));
    let out = tmp.path().join("r");
    let err = train_fails(FAILED, &out, &from_cache(&cache, &[]));
    assert_has(&err, &["differ in shape", "1x14x56", "1x28x28"]);
}

/// Items 4 and 5: an empty training set is refused, and the failed attempt
/// leaves `--out` free for the retry.
#[test]
fn an_empty_training_set_is_refused_and_the_retry_works() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = idx_cache(&tmp.path().join("empty"), (0, 28, 28), (16, 28, 28));
    let out = tmp.path().join("r");
    let err = train_fails(FAILED, &out, &from_cache(&empty, &[]));
    assert_has(&err, &["training set", "holds no images"]);
    let left: Vec<_> = std::fs::read_dir(&out)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "the failed run left {left:?}");

    // A fraction that keeps nothing is refused by the regime, by name.
    let err = train_fails(FAILED, &out, &["--data-fraction", "0.00001"]);
    assert_has(&err, &["keeps no example", "0.00001"]);

    // A model that cannot take the images fails before the first
    // checkpoint too; the retry into the same --out then succeeds.
    let err = train_fails(FAILED, &out, &["--model", "vgg16-bn"]);
    assert_has(&err, &["28x28", "multiples of 32"]);
    train_ok(&out, &[]);
    assert!(model_file(&out).is_file());
}

/// Item 6: `--resume` refuses changed settings, listing each, and still
/// accepts the ones a resume may change.
#[test]
fn resume_refuses_changed_settings_and_lists_them() {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path().join("r");
    train_ok(&r, &["--method", "sgd"]);
    let before = std::fs::read(r.join("config.toml")).unwrap();
    let err = train_fails(
        USAGE,
        &r,
        &[
            "--resume", "--epochs", "2", "--method", "sam", "--lr", "0.5",
        ],
    );
    assert_has(
        &err,
        &["--resume", "optimizer.method", "sgd", "sam", "base.lr"],
    );
    assert_eq!(std::fs::read(r.join("config.toml")).unwrap(), before);
    assert!(!r.join("model-0002.mpk").exists(), "nothing was trained");
    // More epochs are a legitimate change.
    train_ok(&r, &["--resume", "--epochs", "2"]);
    assert!(r.join("model-0002.mpk").is_file());
}

/// Item 7: rho 0 and rho < 0 are refused in the same words where they are
/// invalid; SAM takes rho 0 (its step is then the base optimizer's).
#[test]
fn rho_messages_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("x");
    for (method, rho) in [
        ("frob", "0"),
        ("frob", "-0.1"),
        ("sam", "-1"),
        ("det", "nan"),
    ] {
        let err = fails(
            USAGE,
            &["train", "--out", s(&d), "--method", method, "--rho", rho],
        );
        assert_has(
            &err,
            &[
                "invalid configuration: optimizer.rho = ",
                "must be finite and",
            ],
        );
    }
    assert!(!d.exists(), "nothing is created on bad input");
    train_ok(&d, &["--method", "sam", "--rho", "0"]);
}
