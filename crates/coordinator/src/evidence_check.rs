//! Whether this Coordinator can produce evidence: a Coordinator without a working TEE cannot
//! attest itself to anyone, so it is not ready (`/readyz` answers 503 with the reason) however
//! good its state is. [`watch`] asks the evidence source for evidence once before the
//! Coordinator serves and again every [`RECHECK`], and keeps the last outcome.
//!
//! The evidence it asks for carries zero report data: it binds no TLS session, so it can
//! authenticate no connection, and it is dropped at once.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chiaro_atls::Issuer;
use chiaro_attest::ReportData;

/// How often the evidence source is asked again.
pub const RECHECK: Duration = Duration::from_secs(60);

/// The last outcome of asking for evidence.
#[derive(Debug)]
pub struct EvidenceCheck {
    last: Mutex<Result<(), String>>,
}

impl EvidenceCheck {
    /// Not checked yet: not ready.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            last: Mutex::new(Err("the evidence source was not asked yet".to_owned())),
        })
    }

    /// `Ok` when the last request for evidence succeeded, else why it failed.
    ///
    /// # Errors
    /// Why the last request failed (its error and causes).
    pub fn outcome(&self) -> Result<(), String> {
        self.lock().clone()
    }

    /// Asks `issuer` for evidence, off the async runtime, and keeps the outcome; logs a change.
    pub async fn check(&self, issuer: &Arc<dyn Issuer>) {
        let issuer = Arc::clone(issuer);
        let outcome = tokio::task::spawn_blocking(move || {
            issuer
                .issue(&ReportData::new([0; ReportData::LEN]))
                .map(drop)
                .map_err(|error| crate::app::chain(&error))
        })
        .await
        .unwrap_or_else(|error| Err(format!("the evidence request did not finish: {error}")));
        let mut last = self.lock();
        if *last != outcome {
            match &outcome {
                Ok(()) => tracing::info!("the evidence source works: ready to attest"),
                Err(reason) => {
                    tracing::error!(reason, "cannot produce evidence: not ready");
                }
            }
        }
        *last = outcome;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Result<(), String>> {
        // The value is replaced whole; a panic elsewhere cannot leave it half-written.
        self.last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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
