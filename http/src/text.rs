//! Text input rules shared by every route: a JSON string field takes only a JSON string
//! (poem-openapi would turn `2.28e-76` or `true` into text), and no text may carry
//! control characters other than tab and newline (PostgreSQL refuses U+0000, SQLite
//! keeps it; both must answer the same).

use std::borrow::Cow;

use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef},
    types::{ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type},
};
use serde_json::Value;

/// A JSON string of at most `MAX` characters (declared in the OpenAPI document; the
/// domain checks the limit so its answer names the field). `MAX = 0` declares none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonText<const MAX: usize = 0>(pub String);

impl<const MAX: usize> JsonText<MAX> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<const MAX: usize> Type for JsonText<MAX> {
    const IS_REQUIRED: bool = true;
    type RawValueType = String;
    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        if MAX == 0 {
            "string".into()
        } else {
            format!("string(max_length={MAX})").into()
        }
    }

    fn schema_ref() -> MetaSchemaRef {
        let mut schema = MetaSchema::new("string");
        if MAX > 0 {
            schema.max_length = Some(MAX);
        }
        schema.pattern = Some(NO_CONTROL_CHARACTERS.to_string());
        MetaSchemaRef::Inline(Box::new(schema))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(std::iter::once(&self.0))
    }
}

impl<const MAX: usize> ParseFromJSON for JsonText<MAX> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::String(text) => Ok(Self(text)),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl<const MAX: usize> ParseFromParameter for JsonText<MAX> {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Ok(Self(value.to_string()))
    }
}

impl<const MAX: usize> ToJSON for JsonText<MAX> {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

/// A field the OpenAPI document declares required, while a missing one still reaches the
/// domain, whose answer names it (`title is required`, code `invalid_title`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Required<T>(pub Option<T>);

impl<T> Required<T> {
    pub fn as_ref(&self) -> Option<&T> {
        self.0.as_ref()
    }
}

impl<T: Type> Type for Required<T> {
    const IS_REQUIRED: bool = true;
    type RawValueType = T::RawValueType;
    type RawElementValueType = T::RawElementValueType;

    fn name() -> Cow<'static, str> {
        T::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut poem_openapi::registry::Registry) {
        T::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        self.0.as_ref().and_then(T::as_raw_value)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        match &self.0 {
            Some(value) => value.raw_element_iter(),
            None => Box::new(std::iter::empty()),
        }
    }
}

impl<T: ParseFromJSON> ParseFromJSON for Required<T> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            None | Some(Value::Null) => Ok(Self(None)),
            value => T::parse_from_json(value)
                .map(|v| Self(Some(v)))
                .map_err(ParseError::propagate),
        }
    }
}

impl<T: ToJSON> ToJSON for Required<T> {
    fn to_json(&self) -> Option<Value> {
        self.0.as_ref().and_then(ToJSON::to_json)
    }
}

/// A query parameter declared as an integer in `MIN..=MAX`; the domain checks the
/// bounds so its answer names the parameter (`invalid_page`, `invalid_size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounded<const MIN: u64, const MAX: u64>(pub u64);

impl<const MIN: u64, const MAX: u64> Type for Bounded<MIN, MAX> {
    const IS_REQUIRED: bool = true;
    type RawValueType = u64;
    type RawElementValueType = u64;

    fn name() -> Cow<'static, str> {
        format!("integer(int64,{MIN}..={MAX})").into()
    }

    fn schema_ref() -> MetaSchemaRef {
        let mut schema = MetaSchema::new_with_format("integer", "int64");
        schema.minimum = Some(MIN as f64);
        schema.maximum = Some(MAX as f64);
        MetaSchemaRef::Inline(Box::new(schema))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(std::iter::once(&self.0))
    }
}

impl<const MIN: u64, const MAX: u64> ParseFromParameter for Bounded<MIN, MAX> {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        value
            .parse::<u64>()
            .map(Self)
            .map_err(|_| ParseError::custom(format!("expected a whole number from {MIN} to {MAX}")))
    }
}

/// The OpenAPI `pattern` of every text field: no control character but tab and newline.
pub const NO_CONTROL_CHARACTERS: &str = r"^[^\u0000-\u0008\u000B-\u001F\u007F-\u009F]*$";

/// Tab and newline are text; every other control character (C0, DEL, C1) is refused.
pub fn is_forbidden_control(c: char) -> bool {
    c.is_control() && c != '\t' && c != '\n'
}

pub fn has_forbidden_control(text: &str) -> bool {
    text.chars().any(is_forbidden_control)
}

/// Any string or object key anywhere in the document carries a forbidden character.
pub fn json_has_forbidden_control(value: &Value) -> bool {
    match value {
        Value::String(text) => has_forbidden_control(text),
        Value::Array(items) => items.iter().any(json_has_forbidden_control),
        Value::Object(fields) => fields
            .iter()
            .any(|(key, value)| has_forbidden_control(key) || json_has_forbidden_control(value)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// Percent-decodes a path or query string (with `+` as a space, as forms send it) and
/// tells whether the decoded text has a forbidden character. Bytes that are not UTF-8
/// are left for the route to refuse.
pub fn encoded_has_forbidden_control(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    decoded.push(high << 4 | low);
                    i += 3;
                    continue;
                }
                _ => decoded.push(b'%'),
            },
            b'+' => decoded.push(b' '),
            byte => decoded.push(byte),
        }
        i += 1;
    }
    has_forbidden_control(&String::from_utf8_lossy(&decoded))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters() {
        assert!(!has_forbidden_control("a\tb\nc é"));
        for bad in ["a\u{0}b", "a\rb", "\u{7f}", "\u{85}", "\u{1b}[31m"] {
            assert!(has_forbidden_control(bad), "{bad:?}");
        }
        assert!(json_has_forbidden_control(&serde_json::json!({"a": ["ok", "x\u{0}"]})));
        assert!(json_has_forbidden_control(&serde_json::json!({"k\u{1}": 1})));
        assert!(!json_has_forbidden_control(
            &serde_json::json!({"a": ["ok\n", 1, null]})
        ));
    }

    #[test]
    fn encoded() {
        assert!(encoded_has_forbidden_control("/users/a%00b"));
        assert!(encoded_has_forbidden_control("q=%0d"));
        assert!(encoded_has_forbidden_control("q=%C2%85"));
        assert!(encoded_has_forbidden_control("%00"));
        assert!(!encoded_has_forbidden_control("q=a%09b%0A"));
        assert!(!encoded_has_forbidden_control("q=100%"));
        assert!(!encoded_has_forbidden_control("q=%zz%4"));
        assert!(!encoded_has_forbidden_control("/users/alice"));
    }
}
