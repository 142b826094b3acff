//! Current project views, kept in memory so that `GET /projects/{id}` needs no database
//! round trip while the project is unchanged.
//!
//! Where a view comes from, and why it stays true:
//! - **Writes on this node** put the committed view in place (the project domain makes
//!   every change, so it knows each one the moment it commits).
//! - **Writes on other nodes** arrive as a [`ViewNotice`] over the cluster
//!   (`folio.project-views` group), sent right after the commit. A notice drops every
//!   cached view older than the version it names and sets a floor: a read that raced
//!   the change and returns the older row is not admitted.
//! - **Anything missed** (a node that was unreachable when the notice went out, a
//!   keeper restart) is bounded by the time to live: a view is served for at most
//!   `ttl` after the database read (or commit) it came from. That is the staleness
//!   bound across nodes; on the writing node a change is visible at once.
//!
//! Memory is bounded by an estimate of each view's size, evicting the least recently
//! used views first.

use std::{
    hash::BuildHasher,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use lru::LruCache;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ProjectView;

/// Shards, so concurrent reads of different projects rarely wait on one lock.
const SHARDS: usize = 16;

/// What another node tells this one after it commits a change to a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewNotice {
    pub project_id: Uuid,
    /// The version the change produced (for a delete: one past the last version).
    pub version: i64,
    pub deleted: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct ViewLimits {
    /// Estimated bytes of views kept; 0 turns the cache off.
    pub max_bytes: usize,
    pub ttl: Duration,
}

struct Slot {
    view: Option<Arc<ProjectView>>,
    /// No view older than this may be admitted (raised by changes and deletes).
    floor: i64,
    /// When the view stops being served.
    expires: Instant,
    bytes: usize,
}

struct Shard {
    slots: LruCache<Uuid, Slot>,
    bytes: usize,
}

/// Counters for `/metrics` and `folio bench`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ViewStats {
    pub hits: u64,
    pub misses: u64,
    pub views: usize,
    pub bytes: usize,
    pub max_bytes: usize,
}

