//! The optimizers' view: flat gradients per parameter and perturbed copies
//! of a module.
//!
//! Burn stores a module's gradients as [`GradientsParams`], keyed by
//! [`ParamId`] with the tensor's rank erased. Every optimizer here only needs
//! element-wise arithmetic, so gradients are flattened to rank 1 once
//! (a metadata-only reshape) and all combinations happen on [`Flat`] vectors.

use burn::module::{AutodiffModule, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use std::collections::HashMap;

use super::error::ParamsError;
use super::rank::{self, MAX_RANK};

/// The trainable parameters of a module, in visiting order.
///
/// A parameter is trainable here when the clean pass produced a gradient for
/// it; frozen parameters and running statistics (batch norm) are left alone.
/// The position in this list is the tensor index that keys the noise.
#[derive(Debug, Clone)]
pub(crate) struct ParamList {
    pub ids: Vec<ParamId>,
    pub shapes: Vec<Vec<usize>>,
    index: HashMap<ParamId, usize>,
}

impl ParamList {
    /// Entries of each listed parameter.
    pub fn sizes(&self) -> Vec<usize> {
        self.shapes.iter().map(|s| s.iter().product()).collect()
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn position(&self, id: &ParamId) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// Total number of scalar parameters.
    pub fn numel(&self) -> usize {
        self.shapes
            .iter()
            .map(|s| s.iter().product::<usize>())
            .sum()
    }
}

/// `y + a * x` with the cheap cases of `a` spelled out.
fn combine<B: Backend>(y: Tensor<B, 1>, a: f64, x: Tensor<B, 1>) -> Tensor<B, 1> {
    if a == 1.0 {
        y.add(x)
    } else if a == -1.0 {
        y.sub(x)
    } else {
        x.mul_scalar(a).add(y)
    }
}

/// One rank-1 tensor per trainable parameter, aligned with a [`ParamList`].
#[derive(Debug, Clone)]
pub(crate) struct Flat<B: Backend> {
    pub tensors: Vec<Tensor<B, 1>>,
}

impl<B: Backend> Flat<B> {
    /// `self * a`. Scaling by 1 costs nothing: on small models a pass over
    /// the parameters is a visible share of a step.
    pub fn scale(self, a: f64) -> Self {
        if a == 1.0 {
            return self;
        }
        Self {
            tensors: self.tensors.into_iter().map(|t| t.mul_scalar(a)).collect(),
        }
    }

    /// `self + a * x`, consuming `self` so the backend may reuse its memory;
    /// weights 0 and ±1 skip the multiplication.
    pub fn axpy(self, a: f64, x: &Flat<B>) -> Self {
        // Cloning the handles shares `x`'s buffers, so the product of a
        // general `a` goes to a fresh one and `x` is left intact.
        self.axpy_owned(a, x.clone())
    }

    /// `self + a * x` where `x` is no longer needed: the product is formed
    /// in `x`'s buffer instead of a fresh one.
    pub fn axpy_owned(self, a: f64, x: Flat<B>) -> Self {
        if a == 0.0 {
            return self;
        }
        Self {
            tensors: self
                .tensors
                .into_iter()
                .zip(x.tensors)
                .map(|(y, x)| combine(y, a, x))
                .collect(),
        }
    }

    /// Squared Euclidean norm over all parameters, as a device scalar.
    pub fn squared_norm(&self) -> Tensor<B, 1> {
        let mut parts = self.tensors.iter().map(|t| t.clone().square().sum());
        let first = parts.next().expect("a parameter list is never empty");
        parts.fold(first, |acc, p| acc.add(p))
    }
}

/// Lists the trainable parameters of `module` (those with a gradient in
/// `grads`) and flattens their gradients.
pub(crate) fn flatten_gradients<B, M>(
    module: &M,
    mut grads: GradientsParams,
) -> Result<(ParamList, Flat<B::InnerBackend>), ParamsError>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
{
    let mut visitor = Flattener::<B> {
        grads: &mut grads,
        ids: Vec::new(),
        shapes: Vec::new(),
        tensors: Vec::new(),
        unsupported: None,
    };
    module.visit(&mut visitor);
    let Flattener {
        ids,
        shapes,
        tensors,
        unsupported,
        ..
    } = visitor;
    // Checked here, so every list converts back in `unflatten`.
    if let Some(rank) = unsupported {
        return Err(ParamsError::UnsupportedRank { rank });
    }
    if ids.is_empty() {
        return Err(ParamsError::NoGradients);
    }
    let index = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    Ok((ParamList { ids, shapes, index }, Flat { tensors }))
}

/// Flattens the gradients of an already-listed set of parameters; a missing
/// gradient (the closure dropped a parameter) becomes zeros.
pub(crate) fn flatten_like<B, M>(
    module: &M,
    list: &ParamList,
    mut grads: GradientsParams,
    device: &burn::tensor::Device<B::InnerBackend>,
) -> Flat<B::InnerBackend>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
{
    Flat {
        tensors: listed_tensors::<B, M>(module, list, Source::Gradients(&mut grads))
            .into_iter()
            .zip(&list.shapes)
            .map(|(t, shape)| {
                t.unwrap_or_else(|| Tensor::zeros([shape.iter().product::<usize>()], device))
            })
            .collect(),
    }
}

/// Turns flat tensors back into Burn's [`GradientsParams`].
pub(crate) fn unflatten<B: AutodiffBackend>(
    list: &ParamList,
    flat: Flat<B::InnerBackend>,
) -> GradientsParams {
    let mut grads = GradientsParams::new();
    for ((id, shape), tensor) in list.ids.iter().zip(&list.shapes).zip(flat.tensors) {
        rank::register::<B::InnerBackend>(&mut grads, *id, shape, tensor)
            .expect("flatten_gradients admits only supported ranks into a list");
    }
    grads
}

/// Flat copies of the current (inner) parameter values.
pub(crate) fn flatten_values<B, M>(module: &M, list: &ParamList) -> Flat<B::InnerBackend>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
{
    Flat {
        tensors: listed_tensors::<B, M>(module, list, Source::Values)
            .into_iter()
            .map(|t| t.expect("every listed parameter is visited"))
            .collect(),
    }
}

/// How batch-norm running statistics behave during perturbed passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
pub enum RunningStats {
    /// Only the clean pass updates running statistics (the default): the
    /// perturbed copies get private running states that are thrown away.
    #[default]
    #[serde(alias = "clean-pass-only")]
    CleanPassOnly,
    /// Every pass updates them, as most SAM implementations (and the
    /// reference code) do.
    #[serde(alias = "all-passes")]
    AllPasses,
}

/// Builds `module` with each trainable parameter `w` replaced by
/// `perturb(index, w_flat)`, as fresh autodiff leaves with the same ids, so
/// the closure's gradients line up with the clean ones. The original module
/// is untouched; nothing is copied except the perturbed values.
pub(crate) fn perturbed_module<B, M, F>(
    module: &M,
    list: &ParamList,
    stats: RunningStats,
    perturb: F,
) -> M
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
    F: FnMut(usize, Tensor<B::InnerBackend, 1>) -> Tensor<B::InnerBackend, 1>,
{
    // `valid` + `from_inner` rebuilds running states with private storage:
    // a clone would share them with the original through an Arc.
    let base = match stats {
        RunningStats::CleanPassOnly => M::from_inner(module.valid()),
        RunningStats::AllPasses => module.clone(),
    };
    base.map(&mut Perturber::<B, F> {
        list,
        perturb,
        _b: core::marker::PhantomData,
    })
}

struct Flattener<'a, B: AutodiffBackend> {
    grads: &'a mut GradientsParams,
    ids: Vec<ParamId>,
    shapes: Vec<Vec<usize>>,
    tensors: Vec<Tensor<B::InnerBackend, 1>>,
    /// The rank of a trainable parameter outside 1 to `MAX_RANK`.
    unsupported: Option<usize>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Flattener<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.remove::<B::InnerBackend, D>(param.id) {
            if D == 0 || D > MAX_RANK {
                self.unsupported.get_or_insert(D);
                return;
            }
            let shape = g.dims().to_vec();
            let n = shape.iter().product::<usize>();
            self.ids.push(param.id);
            self.shapes.push(shape);
            self.tensors.push(g.reshape([n]));
        }
    }
}

