//! Layers that Burn 0.21 can differentiate twice (HVP-safe building blocks).
//!
//! Burn's fused `linear` op and its pooling ops (`avg_pool2d`, `max_pool2d`,
//! `adaptive_avg_pool2d`) have backward passes that cannot be differentiated
//! again, so a model using them has no exact Hessian-vector product (see
//! [`crate::hessian`]). The blocks here compute the same functions from
//! primitive, twice-differentiable tensor ops (matmul, add, reshape, mean,
//! max). Burn's `Conv2d`, `BatchNorm`, `relu`, `tanh` and `CrossEntropyLoss`
//! are twice differentiable as they are and can be mixed freely with these.
//!
//! | Burn | here | note |
//! |---|---|---|
//! | `nn::Linear` | [`Linear`] | same parameters and record layout (row layout) |
//! | `nn::BatchNorm` | [`BatchNorm`] | same math and record layout; no transposed copies (a quarter of a CPU ResNet18 step in Burn's) |
//! | `nn::pool::AdaptiveAvgPool2d` to `1x1` | [`GlobalAvgPool2d`], [`global_avg_pool2d`] | mean over H and W, returns `[N, C]` |
//! | `nn::pool::AvgPool2d` (kernel = stride, no padding) | [`AvgPool2d`], [`avg_pool2d`] | reshape + mean |
//! | `nn::pool::MaxPool2d` (kernel = stride, no padding) | [`MaxPool2d`], [`max_pool2d`] | reshape + max |

mod batch_norm;
mod linear;
mod pool;

pub use batch_norm::{BatchNorm, BatchNormConfig};
pub use linear::{Linear, LinearConfig};
pub use pool::{
    AvgPool2d, GlobalAvgPool2d, MaxPool2d, Pool2dConfig, avg_pool2d, global_avg_pool2d, max_pool2d,
};
