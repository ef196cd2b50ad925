//! The Hessian diagnostics' view: parameter-shaped vectors, the space
//! Hessian-vector products act on.

use std::sync::Arc;

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{Tensor, TensorData, backend::Backend};

use super::error::ParamsError;
use super::layout::{ParamGroup, ParamInfo, ParamLayout, Probe};
use super::rank::{self, UnsupportedRank};
use sam_core::rng::Xoshiro256pp as Rng;

/// A vector in parameter space: one flat tensor holding every trainable
/// parameter's coordinates, in the order of its [`ParamLayout`].
///
/// Keeping one flat tensor makes the linear algebra of the estimators (dot
/// products, axpy, reorthogonalisation) one device operation each; the
/// per-parameter views are slices of it.
#[derive(Debug, Clone)]
pub struct ParamVector<B: Backend> {
    layout: Arc<ParamLayout>,
    values: Tensor<B, 1>,
}

impl<B: Backend> ParamVector<B> {
    /// Wraps a flat tensor of length `layout.dim()`.
    pub fn from_tensor(
        layout: Arc<ParamLayout>,
        values: Tensor<B, 1>,
    ) -> Result<Self, ParamsError> {
        let [n] = values.dims();
        if n != layout.dim() {
            return Err(ParamsError::LayoutMismatch {
                reason: format!("tensor has {n} coordinates, the layout {}", layout.dim()),
            });
        }
        Ok(Self { layout, values })
    }

    /// Builds a vector from host values (length `layout.dim()`).
    pub fn from_f64(
        layout: Arc<ParamLayout>,
        values: &[f64],
        device: &B::Device,
    ) -> Result<Self, ParamsError> {
        let n = values.len();
        // Uploaded as f64 and converted to the backend's float type.
        let values = Tensor::from_data(TensorData::new(values.to_vec(), [n]), device);
        Self::from_tensor(layout, values)
    }

    pub(crate) fn from_host(
        layout: Arc<ParamLayout>,
        data: Vec<f32>,
        device: &B::Device,
    ) -> Result<Self, ParamsError> {
        let n = data.len();
        let values = Tensor::from_data(TensorData::new(data, [n]), device);
        Self::from_tensor(layout, values)
    }

    /// The zero vector.
    pub fn zeros(layout: Arc<ParamLayout>, device: &B::Device) -> Self {
        let values = Tensor::zeros([layout.dim()], device);
        Self { layout, values }
    }

    /// The `index`-th standard basis vector.
    pub fn basis(
        layout: Arc<ParamLayout>,
        index: usize,
        device: &B::Device,
    ) -> Result<Self, ParamsError> {
        if index >= layout.dim() {
            return Err(ParamsError::LayoutMismatch {
                reason: format!("basis index {index} out of range 0..{}", layout.dim()),
            });
        }
        let mut data = vec![0.0f32; layout.dim()];
        data[index] = 1.0;
        Self::from_host(layout, data, device)
    }

    /// A random vector with i.i.d. entries, reproducible from `seed` on every
    /// backend (drawn on the host, then uploaded).
    pub fn random(layout: Arc<ParamLayout>, probe: Probe, seed: u64, device: &B::Device) -> Self {
        let mut data = vec![0.0f32; layout.dim()];
        let mut rng = Rng::new(seed);
        match probe {
            Probe::Rademacher => rng.fill_rademacher(&mut data),
            Probe::Gaussian => rng.fill_gaussian(&mut data),
        }
        let n = data.len();
        let values = Tensor::from_data(TensorData::new(data, [n]), device);
        Self { layout, values }
    }

