//! `USAM_DATA_DIR` overrides the cache directory. (Alone in its own test
//! binary because it changes the process environment.)

use datasets::{DatasetKind, Error, LoadOptions, download, load};

#[test]
fn env_var_overrides_cache_dir() {
    let dir = tempfile::tempdir().unwrap();
    // SAFETY: this test binary has a single test, so no other thread reads
    // the environment concurrently.
    unsafe { std::env::set_var(download::DATA_DIR_ENV, dir.path()) };
    assert_eq!(download::default_cache_dir(), dir.path());
    assert_eq!(LoadOptions::offline().cache_dir(), dir.path());
    match load(&DatasetKind::Cifar10, &LoadOptions::offline()) {
        Err(Error::MissingFiles { directory, .. }) => {
            assert_eq!(directory, dir.path().join("cifar10"))
        }
        other => panic!("{other:?}"),
    }
    unsafe { std::env::set_var(download::DATA_DIR_ENV, "") };
    assert_ne!(download::default_cache_dir(), dir.path());
}
