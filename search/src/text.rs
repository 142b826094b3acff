//! Small text helpers shared by both engines.

use crate::{Suggestion, SuggestionKind};

/// Typos allowed for a query word (Meilisearch's default rule):
/// ≥ 5 letters → 1, ≥ 9 letters → 2, else 0.
pub fn typo_budget(word: &str) -> u8 {
    let n = word.chars().count();
    if n >= 9 {
        2
    } else if n >= 5 {
        1
    } else {
        0
    }
}

/// Tags trimmed, lower-cased, deduplicated, empty ones dropped.
pub(crate) fn normalize_doc(mut doc: crate::SearchDocument) -> crate::SearchDocument {
    let mut tags: Vec<String> = Vec::with_capacity(doc.tags.len());
    for t in doc.tags.drain(..) {
        let t = t.trim().to_lowercase();
        if !t.is_empty() && !tags.contains(&t) {
            tags.push(t);
        }
    }
    doc.tags = tags;
    doc
}

/// Lower-cased alphanumeric words of `s`.
pub(crate) fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase())
        .collect()
}

/// True when `title` completes `prefix`: every complete word of the prefix is a
/// word of the title and the last (possibly partial) word starts a title word.
/// Case-insensitive.
pub fn title_matches_prefix(title: &str, prefix: &str) -> bool {
    let p = words(prefix);
    let Some((last, complete)) = p.split_last() else {
        return false;
    };
    let t = words(title);
    complete.iter().all(|w| t.contains(w)) && t.iter().any(|w| w.starts_with(last.as_str()))
}

/// Interleaves tag and title suggestions (tag first, then alternating; when
/// one kind runs out the other fills up), keeping at most `limit`.
/// Titles are deduplicated case-insensitively.
pub fn merge_suggestions(tags: Vec<Suggestion>, titles: Vec<Suggestion>, limit: usize) -> Vec<Suggestion> {
    let mut seen_titles = std::collections::HashSet::new();
    let titles: Vec<Suggestion> = titles
        .into_iter()
        .filter(|s| seen_titles.insert(s.text.to_lowercase()))
        .collect();
    let mut out = Vec::with_capacity(limit);
    let mut tags = tags.into_iter();
    let mut titles = titles.into_iter();
    let mut next_is_tag = true;
    while out.len() < limit {
        let item = if next_is_tag {
            tags.next().or_else(|| titles.next())
        } else {
            titles.next().or_else(|| tags.next())
        };
        match item {
            Some(s) => out.push(s),
            None => break,
        }
        next_is_tag = !next_is_tag;
    }
    debug_assert!(out.iter().all(|s| match s.kind {
        SuggestionKind::Tag => s.count.is_some(),
        SuggestionKind::Title => s.project_id.is_some(),
    }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_follows_meilisearch_rule() {
        assert_eq!(typo_budget("rust"), 0);
        assert_eq!(typo_budget("flask"), 1);
        assert_eq!(typo_budget("pythonic"), 1);
        assert_eq!(typo_budget("dashboard"), 2);
        assert_eq!(typo_budget("ĉĉĉĉ"), 0);
    }

    #[test]
    fn title_prefix() {
        assert!(title_matches_prefix("Python CLI toolkit", "py"));
        assert!(title_matches_prefix("Python CLI toolkit", "PY"));
        assert!(title_matches_prefix("Python CLI toolkit", "cli too"));
        assert!(!title_matches_prefix("Python CLI toolkit", "cl py"));
        assert!(!title_matches_prefix("Weather dashboard", "py"));
        assert!(!title_matches_prefix("Weather dashboard", ""));
    }

    fn tag(t: &str, c: u64) -> Suggestion {
        Suggestion {
            text: t.into(),
            kind: SuggestionKind::Tag,
            project_id: None,
            count: Some(c),
        }
    }
    fn title(t: &str) -> Suggestion {
        Suggestion {
            text: t.into(),
            kind: SuggestionKind::Title,
            project_id: Some(uuid::Uuid::nil()),
            count: None,
        }
    }

    #[test]
    fn merge_interleaves_and_limits() {
        let m = merge_suggestions(
            vec![tag("a", 3), tag("b", 1)],
            vec![title("x"), title("X"), title("y"), title("z")],
            4,
        );
        let texts: Vec<_> = m.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(texts, vec!["a", "x", "b", "y"]);
        let m = merge_suggestions(vec![], vec![title("x"), title("y")], 5);
        assert_eq!(m.len(), 2);
        let m = merge_suggestions(vec![tag("a", 1), tag("b", 1), tag("c", 1)], vec![title("x")], 5);
        let texts: Vec<_> = m.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(texts, vec!["a", "x", "b", "c"]);
    }
}
