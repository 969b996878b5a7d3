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
//!
//! Both families: when the kernel has IPv6 at all (`/proc/sys/net/ipv6`, or `/proc/net/if_inet6` lists an address),
//! the same rules go into `ip6tables`, and failing to install them fails the start; a dual-stack
//! pod with IPv4 rules only would take IPv6 connections around the proxy.
//!
//! Not intercepted: protocols other than TCP (the mesh carries TCP only; a workload listening
//! on UDP is reachable in plaintext, as with Istio).

use std::io::Write as _;
use std::process::{Command, ExitStatus, Stdio};

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
pub enum RedirectError {
    /// A program could not be started, fed its input or waited for.
    #[error("installing the redirection rules: running {program}")]
    Run {
        /// The program.
        program: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `iptables-restore` (or `ip6tables-restore`) refused the rules.
    #[error("installing the redirection rules: {program} --noflush exited with {status}: {stderr}")]
    Restore {
        /// The program.
        program: &'static str,
        /// How it exited.
        status: ExitStatus,
        /// What it said.
        stderr: String,
    },
    /// Inserting the jump to [`CHAIN`] into `PREROUTING` failed.
    #[error(
        "installing the redirection rules: {program} -I PREROUTING -j {CHAIN} exited with {status}"
    )]
    Jump {
        /// The program.
        program: &'static str,
        /// How it exited.
        status: ExitStatus,
    },
}

/// How `program` exited and what it wrote to stderr, fed `input` when there is one.
fn run(
    program: &'static str,
    args: &[&str],
    input: Option<&str>,
) -> Result<(ExitStatus, String), RedirectError> {
    let failed = |source| RedirectError::Run { program, source };
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(failed)?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(input.as_bytes()).map_err(failed)?;
    }
    let output = child.wait_with_output().map_err(failed)?;
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    Ok((output.status, stderr))
}

/// Whether the current network namespace can have IPv6: the kernel has it (addresses can come
/// later, by autoconfiguration or the host's `UpdateInterface`, so the rules go in whenever they
/// could be needed), or some interface has an address.
pub fn has_ipv6() -> bool {
    std::path::Path::new("/proc/sys/net/ipv6").is_dir()
        || std::fs::read_to_string("/proc/net/if_inet6").is_ok_and(|list| !list.trim().is_empty())
}

/// Installs the rules in the current network namespace (needs `CAP_NET_ADMIN` there), for IPv4
/// and, when the namespace has it, IPv6. Returns whether the IPv6 rules were installed.
///
/// # Errors
/// [`RedirectError`]: a program that cannot run, the rules refused (with what the program
/// said), or the jump not inserted.
pub fn install(ingress_port: u16, exclude: &[u16]) -> Result<bool, RedirectError> {
    let ipv6 = has_ipv6();
    let families: &[(&'static str, &'static str)] = if ipv6 {
        &[
            ("iptables", "iptables-restore"),
            ("ip6tables", "ip6tables-restore"),
        ]
    } else {
        &[("iptables", "iptables-restore")]
    };
    for (tables, restore) in families {
        let (status, stderr) = run(restore, &["--noflush"], Some(&rules(ingress_port, exclude)))?;
        if !status.success() {
            return Err(RedirectError::Restore {
                program: restore,
                status,
                stderr,
            });
        }
        let jump =
            |action: &'static str| ["-t", "nat", action, "PREROUTING", "-p", "tcp", "-j", CHAIN];
        let (present, _) = run(tables, &jump("-C"), None)?;
        if !present.success() {
            let (status, _) = run(tables, &jump("-I"), None)?;
            if !status.success() {
                return Err(RedirectError::Jump {
                    program: tables,
                    status,
                });
            }
        }
    }
    Ok(ipv6)
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
