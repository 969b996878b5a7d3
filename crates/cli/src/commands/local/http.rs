//! The `GET` local mode checks traffic with: HTTP/1.1, one request per connection, the answer's
//! status line parsed (a check reads the status code, never the text).

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context, bail};

use super::processes::Place;
use crate::reports::HttpAnswer;

/// `GET /` at `address`.
pub(super) fn get(address: SocketAddr) -> anyhow::Result<HttpAnswer> {
    get_path(address, "/")
}

/// `GET path` at `address`.
pub(super) fn get_path(address: SocketAddr, path: &str) -> anyhow::Result<HttpAnswer> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(3)))?;
    let request = format!("GET {path} HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes())?;
    let mut response = Vec::new();
    // A peer that closes mid-answer (a proxy refusing plaintext) leaves what came.
    let _ = stream.read_to_end(&mut response);
    parse(&String::from_utf8_lossy(&response))
}

/// `GET /` at `address` as seen from `place`: from a pod's namespace, by `chiaro local get`
/// run there (its JSON answer read back as the same type).
pub(super) fn get_from(place: Place<'_>, address: SocketAddr) -> anyhow::Result<HttpAnswer> {
    match place {
        Place::Loopback => get(address),
        Place::Namespace(..) => {
            let exe = std::env::current_exe()?;
            let output = place
                .command(&exe)
                .args(["--output", "json", "local", "get", &address.to_string()])
                .output()
                .context("running chiaro local get in the pod's namespace")?;
            if !output.status.success() {
                bail!("{}", String::from_utf8_lossy(&output.stderr).trim());
            }
            serde_json::from_slice(&output.stdout)
                .context("chiaro local get: its answer does not parse")
        }
    }
}

/// An HTTP/1 response: `HTTP/1.x SP status SP reason`, headers, body.
fn parse(response: &str) -> anyhow::Result<HttpAnswer> {
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((response, ""));
    let status_line = head.lines().next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let status = parts.next().and_then(|code| {
        code.parse::<u16>()
            .ok()
            .filter(|code| (100..600).contains(code))
    });
    let (true, Some(status)) = (version.starts_with("HTTP/1."), status) else {
        bail!("no HTTP status line: {status_line:?}");
    };
    Ok(HttpAnswer {
        status,
        reason: parts.next().unwrap_or_default().to_owned(),
        body: body.trim().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_line_is_parsed_not_searched() {
        let answer =
            parse("HTTP/1.1 503 Service Unavailable\r\nx: 200 OK\r\n\r\n200 OK\n").unwrap();
        assert_eq!(answer.status, 503);
        assert!(
            !answer.is_ok(),
            "a 200 OK in a header or the body is not the status"
        );
        assert_eq!(answer.body, "200 OK");
        assert_eq!(
            answer.to_string(),
            "HTTP/1.1 503 Service Unavailable: 200 OK"
        );
        assert!(parse("HTTP/1.1 200 OK\r\n\r\nfine").unwrap().is_ok());
    }

    #[test]
    fn what_is_not_an_http_answer_is_refused() {
        for response in [
            "",
            "\u{15}\u{3}\u{3}",
            "SSH-2.0-x\r\n",
            "HTTP/1.1 20 OK\r\n\r\n",
        ] {
            assert!(parse(response).is_err(), "{response:?}");
        }
    }
}
