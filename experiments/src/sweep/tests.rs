use super::*;
use sam_burn::optim::MethodConfig;

const SWEEP: &str = r#"
methods = ["sgd", "frob"]
datasets = ["mnist-10k"]
seeds = [1, 2]
[[regimes]]
name = "full"
[[regimes]]
name = "noise"
label_noise = 0.2
[run]
epochs = 3
model = "mlp"
[run.optimizer]
scaling = "Exact"
[method.frob]
rho = 0.01
"#;

#[test]
fn grid_expands_with_overrides() {
    let sweep: SweepConfig = toml::from_str(SWEEP).unwrap();
    let runs = sweep.runs::<&str>(Path::new("out"), &[]).unwrap();
    assert_eq!(runs.len(), 8);
    let frob = runs
        .iter()
        .find(|r| r.config.optimizer.name() == "frob" && r.config.label_noise > 0.0)
        .unwrap();
    let MethodConfig::Universal(u) = &frob.config.optimizer else {
        panic!("frob is universal: {:?}", frob.config.optimizer)
    };
    assert_eq!(u.rho, Some(0.01));
    assert_eq!(frob.config.epochs, 3);
    assert_eq!(u.scaling, sam_core::estimator::Scaling::Exact);
    assert!(frob.dir.ends_with("mnist-10k/noise/frob/seed-1"));
    let sgd = runs
        .iter()
        .find(|r| r.config.optimizer.name() == "sgd")
        .unwrap();
    // The shared `scaling` is a field of frob only, and `[method.frob]`
    // stays with frob: sgd is the base optimizer as it comes.
    assert_eq!(sgd.config.optimizer, MethodConfig::default());
}

#[test]
fn invalid_grid_entries_are_rejected() {
    let bad = SWEEP.replace("\"frob\"]", "\"frobb\"]");
    let sweep: SweepConfig = toml::from_str(&bad).unwrap();
    assert!(sweep.runs::<&str>(Path::new("out"), &[]).is_err());
}

#[test]
fn statistics_and_tables() {
    let (m, s) = mean_std(&[90.0, 92.0, 94.0]);
    // Exact in binary except the square root's last bit: 1e-12 is loose
    // rounding room; the population std (1.63) would fail it.
    assert!((m - 92.0).abs() < 1e-12 && (s - 2.0).abs() < 1e-12);
    assert_eq!(mean_std(&[5.0]), (5.0, 0.0));
    let cells = vec![
        Cell {
            dataset: "cifar10".into(),
            regime: "full".into(),
            method: "sam".into(),
            values: vec![95.0, 96.0],
            frobenius: Vec::new(),
            train_seconds: Vec::new(),
            failed: 0,
        },
        Cell {
            dataset: "cifar10".into(),
            regime: "noise 20%".into(),
            method: "sgd".into(),
            values: vec![80.0],
            frobenius: Vec::new(),
            train_seconds: Vec::new(),
            failed: 0,
        },
        Cell {
            dataset: "cifar10".into(),
            regime: "full".into(),
            method: "frob lr=0.1".into(),
            values: vec![90.0],
            frobenius: vec![12.0, 14.0],
            train_seconds: Vec::new(),
            failed: 2,
        },
    ];
    let md = markdown(&cells);
    assert!(md.contains("| sam | 95.50 ± 0.71 (n=2) | - |"), "{md}");
    // One seed has no spread, and says so instead of printing "± 0.00".
    assert!(
        md.contains("| sgd | - | 80.00 (n = 1, no spread) |"),
        "{md}"
    );
    assert!(
        md.contains(
            "| frob lr=0.1 | 90.00 (n = 1, no spread), ‖H‖F 13.0 ± 1.4, 2 of 3 diverged | - |"
        ),
        "{md}"
    );
    assert!(!md.contains("± 0.00"), "{md}");
    let csv = csv(&cells);
    assert!(
        csv.contains("cifar10,full,sam,2,95.5000,0.7071,0,,"),
        "{csv}"
    );
    assert!(
        csv.contains("cifar10,full,frob lr=0.1,1,90.0000,0.0000,2,13.0000,1.4142"),
        "{csv}"
    );
}

