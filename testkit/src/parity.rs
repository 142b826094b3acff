//! Parity between two [`SearchEngine`]s: one generated fixture, one generated query
//! set, the same questions to both, and every difference named with its reason.
//!
//! The fixture is deterministic for a seed: titles, descriptions, tags and image
//! texts drawn from one vocabulary of words of every length (so typo budgets of 0, 1
//! and 2 all occur), dates at hour granularity (so `updated_at` ties occur and the
//! `project_id` tie-break is exercised). The queries are drawn from the fixture's
//! own words: single words, two and three words, the prefix of a word being typed,
//! typos (substitution, deletion, insertion, transposition, on any letter — the first
//! included), words finished with a space, tag filters with and without text, and
//! empty queries.

use std::collections::{BTreeSet, HashSet};
use std::fmt;

use chrono::{DateTime, TimeZone, Utc};
use uuid::Uuid;

use folio_search::{SearchDocument, SearchEngine, SearchPage, SearchQuery, bench::Rng};

/// How many hits of a query are compared as a set (paged through, 100 at a time).
pub const HIT_SET_CAP: usize = 1_000;
/// The order compared: the first page of this many hits.
pub const TOP: usize = 10;

const VOCABULARY: &[&str] = &[
    // 2-4 letters: no typo allowed.
    "ai",
    "ar",
    "vr",
    "3d",
    "app",
    "api",
    "bot",
    "cli",
    "web",
    "map",
    "sql",
    "git",
    "art",
    "dev",
    "kit",
    "lab",
    "zen",
    "ui",
    "box",
    "hub",
    "log",
    "orb",
    "sky",
    "sea",
    "sun",
    "tide",
    "kite",
    "leaf",
    "moon",
    "wave",
    "chat",
    "game",
    "code",
    "data",
    "farm",
    "film",
    "fish",
    "food",
    "home",
    "note",
    "road",
    "rust",
    "shop",
    "song",
    "star",
    "tool",
    "town",
    "wind",
    // 5-8 letters: one typo.
    "audio",
    "board",
    "cloud",
    "craft",
    "drone",
    "flask",
    "forge",
    "graph",
    "guide",
    "label",
    "lemon",
    "light",
    "maker",
    "metal",
    "money",
    "music",
    "night",
    "ocean",
    "paint",
    "photo",
    "pixel",
    "plant",
    "radio",
    "robot",
    "route",
    "scene",
    "shell",
    "smart",
    "solar",
    "space",
    "sport",
    "story",
    "study",
    "table",
    "timer",
    "track",
    "trail",
    "urban",
    "vapor",
    "video",
    "voice",
    "water",
    "world",
    "garden",
    "lantern",
    "harbour",
    "weather",
    "budget",
    "canvas",
    "studio",
    "gallery",
    "tracker",
    "planner",
    "compass",
    "festival",
    "mountain",
    "sketches",
    "pottery",
    "painter",
    "builder",
    "counter",
    "printer",
    "monitor",
    "network",
    "library",
    "kitchen",
    "recipes",
    "bicycle",
    "journal",
    "podcast",
    "reading",
    "science",
    "teacher",
    "traffic",
    "weekend",
    "harvest",
    "fitness",
    "chemist",
    "climate",
    "fiction",
    "lighting",
    "platform",
    "portfolio",
    "terminal",
    "compiler",
    "renderer",
    "scanner",
    "sequencer",
    "synthesizer",
    // 9 letters and more: two typos.
    "dashboard",
    "analytics",
    "ecommerce",
    "education",
    "messenger",
    "adventure",
    "astronomy",
    "community",
    "generator",
    "geography",
    "interface",
    "marketing",
    "navigator",
    "photograph",
    "playground",
    "prototype",
    "simulator",
    "translator",
    "visualizer",
    "watercolor",
    "microscope",
    "blueprint",
    "greenhouse",
    "lighthouse",
    "typewriter",
    "calculator",
    "automation",
    "accessibility",
    "localization",
    "observatory",
    "architecture",
    "illustration",
    "orchestra",
    "keyboard",
    "notebook",
    "sculpture",
    "woodworking",
    "embroidery",
];

