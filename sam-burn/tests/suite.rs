//! sam-burn's integration tests in f32, as one test binary: the optimizers
//! against the f64 reference and on MNIST, their behaviour, the Learner
//! wrapper, data-parallel steps, and the Hessian diagnostics and
//! HVP-safe blocks against exact Hessians; on NdArray, Flex and (where an
//! adapter exists, see `backends`) wgpu. The f64 checks are
//! `suite_f64.rs`: Burn keys default dtypes by device, so f32 and f64
//! NdArray need separate processes.

// Before `cases`: their test macros are used there.
#[macro_use]
mod backends;
#[macro_use]
mod hessian_util;
mod problems;

mod cases;
