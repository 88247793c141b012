//! A real headless Chromium, driven through ChromeDriver's W3C WebDriver endpoints (JSON over
//! HTTP): navigate, run a script, read what the page shows.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// ChromeDriver and Chromium, from `EXP_TEST_CHROMEDRIVER`/`EXP_TEST_CHROMIUM` or Debian's
/// packages; `Err` says why the browser tests cannot run here. `.ci/run` installs both and sets
/// the variables, and a set variable that does not work fails the test instead of skipping.
pub fn find() -> Result<(PathBuf, PathBuf), String> {
    let pick = |var: &str, default: &str| -> Result<PathBuf, String> {
        match std::env::var_os(var) {
            Some(p) => Ok(PathBuf::from(p)),
            None if Path::new(default).exists() => Ok(PathBuf::from(default)),
            None => Err(format!(
                "{default} is missing (apt-get install chromium chromium-driver) and {var} is not set"
            )),
        }
    };
    Ok((
        pick("EXP_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")?,
        pick("EXP_TEST_CHROMIUM", "/usr/bin/chromium")?,
    ))
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    agent: ureq::Agent,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub fn start(chromedriver: &Path, chromium: &Path) -> Browser {
        let port = free_port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", chromedriver.display()));
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while agent.get(format!("{base}/status")).call().is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "chromedriver did not answer on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().unwrap();
        // As the workplace's probe runs it: no sandbox (root), no GPU, and none of the
        // background connections that a closed network refuses.
        let args = json!([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            format!("--user-data-dir={}", profile.path().display()),
            "--window-size=1280,1000",
        ]);
        let mut browser = Browser {
            driver,
            base,
            session: String::new(),
            agent,
            _profile: profile,
        };
        let created = browser.post(
            "/session",
            json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": chromium, "args": args}
            }}}),
        );
        browser.session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_string();
        browser
    }

    /// A WebDriver command (all of them are POSTs here): its `value`.
    fn post(&self, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let mut response = self
            .agent
            .post(&url)
            .send_json(&body)
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = response.status().as_u16();
        let value: Value = response.body_mut().read_json().unwrap();
        assert!(status < 300, "POST {path}: {status} {value}");
        value["value"].clone()
    }

    pub fn go(&self, url: &str) {
        self.post(
            &format!("/session/{}/url", self.session),
            json!({ "url": url }),
        );
    }

    /// Runs `script` (a function body; `return` gives the value) in the page.
    pub fn run(&self, script: &str) -> Value {
        self.post(
            &format!("/session/{}/execute/sync", self.session),
            json!({ "script": script, "args": [] }),
        )
    }

    /// Runs `script` until `done` accepts its value, or panics after `limit` with the last one.
    pub fn wait_for(&self, script: &str, limit: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let v = self.run(script);
            if done(&v) {
                return v;
            }
            assert!(
                started.elapsed() < limit,
                "waited {limit:?} for {script}: last {v}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let url = format!("{}/session/{}", self.base, self.session);
            let _ = self.agent.delete(&url).call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
