//! Where each trainable parameter sits in a flat parameter vector
//! ([`ParamLayout`]), groups of parameters ([`ParamGroup`]) and the
//! distributions of random probe vectors ([`Probe`]).

use std::collections::HashSet;

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::tensor::{Tensor, backend::Backend};

use super::error::ParamsError;

/// One trainable parameter tensor, as laid out in a [`ParamVector`](crate::params::ParamVector).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamInfo {
    /// The parameter's id (shared by the module on every backend).
    pub id: ParamId,
    /// Dotted module path, e.g. `layers.0.weight`.
    pub path: String,
    /// Shape of the parameter tensor.
    pub shape: Vec<usize>,
    /// Offset of its first coordinate in the flat vector.
    pub offset: usize,
    /// Number of coordinates.
    pub len: usize,
}

/// The trainable float parameters of a module, in visiting order, and where
/// each one sits in a flat vector.
///
/// Only parameters whose tensor requires a gradient are included (frozen
/// parameters and running statistics such as batch-norm means are not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamLayout {
    pub(super) params: Vec<ParamInfo>,
    pub(super) dim: usize,
}

struct LayoutVisitor {
    path: Vec<String>,
    params: Vec<ParamInfo>,
    seen: HashSet<ParamId>,
    offset: usize,
}

impl<B: Backend> ModuleVisitor<B> for LayoutVisitor {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let tensor = param.val();
        // Tied parameters are visited once per use: keep the first.
        if !tensor.is_require_grad() || !self.seen.insert(param.id) {
            return;
        }
        let shape = tensor.dims().to_vec();
        let len = shape.iter().product();
        self.params.push(ParamInfo {
            id: param.id,
            path: self.path.join("."),
            shape,
            offset: self.offset,
            len,
        });
        self.offset += len;
    }
}

impl ParamLayout {
    /// The layout of `module`'s trainable parameters (those requiring a
    /// gradient: use a module on an autodiff backend).
    pub fn from_module<B: Backend, M: Module<B>>(module: &M) -> Self {
        let mut visitor = LayoutVisitor {
            path: Vec::new(),
            params: Vec::new(),
            seen: HashSet::new(),
            offset: 0,
        };
        module.visit(&mut visitor);
        Self {
            dim: visitor.offset,
            params: visitor.params,
        }
    }

    /// The parameters, in order.
    pub fn params(&self) -> &[ParamInfo] {
        &self.params
    }

    /// Total number of coordinates (the Hessian is `dim x dim`).
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of parameter tensors.
    pub fn num_params(&self) -> usize {
        self.params.len()
    }

    /// The parameter with this id.
    pub fn find(&self, id: ParamId) -> Option<&ParamInfo> {
        self.params.iter().find(|p| p.id == id)
    }

    /// Parameters whose path is `prefix` or starts with `prefix.` (e.g.
    /// `layers.0` selects `layers.0.weight` and `layers.0.bias`, not
    /// `layers.01.weight`). The empty prefix selects everything.
    pub fn group_by_prefix(&self, prefix: &str) -> Result<ParamGroup, ParamsError> {
        let indices = self
            .params
            .iter()
            .enumerate()
            .filter(|(_, p)| {
                prefix.is_empty()
                    || p.path == prefix
                    || (p.path.starts_with(prefix) && p.path[prefix.len()..].starts_with('.'))
            })
            .map(|(i, _)| i)
            .collect();
        self.group(prefix.to_string(), indices)
    }

    /// The parameters with the given ids, under a name of your choice.
    pub fn group_by_ids(&self, name: &str, ids: &[ParamId]) -> Result<ParamGroup, ParamsError> {
        let indices = self
            .params
            .iter()
            .enumerate()
            .filter(|(_, p)| ids.contains(&p.id))
            .map(|(i, _)| i)
            .collect();
        self.group(name.to_string(), indices)
    }

    /// One group per parameter tensor, named by its path.
    pub fn param_groups(&self) -> Vec<ParamGroup> {
        (0..self.params.len())
            .map(|i| ParamGroup {
                name: self.params[i].path.clone(),
                indices: vec![i],
                dim: self.params[i].len,
            })
            .collect()
    }

    /// One group per innermost module (parameters sharing the path up to the
    /// last dot, e.g. a layer's weight and bias), in order of first appearance.
    pub fn module_groups(&self) -> Vec<ParamGroup> {
        let mut groups: Vec<ParamGroup> = Vec::new();
        for (i, p) in self.params.iter().enumerate() {
            let name = p.path.rsplit_once('.').map(|(m, _)| m).unwrap_or("");
            match groups.iter_mut().find(|g| g.name == name) {
                Some(g) => {
                    g.indices.push(i);
                    g.dim += p.len;
                }
                None => groups.push(ParamGroup {
                    name: name.to_string(),
                    indices: vec![i],
                    dim: p.len,
                }),
            }
        }
        groups
    }

    fn group(&self, name: String, indices: Vec<usize>) -> Result<ParamGroup, ParamsError> {
        if indices.is_empty() {
            return Err(ParamsError::EmptyGroup { name });
        }
        let dim = indices.iter().map(|&i| self.params[i].len).sum();
        Ok(ParamGroup { name, indices, dim })
    }

    /// Whether vectors of both layouts are interchangeable: the same parameter
    /// ids with the same shapes, in the same order (paths may differ, e.g.
    /// for a layer used inside different models).
    pub fn is_compatible(&self, other: &ParamLayout) -> bool {
        self.dim == other.dim
            && self.params.len() == other.params.len()
            && self
                .params
                .iter()
                .zip(&other.params)
                .all(|(a, b)| a.id == b.id && a.shape == b.shape)
    }

    /// 0/1 mask of a group's coordinates, on the host.
    pub(crate) fn mask(&self, group: &ParamGroup) -> Vec<f32> {
        let mut mask = vec![0.0f32; self.dim];
        for &i in &group.indices {
            let p = &self.params[i];
            mask[p.offset..p.offset + p.len].fill(1.0);
        }
        mask
    }
}

/// A subset of a model's parameters (a layer, a block): per-group
/// diagnostics restrict the Hessian to these coordinates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamGroup {
    pub(super) name: String,
    pub(super) indices: Vec<usize>,
    pub(super) dim: usize,
}

impl ParamGroup {
    /// The group's name (prefix, path or the name given).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Indices into [`ParamLayout::params`].
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }

    /// Number of coordinates in the group.
    pub fn dim(&self) -> usize {
        self.dim
    }
}

/// Distribution of the entries of a random probe vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// Independent +-1 entries (Hutchinson's trace estimator: lowest variance).
    Rademacher,
    /// Independent standard normal entries (`E[||Hv||^2] = ||H||_F^2`).
    Gaussian,
}
