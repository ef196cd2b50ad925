//! Backends the sam-burn tests run on, and the wgpu gate.
//!
//! `USAM_WGPU_TESTS`: unset or `auto` runs the wgpu tests when a Vulkan/Metal
//! adapter exists (Mesa's lavapipe counts) and skips them loudly otherwise;
//! `1` makes them mandatory (CI sets it); `0` skips them.
#![allow(dead_code)]

use std::sync::OnceLock;

pub type NdArrayAd = burn::backend::Autodiff<burn::backend::NdArray>;
pub type FlexAd = burn::backend::Autodiff<burn::backend::Flex>;
pub type WgpuAd = burn::backend::Autodiff<burn::backend::Wgpu>;

/// Whether the wgpu tests should run on this machine.
pub fn wgpu_enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| match std::env::var("USAM_WGPU_TESTS").as_deref() {
        Ok("0") => {
            eprintln!("skipping wgpu tests: USAM_WGPU_TESTS=0");
            false
        }
        Ok("1") => true,
        _ => {
            let probe = std::panic::catch_unwind(|| {
                use burn::tensor::Tensor;
                let device = burn::backend::wgpu::WgpuDevice::default();
                Tensor::<burn::backend::Wgpu, 1>::from_floats([1.0, 2.0], &device)
                    .sum()
                    .into_data()
            });
            if probe.is_err() {
                eprintln!(
                    "skipping wgpu tests: no adapter (set USAM_WGPU_TESTS=1 to require them)"
                );
            }
            probe.is_ok()
        }
    })
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
