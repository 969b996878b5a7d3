//! What the proxy holds for peers that have proved nothing yet, and how much of it: the
//! status port's connections (plaintext, anyone may open them) and the ingress connections
//! still in their TLS handshake. Each is admitted through a [`Gate`] first:
//!
//! - at most [`Caps::total`] at once, and [`Caps::per_source`] from one source;
//! - when the total is reached, a newcomer from a source that holds fewer than the largest
//!   holder ends that holder's oldest connection and takes its place ([`Pass::evicted`]): a
//!   peer from an address that holds nothing gets in while a flood fills the gate;
//! - otherwise the newcomer is closed at once.
//!
//! The caps are a share of the process's descriptor limit ([`descriptor_limit`]): the status
//! port at most a sixteenth, handshakes at most a quarter, so however the limit is set, a flood
//! on those ports leaves most descriptors to mesh connections. Deadlines (the status port's
//! request head, the ingress handshake) end what is admitted; the gate bounds how much is held
//! meanwhile.
//!
//! A source is an IPv4 address or an IPv6 /64 (one host's usual allocation); an IPv4-mapped
//! IPv6 address counts as the IPv4 address. Source addresses are unauthenticated: against the
//! host, which is the network and can use any of them, the per-source caps and eviction are
//! fairness between other parties (pods, the kubelet); what holds against the host is that
//! every count is bounded.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

/// The caps of one gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Connections held at once.
    pub total: usize,
    /// Connections held at once from one source.
    pub per_source: usize,
}

impl Caps {
    /// The status port's: 64 connections, 8 per source (the kubelet needs one per probe
    /// running), and at most a sixteenth of `descriptors` (a status connection may hold a
    /// second descriptor while it runs a workload probe).
    pub fn status(descriptors: Option<u64>) -> Self {
        Self {
            total: 64,
            per_source: 8,
        }
        .within(descriptors, 16)
    }

    /// The ingress handshakes': 256 at once, 16 per source, and at most a quarter of
    /// `descriptors`.
    pub fn handshakes(descriptors: Option<u64>) -> Self {
        Self {
            total: 256,
            per_source: 16,
        }
        .within(descriptors, 4)
    }

    /// These caps, lowered to at most `descriptors / parts` in total (at least one).
    fn within(self, descriptors: Option<u64>, parts: u64) -> Self {
        let budget = descriptors.map_or(usize::MAX, |limit| {
            // `parts` 0 counts as 1.
            usize::try_from(limit.checked_div(parts).unwrap_or(limit)).unwrap_or(usize::MAX)
        });
        let total = self.total.min(budget).max(1);
        Self {
            total,
            per_source: self.per_source.min(total).max(1),
        }
    }
}

/// The soft `RLIMIT_NOFILE` of this process (`/proc/self/limits`); `None` when unlimited or
/// unreadable.
pub fn descriptor_limit() -> Option<u64> {
    parse_descriptor_limit(&std::fs::read_to_string("/proc/self/limits").ok()?)
}

/// The soft limit in the `Max open files` line of a `/proc/PID/limits` text.
fn parse_descriptor_limit(text: &str) -> Option<u64> {
    let line = text
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// What the per-source caps count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source(IpAddr);

impl Source {
    /// The source of a peer at `address`.
    pub fn of(address: IpAddr) -> Self {
        match address.to_canonical() {
            IpAddr::V4(v4) => Self(IpAddr::V4(v4)),
            IpAddr::V6(v6) => {
                let prefix = v6.to_bits() & !u128::from(u64::MAX);
                Self(IpAddr::V6(Ipv6Addr::from_bits(prefix)))
            }
        }
    }
}

/// Which cap closed a connection at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// [`Caps::total`], with no source holding more than the newcomer's.
    Total,
    /// [`Caps::per_source`].
    Source,
}

impl std::fmt::Display for Full {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Total => "every place is taken (and no source holds more than this one)",
            Self::Source => "its source holds as many connections as one source may",
        })
    }
}

/// The table behind a gate: who holds what, in admission order. No IO, no clock: the age of a
/// connection is its admission order. `H` is what an entry keeps (the gate keeps the sender
/// whose drop tells the connection it was evicted).
#[derive(Debug)]
struct Table<H> {
    caps: Caps,
    next_id: u64,
    held: HashMap<Source, usize>,
    entries: BTreeMap<u64, (Source, H)>,
}

