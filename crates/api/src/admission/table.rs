//! The pure core of admission: counts of connections and of unauthenticated exchanges, in total
//! and per source, and the choice of which exchange to end when the table is full. No IO, no
//! clock: the age of an exchange is its admission order.

use std::collections::{BTreeMap, HashMap};

use super::{Cap, Limits, Occupancy, Source};

/// The admission table. `H` is what a pre-auth entry keeps for its exchange (the shell keeps
/// the sender whose drop tells the exchange it was evicted).
#[derive(Debug)]
pub(super) struct Table<H> {
    limits: Limits,
    next_id: u64,
    connections: usize,
    sources: HashMap<Source, Held>,
    /// Unauthenticated exchanges by admission order (oldest first).
    pre_auth: BTreeMap<u64, (Source, H)>,
}

/// An admitted connection: its pre-auth entry, and the handle of the exchange it displaced.
#[derive(Debug)]
pub(super) struct Admitted<H> {
    pub(super) id: u64,
    pub(super) evicted: Option<H>,
}

/// What one source holds.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Held {
    connections: usize,
    pre_auth: usize,
}

impl<H> Table<H> {
    pub(super) fn new(limits: Limits) -> Self {
        Self {
            limits,
            next_id: 0,
            connections: 0,
            sources: HashMap::new(),
            pre_auth: BTreeMap::new(),
        }
    }

    /// Admits a new connection from `source` into the unauthenticated phase, or names the cap
    /// that is full. When only the global pre-auth cap is full, the oldest exchange of the source
    /// holding the most is evicted for it, provided that source holds more than `source` does:
    /// so a source with no exchange always gets one while another holds several, and a source
    /// never displaces one that holds as many as it does.
    pub(super) fn admit(&mut self, source: Source, handle: H) -> Result<Admitted<H>, Cap> {
        let held = self.sources.get(&source).copied().unwrap_or_default();
        if held.pre_auth >= self.limits.pre_auth_per_source {
            return Err(Cap::SourcePreAuth);
        }
        if held.connections >= self.limits.connections_per_source {
            return Err(Cap::SourceConnections);
        }
        if self.connections >= self.limits.connections {
            return Err(Cap::Connections);
        }
        let evicted = if self.pre_auth.len() >= self.limits.pre_auth {
            Some(self.evict_for(held.pre_auth).ok_or(Cap::PreAuth)?)
        } else {
            None
        };
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.pre_auth.insert(id, (source, handle));
        // Below their caps (checked above), so these never saturate.
        self.connections = self.connections.saturating_add(1);
        let entry = self.sources.entry(source).or_default();
        entry.connections = entry.connections.saturating_add(1);
        entry.pre_auth = entry.pre_auth.saturating_add(1);
        Ok(Admitted { id, evicted })
    }

    /// Ends the unauthenticated phase of exchange `id` (authenticated or failed); returns its
    /// handle, or `None` when it was evicted before.
    pub(super) fn end_pre_auth(&mut self, id: u64) -> Option<H> {
        let (source, handle) = self.pre_auth.remove(&id)?;
        if let Some(held) = self.sources.get_mut(&source) {
            held.pre_auth = held.pre_auth.saturating_sub(1);
        }
        Some(handle)
    }

    /// Closes a connection of `source` (whatever its phase; its pre-auth entry, if any, is
    /// ended first).
    pub(super) fn close(&mut self, source: Source) {
        self.connections = self.connections.saturating_sub(1);
        if let Some(held) = self.sources.get_mut(&source) {
            held.connections = held.connections.saturating_sub(1);
            if held.connections == 0 {
                self.sources.remove(&source);
            }
        }
    }

    pub(super) fn occupancy(&self) -> Occupancy {
        Occupancy {
            pre_auth: self.pre_auth.len(),
            established: self.connections.saturating_sub(self.pre_auth.len()),
        }
    }

