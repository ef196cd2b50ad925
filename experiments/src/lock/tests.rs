use super::*;

fn write_holder(dir: &Path, holder: &Holder) {
    fs::write(dir.join(LOCK_FILE), serde_json::to_string(holder).unwrap()).unwrap();
}

/// The pid of a process that has exited.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[test]
fn a_second_writer_is_refused_naming_the_holder_until_the_first_lets_go() {
    let dir = tempfile::tempdir().unwrap();
    let lock = RunLock::acquire(dir.path(), "train").unwrap();
    let err = RunLock::acquire(dir.path(), "sweep").unwrap_err();
    let LockError::Held { holder, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(
        (holder.pid, holder.command.as_str()),
        (std::process::id(), "train")
    );
    let text = err.to_string();
    assert!(
        text.contains("`usam train`") && text.contains(&format!("pid {}", std::process::id())),
        "{text}"
    );
    drop(lock);
    assert!(!dir.path().join(LOCK_FILE).exists(), "released on drop");
    RunLock::acquire(dir.path(), "sweep").unwrap();
}

#[test]
fn a_lock_whose_holder_is_gone_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let me = Holder::me("train", DEFAULT_LEASE);
    // A dead pid on this host.
    write_holder(
        dir.path(),
        &Holder {
            pid: dead_pid(),
            ..me.clone()
        },
    );
    let lock = RunLock::acquire(dir.path(), "train").unwrap();
    assert_eq!(lock.holder().pid, std::process::id());
    drop(lock);
    // This very pid, but another process's start time: a reused pid.
    write_holder(
        dir.path(),
        &Holder {
            process_start: me.process_start.map(|s| s + 1),
            ..me.clone()
        },
    );
    if me.process_start.is_some() {
        RunLock::acquire(dir.path(), "train").unwrap();
    }
    // A file that does not parse (its writer died mid-write).
    fs::write(dir.path().join(LOCK_FILE), "{\"host\": ").unwrap();
    RunLock::acquire(dir.path(), "train").unwrap();
}

#[test]
fn another_hosts_lock_holds_while_its_heartbeat_is_fresh() {
    let dir = tempfile::tempdir().unwrap();
    let other = Holder {
        host: "elsewhere.example".into(),
        pid: 1,
        process_start: None,
        since: 0,
        command: "sweep".into(),
        lease_seconds: 60,
    };
    write_holder(dir.path(), &other);
    assert!(matches!(
        RunLock::acquire(dir.path(), "sweep"),
        Err(LockError::Held { .. })
    ));
    // Its heartbeat 2 minutes old: past the 60 s lease.
    let file = fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join(LOCK_FILE))
        .unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(120))
        .unwrap();
    RunLock::acquire(dir.path(), "sweep").unwrap();
}

#[test]
fn the_heartbeat_refreshes_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(LOCK_FILE);
    let lock = RunLock::acquire_with_lease(dir.path(), "train", Duration::from_secs(3))
        .unwrap()
        .keep_alive();
    let old = SystemTime::now() - Duration::from_secs(3600);
    fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .set_modified(old)
        .unwrap();
    // One beat per second (lease / 3); 2.5 s leave room for a slow machine.
    std::thread::sleep(Duration::from_millis(2500));
    let beat = fs::metadata(&path).unwrap().modified().unwrap();
    assert!(beat > old + Duration::from_secs(3000), "not refreshed");
    drop(lock);
}

#[test]
fn of_many_racing_takers_exactly_one_wins() {
    for stale in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        if stale {
            let me = Holder::me("train", DEFAULT_LEASE);
            write_holder(
                dir.path(),
                &Holder {
                    pid: dead_pid(),
                    ..me
                },
            );
        }
        let barrier = std::sync::Barrier::new(8);
        let won: Vec<Option<RunLock>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        RunLock::acquire(dir.path(), "sweep").ok()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(
            won.iter().filter(|w| w.is_some()).count(),
            1,
            "stale: {stale}"
        );
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(
            leftovers.len(),
            1,
            "only the lock file remains: {leftovers:?}"
        );
    }
}
