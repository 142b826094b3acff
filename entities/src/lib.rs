//! sea-orm entities: one module per table, shared by every domain actor.

pub mod refresh_tokens;
pub mod users;
