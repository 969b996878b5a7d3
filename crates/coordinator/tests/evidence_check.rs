//! Readiness after start: an evidence source that stops working is noticed at the next
//! re-check, and a busy one is not mistaken for a broken one. Tokio's clock is paused: the
//! re-checks come as the test advances it, and the test waits on each outcome's change, never
//! on time. The evidence source is a stand-in (it produces an empty bundle the check drops
//! unread): what is tested is the watch, not evidence (`observability.rs` starts the real
//! binary without a TEE).

#![expect(clippy::expect_used, reason = "a test fails loudly")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use chiaro_atls::{EvidenceBundle, IssueError, Issuer};
use chiaro_attest::ReportData;
use chiaro_coordinator::evidence_check::{self, EvidenceCheck, EvidenceOutcome, RECHECK};

/// How the stand-in source answers.
const WORKS: u8 = 0;
const BUSY: u8 = 1;
const GONE: u8 = 2;

/// An evidence source the test can make busy, or take away as a host could (the TEE device
/// gone after start).
struct Source(AtomicU8);

impl Issuer for Source {
    fn issue(&self, _: &ReportData) -> Result<EvidenceBundle, IssueError> {
        match self.0.load(Ordering::SeqCst) {
            WORKS => Ok(EvidenceBundle::Snp {
                report: Vec::new(),
                certificates: Vec::new(),
            }),
            BUSY => Err(IssueError::Busy {
                in_flight: 4,
                max: 4,
            }),
            _ => Err(IssueError::failed(std::io::Error::other(
                "/sys/kernel/config/tsm/report: no such device",
            ))),
        }
    }
}

/// Waits for the outcome's next change: within a few re-checks of (paused, virtual) time, or the
/// test fails rather than hang.
async fn next_change(changes: &mut tokio::sync::watch::Receiver<EvidenceOutcome>) {
    tokio::time::timeout(RECHECK * 3, changes.changed())
        .await
        .expect("no change within three re-checks")
        .expect("the check is still there");
}

#[tokio::test(start_paused = true)]
async fn a_coordinator_whose_evidence_source_fails_after_start_stops_being_ready() {
    let source = Arc::new(Source(AtomicU8::new(WORKS)));
    let issuer: Arc<dyn Issuer> = Arc::clone(&source) as Arc<dyn Issuer>;
    let check = EvidenceCheck::new();
    assert_eq!(check.outcome(), EvidenceOutcome::NotAskedYet);
    assert!(check.outcome().unready_reason().is_some());
    check.check(&issuer).await;
    assert_eq!(check.outcome(), EvidenceOutcome::Produced);
    assert_eq!(check.outcome().unready_reason(), None);

    let mut changes = check.subscribe();
    changes.mark_unchanged();
    tokio::spawn(evidence_check::watch(Arc::clone(&check), issuer));
    source.0.store(GONE, Ordering::SeqCst);
    tokio::time::advance(RECHECK).await;
    next_change(&mut changes).await;
    let outcome = changes.borrow_and_update().clone();
    let reason = outcome.unready_reason().unwrap().to_owned();
    assert!(reason.contains("no such device"), "{reason}");

    // Back: ready again at the next re-check.
    source.0.store(WORKS, Ordering::SeqCst);
    tokio::time::advance(RECHECK).await;
    next_change(&mut changes).await;
    assert_eq!(*changes.borrow_and_update(), EvidenceOutcome::Produced);
}

#[tokio::test]
async fn a_busy_evidence_source_leaves_readiness_as_it_was() {
    let source = Arc::new(Source(AtomicU8::new(BUSY)));
    let issuer: Arc<dyn Issuer> = Arc::clone(&source) as Arc<dyn Issuer>;
    let check = EvidenceCheck::new();
    check.check(&issuer).await;
    assert_eq!(
        check.outcome(),
        EvidenceOutcome::NotAskedYet,
        "busy is not an answer"
    );
    source.0.store(WORKS, Ordering::SeqCst);
    check.check(&issuer).await;
    source.0.store(BUSY, Ordering::SeqCst);
    check.check(&issuer).await;
    assert_eq!(
        check.outcome(),
        EvidenceOutcome::Produced,
        "busy issuing evidence is not broken"
    );
    source.0.store(GONE, Ordering::SeqCst);
    check.check(&issuer).await;
    assert!(matches!(check.outcome(), EvidenceOutcome::Failed { .. }));
}
