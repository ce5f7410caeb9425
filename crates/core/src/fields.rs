//! Reading the configuration's JSON objects field by field.
//!
//! The configuration is parsed strictly (duplicate keys refused) into JSON
//! values, then each struct takes its fields by name from a [`Fields`]; a key
//! nobody took is refused, so a typo is an error rather than a silently
//! ignored setting. Every error names the field by its path
//! (`verification.leeway`).
//!
//! Hand-written rather than serde's derive, for the messages: serde's say
//! what was wrong ("invalid type: string, expected u64") but not where, once
//! the document is one line of `JSON.stringify`. It compiles to about as much
//! WebAssembly as the derive did (~20 KB, which V8 compiles on an isolate's
//! first request); the readers are out of line (`#[inline(never)]`) so that
//! a field is one call, not a copy of its reader.

use crate::json::{self, Object, StrictValue};
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use serde::de::{Deserialize, Deserializer, Error};
use serde_json::Value;

/// A configuration value that cannot be used. Raised when configuration is
/// loaded, never per request; the message names the field and says what to fix.
/// Secrets never appear in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The field, as spelled in the configuration (e.g. `issuer`, `leeway`).
    pub field: String,
    /// What is wrong with it and what to do.
    pub message: String,
}

impl ConfigError {
    /// Builds a configuration error for `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: `{}`: {}", self.field, self.message)
    }
}

impl core::error::Error for ConfigError {}

/// One JSON object of the configuration, its fields taken one by one.
pub(crate) struct Fields {
    map: Object,
    /// `""` for the document, else the object's path and a dot (`"cookies."`).
    path: String,
    /// The keys asked for, for the message about an unknown one.
    known: Vec<&'static str>,
}

impl Fields {
    /// The document `text`, which must be a JSON object.
    pub(crate) fn parse(text: &str) -> Result<Fields, ConfigError> {
        let map = json::parse_object(text.as_bytes()).map_err(|e| ConfigError::new("(document)", e))?;
        Ok(Fields::of(map, String::new()))
    }

    fn of(map: Object, path: String) -> Fields {
        Fields {
            map,
            path,
            known: Vec::new(),
        }
    }

    /// The value of `key`, taken out (`None` when absent).
    #[inline(never)]
    fn take(&mut self, key: &'static str) -> Option<Value> {
        self.known.push(key);
        self.map.remove(key)
    }

    /// An error for `key`, named by its path.
    #[inline(never)]
    pub(crate) fn error(&self, key: &str, what: &str) -> ConfigError {
        ConfigError::new(format!("{}{key}", self.path), what)
    }

    #[inline(never)]
    fn wrong(&self, key: &str, expected: &str, got: &Value) -> ConfigError {
        self.error(key, &format!("must be {expected}, not {}", json::kind(got)))
    }

