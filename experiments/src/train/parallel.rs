//! Data-parallel training: one replica per device, each on its own thread,
//! joined through Burn's collective ([`sam_burn::parallel`]). Replica 0
//! evaluates, checkpoints and writes the outputs; every replica trains.

use std::panic::{AssertUnwindSafe, catch_unwind};

use burn::tensor::backend::Backend;
use sam_burn::parallel::{CollectiveConfig, Replica};

use super::{Ad, Run, RunError, train_in};
use crate::records::Summary;

/// Trains `run` with one replica per device; returns replica 0's summary,
/// or the error that stopped the run (the first replica's own error, not
/// the cancellations it caused in the others).
pub(super) fn train_replicas<B: Backend>(
    run: &Run<'_>,
    devices: Vec<B::Device>,
) -> Result<crate::records::Summary, RunError> {
    let size = devices.len();
    // A collective left behind by an earlier run of this process (a failed
    // one) must not take this run's replicas for its own.
    burn::collective::reset_collective::<B>();
    let results: Vec<Result<Option<Summary>, RunError>> = std::thread::scope(|s| {
        let handles: Vec<_> = devices
            .into_iter()
            .enumerate()
            .map(|(rank, device)| {
                std::thread::Builder::new()
                    .name(format!("replica-{rank}"))
                    .spawn_scoped(s, move || replica_main::<B>(run, rank, size, device))
                    .expect("the operating system starts a thread")
            })
            .collect();
        handles
            .into_iter()
            .enumerate()
            .map(|(rank, h)| {
                h.join().unwrap_or_else(|_| {
                    Err(RunError::ReplicaPanicked {
                        rank,
                        message: "the thread ended without a result".into(),
                    })
                })
            })
            .collect()
    });
    let mut summary = None;
    let mut first_error = None;
    for result in results {
        match result {
            Ok(Some(s)) => summary = Some(s),
            Ok(None) => {}
            // The replica that failed on its own account is the story; the
            // others only saw their collective cancelled.
            Err(e) if !e.is_knock_on() => return Err(e),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match (first_error, summary) {
        (Some(e), _) => Err(e),
        (None, Some(s)) => Ok(s),
        (None, None) => unreachable!("replica 0 returns the summary or an error"),
    }
}

/// One replica's thread: join, train, leave; on failure (or a panic)
/// release the other replicas so they stop instead of waiting.
fn replica_main<B: Backend>(
    run: &Run<'_>,
    rank: usize,
    size: usize,
    device: B::Device,
) -> Result<Option<Summary>, RunError> {
    let replica = Replica::<Ad<B>>::join(rank, size, device.clone(), CollectiveConfig::default())?;
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        train_in::<B>(run, &device, Some(&replica))
    }));
    let result = match outcome {
        Ok(result) => result,
        Err(payload) => Err(RunError::ReplicaPanicked {
            rank,
            message: payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "no message".into()),
        }),
    };
    match result {
        Ok(summary) => {
            replica.leave()?;
            Ok(summary)
        }
        Err(e) => {
            replica.abort();
            Err(e)
        }
    }
}
