//! Building an export's ZIP as it is written to the blob store, never whole in memory.
//!
//! The `zip` crate writes on a blocking thread (its streaming mode needs no `Seek`: each
//! entry's sizes and CRC follow it in a data descriptor). What it writes is cut into
//! chunks of [`CHUNK`] bytes and handed through a channel of [`CHANNEL_CHUNKS`] to the
//! async side, which appends them to a [`BlobWriter`]; each original is read from the
//! store as a stream too. What is held at once is therefore a few chunks, one read
//! buffer and the store's own buffer (one S3 part), whatever the account's size.

use std::{
    collections::HashSet,
    io::Write as _,
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use chrono::{DateTime, Datelike as _, Timelike as _, Utc};
use folio_entities::{
    media_files::{self, UploadState},
    profiles, projects, users,
};
use folio_media::{BlobError, BlobWriter, SharedBlobStore};
use futures::{StreamExt as _, future::BoxFuture};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::{
    ExportError,
    format::{self, ExportedImage, ExportedProject, ProfileDoc, ProjectsDoc},
    service::Written,
};
use crate::faults::{self, FaultPoint};

/// The size of the pieces the archive is handed to the store in.
pub const CHUNK: usize = 1024 * 1024;
/// Pieces waiting between the ZIP writer and the store at most.
pub const CHANNEL_CHUNKS: usize = 4;

/// One original to put in the archive.
#[derive(Debug, Clone)]
struct Original {
    /// The path in the archive.
    file: String,
    blob_key: String,
    size: i64,
    created_at: DateTime<Utc>,
}

/// Everything an archive is made of, read from the database at the start (the
/// originals' bytes are read as they are written).
pub struct Gathered {
    profile: ProfileDoc,
    projects: ProjectsDoc,
    originals: Vec<Original>,
}

impl Gathered {
    pub fn projects(&self) -> u32 {
        self.projects.projects.len() as u32
    }
}

fn image(row: &media_files::Model, folder: &str, position: u32) -> ExportedImage {
    ExportedImage {
        file: format!("media/{folder}/{}", row.filename),
        position,
        file_id: row.id,
        original_filename: row.original_filename.clone(),
        mime_type: row.mime_type.clone(),
        file_size: row.file_size,
        width: row.width,
        height: row.height,
        thumbhash: row.thumbhash.clone(),
        caption: row.caption.clone(),
        alt: row.alt.clone(),
        created_at: row.created_at,
        missing: false,
    }
}

/// Reads the account, its profile, its projects and its stored files.
pub async fn gather(db: &DatabaseConnection, user_id: Uuid) -> Result<Gathered, ExportError> {
    let user = users::Entity::find_by_id(user_id)
        .one(db)
        .await?
        .ok_or(ExportError::UserNotFound)?;
    let profile = profiles::Entity::find_by_id(user_id).one(db).await?;
    let profile = ProfileDoc {
        format: format::FORMAT.to_string(),
        exported_at: Utc::now(),
        user_id,
        username: user.username,
        email: user.email,
        joined_at: user.created_at,
        name: profile.as_ref().and_then(|p| p.name.clone()),
        bio: profile.as_ref().and_then(|p| p.bio.clone()),
        contact: profile.as_ref().and_then(|p| p.contact.clone()),
        social_links: profile.as_ref().and_then(|p| p.social_links.clone()),
        avatar_url: profile.as_ref().and_then(|p| p.avatar_url.clone()),
        profile_created_at: profile.as_ref().map(|p| p.created_at),
        profile_updated_at: profile.as_ref().map(|p| p.updated_at),
    };
    let rows = projects::Entity::find()
        .filter(projects::Column::UserId.eq(user_id))
        .order_by_asc(projects::Column::CreatedAt)
        .order_by_asc(projects::Column::Id)
        .all(db)
        .await?;
    // Upload order; each project's images are then put in the owner's order.
    let files = media_files::Entity::find()
        .filter(media_files::Column::UserId.eq(user_id))
        .filter(media_files::Column::UploadState.eq(UploadState::Stored))
        .order_by_asc(media_files::Column::CreatedAt)
        .order_by_asc(media_files::Column::Id)
        .all(db)
        .await?;
    let mut originals = Vec::with_capacity(files.len());
    let mut exported = Vec::with_capacity(rows.len());
    let known: HashSet<Uuid> = rows.iter().map(|p| p.id).collect();
    for project in rows {
        let folder = project.id.to_string();
        let mut media = Vec::new();
        let mut cover = None;
        let order: Vec<Uuid> = project
            .media_order
            .as_deref()
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_default();
        let mut in_project: Vec<&media_files::Model> =
            files.iter().filter(|f| f.project_id == Some(project.id)).collect();
        // As the gallery shows them: the owner's order, then later uploads.
        in_project.sort_by_key(|f| order.iter().position(|id| *id == f.id).unwrap_or(usize::MAX));
        for row in in_project {
            let exported_image = image(row, &folder, media.len() as u32);
            let is_cover = project.thumbnail_url.is_some()
                && (project.thumbnail_url == row.thumbnail_url
                    || project.thumbnail_url.as_deref() == Some(&row.file_url));
            if is_cover {
                cover = Some(exported_image.file.clone());
            }
            originals.push(Original {
                file: exported_image.file.clone(),
                blob_key: row.file_path.clone(),
                size: row.file_size,
                created_at: row.created_at,
            });
            media.push(exported_image);
        }
        let tags = serde_json::from_value::<Vec<String>>(project.tags.clone()).unwrap_or_default();
        exported.push(ExportedProject {
            id: project.id,
            title: project.title,
            description: project.description,
            tags,
            link: project.link,
            thumbnail_url: project.thumbnail_url,
            cover,
            version: project.version,
            created_at: project.created_at,
            updated_at: project.updated_at,
            media,
            visibility: crate::project::Visibility::from_stored(&project.visibility),
        });
    }
    let mut unfiled_media = Vec::new();
    for row in files
        .iter()
        .filter(|f| f.project_id.is_none_or(|p| !known.contains(&p)))
    {
        let exported_image = image(row, format::UNFILED, unfiled_media.len() as u32);
        originals.push(Original {
            file: exported_image.file.clone(),
            blob_key: row.file_path.clone(),
            size: row.file_size,
            created_at: row.created_at,
        });
        unfiled_media.push(exported_image);
    }
    Ok(Gathered {
        profile,
        projects: ProjectsDoc {
            format: format::FORMAT.to_string(),
            projects: exported,
            unfiled_media,
        },
        originals,
    })
}

/// The ZIP writer's output, cut into chunks and sent to the async side.
struct ChannelWriter {
    tx: mpsc::Sender<Bytes>,
    buffer: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK));
        self.tx
            .blocking_send(Bytes::from(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the archive's store stopped reading"))
    }
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let room = CHUNK - self.buffer.len();
        let n = room.min(data.len());
        self.buffer.extend_from_slice(&data[..n]);
        if self.buffer.len() >= CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn zip_time(at: DateTime<Utc>) -> zip::DateTime {
    zip::DateTime::from_date_and_time(
        u16::try_from(at.year()).unwrap_or(1980),
        at.month() as u8,
        at.day() as u8,
        at.hour() as u8,
        at.minute() as u8,
        at.second() as u8,
    )
    .unwrap_or_default()
}

fn zip_err(e: zip::result::ZipError) -> ExportError {
    ExportError::Archive(e.to_string())
}

fn io_err(e: std::io::Error) -> ExportError {
    ExportError::Archive(e.to_string())
}

/// Writes the whole ZIP on the calling (blocking) thread; returns how many originals
/// went in.
fn write_zip(
    runtime: tokio::runtime::Handle,
    blobs: SharedBlobStore,
    tx: mpsc::Sender<Bytes>,
    gathered: Gathered,
    files_done: Arc<AtomicU32>,
) -> Result<u32, ExportError> {
    use zip::{CompressionMethod, write::SimpleFileOptions};
    let Gathered {
        profile,
        mut projects,
        originals,
    } = gathered;
    let now = zip_time(Utc::now());
    let json = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(now);
    let mut zip = zip::ZipWriter::new_stream(ChannelWriter {
        tx,
        buffer: Vec::with_capacity(CHUNK),
    });
    zip.start_file(format::PROFILE_JSON, json).map_err(zip_err)?;
    serde_json::to_writer_pretty(&mut zip, &profile).map_err(|e| ExportError::Archive(e.to_string()))?;
    let mut missing = HashSet::new();
    for original in originals {
        let mut stream = match runtime.block_on(blobs.get_stream(&original.blob_key)) {
            Ok(stream) => stream,
            // Deleted while the export ran: listed as missing.
            Err(BlobError::NotFound(_)) => {
                missing.insert(original.file);
                continue;
            }
            Err(e) => return Err(ExportError::Storage(e)),
        };
        // Images are compressed already: stored as they are.
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Stored)
            .last_modified_time(zip_time(original.created_at))
            .large_file(original.size.max(stream.meta.size as i64) >= u32::MAX as i64);
        zip.start_file(original.file.as_str(), options).map_err(zip_err)?;
        while let Some(chunk) = runtime.block_on(stream.body.next()) {
            zip.write_all(&chunk.map_err(ExportError::Storage)?).map_err(io_err)?;
        }
        files_done.fetch_add(1, Ordering::Relaxed);
    }
    for image in projects
        .projects
        .iter_mut()
        .flat_map(|p| p.media.iter_mut())
        .chain(projects.unfiled_media.iter_mut())
    {
        image.missing = missing.contains(&image.file);
    }
    zip.start_file(format::PROJECTS_JSON, json).map_err(zip_err)?;
    serde_json::to_writer_pretty(&mut zip, &projects).map_err(|e| ExportError::Archive(e.to_string()))?;
    let mut out = zip.finish().map_err(zip_err)?.into_inner();
    out.send().map_err(io_err)?;
    Ok(files_done.load(Ordering::Relaxed))
}

