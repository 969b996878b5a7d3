//! A response, whatever its status.

/// A response: status, headers and the whole (bounded) body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names (lowercase) and values (headers that are not text are left out).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// A 2xx status.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// A status worth retrying: 5xx or 429.
    pub fn is_transient(&self) -> bool {
        self.status >= 500 || self.status == 429
    }

    /// The start of the body (300 bytes), for error messages.
    pub fn body_excerpt(&self) -> String {
        let end = self.body.len().min(300);
        String::from_utf8_lossy(self.body.get(..end).unwrap_or_default())
            .trim()
            .to_owned()
    }
}
