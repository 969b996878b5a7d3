//! The one minimal HTTP/1.1 status responder of the Coordinator's status port, the mesh proxy's
//! status port and local mode's stand-in servers: one request per connection, the request head
//! bounded ([`MAX_HEAD`]), only its request line read, one response with `connection: close`.
//!
//! These ports carry no secret and no control; what they must not do is let a caller hold
//! memory or a task without bound, so the head has a size limit here and the callers put a
//! deadline on the whole exchange. The parsing is a pure core ([`RequestHead::parse`],
//! [`Response::to_bytes`]); reading and writing are thin shells, async for the servers on tokio
//! and blocking for the stand-ins on threads.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

/// The longest request head read (request line and headers): probes and scrapes send a few
/// hundred bytes.
pub const MAX_HEAD: usize = 8 * 1024;

const END_OF_HEAD: &[u8] = b"\r\n\r\n";

/// A request's method, as far as status ports care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// Any other method (answered with 405 by the status ports).
    Other,
}

/// The request line of a request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// The method.
    pub method: Method,
    /// The request target as sent (`/` when the line has none).
    pub path: String,
}

impl RequestHead {
    /// The request line of a complete head, or `None` when `head` does not end the head
    /// (`\r\n\r\n`) or its first line is not text.
    pub fn parse(head: &[u8]) -> Option<Self> {
        if !is_complete(head) {
            return None;
        }
        let line = head.split(|byte| *byte == b'\r').next()?;
        let line = std::str::from_utf8(line).ok()?;
        let mut words = line.split(' ');
        let method = match words.next()? {
            "GET" => Method::Get,
            _ => Method::Other,
        };
        let path = words.next().filter(|p| !p.is_empty()).unwrap_or("/");
        Some(Self {
            method,
            path: path.to_owned(),
        })
    }
}

/// Whether `head` holds a whole request head.
fn is_complete(head: &[u8]) -> bool {
    head.windows(END_OF_HEAD.len()).any(|w| w == END_OF_HEAD)
}

/// The statuses status ports answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// 200.
    Ok,
    /// 404.
    NotFound,
    /// 405.
    MethodNotAllowed,
    /// 503.
    ServiceUnavailable,
}

impl Status {
    /// The status line's code and reason.
    pub fn line(self) -> &'static str {
        match self {
            Self::Ok => "200 OK",
            Self::NotFound => "404 Not Found",
            Self::MethodNotAllowed => "405 Method Not Allowed",
            Self::ServiceUnavailable => "503 Service Unavailable",
        }
    }
}

/// One response, closed after its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Its status.
    pub status: Status,
    /// Its `content-type`.
    pub content_type: &'static str,
    /// Its body.
    pub body: String,
}

impl Response {
    /// A `text/plain` response.
    pub fn text(status: Status, body: impl Into<String>) -> Self {
        Self {
            status,
            content_type: "text/plain",
            body: body.into(),
        }
    }

    /// The response as sent.
    pub fn to_bytes(&self) -> Vec<u8> {
        format!(
            "HTTP/1.1 {}\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
            self.status.line(),
            self.content_type,
            self.body.len(),
            self.body
        )
        .into_bytes()
    }
}

/// Reads a request head from `stream`: `None` when the peer closes first or sends more than
/// [`MAX_HEAD`] bytes without ending it.
pub async fn read_request<S: AsyncRead + Unpin>(stream: &mut S) -> io::Result<Option<RequestHead>> {
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    while !is_complete(&head) {
        let read = stream.read(&mut buffer).await?;
        if !take(&mut head, buffer.get(..read).unwrap_or_default()) {
            return Ok(None);
        }
    }
    Ok(RequestHead::parse(&head))
}

/// [`read_request`] on a blocking stream (local mode's stand-ins run on threads).
pub fn read_request_blocking<S: io::Read>(stream: &mut S) -> io::Result<Option<RequestHead>> {
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    while !is_complete(&head) {
        let read = stream.read(&mut buffer)?;
        if !take(&mut head, buffer.get(..read).unwrap_or_default()) {
            return Ok(None);
        }
    }
    Ok(RequestHead::parse(&head))
}

/// Appends what was read; `false` at the end of the stream or past [`MAX_HEAD`].
fn take(head: &mut Vec<u8>, read: &[u8]) -> bool {
    if read.is_empty() || head.len().saturating_add(read.len()) > MAX_HEAD {
        return false;
    }
    head.extend_from_slice(read);
    true
}

/// Writes `response` and closes the sending side.
pub async fn write_response<S: AsyncWrite + Unpin>(
    stream: &mut S,
    response: &Response,
) -> io::Result<()> {
    stream.write_all(&response.to_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_line_is_read_from_a_complete_head_only() {
        assert_eq!(
            RequestHead::parse(b"GET /readyz HTTP/1.1\r\nhost: x\r\n\r\n"),
            Some(RequestHead {
                method: Method::Get,
                path: "/readyz".into()
            })
        );
        assert_eq!(
            RequestHead::parse(b"GET /readyz HTTP/1.1\r\nhost: x\r\n"),
            None
        );
        let post = RequestHead::parse(b"POST / HTTP/1.1\r\n\r\n").map(|h| h.method);
        assert_eq!(post, Some(Method::Other));
        let bare = RequestHead::parse(b"GET\r\n\r\n").map(|h| h.path);
        assert_eq!(bare.as_deref(), Some("/"));
        assert_eq!(RequestHead::parse(b"\xff\xfe /x\r\n\r\n"), None);
    }

    #[test]
    fn a_response_has_its_length_and_closes() {
        let bytes = Response::text(Status::ServiceUnavailable, "not ready\n").to_bytes();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 10\r\nconnection: close\r\n\r\nnot ready\n"
        );
    }

    #[tokio::test]
    async fn a_head_longer_than_the_limit_is_dropped_unread() {
        let mut long = vec![b'a'; MAX_HEAD + 1];
        long.extend_from_slice(END_OF_HEAD);
        assert_eq!(read_request(&mut long.as_slice()).await.unwrap(), None);
        let mut closed: &[u8] = b"GET / HTTP/1.1\r\n";
        assert_eq!(read_request(&mut closed).await.unwrap(), None);
        let mut fine: &[u8] = b"GET /healthz HTTP/1.1\r\n\r\n";
        let head = read_request_blocking(&mut fine).unwrap().unwrap();
        assert_eq!(head.path, "/healthz");
    }
}
