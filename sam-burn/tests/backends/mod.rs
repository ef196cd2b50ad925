//! Backends the sam-burn tests run on, and the wgpu gate.
//!
//! `USAM_WGPU_TESTS`: unset or `auto` runs the wgpu tests when a Vulkan/Metal
//! adapter exists (Mesa's lavapipe counts) and skips them loudly otherwise;
//! `1` makes them mandatory (CI sets it); `0` skips them; anything else is
//! an error.
#![allow(dead_code)]

pub type NdArrayAd = burn::backend::Autodiff<burn::backend::NdArray>;
pub type FlexAd = burn::backend::Autodiff<burn::backend::Flex>;
pub type WgpuAd = burn::backend::Autodiff<burn::backend::Wgpu>;

/// Whether the wgpu tests should run on this machine: the one parser of
/// `USAM_WGPU_TESTS` ([`crate::hessian_util::wgpu_enabled`]), which
/// rejects a value it does not know instead of guessing.
pub fn wgpu_enabled() -> bool {
    crate::hessian_util::wgpu_enabled()
}

/// Instantiates `$check::<Backend>(device)` as one test per backend.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident => $check:ident),* $(,)?) => {
        mod ndarray {
            $(#[test] fn $name() { super::$check::<$crate::backends::NdArrayAd>(&Default::default()); })*
        }
        mod flex {
            $(#[test] fn $name() { super::$check::<$crate::backends::FlexAd>(&Default::default()); })*
        }
        mod wgpu {
            $(#[test] fn $name() {
                if $crate::backends::wgpu_enabled() {
                    super::$check::<$crate::backends::WgpuAd>(&Default::default());
                }
            })*
        }
    };
}
