//! `folio import ARCHIVE --user EMAIL`: loads an account export (issue 21 §3) into this
//! Folio, through the same domain code as the API, so every rule holds: the profile is
//! validated, projects get `project.created` (and become searchable), and each original
//! goes through the upload path (sniffed, stripped again, which changes nothing on an
//! already clean original, stored, and queued for its thumbnail and renditions). The
//! events wait in the outbox until a node's relay publishes them.
//!
//! Into whose account: the one with `EMAIL` when it exists (the archive's profile fields
//! overwrite those it sets, and its projects and images are added: importing the same
//! archive twice adds them twice); otherwise a new account is created with that email,
//! the archive's username (or `--username`) and a random password, printed once, which
//! its holder changes with `PUT /auth/password`.

use std::{
    fs::File,
    io::Read as _,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use folio_actors::{
    export::format::{self, ExportedImage, ProfileDoc, ProjectsDoc},
    media::UploadCmd,
    profile::ProfilePatch,
    project::{AltText, Caption, Description, Link, ProjectDraft, Tags, ThumbnailUrl, Title},
    session::{Email, Password, RegisterCmd, Username},
};
use rand::RngCore as _;
use uuid::Uuid;

use crate::{Settings, tools::Tools};

/// What to import, and into whose account.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    pub archive: PathBuf,
    pub email: String,
    /// The username of an account that has to be created (default: the archive's).
    pub username: Option<String>,
}

/// How far an import got: `done` of `total` steps (the profile, each project, each image).
#[derive(Debug, Clone, Copy)]
pub struct ImportProgress {
    pub done: u64,
    pub total: u64,
}

#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    pub user_id: Uuid,
    /// Set when the account was created: its one-time password.
    pub created_password: Option<String>,
    pub projects: u64,
    pub files: u64,
    /// Images listed in the archive whose original it does not hold.
    pub missing: u64,
}

/// Reads and checks the archive's two JSON documents.
fn read_documents(path: &Path) -> anyhow::Result<(ProfileDoc, ProjectsDoc)> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut zip = zip::ZipArchive::new(file).context("reading the archive (is it a Folio export ZIP?)")?;
    let mut json = |name: &str| -> anyhow::Result<Vec<u8>> {
        let mut entry = zip
            .by_name(name)
            .with_context(|| format!("the archive has no {name}"))?;
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes)?;
        Ok(bytes)
    };
    let profile: ProfileDoc = serde_json::from_slice(&json(format::PROFILE_JSON)?).context("reading profile.json")?;
    let projects: ProjectsDoc =
        serde_json::from_slice(&json(format::PROJECTS_JSON)?).context("reading projects.json")?;
    for doc_format in [&profile.format, &projects.format] {
        if doc_format != format::FORMAT {
            bail!(
                "the archive's format is {doc_format:?}; this folio reads {:?}",
                format::FORMAT
            );
        }
    }
    Ok((profile, projects))
}

fn read_original(zip: &mut zip::ZipArchive<File>, name: &str) -> anyhow::Result<Option<Bytes>> {
    let mut entry = match zip.by_name(name) {
        Ok(entry) => entry,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {name}")),
    };
    let limit = folio_actors::media::MAX_UPLOAD_BYTES as u64;
    if entry.size() > limit {
        bail!("{name} is larger than an upload may be ({limit} bytes)");
    }
    let mut bytes = Vec::with_capacity(entry.size() as usize);
    entry
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {name}"))?;
    Ok(Some(Bytes::from(bytes)))
}

