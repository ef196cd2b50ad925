//! One device's replica in a data-parallel run: joining the collective, the
//! per-pass all-reduce, and keeping the replicas' modules identical.

use std::marker::PhantomData;
use std::ops::Range;

use burn::collective::{self, CollectiveConfig, CollectiveError, PeerId, ReduceOperation};
use burn::module::{AutodiffModule, ModuleMapper, Param};
use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, Tensor, TensorPrimitive};

use crate::error::ParallelError;
use crate::optim::{OptimError, Pass, PassOutput};
use crate::params::{Flat, flatten_gradients, unflatten};

type Inner<B> = <B as AutodiffBackend>::InnerBackend;

/// The examples of a batch of `n` that replica `rank` of `size` takes:
/// contiguous shards whose sizes differ by at most one (the first `n mod
/// size` replicas take one more).
///
/// ```
/// use sam_burn::parallel::shard_range;
/// assert_eq!(shard_range(8, 0, 2), 0..4);
/// assert_eq!(shard_range(8, 1, 2), 4..8);
/// assert_eq!(shard_range(5, 2, 3), 4..5);
/// ```
pub fn shard_range(n: usize, rank: usize, size: usize) -> Range<usize> {
    let size = size.max(1);
    let (base, extra) = (n / size, n % size);
    let start = rank * base + rank.min(extra);
    let len = base + usize::from(rank < extra);
    start.min(n)..(start + len).min(n)
}

/// This device's member of a data-parallel collective (see the
/// [module docs](super) for what is all-reduced and why).
///
/// `B` is the autodiff backend the model trains on; the collective runs on
/// its inner backend, as burn-collective requires.
#[derive(Debug)]
pub struct Replica<B: AutodiffBackend> {
    rank: usize,
    size: usize,
    device: B::Device,
    _backend: PhantomData<fn() -> B>,
}

impl<B: AutodiffBackend> Replica<B> {
    /// Joins the collective as replica `rank` of `size` on `device`. Blocks
    /// until all `size` replicas have joined (each on its own thread).
    /// `config` carries the strategies (and, across machines, the
    /// orchestrator's address); its device count is set to `size` here.
    ///
    /// # Errors
    /// [`ParallelError::NoReplicas`], [`ParallelError::InvalidRank`], or a
    /// collective error (a replica joined with another configuration, or
    /// twice).
    pub fn join(
        rank: usize,
        size: usize,
        device: B::Device,
        config: CollectiveConfig,
    ) -> Result<Self, ParallelError> {
        if size == 0 {
            return Err(ParallelError::NoReplicas);
        }
        if rank >= size {
            return Err(ParallelError::InvalidRank { rank, size });
        }
        let config = config.with_num_devices(size);
        collective::register::<Inner<B>>(PeerId::from(rank), device.clone(), config)
            .map_err(|e| collective_error("register", rank, e))?;
        Ok(Self {
            rank,
            size,
            device,
            _backend: PhantomData,
        })
    }

    /// Leaves the collective once the run is over (every replica calls it).
    ///
    /// # Errors
    /// A collective error if this replica already left or never joined.
    pub fn leave(self) -> Result<(), ParallelError> {
        collective::finish_collective::<Inner<B>>(self.peer())
            .map_err(|e| collective_error("finish", self.rank, e))
    }

    /// Gives up: cancels the collective's pending operation and forgets
    /// every replica, so the others return an error from their next (or
    /// current) collective operation instead of waiting for this one.
    pub fn abort(&self) {
        collective::reset_collective::<Inner<B>>();
    }

    /// This replica's rank, from 0.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The number of replicas.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Whether this is replica 0, the one that writes outputs.
    pub fn is_main(&self) -> bool {
        self.rank == 0
    }

    /// The device this replica computes on.
    pub fn device(&self) -> &B::Device {
        &self.device
    }

    /// This replica's examples of a global batch of `n`.
    pub fn shard(&self, n: usize) -> Range<usize> {
        shard_range(n, self.rank, self.size)
    }

