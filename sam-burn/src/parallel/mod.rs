//! Data-parallel steps over several devices, through Burn's collective
//! all-reduce (`burn::collective`, the burn-collective crate).
//!
//! Every device holds a [`Replica`] of the model and computes the passes of
//! its shard of the global batch; one all-reduce per pass makes what the
//! step needs global, so every replica takes the same step and the replicas
//! stay bit-identical.
//!
//! # What is all-reduced, and why that is enough
//!
//! A global batch of `N` examples is split into `D` shards `S_r` of `n_r`
//! examples (`n_r = N / D` except, possibly, in an epoch's last batch). A
//! replica's closure returns its shard's mean loss `L^r(w) = (1/n_r) sum_{j
//! in S_r} l_j(w)` and its gradient. The global batch's loss is
//!
//! ```text
//! L(w) = (1/N) sum_j l_j(w) = (1/D) sum_r c_r L^r(w),   c_r = D n_r / N,
//! ```
//!
//! so the *mean* over replicas of `c_r L^r` and of `c_r grad L^r` is exactly
//! the global loss and gradient (`c_r = 1` when the shards are equal). That
//! holds at every point the step evaluates: at `w` (the clean pass, `L0`,
//! `g0`) and at each perturbed point `w + delta_i` (`L_i`, `g_i`), because
//! every replica perturbs by the same `delta_i`: SAM's and ASAM's direction
//! is computed from the all-reduced `g0`, and the universal class's noise
//! is drawn from a counter-based generator keyed by `(seed, step, sample,
//! tensor)`, the same on every replica without any communication.
//!
//! [`Replica::closure`] therefore all-reduces, after each pass, the loss and
//! the gradient (packed into one tensor: one collective operation per
//! pass). Everything else is a function of those global values and is
//! computed redundantly, identically, on every replica, with no further
//! communication:
//!
//! - SAM's `||g0||` and ASAM's scaled norm (from the global `g0`);
//! - the universal class's coefficients `phi'(.) psi'(.)` (from the global
//!   `L0`, `L_i`): every replica applies the same combination;
//! - the stability guard's `||g0||` and `||g - g0||`, and its skip decision
//!   on a non-finite loss (a non-finite shard loss makes the global one
//!   non-finite on every replica, so all skip or stop together);
//! - SSAM's Fisher mask: each replica scores its share of the Fisher
//!   examples, and the scores are summed across replicas
//!   ([`Replica::all_reduce_sum`]) before the top-k, so the mask is global.
//!
//! Not global: batch normalisation's *batch* statistics are those of each
//! shard, as in PyTorch's `DistributedDataParallel` without `SyncBatchNorm`.
//! Its *running* statistics are averaged across replicas after every step
//! ([`Replica::average_buffers`]) so that the replicas stay identical. A
//! model without batch norm therefore takes, on `D` devices with global
//! batch `B`, the step a single device takes with batch `B`, up to float
//! rounding (the sums are grouped differently).
//!
//! # One collective per backend and process
//!
//! burn-collective runs one local server per backend type and process:
//! peers are threads (one per device) of one process; all of them must
//! [`join`](Replica::join) before any can go on, and every collective
//! operation must be called by every replica, in the same order. A replica
//! that fails calls [`Replica::abort`], which releases the others (their
//! pending operation returns an error) instead of leaving them waiting.
//!
//! Several machines are not supported: burn-collective 0.21's multi-node
//! mode passes its barrier after a global all-reduce only once per session
//! (`SyncService::sync` clears a copy of its peer list), so a second global
//! all-reduce waits forever; the README has the details.

mod replica;

pub use crate::error::ParallelError;
pub use crate::params::materialize;
pub use replica::{Replica, shard_range};

/// Burn's collective configuration (all-reduce strategies), re-exported.
pub use burn::collective::CollectiveConfig;
