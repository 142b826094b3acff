//! Debian's Chromium driven through chromedriver (both installed by scripts/test.sh),
//! for the tests that check pages in a real browser.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use super::eventually;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

pub struct Browser {
    pub client: Client,
    driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Browser {
    /// Chromium must be installed: this test fails rather than skips without it.
    pub async fn start() -> Self {
        Self::start_sized(1280, 1100).await
    }

    /// A browser whose window (the viewport, headless) is `width`×`height` CSS pixels
    /// at a device pixel ratio of 1.
    pub async fn start_sized(width: u32, height: u32) -> Self {
        Self::launch(width, height, None).await
    }

    /// A phone: the viewport is `width`×`height` CSS pixels at a device pixel ratio of 1,
    /// emulated by Chromium (a window cannot be narrower than about 500 pixels, even
    /// headless), with a mobile, touch screen.
    pub async fn start_phone(width: u32, height: u32) -> Self {
        let metrics = json!({"width": width, "height": height, "pixelRatio": 1.0, "mobile": true, "touch": true});
        Self::launch(width.max(500), height, Some(json!({"deviceMetrics": metrics}))).await
    }

    async fn launch(width: u32, height: u32, mobile_emulation: Option<serde_json::Value>) -> Self {
        for binary in [CHROMEDRIVER, CHROMIUM] {
            assert!(
                Path::new(binary).exists(),
                "{binary} is missing: install chromium and chromium-driver (scripts/test.sh does)"
            );
        }
        let port = free_port();
        let driver = tokio::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().expect("profile dir");
        let mut capabilities = serde_json::Map::new();
        let mut options = json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", format!("--window-size={width},{height}"), "--force-device-scale-factor=1",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
        });
        if let Some(emulation) = mobile_emulation {
            options["mobileEmulation"] = emulation;
        }
        capabilities.insert("goog:chromeOptions".into(), options);
        let webdriver = format!("http://127.0.0.1:{port}");
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = eventually(Duration::from_secs(30), "chromedriver to accept a session", || {
            let mut builder = ClientBuilder::new(connector.clone());
            builder.capabilities(capabilities.clone());
            let webdriver = webdriver.clone();
            async move { builder.connect(&webdriver).await.ok() }
        })
        .await;
        Self {
            client,
            driver,
            _profile: profile,
        }
    }

    pub async fn text(&self, css: &str) -> String {
        match self.client.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Waits until the element's text satisfies `check` (the page refreshes every 2 s).
    pub async fn wait_text(&self, css: &str, what: &str, check: impl Fn(&str) -> bool) -> String {
        eventually(Duration::from_secs(30), what, || async {
            let text = self.text(css).await;
            check(&text).then_some(text)
        })
        .await
    }

    pub async fn sign_in(&self, base: &str, email: &str) {
        self.client.goto(&format!("{base}/admin")).await.unwrap();
        let field = self
            .client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Id("email"))
            .await
            .unwrap();
        field.send_keys(email).await.unwrap();
        let password = self.client.find(Locator::Id("password")).await.unwrap();
        password.send_keys("password-123").await.unwrap();
        // Enter submits, as it would for a keyboard user.
        password.send_keys("\u{E007}").await.unwrap();
    }

    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/artifacts");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, self.client.screenshot().await.unwrap()).unwrap();
        path
    }

    pub async fn close(mut self) {
        let _ = self.client.close().await;
        let _ = self.driver.kill().await;
    }
}
