//! The table form of a [`MethodConfig`]: one flat table tagged by
//! `method`, whose other keys are the fields of that method's config.
//!
//! ```toml
//! method = "frob"          # sgd, sam, asam, ssam, trace, frob, det, moments1..3
//! rho = 0.01
//! lambda = 0.005
//! samples = 2
//! guard = { max_ratio = 0.5, on_non_finite = "stop" }
//! schedule = { every = 5, between = "reuse" }
//! ```
//!
//! A key the table leaves out keeps the method's default (the reference
//! settings of its config); a nested table (`guard`, `schedule`) is merged
//! field by field. A key the chosen method does not have is an error that
//! names the method, the key and the method's fields, so a setting never
//! passes silently because the method ignores it. This is the serde form of
//! [`MethodConfig`], so a config file's `[optimizer]` table, a JSON file
//! written by [`Config::save`](burn::config::Config::save) and a command
//! line's `--set optimizer.rho=0.1` all read the same schema.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{BaseConfig, MethodConfig};
use crate::optim::{AsamConfig, SamConfig, SsamConfig, UniversalSamConfig};
use sam_core::presets::Preset;

/// A table that is not a method's configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// `method` names no method.
    #[error("unknown method `{name}` (expected one of {})", .expected.join(", "))]
    UnknownMethod {
        /// The name given.
        name: String,
        /// The names [`MethodConfig::names`] lists.
        expected: Vec<String>,
    },
    /// The table sets a field the method does not have.
    #[error("method `{method}` has no field `{field}` (its fields: {})", .fields.join(", "))]
    UnknownField {
        /// The method.
        method: String,
        /// The field, as a dotted path (`guard.ratio`).
        field: String,
        /// The fields the method (or that nested table) has.
        fields: Vec<String>,
    },
    /// A field's value has the wrong type or form.
    #[error("`{field}` of method `{method}`: {message}")]
    InvalidValue {
        /// The method.
        method: String,
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The table is not a table, or `method` is not text.
    #[error("{0}")]
    Malformed(String),
}

impl SchemaError {
    /// The field the error is about, as a dotted path (`method` for an
    /// unknown method).
    pub fn field(&self) -> Option<&str> {
        match self {
            SchemaError::UnknownMethod { .. } => Some("method"),
            SchemaError::UnknownField { field, .. } | SchemaError::InvalidValue { field, .. } => {
                Some(field)
            }
            SchemaError::Malformed(_) => None,
        }
    }
}

/// The name of the base optimizer alone (`base` is read too).
const BASE: &str = "sgd";

impl MethodConfig {
    /// Every name `method` takes: `sgd`, `sam`, `asam`, `ssam`, then the
    /// universal class's presets ([`Preset::ALL`]).
    pub fn names() -> Vec<String> {
        let mut names: Vec<String> = [BASE, "sam", "asam", "ssam"].map(String::from).into();
        names.extend(Preset::ALL.iter().map(Preset::to_string));
        names
    }

    /// The method's name, as `method` writes it.
    pub fn name(&self) -> String {
        match self {
            MethodConfig::Base(_) => BASE.into(),
            MethodConfig::Sam(_) => "sam".into(),
            MethodConfig::Asam(_) => "asam".into(),
            MethodConfig::Ssam(_) => "ssam".into(),
            MethodConfig::Universal(c) => c.preset.to_string(),
        }
    }

    /// The method called `name` (case-insensitive) with its config's
    /// defaults, the reference settings.
    pub fn reference(name: &str) -> Result<Self, SchemaError> {
        let lower = name.trim().to_ascii_lowercase();
        Ok(match lower.as_str() {
            BASE | "base" => MethodConfig::Base(BaseConfig::new()),
            "sam" => MethodConfig::Sam(SamConfig::new()),
            "asam" => MethodConfig::Asam(AsamConfig::new()),
            "ssam" => MethodConfig::Ssam(SsamConfig::new()),
            other => match other.parse::<Preset>() {
                Ok(preset) => MethodConfig::Universal(UniversalSamConfig::new(preset)),
                Err(_) => {
                    return Err(SchemaError::UnknownMethod {
                        name: name.to_string(),
                        expected: Self::names(),
                    });
                }
            },
        })
    }

    /// The table form: `method` and every field that is set (unset
    /// optional fields are left out, as TOML has no null).
    pub fn to_table(&self) -> Map<String, Value> {
        let mut table = Map::new();
        table.insert("method".into(), Value::String(self.name()));
        let (fields, _) = self.fields();
        table.extend(fields.into_iter().filter(|(_, v)| !v.is_null()));
        table
    }

    /// The fields the method's table may set, sorted (`method` aside).
    pub fn field_names(&self) -> Vec<String> {
        self.fields().0.keys().cloned().collect()
    }

    /// Reads a table, a missing `method` meaning `sgd`, over the
    /// reference settings.
    pub fn from_table(table: Map<String, Value>) -> Result<Self, SchemaError> {
        Self::from_table_over(table, Self::reference)
    }

    /// Reads a table over the defaults that `defaults` gives for the
    /// method it names (an application's own defaults, say).
    pub fn from_table_over(
        mut table: Map<String, Value>,
        defaults: impl FnOnce(&str) -> Result<Self, SchemaError>,
    ) -> Result<Self, SchemaError> {
        let name = match table.remove("method") {
            None => BASE.to_string(),
            Some(Value::String(s)) => s,
            Some(other) => {
                return Err(SchemaError::Malformed(format!(
                    "`method` must be a method's name, got {other}"
                )));
            }
        };
        defaults(&name)?.with_table(table)
    }

