//! What the proxy counts, and its Prometheus text exposition (`GET /metrics` on the status
//! port): connections forwarded and refused (by side and [`Refusal`]), connections open, bytes
//! to and from the workload, failed accepts, and the TLS handshake latency. Counting is a few
//! relaxed atomic additions per connection and per write; rendering is pure.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Which listener a connection came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Inbound, from another pod (or anyone, on a plaintext port).
    Ingress,
    /// Outbound, from the workload to a named peer.
    Egress,
    /// The status port (the kubelet's probes, metrics).
    Status,
}

impl Side {
    /// Every side, in the order they are exposed.
    pub const ALL: [Self; 3] = [Self::Ingress, Self::Egress, Self::Status];

    /// Its name in logs and labels.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Ingress => "ingress",
            Self::Egress => "egress",
            Self::Status => "status",
        }
    }

    const fn index(self) -> usize {
        match self {
            Self::Ingress => 0,
            Self::Egress => 1,
            Self::Status => 2,
        }
    }
}

/// Why a connection was refused: the label of `chiaro_mesh_refusals_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The admission gates were full, or the connection was evicted for another source.
    Capacity,
    /// No worker thread took the connection.
    Worker,
    /// Ingress: not to be forwarded (not redirected, loopback, another host, the proxy's own
    /// port, an egress listener).
    NotForwarded,
    /// The TLS handshake failed (no or a bad certificate, another CA, bad records).
    Handshake,
    /// No TLS handshake within the deadline.
    HandshakeTimeout,
    /// Ingress: the peer's certificate is not one the entry's allow-list admits.
    NotAllowed,
    /// Ingress: the workload does not listen on the port.
    WorkloadUnreachable,
    /// Egress: the remote could not be connected to.
    RemoteUnreachable,
    /// Egress: the entry's SAN is not a name to check.
    BadName,
}

impl Refusal {
    /// Every reason, in the order they are exposed.
    pub const ALL: [Self; 9] = [
        Self::Capacity,
        Self::Worker,
        Self::NotForwarded,
        Self::Handshake,
        Self::HandshakeTimeout,
        Self::NotAllowed,
        Self::WorkloadUnreachable,
        Self::RemoteUnreachable,
        Self::BadName,
    ];

    /// Its label value.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Capacity => "capacity",
            Self::Worker => "worker",
            Self::NotForwarded => "not_forwarded",
            Self::Handshake => "handshake",
            Self::HandshakeTimeout => "handshake_timeout",
            Self::NotAllowed => "not_allowed",
            Self::WorkloadUnreachable => "workload_unreachable",
            Self::RemoteUnreachable => "remote_unreachable",
            Self::BadName => "bad_name",
        }
    }

    const fn index(self) -> usize {
        match self {
            Self::Capacity => 0,
            Self::Worker => 1,
            Self::NotForwarded => 2,
            Self::Handshake => 3,
            Self::HandshakeTimeout => 4,
            Self::NotAllowed => 5,
            Self::WorkloadUnreachable => 6,
            Self::RemoteUnreachable => 7,
            Self::BadName => 8,
        }
    }
}

/// The upper bounds of the handshake latency buckets, in seconds (`+Inf` follows).
pub const HANDSHAKE_BUCKETS: [f64; 10] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 10.0,
];

