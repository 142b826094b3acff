pub mod admin;
pub mod auth;
pub mod events;
pub mod media;
pub mod ops;
pub mod profile;
pub mod projects;
pub mod search;
