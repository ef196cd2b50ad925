//! Layers that Burn 0.21 can differentiate twice (HVP-safe building blocks).