    /// Removes the oldest exchange of a source holding the most exchanges, if that is more
    /// than `held`; the victim's connection stays counted until it is closed.
    fn evict_for(&mut self, held: usize) -> Option<H> {
        let most = self.sources.values().map(|held| held.pre_auth).max()?;
        if most <= held {
            return None;
        }
        let victim = self
            .pre_auth
            .iter()
            .find(|(_, (source, _))| {
                self.sources
                    .get(source)
                    .is_some_and(|held| held.pre_auth == most)
            })
            .map(|(id, _)| *id)?;
        self.end_pre_auth(victim)
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::Duration;

    use super::*;

    fn source(last: u8) -> Source {
        Source::of(IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)))
    }

    fn limits(
        connections: usize,
        per_source: usize,
        pre_auth: usize,
        pre_auth_per_source: usize,
    ) -> Limits {
        Limits {
            connections,
            connections_per_source: per_source,
            pre_auth,
            pre_auth_per_source,
            pre_auth_timeout: Duration::from_secs(10),
        }
    }

    /// Admits and returns the entry id, or the cap.
    fn admit(
        table: &mut Table<&'static str>,
        from: u8,
        name: &'static str,
    ) -> Result<(u64, Option<&'static str>), Cap> {
        table
            .admit(source(from), name)
            .map(|admitted| (admitted.id, admitted.evicted))
    }

    #[test]
    fn a_source_at_its_cap_is_refused_even_with_room() {
        let mut table = Table::new(limits(100, 100, 10, 2));
        admit(&mut table, 1, "a").unwrap();
        admit(&mut table, 1, "a2").unwrap();
        assert_eq!(admit(&mut table, 1, "a3"), Err(Cap::SourcePreAuth));
        admit(&mut table, 2, "b").unwrap();
        assert_eq!(
            table.occupancy(),
            Occupancy {
                pre_auth: 3,
                established: 0
            }
        );
    }

    #[test]
    fn the_global_pre_auth_cap_refuses_a_source_holding_as_much_as_anyone() {
        let mut table = Table::new(limits(100, 100, 2, 2));
        admit(&mut table, 1, "a").unwrap();
        admit(&mut table, 2, "b").unwrap();
        // Source 1 holds one, as much as anyone: it displaces no one.
        assert_eq!(admit(&mut table, 1, "a2"), Err(Cap::PreAuth));
        assert_eq!(
            table.occupancy(),
            Occupancy {
                pre_auth: 2,
                established: 0
            }
        );
        // Source 3 holds none: it displaces the oldest of those holding one.
        assert_eq!(admit(&mut table, 3, "c").map(|(_, e)| e), Ok(Some("a")));
    }

    #[test]
    fn a_new_source_evicts_the_oldest_exchange_of_the_largest_holder() {
        let mut table = Table::new(limits(100, 100, 4, 4));
        admit(&mut table, 9, "old-small").unwrap();
        admit(&mut table, 1, "flood-1").unwrap();
        admit(&mut table, 1, "flood-2").unwrap();
        admit(&mut table, 1, "flood-3").unwrap();
        // Full. Source 2 holds none; source 1 holds the most: its oldest goes, not source 9's
        // (older, but a smaller holder).
        let (_, evicted) = admit(&mut table, 2, "initializer").unwrap();
        assert_eq!(evicted, Some("flood-1"));
        let (_, evicted) = admit(&mut table, 3, "initializer-2").unwrap();
        assert_eq!(evicted, Some("flood-2"));
        // Now 9, 1, 2 and 3 hold one each; a fifth source displaces the oldest of them.
        let (_, evicted) = admit(&mut table, 4, "initializer-3").unwrap();
        assert_eq!(evicted, Some("old-small"));
        // Source 1 (one exchange) cannot displace anyone holding one.
        assert_eq!(admit(&mut table, 1, "flood-4"), Err(Cap::PreAuth));
        // The evicted exchanges' connections stay counted until they close.
        assert_eq!(
            table.occupancy(),
            Occupancy {
                pre_auth: 4,
                established: 3
            }
        );
    }

    #[test]
    fn connection_caps_count_both_phases() {
        let mut table = Table::new(limits(3, 2, 10, 10));
        let (a, _) = admit(&mut table, 1, "a").unwrap();
        let (b, _) = admit(&mut table, 1, "b").unwrap();
        assert_eq!(table.end_pre_auth(a), Some("a"));
        assert_eq!(table.end_pre_auth(b), Some("b"));
        assert_eq!(
            table.occupancy(),
            Occupancy {
                pre_auth: 0,
                established: 2
            }
        );
        // Established connections still count against the source's connection cap...
        assert_eq!(admit(&mut table, 1, "c"), Err(Cap::SourceConnections));
        admit(&mut table, 2, "d").unwrap();
        // ...and against the global one.
        assert_eq!(admit(&mut table, 3, "e"), Err(Cap::Connections));
        table.close(source(1));
        admit(&mut table, 3, "e").unwrap();
        assert_eq!(
            table.occupancy(),
            Occupancy {
                pre_auth: 2,
                established: 1
            }
        );
    }

    #[test]
    fn release_is_exact_and_happens_once() {
        let mut table = Table::new(limits(10, 10, 1, 1));
        let (a, _) = admit(&mut table, 1, "a").unwrap();
        let (b, evicted) = admit(&mut table, 2, "b").unwrap();
        assert_eq!(evicted, Some("a"));
        // The evicted exchange ends later, when its task notices: nothing is released twice.
        assert_eq!(table.end_pre_auth(a), None);
        table.close(source(1));
        assert_eq!(
            table.occupancy(),
            Occupancy {
                pre_auth: 1,
                established: 0
            }
        );
        assert_eq!(table.end_pre_auth(b), Some("b"));
        table.close(source(2));
        assert_eq!(table.occupancy(), Occupancy::default());
        assert!(
            table.sources.is_empty(),
            "no source is remembered without a connection"
        );
        // A source's entry is kept while it holds any connection.
        let (c, _) = admit(&mut table, 3, "c").unwrap();
        table.end_pre_auth(c);
        assert_eq!(admit(&mut table, 3, "c2").map(|(_, e)| e), Ok(None));
        assert_eq!(
            table.sources.get(&source(3)).map(|held| held.connections),
            Some(2)
        );
    }

    #[test]
    fn zero_caps_refuse_everything() {
        let mut table = Table::new(limits(10, 10, 0, 10));
        assert_eq!(admit(&mut table, 1, "a"), Err(Cap::PreAuth));
        let mut table = Table::new(limits(0, 10, 10, 10));
        assert_eq!(admit(&mut table, 1, "a"), Err(Cap::Connections));
        assert_eq!(table.occupancy(), Occupancy::default());
    }
}
