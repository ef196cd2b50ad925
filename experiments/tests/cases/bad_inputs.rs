//! Bad inputs and faults a new user meets: foreign or damaged checkpoints,
//! files that would be overwritten, odd image shapes, empty data, failed
//! first attempts and changed flags on `--resume`. Each must end in a clear
//! message and lose nothing, with exit code 2 for bad usage and 1 for a run
//! that cannot proceed (never a panic's 101).

use std::path::{Path, PathBuf};

use crate::common;
use common::{ok, read_json, usam, wait_for, words};

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
    let mut args = words("train --quiet --set steps_per_epoch=2 --set hessian_every=0");
    args.extend(["--out", s(out)]);
    if !extra.contains(&"--batch-size") {
        args.extend(["--batch-size", "16"]);
    }
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

/// Two writers on one run directory: the second fails at once (exit 1)
/// naming the holder, whatever it was asked to do; once the holder is
/// killed, its lock is taken over with a note and the run resumes.
#[test]
fn a_second_writer_is_locked_out_and_a_dead_ones_lock_is_taken_over() {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path().join("r");
    // Long enough to be caught at work (it is killed below).
    let mut first = std::process::Command::new(env!("CARGO_BIN_EXE_usam"))
        .args(words("train --quiet --epochs 1000 --set steps_per_epoch=60 --set hessian_every=0 --set eval_train=false --out"))
        .arg(&r)
        .spawn()
        .unwrap();
    wait_for(&r.join("state.json"));
    let holder = format!("pid {}", first.id());
    for args in [
        train(&r, &["--epochs", "2"]),
        train(&r, &["--resume", "--epochs", "50"]),
        hessian(&r, &[]),
        vec!["report", "--dir", s(&r)],
    ] {
        let err = fails(FAILED, &args);
        assert_has(&err, &["is in use by `usam train`", &holder]);
    }
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(
        r.join(".usam.lock").exists(),
        "a killed process leaves its lock"
    );
    let out = usam(&hessian(&r, &["--top-k", "1"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_has(&err, &["was left by a process that is gone; taken over"]);
    assert!(!r.join(".usam.lock").exists(), "released at the end");
}

/// A flipped bit in a checkpoint is caught by its checksum, naming the
/// file and the intact previous checkpoint, which `--from-epoch` resumes.
#[test]
fn a_flipped_bit_in_a_checkpoint_names_the_intact_one() {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path().join("r");
    train_ok(&r, &["--epochs", "2"]);
    let file = r.join("model-0002.mpk");
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    std::fs::write(&file, &bytes).unwrap();
    let needles = [
        "model-0002.mpk",
        "is corrupt",
        "SHA-256",
        "epoch 1",
        "--resume --from-epoch 1",
    ];
    assert_has(&fails(FAILED, &["eval", "--run", s(&r)]), &needles);
    assert_has(&fails(FAILED, &hessian(&r, &[])), &needles);
    assert_has(
        &train_fails(FAILED, &r, &["--resume", "--epochs", "3"]),
        &needles,
    );
    train_ok(&r, &["--resume", "--epochs", "3", "--from-epoch", "1"]);
    ok(&["eval", "--run", s(&r)]);
    let err = train_fails(
        FAILED,
        &r,
        &["--resume", "--epochs", "4", "--from-epoch", "1"],
    );
    assert_has(&err, &["--from-epoch 1", "keeps the checkpoints of epoch"]);
}

/// A run killed before its first checkpoint left its config.toml: the same
/// command starts it again, and so does `--resume`, saying so.
#[test]
fn a_run_stopped_before_its_first_checkpoint_is_retried() {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path().join("r");
    let config = ok(&train(&r, &["--print-config"]));
    std::fs::create_dir(&r).unwrap();
    std::fs::write(r.join("config.toml"), &config).unwrap();
    let out = usam(&train(&r, &[]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_has(&err, &["stopped before its first checkpoint"]);
    std::fs::remove_dir_all(&r).unwrap();
    std::fs::create_dir(&r).unwrap();
    std::fs::write(r.join("config.toml"), &config).unwrap();
    let out = usam(&train(&r, &["--resume"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_has(&err, &["starting it from scratch"]);
    assert!(model_file(&r).is_file());
}

/// Nothing a user wrote is overwritten: a sweep into a directory of other
/// files or of another grid, a report over a user's report.md.
#[test]
fn sweeps_and_reports_never_overwrite_a_users_files() {
    let tmp = tempfile::tempdir().unwrap();
    let grid = |seeds: &str| {
        let path = tmp.path().join(format!("sweep{}.toml", seeds.len()));
        std::fs::write(
            &path,
            format!(
                "methods = [\"sgd\"]\ndatasets = [\"mnist-10k\"]\nseeds = [{seeds}]\n[[regimes]]\nname = \"full\"\n[run]\nepochs = 1\nsteps_per_epoch = 2\neval_train = false\n"
            ),
        )
        .unwrap();
        path
    };
    let (one, two) = (grid("1"), grid("1, 2"));
    let notes = tmp.path().join("notes");
    std::fs::create_dir(&notes).unwrap();
    std::fs::write(notes.join("report.md"), "my notes").unwrap();
    std::fs::write(notes.join("todo.txt"), "mine").unwrap();
    let err = fails(
        USAGE,
        &["sweep", "--config", s(&one), "--out", s(&notes), "--quiet"],
    );
    assert_has(&err, &["not a sweep's directory", "todo.txt"]);
    assert_eq!(
        std::fs::read_to_string(notes.join("report.md")).unwrap(),
        "my notes"
    );

    let out = tmp.path().join("grid");
    ok(&["sweep", "--config", s(&one), "--out", s(&out), "--quiet"]);
    let err = fails(
        USAGE,
        &["sweep", "--config", s(&two), "--out", s(&out), "--quiet"],
    );
    assert_has(&err, &["holds another sweep", "1 runs", "2"]);
    ok(&["sweep", "--config", s(&one), "--out", s(&out), "--quiet"]);

    // report: its own report is replaced, a user's is not (without --force).
    let run = out.join("mnist-10k/full/sgd/seed-1");
    ok(&["report", "--dir", s(&run)]);
    ok(&["report", "--dir", s(&run)]);
    std::fs::write(run.join("report.md"), "my notes").unwrap();
    let err = fails(USAGE, &["report", "--dir", s(&run)]);
    assert_has(&err, &["report.md", "already exists", "--force"]);
    assert_eq!(
        std::fs::read_to_string(run.join("report.md")).unwrap(),
        "my notes"
    );
    ok(&["report", "--dir", s(&run), "--force"]);
    let err = fails(USAGE, &["report", "--dir", s(&tmp.path().join("nowhere"))]);
    assert_has(&err, &["nowhere", "is not a directory"]);
}

/// `table` and `report` name a malformed summary.json instead of saying
/// there is none, and leave it out (with a warning) beside good ones.
#[test]
fn malformed_summaries_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad/seed-1");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("summary.json"), "{\"dataset\": ").unwrap();
    for args in [
        vec!["table", "--dir", s(tmp.path())],
        vec!["report", "--dir", s(tmp.path())],
    ] {
        let err = usam(&args);
        let text = String::from_utf8_lossy(&err.stderr);
        assert_ne!(err.status.code(), Some(0), "{args:?}");
        assert_has(&text, &["seed-1/summary.json", "malformed"]);
    }
    train_ok(&tmp.path().join("good"), &[]);
    let out = usam(&["table", "--dir", s(tmp.path())]);
    assert!(out.status.success());
    assert_has(
        &String::from_utf8_lossy(&out.stderr),
        &["left out of the table", "summary.json is malformed"],
    );
}

/// Bad flag values exit 2 naming the flag, before any work, and create
/// nothing; settings without effect are said.
#[test]
fn bad_values_name_their_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path().join("r");
    train_ok(&r, &[]);
    let d = tmp.path().join("never");
    let dir_json = tmp.path().join("a-dir");
    std::fs::create_dir(&dir_json).unwrap();
    let sweep = tmp.path().join("empty.toml");
    std::fs::write(
        &sweep,
        "methods = [\"sgd\"]\ndatasets = [\"mnist-10k\"]\nseeds = []\n[[regimes]]\nname = \"full\"\n",
    )
    .unwrap();
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec!["hessian", "--run", s(&r), "--samples", "0"],
            vec!["--samples 0"],
        ),
        (
            vec!["hessian", "--run", s(&r), "--probes", "0"],
            vec!["--probes 0"],
        ),
        (
            hessian(&r, &["--top-k", "1000000"]),
            vec!["--top-k", "167818 parameters"],
        ),
        (
            hessian(&r, &["--json", s(&dir_json), "--force"]),
            vec!["--json", "is a directory"],
        ),
        (
            words("bench steps --batch 0 --steps 1"),
            vec!["--batch", "at least one"],
        ),
        (words("demo --epochs 0"), vec!["--epochs", "0"]),
        (words("--log loud demo"), vec!["--log", "loud"]),
        (
            train(&d, &["--method", "frob", "--rho", "1e300"]),
            vec!["optimizer.rho", "3.4e38"],
        ),
        (
            train(&d, &["--set", "epochs.x=3"]),
            vec!["epochs.x", "not a table"],
        ),
        (train(&d, &["--device", "7"]), vec!["device 7"]),
        (
            vec!["sweep", "--config", s(&sweep), "--out", s(&d), "--dry-run"],
            vec!["empty.toml", "has no run"],
        ),
        (
            train(&r, &["--resume"]),
            vec!["has finished its 1 epochs", "--epochs 2"],
        ),
    ];
    for (args, needles) in &cases {
        assert_has(&fails(USAGE, args), needles);
    }
    assert!(!d.exists(), "nothing is created on bad input");
    // Settings without effect are said, and the run goes on.
    let m = tmp.path().join("m");
    let out = usam(&train(&m, &["--milestones", "2", "--batch-size", "100000"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_has(
        &err,
        &[
            "--milestones and --gamma have no effect on the constant schedule",
            "larger than the training set",
        ],
    );
}

/// At the first step, before any update, a non-finite perturbed loss
/// blames the perturbation radius, not the learning rate.
#[test]
fn a_radius_too_large_for_the_model_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let err = train_fails(
        FAILED,
        &tmp.path().join("r"),
        &["--method", "sam", "--rho", "1e30"],
    );
    assert_has(
        &err,
        &["epoch 1, step 0", "optimizer.rho is too large", "--rho"],
    );
    assert!(!err.contains("lower learning rate"), "{err}");
}

/// Item 7 of issue 27: thirty more bad inputs, tried by hand first, each
/// with its exit code and what the message must name. (Not here: a
/// read-only parent of --out, which root ignores; a full disk is the next
/// test.)
#[test]
fn thirty_more_bad_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    let t = |name: &str| tmp.path().join(name);
    let write = |name: &str, text: &str| {
        std::fs::write(t(name), text).unwrap();
        t(name)
    };
    let good = t("good");
    train_ok(&good, &[]);
    let state_broken = t("broken");
    train_ok(&state_broken, &[]);
    std::fs::write(state_broken.join("state.json"), "{").unwrap();
    let a_file = write("a-file", "x");
    let a_dir = t("a-dir");
    std::fs::create_dir(&a_dir).unwrap();
    let bad_syntax = write("syntax.toml", "epochs = \n");
    let bad_type = write("type.toml", "epochs = \"ten\"\n");
    let bogus_sweep = write(
        "bogus.toml",
        "methods=[\"sgd\"]\ndatasets=[\"mnist-10k\"]\nseeds=[1]\nbogus=1\n[[regimes]]\nname=\"full\"\n",
    );
    let shared_sweep = write(
        "shared.toml",
        "methods=[\"sgd\",\"frob\"]\ndatasets=[\"mnist-10k\"]\nseeds=[1]\n[[regimes]]\nname=\"full\"\n[run.optimizer]\nsparsity=0.2\n",
    );
    let (x, y, nowhere) = (t("x"), t("y"), t("nowhere"));
    let (x, f, d) = (s(&x), s(&a_file), s(&a_dir));
    #[rustfmt::skip]
    let cases: Vec<(i32, Vec<&str>, Vec<&str>)> = vec![
        (USAGE, vec!["train", "--out", x, "--config", "missing.toml"], vec!["missing.toml", "No such file"]),
        (USAGE, vec!["train", "--out", x, "--config", d], vec!["a-dir", "Is a directory"]),
        (USAGE, vec!["train", "--out", x, "--config", s(&bad_syntax)], vec!["syntax.toml", "line 1"]),
        (USAGE, vec!["train", "--out", x, "--config", s(&bad_type)], vec!["type.toml", "expected usize"]),
        (USAGE, train(&a_file, &[]), vec!["a-file", "is a file, not a directory"]),
        (USAGE, train(&y, &["--data-dir", f]), vec!["data_dir", "is a file"]),
        (FAILED, train(&y, &["--dataset", "folder:/nonexistent-usam"]), vec!["/nonexistent-usam", "does not exist"]),
        (USAGE, train(&y, &["--label-noise", "1"]), vec!["label_noise = 1", "[0, 1)"]),
        (USAGE, train(&y, &["--lr", "inf"]), vec!["base.lr = inf", "finite"]),
        (USAGE, train(&y, &["--lr", "0"]), vec!["base.lr = 0"]),
        (USAGE, vec!["train", "--out", s(&y), "--batch-size", "0"], vec!["batch_size = 0"]),
        (USAGE, train(&y, &["--seed", "-1"]), vec!["--seed"]),
        (USAGE, train(&y, &["--set", "base.momentum=1"]), vec!["base.momentum = 1"]),
        (USAGE, train(&y, &["--set", "devices=[0,0]"]), vec!["listed twice"]),
        (USAGE, train(&y, &["--method", "frob", "--samples", "0"]), vec!["optimizer.samples = 0", "at least 2"]),
        (USAGE, train(&y, &["--set", "hessian_every=1", "--set", "hessian_samples=0"]), vec!["hessian_samples = 0"]),
        (USAGE, train(&y, &["--set", "optimizer.lambda=0.1"]), vec!["method `sgd` has no field `lambda`"]),
        (USAGE, train(&nowhere, &["--resume"]), vec!["nowhere", "holds no checkpoint"]),
        (FAILED, train(&state_broken, &["--resume", "--epochs", "2"]), vec!["state.json", "corrupt"]),
        (USAGE, train(&y, &["--from-epoch", "1"]), vec!["--resume"]),
        (USAGE, vec!["eval", "--run", f], vec!["a-file", "holds no trained run"]),
        (USAGE, vec!["table", "--dir", d], vec!["no summary.json under", "a-dir"]),
        (USAGE, vec!["table", "--dir", s(&good), "--markdown", f], vec!["a-file", "already exists", "--force"]),
        (USAGE, vec!["sweep", "--config", "missing.toml", "--out", x], vec!["missing.toml"]),
        (USAGE, vec!["sweep", "--config", s(&bogus_sweep), "--out", x, "--dry-run"], vec!["bogus.toml", "unknown field `bogus`"]),
        (USAGE, vec!["sweep", "--config", s(&shared_sweep), "--out", x, "--dry-run"], vec!["run.optimizer.sparsity", "no method of the sweep"]),
        (USAGE, words("bench steps --steps 0"), vec!["--steps = 0"]),
        (USAGE, train(&y, &["--schedule", "stepwise"]), vec!["multistep"]),
        (USAGE, train(&y, &["--set", "schedule.gamma=0", "--schedule", "multistep"]), vec!["schedule.gamma"]),
        (USAGE, train(&y, &["--method", "det", "--sampler-typo"]), vec!["--sampler-typo"]),
    ];
    assert_eq!(cases.len(), 30);
    for (code, args, needles) in &cases {
        assert_has(&fails(*code, args), needles);
    }
    assert!(
        !t("x").exists() && !t("y").exists(),
        "bad input creates nothing"
    );
    assert_eq!(
        std::fs::read_to_string(&a_file).unwrap(),
        "x",
        "nor overwrites"
    );
    // Odd but valid: --out through a symlink, a path with spaces and
    // non-ASCII letters, no data-loading worker threads.
    std::os::unix::fs::symlink(&good, t("link")).unwrap();
    train_ok(&t("link"), &["--resume", "--epochs", "2"]);
    train_ok(&t("with space ü"), &[]);
    train_ok(&t("w0"), &["--set", "workers=0"]);
}

/// A disk that fills up before the first checkpoint: a clear error with
/// exit 1, and nothing left that would block the retry. Needs a small
/// tmpfs (root in a Linux sandbox); says so and stops otherwise.
#[test]
fn a_full_disk_is_a_clear_error_and_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let small = tmp.path().join("small");
    std::fs::create_dir(&small).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1M", "tmpfs", s(&small)])
        .output()
        .is_ok_and(|o| o.status.success());
    if !mounted {
        eprintln!(
            "SKIPPED a_full_disk_is_a_clear_error_and_leaves_nothing_behind: cannot mount a tmpfs here (not root?)"
        );
        return;
    }
    let r = small.join("run");
    let err = train_fails(FAILED, &r, &["--epochs", "2"]);
    let _ = std::process::Command::new("umount").arg(&small).status();
    assert_has(&err, &["No space left on device"]);
    assert!(!r.exists(), "the failed first attempt is removed");
}

/// Writes an image folder dataset: `train/<class>/*.png` and
/// `test/<class>/*.png`, 8x8 grey images of three classes, `per_class` of
/// each (none for a class named in `empty`).
fn image_folder(root: &Path, per_class: usize, empty: &[&str]) {
    for split in ["train", "test"] {
        for (c, class) in ["a", "b", "c"].iter().enumerate() {
            let dir = root.join(split).join(class);
            std::fs::create_dir_all(&dir).unwrap();
            if split == "train" && empty.contains(class) {
                continue;
            }
            for i in 0..per_class {
                let pixels: Vec<u8> = (0..64)
                    .map(|p| ((p * (c + 3) + i * 7) % 256) as u8)
                    .collect();
                image::GrayImage::from_raw(8, 8, pixels)
                    .unwrap()
                    .save(dir.join(format!("{i}.png")))
                    .unwrap();
            }
        }
    }
}

/// A folder dataset: `eval --data-dir` names a moved folder (the folder is
/// the dataset's name), and a class folder without training images is
/// refused by name rather than trained on with no examples.
#[test]
fn folder_datasets_move_and_refuse_an_empty_class() {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("images");
    image_folder(&images, 4, &[]);
    let dataset = format!("folder:{}", s(&images));
    let r = tmp.path().join("r");
    train_ok(&r, &["--dataset", &dataset]);
    let moved = tmp.path().join("moved");
    std::fs::rename(&images, &moved).unwrap();
    assert_has(&fails(FAILED, &["eval", "--run", s(&r)]), &["images"]);
    ok(&["eval", "--run", s(&r), "--data-dir", s(&moved)]);

    let holey = tmp.path().join("holey");
    image_folder(&holey, 4, &["c"]);
    let err = train_fails(
        FAILED,
        &tmp.path().join("h"),
        &["--dataset", &format!("folder:{}", s(&holey))],
    );
    assert_has(&err, &["train/c", "holds no .png/.jpg image"]);
}

/// A CIFAR directory extracted in part names the files it lacks.
#[test]
fn a_partly_extracted_cifar_names_its_missing_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cifar10/cifar-10-batches-bin");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("data_batch_1.bin"), vec![0u8; 3073 * 4]).unwrap();
    let err = train_fails(
        FAILED,
        &tmp.path().join("r"),
        &[
            "--dataset",
            "cifar10",
            "--data-dir",
            s(tmp.path()),
            "--set",
            "download=false",
        ],
    );
    assert_has(
        &err,
        &[
            "partly extracted",
            "data_batch_2.bin",
            "test_batch.bin",
            "cifar-10-batches-bin",
        ],
    );
    assert!(!err.contains("data_batch_1.bin,"), "{err}");
}

/// wgpu without a Vulkan driver (hidden from the loader here): exit 1
/// saying what is missing, nothing created.
#[test]
fn wgpu_without_an_adapter_says_what_is_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path().join("r");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_usam"))
        .args(train(&r, &["--backend", "wgpu"]))
        .env("VK_ICD_FILENAMES", "/nonexistent-usam-icd.json")
        .env("WGPU_BACKEND", "vulkan")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(FAILED), "{err}");
    assert_has(
        &err,
        &["no Vulkan, Metal or DirectX adapter", "mesa-vulkan-drivers"],
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(!r.exists());
}
