//! How often and how long a GET is tried.

use std::time::Duration;

/// The retry and timeout policy of a [`Client`](crate::Client): every attempt is bounded by
/// `timeout`; an attempt that failed transiently ([`HttpError::is_transient`](crate::HttpError::is_transient),
/// or a 5xx or 429 answer) is retried after `first_backoff`, doubled after each failure, until
/// `attempts` were made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (at least one).
    pub attempts: u32,
    /// The pause after the first failed attempt.
    pub first_backoff: Duration,
    /// The bound on one attempt: connecting, TLS, the request and reading the body.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    /// Four attempts, 250 ms doubling (1.75 s of pauses in all), 30 s per attempt.
    fn default() -> Self {
        Self {
            attempts: 4,
            first_backoff: Duration::from_millis(250),
            timeout: Duration::from_secs(30),
        }
    }
}
