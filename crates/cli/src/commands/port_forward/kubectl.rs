//! The cluster leg of `chiaro port-forward`: `kubectl port-forward` to the forwarder
//! `chiaro install` deploys (a child process for as long as the forward runs), and the pod's
//! address from `kubectl get pod`. Both are the host's answers: routing only, never trusted.

use std::io::BufRead as _;
use std::net::IpAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::channel;
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::commands::install::FORWARDER;

/// How long `kubectl port-forward` may take to say where it listens.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `kubectl port-forward` to the forwarder: killed and waited for when dropped.
pub(crate) struct KubectlForward {
    child: Child,
    /// Where it listens here.
    pub(crate) address: String,
}

impl Drop for KubectlForward {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `kubectl port-forward -n NAMESPACE deployment/chiaro-forwarder :PORT` on loopback
/// and waits for the line that says where it listens.
pub(crate) fn forward_to_forwarder(
    kubectl: &str,
    namespace: &str,
) -> anyhow::Result<KubectlForward> {
    let mut child = Command::new(kubectl)
        .args(["port-forward", "-n", namespace])
        .arg(format!("deployment/{FORWARDER}"))
        .arg(format!(":{}", chiaro_forwarder::PORT))
        .args(["--address", "127.0.0.1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| {
            format!("running {kubectl} port-forward (is kubectl installed? --kubectl names it)")
        })?;
    let stdout = child.stdout.take().context("kubectl's output")?;
    let (send, receive) = channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let found = listening_port(&line);
            if let Some(port) = found
                && send.send(port).is_err()
            {
                break;
            }
        }
    });
    let mut forward = KubectlForward {
        child,
        address: String::new(),
    };
    match receive.recv_timeout(START_TIMEOUT) {
        Ok(port) => {
            forward.address = format!("127.0.0.1:{port}");
            Ok(forward)
        }
        Err(_) => {
            let exited = forward.child.try_wait().ok().flatten();
            match exited {
                Some(status) => bail!(
                    "{kubectl} port-forward to deployment/{FORWARDER} in namespace {namespace} \
                     ended ({status}) before it listened: is Chiaro installed there (chiaro \
                     install), or pass --forwarder"
                ),
                None => bail!(
                    "{kubectl} port-forward to deployment/{FORWARDER} did not say where it \
                     listens within {START_TIMEOUT:?}"
                ),
            }
        }
    }
}

/// The local port of a `kubectl port-forward` line `Forwarding from 127.0.0.1:PORT -> 15100`.
fn listening_port(line: &str) -> Option<u16> {
    let rest = line.strip_prefix("Forwarding from 127.0.0.1:")?;
    let (port, target) = rest.split_once(" -> ")?;
    (target.trim() == chiaro_forwarder::PORT.to_string())
        .then(|| port.parse().ok())
        .flatten()
}

/// The pod's IP address as the cluster reports it (`kubectl get pod`).
pub(crate) fn pod_ip(kubectl: &str, pod: &str, namespace: &str) -> anyhow::Result<IpAddr> {
    let output = Command::new(kubectl)
        .args([
            "get",
            "pod",
            pod,
            "-n",
            namespace,
            "-o",
            "jsonpath={.status.podIP}",
        ])
        .stdin(Stdio::null())
        .output()
        .with_context(|| {
            format!("running {kubectl} get pod (is kubectl installed? --kubectl names it)")
        })?;
    if !output.status.success() {
        bail!(
            "{kubectl} get pod {pod} -n {namespace}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&output.stdout);
    text.trim().parse().with_context(|| {
        format!("{kubectl} get pod {pod} -n {namespace}: {text:?} is not an IP address (is the pod running?)")
    })
}

#[cfg(test)]
mod tests {
    use super::listening_port;

    #[test]
    fn kubectls_forwarding_line_gives_the_local_port() {
        assert_eq!(
            listening_port("Forwarding from 127.0.0.1:43567 -> 15100"),
            Some(43567)
        );
        for other in [
            "Forwarding from [::1]:43567 -> 15100",
            "Forwarding from 127.0.0.1:43567 -> 8080",
            "Handling connection for 43567",
            "Forwarding from 127.0.0.1:x -> 15100",
        ] {
            assert_eq!(listening_port(other), None, "{other}");
        }
    }
}
