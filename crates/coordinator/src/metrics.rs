//! Counters for the Prometheus endpoint.

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chiaro_api::admission::{Admission, Cap, ListenerEvent};

/// Outcome counters of the Coordinator's operations and listeners.
#[derive(Debug)]
pub struct Metrics {
    set_manifest_ok: AtomicU64,
    set_manifest_refused: AtomicU64,
    new_mesh_cert_ok: AtomicU64,
    new_mesh_cert_refused: AtomicU64,
    recover_ok: AtomicU64,
    recover_refused: AtomicU64,
    owner_client_cert_ok: AtomicU64,
    owner_client_cert_refused: AtomicU64,
    /// User API, mesh API, status port.
    listeners: [ListenerCounters; 3],
    user: Arc<Admission>,
    mesh: Arc<Admission>,
}

/// What one listener counts.
#[derive(Debug, Default)]
struct ListenerCounters {
    attestation_refused: AtomicU64,
    /// In the order of [`Cap::ALL`].
    over_cap: [AtomicU64; 4],
    evicted: AtomicU64,
    accept_errors: AtomicU64,
    accept_pauses: AtomicU64,
}

/// An operation whose outcome is counted.
#[derive(Debug, Clone, Copy)]
pub enum Operation {
    /// `SetManifest`.
    SetManifest,
    /// `NewMeshCert`.
    NewMeshCert,
    /// `Recover`.
    Recover,
    /// `NewOwnerClientCert`.
    NewOwnerClientCert,
}

/// One of the Coordinator's listeners.
#[derive(Debug, Clone, Copy)]
pub enum Api {
    /// The user API.
    User,
    /// The mesh API.
    Mesh,
    /// The plain-HTTP status port.
    Status,
}

impl Api {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Mesh => "mesh",
            Self::Status => "status",
        }
    }
}

impl Metrics {
    /// Counters at zero; the gauges of the attested listeners read `user` and `mesh`.
    pub fn new(user: Arc<Admission>, mesh: Arc<Admission>) -> Self {
        Self {
            set_manifest_ok: AtomicU64::new(0),
            set_manifest_refused: AtomicU64::new(0),
            new_mesh_cert_ok: AtomicU64::new(0),
            new_mesh_cert_refused: AtomicU64::new(0),
            recover_ok: AtomicU64::new(0),
            recover_refused: AtomicU64::new(0),
            owner_client_cert_ok: AtomicU64::new(0),
            owner_client_cert_refused: AtomicU64::new(0),
            listeners: Default::default(),
            user,
            mesh,
        }
    }

