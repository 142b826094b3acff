//! Highlights: which words of a hit matched the query, as character offsets, and a
//! snippet of the description around the best match.
//!
//! Computed here, from the document and the query, with the same word rules as the
//! embedded engine's query (see the crate docs), so both engines highlight alike and
//! no engine-made HTML ever reaches a client: clients render the offsets themselves.
//! Offsets count Unicode scalar values (`char`s), end exclusive.

use serde::{Deserialize, Serialize};
use tantivy::tokenizer::TextAnalyzer;

use crate::{SearchDocument, match_cost, tantivy_engine::analyzer};

/// Length of a description snippet, in characters (about; it ends on word boundaries).
pub const SNIPPET_CHARS: usize = 160;
/// Query words considered (as the engines do).
const MAX_WORDS: usize = 10;

/// One highlighted range of a text: characters `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

/// A highlighted range of one of the document's tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagSpan {
    /// Position of the tag in the document's `tags`.
    pub tag: usize,
    pub start: usize,
    pub end: usize,
}

/// What matched in one hit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Highlights {
    pub title: Vec<Span>,
    pub description: Vec<Span>,
    pub tags: Vec<TagSpan>,
    /// About [`SNIPPET_CHARS`] characters of the description around its best match (its
    /// start when nothing in it matched); `…` marks where text was cut.
    pub snippet: String,
    /// The matches within `snippet`.
    pub snippet_spans: Vec<Span>,
}

/// A query word and how it may match a document word.
struct QueryWord {
    text: Vec<char>,
    /// The last word of the query also matches as a prefix.
    prefix: bool,
}

/// The query's words, normalized like the index's (lower-cased, ASCII-folded).
pub struct HighlightQuery {
    words: Vec<QueryWord>,
    /// The index's analyzer, built once for every field of every hit of a page.
    analyzer: TextAnalyzer,
}

impl HighlightQuery {
    pub fn new(query: &str) -> Self {
        let mut analyzer = analyzer();
        let tokens = tokens(&mut analyzer, query);
        let n = tokens.len().min(MAX_WORDS);
        let last_is_prefix = crate::last_word_is_prefix(query);
        let words = tokens
            .into_iter()
            .take(n)
            .enumerate()
            .map(|(i, (word, _, _))| QueryWord {
                prefix: i + 1 == n && last_is_prefix,
                text: word.chars().collect(),
            })
            .collect();
        HighlightQuery { words, analyzer }
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The highlights of `doc` for this query.
    pub fn highlight(&mut self, doc: &SearchDocument) -> Highlights {
        let title = self.spans(&doc.title, true);
        let description = self.spans(&doc.description, true);
        let mut tags = Vec::new();
        for (tag, text) in doc.tags.iter().enumerate() {
            // No typo tolerance on tags (the written rule).
            tags.extend(self.spans(text, false).into_iter().map(|s| TagSpan {
                tag,
                start: s.start,
                end: s.end,
            }));
        }
        let (snippet, snippet_spans) = snippet(&doc.description, &description);
        Highlights {
            title,
            description,
            tags,
            snippet,
            snippet_spans,
        }
    }

    /// The matched words of `text`, in order.
    fn spans(&mut self, text: &str, typos_allowed: bool) -> Vec<Span> {
        if self.words.is_empty() {
            return Vec::new();
        }
        let starts = char_starts(text);
        let mut out = Vec::new();
        for (token, from, to) in tokens(&mut self.analyzer, text) {
            let token: Vec<char> = token.chars().collect();
            let Some(matched) = self
                .words
                .iter()
                .filter_map(|w| matched_chars(w, &token, typos_allowed))
                .max()
            else {
                continue;
            };
            let start = char_index(&starts, from);
            let end = char_index(&starts, to);
            // A prefix match lights the part the query typed, not the whole word, when
            // the token maps one to one onto the text (no folding changed its length).
            let end = if end - start == token.len() {
                start + matched.min(token.len())
            } else {
                end
            };
            out.push(Span { start, end });
        }
        out
    }
}

/// How many leading characters of `token` the word matches (`None`: it does not).
fn matched_chars(word: &QueryWord, token: &[char], typos_allowed: bool) -> Option<usize> {
    match_cost(&word.text, token, word.prefix, typos_allowed)?;
    // An exact prefix lights the part typed; any other match lights the whole word.
    if word.prefix && token.len() > word.text.len() && token.starts_with(&word.text) {
        Some(word.text.len())
    } else {
        Some(token.len())
    }
}

/// The index's tokens of `text`: (normalized word, byte start, byte end).
fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<(String, usize, usize)> {
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        let t = stream.token();
        out.push((t.text.clone(), t.offset_from, t.offset_to));
    }
    out
}

