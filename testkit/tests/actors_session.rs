//! The session domain driven directly: token rotation and reuse, logouts and the live
//! streams they end, the failed-login throttle, password changes. The HTTP twins
//! (`tests/auth.rs`, `tests/account.rs`) keep the contract: status codes and payloads.

use std::time::Duration;

use folio_actors::{
    cluster::{EdgeHubMsg, EndedSessions, StreamEndReason},
    session::{
        ChangePasswordCmd, LogoutCmd, LogoutScope, RefreshCmd, RegisterCmd, SessionClient, SessionError, Username,
    },
};
use folio_testkit::actors::{
    GroupProbe, Kit, KitConfig,
    fixtures::{self, PASSWORD, login, login_cmd, register},
};

const WAIT: Duration = Duration::from_secs(5);

async fn refresh(session: &SessionClient, token: &str) -> Result<Option<String>, SessionError> {
    session
        .refresh(RefreshCmd {
            refresh_token: token.to_string(),
        })
        .await
        .map(|grant| grant.refresh_token)
}

fn invalid_refresh<T: std::fmt::Debug>(result: Result<T, SessionError>) {
    assert!(
        matches!(result, Err(SessionError::InvalidRefreshToken)),
        "expected an invalid refresh token, got {result:?}"
    );
}

#[tokio::test]
async fn a_refresh_rotates_the_token_and_a_reused_one_revokes_its_family() {
    let kit = Kit::start().await;
    let session = kit.session().await;
    register(&session, "frank").await;
    let first = login(&session, "frank").await;
    let other = login(&session, "frank").await;

    let second = refresh(&session, &first.refresh_token)
        .await
        .expect("refresh")
        .expect("rotation hands out a new token");
    assert_ne!(second, first.refresh_token);
    // The rotated token comes back: a reuse. It fails, and so does its successor.
    invalid_refresh(refresh(&session, &first.refresh_token).await);
    invalid_refresh(refresh(&session, &second).await);
    // The user's other session is another family, untouched.
    assert!(refresh(&session, &other.refresh_token).await.is_ok());
    invalid_refresh(refresh(&session, "made-up").await);
}

#[tokio::test]
async fn two_refreshes_racing_with_one_token_are_a_reuse() {
    let kit = Kit::start().await;
    let session = kit.session().await;
    register(&session, "rita").await;
    let grant = login(&session, "rita").await;

    let (a, b) = tokio::join!(
        refresh(&session, &grant.refresh_token),
        refresh(&session, &grant.refresh_token)
    );
    let (winner, loser) = match (a, b) {
        (Ok(token), Err(e)) | (Err(e), Ok(token)) => (token.expect("rotated"), e),
        other => panic!("exactly one refresh wins: {other:?}"),
    };
    assert!(matches!(loser, SessionError::InvalidRefreshToken), "{loser:?}");
    // The loser's claim revoked the family, the winner's new token with it.
    invalid_refresh(refresh(&session, &winner).await);
}

#[tokio::test]
async fn without_rotation_one_refresh_token_serves_every_refresh() {
    let mut config = KitConfig::default();
    config.session.rotate_refresh_tokens = false;
    let kit = Kit::start_with(config).await;
    let session = kit.session().await;
    register(&session, "grace").await;
    let grant = login(&session, "grace").await;
    for _ in 0..3 {
        assert_eq!(refresh(&session, &grant.refresh_token).await.expect("refresh"), None);
    }
}

#[tokio::test]
async fn logging_out_one_session_ends_it_and_its_live_streams_only() {
    let kit = Kit::start().await;
    let session = kit.session().await;
    let user_id = register(&session, "heidi").await;
    let leaving = login(&session, "heidi").await;
    let staying = login(&session, "heidi").await;
    let leaving_session = session
        .verify(&leaving.access_token)
        .expect("verifies")
        .sid
        .expect("a session");
    let mut hubs = GroupProbe::<EdgeHubMsg>::edge_for(user_id).await;

    session
        .logout(LogoutCmd {
            user_id,
            scope: LogoutScope::Token(leaving.refresh_token.clone()),
        })
        .await
        .expect("logout");

    invalid_refresh(refresh(&session, &leaving.refresh_token).await);
    assert!(refresh(&session, &staying.refresh_token).await.is_ok());
    // Every hub hears that this one session ended, and why.
    hubs.expect(WAIT, |m| {
        matches!(m, EdgeHubMsg::EndStreams(ended)
            if ended.user_id == user_id
                && ended.sessions == (EndedSessions::One { session: leaving_session })
                && ended.reason == StreamEndReason::LoggedOut)
    })
    .await;
    hubs.expect_none(Duration::from_millis(50)).await;
}

#[tokio::test]
async fn logging_out_everywhere_ends_every_session() {
    let kit = Kit::start().await;
    let session = kit.session().await;
    let user_id = register(&session, "ivan").await;
    let grants = [login(&session, "ivan").await, login(&session, "ivan").await];
    let mut hubs = GroupProbe::<EdgeHubMsg>::edge_for(user_id).await;

    session
        .logout(LogoutCmd {
            user_id,
            scope: LogoutScope::AllSessions,
        })
        .await
        .expect("logout");

    for grant in &grants {
        invalid_refresh(refresh(&session, &grant.refresh_token).await);
    }
    assert!(session.sessions(user_id).await.expect("sessions").is_empty());
    hubs.expect(WAIT, |m| {
        matches!(m, EdgeHubMsg::EndStreams(ended) if ended.user_id == user_id && ended.sessions == EndedSessions::All)
    })
    .await;
}

