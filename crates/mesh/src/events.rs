//! What the proxy did with each connection: counted, and written to stderr one line each.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// One connection's fate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Forwarded.
    Accepted {
        /// `ingress` or `egress`.
        side: &'static str,
        /// The entry.
        rule: String,
        /// The other end.
        peer: String,
        /// The peer's identity: for ingress the DNS names of its mesh certificate, for egress
        /// the name checked; none on a plaintext port.
        identity: Option<String>,
    },
    /// Refused, and why.
    Refused {
        /// `ingress`, `egress` or `status`.
        side: &'static str,
        /// The other end.
        peer: String,
        /// Why.
        reason: String,
    },
}

/// Counters and the log, shared by every listener.
#[derive(Debug, Clone, Default)]
pub struct Events {
    accepted: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
    open: Arc<AtomicU64>,
    accept_failures: Arc<AtomicU64>,
    /// Woken on every recorded event, for [`Events::until`].
    recorded: Arc<tokio::sync::Notify>,
    quiet: bool,
}

/// Counts a connection as open until dropped.
#[derive(Debug)]
pub struct OpenConnection(Arc<AtomicU64>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Events {
    /// Events that are counted but not logged (tests, benchmarks).
    pub fn quiet() -> Self {
        Self {
            quiet: true,
            ..Self::default()
        }
    }

    /// Records `event`.
    pub fn record(&self, event: Event) {
        let counter = match &event {
            Event::Accepted { .. } => &self.accepted,
            Event::Refused { .. } => &self.refused,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.recorded.notify_waiters();
        if !self.quiet {
            let line = match event {
                Event::Accepted {
                    side,
                    rule,
                    peer,
                    identity,
                } => format!(
                    "{side} {rule}: {peer} accepted{}",
                    identity.map(|i| format!(" ({i})")).unwrap_or_default()
                ),
                Event::Refused { side, peer, reason } => {
                    format!("{side}: {peer} refused: {reason}")
                }
            };
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr().lock(), "chiaro-mesh: {line}");
        }
    }

    /// A listener's `accept` failed; the loop pauses for `pause` (`None`: an error of that one
    /// connection, no pause). Logged as `SIDE: accept failed: ERROR; pausing PAUSE`.
    pub fn accept_failed(&self, side: &str, error: &std::io::Error, pause: Option<Duration>) {
        self.accept_failures.fetch_add(1, Ordering::Relaxed);
        if !self.quiet {
            let pause = pause.map_or_else(|| "no pause".to_owned(), |p| format!("pausing {p:?}"));
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr().lock(),
                "chiaro-mesh: {side}: accept failed: {error}; {pause}"
            );
        }
    }

    /// Failed accepts so far, on every listener.
    pub fn accept_failures(&self) -> u64 {
        self.accept_failures.load(Ordering::Relaxed)
    }

    /// Marks a connection open for as long as the returned guard lives.
    pub fn open(&self) -> OpenConnection {
        self.open.fetch_add(1, Ordering::Relaxed);
        OpenConnection(Arc::clone(&self.open))
    }

    /// Connections open now.
    pub fn open_connections(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }

    /// Connections forwarded so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Connections refused so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Returns once `done` holds of these counters, looking again after each recorded event
    /// (what tests wait on, rather than on time).
    pub async fn until(&self, done: impl Fn(&Self) -> bool) {
        loop {
            let mut recorded = std::pin::pin!(self.recorded.notified());
            // Registered before looking, so an event between the look and the wait wakes it.
            recorded.as_mut().enable();
            if done(self) {
                return;
            }
            recorded.await;
        }
    }
}
