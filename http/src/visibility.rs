//! Who sees what of a project (issue 20): the optional bearer of the reads everyone may
//! make, and the URLs of images whose project is not public.
//!
//! Images of a public project (and images filed under no project) keep plain URLs that
//! shared caches may keep. The owner of an unlisted or private project is handed URLs
//! signed with an expiry (`?exp=<unix seconds>&sig=<HMAC>`), under a key derived from
//! the JWT secret; the blob route checks, on every request, the visibility of the
//! project the image is filed under (see `routes::media::serve_blob`).

use folio_actors::project::{ProjectView, Visibility};
use poem_openapi::SecurityScheme;
use uuid::Uuid;

use crate::{EdgeState, auth::BearerAuth};

/// The caller of a read anyone may make: signed in (a valid bearer) or anonymous. A
/// bearer that does not verify reads as anonymous.
#[derive(SecurityScheme)]
pub enum Viewer {
    Bearer(BearerAuth),
    #[oai(fallback)]
    Anonymous,
}

impl Viewer {
    pub fn user(&self) -> Option<Uuid> {
        match self {
            Viewer::Bearer(auth) => Some(auth.0.sub),
            Viewer::Anonymous => None,
        }
    }
}

/// Signed URLs are valid until the end of the next whole window: between one and two
/// windows from when they are handed out, and the same for every read within a window
/// (so a browser's cache and an `ETag` hold across them).
pub const SIGNED_URL_WINDOW_SECS: i64 = 3600;

/// How long caches keep an image that anyone may see: a shared cache (a CDN) may go on
/// showing an image this long after its project stopped being public. Revalidating is
/// cheap (a strong `ETag`, `304`).
pub const PUBLIC_MEDIA_MAX_AGE_SECS: i64 = 3600;

/// When URLs signed at `now` expire.
pub fn signed_until(now: i64) -> i64 {
    (now.div_euclid(SIGNED_URL_WINDOW_SECS) + 2) * SIGNED_URL_WINDOW_SECS
}

/// What a signature grants: one blob key until `exp`.
pub fn grant(key: &str, exp: i64) -> String {
    format!("{key}\n{exp}")
}

/// The blob key of one of our media URLs (absolute or from the root), without a query.
pub fn blob_key_of(url: &str) -> Option<&str> {
    let path = url.split(['?', '#']).next()?;
    ["/media/uploads/", "/media/thumbnails/", "/media/renditions/"]
        .iter()
        .find_map(|prefix| path.find(prefix).map(|at| &path[at + "/media/".len()..]))
}

/// How the media URLs of one reply are written.
#[derive(Clone, Copy)]
pub struct MediaUrls<'a> {
    state: &'a EdgeState,
    /// `Some(exp)`: signed, valid until `exp`.
    signed_until: Option<i64>,
}

impl<'a> MediaUrls<'a> {
    pub fn plain(state: &'a EdgeState) -> Self {
        Self {
            state,
            signed_until: None,
        }
    }

    pub fn signed(state: &'a EdgeState) -> Self {
        Self {
            state,
            signed_until: Some(signed_until(chrono::Utc::now().timestamp())),
        }
    }

    /// Signed for the owner of a project that is not public; plain otherwise.
    pub fn for_project(state: &'a EdgeState, owner: Uuid, visibility: Visibility, viewer: Option<Uuid>) -> Self {
        if viewer == Some(owner) && !visibility.is_public() {
            Self::signed(state)
        } else {
            Self::plain(state)
        }
    }

    pub fn for_view(state: &'a EdgeState, project: &ProjectView, viewer: Option<Uuid>) -> Self {
        Self::for_project(state, project.user_id, project.visibility, viewer)
    }

    pub fn signed_until(&self) -> Option<i64> {
        self.signed_until
    }

    /// `url` as this reply hands it out: one of our media URLs gets a signature when
    /// the reply is signed; anything else (an external cover) is left as it is.
    pub fn url(&self, url: &str) -> String {
        let (Some(exp), Some(key)) = (self.signed_until, blob_key_of(url)) else {
            return url.to_string();
        };
        let base = url.split(['?', '#']).next().unwrap_or(url);
        let signature = self.state.session.media_url_signature(&grant(key, exp));
        format!("{base}?exp={exp}&sig={signature}")
    }

    pub fn opt(&self, url: Option<&str>) -> Option<String> {
        url.map(|u| self.url(u))
    }

    /// The URL of a stored key.
    pub fn key(&self, key: &str) -> String {
        self.url(&self.state.media.url_for(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_urls_hold_for_one_to_two_windows() {
        let w = SIGNED_URL_WINDOW_SECS;
        assert_eq!(signed_until(0), 2 * w);
        assert_eq!(signed_until(w - 1), 2 * w);
        assert_eq!(signed_until(w), 3 * w);
        for now in [0, 1, w / 2, w - 1, 5 * w + 7] {
            let left = signed_until(now) - now;
            assert!(left > w && left <= 2 * w, "{now}: {left}");
        }
    }

    #[test]
    fn only_our_media_urls_have_a_key() {
        assert_eq!(
            blob_key_of("http://h:8080/media/uploads/u/f.jpg?exp=1&sig=2"),
            Some("uploads/u/f.jpg")
        );
        assert_eq!(
            blob_key_of("/media/renditions/u/f_1x1.webp"),
            Some("renditions/u/f_1x1.webp")
        );
        assert_eq!(blob_key_of("https://cdn.example/t.jpg"), None);
    }
}
