use super::*;

#[test]
fn never_touches_a_non_empty_directory() {
    let dir = tempfile::tempdir().unwrap();
    let keep = dir.path().join("precious.txt");
    fs::write(&keep, "data").unwrap();
    assert!(matches!(
        OutputDir::create(dir.path(), "train"),
        Err(OutputError::NotEmpty(_))
    ));
    assert_eq!(fs::read_to_string(&keep).unwrap(), "data");
    // An empty or missing directory is fine.
    let sub = dir.path().join("run");
    let out = OutputDir::create(&sub, "train").unwrap();
    out.write("a.json", b"{}").unwrap();
    assert_eq!(out.read("a.json").unwrap(), b"{}");
    assert!(matches!(
        OutputDir::open(&sub, "train"),
        Err(OutputError::NothingToResume(_))
    ));
    assert_eq!(
        OutputDir::fresh_path(&sub),
        PathBuf::from(format!("{}-2", sub.display()))
    );
}

#[test]
fn abandon_removes_only_what_the_run_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("new-run");
    let out = OutputDir::create(&fresh, "train").unwrap();
    out.write("config.toml", b"x").unwrap();
    out.abandon();
    assert!(!fresh.exists());
    // An existing empty directory stays; a stranger's file too.
    let existing = dir.path().join("existing");
    fs::create_dir(&existing).unwrap();
    let out = OutputDir::create(&existing, "train").unwrap();
    out.write("config.toml", b"x").unwrap();
    fs::write(existing.join("notes.txt"), "mine").unwrap();
    out.abandon();
    assert!(existing.join("notes.txt").exists());
    assert!(!existing.join("config.toml").exists());
}

#[test]
fn write_new_refuses_an_existing_file_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("h.json");
    write_new(&p, b"first", false).unwrap();
    assert!(matches!(
        write_new(&p, b"second", false),
        Err(OutputError::FileExists(_))
    ));
    assert_eq!(fs::read(&p).unwrap(), b"first");
    write_new(&p, b"third", true).unwrap();
    assert_eq!(fs::read(&p).unwrap(), b"third");
}

#[test]
fn atomic_write_replaces_whole_files_and_leaves_no_temporaries() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.json");
    write_atomic(&p, b"one").unwrap();
    write_atomic(&p, b"two").unwrap();
    assert_eq!(fs::read(&p).unwrap(), b"two");
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn a_run_that_stopped_before_its_first_checkpoint_is_started_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    fs::create_dir(&run).unwrap();
    let config = crate::config::TrainConfig::default().to_toml();
    fs::write(run.join("config.toml"), &config).unwrap();
    fs::write(run.join("steps.jsonl"), "{}\n").unwrap();
    assert!(OutputDir::stopped_before_first_checkpoint(&run));
    let out = OutputDir::create(&run, "train").unwrap();
    assert!(!run.join("config.toml").exists() && !run.join("steps.jsonl").exists());
    drop(out);
    // A config.toml that is not usam's, or any other file, is refused.
    fs::write(run.join("config.toml"), "not a config = [").unwrap();
    assert!(matches!(
        OutputDir::create(&run, "train"),
        Err(OutputError::NotEmpty(_))
    ));
    assert_eq!(
        fs::read_to_string(run.join("config.toml")).unwrap(),
        "not a config = ["
    );
    fs::write(run.join("config.toml"), &config).unwrap();
    fs::write(run.join("notes.txt"), "mine").unwrap();
    assert!(!OutputDir::stopped_before_first_checkpoint(&run));
    assert!(OutputDir::create(&run, "train").is_err());
    assert!(run.join("notes.txt").exists());
}

#[test]
fn a_second_writer_is_locked_out_while_the_first_holds_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let first = OutputDir::create(&run, "train").unwrap();
    let err = OutputDir::create(&run, "train").unwrap_err();
    assert!(matches!(err, OutputError::Locked(_)), "{err}");
    first.write("state.json", b"{}").unwrap();
    assert!(matches!(
        OutputDir::open(&run, "train"),
        Err(OutputError::Locked(_))
    ));
    drop(first);
    OutputDir::open(&run, "train").unwrap();
}