/// Where [`listed_tensors`] takes each listed parameter's tensor from.
enum Source<'a> {
    /// Its gradient, removed from the container (absent if it has none).
    Gradients(&'a mut GradientsParams),
    /// Its current (inner) value.
    Values,
}

/// One flat tensor per listed parameter, in list order, from `source`;
/// `None` where the source has nothing for it.
fn listed_tensors<B, M>(
    module: &M,
    list: &ParamList,
    source: Source<'_>,
) -> Vec<Option<Tensor<B::InnerBackend, 1>>>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
{
    let mut visitor = Collector::<B> {
        source,
        list,
        slots: vec![None; list.len()],
    };
    module.visit(&mut visitor);
    visitor.slots
}

struct Collector<'a, B: AutodiffBackend> {
    source: Source<'a>,
    list: &'a ParamList,
    slots: Vec<Option<Tensor<B::InnerBackend, 1>>>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Collector<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let Some(i) = self.list.position(&param.id) else {
            return;
        };
        let tensor = match &mut self.source {
            Source::Gradients(grads) => grads.remove::<B::InnerBackend, D>(param.id),
            Source::Values => Some(param.val().inner()),
        };
        if let Some(t) = tensor {
            let n = t.shape().num_elements();
            self.slots[i] = Some(t.reshape([n]));
        }
    }
}

struct Perturber<'a, B: AutodiffBackend, F> {
    list: &'a ParamList,
    perturb: F,
    _b: core::marker::PhantomData<B>,
}

impl<B, F> ModuleMapper<B> for Perturber<'_, B, F>
where
    B: AutodiffBackend,
    F: FnMut(usize, Tensor<B::InnerBackend, 1>) -> Tensor<B::InnerBackend, 1>,
{
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, tensor, mapper) = param.consume();
        let Some(i) = self.list.position(&id) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let dims = tensor.dims();
        let n = dims.iter().product::<usize>();
        let new = (self.perturb)(i, tensor.inner().reshape([n])).reshape(dims);
        Param::from_mapped_value(id, Tensor::from_inner(new).require_grad(), mapper)
    }
}

/// Uploads host values as a flat tensor on `device`.
pub(crate) fn upload<B: Backend>(values: Vec<f32>, device: &B::Device) -> Tensor<B, 1> {
    let n = values.len();
    Tensor::from_data(TensorData::new(values, [n]), device)
}

/// Sizes of the parameters that require gradients, in visiting order: the
/// parameter list a clean pass will normally produce, known before it runs.
pub(crate) fn trainable_sizes<B: AutodiffBackend, M: AutodiffModule<B>>(module: &M) -> Vec<usize> {
    struct Sizes(Vec<usize>);
    impl<B: AutodiffBackend> ModuleVisitor<B> for Sizes {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            let v = param.val();
            if v.is_require_grad() {
                self.0.push(v.shape().num_elements());
            }
        }
    }
    let mut sizes = Sizes(Vec::new());
    module.visit(&mut sizes);
    sizes.0
}
