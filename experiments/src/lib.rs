//! The universal-SAM experiments: models, training loop, metrics, outputs
//! and the `usam` command line.
//!
//! Layout: [`config`] (every hyperparameter, TOML), [`backend`] (run-time
//! backend choice), [`data`] (datasets with regimes, reproducible epochs),
//! [`models`], [`optimizer`] (the base optimizer from the config),
//! [`train`] (the loop, evaluation, Hessian metrics), [`checkpoint`]
//! (writing and checked reading of checkpoints),
//! [`records`] (what is written), [`output`] (atomic, non-destructive
//! output directories), [`plot`], [`progress`], [`sweep`] (grids and
//! paper-style tables), [`demo`], [`inspect`] (`eval`, `hessian`) and
//! [`bench`](mod@bench), [`heap`] (live-byte counting for `bench memory`),
//! [`selftest`] (a backend against the reference and the CPU),
//! [`report`] (one HTML page and its Markdown twin per run or sweep) and
//! [`provenance`] (commit and machine of a run).
//!
//! A run's configuration is TOML over documented defaults, with the CLI's
//! `--set` overrides; its `[optimizer]` table is sam-burn's `MethodConfig`.
//! Bad values are typed errors, and a run starts only from a configuration
//! that passed its one validation ([`config::RunConfig`]):
//!
//! ```
//! use experiments::config::TrainConfig;
//! use sam_burn::optim::MethodConfig;
//!
//! let cfg = TrainConfig::from_toml(
//!     r#"
//!     dataset = "mnist-10k"
//!     model = "mlp"
//!     epochs = 2
//!     [optimizer]
//!     method = "frob"
//!     "#,
//! )?
//! .with_overrides(&["optimizer.rho=0.05", "base.lr=0.05"])?;
//! let MethodConfig::Universal(frob) = &cfg.optimizer else { unreachable!() };
//! assert_eq!(frob.rho, Some(0.05));
//! // The whole configuration, checked once; the method's noise takes the
//! // run's seed.
//! let run = cfg.validate()?;
//! assert_eq!(run.method().passes_per_step(), 3); // clean pass + Frob's 2 samples
//! assert!(TrainConfig::default().with_overrides(&["epochs=many"]).is_err());
//! // A field the method does not have is refused by name.
//! let err = TrainConfig::default().with_overrides(&["optimizer.lambda=0.1"]).unwrap_err();
//! assert!(err.to_string().contains("method `sgd` has no field `lambda`"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

pub mod backend;
pub mod bench;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod demo;
pub mod heap;
pub mod inspect;
pub mod lock;
pub mod models;
pub mod optimizer;
pub mod output;
pub mod plot;
pub mod progress;
pub mod provenance;
pub mod records;
pub mod report;
pub mod selftest;
pub mod sweep;
pub mod train;