const TAGS: &[&str] = &[
    "python",
    "rust",
    "javascript",
    "typescript",
    "go",
    "react",
    "vue",
    "flask",
    "django",
    "data",
    "ml",
    "ai",
    "cli",
    "web",
    "mobile",
    "ios",
    "android",
    "gamedev",
    "design",
    "art",
    "photography",
    "music",
    "audio",
    "iot",
    "robotics",
    "hardware",
    "3d",
    "vr",
    "education",
    "finance",
    "health",
    "maps",
    "open-source",
    "web-dev",
    "data-viz",
    "devops",
    "security",
    "testing",
    "writing",
    "science",
    "climate",
    "travel",
    "food",
    "sports",
    "kids",
    "tools",
    "library",
    "api",
    "database",
    "embedded",
    "graphics",
    "animation",
    "blockchain",
    "e-commerce",
    "social",
    "productivity",
    "accessibility",
    "hobby",
    "research",
    "portfolio",
];

const NAMES: &[&str] = &[
    "Ada Lovelace",
    "Grace Hopper",
    "Alan Turing",
    "Katherine Johnson",
    "Linus Builder",
    "Margaret Hamilton",
    "Dennis Ritchie",
    "Barbara Liskov",
    "Ken Thompson",
    "Frances Allen",
    "Edsger Dijkstra",
    "Radia Perlman",
    "Donald Knuth",
    "Hedy Lamarr",
    "Tim Berners",
    "Annie Easley",
    "Lantern Works",
    "Harbour Studio",
    "Pixel Forge",
    "Solar Garden",
];

fn capitalize(word: &str) -> String {
    let mut c = word.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn words(rng: &mut Rng, n: usize) -> Vec<&'static str> {
    (0..n).map(|_| VOCABULARY[rng.skewed(VOCABULARY.len())]).collect()
}

fn hour(base: DateTime<Utc>, hours: usize) -> DateTime<Utc> {
    base + chrono::Duration::hours(hours as i64)
}

/// `n` projects, deterministic for `seed`.
pub fn fixture(n: usize, seed: u64) -> Vec<SearchDocument> {
    let mut rng = Rng::new(seed);
    let base = match Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).single() {
        Some(t) => t,
        None => panic!("fixed base date"),
    };
    let users: Vec<(Uuid, &str)> = NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| (Uuid::from_u64_pair(0x5EED_0000_0000_0000 | seed, i as u64), *name))
        .collect();
    (0..n)
        .map(|i| {
            let (user_id, username) = users[rng.skewed(users.len())];
            let title_len = 1 + rng.below(4);
            let title: Vec<String> = words(&mut rng, title_len).into_iter().map(capitalize).collect();
            let description_len = 4 + rng.below(20);
            let description = words(&mut rng, description_len).join(" ");
            let mut tags: Vec<String> = Vec::new();
            for _ in 0..rng.below(5) {
                let tag = TAGS[rng.skewed(TAGS.len())].to_string();
                if !tags.contains(&tag) {
                    tags.push(tag);
                }
            }
            let image_texts: Vec<String> = (0..rng.below(3))
                .map(|_| {
                    let len = 2 + rng.below(6);
                    capitalize(&words(&mut rng, len).join(" "))
                })
                .collect();
            // Hours within ~40 days: some projects share their updated_at.
            let created = hour(base, rng.below(24 * 40));
            SearchDocument {
                project_id: Uuid::from_u64_pair(0xB3F0_0000_0000_0000 | (rng.next_u64() >> 16), i as u64),
                user_id,
                username: username.to_string(),
                title: title.join(" "),
                description,
                tags,
                image_texts,
                thumbnail_url: None,
                created_at: created,
                updated_at: hour(created, rng.below(3) * 24),
                version: 1,
            }
        })
        .collect()
}

/// What a generated query exercises (for the report).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QueryKind {
    OneWord,
    TwoWords,
    ThreeWords,
    Prefix,
    WordsThenPrefix,
    Typo,
    FirstLetterTypo,
    FinishedWord,
    TagFilter,
    TextAndTags,
    Empty,
}