pub struct ProjectViews {
    shards: Box<[Mutex<Shard>]>,
    limits: ViewLimits,
    hasher: std::collections::hash_map::RandomState,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// A floor-only slot is small, but it still counts against the budget.
const SLOT_OVERHEAD: usize = 96;

fn estimated_bytes(view: &ProjectView) -> usize {
    SLOT_OVERHEAD
        + std::mem::size_of::<ProjectView>()
        + view.username.len()
        + view.title.len()
        + view.description.len()
        + view.link.as_ref().map_or(0, String::len)
        + view.thumbnail_url.as_ref().map_or(0, String::len)
        + view
            .tags
            .iter()
            .map(|t| t.len() + std::mem::size_of::<String>())
            .sum::<usize>()
        + view.media.iter().map(|m| m.estimated_bytes()).sum::<usize>()
}

/// A panic while holding the lock cannot leave a slot half-written (each update is a
/// single insert or field store), so a poisoned shard is still sound.
fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl ProjectViews {
    pub fn new(limits: ViewLimits) -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        slots: LruCache::unbounded(),
                        bytes: 0,
                    })
                })
                .collect(),
            limits,
            hasher: std::collections::hash_map::RandomState::new(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    pub fn enabled(&self) -> bool {
        self.limits.max_bytes > 0
    }

    fn shard(&self, id: &Uuid) -> MutexGuard<'_, Shard> {
        lock(&self.shards[(self.hasher.hash_one(id) as usize) % SHARDS])
    }

    fn shard_budget(&self) -> usize {
        self.limits.max_bytes / SHARDS
    }

    /// The cached view, if one is fresh.
    pub fn get(&self, id: &Uuid) -> Option<ProjectView> {
        if !self.enabled() {
            return None;
        }
        let found = {
            let mut shard = self.shard(id);
            shard
                .slots
                .get(id)
                .filter(|slot| slot.expires > Instant::now())
                .and_then(|slot| slot.view.clone())
        };
        match found {
            Some(view) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some((*view).clone())
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// A view read from the database by a read that started at `read_started`. It is
    /// kept unless a newer version is already known (the read raced a change).
    pub fn admit(&self, view: &ProjectView, read_started: Instant) {
        self.put(view, read_started, false);
    }

    /// A view this node just committed: it replaces whatever is cached.
    pub fn committed(&self, view: &ProjectView) {
        self.put(view, Instant::now(), true);
    }

    fn put(&self, view: &ProjectView, fresh_from: Instant, committed: bool) {
        if !self.enabled() {
            return;
        }
        let bytes = estimated_bytes(view);
        let budget = self.shard_budget();
        if bytes > budget {
            // Too large to keep: still record what is known so older reads stay out.
            self.notice(ViewNotice {
                project_id: view.id,
                version: view.version,
                deleted: false,
            });
            return;
        }
        let mut shard = self.shard(&view.id);
        let shard = &mut *shard;
        let slots = &mut shard.slots;
        if let Some(slot) = slots.get_mut(&view.id) {
            let cached = slot.view.as_ref().map(|v| v.version);
            if view.version < slot.floor || cached.is_some_and(|cached| view.version < cached) {
                return;
            }
            if !committed && cached == Some(view.version) {
                // The same version read again: fresh from this read.
                slot.expires = slot.expires.max(fresh_from + self.limits.ttl);
                return;
            }
        }
        let slot = Slot {
            view: Some(Arc::new(view.clone())),
            floor: view.version,
            expires: fresh_from + self.limits.ttl,
            bytes,
        };
        if let Some(old) = slots.put(view.id, slot) {
            shard.bytes -= old.bytes;
        }
        shard.bytes += bytes;
        Self::evict(shard, budget);
    }

    /// A change made elsewhere: views older than it are dropped, and reads that return
    /// an older version are not admitted.
    pub fn notice(&self, notice: ViewNotice) {
        if !self.enabled() {
            return;
        }
        let budget = self.shard_budget();
        let mut shard = self.shard(&notice.project_id);
        let shard = &mut *shard;
        let slots = &mut shard.slots;
        if let Some(slot) = slots.get_mut(&notice.project_id) {
            if slot.view.as_ref().is_some_and(|v| v.version < notice.version) || notice.deleted {
                slot.view = None;
                shard.bytes -= slot.bytes;
                slot.bytes = SLOT_OVERHEAD;
                shard.bytes += slot.bytes;
            }
            slot.floor = slot.floor.max(notice.version);
            return;
        }
        slots.put(
            notice.project_id,
            Slot {
                view: None,
                floor: notice.version,
                expires: Instant::now(),
                bytes: SLOT_OVERHEAD,
            },
        );
        shard.bytes += SLOT_OVERHEAD;
        Self::evict(shard, budget);
    }

    fn evict(shard: &mut Shard, budget: usize) {
        while shard.bytes > budget {
            match shard.slots.pop_lru() {
                Some((_, slot)) => shard.bytes -= slot.bytes,
                None => break,
            }
        }
    }

    /// Forgets everything: notices may have been missed (the keeper restarted).
    pub fn clear(&self) {
        for shard in self.shards.iter() {
            let mut shard = lock(shard);
            shard.slots.clear();
            shard.bytes = 0;
        }
    }

    pub fn stats(&self) -> ViewStats {
        let mut stats = ViewStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            max_bytes: self.limits.max_bytes,
            ..ViewStats::default()
        };
        for shard in self.shards.iter() {
            let shard = lock(shard);
            stats.bytes += shard.bytes;
            stats.views += shard.slots.iter().filter(|(_, slot)| slot.view.is_some()).count();
        }
        stats
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn view(id: Uuid, version: i64, title: &str) -> ProjectView {
        ProjectView {
            id,
            user_id: Uuid::nil(),
            username: "alice".into(),
            slug: None,
            title: title.into(),
            description: String::new(),
            tags: vec!["rust".into()],
            link: None,
            thumbnail_url: None,
            version,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            visibility: crate::project::Visibility::Public,
            published_at: None,
            media: Vec::new(),
        }
    }

    fn views(ttl: Duration) -> ProjectViews {
        ProjectViews::new(ViewLimits {
            max_bytes: 1024 * 1024,
            ttl,
        })
    }

    #[test]
    fn a_read_is_served_until_its_time_to_live_ends() {
        let views = views(Duration::from_millis(50));
        let id = Uuid::now_v7();
        assert_eq!(views.get(&id), None);
        views.admit(&view(id, 1, "one"), Instant::now());
        assert_eq!(views.get(&id).map(|v| v.title), Some("one".into()));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(views.get(&id), None, "served past its time to live");
        let stats = views.stats();
        assert_eq!((stats.hits, stats.misses), (1, 2));
    }

    #[test]
    fn a_read_that_raced_a_change_is_not_admitted() {
        let views = views(Duration::from_secs(60));
        let id = Uuid::now_v7();
        let read_started = Instant::now();
        // Another node commits version 2 while this node's read returns version 1.
        views.notice(ViewNotice {
            project_id: id,
            version: 2,
            deleted: false,
        });
        views.admit(&view(id, 1, "old"), read_started);
        assert_eq!(views.get(&id), None);
        views.admit(&view(id, 2, "new"), Instant::now());
        assert_eq!(views.get(&id).map(|v| v.version), Some(2));
    }

    #[test]
    fn a_change_elsewhere_drops_older_views_and_keeps_newer_ones() {
        let views = views(Duration::from_secs(60));
        let id = Uuid::now_v7();
        views.committed(&view(id, 3, "three"));
        views.notice(ViewNotice {
            project_id: id,
            version: 3,
            deleted: false,
        });
        assert_eq!(views.get(&id).map(|v| v.version), Some(3), "its own notice came back");
        views.notice(ViewNotice {
            project_id: id,
            version: 4,
            deleted: false,
        });
        assert_eq!(views.get(&id), None);
    }

    #[test]
    fn a_deleted_project_is_never_served_again_from_an_older_read() {
        let views = views(Duration::from_secs(60));
        let id = Uuid::now_v7();
        views.committed(&view(id, 1, "one"));
        let read_started = Instant::now();
        views.notice(ViewNotice {
            project_id: id,
            version: 2,
            deleted: true,
        });
        assert_eq!(views.get(&id), None);
        views.admit(&view(id, 1, "one"), read_started);
        assert_eq!(views.get(&id), None);
    }

    #[test]
    fn an_older_commit_never_replaces_a_newer_view() {
        let views = views(Duration::from_secs(60));
        let id = Uuid::now_v7();
        views.admit(&view(id, 5, "five"), Instant::now());
        views.committed(&view(id, 4, "four"));
        assert_eq!(views.get(&id).map(|v| v.version), Some(5));
    }

    #[test]
    fn memory_stays_within_the_budget() {
        let budget = 256 * 1024;
        let views = ProjectViews::new(ViewLimits {
            max_bytes: budget,
            ttl: Duration::from_secs(60),
        });
        let mut one = view(Uuid::nil(), 1, "x");
        one.description = "d".repeat(1000);
        for _ in 0..5_000 {
            one.id = Uuid::now_v7();
            views.admit(&one, Instant::now());
        }
        let stats = views.stats();
        assert!(stats.bytes <= budget, "{} bytes kept, budget {budget}", stats.bytes);
        assert!(stats.views > 100, "only {} views kept", stats.views);
        // The most recently used view is still there.
        assert_eq!(views.get(&one.id).map(|v| v.id), Some(one.id));
    }

    #[test]
    fn a_cache_of_zero_bytes_keeps_nothing() {
        let views = ProjectViews::new(ViewLimits {
            max_bytes: 0,
            ttl: Duration::from_secs(60),
        });
        let id = Uuid::now_v7();
        views.committed(&view(id, 1, "one"));
        assert_eq!(views.get(&id), None);
        assert_eq!(views.stats().bytes, 0);
    }
}