    /// The same method with the fields of `table` set (nested tables
    /// merged field by field).
    pub fn with_table(self, table: Map<String, Value>) -> Result<Self, SchemaError> {
        let method = self.name();
        let (mut fields, rebuild) = self.fields();
        for (key, value) in table {
            let known: Vec<String> = fields.keys().cloned().collect();
            merge(&method, "", &mut fields, &known, key.clone(), value)?;
            // Rebuilt after each key, so an error names the key that broke it.
            rebuild(Value::Object(fields.clone())).map_err(|e| SchemaError::InvalidValue {
                method: method.clone(),
                field: key,
                message: e.to_string(),
            })?;
        }
        rebuild(Value::Object(fields)).map_err(|e| SchemaError::Malformed(e.to_string()))
    }

    /// The variant's fields (a universal config's `preset` is its
    /// `method`) and how to build the variant back from them.
    fn fields(&self) -> (Map<String, Value>, Rebuild) {
        fn object<T: Serialize>(c: &T) -> Map<String, Value> {
            match serde_json::to_value(c) {
                Ok(Value::Object(m)) => m,
                other => unreachable!("a method's config serialises to an object: {other:?}"),
            }
        }
        match self {
            MethodConfig::Base(c) => (
                object(c),
                Box::new(|v| serde_json::from_value(v).map(MethodConfig::Base)),
            ),
            MethodConfig::Sam(c) => (
                object(c),
                Box::new(|v| serde_json::from_value(v).map(MethodConfig::Sam)),
            ),
            MethodConfig::Asam(c) => (
                object(c),
                Box::new(|v| serde_json::from_value(v).map(MethodConfig::Asam)),
            ),
            MethodConfig::Ssam(c) => (
                object(c),
                Box::new(|v| serde_json::from_value(v).map(MethodConfig::Ssam)),
            ),
            MethodConfig::Universal(c) => {
                let mut fields = object(c);
                fields.remove("preset");
                (fields, universal_rebuild(c.preset))
            }
        }
    }
}

type Rebuild = Box<dyn Fn(Value) -> Result<MethodConfig, serde_json::Error>>;

/// Builds a universal config back from its fields, with `preset` (which
/// the table writes as `method`).
fn universal_rebuild(preset: Preset) -> Rebuild {
    Box::new(move |v| {
        let Value::Object(mut fields) = v else {
            return Err(de::Error::custom("a method's fields form a table"));
        };
        fields.insert(
            "preset".into(),
            serde_json::to_value(preset).expect("a preset serialises"),
        );
        serde_json::from_value(Value::Object(fields)).map(MethodConfig::Universal)
    })
}

/// Sets `into[key] = value`, merging a table into a struct-valued field
/// field by field; `known` are the keys `into` accepts.
fn merge(
    method: &str,
    path: &str,
    into: &mut Map<String, Value>,
    known: &[String],
    key: String,
    value: Value,
) -> Result<(), SchemaError> {
    let field = if path.is_empty() {
        key.clone()
    } else {
        format!("{path}.{key}")
    };
    let unknown = || SchemaError::UnknownField {
        method: method.to_string(),
        field: field.clone(),
        fields: known.to_vec(),
    };
    if !known.contains(&key) {
        return Err(unknown());
    }
    let slot = into.get_mut(&key).ok_or_else(unknown)?;
    match (slot, value) {
        (Value::Object(existing), Value::Object(table)) if is_struct(existing) => {
            let known: Vec<String> = existing.keys().cloned().collect();
            for (k, v) in table {
                merge(method, &field, existing, &known, k, v)?;
            }
        }
        (slot, value) => *slot = value,
    }
    Ok(())
}

/// Whether an object is a struct's fields rather than an enum variant
/// (serde writes a variant with data as a one-key object named in
/// `UpperCamelCase`, e.g. `{ Norm = 1.0 }`), which a new value replaces.
fn is_struct(object: &Map<String, Value>) -> bool {
    !(object.len() == 1
        && object
            .keys()
            .next()
            .is_some_and(|k| k.starts_with(|c: char| c.is_ascii_uppercase())))
}

impl PartialEq for MethodConfig {
    /// Equal when their tables are: the same method with the same settings.
    fn eq(&self, other: &Self) -> bool {
        self.to_table() == other.to_table()
    }
}

impl Serialize for MethodConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let table = self.to_table();
        let mut map = serializer.serialize_map(Some(table.len()))?;
        // `method` first, the fields after it.
        map.serialize_entry("method", &table["method"])?;
        for (k, v) in table.iter().filter(|(k, _)| *k != "method") {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for MethodConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let table = read_table(deserializer)?;
        MethodConfig::from_table(table).map_err(de::Error::custom)
    }
}

/// Reads any self-describing table (TOML, JSON, ...) as JSON values,
/// refusing non-finite numbers (JSON has none, and a NaN radius must not
/// turn into an unset one).
pub fn read_table<'de, D: Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
    match d.deserialize_any(FiniteVisitor)? {
        Value::Object(m) => Ok(m),
        other => Err(de::Error::custom(format!(
            "a method's configuration is a table, got {other}"
        ))),
    }
}

/// Builds a JSON value, failing on NaN and infinities.
struct FiniteVisitor;

impl<'de> Visitor<'de> for FiniteVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("a value of a method's configuration")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom(format!("{v} is not a finite number")))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Finite(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some((k, Finite(v))) = map.next_entry::<String, Finite>()? {
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

/// A value read through [`FiniteVisitor`].
struct Finite(Value);

impl<'de> Deserialize<'de> for Finite {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FiniteVisitor).map(Finite)
    }
}
