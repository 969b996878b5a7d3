//! Transparent ingress: firewall rules in the pod's network namespace that send every inbound
//! TCP connection to the proxy's ingress port, whatever port it was addressed to (the proxy
//! reads the original port with `SO_ORIGINAL_DST`).
//!
//! The rules are installed before the proxy listens: until it does, a redirected connection
//! finds nothing and is refused, so there is never a path to the workload that bypasses the
//! proxy (fail closed); if the proxy dies the rules stay. Only new inbound connections are
//! redirected (`nat PREROUTING`): the proxy's own connections — to the workload over loopback
//! and outbound to other pods, with their replies — never pass that chain, so they need no
//! exemption by uid or mark. Ports listed as excluded (the proxy's status port, for the
//! kubelet's probes) are left alone.

use std::io::Write as _;
use std::process::{Command, Stdio};

/// The chain Chiaro owns in the `nat` table.
pub const CHAIN: &str = "CHIARO_INBOUND";

/// The `iptables-restore --noflush` input for redirecting to `ingress_port`, except `exclude`.
/// Declaring the chain flushes it, so installing twice leaves one copy of each rule.
pub fn rules(ingress_port: u16, exclude: &[u16]) -> String {
    let mut text = format!("*nat\n:{CHAIN} - [0:0]\n");
    for port in exclude {
        text.push_str(&format!("-A {CHAIN} -p tcp --dport {port} -j RETURN\n"));
    }
    text.push_str(&format!(
        "-A {CHAIN} -p tcp -j REDIRECT --to-ports {ingress_port}\nCOMMIT\n"
    ));
    text
}

/// What failed installing the rules.
#[derive(Debug, thiserror::Error)]
#[error("installing the redirection rules: {0}")]
pub struct RedirectError(String);

fn run(program: &str, args: &[&str], input: Option<&str>) -> Result<bool, RedirectError> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| RedirectError(format!("{program}: {e}")))?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| RedirectError(format!("{program}: {e}")))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| RedirectError(format!("{program}: {e}")))?;
    if input.is_some() && !output.status.success() {
        return Err(RedirectError(format!(
            "{program}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(output.status.success())
}

/// Installs the rules in the current network namespace (needs `CAP_NET_ADMIN` there).
///
/// # Errors
/// [`RedirectError`] with what `iptables` said.
pub fn install(ingress_port: u16, exclude: &[u16]) -> Result<(), RedirectError> {
    run(
        "iptables-restore",
        &["--noflush"],
        Some(&rules(ingress_port, exclude)),
    )?;
    let jump = |action: &'static str| ["-t", "nat", action, "PREROUTING", "-p", "tcp", "-j", CHAIN];
    let present = run("iptables", &jump("-C"), None)?;
    if !present {
        let installed = run("iptables", &jump("-I"), None)?;
        if !installed {
            return Err(RedirectError(format!(
                "iptables -I PREROUTING -j {CHAIN} failed"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_inbound_port_but_the_excluded_goes_to_the_proxy() {
        assert_eq!(
            rules(15006, &[15021]),
            "*nat\n:CHIARO_INBOUND - [0:0]\n-A CHIARO_INBOUND -p tcp --dport 15021 -j RETURN\n-A CHIARO_INBOUND -p tcp -j REDIRECT --to-ports 15006\nCOMMIT\n"
        );
    }
}