/// One generated query.
#[derive(Debug, Clone)]
pub struct ParityQuery {
    pub kind: QueryKind,
    pub query: SearchQuery,
}

fn doc_words(doc: &SearchDocument) -> Vec<String> {
    let mut all = String::new();
    for text in [&doc.title, &doc.username, &doc.description] {
        all.push_str(text);
        all.push(' ');
    }
    for text in doc.tags.iter().chain(&doc.image_texts) {
        all.push_str(text);
        all.push(' ');
    }
    all.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// One typo at `at`: substitution, deletion, insertion or transposition.
fn typo_at(word: &str, at: usize, rng: &mut Rng) -> String {
    let mut chars: Vec<char> = word.chars().collect();
    let at = at.min(chars.len().saturating_sub(1));
    let letter = (b'a' + rng.below(26) as u8) as char;
    match rng.below(4) {
        0 => chars[at] = if chars[at] == letter { 'q' } else { letter },
        1 if chars.len() > 1 => {
            chars.remove(at);
        }
        2 => chars.insert(at, letter),
        _ if at + 1 < chars.len() && chars[at] != chars[at + 1] => chars.swap(at, at + 1),
        _ => chars[at] = if chars[at] == 'z' { 'y' } else { 'z' },
    }
    chars.into_iter().collect()
}

/// `n` queries drawn from the words of `docs`, deterministic for `seed`.
pub fn queries(docs: &[SearchDocument], n: usize, seed: u64) -> Vec<ParityQuery> {
    let mut rng = Rng::new(seed ^ 0x0051_7EA5);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let doc = &docs[rng.below(docs.len())];
        let own = doc_words(doc);
        let word = |rng: &mut Rng| own[rng.below(own.len())].clone();
        let long_word = |rng: &mut Rng| {
            let long: Vec<&String> = own.iter().filter(|w| w.chars().count() >= 5).collect();
            if long.is_empty() {
                VOCABULARY[VOCABULARY.len() - 1 - rng.below(20)].to_string()
            } else {
                long[rng.below(long.len())].clone()
            }
        };
        let (kind, text, tags) = match i % 11 {
            0 => (QueryKind::OneWord, word(&mut rng), vec![]),
            1 => (
                QueryKind::TwoWords,
                format!("{} {}", word(&mut rng), word(&mut rng)),
                vec![],
            ),
            2 => (
                QueryKind::ThreeWords,
                // The third word from anywhere: sometimes nothing has all three.
                format!("{} {} {}", word(&mut rng), word(&mut rng), rng.pick(VOCABULARY)),
                vec![],
            ),
            3 => {
                let w = word(&mut rng);
                let keep = 1 + rng.below(w.chars().count().max(1));
                (QueryKind::Prefix, w.chars().take(keep).collect(), vec![])
            }
            4 => {
                let w = long_word(&mut rng);
                let keep = 2 + rng.below(w.chars().count().saturating_sub(1).max(1));
                let typed: String = w.chars().take(keep).collect();
                (
                    QueryKind::WordsThenPrefix,
                    format!("{} {typed}", word(&mut rng)),
                    vec![],
                )
            }
            5 => {
                let w = long_word(&mut rng);
                let at = 1 + rng.below(w.chars().count().saturating_sub(1).max(1));
                (QueryKind::Typo, typo_at(&w, at, &mut rng), vec![])
            }
            6 => {
                let w = long_word(&mut rng);
                (QueryKind::FirstLetterTypo, typo_at(&w, 0, &mut rng), vec![])
            }
            7 => {
                let w = word(&mut rng);
                let cut: String = w.chars().take(w.chars().count().div_ceil(2).max(1)).collect();
                // Either the whole word or a cut one, finished with a space.
                let typed = if rng.below(2) == 0 { w } else { cut };
                (QueryKind::FinishedWord, format!("{typed} "), vec![])
            }
            8 => {
                let mut tags = vec![rng.pick(TAGS).to_string()];
                if rng.below(2) == 0 {
                    tags.push(rng.pick(TAGS).to_string());
                }
                (QueryKind::TagFilter, String::new(), tags)
            }
            9 => {
                let tag = doc.tags.first().cloned().unwrap_or_else(|| rng.pick(TAGS).to_string());
                (QueryKind::TextAndTags, word(&mut rng), vec![tag])
            }
            _ => (QueryKind::Empty, String::new(), vec![]),
        };
        out.push(ParityQuery {
            kind,
            query: SearchQuery {
                query: text,
                tags,
                page: 1,
                size: TOP as u32,
                facet_size: folio_search::DEFAULT_FACET_SIZE,
            },
        });
    }
    out
}

