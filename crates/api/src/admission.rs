//! Load before authentication: what an attested listener holds for peers that have proved
//! nothing yet, and how much of it.
//!
//! Every TCP connection costs a descriptor and a task, and once its TLS handshake completes,
//! fresh TEE evidence. So a listener ([`crate::transport::incoming`]) admits each accepted
//! connection through an [`Admission`] first:
//!
//! - at most [`Limits::connections`] connections at all (unauthenticated or established), and
//!   [`Limits::connections_per_source`] from one source;
//! - at most [`Limits::pre_auth`] of them in the unauthenticated phase (TLS handshake, this
//!   side's evidence, the peer's evidence and the verdict), and
//!   [`Limits::pre_auth_per_source`] from one source;
//! - the unauthenticated phase ends after [`Limits::pre_auth_timeout`];
//! - a connection over a cap is closed at once and reported ([`ListenerEvent::OverCap`]); when
//!   only the global pre-auth cap is full, the oldest exchange of the source holding the most is
//!   ended instead, if that source holds more than the newcomer ([`ListenerEvent::Evicted`]): a
//!   peer from an address that holds nothing gets in while a flood holds the table.
//!
//! A source is an IPv4 address or an IPv6 /64. Source addresses are unauthenticated: against
//! the host, which is the network and can use any of them, the per-source caps are fairness
//! between other parties (a pod, a client outside the cluster); what holds against the host is
//! that every count is bounded. The argument is in `docs/atls.md` ("Load before
//! authentication").

mod table;

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chiaro_atls::{AtlsError, EvidenceBundle, IssueError, Issuer};
use chiaro_attest::ReportData;
use tokio::sync::oneshot;

pub use chiaro_accept::{AcceptBackoff, accept};
use table::Table;

/// The caps of one listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections at once, in either phase.
    pub connections: usize,
    /// Connections at once from one source, in either phase.
    pub connections_per_source: usize,
    /// Unauthenticated exchanges at once (each may be producing this side's evidence).
    pub pre_auth: usize,
    /// Unauthenticated exchanges at once from one source.
    pub pre_auth_per_source: usize,
    /// The deadline for the unauthenticated phase, from `accept` to the verdict.
    pub pre_auth_timeout: Duration,
}

impl Limits {
    /// The defaults: 1024 connections (64 per source), 128 unauthenticated (8 per source),
    /// 10 s to authenticate. A legitimate peer needs one connection and about 10 ms of exchange
    /// on loopback (one evidence each way); 8 covers a node's initializers starting together.
    pub const DEFAULT: Self = Self {
        connections: 1024,
        connections_per_source: 64,
        pre_auth: 128,
        pre_auth_per_source: 8,
        pre_auth_timeout: Duration::from_secs(10),
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The cap that was full when a connection was closed at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cap {
    /// [`Limits::connections`].
    Connections,
    /// [`Limits::connections_per_source`].
    SourceConnections,
    /// [`Limits::pre_auth`], with no source holding more than the newcomer.
    PreAuth,
    /// [`Limits::pre_auth_per_source`].
    SourcePreAuth,
}

impl Cap {
    /// Every cap, in a fixed order.
    pub const ALL: [Self; 4] = [
        Self::Connections,
        Self::SourceConnections,
        Self::PreAuth,
        Self::SourcePreAuth,
    ];

    /// A short `snake_case` name (a metric label).
    pub fn label(self) -> &'static str {
        match self {
            Self::Connections => "connections",
            Self::SourceConnections => "source_connections",
            Self::PreAuth => "pre_auth",
            Self::SourcePreAuth => "source_pre_auth",
        }
    }
}

/// What the per-source caps count: an IPv4 address, or the /64 of an IPv6 address (the usual
/// allocation of one host, so one host's many addresses count once). IPv4-mapped IPv6
/// addresses count as the IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source(IpAddr);

impl Source {
    /// The source of a peer at `address`.
    pub fn of(address: IpAddr) -> Self {
        match address {
            IpAddr::V4(v4) => Self(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(IpAddr::V4(v4)),
                None => {
                    let prefix = v6.to_bits() & !u128::from(u64::MAX);
                    Self(IpAddr::V6(Ipv6Addr::from_bits(prefix)))
                }
            },
        }
    }
}

/// How many connections a listener holds now, by phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Occupancy {
    /// In the TLS handshake or the attestation exchange.
    pub pre_auth: usize,
    /// Attested (or, on a server-attested listener, past the exchange) and serving.
    pub established: usize,
}