    /// The parameter values of `module` as a vector (its layout must list
    /// the module's parameters; missing ones are zero).
    pub fn from_module<AB, M>(layout: Arc<ParamLayout>, module: &M) -> Self
    where
        AB: burn::tensor::backend::AutodiffBackend<InnerBackend = B>,
        M: Module<AB>,
    {
        struct Values<'a, B: Backend> {
            layout: &'a ParamLayout,
            parts: Vec<Option<Tensor<B, 1>>>,
            device: Option<B::Device>,
        }
        impl<AB: burn::tensor::backend::AutodiffBackend> ModuleVisitor<AB>
            for Values<'_, AB::InnerBackend>
        {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<AB, D>>) {
                if let Some(i) = self.layout.params.iter().position(|p| p.id == param.id)
                    && self.parts[i].is_none()
                {
                    let n = self.layout.params[i].len;
                    let value = param.val().inner();
                    self.device.get_or_insert_with(|| value.device());
                    self.parts[i] = Some(value.reshape([n]));
                }
            }
        }
        let mut visitor = Values::<B> {
            layout: &layout,
            parts: vec![None; layout.params.len()],
            device: None,
        };
        module.visit(&mut visitor);
        let parts = visitor.parts;
        let device = visitor.device.unwrap_or_default();
        let pieces = layout
            .params
            .iter()
            .zip(parts)
            .map(|(p, t)| t.unwrap_or_else(|| Tensor::zeros([p.len], &device)))
            .collect();
        Self::assemble(layout, pieces, &device)
    }

    pub(crate) fn assemble(
        layout: Arc<ParamLayout>,
        pieces: Vec<Tensor<B, 1>>,
        device: &B::Device,
    ) -> Self {
        let values = if pieces.is_empty() {
            Tensor::zeros([0], device)
        } else {
            Tensor::cat(pieces, 0)
        };
        Self { layout, values }
    }

    /// The layout.
    pub fn layout(&self) -> &Arc<ParamLayout> {
        &self.layout
    }

    /// Number of coordinates.
    pub fn dim(&self) -> usize {
        self.layout.dim()
    }

    /// The flat tensor.
    pub fn tensor(&self) -> &Tensor<B, 1> {
        &self.values
    }

    /// The flat tensor, by value.
    pub fn into_tensor(self) -> Tensor<B, 1> {
        self.values
    }

    /// The device holding the vector.
    pub fn device(&self) -> B::Device {
        self.values.device()
    }

    /// Copies the coordinates to the host.
    pub fn to_vec(&self) -> Vec<f64> {
        self.values.clone().into_data().iter::<f64>().collect()
    }

    /// Flat coordinates of one parameter (`None` if the id is not in the layout).
    pub fn param_flat(&self, id: ParamId) -> Option<Tensor<B, 1>> {
        let p = self.layout.find(id)?;
        Some(self.values.clone().narrow(0, p.offset, p.len))
    }

    /// One parameter's coordinates in its own shape (`None` if the id is not
    /// in the layout or `D` is not its rank).
    pub fn param<const D: usize>(&self, id: ParamId) -> Option<Tensor<B, D>> {
        let p = self.layout.find(id)?;
        let dims: [usize; D] = p.shape.clone().try_into().ok()?;
        Some(self.values.clone().narrow(0, p.offset, p.len).reshape(dims))
    }

    fn check(&self, other: &Self) {
        assert!(
            Arc::ptr_eq(&self.layout, &other.layout) || self.layout.is_compatible(&other.layout),
            "ParamVector layouts differ"
        );
    }

    /// Inner product, accumulated on the device and read back as `f64`.
    ///
    /// # Panics
    /// If the layouts differ (as Burn's tensor operations do on shape mismatch).
    pub fn dot(&self, other: &Self) -> f64 {
        self.check(other);
        read_scalar((self.values.clone() * other.values.clone()).sum())
    }

    /// Euclidean norm.
    pub fn norm(&self) -> f64 {
        read_scalar(self.values.clone().powi_scalar(2).sum()).sqrt()
    }

    /// `a * self`.
    pub fn scale(&self, a: f64) -> Self {
        Self {
            layout: self.layout.clone(),
            values: self.values.clone().mul_scalar(a),
        }
    }

    /// `self + a * x`.
    ///
    /// # Panics
    /// If the layouts differ.
    pub fn axpy(&self, a: f64, x: &Self) -> Self {
        self.check(x);
        Self {
            layout: self.layout.clone(),
            values: self.values.clone() + x.values.clone().mul_scalar(a),
        }
    }

    /// `self + x`.
    ///
    /// # Panics
    /// If the layouts differ.
    pub fn add(&self, x: &Self) -> Self {
        self.check(x);
        Self {
            layout: self.layout.clone(),
            values: self.values.clone() + x.values.clone(),
        }
    }

    /// `self - x`.
    ///
    /// # Panics
    /// If the layouts differ.
    pub fn sub(&self, x: &Self) -> Self {
        self.check(x);
        Self {
            layout: self.layout.clone(),
            values: self.values.clone() - x.values.clone(),
        }
    }

    /// Zeroes every coordinate outside `group`.
    pub fn restrict(&self, group: &ParamGroup) -> Self {
        let mask = self.layout.mask(group);
        let n = mask.len();
        let mask = Tensor::from_data(TensorData::new(mask, [n]), &self.values.device());
        self.masked(&mask)
    }

    pub(crate) fn masked(&self, mask: &Tensor<B, 1>) -> Self {
        Self {
            layout: self.layout.clone(),
            values: self.values.clone() * mask.clone(),
        }
    }

    /// Converts to Burn's per-parameter gradient container (e.g. to hand a
    /// Hessian-vector product to an optimizer).
    pub fn to_gradients(&self) -> Result<GradientsParams, ParamsError> {
        let mut grads = GradientsParams::new();
        for p in &self.layout.params {
            let flat = self.values.clone().narrow(0, p.offset, p.len);
            register_dyn(&mut grads, p, flat)?;
        }
        Ok(grads)
    }

    /// Builds a vector from Burn's gradient container; parameters without a
    /// gradient are zero.
    pub fn from_gradients(
        layout: Arc<ParamLayout>,
        grads: &GradientsParams,
        device: &B::Device,
    ) -> Result<Self, ParamsError> {
        let mut pieces = Vec::with_capacity(layout.params.len());
        for p in &layout.params {
            let piece = get_dyn::<B>(grads, p)?.unwrap_or_else(|| Tensor::zeros([p.len], device));
            pieces.push(piece);
        }
        Ok(Self::assemble(layout, pieces, device))
    }
}

