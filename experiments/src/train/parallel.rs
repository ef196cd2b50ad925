//! Data-parallel training: one replica per device, each on its own thread,
//! joined through Burn's collective ([`sam_burn::parallel`]). Replica 0
//! evaluates, checkpoints and writes the outputs; every replica trains.

use std::panic::{AssertUnwindSafe, catch_unwind};

use burn::tensor::backend::Backend;
use sam_burn::parallel::{CollectiveConfig, Replica};

use super::epoch::{Run, train_in};
use super::{Ad, RunError};
use crate::records::Summary;

/// Trains `run` with one replica per device; returns replica 0's summary,
/// or the error that stopped the run.
pub(super) fn train_replicas<B: Backend>(
    run: &Run<'_>,
    devices: Vec<B::Device>,
) -> Result<Summary, RunError> {
    let mut outputs = on_replicas::<B, _>(&devices, |replica, device| {
        train_in::<B>(run, device, Some(replica))
    })?;
    Ok(outputs
        .swap_remove(0)
        .expect("replica 0 is the main one and returns the summary"))
}

/// Runs `work` on one replica per device, each on its own thread: join,
/// work, leave; a replica that fails (or panics) releases the others, which
/// then stop instead of waiting. Returns every replica's output in rank
/// order, or the error that stopped them: the first replica's own error,
/// not the cancellations it caused in the others.
pub(crate) fn on_replicas<B, T>(
    devices: &[B::Device],
    work: impl Fn(&Replica<Ad<B>>, &B::Device) -> Result<T, RunError> + Sync,
) -> Result<Vec<T>, RunError>
where
    B: Backend,
    T: Send,
{
    let size = devices.len();
    // A collective left behind by an earlier failed run of this process
    // must not take these replicas for its own.
    burn::collective::reset_collective::<B>();
    let work = &work;
    let results: Vec<Result<T, RunError>> = std::thread::scope(|s| {
        let handles: Vec<_> = devices
            .iter()
            .enumerate()
            .map(|(rank, device)| {
                std::thread::Builder::new()
                    .name(format!("replica-{rank}"))
                    .spawn_scoped(s, move || replica_main::<B, T>(rank, size, device, work))
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
    let mut outputs = Vec::with_capacity(size);
    let mut knock_on = None;
    for result in results {
        match result {
            Ok(t) => outputs.push(t),
            // The replica that failed on its own account is the story; the
            // others only saw their collective cancelled.
            Err(e) if !e.is_knock_on() => return Err(e),
            Err(e) => {
                knock_on.get_or_insert(e);
            }
        }
    }
    match knock_on {
        Some(e) => Err(e),
        None => Ok(outputs),
    }
}

/// One replica's thread.
fn replica_main<B: Backend, T>(
    rank: usize,
    size: usize,
    device: &B::Device,
    work: &(impl Fn(&Replica<Ad<B>>, &B::Device) -> Result<T, RunError> + Sync),
) -> Result<T, RunError> {
    let replica = Replica::<Ad<B>>::join(rank, size, device.clone(), CollectiveConfig::default())?;
    let outcome = catch_unwind(AssertUnwindSafe(|| work(&replica, device)));
    let result = outcome.unwrap_or_else(|payload| {
        Err(RunError::ReplicaPanicked {
            rank,
            message: payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "no message".into()),
        })
    });
    match result {
        Ok(t) => {
            replica.leave()?;
            Ok(t)
        }
        Err(e) => {
            replica.abort();
            Err(e)
        }
    }
}
