//! Byte ranges (RFC 9110 §14): one `Range: bytes=…` range of a stored blob, so players
//! and resumed downloads can fetch part of a file. A list of several ranges is answered
//! with the whole body (200), which the RFC allows; an unparsable header is ignored, as
//! the RFC asks.

/// What a `Range` header asks of a body of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable range: send the whole body.
    Whole,
    /// Bytes `start..=end` (inclusive, within the body).
    Part { start: u64, end: u64 },
    /// A well-formed range that starts past the end (416).
    Unsatisfiable,
}

/// Reads a `Range` header value against a body of `len` bytes.
pub fn parse(header: &str, len: u64) -> RangeRequest {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return RangeRequest::Whole;
    };
    if spec.contains(',') {
        return RangeRequest::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Whole;
    };
    let number = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let last_given = !last.trim().is_empty();
    match (first.trim().is_empty(), number(first), number(last)) {
        // `bytes=-N`: the last N bytes.
        (true, _, Some(suffix)) => {
            if suffix == 0 || len == 0 {
                RangeRequest::Unsatisfiable
            } else {
                RangeRequest::Part {
                    start: len.saturating_sub(suffix),
                    end: len - 1,
                }
            }
        }
        (false, Some(start), end) if end.is_some() || !last_given => {
            if start >= len {
                return RangeRequest::Unsatisfiable;
            }
            let end = match end {
                Some(end) if end < start => return RangeRequest::Whole,
                Some(end) => end.min(len - 1),
                None => len - 1,
            };
            RangeRequest::Part { start, end }
        }
        _ => RangeRequest::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::{RangeRequest::*, parse};

    #[test]
    fn single_ranges() {
        assert_eq!(parse("bytes=0-99", 1000), Part { start: 0, end: 99 });
        assert_eq!(parse("bytes=900-", 1000), Part { start: 900, end: 999 });
        assert_eq!(parse("bytes=-100", 1000), Part { start: 900, end: 999 });
        assert_eq!(parse("bytes=-5000", 1000), Part { start: 0, end: 999 });
        assert_eq!(parse("bytes=990-5000", 1000), Part { start: 990, end: 999 });
        assert_eq!(parse(" bytes= 5-9 ", 10), Part { start: 5, end: 9 });
    }

    #[test]
    fn unsatisfiable_and_ignored() {
        assert_eq!(parse("bytes=1000-", 1000), Unsatisfiable);
        assert_eq!(parse("bytes=-0", 1000), Unsatisfiable);
        assert_eq!(parse("bytes=0-", 0), Unsatisfiable);
        assert_eq!(parse("bytes=5-1", 1000), Whole);
        assert_eq!(parse("bytes=0-1,5-6", 1000), Whole);
        assert_eq!(parse("items=0-1", 1000), Whole);
        assert_eq!(parse("bytes=a-b", 1000), Whole);
        assert_eq!(parse("bytes=-", 1000), Whole);
        assert_eq!(parse("bytes=+1-2", 1000), Whole);
    }
}
