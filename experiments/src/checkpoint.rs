//! Checkpoints: a run's `state.json` and the model and optimizer records it
//! names, written so that a crash leaves a consistent set, and read back
//! with every check a foreign or damaged file needs: each file's SHA-256
//! against the one recorded when it was written, then the architecture and
//! every parameter's shape before anything is loaded into the run's model.
//! The previous epoch's checkpoint is kept until the next one is written,
//! so a damaged latest checkpoint leaves an intact one to resume from.

use std::path::PathBuf;

use sha2::{Digest, Sha256};

use burn::module::{Module, ModuleVisitor, Param};
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Record, Recorder};
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};

use crate::config::TrainConfig;
use crate::models::{Model, ModelRecord};
use crate::output::{OutputDir, OutputError};
use crate::records::{Checkpoint, EpochRecord, RunState};

type Bytes = NamedMpkBytesRecorder<FullPrecisionSettings>;

/// Why a checkpoint cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The run directory cannot be read (no run there, unreadable files).
    #[error(transparent)]
    Output(#[from] OutputError),
    /// The file is not a checkpoint this program wrote (truncated, random
    /// bytes, another format).
    #[error("checkpoint {path} is corrupt or not a usam checkpoint ({detail})")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        detail: String,
    },
    /// The file holds a model that is not the run's.
    #[error("checkpoint {path} holds a different model than this run: {reason}")]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// What differs.
        reason: String,
    },
    /// A checkpoint file's bytes differ from those written (a flipped bit,
    /// a truncated copy, another run's file put in its place).
    #[error(transparent)]
    Damaged(Box<Damaged>),
    /// `--from-epoch` names a checkpoint the run no longer keeps.
    #[error(
        "--from-epoch {asked}: this run keeps the checkpoints of epoch{} {}",
        if .kept.len() == 1 { "" } else { "s" },
        .kept.iter().map(usize::to_string).collect::<Vec<_>>().join(" and ")
    )]
    NotKept {
        /// The epoch asked for.
        asked: usize,
        /// The epochs kept.
        kept: Vec<usize>,
    },
    /// A checkpoint could not be encoded.
    #[error("cannot encode checkpoint {path}: {detail}")]
    Encode {
        /// The file.
        path: PathBuf,
        /// The encoder's message.
        detail: String,
    },
}

/// A checkpoint file whose checksum is not the recorded one.
#[derive(Debug, thiserror::Error)]
#[error(
    "checkpoint {path} is corrupt: its SHA-256 is {found}, not the {expected} recorded when it was written; {}",
    fallback(.path, .intact)
)]
pub struct Damaged {
    /// The file.
    pub path: PathBuf,
    /// The recorded checksum.
    pub expected: String,
    /// The file's checksum now.
    pub found: String,
    /// The previous checkpoint, when its files are intact.
    pub intact: Option<Checkpoint>,
}

fn fallback(path: &std::path::Path, intact: &Option<Checkpoint>) -> String {
    let run = path.parent().unwrap_or(path).display();
    match intact {
        Some(c) => format!(
            "the checkpoint of epoch {} ({}, {}) is intact: `usam train --out {run} --resume --from-epoch {}` continues from it",
            c.epoch, c.model_file, c.optimizer_file, c.epoch
        ),
        None => "no intact earlier checkpoint is kept".into(),
    }
}

/// SHA-256 of `bytes`, lowercase hex.
pub fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl RunState {
    /// The state with the checkpoint of epoch `epoch` as its latest: the
    /// current one, or the previous one it keeps (history cut to it).
    pub fn rolled_back_to(self, epoch: usize) -> Result<RunState, CheckpointError> {
        if epoch == self.epochs_done {
            return Ok(self);
        }
        match self.previous.clone() {
            Some(prev) if prev.epoch == epoch => Ok(RunState {
                epochs_done: epoch,
                history: self.history.into_iter().take(epoch).collect(),
                model_file: prev.model_file,
                optimizer_file: prev.optimizer_file,
                previous: None,
                ..self
            }),
            other => Err(CheckpointError::NotKept {
                asked: epoch,
                kept: other
                    .map(|p| p.epoch)
                    .into_iter()
                    .chain([self.epochs_done])
                    .collect(),
            }),
        }
    }

    /// Whether the files of `checkpoint` match their recorded checksums.
    fn intact(&self, out: &OutputDir, checkpoint: &Checkpoint) -> bool {
        [&checkpoint.model_file, &checkpoint.optimizer_file]
            .into_iter()
            .all(|name| match (self.checksums.get(name), out.read(name)) {
                (Some(expected), Ok(bytes)) => &sha256(&bytes) == expected,
                _ => false,
            })
    }
}