impl<H> Table<H> {
    fn new(caps: Caps) -> Self {
        Self {
            caps,
            next_id: 0,
            held: HashMap::new(),
            entries: BTreeMap::new(),
        }
    }

    /// Admits a connection from `source`: its id, and the handle of the entry it evicted.
    fn admit(&mut self, source: Source, handle: H) -> Result<(u64, Option<H>), Full> {
        let holds = self.held.get(&source).copied().unwrap_or(0);
        if holds >= self.caps.per_source {
            return Err(Full::Source);
        }
        let evicted = if self.entries.len() >= self.caps.total {
            Some(self.evict_for(holds).ok_or(Full::Total)?)
        } else {
            None
        };
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.entries.insert(id, (source, handle));
        // Below the per-source cap (checked above), so this never saturates.
        let held = self.held.entry(source).or_insert(0);
        *held = held.saturating_add(1);
        Ok((id, evicted))
    }

    /// Removes entry `id`; its handle, or `None` when it was evicted before.
    fn remove(&mut self, id: u64) -> Option<H> {
        let (source, handle) = self.entries.remove(&id)?;
        if let Some(count) = self.held.get_mut(&source) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.held.remove(&source);
            }
        }
        Some(handle)
    }

    /// Removes the oldest entry of a source holding the most, if that is more than `holds`.
    fn evict_for(&mut self, holds: usize) -> Option<H> {
        let most = self.held.values().copied().max()?;
        if most <= holds {
            return None;
        }
        let victim = self
            .entries
            .iter()
            .find(|(_, (source, _))| self.held.get(source) == Some(&most))
            .map(|(id, _)| *id)?;
        self.remove(victim)
    }

    fn len(&self) -> usize {
        self.entries.len()
    }
}

/// A gate: connections admitted under [`Caps`].
#[derive(Debug)]
pub struct Gate {
    table: Mutex<Table<oneshot::Sender<()>>>,
}

impl Gate {
    /// An empty gate with `caps`.
    pub fn new(caps: Caps) -> Arc<Self> {
        Arc::new(Self {
            table: Mutex::new(Table::new(caps)),
        })
    }