fn read_scalar<B: Backend>(t: Tensor<B, 1>) -> f64 {
    t.into_data().iter::<f64>().next().unwrap_or(f64::NAN)
}

/// The Hessian diagnostics' word for a rank the flat views do not convert.
fn rank_error(p: &ParamInfo, e: UnsupportedRank) -> ParamsError {
    ParamsError::LayoutMismatch {
        reason: format!("parameter `{}` {e}", p.path),
    }
}

fn register_dyn<B: Backend>(
    grads: &mut GradientsParams,
    p: &ParamInfo,
    flat: Tensor<B, 1>,
) -> Result<(), ParamsError> {
    rank::register(grads, p.id, &p.shape, flat).map_err(|e| rank_error(p, e))
}

fn get_dyn<B: Backend>(
    grads: &GradientsParams,
    p: &ParamInfo,
) -> Result<Option<Tensor<B, 1>>, ParamsError> {
    rank::get(grads, p.id, &p.shape).map_err(|e| rank_error(p, e))
}

/// Inner products of `w` with each vector of `basis`, read back in one transfer.
fn dots<B: Backend>(basis: &[ParamVector<B>], w: &ParamVector<B>) -> Vec<f64> {
    if basis.is_empty() {
        return Vec::new();
    }
    let parts = basis
        .iter()
        .map(|q| (q.values.clone() * w.values.clone()).sum())
        .collect();
    Tensor::cat(parts, 0).into_data().iter::<f64>().collect()
}

/// Removes from `w` its components along the orthonormal `basis`: classical
/// Gram-Schmidt applied twice ("twice is enough", Giraud et al. 2005), which
/// keeps orthogonality at rounding level.
pub(crate) fn orthogonalize<B: Backend>(
    w: ParamVector<B>,
    basis: &[ParamVector<B>],
) -> ParamVector<B> {
    let mut w = w;
    for _ in 0..2 {
        let c = dots(basis, &w);
        for (q, c) in basis.iter().zip(c) {
            w = w.axpy(-c, q);
        }
    }
    w
}

/// `sum_i coeffs[i] * basis[i]`.
pub(crate) fn combination<B: Backend>(basis: &[ParamVector<B>], coeffs: &[f64]) -> ParamVector<B> {
    let mut out = basis[0].scale(coeffs[0]);
    for (q, &c) in basis.iter().zip(coeffs).skip(1) {
        out = out.axpy(c, q);
    }
    out
}
