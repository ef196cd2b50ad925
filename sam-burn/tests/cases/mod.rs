//! The f32 checks, one module per subject (they were one test binary each;
//! one binary compiles the backends' generic code once).

mod accumulate;
mod hessian;
#[cfg(feature = "learner")]
mod learner;
mod nn;
mod optim_behaviour;
mod optim_mnist;
mod optim_reference;
#[cfg(feature = "parallel")]
mod parallel;
