//! `usam`: run the universal-SAM paper's studies.
//!
//! Exit codes: 0 success, 1 a run failed, 2 invalid flags or configuration.

use std::process::ExitCode;

use clap::Parser;
use experiments::heap::Counting;

use cli::args::Cli;
use cli::commands::dispatch;
use cli::failure::Failure;

mod cli;

// CPU backends allocate every tensor op's result with the global allocator.
// glibc's malloc hands parameter-sized buffers (hundreds of KiB) back to the
// kernel and page-faults them in again on the next step, which costs a small
// model's sharpness-aware step 10-15% (BENCHMARKS.md); mimalloc keeps them.
// The counting wrapper gives `bench memory` the live heap bytes.
#[global_allocator]
pub(crate) static HEAP: Counting<mimalloc::MiMalloc> = Counting::new(mimalloc::MiMalloc);

fn main() -> ExitCode {
    restore_sigpipe();
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cli.log));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(m)) => {
            eprintln!("error: {m}");
            ExitCode::from(2)
        }
        Err(Failure::Run(m)) => {
            eprintln!("error: {m}");
            ExitCode::from(1)
        }
    }
}

/// `usam ... | head` should end quietly, as other command-line tools do,
/// not panic on a closed pipe.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: resetting a signal disposition to its default at start-up,
    // before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
