//! What an export archive holds, as `folio import` reads it back:
//!
//! - `profile.json`: [`ProfileDoc`], the account and its profile;
//! - `projects.json`: [`ProjectsDoc`], every project with its images in the owner's order
//!   (today: upload order), and the images filed under no project;
//! - `media/<project id>/<stored name>` (`media/unfiled/…` for the others): each
//!   original as stored (already without its metadata), uncompressed.
//!
//! Fields are only ever added. A reader ignores what it does not know, and a field a
//! newer version adds is optional to an older reader: the curation fields (a project's
//! `visibility` and `published_at`, an image's `caption` and `alt`) slot into
//! [`ExportedProject`] and [`ExportedImage`] that way, and `position` already carries
//! the order.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Names the layout; a reader refuses a format it does not know.
pub const FORMAT: &str = "folio-export/1";
pub const PROFILE_JSON: &str = "profile.json";
pub const PROJECTS_JSON: &str = "projects.json";
/// The folder of images filed under no project.
pub const UNFILED: &str = "unfiled";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileDoc {
    pub format: String,
    pub exported_at: DateTime<Utc>,
    pub user_id: Uuid,
    pub username: String,
    pub email: String,
    /// When the account was made.
    pub joined_at: DateTime<Utc>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub bio: Option<String>,
    #[serde(default)]
    pub contact: Option<String>,
    /// Link names to values.
    #[serde(default)]
    pub social_links: Option<serde_json::Value>,
    #[serde(default)]
    pub avatar_url: Option<String>,
    #[serde(default)]
    pub profile_created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub profile_updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectsDoc {
    pub format: String,
    /// Oldest first.
    pub projects: Vec<ExportedProject>,
    /// Images filed under no project, in upload order.
    #[serde(default)]
    pub unfiled_media: Vec<ExportedImage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportedProject {
    pub id: Uuid,
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub link: Option<String>,
    /// The cover. When it is one of this project's images, `cover` names that image
    /// (its `file`), since the URL belongs to the node that exported it.
    #[serde(default)]
    pub thumbnail_url: Option<String>,
    #[serde(default)]
    pub cover: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The project's images in the owner's order.
    #[serde(default)]
    pub media: Vec<ExportedImage>,
    /// Who saw the project (issue 20). Archives from before have none: every project
    /// was public then.
    #[serde(default)]
    pub visibility: crate::project::Visibility,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportedImage {
    /// Where the original is in the archive, e.g. `media/<project id>/<name>.jpg`.
    pub file: String,
    /// 0-based place in its project's order (or among the unfiled images).
    pub position: u32,
    pub file_id: Uuid,
    pub original_filename: String,
    pub mime_type: String,
    pub file_size: i64,
    #[serde(default)]
    pub width: Option<i32>,
    #[serde(default)]
    pub height: Option<i32>,
    #[serde(default)]
    pub thumbhash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The original was gone from storage when the archive was written (deleted while
    /// the export ran): listed, but not in the archive.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub missing: bool,
}
