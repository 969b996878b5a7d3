//! What the proxy did with each connection: counted ([`crate::metrics`]), and written to
//! stderr one line each.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::metrics::{Metrics, Refusal, Side};
use crate::pipe::Totals;

/// One connection's fate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Forwarded.
    Accepted {
        /// Ingress or egress.
        side: Side,
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
        /// Where.
        side: Side,
        /// The other end.
        peer: String,
        /// Why, as counted.
        kind: Refusal,
        /// Why, in words.
        reason: String,
    },
}

/// Counters and the log, shared by every listener.
#[derive(Debug, Clone, Default)]
pub struct Events {
    metrics: Arc<Metrics>,
    /// Woken on every recorded event, for [`Events::until`].
    recorded: Arc<tokio::sync::Notify>,
    quiet: bool,
}

/// Counts a connection as open until dropped.
#[derive(Debug)]
pub struct OpenConnection(Arc<Metrics>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
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
        match &event {
            Event::Accepted { side, .. } => self.metrics.accepted(*side),
            Event::Refused { side, kind, .. } => self.metrics.refused(*side, *kind),
        }
        self.recorded.notify_waiters();
        if !self.quiet {
            let line = match event {
                Event::Accepted {
                    side,
                    rule,
                    peer,
                    identity,
                } => format!(
                    "{} {rule}: {peer} accepted{}",
                    side.name(),
                    identity.map(|i| format!(" ({i})")).unwrap_or_default()
                ),
                Event::Refused {
                    side, peer, reason, ..
                } => format!("{}: {peer} refused: {reason}", side.name()),
            };
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr().lock(), "chiaro-mesh: {line}");
        }
    }

    /// A listener's `accept` failed; the loop pauses for `pause` (`None`: an error of that one
    /// connection, no pause). Logged as `SIDE: accept failed: ERROR; pausing PAUSE`.
    pub fn accept_failed(&self, side: &str, error: &std::io::Error, pause: Option<Duration>) {
        self.metrics.accept_failures.fetch_add(1, Ordering::Relaxed);
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
        self.metrics.accept_failures.load(Ordering::Relaxed)
    }

    /// Marks a connection open for as long as the returned guard lives.
    pub fn open(&self) -> OpenConnection {
        self.metrics.open.fetch_add(1, Ordering::Relaxed);
        OpenConnection(Arc::clone(&self.metrics))
    }

    /// Connections open now.
    pub fn open_connections(&self) -> u64 {
        self.metrics.open.load(Ordering::Relaxed)
    }

    /// A TLS handshake of `side` took `took` (completed or failed).
    pub fn handshake(&self, side: Side, took: Duration) {
        self.metrics.handshake(side, took);
    }

    /// Where a connection of `side` counts the bytes it moves (to the workload, from it).
    pub fn totals(&self, side: Side) -> Totals<'_> {
        Totals {
            counters: self.metrics.bytes(side),
        }
    }

    /// The counters, for `/metrics`.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Connections forwarded so far.
    pub fn accepted(&self) -> u64 {
        self.metrics.accepted_total()
    }

    /// Connections refused so far.
    pub fn refused(&self) -> u64 {
        self.metrics.refused_total()
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