/// Told every so often while an archive is being written; answering false stops it
/// (the run no longer holds the export).
pub type Keepalive<'a> = &'a (dyn Fn() -> BoxFuture<'a, bool> + Send + Sync);

/// Builds the archive of `gathered` under `key`, calling `keepalive` every `every`.
/// Nothing is visible under `key` unless the whole archive was written.
pub async fn build(
    blobs: SharedBlobStore,
    key: &str,
    gathered: Gathered,
    keepalive: Keepalive<'_>,
    every: Duration,
) -> Result<Written, ExportError> {
    let projects = gathered.projects();
    let mut writer: Box<dyn BlobWriter> = blobs
        .put_stream(key, "application/zip")
        .await
        .map_err(ExportError::Storage)?;
    let (tx, mut rx) = mpsc::channel::<Bytes>(CHANNEL_CHUNKS);
    let files_done = Arc::new(AtomicU32::new(0));
    let zipping = {
        let (blobs, files_done) = (blobs.clone(), files_done.clone());
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || write_zip(runtime, blobs, tx, gathered, files_done))
    };
    let mut beat = tokio::time::interval(every);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    beat.tick().await;
    let streamed: Result<(), ExportError> = loop {
        tokio::select! {
            chunk = rx.recv() => match chunk {
                Some(chunk) => {
                    if let Err(e) = writer.write(chunk).await {
                        break Err(ExportError::Storage(e));
                    }
                    if files_done.load(Ordering::Relaxed) >= 1 {
                        // Where a test stops a node halfway through an archive.
                        faults::hit(FaultPoint::Export);
                    }
                }
                None => break Ok(()),
            },
            _ = beat.tick() => {
                if !keepalive().await {
                    break Err(ExportError::Lost);
                }
            }
        }
    };
    // The writer thread stops at its next chunk when nobody reads any more.
    drop(rx);
    let zipped = zipping.await;
    let files = match (streamed, zipped) {
        (Ok(()), Ok(Ok(files))) => files,
        (Err(e), _) | (Ok(()), Ok(Err(e))) => {
            let _ = writer.abort().await;
            return Err(e);
        }
        (Ok(()), Err(join)) => {
            let _ = writer.abort().await;
            return Err(ExportError::Archive(format!("the archive writer failed: {join}")));
        }
    };
    let meta = writer.finish().await.map_err(ExportError::Storage)?;
    Ok(Written {
        size_bytes: meta.size,
        projects,
        files,
    })
}
