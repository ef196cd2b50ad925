//! Between rank-1 views and Burn's rank-typed gradient container, for the
//! ranks Burn's modules hold.

use burn::module::ParamId;
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

/// The highest parameter rank the flat views convert back (Burn's modules
/// hold ranks 1 to 4; 6 leaves room for custom ones).
pub(crate) const MAX_RANK: usize = 6;

/// A parameter whose rank is outside 1 to [`MAX_RANK`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UnsupportedRank {
    /// The parameter's rank.
    pub rank: usize,
}

impl core::fmt::Display for UnsupportedRank {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "has rank {}; ranks 1 to {MAX_RANK} are supported",
            self.rank
        )
    }
}

/// Runs `$body` with `$rank` bound to `$shape.len()` as a constant.
macro_rules! with_rank {
    ($shape:expr, $rank:ident => $body:expr) => {
        match $shape.len() {
            1 => {
                const $rank: usize = 1;
                Ok($body)
            }
            2 => {
                const $rank: usize = 2;
                Ok($body)
            }
            3 => {
                const $rank: usize = 3;
                Ok($body)
            }
            4 => {
                const $rank: usize = 4;
                Ok($body)
            }
            5 => {
                const $rank: usize = 5;
                Ok($body)
            }
            6 => {
                const $rank: usize = 6;
                Ok($body)
            }
            rank => Err(UnsupportedRank { rank }),
        }
    };
}

/// Registers the rank-1 `flat` under `id` with its original `shape`.
pub(crate) fn register<B: Backend>(
    grads: &mut GradientsParams,
    id: ParamId,
    shape: &[usize],
    flat: Tensor<B, 1>,
) -> Result<(), UnsupportedRank> {
    with_rank!(shape, R => {
        let dims: [usize; R] = shape.try_into().expect("the match fixed the rank");
        grads.register::<B, R>(id, flat.reshape(dims));
    })
}

/// The gradient of `id` (of rank `shape.len()`) as a rank-1 view.
pub(crate) fn get<B: Backend>(
    grads: &GradientsParams,
    id: ParamId,
    shape: &[usize],
) -> Result<Option<Tensor<B, 1>>, UnsupportedRank> {
    let n = shape.iter().product::<usize>();
    with_rank!(shape, R => grads.get::<B, R>(id).map(|t| t.reshape([n])))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    #[test]
    fn every_supported_rank_round_trips_and_others_are_refused() {
        let device = Default::default();
        for rank in 1..=MAX_RANK {
            let shape: Vec<usize> = (0..rank).map(|i| i + 1).collect();
            let n: usize = shape.iter().product();
            let flat = Tensor::<Flex, 1, burn::tensor::Int>::arange(0..n as i64, &device).float();
            let mut grads = GradientsParams::new();
            let id = ParamId::new();
            register::<Flex>(&mut grads, id, &shape, flat.clone()).unwrap();
            let back = get::<Flex>(&grads, id, &shape).unwrap().unwrap();
            assert_eq!(back.into_data(), flat.into_data(), "rank {rank}");
        }
        let seven = [1usize; 7];
        let mut grads = GradientsParams::new();
        let flat = Tensor::<Flex, 1>::zeros([1], &device);
        assert_eq!(
            register::<Flex>(&mut grads, ParamId::new(), &seven, flat),
            Err(UnsupportedRank { rank: 7 })
        );
        assert_eq!(
            get::<Flex>(&grads, ParamId::new(), &[]).map(|t| t.is_some()),
            Err(UnsupportedRank { rank: 0 })
        );
    }
}
