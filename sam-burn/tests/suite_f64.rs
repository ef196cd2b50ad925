//! The Hessian and HVP-safe block checks in double precision
//! (NdArray<f64>), where the tolerances tighten to rounding level (see
//! `hessian_util/hessian_checks.rs`). A binary of its own: Burn keys
//! default dtypes by device, so f32 and f64 NdArray need separate
//! processes.

#[macro_use]
mod hessian_util;

mod hessian {
    use crate::hessian_util::hessian_checks::*;

    with_checks_of_both_precisions! { hessian_tests! { f64; } }
}

mod nn {
    use crate::hessian_util::nn_checks::*;

    hessian_tests! {
        f64;
        [linear_matches_burn, pools_match_burn, cnn_blocks_match_central_differences, relu_cnn_hessian_is_symmetric],
    }
}

/// Every method against the f64 reference on f64 tensors: with f32
/// rounding gone, what is left of the f32 error is the formulas.
mod reference {
    use sam_burn::check::{WrongAnswer, reference_agreement, reference_disagreement};

    type AB = burn::backend::Autodiff<burn::backend::NdArray<f64>>;

    /// The noise is drawn and scaled by rho in f32 on every backend (the
    /// reference widens the same f32 draws but scales in f64): a 6e-8
    /// relative difference in each perturbation, which the k-statistics'
    /// cancellations amplify at most ~20x (measured: 9.5e-7 at worst, the
    /// third moment; 3e-12 for the methods without noise). 1e-5 leaves a
    /// 10x margin and sits 35x below the nearest wrong answer (3.5e-4,
    /// checked below), where the f32 tolerance sits only 1.7x below it.
    const F64_TOLERANCE: f64 = 1e-5;

    #[test]
    fn optimizers_match_reference_in_double_precision() {
        let results = reference_agreement::<AB>(&Default::default());
        assert_eq!(results.len(), 35);
        let off: Vec<_> = results
            .iter()
            .filter(|r| r.relative_error.is_nan() || r.relative_error > F64_TOLERANCE)
            .collect();
        assert!(off.is_empty(), "beyond {F64_TOLERANCE:e}: {off:#?}");
    }

    #[test]
    fn wrong_answers_fail_the_double_precision_tolerance() {
        for wrong in WrongAnswer::ALL {
            let results = reference_disagreement::<AB>(&Default::default(), wrong);
            assert!(!results.is_empty(), "{wrong:?}: no case applies");
            let inside: Vec<_> = results
                .iter()
                .filter(|r| r.relative_error <= 10.0 * F64_TOLERANCE)
                .collect();
            assert!(
                inside.is_empty(),
                "{wrong:?} within 10x {F64_TOLERANCE:e}: {inside:#?}"
            );
        }
    }
}
