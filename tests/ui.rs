//! `exp ui` in a real headless Chromium: the experiments page lists a trained tiny experiment,
//! an experiment page left open shows an epoch recorded after it loaded (no reload), hostile
//! sample texts and notes show as text, and paths that leave a directory are refused.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::browser::{self, Browser};
use common::tiny::{small_fpb, tiny_encoder_dir};
use common::*;

use exp::events::Event;
use exp::store::Store;

const HOSTILE: &str = "<script>window.pwned=1</script><img src=x onerror=\"window.pwned=2\">";

/// A running `exp ui`, stopped when dropped (also when an assertion fails).
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `exp ui --port 0` on `db`, and the address it printed.
fn start_ui(db: &Path) -> (Server, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_exp"))
        .args(["--db", db.to_str().unwrap(), "ui", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .trim_end_matches('/')
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    // Keep reading so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (Server(child), url)
}

/// A request sent byte for byte (an HTTP client library would resolve the `..` itself): the
/// status and the whole response.
fn raw(url: &str, method: &str, path: &str) -> (u16, String) {
    let host = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"));
    (status, text)
}

fn raw_get(url: &str, path: &str) -> (u16, String) {
    raw(url, "GET", path)
}

/// Appends one more `EpochCompleted` to `name`'s log, as a training would, and returns its seq.
fn append_epoch(db: &Path, name: &str, accuracy: f64) -> i64 {
    let mut last = payloads(db, name, "EpochCompleted").pop().unwrap();
    last["report"]["epoch"] = serde_json::json!(last["report"]["epoch"].as_u64().unwrap() + 1);
    last["report"]["validation"]["accuracy"] = serde_json::json!(accuracy);
    let event = Event::from_parts("EpochCompleted", last).unwrap();
    let mut store = Store::open(db).unwrap();
    let lock = store.lock(name, "test").unwrap();
    store.append(&lock, &[event]).unwrap()[0].seq
}

#[test]
fn the_ui_lists_updates_live_escapes_and_refuses_paths() {
    let (chromedriver, chromium) = match browser::find() {
        Ok(found) => found,
        Err(why) => {
            eprintln!("SKIPPED: the browser test needs Chromium and ChromeDriver: {why}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("exp.db");
    let model = tiny_encoder_dir(dir.path(), 3);
    // Every sentence starts with markup that would run if the UI wrote it as HTML.
    let plain = small_fpb(dir.path(), 300);
    let bytes = std::fs::read(&plain).unwrap();
    let hostile: Vec<u8> = bytes
        .split(|&b| b == b'\n')
        .map(|line| [HOSTILE.as_bytes(), b" ", line].concat())
        .collect::<Vec<_>>()
        .join(&b'\n');
    let data = write(dir.path(), "hostile.txt", &hostile);
    new_experiment(&db, "t", &model, &data);
    let ok = |args: &[&str]| {
        let out = exp(&db, args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    };
    ok(&["train", "t", "--stages", "train"]);
    ok(&["note", "t", "<script>window.pwned=3</script> a note"]);
    ok(&["report", "t", "--compare", "baseline"]);

    let (_server, url) = start_ui(&db);
    let b = Browser::start(&chromedriver, &chromium);

    // The experiments page lists it, with its status and sealed-test accuracies.
    b.go(&format!("{url}/"));
    let row = b.run("return document.querySelector('#experiments tbody tr').innerText");
    let row = row.as_str().unwrap();
    assert!(row.contains("t\tevaluated\t"), "{row}");
    let test = &payloads(&db, "t", "TestEvaluated")[0];
    let accuracy = |role: &str| exp::report::html::for_people(&test[role]["accuracy"].to_string());
    assert!(
        row.contains(&format!(
            "\t{}\t{}\t",
            accuracy("baseline"),
            accuracy("candidate")
        )),
        "{row}"
    );

    // An experiment page left open shows an epoch recorded after it loaded, without a reload.
    b.go(&format!("{url}/x/t"));
    let count = "return document.querySelectorAll('#epochs tbody tr').length";
    let before = b.run(count).as_u64().unwrap();
    assert!(before >= 1);
    b.run("window.loadedOnce = 'yes'; return null");
    let seq = append_epoch(&db, "t", 0.123456);
    b.wait_for(count, Duration::from_secs(30), |v| {
        v.as_u64() == Some(before + 1)
    });
    let last = b.run(
        "var r = document.querySelector('#epochs tbody tr:last-child').cells; \
         return [r[0].textContent, r[5].textContent, window.loadedOnce, \
                 document.querySelectorAll('#curve circle').length]",
    );
    assert_eq!(last[0], seq.to_string());
    assert_eq!(last[1], "0.123");
    assert_eq!(last[2], "yes", "the page was reloaded");
    assert_eq!(last[3], 2 * (before + 1), "two curves, one point per epoch");

    // Hostile texts from the data and a note show as text; none of them ran.
    let shown = b.run(
        "return [typeof window.pwned, document.body.innerText, \
                 document.querySelectorAll('main img, main script:not([type^=application])').length]",
    );
    assert_eq!(shown[0], "undefined");
    let text = shown[1].as_str().unwrap();
    assert!(
        text.contains(HOSTILE),
        "no augmentation example shows the text"
    );
    assert!(text.contains("<script>window.pwned=3</script> a note"));
    assert_eq!(shown[2], 0);
    b.go(&format!("{url}/x/t/events?kind=AugmentationApplied"));
    let events =
        b.run("return [typeof window.pwned, document.querySelector('#events pre').textContent]");
    assert_eq!(events[0], "undefined");
    // As JSON text: the quotes inside it escaped.
    let as_json = serde_json::to_string(HOSTILE).unwrap();
    assert!(events[1]
        .as_str()
        .unwrap()
        .contains(as_json.trim_matches('"')));

    // The report's own page is served from the files its ReportGenerated names.
    b.go(&format!("{url}/x/t/report/index.html"));
    let title = b.run("return document.querySelector('h1').textContent");
    assert_eq!(title, "exp report: t");
    drop(b);

    let (status, _) = raw_get(&url, "/x/t/report/index.html");
    assert_eq!(status, 200);
    for path in [
        "/x/t/report/../../exp.db",
        "/x/t/report/%2e%2e/%2e%2e/exp.db",
        "/x/t/report/..%2F..%2Fexp.db",
        "/x/t/report//etc/passwd",
        "/x/t/report/%2Fetc%2Fpasswd",
        "/x/t/export/..%5C..%5Cexp.db",
    ] {
        let (status, text) = raw_get(&url, path);
        assert_eq!(status, 403, "{path}: {text}");
        assert!(!text.contains("SQLite format"), "{path}");
    }
    // A file in the report's directory that no event names is not served either.
    std::fs::write(dir.path().join("reports/t/extra.txt"), "not in the log").unwrap();
    let (status, text) = raw_get(&url, "/x/t/report/extra.txt");
    assert_eq!(status, 404);
    assert!(!text.contains("not in the log"));
    let (status, _) = raw_get(&url, "/x/nobody");
    assert_eq!(status, 404);
    // Compare needs two experiments, and names the one it cannot find.
    let (status, text) = raw_get(&url, "/compare?x=t");
    assert_eq!(status, 400);
    assert!(text.contains("two or more"), "{text}");
    let (status, text) = raw_get(&url, "/compare?x=t&x=%3Cb%3Enobody");
    assert_eq!(status, 400);
    assert!(text.contains("&lt;b&gt;nobody"), "{text}");
    // Read-only: nothing but GET and HEAD.
    let (status, _) = raw(&url, "POST", "/x/t");
    assert_eq!(status, 405);
    let (status, text) = raw(&url, "HEAD", "/x/t/report/index.html");
    assert_eq!(status, 200);
    assert!(!text.contains("<h1>"), "a HEAD answer has no body: {text}");
}
