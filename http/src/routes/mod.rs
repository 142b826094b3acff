pub mod auth;
pub mod ops;
pub mod profile;
pub mod projects;
