//! The UI's HTTP/1.1 transport: one request per connection (`Connection: close`), parsed by
//! `httparse`, with a time limit on reading it. A local read-only UI gains nothing from
//! keep-alive, and without it no worker ever waits on an idle connection.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// The longest request head read (request line and headers).
const HEAD_LIMIT: usize = 16 * 1024;
/// A client that sends nothing for this long is dropped.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_HEADERS: usize = 64;

/// A request's method and target (path and query, as sent).
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub target: String,
}

/// Why a request could not be read; the status to answer with, if any.
#[derive(Debug)]
pub struct BadRequest {
    pub status: Option<u16>,
    pub reason: String,
}

fn bad(status: Option<u16>, reason: impl Into<String>) -> BadRequest {
    BadRequest {
        status,
        reason: reason.into(),
    }
}

/// Parses a complete request head, or says that more bytes are needed (`Ok(None)`).
pub fn parse(head: &[u8]) -> Result<Option<Request>, BadRequest> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => Ok(Some(Request {
            method: req.method.unwrap_or_default().to_string(),
            target: req.path.unwrap_or_default().to_string(),
        })),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(e) => Err(bad(Some(400), format!("malformed request: {e}"))),
    }
}

/// Reads one request head from `stream` (a body, which GET and HEAD do not have, is not read).
pub fn read_request(stream: &mut TcpStream) -> Result<Request, BadRequest> {
    stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .map_err(|e| bad(None, e.to_string()))?;
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let n = stream
            .read(&mut chunk)
            .map_err(|e| bad(None, e.to_string()))?;
        if n == 0 {
            return Err(bad(None, "the client closed the connection"));
        }
        head.extend_from_slice(&chunk[..n]);
        if let Some(request) = parse(&head)? {
            return Ok(request);
        }
        if head.len() > HEAD_LIMIT {
            return Err(bad(Some(431), "request head over 16 KiB"));
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Internal Server Error",
    }
}

/// Writes a whole response and closes the connection. `body` is streamed from `reader`
/// (`length` bytes); a HEAD request gets the head only.
pub fn respond(
    stream: &mut TcpStream,
    status: u16,
    headers: &[(&str, &str)],
    length: u64,
    body: Option<&mut dyn Read>,
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {length}\r\nConnection: close\r\n\r\n"
    ));
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, &*stream);
    out.write_all(head.as_bytes())?;
    if let Some(body) = body {
        std::io::copy(body, &mut out)?;
    }
    out.flush()?;
    drop(out);
    stream.shutdown(std::net::Shutdown::Write)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse_whole_or_ask_for_more() {
        let whole = parse(b"GET /x/a%20b?after=3 HTTP/1.1\r\nHost: h\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            whole,
            Request {
                method: "GET".into(),
                target: "/x/a%20b?after=3".into()
            }
        );
        assert!(parse(b"GET / HTTP/1.1\r\nHost:").unwrap().is_none());
        let err = parse(b"GET / HTTP/1.1\r\nHo st: h\r\n\r\n").unwrap_err();
        assert_eq!(err.status, Some(400));
    }
}