fn random_password() -> String {
    let mut bytes = [0u8; 18];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The account to import into: found by email, or created.
async fn account(tools: &Tools, email: &Email, username: &str) -> anyhow::Result<(Uuid, Option<String>)> {
    if let Some(user_id) = tools.session.user_id_by_email(email).await? {
        return Ok((user_id, None));
    }
    let username = Username::parse(username).map_err(|e| anyhow::anyhow!("username {username:?}: {e}"))?;
    let password = random_password();
    let registered = tools
        .session
        .register(RegisterCmd {
            username,
            email: email.clone(),
            password: Password::parse(&password).map_err(|e| anyhow::anyhow!("{e}"))?,
        })
        .await
        .map_err(|e| anyhow::anyhow!("creating the account: {e} (choose another with --username)"))?;
    Ok((registered.user_id, Some(password)))
}

fn patch_of(profile: &ProfileDoc) -> anyhow::Result<ProfilePatch> {
    ProfilePatch::parse(
        profile.name.as_deref(),
        profile.bio.as_deref(),
        profile.contact.as_deref(),
        profile.social_links.as_ref(),
        profile.avatar_url.as_deref(),
    )
    .map_err(|e| anyhow::anyhow!("profile.json: {e}"))
}

fn draft_of(project: &format::ExportedProject) -> anyhow::Result<ProjectDraft> {
    let what = |e: folio_actors::validation::ValidationError| anyhow::anyhow!("project {:?}: {e}", project.title);
    Ok(ProjectDraft {
        title: Title::parse(&project.title).map_err(what)?,
        description: Description::parse(&project.description).map_err(what)?,
        tags: Tags::parse(&project.tags).map_err(what)?,
        link: project.link.as_deref().map(Link::parse).transpose().map_err(what)?,
        // A cover that is one of the project's images pointed at the exporting node; the
        // thumbnailer makes this node's cover from the images, as it does for uploads.
        thumbnail_url: match (&project.cover, &project.thumbnail_url) {
            (None, Some(url)) => ThumbnailUrl::parse(url).ok(),
            _ => None,
        },
        // A private draft stays one (an archive from before visibility has public).
        visibility: project.visibility,
    })
}

/// Imports the archive; `progress` is told after each step.
pub async fn import(
    settings: &Settings,
    request: ImportRequest,
    mut progress: impl FnMut(ImportProgress),
) -> anyhow::Result<ImportReport> {
    let archive = request.archive.clone();
    let (profile, projects) = tokio::task::spawn_blocking(move || read_documents(&archive)).await??;
    let email = Email::parse(&request.email).map_err(|e| anyhow::anyhow!("--user: {e}"))?;
    let tools = Tools::start(settings).await?;
    let imported = import_into(&tools, &request, &email, profile, projects, &mut progress).await;
    tools.stop().await;
    imported
}

async fn import_into(
    tools: &Tools,
    request: &ImportRequest,
    email: &Email,
    profile: ProfileDoc,
    projects: ProjectsDoc,
    progress: &mut impl FnMut(ImportProgress),
) -> anyhow::Result<ImportReport> {
    let (user_id, created_password) =
        account(tools, email, request.username.as_deref().unwrap_or(&profile.username)).await?;
    let images: Vec<(Option<usize>, &ExportedImage)> = projects
        .projects
        .iter()
        .enumerate()
        .flat_map(|(i, p)| p.media.iter().map(move |m| (Some(i), m)))
        .chain(projects.unfiled_media.iter().map(|m| (None, m)))
        .collect();
    let total = 1 + projects.projects.len() as u64 + images.len() as u64;
    let mut done = 0;
    let mut step = |progress: &mut dyn FnMut(ImportProgress)| {
        done += 1;
        progress(ImportProgress { done, total });
    };

    tools
        .profiles
        .update(user_id, patch_of(&profile)?)
        .await
        .map_err(|e| anyhow::anyhow!("importing the profile: {e}"))?;
    step(progress);

    let mut new_ids = Vec::with_capacity(projects.projects.len());
    for project in &projects.projects {
        let created = tools
            .projects
            .create(user_id, draft_of(project)?)
            .await
            .map_err(|e| anyhow::anyhow!("importing project {:?}: {e}", project.title))?;
        new_ids.push(created.id);
        step(progress);
    }

    let media = tools.media().await.context("starting the media domain")?;
    let mut report = ImportReport {
        user_id,
        created_password,
        projects: new_ids.len() as u64,
        ..ImportReport::default()
    };
    let file = File::open(&request.archive)?;
    let mut zip = tokio::task::block_in_place(|| zip::ZipArchive::new(file))?;
    // In the project's order: each upload goes to the end, so the order is kept.
    for (project, image) in images {
        let bytes = tokio::task::block_in_place(|| read_original(&mut zip, &image.file))?;
        let Some(bytes) = bytes else {
            report.missing += 1;
            step(progress);
            continue;
        };
        let uploaded = media
            .upload(UploadCmd {
                owner: user_id,
                bytes,
                original_filename: Some(image.original_filename.clone()),
                project_id: project.map(|i| new_ids[i]),
            })
            .await
            .map_err(|e| anyhow::anyhow!("importing {}: {e}", image.file))?;
        if image.caption.is_some() || image.alt.is_some() {
            let what = |e: folio_actors::validation::ValidationError| anyhow::anyhow!("{}: {e}", image.file);
            let patch = folio_actors::media::MediaPatch {
                caption: image.caption.as_deref().map(Caption::parse).transpose().map_err(what)?,
                alt: image.alt.as_deref().map(AltText::parse).transpose().map_err(what)?,
                project_id: None,
            };
            media
                .update(user_id, uploaded.file_id, patch)
                .await
                .map_err(|e| anyhow::anyhow!("importing the caption of {}: {e}", image.file))?;
        }
        report.files += 1;
        step(progress);
    }
    Ok(report)
}