#[tokio::test]
async fn repeated_failed_logins_lock_the_account_and_only_that_account() {
    let mut config = KitConfig::default();
    config.session.max_failed_logins = 3;
    let kit = Kit::start_with(config).await;
    let session = kit.session().await;
    register(&session, "dave").await;
    register(&session, "erin").await;

    for _ in 0..3 {
        let failed = session.login(login_cmd("dave", "wrong-password", "192.0.2.7")).await;
        assert!(matches!(failed, Err(SessionError::InvalidCredentials)), "{failed:?}");
    }
    // The right password no longer helps, for a while.
    match session.login(login_cmd("dave", PASSWORD, "192.0.2.7")).await {
        Err(SessionError::TooManyAttempts { retry_after_secs }) => {
            assert!(
                retry_after_secs > 0 && retry_after_secs <= 15 * 60,
                "{retry_after_secs}"
            )
        }
        other => panic!("expected a lockout, got {other:?}"),
    }
    // Another account from the same address is not affected.
    assert!(session.login(login_cmd("erin", PASSWORD, "192.0.2.7")).await.is_ok());
}

#[tokio::test]
async fn an_unknown_email_and_a_wrong_password_fail_the_same_way() {
    let kit = Kit::start().await;
    let session = kit.session().await;
    register(&session, "judy").await;
    let unknown = session.login(login_cmd("nobody", PASSWORD, "192.0.2.8")).await;
    let wrong = session.login(login_cmd("judy", "not-the-password", "192.0.2.8")).await;
    assert!(matches!(unknown, Err(SessionError::InvalidCredentials)), "{unknown:?}");
    assert!(matches!(wrong, Err(SessionError::InvalidCredentials)), "{wrong:?}");
}

#[tokio::test]
async fn usernames_and_emails_are_taken_whatever_their_case() {
    let kit = Kit::start().await;
    let session = kit.session().await;
    register(&session, "karl").await;
    let same_email = session
        .register(RegisterCmd {
            username: Username::parse("karl2").expect("username"),
            email: folio_actors::session::Email::parse("KARL@Folio.Test").expect("email"),
            password: fixtures::password(PASSWORD),
        })
        .await;
    assert!(matches!(same_email, Err(SessionError::EmailTaken)), "{same_email:?}");
    let same_name = session
        .register(RegisterCmd {
            username: Username::parse("KARL").expect("username"),
            email: fixtures::email("karl-other"),
            password: fixtures::password(PASSWORD),
        })
        .await;
    assert!(matches!(same_name, Err(SessionError::UsernameTaken)), "{same_name:?}");
}

#[tokio::test]
async fn a_password_change_ends_the_other_sessions_and_keeps_the_callers() {
    let kit = Kit::start().await;
    let session = kit.session().await;
    let user_id = register(&session, "lena").await;
    let caller = login(&session, "lena").await;
    let other = login(&session, "lena").await;
    let keep = session.verify(&caller.access_token).expect("verifies").sid;
    let mut hubs = GroupProbe::<EdgeHubMsg>::edge_for(user_id).await;

    session
        .change_password(ChangePasswordCmd {
            user_id,
            current_password: fixtures::password(PASSWORD),
            new_password: fixtures::password("a-new-password-456"),
            keep_session: keep,
            client: "192.0.2.9".to_string(),
        })
        .await
        .expect("password changed");

    assert!(refresh(&session, &caller.refresh_token).await.is_ok());
    invalid_refresh(refresh(&session, &other.refresh_token).await);
    hubs.expect(WAIT, |m| {
        matches!(m, EdgeHubMsg::EndStreams(ended)
            if ended.user_id == user_id
                && ended.reason == StreamEndReason::PasswordChanged
                && ended.sessions == (EndedSessions::AllExcept { keep: keep.expect("a session") }))
    })
    .await;
    // The new password logs in; the old one does not.
    assert!(
        session
            .login(login_cmd("lena", "a-new-password-456", "192.0.2.9"))
            .await
            .is_ok()
    );
    assert!(session.login(login_cmd("lena", PASSWORD, "192.0.2.9")).await.is_err());
}

#[tokio::test]
async fn a_wrong_current_password_changes_nothing_and_ends_no_session() {
    let kit = Kit::start().await;
    let session = kit.session().await;
    let user_id = register(&session, "mona").await;
    let grant = login(&session, "mona").await;
    let mut hubs = GroupProbe::<EdgeHubMsg>::edge_for(user_id).await;

    let refused = session
        .change_password(ChangePasswordCmd {
            user_id,
            current_password: fixtures::password("not-the-password"),
            new_password: fixtures::password("a-new-password-456"),
            keep_session: None,
            client: "192.0.2.10".to_string(),
        })
        .await;
    assert!(matches!(refused, Err(SessionError::WrongPassword)), "{refused:?}");
    hubs.expect_none(Duration::from_millis(100)).await;
    assert!(refresh(&session, &grant.refresh_token).await.is_ok());
    assert!(session.login(login_cmd("mona", PASSWORD, "192.0.2.10")).await.is_ok());
}

#[tokio::test]
async fn a_tampered_access_token_does_not_verify() {
    let kit = Kit::start().await;
    let session = kit.session().await;
    let user_id = register(&session, "nina").await;
    let grant = login(&session, "nina").await;
    assert_eq!(session.verify(&grant.access_token).expect("verifies").sub, user_id);
    let mut parts: Vec<String> = grant.access_token.split('.').map(str::to_string).collect();
    parts[2] = parts[2].chars().rev().collect();
    let tampered = parts.join(".");
    assert!(matches!(
        session.verify(&tampered),
        Err(SessionError::InvalidAccessToken)
    ));
}
