//! Folio through the Rust client that progenitor generates from `openapi.json`
//! (`clients/rust`, the `folio-client` crate): the whole flow, then one error of each
//! kind. Run it against a node (scripts/clients.sh does):
//!
//! ```sh
//! cargo run --example rust_client -- http://127.0.0.1:8080
//! ```
//!
//! The generated methods decode every reply into its declared model and refuse a status
//! the document does not declare, so a broken contract fails here.

use std::time::Duration;

use folio_client::{Error, ResponseValue, types, upload_media, with_bearer};

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// The call failed the way the API says it does: with `status` and an `ErrorBody`.
fn expect_error<T: std::fmt::Debug>(
    result: Result<ResponseValue<T>, Error<types::ErrorBody>>,
    status: u16,
) -> Result<(), Failure> {
    match result {
        Err(Error::ErrorResponse(reply)) if reply.status().as_u16() == status => {
            println!("  {status} {}: {}", reply.code, reply.error);
            Ok(())
        }
        other => Err(format!("expected {status}, got {other:?}").into()),
    }
}

/// Polls `check` until it returns something, for at most a minute.
async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> Result<T, Failure>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, Failure>>,
{
    for _ in 0..300 {
        if let Some(found) = check().await? {
            return Ok(found);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!("{what}: not within a minute").into())
}

/// A PNG large enough to get a real thumbnail.
fn png(width: u32, height: u32) -> Result<Vec<u8>, Failure> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    });
    let mut bytes = std::io::Cursor::new(Vec::new());
    image.write_to(&mut bytes, image::ImageFormat::Png)?;
    Ok(bytes.into_inner())
}

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let base = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:8080".to_string());
    let anonymous = folio_client::Client::new(&base);
    let name = format!("rs{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let email = format!("{name}@folio.test");
    let password = "rust-client-pw";

    // Register and log in: the reply carries an access and a refresh token. Strings
    // the document constrains (lengths, patterns) are newtypes checked by `parse`.
    let registration = types::RegisterBody {
        username: name.parse()?,
        email: email.parse()?,
        password: password.parse()?,
    };
    anonymous.register(&registration).await?;
    let login = types::LoginBody {
        email: email.parse()?,
        password: password.parse()?,
    };
    let tokens = anonymous.login(&login).await?.into_inner();
    let me = with_bearer(&base, &tokens.access_token)?;
    assert_eq!(me.verify().await?.username, name);

    // Refresh: with rotation a new refresh token comes back, and the old one is spent.
    let renewed = anonymous
        .refresh(&types::RefreshBody {
            refresh_token: tokens.refresh_token.parse()?,
        })
        .await?
        .into_inner();
    let me = with_bearer(&base, &renewed.access_token)?;

    // Profile: social links are a typed map of strings.
    let profile = me
        .update_my_profile(&types::ProfileBody {
            name: Some("Rust Client".parse()?),
            bio: Some("generated".parse()?),
            social_links: Some([("github".to_string(), name.parse()?)].into_iter().collect()),
            ..Default::default()
        })
        .await?;
    assert_eq!(profile.social_links.as_ref().and_then(|l| l.get("github")), Some(&name));
    me.get_my_profile().await?;
    anonymous.get_public_profile(&name).await?;

    // A project, read back and listed.
    let project = me
        .create_project(&types::NewProjectBody {
            title: format!("Lighthouse {name}").parse()?,
            description: Some("A rust-made project".parse()?),
            tags: Some(vec!["rust".parse()?, "client".parse()?]),
            link: None,
            thumbnail_url: None,
            // Absent: public, as for the seed's clients.
            visibility: None,
        })
        .await?
        .into_inner();
    anonymous.get_project(&project.id, None).await?;
    anonymous.list_user_projects(&project.user_id, None, None).await?;

    // Upload an image; its thumbnail is made in the background: poll until ready.
    let media = upload_media(&me, png(1200, 800)?, "photo.png", Some(project.id)).await?;
    let media = wait_for("thumbnail ready", || async {
        let media = me.get_media(&media.file_id).await?.into_inner();
        Ok((media.thumbnail_status == types::ThumbnailStatus::Ready).then_some(media))
    })
    .await?;
    let thumbnail_url = media.thumbnail_url.ok_or("a ready thumbnail has a URL")?;
    let thumbnail = types::ThumbnailBody {
        thumbnail_url: Some(thumbnail_url.parse()?),
        file_id: None,
    };
    me.set_project_thumbnail(&project.id, &thumbnail).await?;
    // The image in the project's gallery, with a caption.
    me.update_media(
        &media.file_id,
        &types::MediaPatchBody {
            caption: Some("The lighthouse at dusk".parse()?),
            alt: Some("A white lighthouse".parse()?),
            project_id: None,
        },
    )
    .await?;
    let read = anonymous.get_project(&project.id, None).await?.into_inner();
    assert!(read.media.iter().any(|m| m.file_id == media.file_id));

    // Search (indexed in the background) and suggestions.
    let query: types::SearchProjectsQuery = name.parse()?;
    wait_for("project searchable", || async {
        let found = anonymous.search_projects(None, None, Some(&query), None, None).await?;
        Ok(found.results.iter().any(|r| r.project_id == project.id).then_some(()))
    })
    .await?;
    anonymous.suggest(Some(&"Lighth".parse()?)).await?;

    // One error of each kind the API answers, each decoded into ErrorBody. The models
    // check what the document declares (a username with a space does not even parse),
    // so the 400 is the rule the document states in words: a logout names a refresh
    // token or says `all`.
    let neither = types::LogoutBody {
        refresh_token: None,
        all: None,
    };
    expect_error(me.logout(&neither).await, 400)?;
    expect_error(with_bearer(&base, "not-a-token")?.verify().await, 401)?;
    expect_error(me.get_jobs().await, 403)?;
    expect_error(anonymous.get_project(&uuid::Uuid::new_v4(), None).await, 404)?;
    expect_error(anonymous.register(&registration).await, 409)?;
    match upload_media(&me, vec![0; 6 * 1024 * 1024], "big.png", None).await {
        Err(folio_client::UploadError::Api { status: 413, body }) => println!("  413 {}: {}", body.code, body.error),
        other => return Err(format!("expected 413, got {other:?}").into()),
    }
    match upload_media(&me, b"plain text, not an image".to_vec(), "notes.png", None).await {
        Err(folio_client::UploadError::Api { status: 415, body }) => println!("  415 {}: {}", body.code, body.error),
        other => return Err(format!("expected 415, got {other:?}").into()),
    }
    let wrong = types::LoginBody {
        email: email.parse()?,
        password: "wrong-password".parse()?,
    };
    for _ in 0..5 {
        expect_error(anonymous.login(&wrong).await, 401)?;
    }
    expect_error(anonymous.login(&wrong).await, 429)?;

    // Log out: this session, then every session; the spent refresh token is refused.
    let refresh_token = renewed.refresh_token.ok_or("rotation gives a new refresh token")?;
    me.logout(&types::LogoutBody {
        refresh_token: Some(refresh_token.parse()?),
        all: None,
    })
    .await?;
    me.logout(&types::LogoutBody {
        refresh_token: None,
        all: Some(true),
    })
    .await?;
    let spent = types::RefreshBody {
        refresh_token: refresh_token.parse()?,
    };
    expect_error(anonymous.refresh(&spent).await, 401)?;
    println!("rust client: the whole flow passed");
    Ok(())
}
