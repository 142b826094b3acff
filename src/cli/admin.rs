//! `folio admin grant EMAIL`.

use folio::{Settings, tools::Tools};
use folio_actors::session::Email;

pub async fn grant(settings: &Settings, email: &str) -> anyhow::Result<()> {
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("{e}"))?;
    let tools = Tools::start(settings).await?;
    let granted = tools.session.grant_admin(&email).await;
    tools.stop().await;
    let user_id = granted?;
    println!("{} ({user_id}) is now an administrator", email.as_str());
    Ok(())
}
