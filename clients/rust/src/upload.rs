//! `POST /media/upload` by hand: progenitor 0.14 generates no `multipart/form-data`
//! bodies. The reply still decodes into the generated models, so a contract change
//! fails here as it does in the generated methods.

use crate::{
    ClientInfo as _,
    types::{ErrorBody, MediaReply},
};

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The API refused the upload with one of its errors (413, 415, ...).
    #[error("{status}: {} ({})", .body.error, .body.code)]
    Api { status: u16, body: ErrorBody },
    #[error("the upload request failed")]
    Transport(#[source] reqwest::Error),
    /// A reply that does not fit its declared model.
    #[error("the {status} reply does not parse into its model")]
    Decode {
        status: u16,
        #[source]
        source: serde_json::Error,
    },
}

/// Uploads `bytes` as `file_name`, optionally attached to a project.
pub async fn upload_media(
    client: &crate::Client,
    bytes: Vec<u8>,
    file_name: &str,
    project_id: Option<uuid::Uuid>,
) -> Result<MediaReply, UploadError> {
    let mut form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name(file_name.to_string()),
    );
    if let Some(project_id) = project_id {
        form = form.text("project_id", project_id.to_string());
    }
    let response = client
        .client()
        .post(format!("{}/media/upload", client.baseurl()))
        .multipart(form)
        .send()
        .await
        .map_err(UploadError::Transport)?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(UploadError::Transport)?;
    if status == 201 {
        serde_json::from_slice(&body).map_err(|source| UploadError::Decode { status, source })
    } else {
        let body = serde_json::from_slice(&body).map_err(|source| UploadError::Decode { status, source })?;
        Err(UploadError::Api { status, body })
    }
}
