//! The one line the CLI sends before its TLS session: `CHIARO-FORWARD/1 HOST:PORT\n`.
//!
//! HOST is a DNS name or an IP address (IPv6 in brackets); it is routing only: the CLI trusts
//! the TLS session, not where the forwarder says it connected.

use std::fmt;

/// The first word of a request line.
const MAGIC: &str = "CHIARO-FORWARD/1";
/// The longest request line, newline included (a DNS name is at most 253 bytes).
pub const MAX_LINE: usize = 300;

/// Where the forwarder is asked to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardRequest {
    host: String,
    port: u16,
}

/// Why a request line is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    /// The line does not start with the protocol's word.
    #[error("not a forward request (expected {MAGIC:?} first)")]
    NotARequest,
    /// No `HOST:PORT`, or a port that is not a number from 1 to 65535.
    #[error("{0:?} is not HOST:PORT with a port from 1 to 65535")]
    BadTarget(String),
    /// A host with characters no DNS name or IP address has.
    #[error("{0:?} is not a DNS name or an IP address")]
    BadHost(String),
    /// Longer than [`MAX_LINE`] without a newline.
    #[error("the request line is longer than {MAX_LINE} bytes")]
    TooLong,
}

impl ForwardRequest {
    /// A request for `host:port`; `host` is a DNS name, an IPv4 address or a bracket-less IPv6
    /// address.
    pub fn new(host: &str, port: u16) -> Result<Self, RequestError> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let valid = !host.is_empty()
            && host.len() <= 253
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'));
        if !valid {
            return Err(RequestError::BadHost(host.to_owned()));
        }
        if port == 0 {
            return Err(RequestError::BadTarget(format!("{host}:0")));
        }
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }

    /// Parses a request line (without its newline).
    pub fn parse(line: &str) -> Result<Self, RequestError> {
        let target = line
            .strip_prefix(MAGIC)
            .and_then(|rest| rest.strip_prefix(' '))
            .ok_or(RequestError::NotARequest)?;
        let (host, port) = target
            .rsplit_once(':')
            .ok_or_else(|| RequestError::BadTarget(target.to_owned()))?;
        let port = port
            .parse::<u16>()
            .map_err(|_| RequestError::BadTarget(target.to_owned()))?;
        if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
            return Err(RequestError::BadTarget(target.to_owned()));
        }
        Self::new(host, port)
    }

    /// The line to send, newline included.
    pub fn to_line(&self) -> String {
        format!("{MAGIC} {self}\n")
    }

    /// Where to connect, as `tokio::net::TcpStream::connect` takes it.
    pub fn host_port(&self) -> (&str, u16) {
        (&self.host, self.port)
    }
}

impl fmt::Display for ForwardRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_reads_back_as_written() {
        for (host, port) in [
            ("10.0.3.7", 8080),
            ("web.pf.svc.cluster.local", 443),
            ("fd00::1", 1),
        ] {
            let request = ForwardRequest::new(host, port).unwrap();
            let line = request.to_line();
            assert!(line.len() <= MAX_LINE);
            let parsed = ForwardRequest::parse(line.trim_end_matches('\n')).unwrap();
            assert_eq!(parsed, request);
            assert_eq!(parsed.host_port(), (host, port));
        }
    }

    #[test]
    fn bad_lines_are_refused_with_their_reason() {
        for (line, expected) in [
            ("GET / HTTP/1.1", RequestError::NotARequest),
            ("CHIARO-FORWARD/1", RequestError::NotARequest),
            (
                "CHIARO-FORWARD/1 10.0.0.1",
                RequestError::BadTarget("10.0.0.1".into()),
            ),
            (
                "CHIARO-FORWARD/1 10.0.0.1:0",
                RequestError::BadTarget("10.0.0.1:0".into()),
            ),
            (
                "CHIARO-FORWARD/1 10.0.0.1:99999",
                RequestError::BadTarget("10.0.0.1:99999".into()),
            ),
            (
                "CHIARO-FORWARD/1 fd00::1:80",
                RequestError::BadTarget("fd00::1:80".into()),
            ),
            (
                "CHIARO-FORWARD/1 a b:80",
                RequestError::BadHost("a b".into()),
            ),
            ("CHIARO-FORWARD/1 :80", RequestError::BadHost(String::new())),
        ] {
            assert_eq!(ForwardRequest::parse(line), Err(expected), "{line}");
        }
    }
}
