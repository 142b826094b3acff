//! `folio import ARCHIVE --user EMAIL`: loads an account export into an account.

use std::path::PathBuf;

use folio::Settings;

pub async fn run(settings: &Settings, archive: PathBuf, email: String, username: Option<String>) -> anyhow::Result<()> {
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} (profile, projects, images; eta {eta})")?
            .progress_chars("=> "),
    );
    bar.set_message("importing");
    let report = folio::import::import(
        settings,
        folio::import::ImportRequest {
            archive,
            email: email.clone(),
            username,
        },
        |step| {
            bar.set_length(step.total);
            bar.set_position(step.done);
        },
    )
    .await?;
    bar.finish();
    println!(
        "imported into {email} ({}): the profile, {} projects, {} images{}",
        report.user_id,
        report.projects,
        report.files,
        if report.missing > 0 {
            format!(" ({} listed images were not in the archive)", report.missing)
        } else {
            String::new()
        }
    );
    if let Some(password) = report.created_password {
        println!("the account was created; its one-time password is {password} (change it with PUT /auth/password)");
    }
    println!("thumbnails and search entries follow once a node publishes the queued events");
    Ok(())
}
