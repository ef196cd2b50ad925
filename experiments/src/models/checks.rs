//! What the architectures check alike: class and channel counts, image
//! sizes, widths, overflow of their products, and the input shape of a
//! batch; and the methods every image model writes the same way.

use super::ModelError;

/// `1234567` as `1,234,567`.
pub(crate) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Checks shared by every architecture.
pub(crate) fn check_common(num_classes: usize, in_channels: usize) -> Result<(), ModelError> {
    if num_classes < 2 {
        return Err(ModelError::TooFewClasses(num_classes));
    }
    if in_channels == 0 {
        return Err(ModelError::NoInputChannels);
    }
    Ok(())
}

/// Both sides must be positive multiples of `multiple`.
pub(crate) fn check_size(
    model: &'static str,
    height: usize,
    width: usize,
    multiple: usize,
    why: &str,
) -> Result<(), ModelError> {
    let fits = |side: usize| side > 0 && side.is_multiple_of(multiple);
    if !(fits(height) && fits(width)) {
        return Err(ModelError::ImageSize {
            model,
            height,
            width,
            requirement: format!(
                "height and width must be positive multiples of {multiple} ({why})"
            ),
        });
    }
    Ok(())
}

/// A width that must be at least 1.
pub(crate) fn check_width(model: &'static str, name: &str, value: usize) -> Result<(), ModelError> {
    if value == 0 {
        return Err(ModelError::InvalidConfig {
            model,
            reason: format!("{name} must be at least 1"),
        });
    }
    Ok(())
}

/// `a * b`, or an error naming what overflowed.
pub(crate) fn mul(
    model: &'static str,
    what: &str,
    a: usize,
    b: usize,
) -> Result<usize, ModelError> {
    a.checked_mul(b).ok_or_else(|| ModelError::InvalidConfig {
        model,
        reason: format!("{what} overflows"),
    })
}

/// Checks a `[batch, channels, height, width]` input.
pub(crate) fn check_image_input(
    model: &'static str,
    dims: [usize; 4],
    in_channels: usize,
    height: usize,
    width: usize,
) -> Result<(), ModelError> {
    let [n, c, h, w] = dims;
    if n == 0 || c != in_channels || h != height || w != width {
        return Err(ModelError::InputShape {
            model,
            got: dims.to_vec(),
            expected: format!("[batch >= 1, {in_channels}, {height}, {width}]"),
        });
    }
    Ok(())
}

/// Writes the methods the image models (CNN, ResNet, WRN, VGG) have alike,
/// from their `head` and their expected `in_channels`, `image_size` and
/// `image_width`: `num_classes`, and `check_input`, which names the model
/// `$name` in its errors.
macro_rules! image_model_methods {
    ($name:literal) => {
        /// Number of classes.
        pub fn num_classes(&self) -> usize {
            self.head.weight.dims()[1]
        }

        /// Whether a batch of shape `dims` fits.
        pub fn check_input(&self, dims: [usize; 4]) -> Result<(), $crate::models::ModelError> {
            $crate::models::check_image_input(
                $name,
                dims,
                self.in_channels,
                self.image_size,
                self.image_width,
            )
        }
    };
}
pub(crate) use image_model_methods;
