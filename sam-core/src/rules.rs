//! Perturbation rules of the worst-case methods (SAM, ASAM) and SSAM's
//! Fisher mask, on plain f64 vectors.
//!
//! The tensor crate applies the same formulas tensor by tensor; these are
//! the references its tests compare against.

use crate::error::{Result, SamError, finite};
use crate::sampler::norm;

fn check_rho(rho: f64) -> Result<()> {
    // Radius 0 is allowed here: it is the degenerate rule (no perturbation).
    if rho.is_finite() && rho >= 0.0 {
        Ok(())
    } else {
        Err(SamError::InvalidRho(rho))
    }
}

fn check_finite(v: &[f64], what: &str) -> Result<()> {
    for (i, x) in v.iter().enumerate() {
        finite(*x, || format!("{what}[{i}]"))?;
    }
    Ok(())
}

/// `rho / norm`, or 0 when `norm` is 0 or not finite: a zero gradient gives
/// a zero perturbation instead of NaN. (The common PyTorch code divides by
/// `norm + 1e-12` instead; the two differ only for norms near 1e-12.)
pub fn sam_scale(norm: f64, rho: f64) -> f64 {
    if norm > 0.0 && norm.is_finite() {
        rho / norm
    } else {
        0.0
    }
}

/// SAM's ascent step `rho g / ||g||` (the maximiser of the first-order loss
/// over the ball of radius `rho`). `rho >= 0` finite; `g` finite.
pub fn sam_perturbation(g: &[f64], rho: f64) -> Result<Vec<f64>> {
    check_rho(rho)?;
    check_finite(g, "gradient")?;
    let scale = sam_scale(norm(g), rho);
    Ok(g.iter().map(|x| scale * x).collect())
}

/// ASAM's step `rho T^2 g / ||T g||` with `T = |w| + eta` (elementwise):
/// the worst case over the ellipsoid `||T^-1 e|| <= rho`, which makes the
/// radius scale with the weights. `eta >= 0` finite; `w` and `g` of equal
/// length and finite.
pub fn asam_perturbation(w: &[f64], g: &[f64], rho: f64, eta: f64) -> Result<Vec<f64>> {
    check_rho(rho)?;
    if !(eta.is_finite() && eta >= 0.0) {
        return Err(SamError::invalid(
            "eta",
            format!("must be finite and >= 0, got {eta}"),
        ));
    }
    if w.len() != g.len() {
        return Err(SamError::invalid(
            "g",
            format!("{} weights but {} gradient entries", w.len(), g.len()),
        ));
    }
    check_finite(w, "weights")?;
    check_finite(g, "gradient")?;
    let t: Vec<f64> = w.iter().map(|x| x.abs() + eta).collect();
    let tg: Vec<f64> = t.iter().zip(g).map(|(t, g)| t * g).collect();
    let scale = sam_scale(norm(&tg), rho);
    Ok(t.iter().zip(&tg).map(|(t, tg)| scale * t * tg).collect())
}

/// How many entries a Fisher mask of `len` entries keeps:
/// `round(keep_fraction * len)`, halves rounded away from zero.
/// `keep_fraction` in `[0, 1]`; SSAM's sparsity `s` keeps `1 - s`.
pub fn fisher_keep_count(len: usize, keep_fraction: f64) -> Result<usize> {
    if !(0.0..=1.0).contains(&keep_fraction) {
        return Err(SamError::invalid(
            "keep_fraction",
            format!("must lie in [0, 1], got {keep_fraction}"),
        ));
    }
    // The product is in [0, len], so the cast cannot truncate.
    Ok(((keep_fraction * len as f64).round() as usize).min(len))
}