/// A latency histogram with [`HANDSHAKE_BUCKETS`].
#[derive(Debug, Default)]
struct Histogram {
    /// Non-cumulative: the observations in each bucket, the last for `+Inf`.
    buckets: [AtomicU64; HANDSHAKE_BUCKETS.len() + 1],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    fn observe(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        let bucket = HANDSHAKE_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(HANDSHAKE_BUCKETS.len());
        if let Some(counter) = self.buckets.get(bucket) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}

/// Every counter of one proxy.
#[derive(Debug, Default)]
pub struct Metrics {
    accepted: [AtomicU64; 3],
    refused: [[AtomicU64; Refusal::ALL.len()]; 3],
    /// Per side: bytes to the workload, bytes from it.
    bytes: [[AtomicU64; 2]; 3],
    handshakes: [Histogram; 3],
    pub(crate) accept_failures: AtomicU64,
    pub(crate) open: AtomicU64,
}

impl Metrics {
    pub(crate) fn accepted(&self, side: Side) {
        if let Some(counter) = self.accepted.get(side.index()) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn refused(&self, side: Side, reason: Refusal) {
        if let Some(counter) = self
            .refused
            .get(side.index())
            .and_then(|reasons| reasons.get(reason.index()))
        {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The counters of bytes `side` moves to the workload and from it.
    pub(crate) fn bytes(&self, side: Side) -> Option<&[AtomicU64; 2]> {
        self.bytes.get(side.index())
    }

    pub(crate) fn handshake(&self, side: Side, took: Duration) {
        if let Some(histogram) = self.handshakes.get(side.index()) {
            histogram.observe(took);
        }
    }

    /// Connections forwarded so far, on every side.
    pub fn accepted_total(&self) -> u64 {
        self.accepted
            .iter()
            .map(|counter| counter.load(Ordering::Relaxed))
            .fold(0, u64::saturating_add)
    }

    /// Connections refused so far, on every side and for every reason.
    pub fn refused_total(&self) -> u64 {
        self.refused
            .iter()
            .flatten()
            .map(|counter| counter.load(Ordering::Relaxed))
            .fold(0, u64::saturating_add)
    }

    /// Connections refused so far by `side` for `reason`.
    pub fn refusals(&self, side: Side, reason: Refusal) -> u64 {
        self.refused
            .get(side.index())
            .and_then(|reasons| reasons.get(reason.index()))
            .map_or(0, |counter| counter.load(Ordering::Relaxed))
    }

    /// The Prometheus text exposition (version 0.0.4).
    pub fn render(&self) -> String {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let mut out = String::new();
        write_family(
            &mut out,
            "chiaro_mesh_connections_accepted_total",
            "counter",
            "Connections forwarded, by side.",
        );
        let mut lines = Vec::new();
        for side in [Side::Ingress, Side::Egress] {
            if let Some(counter) = self.accepted.get(side.index()) {
                lines.push(format!(
                    "chiaro_mesh_connections_accepted_total{{side=\"{}\"}} {}",
                    side.name(),
                    load(counter)
                ));
            }
        }
        out.push_str(&join(&lines));
        write_family(
            &mut out,
            "chiaro_mesh_refusals_total",
            "counter",
            "Connections refused, by side and reason.",
        );
        let mut lines = Vec::new();
        for side in Side::ALL {
            for reason in Refusal::ALL {
                lines.push(format!(
                    "chiaro_mesh_refusals_total{{side=\"{}\",reason=\"{}\"}} {}",
                    side.name(),
                    reason.name(),
                    self.refusals(side, reason)
                ));
            }
        }
        out.push_str(&join(&lines));
        write_family(
            &mut out,
            "chiaro_mesh_open_connections",
            "gauge",
            "Connections open now (ingress and egress).",
        );
        out.push_str(&format!(
            "chiaro_mesh_open_connections {}\n",
            load(&self.open)
        ));
        write_family(
            &mut out,
            "chiaro_mesh_bytes_total",
            "counter",
            "Bytes moved, by side and direction relative to the workload.",
        );
        let mut lines = Vec::new();
        for side in [Side::Ingress, Side::Egress] {
            if let Some([to, from]) = self.bytes.get(side.index()) {
                for (direction, counter) in [("to_workload", to), ("from_workload", from)] {
                    lines.push(format!(
                        "chiaro_mesh_bytes_total{{side=\"{}\",direction=\"{direction}\"}} {}",
                        side.name(),
                        load(counter)
                    ));
                }
            }
        }
        out.push_str(&join(&lines));
        write_family(
            &mut out,
            "chiaro_mesh_accept_failures_total",
            "counter",
            "Failed accepts on every listener.",
        );
        out.push_str(&format!(
            "chiaro_mesh_accept_failures_total {}\n",
            load(&self.accept_failures)
        ));
        write_family(
            &mut out,
            "chiaro_mesh_tls_handshake_seconds",
            "histogram",
            "TLS handshake latency of forwarded and refused connections, by side.",
        );
        for side in [Side::Ingress, Side::Egress] {
            let Some(histogram) = self.handshakes.get(side.index()) else {
                continue;
            };
            let mut cumulative = 0u64;
            for (index, bucket) in histogram.buckets.iter().enumerate() {
                cumulative = cumulative.saturating_add(load(bucket));
                let bound = HANDSHAKE_BUCKETS
                    .get(index)
                    .map_or_else(|| "+Inf".to_owned(), f64::to_string);
                out.push_str(&format!(
                    "chiaro_mesh_tls_handshake_seconds_bucket{{side=\"{}\",le=\"{bound}\"}} {cumulative}\n",
                    side.name()
                ));
            }
            let sum = Duration::from_micros(load(&histogram.sum_micros)).as_secs_f64();
            out.push_str(&format!(
                "chiaro_mesh_tls_handshake_seconds_sum{{side=\"{}\"}} {sum}\n\
                 chiaro_mesh_tls_handshake_seconds_count{{side=\"{}\"}} {}\n",
                side.name(),
                side.name(),
                load(&histogram.count)
            ));
        }
        out
    }
}

fn write_family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn join(lines: &[String]) -> String {
    let mut text = lines.join("\n");
    text.push('\n');
    text
}
