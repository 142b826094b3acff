//! sea-orm entities: one module per table, shared by every domain actor.

pub mod account_deletions;
pub mod account_exports;
pub mod event_tickets;
pub mod media_files;
pub mod outbox_events;
pub mod profiles;
pub mod project_slug_redirects;
pub mod projects;
pub mod refresh_tokens;
pub mod sessions;
pub mod users;