    /// The factor `c_r = D n_r / N` that makes the mean over replicas of
    /// their shard means the global batch's mean (1 for equal shards).
    pub fn shard_weight(&self, n: usize) -> f64 {
        if n == 0 {
            return 0.0;
        }
        (self.shard(n).len() * self.size) as f64 / n as f64
    }

    fn peer(&self) -> PeerId {
        PeerId::from(self.rank)
    }

    /// Mean over replicas of a tensor (every replica gets the same bits).
    ///
    /// # Errors
    /// A collective error (another replica aborted, shapes differ).
    pub fn all_reduce_mean<const D: usize>(
        &self,
        tensor: Tensor<Inner<B>, D>,
    ) -> Result<Tensor<Inner<B>, D>, ParallelError> {
        self.all_reduce(tensor, ReduceOperation::Mean)
    }

    /// Sum over replicas of a tensor (every replica gets the same bits).
    ///
    /// # Errors
    /// A collective error (another replica aborted, shapes differ).
    pub fn all_reduce_sum<const D: usize>(
        &self,
        tensor: Tensor<Inner<B>, D>,
    ) -> Result<Tensor<Inner<B>, D>, ParallelError> {
        self.all_reduce(tensor, ReduceOperation::Sum)
    }

    fn all_reduce<const D: usize>(
        &self,
        tensor: Tensor<Inner<B>, D>,
        op: ReduceOperation,
    ) -> Result<Tensor<Inner<B>, D>, ParallelError> {
        if self.size == 1 {
            return Ok(tensor);
        }
        let reduced =
            collective::all_reduce::<Inner<B>>(self.peer(), tensor.into_primitive().tensor(), op)
                .map_err(|e| collective_error("all-reduce", self.rank, e))?;
        Ok(Tensor::from_primitive(TensorPrimitive::Float(reduced)))
    }

    /// Sums host values over replicas (counts, loss sums), in f32 on the
    /// device: exact for integers below 2^24.
    ///
    /// # Errors
    /// A collective error.
    pub fn sum_values(&self, values: &[f64]) -> Result<Vec<f64>, ParallelError> {
        if self.size == 1 || values.is_empty() {
            return Ok(values.to_vec());
        }
        let floats: Vec<f32> = values.iter().map(|&v| v as f32).collect();
        let t = Tensor::<Inner<B>, 1>::from_floats(floats.as_slice(), &self.device);
        let data = self.all_reduce_sum(t)?.into_data().convert::<f64>();
        Ok(data
            .to_vec::<f64>()
            .expect("data converted to f64 reads back as f64"))
    }

    /// Makes one pass global: packs the shard's loss and gradients into one
    /// tensor, scales it by `weight` (the shard's [`shard_weight`]), takes
    /// the mean over replicas in one all-reduce, and unpacks. Every replica
    /// returns the same loss and gradients: the global batch's.
    ///
    /// [`shard_weight`]: Self::shard_weight
    ///
    /// # Errors
    /// [`OptimError::NoGradients`] when the pass produced none, or
    /// [`OptimError::Parallel`] when the all-reduce failed.
    pub fn all_reduce_pass<M: AutodiffModule<B>>(
        &self,
        model: &M,
        loss: f64,
        grads: GradientsParams,
        weight: f64,
    ) -> Result<(f64, GradientsParams), OptimError> {
        if self.size == 1 && weight == 1.0 {
            return Ok((loss, grads));
        }
        let (list, flat) = flatten_gradients::<B, M>(model, grads)?;
        let sizes: Vec<usize> = flat.tensors.iter().map(|t| t.dims()[0]).collect();
        let device = flat.tensors[0].device();
        let mut parts = flat.tensors;
        parts.push(Tensor::from_floats([loss as f32], &device));
        let mut packed = Tensor::cat(parts, 0);
        if weight != 1.0 {
            packed = packed.mul_scalar(weight);
        }
        let reduced = self.all_reduce_mean(packed)?;
        let mut pieces = reduced.split_with_sizes(sizes.iter().copied().chain([1]).collect(), 0);
        let loss = pieces
            .pop()
            .expect("the loss is packed last")
            .into_scalar()
            .elem::<f64>();
        Ok((loss, unflatten::<B>(&list, Flat { tensors: pieces })))
    }