/// What one engine answered to one query.
#[derive(Debug, Clone)]
pub struct Answer {
    pub top: Vec<Uuid>,
    pub total: u64,
    pub facets: Vec<(String, u64)>,
    /// Every hit up to [`HIT_SET_CAP`].
    pub hit_set: BTreeSet<Uuid>,
}

/// Asks `engine` one query: the first page, then pages of 100 for the hit set.
pub async fn answer(engine: &dyn SearchEngine, q: &SearchQuery) -> Answer {
    let first: SearchPage = match engine.search(q).await {
        Ok(p) => p,
        Err(e) => panic!("{} failed on {q:?}: {e}", engine.name()),
    };
    let mut hit_set = BTreeSet::new();
    let limit = (first.total as usize).min(HIT_SET_CAP);
    let mut page = 1;
    while hit_set.len() < limit {
        let pq = SearchQuery {
            page,
            size: 100,
            facet_size: 0,
            ..q.clone()
        };
        let p = match engine.search(&pq).await {
            Ok(p) => p,
            Err(e) => panic!("{} failed on {pq:?}: {e}", engine.name()),
        };
        if p.hits.is_empty() {
            break;
        }
        hit_set.extend(p.hits.iter().map(|h| h.document.project_id));
        page += 1;
    }
    Answer {
        top: first.hits.iter().map(|h| h.document.project_id).collect(),
        total: first.total,
        facets: first.facets.iter().map(|f| (f.tag.clone(), f.count)).collect(),
        hit_set,
    }
}

/// One query whose answers differ, and how.
#[derive(Debug, Clone)]
pub struct Difference {
    pub kind: QueryKind,
    pub query: SearchQuery,
    pub same_top: bool,
    pub same_facets: bool,
    pub reasons: Vec<String>,
}

/// The parity figure and every difference.
#[derive(Debug, Clone)]
pub struct ParityReport {
    pub left: &'static str,
    pub right: &'static str,
    pub documents: usize,
    pub queries: usize,
    pub same_top: usize,
    pub same_facets: usize,
    pub same_hit_sets: usize,
    pub same_totals: usize,
    pub differences: Vec<Difference>,
}

impl ParityReport {
    /// Share of queries with the same first page, in percent.
    pub fn top_percent(&self) -> f64 {
        100.0 * self.same_top as f64 / self.queries.max(1) as f64
    }
}

impl fmt::Display for ParityReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "search parity {} vs {}: {} queries over {} projects",
            self.left, self.right, self.queries, self.documents
        )?;
        writeln!(
            f,
            "  same top {TOP}: {}/{} ({:.1} %, goal >= 95 %); same facets: {}/{} (goal: all); same hit sets: {}/{}; same totals: {}/{}",
            self.same_top,
            self.queries,
            self.top_percent(),
            self.same_facets,
            self.queries,
            self.same_hit_sets,
            self.queries,
            self.same_totals,
            self.queries
        )?;
        if self.differences.is_empty() {
            writeln!(f, "  no query differs")?;
        }
        for d in &self.differences {
            writeln!(f, "  differs: {:?} {:?} tags {:?}", d.kind, d.query.query, d.query.tags)?;
            for r in &d.reasons {
                writeln!(f, "    - {r}")?;
            }
        }
        Ok(())
    }
}

fn short(ids: impl IntoIterator<Item = Uuid>) -> String {
    let v: Vec<String> = ids
        .into_iter()
        .map(|id| id.simple().to_string()[24..].to_string())
        .collect();
    v.join(" ")
}

