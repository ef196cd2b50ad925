//! One module per subject (they were one test binary each).

mod batching;
mod bundled;
mod download;
mod loaders;
mod proptest_parsers;
mod regimes;
