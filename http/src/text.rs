//! Text input rules shared by every route: a JSON string field takes only a JSON string
//! (poem-openapi would turn `2.28e-76` or `true` into text), and no text may carry
//! control characters other than tab and newline (PostgreSQL refuses U+0000, SQLite
//! keeps it; both must answer the same).

use std::{borrow::Cow, marker::PhantomData};

use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef},
    types::{ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type},
};
use serde_json::Value;

/// What a text field accepts besides "no control characters", as the OpenAPI document
/// declares it (`minLength`, `pattern`). The domain checks the same rules and names the
/// field in its answer; these declarations only tell clients the truth about them.
pub trait TextRule: Send + Sync + 'static {
    const NAME: &'static str;
    const MIN_LENGTH: usize = 0;
    const PATTERN: &'static str = NO_CONTROL_CHARACTERS;
}

macro_rules! text_rules {
    ($($(#[$doc:meta])* $rule:ident { $($body:tt)* })*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $rule;
        impl TextRule for $rule { const NAME: &'static str = stringify!($rule); $($body)* }
    )*};
}

text_rules! {
    /// Any text without control characters.
    AnyText {}
    /// Something other than nothing.
    Present { const MIN_LENGTH: usize = 1; }
    /// Text with something besides whitespace (it is trimmed).
    NonBlank {
        const MIN_LENGTH: usize = 1;
        const PATTERN: &'static str =
            r"^[^\S\u0000-\u0008\u000B-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B-\u001F\u007F-\u009F]*$";
    }
    /// 3 to 32 of `A-Z a-z 0-9 _ . -`.
    UsernameText {
        const MIN_LENGTH: usize = 3;
        const PATTERN: &'static str = r"^[A-Za-z0-9_.-]{3,32}$";
    }
    /// An address with a dotted domain.
    EmailText {
        const MIN_LENGTH: usize = 3;
        const PATTERN: &'static str =
            r"^[!-?A-~]{1,64}@[A-Za-z0-9]{1,20}(-[A-Za-z0-9]{1,20}){0,1}(\.[A-Za-z0-9]{1,20}(-[A-Za-z0-9]{1,20}){0,1}){1,4}$";
    }
    /// 8 to 128 characters.
    PasswordText { const MIN_LENGTH: usize = 8; }
    /// An absolute http(s) URL with a host.
    HttpUrl { const MIN_LENGTH: usize = 8; const PATTERN: &'static str = HTTP_URL; }
    /// An http(s) URL, or a path from the root (our own media).
    MediaUrl { const MIN_LENGTH: usize = 1; const PATTERN: &'static str = MEDIA_URL; }
    /// Like `MediaUrl`, or empty to clear it.
    MediaUrlOrEmpty { const PATTERN: &'static str = MEDIA_URL_OR_EMPTY; }
}

macro_rules! http_url {
    ($host:literal) => {
        concat!(
            r#"https?://([!"$-.0-9:->@-Z^-~]*@)?"#,
            $host,
            "(",
            r#"[!"$-.0-9;->A-Z^-~]*"#,
            $host,
            r#")?(:[!"$-.0-9:->A-Z^-~]*)?([/?#][!-~]*)?"#
        )
    };
}

const HTTP_URL: &str = concat!(r"^[ \t\n]*", http_url!(r#"[!"$-\-0-9;->A-Z^-~]"#), r"[ \t\n]*$");
const MEDIA_URL: &str = concat!(
    r"^[ \t\n]*(",
    http_url!(r#"[!"$-\-0-9;->A-Z^-~]"#),
    r"|/([!-.0-~][!-~]*)?)[ \t\n]*$"
);
const MEDIA_URL_OR_EMPTY: &str = concat!(
    r"^(|[ \t\n]*(",
    http_url!(r#"[!"$-\-0-9;->A-Z^-~]"#),
    r"|/([!-.0-~][!-~]*)?)[ \t\n]*)$"
);

/// A JSON string of at most `MAX` characters (`MAX = 0` declares no bound) following
/// `R`. Only a JSON string is one: numbers and booleans are refused, not coerced.
pub struct JsonText<const MAX: usize = 0, R: TextRule = AnyText>(pub String, PhantomData<R>);

impl<const MAX: usize, R: TextRule> std::fmt::Debug for JsonText<MAX, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("JsonText").field(&self.0).finish()
    }
}

impl<const MAX: usize, R: TextRule> Clone for JsonText<MAX, R> {
    fn clone(&self) -> Self {
        Self(self.0.clone(), PhantomData)
    }
}

impl<const MAX: usize, R: TextRule> JsonText<MAX, R> {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl<const MAX: usize, R: TextRule> Type for JsonText<MAX, R> {
    const IS_REQUIRED: bool = true;
    type RawValueType = String;
    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        format!("string({},max_length={MAX})", R::NAME).into()
    }

    fn schema_ref() -> MetaSchemaRef {
        let mut schema = MetaSchema::new("string");
        if MAX > 0 {
            schema.max_length = Some(MAX);
        }
        if R::MIN_LENGTH > 0 {
            schema.min_length = Some(R::MIN_LENGTH);
        }
        schema.pattern = Some(R::PATTERN.to_string());
        MetaSchemaRef::Inline(Box::new(schema))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(std::iter::once(&self.0))
    }
}

impl<const MAX: usize, R: TextRule> ParseFromJSON for JsonText<MAX, R> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::String(text) => Ok(Self(text, PhantomData)),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl<const MAX: usize, R: TextRule> ParseFromParameter for JsonText<MAX, R> {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Ok(Self(value.to_string(), PhantomData))
    }
}

impl<const MAX: usize, R: TextRule> ToJSON for JsonText<MAX, R> {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

/// A path parameter declared as a UUID; the route answers a malformed one itself (404
/// for an id that names nothing, 400 where the domain says so).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UuidText(pub String);

impl Type for UuidText {
    const IS_REQUIRED: bool = true;
    type RawValueType = String;
    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        "string(uuid)".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("string", "uuid")))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(std::iter::once(&self.0))
    }
}

impl ParseFromParameter for UuidText {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Ok(Self(value.to_string()))
    }
}

impl std::ops::Deref for UuidText {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

/// A UUID in its hyphenated form only (what `format: uuid` means); `Uuid::parse_str`
/// alone would also take the simple, braced and URN forms.
pub fn strict_uuid(raw: &str) -> Option<uuid::Uuid> {
    (raw.len() == 36).then(|| uuid::Uuid::parse_str(raw).ok()).flatten()
}

/// Up to `MAX` items of `T`, declared with `maxItems`; the domain checks the count so its
/// answer names the field.
#[derive(Debug, Clone)]
pub struct ListOf<T, const MAX: usize>(pub Vec<T>);

impl<T: Type, const MAX: usize> Type for ListOf<T, MAX> {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = T::RawValueType;

    fn name() -> Cow<'static, str> {
        format!("[{}](max_items={MAX})", T::name()).into()
    }

    fn schema_ref() -> MetaSchemaRef {
        let mut schema = MetaSchema::new("array");
        schema.items = Some(Box::new(T::schema_ref()));
        schema.max_items = Some(MAX);
        MetaSchemaRef::Inline(Box::new(schema))
    }

    fn register(registry: &mut poem_openapi::registry::Registry) {
        T::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.0.iter().filter_map(T::as_raw_value))
    }
}

impl<T: ParseFromJSON, const MAX: usize> ParseFromJSON for ListOf<T, MAX> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        Vec::<T>::parse_from_json(value)
            .map(Self)
            .map_err(ParseError::propagate)
    }
}

impl<T: ToJSON, const MAX: usize> ToJSON for ListOf<T, MAX> {
    fn to_json(&self) -> Option<Value> {
        self.0.to_json()
    }
}

/// `social_links` as declared: an object of at most 20 strings. The value is handed to
/// the profile domain as sent, which answers anything else with `invalid_social_links`.
#[derive(Debug, Clone)]
pub struct SocialLinksJson(pub Value);

impl Type for SocialLinksJson {
    const IS_REQUIRED: bool = true;
    type RawValueType = Value;
    type RawElementValueType = Value;

    fn name() -> Cow<'static, str> {
        "SocialLinks".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        let mut schema = MetaSchema::new("object");
        schema.additional_properties = Some(Box::new(JsonText::<2048>::schema_ref()));
        schema.max_properties = Some(20);
        MetaSchemaRef::Inline(Box::new(schema))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(std::iter::once(&self.0))
    }
}

impl ParseFromJSON for SocialLinksJson {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        Ok(Self(value.unwrap_or_default()))
    }
}

impl ToJSON for SocialLinksJson {
    fn to_json(&self) -> Option<Value> {
        Some(self.0.clone())
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
