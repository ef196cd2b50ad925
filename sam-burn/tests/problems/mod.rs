//! The analytic problems as Burn modules live in `sam_burn::check`.
#![allow(unused_imports)]

pub use sam_burn::check::problems::*;