/// Checks the bytes of checkpoint file `name` against the checksum
/// `state` recorded for it (states from before checksums pass). Called
/// after decoding, so a file that does not decode, or holds another model,
/// is named as such; one that decodes but was altered is caught here.
fn verify(
    out: &OutputDir,
    state: &RunState,
    name: &str,
    bytes: &[u8],
) -> Result<(), CheckpointError> {
    let Some(expected) = state.checksums.get(name) else {
        return Ok(());
    };
    let found = sha256(bytes);
    if &found == expected {
        return Ok(());
    }
    let intact = state
        .previous
        .clone()
        .filter(|p| p.model_file != name && p.optimizer_file != name && state.intact(out, p));
    Err(CheckpointError::Damaged(Box::new(Damaged {
        path: out.path(name),
        expected: expected.clone(),
        found,
        intact,
    })))
}

/// Reads a run's `state.json`.
pub fn read_state(out: &OutputDir) -> Result<RunState, CheckpointError> {
    let bytes = out.read("state.json")?;
    serde_json::from_slice(&bytes).map_err(|e| CheckpointError::Corrupt {
        path: out.path("state.json"),
        detail: e.to_string(),
    })
}

/// Decodes the record in `name`, a file `state` names, after checking its
/// checksum. Burn's decoder reports some damaged files by panicking (a
/// tensor whose byte count disagrees with its shape); that is caught here
/// and reported as corruption too.
pub fn decode<B: Backend, R: Record<B>>(
    out: &OutputDir,
    state: &RunState,
    name: &str,
    device: &B::Device,
) -> Result<R, CheckpointError> {
    let bytes = out.read(name)?;
    let record = decode_bytes(out, name, bytes.clone(), device)?;
    verify(out, state, name, &bytes)?;
    Ok(record)
}

/// Decodes a record from `bytes` (read from `name`).
fn decode_bytes<B: Backend, R: Record<B>>(
    out: &OutputDir,
    name: &str,
    bytes: Vec<u8>,
    device: &B::Device,
) -> Result<R, CheckpointError> {
    let corrupt = |detail: String| CheckpointError::Corrupt {
        path: out.path(name),
        detail,
    };
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Bytes::default().load::<R>(bytes, device)
    }));
    std::panic::set_hook(hook);
    match decoded {
        Ok(Ok(record)) => Ok(record),
        Ok(Err(e)) => Err(corrupt(decoder_message(&e))),
        Err(_) => Err(corrupt("its tensors do not decode".into())),
    }
}

/// Burn's recorder errors print as `Debug` text with a paragraph about
/// format changes since Burn 0.14 after the first line; a user needs the
/// gist only.
fn decoder_message(e: &burn::record::RecorderError) -> String {
    use burn::record::RecorderError::{DeserializeError, FileNotFound, Unknown};
    let (FileNotFound(inner) | DeserializeError(inner) | Unknown(inner)) = e;
    match inner.lines().next().map(str::trim) {
        Some(first) if !first.is_empty() => format!("it does not decode: {first}"),
        _ => "it does not decode".into(),
    }
}

/// Loads the model record of `state` into `fresh` (the run's
/// architecture, freshly built), after checking the file's checksum and
/// that it holds the same architecture with the same parameter shapes.
pub fn load_model<B: AutodiffBackend>(
    out: &OutputDir,
    state: &RunState,
    fresh: Model<B>,
    device: &B::Device,
) -> Result<Model<B>, CheckpointError> {
    let name = state.model_file.as_str();
    let bytes = out.read(name)?;
    let record: ModelRecord<B> = decode_bytes(out, name, bytes.clone(), device)?;
    let mismatch = |reason: String| CheckpointError::Mismatch {
        path: out.path(name),
        reason,
    };
    let (expected, found) = (fresh.kind_name(), record_kind(&record));
    if expected != found {
        return Err(mismatch(format!(
            "the file holds a {found} model, the run trains a {expected}"
        )));
    }
    let wanted = shapes(&fresh);
    let loaded = fresh.load_record(record);
    let got = shapes(&loaded);
    if let Some(reason) = first_difference(&wanted, &got) {
        return Err(mismatch(reason));
    }
    verify(out, state, name, &bytes)?;
    Ok(loaded)
}

fn record_kind<B: Backend>(record: &ModelRecord<B>) -> &'static str {
    match record {
        ModelRecord::Mlp(_) => "mlp",
        ModelRecord::Cnn(_) => "cnn",
        ModelRecord::ResNet(_) => "resnet",
        ModelRecord::WideResNet(_) => "wide resnet",
        ModelRecord::Vgg(_) => "vgg",
    }
}