/// Byte offset of every character, and the text's length at the end.
fn char_starts(text: &str) -> Vec<usize> {
    text.char_indices().map(|(i, _)| i).chain([text.len()]).collect()
}

fn char_index(starts: &[usize], byte: usize) -> usize {
    starts.partition_point(|&b| b < byte)
}

/// About [`SNIPPET_CHARS`] characters of `text` around the window holding the most
/// matches, cut at word boundaries, with the matches re-based onto it.
fn snippet(text: &str, spans: &[Span]) -> (String, Vec<Span>) {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= SNIPPET_CHARS {
        return (text.to_string(), spans.to_vec());
    }
    // The first span of the densest window of SNIPPET_CHARS characters.
    let mut best = (0usize, 0usize);
    for (i, first) in spans.iter().enumerate() {
        let inside = spans[i..]
            .iter()
            .take_while(|s| s.end <= first.start + SNIPPET_CHARS)
            .count();
        if inside > best.1 {
            best = (first.start, inside);
        }
    }
    // Some context before the match, then back to a word boundary.
    let mut start = best.0.saturating_sub(if spans.is_empty() { 0 } else { 20 });
    while start > 0 && chars[start - 1].is_alphanumeric() {
        start -= 1;
    }
    let mut end = (start + SNIPPET_CHARS).min(chars.len());
    while end < chars.len() && end > start && chars[end - 1].is_alphanumeric() && chars[end].is_alphanumeric() {
        end -= 1;
    }
    if end <= start {
        end = (start + SNIPPET_CHARS).min(chars.len());
    }
    let lead = usize::from(start > 0);
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    out.extend(
        chars[start..end]
            .iter()
            .map(|c| if c.is_whitespace() { ' ' } else { *c }),
    );
    if end < chars.len() {
        out.push('…');
    }
    let shifted = spans
        .iter()
        .filter(|s| s.start >= start && s.end <= end)
        .map(|s| Span {
            start: s.start - start + lead,
            end: s.end - start + lead,
        })
        .collect();
    (out, shifted)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use uuid::Uuid;

    use super::*;

    fn doc(title: &str, description: &str, tags: &[&str]) -> SearchDocument {
        SearchDocument {
            project_id: Uuid::nil(),
            user_id: Uuid::nil(),
            username: "someone".into(),
            title: title.into(),
            description: description.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            image_texts: Vec::new(),
            thumbnail_url: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            version: 1,
        }
    }

    fn lit(text: &str, spans: &[Span]) -> Vec<String> {
        let chars: Vec<char> = text.chars().collect();
        spans.iter().map(|s| chars[s.start..s.end].iter().collect()).collect()
    }

    #[test]
    fn exact_prefix_and_typo_matches_are_lit_by_character() {
        let d = doc("Ünïcode Rust Compiler", "A compilr for rustaceans", &["rust", "tools"]);
        let h = HighlightQuery::new("compiler rus").highlight(&d);
        assert_eq!(lit(&d.title, &h.title), ["Rust"[..3].to_string(), "Compiler".into()]);
        // "compilr" is one typo from "compiler" (8 letters: one allowed); "rustaceans"
        // starts with the last word "rus".
        assert_eq!(lit(&d.description, &h.description), ["compilr", "rus"]);
        assert_eq!(
            h.tags,
            vec![TagSpan {
                tag: 0,
                start: 0,
                end: 3
            }]
        );
        assert_eq!(h.snippet, d.description, "a short description is its own snippet");
    }

    #[test]
    fn short_words_allow_no_typo() {
        let d = doc("A cat and a car", "", &[]);
        assert_eq!(
            lit(&d.title, &HighlightQuery::new("cat dog").highlight(&d).title),
            ["cat"]
        );
    }

    #[test]
    fn the_snippet_is_cut_around_the_densest_matches() {
        let filler = "lorem ipsum dolor sit amet ".repeat(12);
        let description = format!("{filler}the tantivy engine and the tantivy index {filler}");
        let d = doc("x", &description, &[]);
        let h = HighlightQuery::new("tantivy").highlight(&d);
        assert_eq!(h.description.len(), 2);
        assert!(h.snippet.starts_with('…') && h.snippet.ends_with('…'), "{}", h.snippet);
        assert!(h.snippet.chars().count() <= SNIPPET_CHARS + 2);
        assert_eq!(lit(&h.snippet, &h.snippet_spans), ["tantivy", "tantivy"]);
    }

    #[test]
    fn without_a_query_nothing_is_lit_and_the_snippet_is_the_start() {
        let d = doc("Title", &"word ".repeat(100), &[]);
        let h = HighlightQuery::new("").highlight(&d);
        assert!(h.title.is_empty() && h.description.is_empty());
        assert!(h.snippet.starts_with("word") && h.snippet.ends_with('…'));
    }
}
