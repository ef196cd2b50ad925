//! The `usam` command line: flags ([`args`]), what each subcommand does
//! ([`commands`]), the mapping of `train`'s flags onto a configuration
//! ([`train_config`]), the benchmark orchestration ([`bench`]), the sweep's
//! workers ([`sweep`]) and the exit codes of failures ([`failure`]).

pub(crate) mod args;
pub(crate) mod bench;
pub(crate) mod commands;
pub(crate) mod failure;
pub(crate) mod sweep;
pub(crate) mod train_config;
