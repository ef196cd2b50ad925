//! Sharpness-aware optimizers wrapping any Burn optimizer.
