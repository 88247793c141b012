//! `exp ui`: a read-only web UI over the event log. Every request opens the database read-only
//! (a WAL reader never blocks `exp train` writing beside it) and renders from the log alone;
//! files are served only where a live event names them ([`files`]). The server never prints:
//! the CLI says where it listens. Transport: [`http`].

pub mod files;
pub mod http;
pub mod live;
pub mod pages;
pub mod route;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};

use serde::Serialize;

use crate::report::compare::{self, CompareOptions};
use crate::state::Experiment;
use crate::store::Store;

use route::{FileRoot, Route};

const SCRIPT: &str = include_str!("ui.js");
const STYLE: &str = include_str!("ui.css");

/// Only the UI's own script and stylesheet run; reports' own inline styles are allowed.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The largest model card shown inline (a card is a few kB).
const CARD_LIMIT: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A bound server; [`Ui::serve`] answers requests until [`Ui::stop`] (or the process ends).
pub struct Ui {
    listener: TcpListener,
    db: PathBuf,
    addr: SocketAddr,
    stopped: AtomicBool,
}

/// What a request gets back.
struct Reply {
    status: u16,
    content_type: &'static str,
    body: Body,
}

enum Body {
    Bytes(Vec<u8>),
    File(std::fs::File),
}

impl Body {
    /// The body's length and its bytes to send.
    fn into_reader(self) -> (u64, Box<dyn std::io::Read>) {
        match self {
            Body::Bytes(bytes) => (bytes.len() as u64, Box::new(std::io::Cursor::new(bytes))),
            Body::File(file) => (
                file.metadata().map(|m| m.len()).unwrap_or(0),
                Box::new(file),
            ),
        }
    }
}

impl Reply {
    fn html(status: u16, page: String) -> Reply {
        Reply {
            status,
            content_type: "text/html; charset=utf-8",
            body: Body::Bytes(page.into_bytes()),
        }
    }

    fn error(status: u16, message: &str) -> Reply {
        Reply::html(status, pages::error(message))
    }

    fn json<T: Serialize>(value: &T) -> Reply {
        match serde_json::to_vec(value) {
            Ok(bytes) => Reply {
                status: 200,
                content_type: "application/json",
                body: Body::Bytes(bytes),
            },
            Err(e) => Reply::error(500, &e.to_string()),
        }
    }
}

