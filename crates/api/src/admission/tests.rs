use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::mpsc;

use super::*;

fn v4(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
}

fn limits(pre_auth: usize, pre_auth_per_source: usize) -> Limits {
    Limits {
        pre_auth,
        pre_auth_per_source,
        ..Limits::DEFAULT
    }
}

#[test]
fn slots_are_released_when_dropped() {
    let admission = Admission::new(limits(2, 1));
    let ticket = admission.admit(v4(1)).unwrap();
    assert_eq!(admission.admit(v4(1)).unwrap_err(), Cap::SourcePreAuth);
    assert_eq!(
        admission.occupancy(),
        Occupancy {
            pre_auth: 1,
            established: 0
        }
    );
    // Authenticated: the pre-auth place is free, the connection stays.
    let Ticket {
        connection,
        pre_auth,
    } = ticket;
    drop(pre_auth);
    assert_eq!(
        admission.occupancy(),
        Occupancy {
            pre_auth: 0,
            established: 1
        }
    );
    let again = admission.admit(v4(1)).unwrap();
    drop(connection);
    drop(again);
    assert_eq!(admission.occupancy(), Occupancy::default());
}

#[tokio::test]
async fn an_evicted_exchange_is_told_and_its_place_goes_to_the_newcomer() {
    let admission = Admission::new(limits(2, 2));
    let mut flood = admission.admit(v4(1)).unwrap();
    let _flood_2 = admission.admit(v4(1)).unwrap();
    let mut newcomer = admission.admit(v4(2)).unwrap();
    // The oldest exchange of the largest holder learns it was evicted; the newcomer does not.
    flood.pre_auth.evicted().await;
    assert!(
        tokio::time::timeout(Duration::ZERO, newcomer.pre_auth.evicted())
            .await
            .is_err()
    );
    // Its connection stays counted until the task drops it; then all is released exactly.
    assert_eq!(
        admission.occupancy(),
        Occupancy {
            pre_auth: 2,
            established: 1
        }
    );
    drop(flood);
    assert_eq!(
        admission.occupancy(),
        Occupancy {
            pre_auth: 2,
            established: 0
        }
    );
}

#[test]
fn sources_group_ipv6_by_64_and_unmap_ipv4() {
    let a: Ipv6Addr = "2001:db8:1:2:aaaa::1".parse().unwrap();
    let b: Ipv6Addr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
    let other: Ipv6Addr = "2001:db8:1:3::1".parse().unwrap();
    assert_eq!(Source::of(a.into()), Source::of(b.into()));
    assert_ne!(Source::of(a.into()), Source::of(other.into()));
    let mapped: Ipv6Addr = "::ffff:192.0.2.7".parse().unwrap();
    assert_eq!(Source::of(mapped.into()), Source::of(v4(7)));
    assert_ne!(Source::of(v4(7)), Source::of(v4(8)));
    // One host's many IPv6 addresses share one per-source cap.
    let admission = Admission::new(limits(10, 1));
    let _held = admission.admit(a.into()).unwrap();
    assert_eq!(admission.admit(b.into()).unwrap_err(), Cap::SourcePreAuth);
    assert!(admission.admit(other.into()).is_ok());
}

/// An issuer that announces each call and then waits until it is released.
struct Blocking {
    entered: Mutex<mpsc::Sender<()>>,
    release: Mutex<mpsc::Receiver<()>>,
}

impl Issuer for Blocking {
    fn issue(&self, _: &ReportData) -> Result<EvidenceBundle, IssueError> {
        let _ = self.entered.lock().unwrap().send(());
        let _ = self.release.lock().unwrap().recv();
        Ok(EvidenceBundle::Snp {
            report: Vec::new(),
            certificates: Vec::new(),
        })
    }
}

#[test]
fn a_limited_issuer_refuses_beyond_its_bound_and_frees_it_after() {
    let (entered, entered_rx) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let issuer = Arc::new(LimitedIssuer::new(
        Arc::new(Blocking {
            entered: Mutex::new(entered),
            release: Mutex::new(release_rx),
        }),
        1,
    ));
    let data = ReportData::new([0; 64]);
    let first = {
        let issuer = Arc::clone(&issuer);
        std::thread::spawn(move || issuer.issue(&data))
    };
    entered_rx.recv().unwrap();
    // One under way: a second is refused at once, without reaching the TEE.
    assert!(issuer.issue(&data).is_err());
    assert!(entered_rx.try_recv().is_err());
    release.send(()).unwrap();
    assert!(first.join().unwrap().is_ok());
    // Finished (and the refused one counted out too): the next one runs.
    release.send(()).unwrap();
    assert!(issuer.issue(&data).is_ok());
}