    /// Counts one outcome of `operation`.
    pub fn count(&self, operation: Operation, ok: bool) {
        let counter = match (operation, ok) {
            (Operation::SetManifest, true) => &self.set_manifest_ok,
            (Operation::SetManifest, false) => &self.set_manifest_refused,
            (Operation::NewMeshCert, true) => &self.new_mesh_cert_ok,
            (Operation::NewMeshCert, false) => &self.new_mesh_cert_refused,
            (Operation::Recover, true) => &self.recover_ok,
            (Operation::Recover, false) => &self.recover_refused,
            (Operation::NewOwnerClientCert, true) => &self.owner_client_cert_ok,
            (Operation::NewOwnerClientCert, false) => &self.owner_client_cert_refused,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts what a listener reported; returns the new count of that kind of event (for logs
    /// that thin out under a flood).
    pub fn listener_event(&self, api: Api, event: &ListenerEvent) -> u64 {
        let listener = self.listener(api);
        let counter = match event {
            ListenerEvent::NotAttested { .. } => &listener.attestation_refused,
            ListenerEvent::OverCap { cap, .. } => {
                let [connections, source_connections, pre_auth, source_pre_auth] =
                    &listener.over_cap;
                match cap {
                    Cap::Connections => connections,
                    Cap::SourceConnections => source_connections,
                    Cap::PreAuth => pre_auth,
                    Cap::SourcePreAuth => source_pre_auth,
                }
            }
            ListenerEvent::Evicted { .. } => &listener.evicted,
            ListenerEvent::AcceptFailed { pause, .. } => {
                if pause.is_some() {
                    listener.accept_pauses.fetch_add(1, Ordering::Relaxed);
                }
                &listener.accept_errors
            }
        };
        // The new value: `fetch_add` wraps, so the count it returns does too.
        counter.fetch_add(1, Ordering::Relaxed).wrapping_add(1)
    }

    fn listener(&self, api: Api) -> &ListenerCounters {
        let [user, mesh, status] = &self.listeners;
        match api {
            Api::User => user,
            Api::Mesh => mesh,
            Api::Status => status,
        }
    }

    /// The Prometheus text exposition, with the current state as a gauge.
    pub fn render(&self, state: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP chiaro_coordinator_state The Coordinator's state (1 for the current one)."
        );
        let _ = writeln!(out, "# TYPE chiaro_coordinator_state gauge");
        for name in ["uninitialized", "recovery", "ready"] {
            let _ = writeln!(
                out,
                "chiaro_coordinator_state{{state=\"{name}\"}} {}",
                u8::from(name == state)
            );
        }
        let _ = writeln!(
            out,
            "# HELP chiaro_coordinator_operations_total Operations by outcome."
        );
        let _ = writeln!(out, "# TYPE chiaro_coordinator_operations_total counter");
        for (operation, ok, counter) in [
            ("set_manifest", "ok", &self.set_manifest_ok),
            ("set_manifest", "refused", &self.set_manifest_refused),
            ("new_mesh_cert", "ok", &self.new_mesh_cert_ok),
            ("new_mesh_cert", "refused", &self.new_mesh_cert_refused),
            ("recover", "ok", &self.recover_ok),
            ("recover", "refused", &self.recover_refused),
            ("new_owner_client_cert", "ok", &self.owner_client_cert_ok),
            (
                "new_owner_client_cert",
                "refused",
                &self.owner_client_cert_refused,
            ),
        ] {
            let _ = writeln!(
                out,
                "chiaro_coordinator_operations_total{{operation=\"{operation}\",outcome=\"{ok}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP chiaro_coordinator_attestation_refused_total Connections refused by attested TLS."
        );
        let _ = writeln!(
            out,
            "# TYPE chiaro_coordinator_attestation_refused_total counter"
        );
        for api in [Api::User, Api::Mesh] {
            let _ = writeln!(
                out,
                "chiaro_coordinator_attestation_refused_total{{api=\"{}\"}} {}",
                api.label(),
                self.listener(api)
                    .attestation_refused
                    .load(Ordering::Relaxed)
            );
        }
        self.render_listeners(&mut out);
        out
    }

    fn render_listeners(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP chiaro_coordinator_connections Open connections of an attested listener: pre_auth (TLS handshake or attestation exchange under way) or established."
        );
        let _ = writeln!(out, "# TYPE chiaro_coordinator_connections gauge");
        for (api, admission) in [(Api::User, &self.user), (Api::Mesh, &self.mesh)] {
            let occupancy = admission.occupancy();
            for (phase, count) in [
                ("pre_auth", occupancy.pre_auth),
                ("established", occupancy.established),
            ] {
                let _ = writeln!(
                    out,
                    "chiaro_coordinator_connections{{api=\"{}\",phase=\"{phase}\"}} {count}",
                    api.label()
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP chiaro_coordinator_connections_refused_total Connections closed at once because a cap was full (reason: the cap)."
        );
        let _ = writeln!(
            out,
            "# TYPE chiaro_coordinator_connections_refused_total counter"
        );
        for api in [Api::User, Api::Mesh, Api::Status] {
            for (cap, counter) in Cap::ALL.iter().zip(&self.listener(api).over_cap) {
                // The status port has one cap: its connections.
                if matches!(api, Api::Status) && *cap != Cap::Connections {
                    continue;
                }
                let _ = writeln!(
                    out,
                    "chiaro_coordinator_connections_refused_total{{api=\"{}\",reason=\"{}\"}} {}",
                    api.label(),
                    cap.label(),
                    counter.load(Ordering::Relaxed)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP chiaro_coordinator_pre_auth_evicted_total Unauthenticated exchanges ended to make room for a source holding fewer."
        );
        let _ = writeln!(
            out,
            "# TYPE chiaro_coordinator_pre_auth_evicted_total counter"
        );
        for api in [Api::User, Api::Mesh] {
            let _ = writeln!(
                out,
                "chiaro_coordinator_pre_auth_evicted_total{{api=\"{}\"}} {}",
                api.label(),
                self.listener(api).evicted.load(Ordering::Relaxed)
            );
        }
        for (name, help, field) in [
            (
                "accept_errors_total",
                "Failed accepts of a listener.",
                (|l: &ListenerCounters| &l.accept_errors) as fn(&ListenerCounters) -> &AtomicU64,
            ),
            (
                "accept_pauses_total",
                "Pauses of a listener's accept loop after a failed accept (descriptors or memory exhausted).",
                |l: &ListenerCounters| &l.accept_pauses,
            ),
        ] {
            let _ = writeln!(out, "# HELP chiaro_coordinator_{name} {help}");
            let _ = writeln!(out, "# TYPE chiaro_coordinator_{name} counter");
            for api in [Api::User, Api::Mesh, Api::Status] {
                let _ = writeln!(
                    out,
                    "chiaro_coordinator_{name}{{api=\"{}\"}} {}",
                    api.label(),
                    field(self.listener(api)).load(Ordering::Relaxed)
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chiaro_api::admission::Limits;

    use super::*;

    #[test]
    fn listener_events_are_rendered_per_listener_and_reason() {
        let metrics = Metrics::new(
            Admission::new(Limits::DEFAULT),
            Admission::new(Limits::DEFAULT),
        );
        let address = "192.0.2.1:4000".parse().unwrap();
        let over = |cap| ListenerEvent::OverCap { address, cap };
        assert_eq!(
            metrics.listener_event(Api::Mesh, &over(Cap::SourcePreAuth)),
            1
        );
        assert_eq!(
            metrics.listener_event(Api::Mesh, &over(Cap::SourcePreAuth)),
            2
        );
        metrics.listener_event(Api::Status, &over(Cap::Connections));
        metrics.listener_event(Api::User, &ListenerEvent::Evicted { address });
        let failed = |pause| ListenerEvent::AcceptFailed {
            error: std::io::Error::from_raw_os_error(24),
            pause,
        };
        metrics.listener_event(Api::User, &failed(Some(Duration::from_millis(10))));
        metrics.listener_event(Api::User, &failed(None));
        let text = metrics.render("ready");
        for expected in [
            "chiaro_coordinator_connections_refused_total{api=\"mesh\",reason=\"source_pre_auth\"} 2",
            "chiaro_coordinator_connections_refused_total{api=\"mesh\",reason=\"pre_auth\"} 0",
            "chiaro_coordinator_connections_refused_total{api=\"status\",reason=\"connections\"} 1",
            "chiaro_coordinator_pre_auth_evicted_total{api=\"user\"} 1",
            "chiaro_coordinator_accept_errors_total{api=\"user\"} 2",
            "chiaro_coordinator_accept_pauses_total{api=\"user\"} 1",
            "chiaro_coordinator_connections{api=\"mesh\",phase=\"pre_auth\"} 0",
        ] {
            assert!(text.contains(expected), "{expected} missing from\n{text}");
        }
        assert!(!text.contains("api=\"status\",reason=\"pre_auth\""));
    }
}
