//! The media domain's side of a project's gallery: the images filed under a project,
//! with what the media domain owns of them (renditions, thumbhash, size, caption, alt).
//! The project domain owns their order and reads them through [`images_of`] when it
//! builds a project's view; it never writes a media row.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use folio_entities::media_files::{self, ThumbnailStatus, UploadState};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{StoredRendition, stored_renditions};

/// One image of a project's gallery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GalleryItem {
    pub file_id: Uuid,
    pub mime_type: String,
    pub file_url: String,
    pub file_size: i64,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub thumbnail_status: ThumbnailStatus,
    pub thumbnail_url: Option<String>,
    /// Smallest first; the keys become URLs at the edge.
    pub renditions: Vec<StoredRendition>,
    pub thumbhash: Option<String>,
    pub caption: Option<String>,
    pub alt: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl GalleryItem {
    /// Bytes kept for the item in a cached project view (an estimate).
    pub fn estimated_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.mime_type.len()
            + self.file_url.len()
            + self.thumbnail_url.as_ref().map_or(0, String::len)
            + self
                .renditions
                .iter()
                .map(|r| std::mem::size_of::<StoredRendition>() + r.key.len())
                .sum::<usize>()
            + self.thumbhash.as_ref().map_or(0, String::len)
            + self.caption.as_ref().map_or(0, String::len)
            + self.alt.as_ref().map_or(0, String::len)
    }
}

fn item(row: media_files::Model) -> GalleryItem {
    GalleryItem {
        renditions: stored_renditions(&row),
        file_id: row.id,
        mime_type: row.mime_type,
        file_url: row.file_url,
        file_size: row.file_size,
        width: row.width,
        height: row.height,
        thumbnail_status: row.thumbnail_status,
        thumbnail_url: row.thumbnail_url,
        thumbhash: row.thumbhash,
        caption: row.caption,
        alt: row.alt,
        created_at: row.created_at,
    }
}

/// The stored images of each project, oldest upload first (the order of uploads; the
/// project domain arranges them). A project without images has an empty list.
pub async fn images_of<C: ConnectionTrait>(
    db: &C,
    project_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<GalleryItem>>, DbErr> {
    let mut galleries: HashMap<Uuid, Vec<GalleryItem>> = project_ids.iter().map(|id| (*id, Vec::new())).collect();
    if project_ids.is_empty() {
        return Ok(galleries);
    }
    let rows = media_files::Entity::find()
        .filter(media_files::Column::ProjectId.is_in(project_ids.iter().copied()))
        .filter(media_files::Column::UploadState.eq(UploadState::Stored))
        .order_by_asc(media_files::Column::CreatedAt)
        .order_by_asc(media_files::Column::Id)
        .all(db)
        .await?;
    for row in rows {
        if let Some(project_id) = row.project_id {
            galleries.entry(project_id).or_default().push(item(row));
        }
    }
    Ok(galleries)
}

/// The file id a stored key names (`uploads/<user>/<file>.<ext>`,
/// `thumbnails/<user>/<file>_thumb.jpg`, `renditions/<user>/<file>_<w>x<h>.<ext>`), and
/// the user segment; `None` for anything else.
pub fn key_owner_and_file(key: &str) -> Option<(Uuid, Uuid)> {
    let mut parts = key.split('/');
    let (_prefix, user, name) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let user = Uuid::try_parse(user).ok()?;
    let file = Uuid::try_parse(name.get(..36)?).ok()?;
    Some((user, file))
}

/// The file id of one of our own media URLs (or paths), from its last segment.
pub fn file_of_media_url(url: &str) -> Option<Uuid> {
    let path = url.split(['?', '#']).next()?;
    let at = ["/media/uploads/", "/media/thumbnails/", "/media/renditions/"]
        .iter()
        .find_map(|prefix| path.find(prefix).map(|at| at + "/media/".len()))?;
    key_owner_and_file(&path[at..]).map(|(_, file)| file)
}

/// Where a stored file is filed, for the blob route's visibility check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub owner: Uuid,
    pub project_id: Option<Uuid>,
}

/// The placement of the stored file `file_id`, if it exists and is `owner`'s.
pub async fn placement<C: ConnectionTrait>(db: &C, owner: Uuid, file_id: Uuid) -> Result<Option<Placement>, DbErr> {
    use sea_orm::QuerySelect as _;
    let row = media_files::Entity::find_by_id(file_id)
        .select_only()
        .column(media_files::Column::UserId)
        .column(media_files::Column::ProjectId)
        .filter(media_files::Column::UploadState.eq(UploadState::Stored))
        .into_tuple::<(Uuid, Option<Uuid>)>()
        .one(db)
        .await?;
    Ok(row
        .filter(|(row_owner, _)| *row_owner == owner)
        .map(|(owner, project_id)| Placement { owner, project_id }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_their_file() {
        let user = Uuid::now_v7();
        let file = Uuid::now_v7();
        for key in [
            format!("uploads/{user}/{file}.jpg"),
            format!("thumbnails/{user}/{file}_thumb.jpg"),
            format!("renditions/{user}/{file}_640x480.webp"),
        ] {
            assert_eq!(key_owner_and_file(&key), Some((user, file)), "{key}");
            assert_eq!(
                file_of_media_url(&format!("http://h:1/media/{key}?exp=1&sig=x")),
                Some(file)
            );
        }
        assert_eq!(key_owner_and_file("uploads/x/y.jpg"), None);
        assert_eq!(key_owner_and_file(&format!("uploads/{user}/{file}.jpg/z")), None);
        assert_eq!(file_of_media_url("https://cdn.example/t.jpg"), None);
    }
}
