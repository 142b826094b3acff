//! The one validation error every domain answers with (400 at the edge), and the text
//! rules several domains share.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{message}")]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_string(),
            message: message.into(),
        }
    }

    pub fn missing(field: &str) -> Self {
        Self::new(field, format!("{field} is required"))
    }
}

/// At most `max` characters (not bytes).
pub fn at_most(field: &str, value: &str, max: usize) -> Result<String, ValidationError> {
    if value.chars().count() > max {
        return Err(ValidationError::new(
            field,
            format!("{field} must be at most {max} characters"),
        ));
    }
    Ok(value.to_string())
}

/// An absolute http(s) URL with a host, or (for our own media) a path from the root.
pub fn web_url(field: &str, value: &str, allow_root_path: bool) -> Result<String, ValidationError> {
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
        assert!(web_url("link", "https://example.com/x?y#z", false).is_ok());
        assert!(web_url("link", "http://localhost:8080", false).is_ok());
        assert!(web_url("link", "http://[::1]:8080/x", false).is_ok());
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
            assert!(web_url("link", bad, false).is_err(), "{bad}");
        }
        assert!(web_url("thumbnail_url", "/media/thumbnails/a.jpg", true).is_ok());
        assert!(web_url("thumbnail_url", "//evil.example/a.jpg", true).is_err());
        assert!(web_url("link", "/relative", false).is_err());
        assert!(web_url("link", &format!("https://x.io/{}", "a".repeat(2100)), false).is_err());
    }

    #[test]
    fn lengths_count_characters() {
        assert!(at_most("name", &"é".repeat(100), 100).is_ok());
        assert!(at_most("name", &"é".repeat(101), 100).is_err());
    }
}
