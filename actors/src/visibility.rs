//! Who may see a project: the one rule every read, list, search and live event applies.

use serde::{Deserialize, Serialize};

use crate::validation::{Field, ValidationError};

/// Who sees a project besides its owner.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Everyone: listed, searched and suggested (the default, and what every project
    /// was before visibility existed).
    #[default]
    Public,
    /// Anyone who has its id; never listed, searched or suggested.
    Unlisted,
    /// The owner only (a draft).
    Private,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Unlisted => "unlisted",
            Visibility::Private => "private",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        match raw {
            "public" => Ok(Visibility::Public),
            "unlisted" => Ok(Visibility::Unlisted),
            "private" => Ok(Visibility::Private),
            _ => Err(ValidationError::new(
                Field::Visibility,
                "visibility must be public, unlisted or private",
            )),
        }
    }

    /// A stored value; anything unknown (a hand-edited row) reads as private, the
    /// side that shows nothing.
    pub fn from_stored(stored: &str) -> Self {
        Self::parse(stored).unwrap_or(Visibility::Private)
    }

    pub fn is_public(self) -> bool {
        self == Visibility::Public
    }

    /// May `viewer` (`None`: anonymous) read the project, by its id, when `owner` owns it?
    pub fn readable_by(self, owner: uuid::Uuid, viewer: Option<uuid::Uuid>) -> bool {
        self != Visibility::Private || viewer == Some(owner)
    }
}
