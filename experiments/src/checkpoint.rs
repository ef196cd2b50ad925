//! Checkpoints: a run's `state.json` and the model and optimizer records it
//! names, written so that a crash leaves a consistent set, and read back
//! with every check a foreign or damaged file needs (the architecture and
//! every parameter's shape are compared before anything is loaded into the
//! run's model).

use std::path::PathBuf;

use burn::module::{Module, ModuleVisitor, Param};
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Record, Recorder};
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};

use crate::config::TrainConfig;
use crate::models::{Model, ModelRecord};
use crate::output::{OutputDir, OutputError};
use crate::records::{EpochRecord, RunState};

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
    /// A checkpoint could not be encoded.
    #[error("cannot encode checkpoint {path}: {detail}")]
    Encode {
        /// The file.
        path: PathBuf,
        /// The encoder's message.
        detail: String,
    },
}

/// Reads a run's `state.json`.
pub fn read_state(out: &OutputDir) -> Result<RunState, CheckpointError> {
    let bytes = out.read("state.json")?;
    serde_json::from_slice(&bytes).map_err(|e| CheckpointError::Corrupt {
        path: out.path("state.json"),
        detail: e.to_string(),
    })
}

/// Decodes the record in `name`. Burn's decoder reports some damaged files
/// by panicking (a tensor whose byte count disagrees with its shape); that
/// is caught here and reported as corruption too.
pub fn decode<B: Backend, R: Record<B>>(
    out: &OutputDir,
    name: &str,
    device: &B::Device,
) -> Result<R, CheckpointError> {
    let bytes = out.read(name)?;
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

/// Loads the model record `name` into `fresh` (the run's architecture,
/// freshly built), after checking that the file holds the same
/// architecture with the same parameter shapes.
pub fn load_model<B: AutodiffBackend>(
    out: &OutputDir,
    name: &str,
    fresh: Model<B>,
    device: &B::Device,
) -> Result<Model<B>, CheckpointError> {
    let record: ModelRecord<B> = decode(out, name, device)?;
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
/// names, then points `state.json` at them; a crash at any moment leaves a
/// consistent checkpoint (the previous one or the new one).
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
    let previous = read_state(out).ok();
    let state = RunState {
        epochs_done: epoch,
        history: history.to_vec(),
        config: cfg.clone(),
        wall_seconds,
        model_file,
        optimizer_file,
    };
    out.write(
        "state.json",
        serde_json::to_string_pretty(&state)
            .expect("serialises")
            .as_bytes(),
    )?;
    // Only our own superseded checkpoint files are removed.
    if let Some(prev) = previous
        && prev.model_file != state.model_file
    {
        out.remove_own(&prev.model_file);
        out.remove_own(&prev.optimizer_file);
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
