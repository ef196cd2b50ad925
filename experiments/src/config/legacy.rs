//! The `[optimizer]` layout of usam 0.1, read into today's.
//!
//! usam 0.1 wrote one flat table over the union of every method's settings
//! (`method = "sgd"` beside `eta`, `sparsity`, `guard_ratio`, ...), and
//! ignored what the chosen method did not use. Every `config.toml` it wrote
//! holds all of them. Such a table is recognised by a key only that layout
//! had, and rewritten: `guard_ratio` and `on_non_finite` become `guard`,
//! `every` and `between` become `schedule`, `bn_all_passes` becomes
//! `running_stats`, `clip_norm` becomes `grad_clipping`, and the keys the
//! method does not have are dropped, as 0.1 ignored them (with a warning
//! when one was set to something other than its 0.1 default).

use std::sync::Once;

use sam_burn::optim::{MethodConfig, SchemaError};
use serde_json::{Map, Value, json};

/// Keys only the 0.1 layout had.
pub const LEGACY_ONLY: [&str; 6] = [
    "guard_ratio",
    "on_non_finite",
    "every",
    "between",
    "bn_all_passes",
    "clip_norm",
];

/// Every other key of the 0.1 layout.
const OLD_FIELDS: [&str; 8] = [
    "rho",
    "lambda",
    "samples",
    "scaling",
    "sampler",
    "eta",
    "sparsity",
    "fisher_samples",
];

/// Whether `table` is in the 0.1 layout.
pub fn is_legacy(table: &Map<String, Value>) -> bool {
    LEGACY_ONLY.iter().any(|k| table.contains_key(*k))
}

/// The 0.1 default of a key that a 0.1 `config.toml` always wrote.
fn old_default(key: &str) -> Option<Value> {
    Some(match key {
        "scaling" => json!("Reference"),
        "eta" => json!(0.01),
        "sparsity" => json!(0.5),
        "fisher_samples" => json!(16),
        "bn_all_passes" => json!(false),
        "guard_ratio" => json!(0.5),
        "on_non_finite" => json!("stop"),
        "every" => json!(1),
        "between" => json!("base"),
        _ => return None,
    })
}

/// Says once per process that a 0.1 table was read, and how today's
/// layout writes it.
fn note_once() {
    static NOTE: Once = Once::new();
    NOTE.call_once(|| {
        tracing::warn!(
            "reading an [optimizer] table in the layout of usam 0.1 (guard_ratio, every, ...); \
             today's layout nests them: guard = {{ max_ratio, on_non_finite }}, \
             schedule = {{ every, between }} (see the README)"
        )
    });
}

/// `table` in today's layout (unchanged when it already is).
pub fn migrate(table: Map<String, Value>) -> Result<Map<String, Value>, SchemaError> {
    if !is_legacy(&table) {
        return Ok(table);
    }
    note_once();
    let name = match table.get("method") {
        Some(Value::String(s)) => s.clone(),
        None => "sgd".into(),
        Some(other) => {
            return Err(SchemaError::Malformed(format!(
                "`method` must be a method's name, got {other}"
            )));
        }
    };
    let fields = MethodConfig::reference(&name)?.field_names();
    let has = |f: &str| fields.iter().any(|k| k == f);
    let dropped = |key: &str, value: &Value| {
        if old_default(key).as_ref() != Some(value) {
            tracing::warn!("optimizer.{key} = {value} has no effect on method `{name}`: dropped");
        }
    };
    let mut out = Map::new();
    let mut guard = Map::new();
    let mut schedule = Map::new();
    for (key, value) in table {
        match key.as_str() {
            "method" => {
                out.insert(key, value);
            }
            "guard_ratio" | "on_non_finite" if has("guard") => {
                let field = if key == "guard_ratio" {
                    "max_ratio"
                } else {
                    "on_non_finite"
                };
                guard.insert(field.into(), value);
            }
            "every" | "between" if has("schedule") => {
                schedule.insert(key, value);
            }
            "bn_all_passes" if has("running_stats") => {
                let all = value.as_bool() == Some(true);
                let stats = if all { "AllPasses" } else { "CleanPassOnly" };
                out.insert("running_stats".into(), json!(stats));
            }
            "clip_norm" if !value.is_null() => {
                out.insert("grad_clipping".into(), json!({ "Norm": value }));
            }
            "clip_norm" => {}
            k if has(k) => {
                out.insert(key, value);
            }
            k if LEGACY_ONLY.contains(&k) || OLD_FIELDS.contains(&k) => dropped(k, &value),
            // Unknown to both layouts: refused by name when read.
            _ => {
                out.insert(key, value);
            }
        }
    }
    // Merged into a table of today's layout when both are given (a 0.1
    // key set with `--set` over a new file).
    for (key, fields) in [("guard", guard), ("schedule", schedule)] {
        if fields.is_empty() {
            continue;
        }
        match out.get_mut(key) {
            Some(Value::Object(existing)) => existing.extend(fields),
            _ => {
                out.insert(key.into(), Value::Object(fields));
            }
        }
    }
    Ok(out)
}

/// The field of today's layout that a key of either layout sets
/// (`guard_ratio` sets `guard`, `rho` sets `rho`).
pub fn field_of(key: &str) -> &str {
    match key {
        "guard_ratio" | "on_non_finite" => "guard",
        "every" | "between" => "schedule",
        "bn_all_passes" => "running_stats",
        "clip_norm" => "grad_clipping",
        other => other,
    }
}
