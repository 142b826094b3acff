//! The words that go with an image: its caption and its text alternative.

use serde::{Deserialize, Serialize};

use crate::validation::{Field, ValidationError, at_most};

/// A caption shown with an image: at most 2 000 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caption(String);

impl Caption {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        Ok(Self(at_most(Field::Caption, raw, 2_000)?))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An image's text alternative: at most 500 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AltText(String);

impl AltText {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        Ok(Self(at_most(Field::Alt, raw, 500)?))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}
