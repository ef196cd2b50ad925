//! A run's `[optimizer]` table: sam-burn's [`MethodConfig`] schema, read
//! over usam's defaults (the methods' reference settings, plus the
//! stability guard for the universal class), with the noise seed taken
//! from the run's `seed`. Tables in the layout of usam 0.1 are migrated
//! ([`legacy`](super::legacy)).

use sam_burn::optim::Guard;
use sam_burn::optim::{MethodConfig, SchemaError};
use serde_json::{Map, Value};

use super::legacy;

/// usam's defaults for the method called `name`: its config's reference
/// settings, except that the universal class is guarded by
/// [`Guard::recommended`] (bound 0.5), which keeps Frob-SAM from diverging
/// at learning rates where SGD trains (README, "Frob-SAM's divergence");
/// `guard = { max_ratio = "off" }` is the authors' step exactly.
pub fn defaults(name: &str) -> Result<MethodConfig, SchemaError> {
    Ok(match MethodConfig::reference(name)? {
        MethodConfig::Universal(c) => MethodConfig::Universal(c.with_guard(Guard::recommended())),
        other => other,
    })
}

/// [`defaults`] of the method called `name`, as a configuration error
/// naming `optimizer.method` when there is none.
pub fn named(name: &str) -> Result<MethodConfig, super::ConfigError> {
    defaults(name).map_err(|e| super::ConfigError::invalid("optimizer.method", name, e.to_string()))
}

/// Reads an `[optimizer]` table over [`defaults`].
pub fn from_table(table: Map<String, Value>) -> Result<MethodConfig, SchemaError> {
    let table = legacy::migrate(table)?;
    if table.contains_key("seed") {
        return Err(SchemaError::Malformed(
            "`optimizer.seed` is not set here: the run's `seed` seeds the method's noise too"
                .into(),
        ));
    }
    MethodConfig::from_table_over(table, defaults)
}

/// The table a run's `config.toml` holds: every field (the noise seed is
/// the run's).
pub fn to_table(method: &MethodConfig) -> Map<String, Value> {
    let mut table = method.to_table();
    table.remove("seed");
    table
}

/// `method` and the fields that differ from [`defaults`]: what overrides
/// start from, so that `--set optimizer.method=sam` over a Frob table
/// keeps only what the table changed (and refuses it when SAM lacks it).
pub fn changed_fields(method: &MethodConfig) -> Map<String, Value> {
    let mut table = to_table(method);
    if let Ok(default) = defaults(&method.name()) {
        let default = to_table(&default);
        prune(&mut table, &default);
    }
    table.insert("method".into(), Value::String(method.name()));
    table
}

/// Removes from `table` what equals `default`, recursing into tables.
fn prune(table: &mut Map<String, Value>, default: &Map<String, Value>) {
    table.retain(|k, v| match (v, default.get(k)) {
        (Value::Object(t), Some(Value::Object(d))) => {
            prune(t, d);
            !t.is_empty()
        }
        (v, Some(d)) => v != d,
        (_, None) => true,
    });
}

/// Refuses NaN and infinities anywhere under `path`, naming the field:
/// TOML can write them, and they are never a valid setting.
fn check_finite(path: &str, value: &toml::Value) -> Result<(), String> {
    match value {
        toml::Value::Float(f) if !f.is_finite() => Err(format!(
            "{path} = {f}: must be finite and within range (a setting is never NaN or infinite)"
        )),
        toml::Value::Table(t) => t
            .iter()
            .try_for_each(|(k, v)| check_finite(&format!("{path}.{k}"), v)),
        toml::Value::Array(a) => a.iter().try_for_each(|v| check_finite(path, v)),
        _ => Ok(()),
    }
}

/// The `[optimizer]` field's serde: the tagged table of [`to_table`],
/// read by [`from_table`].
pub(crate) mod serde_table {
    use serde::ser::SerializeMap;
    use serde::{Deserialize, Deserializer, Serializer};

    use super::MethodConfig;

    pub fn serialize<S: Serializer>(method: &MethodConfig, s: S) -> Result<S::Ok, S::Error> {
        let table = super::to_table(method);
        let mut map = s.serialize_map(Some(table.len()))?;
        // `method` first: the line a reader looks for.
        map.serialize_entry("method", &table["method"])?;
        for (k, v) in table.iter().filter(|(k, _)| *k != "method") {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<MethodConfig, D::Error> {
        use serde::de::Error;
        let table = toml::Table::deserialize(d)?;
        super::check_finite("optimizer", &toml::Value::Table(table.clone()))
            .map_err(D::Error::custom)?;
        let table = serde_json::to_value(table)
            .ok()
            .and_then(|v| match v {
                serde_json::Value::Object(m) => Some(m),
                _ => None,
            })
            .ok_or_else(|| D::Error::custom("optimizer: a table is expected"))?;
        super::from_table(table).map_err(|e| match e.field() {
            Some(field) => D::Error::custom(format!("optimizer.{field}: {e}")),
            None => D::Error::custom(e),
        })
    }
}
