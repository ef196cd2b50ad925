//! The datasets crate's integration tests as one binary: loaders and
//! parsers on files written in the real formats, downloads through
//! injected fetchers, regimes and batching. `env_cache_dir.rs` stays a
//! binary of its own: it sets an environment variable the process shares.

mod cases;
mod common;
