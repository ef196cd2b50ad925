//! Hessian diagnostics by double-backward Hessian-vector products.
