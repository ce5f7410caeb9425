//! Strict JSON for untrusted input: objects with duplicate member names are refused.
//!
//! `serde_json` on its own keeps the last of two duplicate members, so
//! `{"sub":"alice","sub":"mallory"}` would mean different things to different
//! parsers. Everything Tessera reads from a token or a key set goes through
//! [`parse_object`]. `serde_json` already rejects `NaN`/`Infinity`, numbers out of
//! `f64` range, invalid UTF-8, trailing garbage and nesting deeper than 128.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// A JSON object as read from untrusted input.
pub type Object = Map<String, Value>;

/// Parses `bytes` as one JSON object, refusing duplicate member names at any depth.
///
/// ```
/// use tessera_core::json::parse_object;
/// assert!(parse_object(br#"{"a":1,"b":{"c":2}}"#).is_ok());
/// let err = parse_object(br#"{"a":1,"a":2}"#).unwrap_err();
/// assert!(err.contains("duplicate member \"a\""));
/// assert!(parse_object(b"[1]").is_err());
/// ```
pub fn parse_object(bytes: &[u8]) -> Result<Object, String> {
    match serde_json::from_slice::<StrictValue>(bytes) {
        Ok(StrictValue(Value::Object(map))) => Ok(map),
        Ok(StrictValue(other)) => Err(format!("expected a JSON object, found {}", kind(&other))),
        Err(e) => Err(format!("invalid JSON: {e}")),
    }
}

/// Deserializes a JSON object with the strict reader (`#[serde(deserialize_with)]`):
/// the code `parse_object` already compiles, rather than `serde_json`'s own
/// `Value` reader, which would add kilobytes to the WebAssembly builds.
#[cfg(feature = "session")]
pub(crate) fn object<'de, D: Deserializer<'de>>(d: D) -> Result<Object, D::Error> {
    match StrictValue::deserialize(d)? {
        StrictValue(Value::Object(map)) => Ok(map),
        StrictValue(other) => Err(de::Error::custom(format!(
            "expected a JSON object, found {}",
            kind(&other)
        ))),
    }
}

/// A short name for a JSON value's type, for messages.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(crate) struct StrictValue(pub(crate) Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.into()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate member \"{key}\"")));
            }
            let StrictValue(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_duplicates_at_any_depth() {
        assert!(parse_object(br#"{"a":{"b":1,"b":1}}"#).is_err());
        assert!(parse_object(br#"{"a":[{"b":1,"b":2}]}"#).is_err());
        assert!(parse_object(br#"{"a":{"b":1},"c":{"b":1}}"#).is_ok());
    }

    #[test]
    fn refuses_non_json_numbers_and_garbage() {
        for bad in [
            &br#"{"exp":NaN}"#[..],
            br#"{"exp":Infinity}"#,
            br#"{"exp":1e400}"#,
            br#"{"a":1} x"#,
            b"\xef\xbb\xbf{}",
            br#"{"a":"\xff"}"#,
            b"",
        ] {
            assert!(parse_object(bad).is_err(), "{:?}", core::str::from_utf8(bad));
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let mut s = String::from("{\"a\":");
        for _ in 0..10_000 {
            s.push('[');
        }
        assert!(parse_object(s.as_bytes()).is_err());
    }
}
