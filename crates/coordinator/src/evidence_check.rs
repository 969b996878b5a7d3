//! Whether this Coordinator can produce evidence: a Coordinator without a working TEE cannot
//! attest itself to anyone, so it is not ready (`/readyz` answers 503 with the reason) however
//! good its state is. [`watch`] asks the evidence source for evidence once before the
//! Coordinator serves and again every [`RECHECK`], and keeps the last outcome.
//!
//! The evidence it asks for carries zero report data: it binds no TLS session, so it can
//! authenticate no connection, and it is dropped at once.

use std::sync::Arc;
use std::time::Duration;

use chiaro_atls::{IssueError, Issuer};
use chiaro_attest::ReportData;
use tokio::sync::watch::{Receiver, Sender};

/// How often the evidence source is asked again.
pub const RECHECK: Duration = Duration::from_secs(60);

/// What the last request for evidence showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvidenceOutcome {
    /// Nothing yet: not ready.
    NotAskedYet,
    /// The source produced evidence: ready, as far as evidence goes.
    Produced,
    /// The source failed: not ready.
    Failed {
        /// Its error and causes.
        reason: String,
    },
}

impl EvidenceOutcome {
    /// Why this outcome makes the Coordinator not ready (`None`: it does not).
    pub fn unready_reason(&self) -> Option<&str> {
        match self {
            Self::NotAskedYet => Some("the evidence source was not asked yet"),
            Self::Produced => None,
            Self::Failed { reason } => Some(reason),
        }
    }
}

/// The last outcome of asking for evidence, and who waits for its changes.
#[derive(Debug)]
pub struct EvidenceCheck {
    last: Sender<EvidenceOutcome>,
}

impl EvidenceCheck {
    /// Not checked yet: not ready.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            last: Sender::new(EvidenceOutcome::NotAskedYet),
        })
    }

    /// The last outcome.
    pub fn outcome(&self) -> EvidenceOutcome {
        self.last.borrow().clone()
    }

    /// The outcomes from now on, each change as it happens.
    pub fn subscribe(&self) -> Receiver<EvidenceOutcome> {
        self.last.subscribe()
    }

    /// Asks `issuer` for evidence, off the async runtime, and keeps the outcome; logs a change.
    /// A source that is busy issuing evidence at its bound (`IssueError::Busy`) was not asked:
    /// the last outcome stands.
    pub async fn check(&self, issuer: &Arc<dyn Issuer>) {
        let issuer = Arc::clone(issuer);
        let asked = tokio::task::spawn_blocking(move || {
            issuer.issue(&ReportData::new([0; ReportData::LEN]))
        })
        .await;
        let outcome = match asked {
            Ok(Ok(_evidence)) => EvidenceOutcome::Produced,
            Ok(Err(IssueError::Busy { in_flight, max })) => {
                tracing::debug!(in_flight, max, "evidence source busy: readiness unchanged");
                return;
            }
            Ok(Err(error)) => EvidenceOutcome::Failed {
                reason: crate::app::chain(&error),
            },
            Err(error) => EvidenceOutcome::Failed {
                reason: format!("the evidence request did not finish: {error}"),
            },
        };
        self.last.send_if_modified(|last| {
            if *last == outcome {
                return false;
            }
            match &outcome {
                EvidenceOutcome::Produced => {
                    tracing::info!("the evidence source works: ready to attest");
                }
                EvidenceOutcome::Failed { reason } => {
                    tracing::error!(reason, "cannot produce evidence: not ready");
                }
                EvidenceOutcome::NotAskedYet => {}
            }
            *last = outcome;
            true
        });
    }
}

/// Asks `issuer` again every [`RECHECK`] (the first check is the caller's, before serving);
/// does not return.
pub async fn watch(check: Arc<EvidenceCheck>, issuer: Arc<dyn Issuer>) {
    let mut every = tokio::time::interval(RECHECK);
    // The first tick is at once: that check was made before serving.
    every.tick().await;
    loop {
        every.tick().await;
        check.check(&issuer).await;
    }
}
