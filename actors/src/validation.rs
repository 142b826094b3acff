//! The one validation error every domain answers with (400 at the edge), and the text
//! rules several domains share.

use serde::{Deserialize, Serialize};

/// The request fields the domains validate. A closed set, so the edge maps each one to
/// its error code exhaustively instead of by matching names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Field {
    Username,
    Email,
    Password,
    RefreshToken,
    Title,
    Description,
    Tags,
    Link,
    ThumbnailUrl,
    Name,
    Bio,
    Contact,
    SocialLinks,
    AvatarUrl,
    Page,
    Size,
    Visibility,
    Caption,
    Alt,
    /// A gallery's order.
    Order,
    /// A file named in a request body.
    FileId,
}

impl Field {
    /// The field's name in request bodies and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Username => "username",
            Field::Email => "email",
            Field::Password => "password",
            Field::RefreshToken => "refresh_token",
            Field::Title => "title",
            Field::Description => "description",
            Field::Tags => "tags",
            Field::Link => "link",
            Field::ThumbnailUrl => "thumbnail_url",
            Field::Name => "name",
            Field::Bio => "bio",
            Field::Contact => "contact",
            Field::SocialLinks => "social_links",
            Field::AvatarUrl => "avatar_url",
            Field::Page => "page",
            Field::Size => "size",
            Field::Visibility => "visibility",
            Field::Caption => "caption",
            Field::Alt => "alt",
            Field::Order => "order",
            Field::FileId => "file_id",
        }
    }
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{message}")]
pub struct ValidationError {
    pub field: Field,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: Field, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }

    pub fn missing(field: Field) -> Self {
        Self::new(field, format!("{field} is required"))
    }
}

/// At most `max` characters (not bytes).
pub fn at_most(field: Field, value: &str, max: usize) -> Result<String, ValidationError> {
    if value.chars().count() > max {
        return Err(ValidationError::new(
            field,
            format!("{field} must be at most {max} characters"),
        ));
    }
    Ok(value.to_string())
}

/// An absolute http(s) URL with a host, or (for our own media) a path from the root.
pub fn web_url(field: Field, value: &str, allow_root_path: bool) -> Result<String, ValidationError> {
    // The limit counts what was sent, as the API documents it.
    let sent = value.len();
    let value = value.trim();
    let invalid = || {
        ValidationError::new(
            field,
            if allow_root_path {
                format!("{field} must be an http(s) URL or a path starting with /")
            } else {
                format!("{field} must be an http(s) URL")
            },
        )
    };
    if sent > 2048 {
        return Err(ValidationError::new(
            field,
            format!("{field} must be at most 2048 characters"),
        ));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid());
    }
    if allow_root_path && value.starts_with('/') && !value.starts_with("//") {
        return Ok(value.to_string());
    }
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .ok_or_else(invalid)?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let (userinfo, host) = authority.rsplit_once('@').unwrap_or(("", authority));
    // Brackets only ever enclose an IPv6 address (RFC 3986); anything else in them is
    // not a URL clients can parse.
    if userinfo.contains(['[', ']']) {
        return Err(invalid());
    }
    if let Some(bracketed) = host.strip_prefix('[') {
        let (address, after) = bracketed.split_once(']').ok_or_else(invalid)?;
        if address.parse::<std::net::Ipv6Addr>().is_err() || !(after.is_empty() || after.starts_with(':')) {
            return Err(invalid());
        }
        return Ok(value.to_string());
    }
    if host.contains(['[', ']']) {
        return Err(invalid());
    }
    let hostname = host.split(':').next().unwrap_or_default();
    if hostname.is_empty() || hostname.starts_with('.') || hostname.ends_with('.') {
        return Err(invalid());
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(web_url(Field::Link, "https://example.com/x?y#z", false).is_ok());
        assert!(web_url(Field::Link, "http://localhost:8080", false).is_ok());
        assert!(web_url(Field::Link, "http://[::1]:8080/x", false).is_ok());
        for bad in [
            "ftp://x.io",
            "example.com",
            "https://",
            "javascript:alert(1)",
            "https://exa mple.com",
            "https://:80/",
            "http://[g]/",
            "http://a[b/",
            "http://u[@x.io/",
            "http://[::1/",
        ] {
            assert!(web_url(Field::Link, bad, false).is_err(), "{bad}");
        }
        assert!(web_url(Field::ThumbnailUrl, "/media/thumbnails/a.jpg", true).is_ok());
        assert!(web_url(Field::ThumbnailUrl, "//evil.example/a.jpg", true).is_err());
        assert!(web_url(Field::Link, "/relative", false).is_err());
        assert!(web_url(Field::Link, &format!("https://x.io/{}", "a".repeat(2100)), false).is_err());
    }

    #[test]
    fn lengths_count_characters() {
        assert!(at_most(Field::Name, &"é".repeat(100), 100).is_ok());
        assert!(at_most(Field::Name, &"é".repeat(101), 100).is_err());
    }
}
