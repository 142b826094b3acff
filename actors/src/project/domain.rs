//! Project input, parsed once.

use serde::{Deserialize, Serialize};

use crate::validation::{Field, ValidationError, at_most, web_url};
pub use crate::{
    media::{AltText, Caption},
    paging::{MAX_PAGE, PageRequest},
    visibility::Visibility,
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Title(String);

impl Title {
    /// 1–200 characters after trimming.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        // The limit counts what was sent, as the API documents it.
        at_most(Field::Title, raw, 200)?;
        let title = raw.trim();
        if title.is_empty() {
            return Err(ValidationError::new(Field::Title, "title must not be empty"));
        }
        Ok(Self(title.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Description(String);

impl Description {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        Ok(Self(at_most(Field::Description, raw, 10_000)?))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// At most 20 tags of 1–50 characters; trimmed, lower-cased, first occurrence kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tags(Vec<String>);

impl Tags {
    pub fn parse(raw: &[String]) -> Result<Self, ValidationError> {
        // Counted as sent: what the API documents, and a bound on the work below.
        if raw.len() > 20 {
            return Err(ValidationError::new(Field::Tags, "at most 20 tags"));
        }
        let mut tags: Vec<String> = Vec::with_capacity(raw.len());
        for tag in raw {
            let sent = tag.chars().count();
            let tag = tag.trim().to_lowercase();
            if sent > 50 || tag.is_empty() {
                return Err(ValidationError::new(Field::Tags, "each tag must be 1 to 50 characters"));
            }
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        Ok(Self(tags))
    }

    pub fn empty() -> Self {
        Self(Vec::new())
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<String> {
        self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link(String);

impl Link {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        Ok(Self(web_url(Field::Link, raw, false)?))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A thumbnail address: an http(s) URL, or a path to our own media.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThumbnailUrl(String);

impl ThumbnailUrl {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        Ok(Self(web_url(Field::ThumbnailUrl, raw, true)?))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProjectDraft {
    pub title: Title,
    pub description: Description,
    pub tags: Tags,
    pub link: Option<Link>,
    pub thumbnail_url: Option<ThumbnailUrl>,
    pub visibility: Visibility,
}

/// `None` keeps the stored value.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProjectPatch {
    pub title: Option<Title>,
    pub description: Option<Description>,
    pub tags: Option<Tags>,
    pub link: Option<Link>,
    pub thumbnail_url: Option<ThumbnailUrl>,
    pub visibility: Option<Visibility>,
}

/// A gallery's order: every image of the project once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaOrder(Vec<uuid::Uuid>);

impl MediaOrder {
    /// At most [`MAX_GALLERY`] ids, none twice (whether they are exactly the project's
    /// images is checked against the gallery).
    pub fn parse(ids: Vec<uuid::Uuid>) -> Result<Self, ValidationError> {
        if ids.len() > MAX_GALLERY {
            return Err(ValidationError::new(
                Field::Order,
                format!("a gallery holds at most {MAX_GALLERY} images"),
            ));
        }
        let mut seen = std::collections::HashSet::with_capacity(ids.len());
        if let Some(twice) = ids.iter().find(|id| !seen.insert(**id)) {
            return Err(ValidationError::new(Field::Order, format!("{twice} is listed twice")));
        }
        Ok(Self(ids))
    }

    pub fn as_slice(&self) -> &[uuid::Uuid] {
        &self.0
    }
}

/// The most images an order may list (a bound on the request, far above any gallery).
pub const MAX_GALLERY: usize = 1_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_normalised() {
        let tags = Tags::parse(&[" Rust ".into(), "rust".into(), "Web".into()]).unwrap();
        assert_eq!(tags.as_slice(), ["rust", "web"]);
        assert!(Tags::parse(&["".into()]).is_err());
        assert!(Tags::parse(&["x".repeat(51)]).is_err());
        let many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
        assert!(Tags::parse(&many).is_err());
        let dupes: Vec<String> = (0..20).map(|i| format!("T{}", i % 5)).collect();
        assert_eq!(Tags::parse(&dupes).unwrap().as_slice().len(), 5);
        let too_many: Vec<String> = (0..21).map(|i| format!("t{}", i % 5)).collect();
        assert!(Tags::parse(&too_many).is_err());
    }

    #[test]
    fn visibility_reads_and_who_may_see() {
        let owner = uuid::Uuid::now_v7();
        let other = uuid::Uuid::now_v7();
        assert_eq!(Visibility::default(), Visibility::Public);
        for v in [Visibility::Public, Visibility::Unlisted, Visibility::Private] {
            assert_eq!(Visibility::parse(v.as_str()), Ok(v));
            assert!(v.readable_by(owner, Some(owner)));
        }
        assert!(Visibility::parse("Public").is_err());
        // A stored value nobody wrote shows nothing.
        assert_eq!(Visibility::from_stored("draft"), Visibility::Private);
        assert!(Visibility::Unlisted.readable_by(owner, None));
        assert!(!Visibility::Private.readable_by(owner, None));
        assert!(!Visibility::Private.readable_by(owner, Some(other)));
    }

    #[test]
    fn captions_alt_text_and_orders() {
        assert!(Caption::parse(&"c".repeat(2000)).is_ok());
        assert!(Caption::parse(&"é".repeat(2001)).is_err());
        assert!(AltText::parse(&"a".repeat(500)).is_ok());
        assert!(AltText::parse(&"a".repeat(501)).is_err());
        let a = uuid::Uuid::now_v7();
        let b = uuid::Uuid::now_v7();
        assert_eq!(MediaOrder::parse(vec![b, a]).unwrap().as_slice(), [b, a]);
        assert!(MediaOrder::parse(vec![a, b, a]).is_err());
        assert!(MediaOrder::parse(vec![a; MAX_GALLERY + 1]).is_err());
    }

    #[test]
    fn titles() {
        assert_eq!(Title::parse("  My App ").unwrap().as_str(), "My App");
        assert!(Title::parse("   ").is_err());
        assert!(Title::parse(&"t".repeat(201)).is_err());
        assert!(Title::parse(&"t".repeat(200)).is_ok());
    }

    #[test]
    fn pages() {
        assert_eq!(
            PageRequest::parse(None, None).unwrap(),
            PageRequest { page: 1, size: 20 }
        );
        assert!(PageRequest::parse(Some(0), None).is_err());
        assert!(PageRequest::parse(None, Some(0)).is_err());
        assert!(PageRequest::parse(None, Some(101)).is_err());
        assert_eq!(PageRequest::parse(Some(3), Some(10)).unwrap().offset(), 20);
        assert!(PageRequest::parse(Some(u64::MAX), Some(100)).is_err());
        assert!(PageRequest::parse(Some(MAX_PAGE + 1), Some(100)).is_err());
        assert!(PageRequest::parse(Some(MAX_PAGE), Some(100)).unwrap().offset() < i64::MAX as u64);
    }
}