    /// A string.
    #[inline(never)]
    pub(crate) fn string(&mut self, key: &'static str) -> Result<Option<String>, ConfigError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong(key, "a string", &other)),
        }
    }

    /// An editor's annotation (`$schema`): a string when present, read and
    /// dropped, and not listed among the fields a typo could have meant.
    #[cfg(feature = "session")]
    pub(crate) fn annotation(&mut self, key: &'static str) -> Result<(), ConfigError> {
        match self.map.remove(key) {
            None | Some(Value::String(_)) => Ok(()),
            Some(other) => Err(self.wrong(key, "a string", &other)),
        }
    }

    /// A non-negative integer.
    #[inline(never)]
    pub(crate) fn u64(&mut self, key: &'static str) -> Result<Option<u64>, ConfigError> {
        match self.take(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.wrong(key, "a non-negative integer", &v)),
        }
    }

    /// A non-negative integer that fits `T` (a count, milliseconds):
    /// "is too large" otherwise.
    pub(crate) fn uint<T: TryFrom<u64>>(&mut self, key: &'static str) -> Result<Option<T>, ConfigError> {
        match self.u64(key)? {
            Some(n) => T::try_from(n)
                .map(Some)
                .map_err(|_| self.error(key, "is too large")),
            None => Ok(None),
        }
    }

    /// `true` or `false`.
    #[cfg(feature = "session")]
    #[inline(never)]
    pub(crate) fn bool(&mut self, key: &'static str) -> Result<Option<bool>, ConfigError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(other) => Err(self.wrong(key, "true or false", &other)),
        }
    }

    /// An array of strings.
    #[inline(never)]
    pub(crate) fn strings(&mut self, key: &'static str) -> Result<Option<Vec<String>>, ConfigError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Array(items)) => self.all_strings(key, items, "an array of strings").map(Some),
            Some(other) => Err(self.wrong(key, "an array of strings", &other)),
        }
    }

    /// An array of strings, or `None` when `key` is absent or holds
    /// something else, left for another reader (an object).
    pub(crate) fn strings_or(&mut self, key: &'static str) -> Result<Option<Vec<String>>, ConfigError> {
        match self.map.get(key) {
            Some(Value::Array(_)) => self.strings(key),
            _ => Ok(None),
        }
    }

    /// A string or an array of strings (`"x"` is `["x"]`), under `key` or
    /// `alias` (not both).
    #[inline(never)]
    pub(crate) fn one_or_many(
        &mut self,
        key: &'static str,
        alias: Option<&'static str>,
    ) -> Result<Option<Vec<String>>, ConfigError> {
        let (key, value) = match (self.take(key), alias.and_then(|a| Some((a, self.take(a)?)))) {
            (Some(_), Some((alias, _))) => {
                return Err(self.error(
                    key,
                    &format!("is the same setting as `{}{alias}`; give one of them", self.path),
                ))
            }
            (None, Some((alias, value))) => (alias, Some(value)),
            (value, None) => (key, value),
        };
        match value {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(alloc::vec![s])),
            Some(Value::Array(items)) => self
                .all_strings(key, items, "a string or an array of strings")
                .map(Some),
            Some(other) => Err(self.wrong(key, "a string or an array of strings", &other)),
        }
    }

    #[inline(never)]
    fn all_strings(&self, key: &str, items: Vec<Value>, expected: &str) -> Result<Vec<String>, ConfigError> {
        items
            .into_iter()
            .map(|item| match item {
                Value::String(s) => Ok(s),
                other => Err(self.wrong(key, expected, &other)),
            })
            .collect()
    }

    /// One of the names `parse` accepts (listed in `names` for the message).
    pub(crate) fn named<T>(
        &mut self,
        key: &'static str,
        parse: impl Fn(&str) -> Option<T>,
        names: &str,
    ) -> Result<Option<T>, ConfigError> {
        match self.string(key)? {
            None => Ok(None),
            Some(name) => parse(&name)
                .map(Some)
                .ok_or_else(|| self.error(key, &format!("is {name:?}; expected one of {names}"))),
        }
    }

    /// `read`, with `null` read as absent (for settings whose default is "none").
    pub(crate) fn nullable<T>(
        &mut self,
        key: &'static str,
        read: impl FnOnce(&mut Fields, &'static str) -> Result<Option<T>, ConfigError>,
    ) -> Result<Option<T>, ConfigError> {
        if self.map.get(key) == Some(&Value::Null) {
            self.take(key);
            return Ok(None);
        }
        read(self, key)
    }

    /// A nested object, read with `read`, which must take all its fields.
    /// (Generic, so kept to a call: the work is in [`Fields::nested`] and
    /// [`Fields::finish`], compiled once.)
    pub(crate) fn object<T>(
        &mut self,
        key: &'static str,
        read: impl FnOnce(&mut Fields) -> Result<T, ConfigError>,
    ) -> Result<Option<T>, ConfigError> {
        match self.nested(key)? {
            None => Ok(None),
            Some(f) => f.read_all(read).map(Some),
        }
    }

    /// The object under `key` as fields of their own (named by its path).
    #[inline(never)]
    fn nested(&mut self, key: &'static str) -> Result<Option<Fields>, ConfigError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Fields::of(map, format!("{}{key}.", self.path)))),
            Some(other) => Err(self.wrong(key, "an object", &other)),
        }
    }

    /// An array of objects, each read with `read`.
    #[cfg(feature = "session")]
    pub(crate) fn objects<T>(
        &mut self,
        key: &'static str,
        read: impl Fn(&mut Fields) -> Result<T, ConfigError>,
    ) -> Result<Option<Vec<T>>, ConfigError> {
        let Some(items) = self.nested_items(key)? else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(items.len());
        for f in items {
            out.push(f.read_all(&read)?);
        }
        Ok(Some(out))
    }

    /// The objects of the array under `key`, each as fields of its own.
    #[cfg(feature = "session")]
    #[inline(never)]
    fn nested_items(&mut self, key: &'static str) -> Result<Option<Vec<Fields>>, ConfigError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::Object(map) => Ok(Fields::of(map, format!("{}{key}[{i}].", self.path))),
                    other => Err(self.wrong(key, "an array of objects", &other)),
                })
                .collect::<Result<Vec<Fields>, ConfigError>>()
                .map(Some),
            Some(other) => Err(self.wrong(key, "an array of objects", &other)),
        }
    }

    /// An object whose values are all strings.
    #[cfg(feature = "session")]
    #[inline(never)]
    pub(crate) fn string_map(
        &mut self,
        key: &'static str,
    ) -> Result<Option<BTreeMap<String, String>>, ConfigError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Object(map)) => map
                .into_iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k, s)),
                    other => Err(self.wrong(key, "an object of strings", &other)),
                })
                .collect::<Result<_, _>>()
                .map(Some),
            Some(other) => Err(self.wrong(key, "an object of strings", &other)),
        }
    }

    /// An object of any JSON values.
    #[inline(never)]
    pub(crate) fn value_map(
        &mut self,
        key: &'static str,
    ) -> Result<Option<BTreeMap<String, Value>>, ConfigError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(map.into_iter().collect())),
            Some(other) => Err(self.wrong(key, "an object", &other)),
        }
    }

    /// Runs `read`, then refuses any key it did not take.
    pub(crate) fn read_all<T>(
        mut self,
        read: impl FnOnce(&mut Fields) -> Result<T, ConfigError>,
    ) -> Result<T, ConfigError> {
        let value = read(&mut self)?;
        self.finish()?;
        Ok(value)
    }

    /// Refuses any key nobody took.
    #[inline(never)]
    fn finish(mut self) -> Result<(), ConfigError> {
        let Some(unknown) = self.map.keys().next() else {
            return Ok(());
        };
        let field = format!("{}{unknown}", self.path);
        self.known.sort_unstable();
        self.known.dedup();
        let message = format!(
            "unknown field `{field}` (a typo?); the fields here are {}",
            self.known.join(", ")
        );
        Err(ConfigError::new(field, message))
    }
}

/// Puts `value`, when there is one, in `slot` (which holds the default).
pub(crate) fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *slot = value;
    }
}

/// `read` behind serde's `Deserialize`, for hosts that embed a setting
/// ([`crate::Policy`], [`crate::MemoConfig`], …) in their own configuration:
/// the same rules and messages as in Tessera's.
pub(crate) fn deserialize<'de, D: Deserializer<'de>, T>(
    d: D,
    read: fn(&mut Fields) -> Result<T, ConfigError>,
) -> Result<T, D::Error> {
    match StrictValue::deserialize(d)?.0 {
        Value::Object(map) => Fields::of(map, String::new())
            .read_all(read)
            .map_err(|e| D::Error::custom(format!("`{}`: {}", e.field, e.message))),
        other => Err(D::Error::custom(format!(
            "expected an object, not {}",
            json::kind(&other)
        ))),
    }
}