/// Compares two answers; the reasons name what differs, with the projects involved
/// (last 8 hex digits of their ids).
pub fn differences(left_name: &str, left: &Answer, right_name: &str, right: &Answer) -> Vec<String> {
    let mut reasons = Vec::new();
    if left.total != right.total {
        reasons.push(format!(
            "total: {left_name} {} vs {right_name} {}",
            left.total, right.total
        ));
    }
    if left.hit_set != right.hit_set {
        let only_left: Vec<Uuid> = left.hit_set.difference(&right.hit_set).copied().take(8).collect();
        let only_right: Vec<Uuid> = right.hit_set.difference(&left.hit_set).copied().take(8).collect();
        reasons.push(format!(
            "hit sets: only {left_name} [{}], only {right_name} [{}]",
            short(only_left),
            short(only_right)
        ));
    }
    if left.top != right.top {
        let same_members: HashSet<&Uuid> = left.top.iter().collect::<HashSet<_>>();
        let reordered = right.top.iter().all(|id| same_members.contains(id)) && left.top.len() == right.top.len();
        let at = left.top.iter().zip(&right.top).position(|(a, b)| a != b).unwrap_or(0);
        reasons.push(format!(
            "top {TOP} {} from position {}: {left_name} [{}] vs {right_name} [{}]",
            if reordered { "reordered" } else { "members differ" },
            at + 1,
            short(left.top.iter().copied()),
            short(right.top.iter().copied())
        ));
    }
    if left.facets != right.facets {
        reasons.push(format!(
            "facets: {left_name} {:?} vs {right_name} {:?}",
            left.facets, right.facets
        ));
    }
    reasons
}

/// Asks both engines every query and compares their answers.
pub async fn compare(
    left: &dyn SearchEngine,
    right: &dyn SearchEngine,
    documents: usize,
    queries: &[ParityQuery],
) -> ParityReport {
    let mut report = ParityReport {
        left: left.name(),
        right: right.name(),
        documents,
        queries: queries.len(),
        same_top: 0,
        same_facets: 0,
        same_hit_sets: 0,
        same_totals: 0,
        differences: Vec::new(),
    };
    for q in queries {
        let a = answer(left, &q.query).await;
        let b = answer(right, &q.query).await;
        let same_top = a.top == b.top;
        let same_facets = a.facets == b.facets;
        report.same_top += usize::from(same_top);
        report.same_facets += usize::from(same_facets);
        report.same_hit_sets += usize::from(a.hit_set == b.hit_set);
        report.same_totals += usize::from(a.total == b.total);
        let reasons = differences(left.name(), &a, right.name(), &b);
        if !reasons.is_empty() {
            report.differences.push(Difference {
                kind: q.kind,
                query: q.query.clone(),
                same_top,
                same_facets,
                reasons,
            });
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_and_queries_are_deterministic_and_varied() {
        let a = fixture(300, 7);
        assert_eq!(a, fixture(300, 7));
        let ids: HashSet<Uuid> = a.iter().map(|d| d.project_id).collect();
        assert_eq!(ids.len(), 300, "project ids are unique");
        let dates: HashSet<DateTime<Utc>> = a.iter().map(|d| d.updated_at).collect();
        assert!(dates.len() < 300, "some projects share updated_at (ties are exercised)");
        assert!(a.iter().any(|d| !d.image_texts.is_empty()));
        let q = queries(&a, 220, 7);
        assert_eq!(q.len(), 220);
        let kinds: HashSet<QueryKind> = q.iter().map(|q| q.kind).collect();
        assert_eq!(kinds.len(), 11, "every kind of query occurs");
        assert!(q.iter().any(|q| q.query.query.ends_with(' ')));
        assert!(q.iter().any(|q| !q.query.tags.is_empty() && !q.query.query.is_empty()));
    }

    #[test]
    fn typos_are_one_edit() {
        let mut rng = Rng::new(1);
        for at in 0..6 {
            let t = typo_at("lantern", at, &mut rng);
            assert_ne!(t, "lantern");
            assert!(t.chars().count().abs_diff(7) <= 1);
        }
    }
}
