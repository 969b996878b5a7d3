//! The one error type of this crate.

#[cfg(feature = "probes")]
use crate::env::MESH_PROBES;

/// A value of the contract that does not parse.
#[derive(Debug, thiserror::Error)]
pub enum PodError {
    /// An annotation entry is malformed (`chiaro.dev/mesh-ingress`, `chiaro.dev/mesh-egress`,
    /// `chiaro.dev/encrypted-volumes`).
    #[error("{annotation}: entry {entry:?}: {fault}")]
    Annotation {
        /// Which annotation.
        annotation: &'static str,
        /// The entry as written.
        entry: String,
        /// What is wrong with it.
        fault: AnnotationFault,
    },
    /// The probe table is not JSON of the shape generate writes.
    #[cfg(feature = "probes")]
    #[error("{MESH_PROBES}: not the probe table chiaro generate writes")]
    ProbeJson {
        /// The JSON parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// An entry of the probe table the proxy would not run.
    #[cfg(feature = "probes")]
    #[error("{MESH_PROBES}: entry {entry:?}: {fault}")]
    Probe {
        /// The entry's status path.
        entry: String,
        /// What is wrong with it.
        fault: ProbeFault,
    },
}

/// What is wrong with one annotation entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnnotationFault {
    /// Too few or too many `#`-separated fields.
    #[error("expected {expected}")]
    Shape {
        /// The entry's syntax.
        expected: &'static str,
    },
    /// A name that is not a DNS label.
    #[error("name {name:?}: use 1-63 of a-z, 0-9 and -")]
    Name {
        /// The name as written.
        name: String,
    },
    /// An ingress port that is not 1-65535.
    #[error("port {port:?}: expected 1-65535")]
    Port {
        /// The port as written.
        port: String,
    },
    /// An ingress TLS field that is neither `true` nor `false`.
    #[error("TLS {value:?}: expected true or false")]
    Tls {
        /// The field as written.
        value: String,
    },
    /// An allow-list on a plaintext port.
    #[error("an allow-list needs TLS: a plaintext port has no peer identity")]
    AllowListWithoutTls,
    /// `*` in an allow-list.
    #[error("`*` is not an identity; leave the list out to accept any mesh certificate")]
    Wildcard,
    /// An ingress name or port used by an earlier entry.
    #[error("name or port already used by entry {with:?}")]
    IngressClash {
        /// The earlier entry's name.
        with: String,
    },
    /// An egress local address that is not `IP:PORT`.
    #[error("local {value:?}: expected IP:PORT")]
    Local {
        /// The field as written.
        value: String,
    },
    /// An egress local address off loopback.
    #[error("local {local}: must be a loopback address (only the workload may use it)")]
    NotLoopback {
        /// The address.
        local: std::net::SocketAddr,
    },
    /// An egress remote that is not `HOST:PORT`.
    #[error("remote {remote:?}: expected HOST:PORT")]
    Remote {
        /// The remote as written.
        remote: String,
    },
    /// An egress SAN that is empty or `*`.
    #[error("SAN {san:?}: name the identity the remote must have")]
    San {
        /// The SAN as written.
        san: String,
    },
    /// An egress name or local address used by an earlier entry.
    #[error("name or local address already used by entry {with:?}")]
    EgressClash {
        /// The earlier entry's name.
        with: String,
    },
    /// An encrypted volume's name that is not a label of at most 52 characters.
    #[error(
        "volume name {name:?}: use 1-52 of a-z, 0-9 and -, starting and ending with a letter or \
         digit"
    )]
    VolumeName {
        /// The name as written.
        name: String,
    },
    /// An encrypted volume listed twice.
    #[error("volume listed twice")]
    VolumeTwice,
}

/// What is wrong with one probe (in the table, or at generate in the pod spec).
#[cfg(feature = "probes")]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeFault {
    /// The status path is not under `/app-health/` or would break the request line.
    #[error("a status path starts with {}", crate::probes::APP_HEALTH_PREFIX)]
    StatusPath,
    /// Neither or both of `httpGet` and `tcpSocket`.
    #[error("exactly one of httpGet and tcpSocket")]
    Action,
    /// Port 0.
    #[error("port 0")]
    PortZero,
    /// An `httpGet` path that would break the request line.
    #[error("httpGet path {path:?} is not a request path")]
    RequestPath {
        /// The path as written.
        path: String,
    },
    /// A header name or value that would break the request.
    #[error("header {name:?} is not a plain HTTP header")]
    Header {
        /// The header's name as written.
        name: String,
    },
}

/// An error and its causes, each once: `outer: cause: its cause`. For messages that carry a
/// whole chain in one line (a probe's answer body, a generate refusal's detail, a binary's last
/// words). A wrapper that prints its source's message as its own and also returns it as its
/// source (tonic's connection errors do) is printed once.
pub fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut previous = text.clone();
    let mut cause = error.source();
    while let Some(source) = cause {
        let message = source.to_string();
        if message != previous {
            text.push_str(": ");
            text.push_str(&message);
        }
        previous = message;
        cause = source.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::with_causes;

    #[derive(Debug, thiserror::Error)]
    #[error("refused")]
    struct Root;

    /// Prints its source's message as its own, as tonic's `ConnectError` does.
    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Forwarding(#[source] Root);

    #[derive(Debug, thiserror::Error)]
    #[error("connecting")]
    struct Outer(#[source] Forwarding);

    #[test]
    fn each_cause_is_printed_once_even_through_a_forwarding_wrapper() {
        assert_eq!(with_causes(&Outer(Forwarding(Root))), "connecting: refused");
    }

    #[test]
    fn distinct_causes_are_all_printed() {
        #[derive(Debug, thiserror::Error)]
        #[error("reading the anchor")]
        struct Top(#[source] std::io::Error);
        let error = Top(std::io::Error::other("no such file"));
        assert_eq!(with_causes(&error), "reading the anchor: no such file");
    }
}
