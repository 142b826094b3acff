//! Bearer authentication for every protected route.

use folio_actors::session::Claims;
use poem::Request;
use poem_openapi::{SecurityScheme, auth::Bearer};

use crate::{EdgeState, error::ApiError};

/// `Authorization: Bearer <access token>`; the claims of a verified token.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "verify_bearer")]
pub struct BearerAuth(pub Claims);

async fn verify_bearer(req: &Request, bearer: Bearer) -> poem::Result<Claims> {
    let state = req.data::<EdgeState>().ok_or_else(ApiError::internal)?;
    Ok(state.session.verify(&bearer.token).map_err(ApiError::from)?)
}