impl Ui {
    /// Checks that `db` opens as exp's log, then listens on `addr` (port 0: any free port).
    pub fn bind(db: &Path, addr: SocketAddr) -> Result<Ui, UiError> {
        Store::open_read_only(db)?;
        let bind_err = |source| UiError::Bind { addr, source };
        let listener = TcpListener::bind(addr).map_err(bind_err)?;
        let addr = listener.local_addr().map_err(bind_err)?;
        Ok(Ui {
            listener,
            db: db.to_path_buf(),
            addr,
            stopped: AtomicBool::new(false),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Accepts connections and answers them on `workers` threads until [`Ui::stop`].
    pub fn serve(&self, workers: usize) {
        let (tx, rx) = mpsc::channel::<TcpStream>();
        let rx = Mutex::new(rx);
        std::thread::scope(|scope| {
            for _ in 0..workers.max(1) {
                scope.spawn(|| loop {
                    let next = rx.lock().map(|r| r.recv());
                    match next {
                        Ok(Ok(stream)) => answer(&self.db, stream),
                        _ => return,
                    }
                });
            }
            for stream in self.listener.incoming() {
                if self.stopped.load(Ordering::Acquire) {
                    break;
                }
                // A connection reset before it was accepted is the client's business.
                if let Ok(stream) = stream {
                    if tx.send(stream).is_err() {
                        break;
                    }
                }
            }
            drop(tx);
        });
    }

    /// Makes [`Ui::serve`] return once the connections accepted so far are answered.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        // Wakes the accept loop, which then sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn answer(db: &Path, mut stream: TcpStream) {
    let reply = match http::read_request(&mut stream) {
        Ok(request) => match request.method.as_str() {
            "GET" | "HEAD" => (request.method == "HEAD", handle(db, &request.target)),
            _ => (
                false,
                Reply::error(405, "exp ui is read-only: only GET and HEAD are answered"),
            ),
        },
        Err(bad) => match bad.status {
            Some(status) => (false, Reply::error(status, &bad.reason)),
            None => return,
        },
    };
    let (head_only, reply) = reply;
    let headers = [
        ("Content-Type", reply.content_type),
        ("Content-Security-Policy", CSP),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("Cache-Control", "no-store"),
    ];
    let (length, mut body) = reply.body.into_reader();
    // A client that went away is not an error of the server's.
    let _ = http::respond(
        &mut stream,
        reply.status,
        &headers,
        length,
        (!head_only).then_some(&mut *body),
    );
}

fn handle(db: &Path, url: &str) -> Reply {
    match render(db, Route::parse(url), url) {
        Ok(reply) => reply,
        Err(e) => Reply::error(500, &e.to_string()),
    }
}

fn asset(content_type: &'static str, text: &str) -> Reply {
    Reply {
        status: 200,
        content_type,
        body: Body::Bytes(text.as_bytes().to_vec()),
    }
}

/// The experiment named, folded, or a 404 reply.
fn experiment(store: &Store, name: &str) -> anyhow::Result<Result<Experiment, Reply>> {
    if !store.exists(name)? {
        return Ok(Err(Reply::error(
            404,
            &format!("no experiment named '{name}' in the log"),
        )));
    }
    Ok(Ok(Experiment::load(store, name, None)?))
}

fn model_card(state: &Experiment) -> Option<String> {
    let path = files::resolve(state, FileRoot::Report, "model_card.md").ok()?;
    if std::fs::metadata(&path).ok()?.len() > CARD_LIMIT {
        return None;
    }
    std::fs::read_to_string(path).ok()
}

/// The reply to `route`; the routes that read the log open it, read-only, for this request.
fn render(db: &Path, route: Route, url: &str) -> anyhow::Result<Reply> {
    let open = || Store::open_read_only(db);
    Ok(match route {
        Route::Script => asset("text/javascript; charset=utf-8", SCRIPT),
        Route::Style => asset("text/css; charset=utf-8", STYLE),
        Route::NotFound => Reply::error(404, &format!("no page at {url}")),
        Route::Refused(why) => Reply::error(403, &format!("refused: {why}")),
        Route::Experiments => {
            let store = &open()?;
            let states: Vec<Result<Experiment, String>> = store
                .experiments()?
                .iter()
                .map(|name| {
                    Experiment::load(store, name, None)
                        .map_err(|e| format!("{name}: cannot be read: {e}"))
                })
                .collect();
            Reply::html(200, pages::experiments(&states))
        }
        Route::Experiment(name) => {
            let store = open()?;
            match experiment(&store, &name)? {
                Ok(state) => {
                    let epochs = live::epochs_after(&store, &name, 0)?;
                    let card = model_card(&state);
                    Reply::html(200, pages::experiment(&state, &epochs, card.as_deref()))
                }
                Err(reply) => reply,
            }
        }
        Route::Events {
            experiment: name,
            kind,
            after,
        } => {
            let store = open()?;
            if !store.exists(&name)? {
                return Ok(Reply::error(
                    404,
                    &format!("no experiment named '{name}' in the log"),
                ));
            }
            let kinds = store.kind_counts(&name)?;
            let page = store.events_after(&name, kind.as_deref(), after, pages::EVENTS_PER_PAGE)?;
            Reply::html(200, pages::events(&name, &kinds, kind.as_deref(), &page))
        }
        Route::Live {
            experiment: name,
            after,
        } => {
            let store = open()?;
            match experiment(&store, &name)? {
                Ok(state) => Reply::json(&live::Live {
                    status: state.status().to_string(),
                    last_seq: state.last_seq,
                    epochs: live::epochs_after(&store, &name, after)?,
                }),
                Err(reply) => reply,
            }
        }
        Route::File {
            experiment: name,
            root,
            path,
        } => match experiment(&open()?, &name)? {
            Ok(state) => match files::resolve(&state, root, &path) {
                Ok(file) => Reply {
                    status: 200,
                    content_type: files::content_type(&file),
                    body: Body::File(std::fs::File::open(&file)?),
                },
                Err(files::Refusal::Outside(why)) => Reply::error(403, &why),
                Err(files::Refusal::NotNamed(why) | files::Refusal::Missing(why)) => {
                    Reply::error(404, &why)
                }
            },
            Err(reply) => reply,
        },
        Route::Compare(members) => {
            if members.len() < 2 {
                return Ok(Reply::error(
                    400,
                    "compare needs two or more experiments: tick them on the experiments page",
                ));
            }
            let options = CompareOptions {
                members,
                model: None,
                out: None,
                name: None,
                groups: Vec::new(),
            };
            match compare::compare(db, &options) {
                Ok(c) => Reply::html(200, pages::compare(&c)),
                Err(e) => Reply::error(400, &e.to_string()),
            }
        }
    })
}
