//! Small builders for the kit's tests: users, projects, images, and the typed events a
//! domain would publish for them.

use folio_actors::{
    events::{DomainEvent, MediaUploaded},
    media::{MediaClient, MediaView, UploadCmd},
    project::{Description, ProjectDraft, ProjectView, Tags, Title, Visibility},
    session::{Email, LoginCmd, LoginGrant, Password, RegisterCmd, SessionClient, Username},
};
use uuid::Uuid;

/// Every fixture user's password.
pub const PASSWORD: &str = "password-123";

/// `name@folio.test`.
pub fn email(name: &str) -> Email {
    Email::parse(&format!("{name}@folio.test")).expect("a valid email")
}

pub fn password(raw: &str) -> Password {
    Password::parse(raw).expect("a valid password")
}

/// Registers `name` (email `name@folio.test`, [`PASSWORD`]); the user's id.
pub async fn register(session: &SessionClient, name: &str) -> Uuid {
    session
        .register(RegisterCmd {
            username: Username::parse(name).expect("a valid username"),
            email: email(name),
            password: password(PASSWORD),
        })
        .await
        .expect("registration")
        .user_id
}

/// Logs `name` in with [`PASSWORD`] from the address `client`.
pub fn login_cmd(name: &str, raw_password: &str, client: &str) -> LoginCmd {
    LoginCmd {
        email: email(name),
        password: password(raw_password),
        client: client.to_string(),
        user_agent: Some("actor-kit".to_string()),
    }
}

/// Logs `name` in with [`PASSWORD`].
pub async fn login(session: &SessionClient, name: &str) -> LoginGrant {
    session
        .login(login_cmd(name, PASSWORD, "192.0.2.1"))
        .await
        .expect("login")
}

/// A public project titled `title`, described `about`, tagged `rust`.
pub fn draft(title: &str) -> ProjectDraft {
    ProjectDraft {
        title: Title::parse(title).expect("a valid title"),
        description: Description::parse("about").expect("a valid description"),
        tags: Tags::parse(&["rust".to_string()]).expect("valid tags"),
        link: None,
        thumbnail_url: None,
        visibility: Visibility::Public,
    }
}

/// A JPEG of `width` × `height`, with a gradient (something to scale).
pub fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let image = crate::images::gradient(width, height);
    let mut out = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .expect("encoding a JPEG");
    out.into_inner()
}

/// Uploads `bytes` as `owner`'s, into `project` when given.
pub async fn upload(media: &MediaClient, owner: Uuid, bytes: Vec<u8>, project: Option<Uuid>) -> MediaView {
    media
        .upload(UploadCmd {
            owner,
            bytes: bytes.into(),
            original_filename: Some("photo.jpg".to_string()),
            project_id: project,
        })
        .await
        .expect("upload")
}

/// The `media.uploaded` the media domain commits for an upload.
pub fn media_uploaded(view: &MediaView) -> DomainEvent {
    DomainEvent::MediaUploaded(MediaUploaded {
        file_id: view.file_id,
        file_url: view.file_url.clone(),
        mime_type: view.mime_type.clone(),
        owner_id: view.user_id,
        path: view.file_path.clone(),
        project_id: view.project_id,
    })
}

/// The `project.created` the project domain commits for `view`.
pub fn project_created(view: &ProjectView) -> DomainEvent {
    DomainEvent::ProjectCreated(view.event_data())
}

/// The `project.updated` the project domain commits for `view`.
pub fn project_updated(view: &ProjectView) -> DomainEvent {
    DomainEvent::ProjectUpdated(view.event_data())
}

/// Polls `check` every few milliseconds until it answers `Some`, and returns that;
/// panics naming `what` after `timeout` of wall-clock time (see [`super::probes`] on
/// time).
pub async fn eventually<T, F, Fut>(timeout: std::time::Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = std::time::Instant::now();
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(started.elapsed() < timeout, "waited {timeout:?} for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}
