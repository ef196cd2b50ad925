//! Image folders: the user's own data, laid out as
//!
//! ```text
//! root/
//!   train/<class name>/<any name>.png|.jpg|.jpeg
//!   test/<class name>/...
//! ```
//!
//! Classes are the sub-directories of `train/`, sorted by name; class `k` is
//! the `k`-th. `test/` may lack some classes but may not add new ones.
//! Within a class, files are read in name order; other files are ignored.
//! Every image must have the same width and height. If every image is
//! greyscale the dataset has 1 channel, otherwise 3 (greyscale images are
//! replicated, alpha is dropped). 16-bit images are reduced to 8 bits.

use std::path::{Path, PathBuf};

use image::{ColorType, DynamicImage};

use crate::dataset::{ImageDataset, ImageShape, Split};
use crate::error::{Error, Result};

/// File extensions read (case-insensitive).
pub const EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// A loaded image folder: the split and the class names (index = label).
#[derive(Clone, Debug)]
pub struct ImageFolder {
    /// Train and test sets.
    pub split: Split,
    /// Class names, sorted; label `k` is `classes[k]`.
    pub classes: Vec<String>,
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        entries.push(entry.map_err(|e| Error::io(dir, e))?.path());
    }
    entries.sort();
    Ok(entries)
}

fn is_image(path: &Path) -> bool {
    path.is_file()
        && path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

fn class_dirs(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for path in sorted_entries(dir)? {
        if path.is_dir() {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !name.starts_with('.') {
                out.push((name, path));
            }
        }
    }
    Ok(out)
}

struct Decoded {
    images: Vec<(PathBuf, DynamicImage)>,
    labels: Vec<u16>,
}

fn decode_split(dir: &Path, classes: &[String]) -> Result<Decoded> {
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for (name, path) in class_dirs(dir)? {
        let Some(label) = classes.iter().position(|c| *c == name) else {
            return Err(Error::InvalidArgument(format!(
                "{}: class {name:?} does not exist in train/",
                dir.display()
            )));
        };
        for file in sorted_entries(&path)? {
            if !is_image(&file) {
                continue;
            }
            let img = image::open(&file).map_err(|e| Error::Image {
                path: file.clone(),
                message: e.to_string(),
            })?;
            images.push((file, img));
            labels.push(label as u16);
        }
    }
    Ok(Decoded { images, labels })
}

fn is_grey(c: ColorType) -> bool {
    matches!(
        c,
        ColorType::L8 | ColorType::La8 | ColorType::L16 | ColorType::La16
    )
}

fn to_dataset(
    decoded: Decoded,
    name: String,
    shape: ImageShape,
    num_classes: usize,
) -> Result<ImageDataset> {
    let mut pixels = Vec::with_capacity(decoded.images.len() * shape.numel());
    for (path, img) in &decoded.images {
        if (img.width() as usize, img.height() as usize) != (shape.width, shape.height) {
            return Err(Error::Image {
                path: path.clone(),
                message: format!(
                    "is {}x{} (width x height); every image must be {}x{}",
                    img.width(),
                    img.height(),
                    shape.width,
                    shape.height
                ),
            });
        }
        if shape.channels == 1 {
            pixels.extend_from_slice(img.to_luma8().as_raw());
        } else {
            // HWC -> CHW.
            let rgb = img.to_rgb8();
            let raw = rgb.as_raw();
            for c in 0..3 {
                pixels.extend(raw.iter().skip(c).step_by(3));
            }
        }
    }
    ImageDataset::new(name, shape, num_classes, pixels, decoded.labels)
}

/// Loads an image folder (see the module documentation for the layout).
///
/// # Errors
/// [`Error::MissingDirectory`] if `root`, `root/train` or `root/test` is
/// absent; [`Error::InvalidArgument`] if `train/` has no class directory or
/// no image, or `test/` has an unknown class; [`Error::Image`] for an image
/// that cannot be decoded or has a different size.
pub fn load(root: &Path) -> Result<ImageFolder> {
    for dir in [root.to_path_buf(), root.join("train"), root.join("test")] {
        if !dir.is_dir() {
            return Err(Error::MissingDirectory {
                path: dir,
                hint: "train/<class>/*.png|jpg and test/<class>/*.png|jpg".into(),
            });
        }
    }
    let classes: Vec<String> = class_dirs(&root.join("train"))?
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    if classes.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "{}: no class directories",
            root.join("train").display()
        )));
    }
    let train = decode_split(&root.join("train"), &classes)?;
    if let Some(empty) = (0..classes.len()).find(|&c| !train.labels.contains(&(c as u16))) {
        return Err(Error::InvalidArgument(format!(
            "{}: class {:?} holds no .png/.jpg image; every class needs training examples (add some, or remove the directory)",
            root.join("train").join(&classes[empty]).display(),
            classes[empty]
        )));
    }
    let test = decode_split(&root.join("test"), &classes)?;
    let Some((_, first)) = train.images.first() else {
        return Err(Error::InvalidArgument(format!(
            "{}: no .png/.jpg images",
            root.join("train").display()
        )));
    };
    let grey = train
        .images
        .iter()
        .chain(&test.images)
        .all(|(_, img)| is_grey(img.color()));
    let shape = ImageShape::new(
        if grey { 1 } else { 3 },
        first.height() as usize,
        first.width() as usize,
    );
    let base = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "folder".into());
    let n = classes.len();
    Ok(ImageFolder {
        split: Split {
            train: to_dataset(train, format!("{base} train"), shape, n)?,
            test: to_dataset(test, format!("{base} test"), shape, n)?,
        },
        classes,
    })
}