/// SSAM-F's mask: keeps exactly [`fisher_keep_count`] entries, those with
/// the largest `scores` (the Fisher information estimates, e.g. summed
/// squared per-example gradients), ties broken by the lower index. NaN
/// scores are an error. Runs in linear expected time.
pub fn fisher_mask(scores: &[f32], keep_fraction: f64) -> Result<Vec<bool>> {
    let k = fisher_keep_count(scores.len(), keep_fraction)?;
    if let Some(i) = scores.iter().position(|s| s.is_nan()) {
        return Err(SamError::non_finite(format!("Fisher score [{i}] is NaN")));
    }
    let mut mask = vec![false; scores.len()];
    if k == 0 {
        return Ok(mask);
    }
    // Larger score first, then lower index: a total order, so the selected
    // set is unique.
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    let order = |a: &usize, b: &usize| scores[*b].total_cmp(&scores[*a]).then(a.cmp(b));
    if k < idx.len() {
        idx.select_nth_unstable_by(k - 1, order);
    }
    for &i in &idx[..k] {
        mask[i] = true;
    }
    Ok(mask)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sam_has_radius_rho_along_g() {
        let e = sam_perturbation(&[3.0, 4.0], 0.5).unwrap();
        // 0.5/5 * 3 rounds twice: 1 ulp.
        assert!((e[0] - 0.3).abs() < 1e-16 && (e[1] - 0.4).abs() < 1e-16);
        assert_eq!(sam_perturbation(&[0.0, 0.0], 0.5).unwrap(), vec![0.0, 0.0]);
        assert_eq!(sam_perturbation(&[3.0, 4.0], 0.0).unwrap(), vec![0.0, 0.0]);
        assert_eq!(sam_scale(0.0, 1.0), 0.0);
        assert_eq!(sam_scale(f64::NAN, 1.0), 0.0);
        assert!(matches!(
            sam_perturbation(&[1.0], -1.0),
            Err(SamError::InvalidRho(_))
        ));
        assert!(matches!(
            sam_perturbation(&[f64::NAN], 1.0),
            Err(SamError::NonFinite { .. })
        ));
    }

    #[test]
    fn asam_matches_its_formula_and_reduces_to_sam() {
        // w = (1, -2), eta = 0.5: T = (1.5, 2.5); g = (2, 1): Tg = (3, 2.5),
        // ||Tg|| = sqrt(15.25); e = rho T Tg / ||Tg||.
        let e = asam_perturbation(&[1.0, -2.0], &[2.0, 1.0], 0.1, 0.5).unwrap();
        let n = 15.25f64.sqrt();
        // Values below 0.2 computed in two orders of four roundings each:
        // a few ulps (2.8e-17 each); 1e-15 holds them, a wrong factor
        // (T once instead of twice) is off by 0.05.
        assert!((e[0] - 0.1 * 1.5 * 3.0 / n).abs() < 1e-15);
        assert!((e[1] - 0.1 * 2.5 * 2.5 / n).abs() < 1e-15);
        // w = 0 and eta = 1 give T = I: plain SAM.
        let g = [0.3, -1.2, 2.0];
        let a = asam_perturbation(&[0.0; 3], &g, 0.2, 1.0).unwrap();
        assert_eq!(a, sam_perturbation(&g, 0.2).unwrap());
        assert!(asam_perturbation(&[1.0], &[1.0, 2.0], 0.1, 0.1).is_err());
        assert!(asam_perturbation(&[1.0], &[1.0], 0.1, -0.1).is_err());
        assert_eq!(
            asam_perturbation(&[1.0], &[0.0], 0.1, 0.1).unwrap(),
            vec![0.0]
        );
    }

    #[test]
    fn fisher_mask_breaks_ties_by_index() {
        let m = fisher_mask(&[1.0, 3.0, 3.0, 0.5, 3.0], 0.4).unwrap();
        assert_eq!(m, vec![false, true, true, false, false]);
        assert_eq!(fisher_mask(&[1.0, 2.0], 0.0).unwrap(), vec![false, false]);
        assert_eq!(fisher_mask(&[1.0, 2.0], 1.0).unwrap(), vec![true, true]);
        assert_eq!(fisher_mask(&[], 0.5).unwrap(), Vec::<bool>::new());
        assert!(fisher_mask(&[1.0, f32::NAN], 0.5).is_err());
        assert!(fisher_keep_count(4, 1.5).is_err());
        assert!(fisher_keep_count(4, f64::NAN).is_err());
        // 0.5 * 5 = 2.5 rounds away from zero.
        assert_eq!(fisher_keep_count(5, 0.5), Ok(3));
    }

    proptest! {
        /// The mask keeps exactly round(f * len) entries, and every kept
        /// entry beats every dropped one (higher score, or equal score and
        /// lower index).
        #[test]
        fn fisher_mask_keeps_the_top_entries(
            scores in proptest::collection::vec(prop_oneof![Just(1.0f32), -5.0f32..5.0], 0..60),
            f in 0.0f64..=1.0,
        ) {
            let m = fisher_mask(&scores, f).unwrap();
            let kept: Vec<usize> = (0..scores.len()).filter(|&i| m[i]).collect();
            prop_assert_eq!(kept.len(), (f * scores.len() as f64).round() as usize);
            for &i in &kept {
                for j in (0..scores.len()).filter(|&j| !m[j]) {
                    prop_assert!(scores[i] > scores[j] || (scores[i] == scores[j] && i < j));
                }
            }
        }

        /// SAM's perturbation has norm rho (1e-12 relative: a handful of
        /// roundings) and points along g.
        #[test]
        fn sam_perturbation_has_norm_rho(
            g in proptest::collection::vec(-1e3f64..1e3, 1..20),
            rho in 1e-3f64..10.0,
        ) {
            prop_assume!(norm(&g) > 0.0);
            let e = sam_perturbation(&g, rho).unwrap();
            prop_assert!((norm(&e) - rho).abs() <= 1e-12 * rho);
            let dot: f64 = e.iter().zip(&g).map(|(a, b)| a * b).sum();
            prop_assert!(dot > 0.0);
        }
    }
}