/// Every parameter tensor's path and shape, in visiting order.
fn shapes<B: Backend, M: Module<B>>(module: &M) -> Vec<(String, Vec<usize>)> {
    #[derive(Default)]
    struct Shapes {
        path: Vec<String>,
        out: Vec<(String, Vec<usize>)>,
    }
    impl<B: Backend> ModuleVisitor<B> for Shapes {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            let path = self.path.iter().filter(|p| !p.is_empty()).cloned();
            self.out.push((
                path.collect::<Vec<_>>().join("."),
                param.val().dims().to_vec(),
            ));
        }
    }
    let mut visitor = Shapes::default();
    module.visit(&mut visitor);
    visitor.out
}

fn first_difference(
    wanted: &[(String, Vec<usize>)],
    got: &[(String, Vec<usize>)],
) -> Option<String> {
    for ((name, want), (_, have)) in wanted.iter().zip(got) {
        if want != have {
            return Some(format!(
                "parameter `{name}` has shape {have:?} in the file, {want:?} in this run's model"
            ));
        }
    }
    (wanted.len() != got.len()).then(|| {
        format!(
            "the file has {} parameter tensors, this run's model {}",
            got.len(),
            wanted.len()
        )
    })
}

/// Writes the model and optimizer records for the last epoch under new
/// names with their checksums, then points `state.json` at them, keeping
/// the previous checkpoint; a crash at any moment leaves a consistent
/// checkpoint (the previous one or the new one).
pub fn write<B: AutodiffBackend, O: Record<B>>(
    out: &OutputDir,
    model: &Model<B>,
    optimizer: O,
    history: &[EpochRecord],
    cfg: &TrainConfig,
    wall_seconds: f64,
) -> Result<(), CheckpointError> {
    let epoch = history.len();
    let encode = |what: &str, r: Result<Vec<u8>, burn::record::RecorderError>| {
        r.map_err(|e| CheckpointError::Encode {
            path: out.path(what),
            detail: e.to_string(),
        })
    };
    let model_file = format!("model-{epoch:04}.mpk");
    let optimizer_file = format!("optimizer-{epoch:04}.mpk");
    let model_bytes = encode(
        &model_file,
        Bytes::default().record(model.clone().into_record(), ()),
    )?;
    let optim_bytes = encode(&optimizer_file, Bytes::default().record(optimizer, ()))?;
    out.write(&model_file, &model_bytes)?;
    out.write(&optimizer_file, &optim_bytes)?;
    let before = read_state(out).ok();
    let previous = before
        .as_ref()
        .filter(|b| b.model_file != model_file)
        .map(|b| Checkpoint {
            epoch: b.epochs_done,
            model_file: b.model_file.clone(),
            optimizer_file: b.optimizer_file.clone(),
        });
    let mut checksums = std::collections::BTreeMap::new();
    checksums.insert(model_file.clone(), sha256(&model_bytes));
    checksums.insert(optimizer_file.clone(), sha256(&optim_bytes));
    if let (Some(prev), Some(before)) = (&previous, &before) {
        for name in [&prev.model_file, &prev.optimizer_file] {
            if let Some(sum) = before.checksums.get(name) {
                checksums.insert(name.clone(), sum.clone());
            }
        }
    }
    let state = RunState {
        epochs_done: epoch,
        history: history.to_vec(),
        config: cfg.clone(),
        wall_seconds,
        model_file,
        optimizer_file,
        checksums,
        previous: previous.clone(),
    };
    out.write(
        "state.json",
        serde_json::to_string_pretty(&state)
            .expect("serialises")
            .as_bytes(),
    )?;
    // The checkpoint before the previous one goes (only our own files).
    if let Some(old) = before.and_then(|b| b.previous)
        && Some(&old) != previous.as_ref()
        && old.model_file != state.model_file
    {
        out.remove_own(&old.model_file);
        out.remove_own(&old.optimizer_file);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoder_messages_lose_burns_format_hint() {
        let e = burn::record::RecorderError::DeserializeError(
            "Syntax(\"unexpected end of file\")\nThe internal data format has changed since version 0.14.0. ...".into(),
        );
        let m = decoder_message(&e);
        assert!(!m.contains("0.14"), "{m}");
        assert_eq!(m, "it does not decode: Syntax(\"unexpected end of file\")");
    }

    #[test]
    fn shape_differences_name_the_parameter() {
        let a = vec![("layers.0.weight".to_string(), vec![784, 128])];
        let b = vec![("layers.0.weight".to_string(), vec![3072, 128])];
        let m = first_difference(&a, &b).unwrap();
        assert!(m.contains("layers.0.weight") && m.contains("3072"), "{m}");
        assert_eq!(first_difference(&a, &a), None);
        assert!(first_difference(&a, &[]).unwrap().contains("0 parameter"));
    }
}
