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

/// What matching a query word against an indexed word costs, in typos (`None`: no
/// match). The rule both engines follow (the contract, section 7; Meilisearch's
/// own derivation rule, reproduced by the embedded engine and the test stub):
///
/// * the same word costs 0; so does any longer word it starts, when `prefix` (the
///   last word of the query);
/// * otherwise, when `typos_allowed` (not on tags) and the word has a typo budget
///   ([`typo_budget`]): the Damerau distance `d` to the indexed word (to its closest
///   prefix, when `prefix`) — a match of budget 1 needs `d ≤ 1` and the same first
///   letter; a match of budget 2 needs `d ≤ 2` with the same first letter, or `d ≤ 1`
///   with another first letter, which counts as 2 typos (a typo on the first letter
///   costs two).
pub fn match_cost(word: &[char], token: &[char], prefix: bool, typos_allowed: bool) -> Option<u8> {
    if token == word || (prefix && token.starts_with(word)) {
        return Some(0);
    }
    if !typos_allowed || word.is_empty() || token.is_empty() {
        return None;
    }
    let budget = budget_of(word.len());
    if budget == 0 {
        return None;
    }
    let distance = if prefix {
        let shortest = word.len().saturating_sub(budget as usize).max(1);
        let longest = (word.len() + budget as usize).min(token.len());
        (shortest..=longest)
            .map(|len| osa(word, &token[..len]))
            .chain([osa(word, token)])
            .min()
            .unwrap_or(u32::MAX)
    } else {
        osa(word, token)
    };
    let same_first = word[0] == token[0];
    match (budget, same_first) {
        (1, true) if distance <= 1 => Some(distance as u8),
        (2, true) if distance <= 2 => Some(distance as u8),
        (2, false) if distance <= 1 => Some(2),
        _ => None,
    }
}

fn budget_of(chars: usize) -> u8 {
    if chars >= 9 {
        2
    } else if chars >= 5 {
        1
    } else {
        0
    }
}

/// Optimal string alignment distance (an adjacent transposition costs one). Answers
/// 3 for anything farther than 2 apart by length alone (no budget goes past 2).
pub(crate) fn osa(a: &[char], b: &[char]) -> u32 {
    let (n, m) = (a.len(), b.len());
    if n.abs_diff(m) > 2 {
        return 3;
    }
    let mut d = vec![vec![0u32; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i as u32;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j as u32;
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = u32::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[n][m]
}

/// True when the last query word is typed to its end (the query ends with a
/// separator): then it is not a prefix, as in Meilisearch.
pub fn last_word_is_prefix(query: &str) -> bool {
    query.chars().last().is_some_and(char::is_alphanumeric)
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

    fn cost(w: &str, t: &str, prefix: bool, typos: bool) -> Option<u8> {
        let w: Vec<char> = w.chars().collect();
        let t: Vec<char> = t.chars().collect();
        match_cost(&w, &t, prefix, typos)
    }

    #[test]
    fn match_cost_follows_the_written_rule() {
        assert_eq!(cost("python", "python", false, true), Some(0));
        assert_eq!(cost("pyt", "python", true, true), Some(0));
        assert_eq!(
            cost("pyt", "python", false, true),
            None,
            "only the last word is a prefix"
        );
        assert_eq!(
            cost("pyhton", "python", false, true),
            Some(1),
            "a transposition is one typo"
        );
        assert_eq!(
            cost("yython", "python", false, true),
            None,
            "first-letter typo costs two"
        );
        assert_eq!(cost("dahsbaord", "dashboard", false, true), Some(2));
        assert_eq!(
            cost("xashboard", "dashboard", false, true),
            Some(2),
            "first letter: two"
        );
        assert_eq!(cost("xashbaord", "dashboard", false, true), None);
        assert_eq!(cost("kote", "kite", false, true), None, "short words: no typo");
        assert_eq!(cost("pyhton", "python", false, false), None, "no typo on tags");
        assert_eq!(cost("pyhto", "pythonic", true, true), Some(1), "prefix within a typo");
        assert_eq!(cost("fetsivel", "festival", false, true), None);
    }

    #[test]
    fn a_finished_last_word_is_no_prefix() {
        assert!(last_word_is_prefix("weather da"));
        assert!(!last_word_is_prefix("weather "));
        assert!(!last_word_is_prefix(""));
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