/// What a listener reports, for logs and metrics.
#[derive(Debug)]
pub enum ListenerEvent {
    /// A connection was closed at once: `cap` was full.
    OverCap {
        /// The peer.
        address: SocketAddr,
        /// The full cap.
        cap: Cap,
    },
    /// An unauthenticated exchange was ended to make room for a source holding fewer.
    Evicted {
        /// The peer whose exchange ended.
        address: SocketAddr,
    },
    /// The handshake or the exchange failed, or did not finish within the pre-auth deadline
    /// ([`AtlsError::Timeout`]).
    NotAttested {
        /// The peer.
        address: SocketAddr,
        /// Why.
        error: AtlsError,
    },
    /// `accept` failed; the loop pauses for `pause` before the next (`None`: an error of one
    /// connection, no pause).
    AcceptFailed {
        /// The error.
        error: std::io::Error,
        /// The pause taken.
        pause: Option<Duration>,
    },
}

/// The admission state of one listener.
#[derive(Debug)]
pub struct Admission {
    limits: Limits,
    table: Mutex<Table<oneshot::Sender<()>>>,
}

impl Admission {
    /// An empty listener with `limits`.
    pub fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            table: Mutex::new(Table::new(limits)),
        })
    }

    /// The caps.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The connections held now.
    pub fn occupancy(&self) -> Occupancy {
        self.lock().occupancy()
    }

    /// Admits a connection from `address` into the unauthenticated phase, or names the full
    /// cap. When this evicts an older exchange, that exchange's [`PreAuthSlot::evicted`]
    /// completes.
    pub(crate) fn admit(self: &Arc<Self>, address: IpAddr) -> Result<Ticket, Cap> {
        let source = Source::of(address);
        let (sender, evicted) = oneshot::channel();
        let admitted = self.lock().admit(source, sender)?;
        // Dropping the victim's sender (outside the lock) is what tells it.
        drop(admitted.evicted);
        Ok(Ticket {
            connection: ConnectionSlot {
                admission: Arc::clone(self),
                source,
            },
            pre_auth: PreAuthSlot {
                admission: Arc::clone(self),
                id: admitted.id,
                evicted,
            },
        })
    }

    fn lock(&self) -> MutexGuard<'_, Table<oneshot::Sender<()>>> {
        // The table's operations do not panic; a poisoned lock still holds consistent counts.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// An admitted connection's two places.
#[derive(Debug)]
pub(crate) struct Ticket {
    /// Held as long as the connection is open.
    pub(crate) connection: ConnectionSlot,
    /// Held until the exchange ends.
    pub(crate) pre_auth: PreAuthSlot,
}

/// A connection's place among the listener's connections; released when dropped.
#[derive(Debug)]
pub(crate) struct ConnectionSlot {
    admission: Arc<Admission>,
    source: Source,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.admission.lock().close(self.source);
    }
}

/// A connection's place among the unauthenticated exchanges; released when dropped.
#[derive(Debug)]
pub(crate) struct PreAuthSlot {
    admission: Arc<Admission>,
    id: u64,
    evicted: oneshot::Receiver<()>,
}

impl PreAuthSlot {
    /// Completes when the exchange was evicted to make room for another.
    pub(crate) async fn evicted(&mut self) {
        let _ = (&mut self.evicted).await;
    }
}

impl Drop for PreAuthSlot {
    fn drop(&mut self) {
        let handle = self.admission.lock().end_pre_auth(self.id);
        drop(handle);
    }
}

/// An [`Issuer`] that produces at most `max` pieces of evidence at once and refuses beyond.
///
/// The pre-auth cap bounds the exchanges under way, but an exchange ended by its deadline or by
/// eviction cannot stop evidence production already running on a blocking thread; this bound
/// holds whatever the exchanges do.
pub struct LimitedIssuer {
    inner: Arc<dyn Issuer>,
    max: usize,
    in_flight: AtomicUsize,
}

impl std::fmt::Debug for LimitedIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LimitedIssuer")
            .field("max", &self.max)
            .field("in_flight", &self.in_flight.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl LimitedIssuer {
    /// `inner`, at most `max` at once.
    pub fn new(inner: Arc<dyn Issuer>, max: usize) -> Self {
        Self {
            inner,
            max,
            in_flight: AtomicUsize::new(0),
        }
    }
}

impl Issuer for LimitedIssuer {
    fn issue(&self, report_data: &ReportData) -> Result<EvidenceBundle, IssueError> {
        let before = self.in_flight.fetch_add(1, Ordering::AcqRel);
        let _in_flight = InFlight(&self.in_flight);
        if before >= self.max {
            return Err(IssueError::Busy {
                in_flight: before,
                max: self.max,
            });
        }
        self.inner.issue(report_data)
    }
}

struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests;