#[test]
fn learning_rates_expand_and_failures_are_counted() {
    let sweep: SweepConfig =
        toml::from_str(&SWEEP.replace("seeds = [1, 2]", "seeds = [1, 2]\nlrs = [0.01, 0.1]"))
            .unwrap();
    let runs = sweep.runs::<&str>(Path::new("out"), &[]).unwrap();
    assert_eq!(runs.len(), 16);
    let fast = runs
        .iter()
        .find(|r| r.dir.ends_with("mnist-10k/full/frob/lr-0.1/seed-2"))
        .expect("one directory per rate");
    assert_eq!(fast.config.base.lr, 0.1);

    let dir = std::env::temp_dir().join(format!("usam-sweep-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for run in runs.iter().filter(|r| r.config.label_noise == 0.0) {
        let path = dir.join(run.dir.strip_prefix("out").unwrap());
        FailedRun::new(&run.config, "epoch 2, step 5: NaN")
            .write(&path)
            .unwrap();
        assert_eq!(status(&path), RunStatus::Failed);
    }
    let cells = collect(&dir).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    // One row per (method, lr), each with its two failed seeds.
    let rows: Vec<(&str, usize)> = cells
        .iter()
        .map(|c| (c.method.as_str(), c.failed))
        .collect();
    assert_eq!(
        rows,
        [
            ("frob lr=0.01", 2),
            ("frob lr=0.1", 2),
            ("sgd lr=0.01", 2),
            ("sgd lr=0.1", 2)
        ]
    );
}

#[test]
fn schedules_expand_for_perturbing_methods_only() {
    let sweep: SweepConfig = toml::from_str(&SWEEP.replace(
        "seeds = [1, 2]",
        "seeds = [1]\nevery = [1, 5]\nbetween = [\"base\", \"reuse\"]",
    ))
    .unwrap();
    let runs = sweep.runs::<&str>(Path::new("out"), &[]).unwrap();
    // Per regime: sgd once, frob at every 1 and at every 5 both ways.
    assert_eq!(runs.len(), 2 * (1 + 3));
    let dirs: Vec<String> = runs
        .iter()
        .filter(|r| r.config.label_noise == 0.0)
        .map(|r| r.dir.display().to_string())
        .collect();
    assert_eq!(
        dirs,
        [
            "out/mnist-10k/full/sgd/seed-1",
            "out/mnist-10k/full/frob/every-1/seed-1",
            "out/mnist-10k/full/frob/every-5/seed-1",
            "out/mnist-10k/full/frob/every-5-reuse/seed-1",
        ]
    );
    let reuse = runs
        .iter()
        .find(|r| r.dir.ends_with("every-5-reuse/seed-1"))
        .unwrap();
    assert_eq!(
        (
            reuse.config.optimizer.schedule().every,
            reuse.config.optimizer.schedule().between
        ),
        (5, Between::Reuse)
    );
    assert_eq!(
        method_label("frob", 5, Between::Reuse),
        "frob every=5 reuse"
    );
    assert_eq!(method_label("frob", 1, Between::Reuse), "frob");

    // Rows by schedule, from the failures' records.
    let dir = std::env::temp_dir().join(format!("usam-sweep-every-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for run in runs.iter().filter(|r| r.config.label_noise == 0.0) {
        FailedRun::new(&run.config, "NaN")
            .write(&dir.join(run.dir.strip_prefix("out").unwrap()))
            .unwrap();
    }
    let cells = collect(&dir).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let rows: Vec<&str> = cells.iter().map(|c| c.method.as_str()).collect();
    assert_eq!(rows, ["frob", "frob every=5", "frob every=5 reuse", "sgd"]);
}