    /// Admits a connection from `peer`, or names the full cap (the caller closes it). When
    /// this evicts an older connection, that connection's [`Pass::evicted`] completes.
    ///
    /// # Errors
    /// [`Full`]: the connection is not admitted.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Pass, Full> {
        let (sender, evicted) = oneshot::channel();
        let (id, victim) = self.lock().admit(Source::of(peer), sender)?;
        // Dropping the victim's sender (outside the lock) is what tells it.
        drop(victim);
        Ok(Pass {
            gate: Arc::clone(self),
            id,
            evicted,
        })
    }

    /// The connections held now.
    pub fn held(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, Table<oneshot::Sender<()>>> {
        // The table's operations do not panic; a poisoned lock still holds consistent counts.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// An admitted connection's place; released when dropped.
#[derive(Debug)]
pub struct Pass {
    gate: Arc<Gate>,
    id: u64,
    evicted: oneshot::Receiver<()>,
}

impl Pass {
    /// Completes when the connection was evicted to make room for another (it should close).
    pub async fn evicted(&mut self) {
        let _ = (&mut self.evicted).await;
    }
}

impl Drop for Pass {
    fn drop(&mut self) {
        let handle = self.gate.lock().remove(self.id);
        drop(handle);
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn source(last: u8) -> Source {
        Source::of(IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)))
    }

    fn caps(total: usize, per_source: usize) -> Caps {
        Caps { total, per_source }
    }

    fn admit(
        table: &mut Table<&'static str>,
        from: u8,
        name: &'static str,
    ) -> Result<Option<&'static str>, Full> {
        table.admit(source(from), name).map(|(_, evicted)| evicted)
    }

    #[test]
    fn a_source_at_its_cap_is_refused_even_with_room() {
        let mut table = Table::new(caps(10, 2));
        admit(&mut table, 1, "a").unwrap();
        admit(&mut table, 1, "a2").unwrap();
        assert_eq!(admit(&mut table, 1, "a3"), Err(Full::Source));
        assert_eq!(admit(&mut table, 2, "b"), Ok(None));
        assert_eq!(table.len(), 3);
    }

    #[test]
    fn a_newcomer_evicts_the_oldest_of_the_largest_holder_and_no_one_holding_as_little() {
        let mut table = Table::new(caps(4, 4));
        admit(&mut table, 9, "old-small").unwrap();
        admit(&mut table, 1, "flood-1").unwrap();
        admit(&mut table, 1, "flood-2").unwrap();
        admit(&mut table, 1, "flood-3").unwrap();
        // Full. Source 2 holds none; source 1 holds the most: its oldest goes, not source 9's
        // (older, but a smaller holder).
        assert_eq!(admit(&mut table, 2, "kubelet"), Ok(Some("flood-1")));
        assert_eq!(admit(&mut table, 3, "peer"), Ok(Some("flood-2")));
        // Now 9, 1, 2 and 3 hold one each: a fifth source displaces the oldest of them...
        assert_eq!(admit(&mut table, 4, "peer-2"), Ok(Some("old-small")));
        // ...and a source holding one displaces no one holding one.
        assert_eq!(admit(&mut table, 1, "flood-4"), Err(Full::Total));
        assert_eq!(table.len(), 4);
    }

    #[test]
    fn release_is_exact_and_happens_once() {
        let mut table = Table::new(caps(1, 1));
        let (a, _) = table.admit(source(1), "a").unwrap();
        let (b, evicted) = table.admit(source(2), "b").unwrap();
        assert_eq!(evicted, Some("a"));
        // The evicted connection is released later, when its task ends: nothing twice.
        assert_eq!(table.remove(a), None);
        assert_eq!(table.len(), 1);
        assert_eq!(table.remove(b), Some("b"));
        assert_eq!(table.len(), 0);
        assert!(
            table.held.is_empty(),
            "no source is remembered without a connection"
        );
    }

    #[test]
    fn caps_are_a_share_of_the_descriptor_limit() {
        assert_eq!(Caps::status(None), caps(64, 8));
        assert_eq!(Caps::handshakes(None), caps(256, 16));
        assert_eq!(Caps::status(Some(1_048_576)), caps(64, 8));
        assert_eq!(Caps::handshakes(Some(1024)), caps(256, 16));
        // A low limit lowers them: the status port holds at most a sixteenth, handshakes a
        // quarter, never nothing.
        assert_eq!(Caps::status(Some(128)), caps(8, 8));
        assert_eq!(Caps::handshakes(Some(128)), caps(32, 16));
        assert_eq!(Caps::status(Some(3)), caps(1, 1));
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max processes             63459                63459                processes\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(parse_descriptor_limit(limits), Some(1024));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_descriptor_limit(unlimited), None);
        assert!(descriptor_limit().is_some_and(|limit| limit > 0));
    }

    #[test]
    fn sources_group_ipv6_by_64_and_unmap_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::2".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(Source::of(a), Source::of(b));
        assert_ne!(Source::of(a), Source::of(other));
        let mapped: IpAddr = "::ffff:10.0.0.7".parse().unwrap();
        assert_eq!(Source::of(mapped), source(7));
    }

    #[tokio::test]
    async fn an_evicted_connection_is_told_and_every_place_is_released_on_drop() {
        let gate = Gate::new(caps(2, 2));
        let flood: IpAddr = Ipv4Addr::new(192, 0, 2, 1).into();
        let mut first = gate.admit(flood).unwrap();
        let _second = gate.admit(flood).unwrap();
        let mut newcomer = gate.admit(Ipv4Addr::new(192, 0, 2, 2).into()).unwrap();
        first.evicted().await;
        assert!(
            tokio::time::timeout(std::time::Duration::ZERO, newcomer.evicted())
                .await
                .is_err(),
            "the newcomer was not evicted"
        );
        assert_eq!(gate.held(), 2);
        drop(first);
        assert_eq!(gate.held(), 2, "an evicted pass was already released");
        drop(newcomer);
        assert_eq!(gate.held(), 1);
    }
}