    /// Wraps a step closure so that every pass it evaluates is made global
    /// ([`all_reduce_pass`](Self::all_reduce_pass)); hand the result to any
    /// optimizer's `step`. `weight` is the shard's
    /// [`shard_weight`](Self::shard_weight) for this batch.
    pub fn closure<'a, M, F, P>(
        &'a self,
        weight: f64,
        mut closure: F,
    ) -> impl FnMut(M, Pass) -> Result<(f64, GradientsParams, P::Extra), OptimError> + 'a
    where
        M: AutodiffModule<B> + 'a,
        F: FnMut(M, Pass) -> P + 'a,
        P: PassOutput,
    {
        move |model: M, pass: Pass| {
            let (loss, grads, extra) = closure(model.clone(), pass).split()?;
            let (loss, grads) = self.all_reduce_pass(&model, loss, grads, weight)?;
            Ok((loss, grads, extra))
        }
    }

    /// Replaces every float tensor of `module` (parameters and running
    /// statistics) by replica 0's, so that all replicas start identical.
    ///
    /// # Errors
    /// A collective error.
    pub fn broadcast_module<M: AutodiffModule<B>>(&self, module: M) -> Result<M, ParallelError> {
        self.sync(module, Sync::All)
    }

    /// Averages the module's running statistics (float tensors that take no
    /// gradient, such as batch norm's running mean and variance) over the
    /// replicas, which computed them from different shards.
    ///
    /// # Errors
    /// A collective error.
    pub fn average_buffers<M: AutodiffModule<B>>(&self, module: M) -> Result<M, ParallelError> {
        self.sync(module, Sync::Buffers)
    }

    fn sync<M: AutodiffModule<B>>(&self, module: M, what: Sync) -> Result<M, ParallelError> {
        if self.size == 1 {
            return Ok(module);
        }
        let mut mapper = Syncer {
            replica: self,
            what,
            error: None,
        };
        let module = module.map(&mut mapper);
        match mapper.error {
            Some(e) => Err(e),
            None => Ok(module),
        }
    }

    fn broadcast<const D: usize>(
        &self,
        tensor: Tensor<Inner<B>, D>,
    ) -> Result<Tensor<Inner<B>, D>, ParallelError> {
        let shape = tensor.shape();
        let sent = self.is_main().then(|| tensor.into_primitive().tensor());
        let got = collective::broadcast::<Inner<B>>(self.peer(), sent)
            .map_err(|e| collective_error("broadcast", self.rank, e))?;
        Ok(Tensor::<Inner<B>, D>::from_primitive(TensorPrimitive::Float(got)).reshape(shape))
    }
}

fn collective_error(operation: &'static str, rank: usize, e: CollectiveError) -> ParallelError {
    // What `abort` (`reset_collective`) leaves the other replicas with.
    let cancelled = matches!(
        e,
        CollectiveError::LocalServerMissing | CollectiveError::RegisterNotFirstOperation
    );
    ParallelError::Collective {
        operation,
        rank,
        message: format!("{e:?}"),
        cancelled,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sync {
    /// Every float tensor from replica 0.
    All,
    /// The mean of the tensors that take no gradient.
    Buffers,
}

struct Syncer<'a, B: AutodiffBackend> {
    replica: &'a Replica<B>,
    what: Sync,
    error: Option<ParallelError>,
}

impl<B: AutodiffBackend> ModuleMapper<B> for Syncer<'_, B> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, tensor, mapper) = param.consume();
        let trainable = tensor.is_require_grad();
        if self.error.is_some() || (self.what == Sync::Buffers && trainable) {
            return Param::from_mapped_value(id, tensor, mapper);
        }
        let inner = tensor.clone().inner();
        let synced = match self.what {
            Sync::All => self.replica.broadcast(inner),
            Sync::Buffers => self.replica.all_reduce_mean(inner),
        };
        match synced {
            Ok(t) => {
                let t = Tensor::from_inner(t);
                let t = if trainable { t.require_grad() } else { t };
                Param::from_mapped_value(id, t, mapper)
            }
            Err(e) => {
                self.error = Some(e);
                Param::from_mapped_value(id, tensor, mapper)
            }
        }
    }
}
