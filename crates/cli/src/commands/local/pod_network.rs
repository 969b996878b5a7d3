//! Local mode's pod network (as root): every pod gets its own network namespace, joined to the
//! others and to this machine by a bridge in one more namespace, as a CNI plugin would do on a
//! node. The pods' mesh proxies then run as in a cluster (transparent, with the pod's firewall
//! rules), and a plaintext connection to a pod's address really goes around nothing: it meets
//! the proxy or nothing.
//!
//! ```text
//!   this machine 198.18.S.1 ─┐
//!   pod 0        198.18.S.10 ├─ br0 (namespace chiaro-local-PID-net)
//!   pod 1        198.18.S.11 ┘
//! ```
//!
//! The addresses are from 198.18.0.0/15 (RFC 2544, benchmarking; S is a /24 no interface of
//! this machine uses). Nothing outside the new namespaces changes except one veth interface on
//! this machine, which goes with them. Namespaces left by a run that was killed are removed by
//! the next run.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

const PREFIX: &str = "chiaro-local-";

/// The namespaces and links of one run; removed when dropped.
pub(super) struct PodNetwork {
    id: u32,
    subnet: u8,
    pods: usize,
}

/// Why this machine cannot give pods their own namespaces (`None`: it can).
pub(super) fn unavailable() -> Option<String> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0");
    if !root {
        return Some("not root".to_owned());
    }
    // The pods' proxies install IPv6 rules too wherever IPv6 exists.
    let ipv6 = std::fs::read_to_string("/proc/net/if_inet6").is_ok_and(|l| !l.trim().is_empty());
    let tools: &[&str] = if ipv6 {
        &["ip", "iptables-restore", "ip6tables-restore"]
    } else {
        &["ip", "iptables-restore"]
    };
    for tool in tools {
        let found = Command::new(tool)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if !found {
            return Some(format!("`{tool}` is not installed"));
        }
    }
    None
}

fn ip(args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .context("running ip")?;
    if !output.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Held while a run chooses its /24 and puts its address on this machine's link (released when
/// dropped, or when the process dies).
fn subnet_lock() -> anyhow::Result<std::fs::File> {
    let path = Path::new("/run/chiaro-local-network.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    // Another run holds it only while it adds its address; one that holds it longer is stuck.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(std::fs::TryLockError::WouldBlock) => bail!(
                "another chiaro local run has held {} for 60 s while choosing its subnet",
                path.display()
            ),
            Err(std::fs::TryLockError::Error(error)) => {
                return Err(error).with_context(|| format!("locking {}", path.display()));
            }
        }
    }
}

/// Removes the namespaces of runs whose process is gone.
fn remove_stale() {
    let Ok(list) = ip(&["netns", "list"]) else {
        return;
    };
    for name in list
        .lines()
        .filter_map(|line| line.split_whitespace().next())
    {
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or_default();
        if !pid.is_empty() && !Path::new("/proc").join(pid).exists() {
            let _ = ip(&["netns", "del", name]);
        }
    }
}

impl PodNetwork {
    /// The bridge and this machine's link to it; pods come with [`Self::add_pods`].
    pub(super) fn create() -> anyhow::Result<Self> {
        remove_stale();
        // Choosing a free /24 and taking it is one step for all runs on this machine: without
        // the lock, two runs starting together would both see a /24 free and both take it.
        let _choosing = subnet_lock()?;
        let used = ip(&["-4", "-o", "addr", "show"])?;
        let subnet = (1..=254u8)
            .find(|s| !used.contains(&format!("198.18.{s}.")))
            .context("no free /24 in 198.18.0.0/16 for the pod network")?;
        let network = Self {
            id: std::process::id(),
            subnet,
            pods: 0,
        };
        let bridge = network.bridge_namespace();
        ip(&["netns", "add", &bridge])?;
        ip(&["-n", &bridge, "link", "set", "lo", "up"])?;
        ip(&["-n", &bridge, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &bridge, "link", "set", "br0", "up"])?;
        let host = network.link("h");
        network.veth_to_bridge(&host, &network.link("hb"))?;
        let address = format!("{}/24", network.host_address());
        ip(&["addr", "add", &address, "dev", &host])?;
        ip(&["link", "set", &host, "up"])?;
        Ok(network)
    }

    /// A namespace on the bridge for each of `count` pods.
    pub(super) fn add_pods(&mut self, count: usize) -> anyhow::Result<()> {
        if count > 200 {
            bail!("{count} pods: local mode's pod network holds 200");
        }
        for index in self.pods..count {
            let namespace = self.namespace(index);
            ip(&["netns", "add", &namespace])?;
            self.pods = index + 1;
            let inside = self.link(&format!("p{index}"));
            self.veth_to_bridge(&inside, &self.link(&format!("b{index}")))?;
            ip(&["link", "set", &inside, "netns", &namespace])?;
            ip(&["-n", &namespace, "link", "set", &inside, "name", "eth0"])?;
            let address = format!("{}/24", self.pod_address(index));
            ip(&["-n", &namespace, "addr", "add", &address, "dev", "eth0"])?;
            ip(&["-n", &namespace, "link", "set", "eth0", "up"])?;
            ip(&["-n", &namespace, "link", "set", "lo", "up"])?;
        }
        Ok(())
    }

    /// A veth pair on this machine whose `outside` end is plugged into the bridge; `inside`
    /// stays here for the caller to place.
    fn veth_to_bridge(&self, inside: &str, outside: &str) -> anyhow::Result<()> {
        let bridge = self.bridge_namespace();
        ip(&[
            "link", "add", inside, "type", "veth", "peer", "name", outside,
        ])?;
        ip(&["link", "set", outside, "netns", &bridge])?;
        ip(&["-n", &bridge, "link", "set", outside, "master", "br0", "up"])?;
        Ok(())
    }

    fn bridge_namespace(&self) -> String {
        format!("{PREFIX}{}-net", self.id)
    }

    /// The network namespace of pod `index`.
    pub(super) fn namespace(&self, index: usize) -> String {
        format!("{PREFIX}{}-{index}", self.id)
    }

    /// An interface name (at most 15 bytes).
    fn link(&self, suffix: &str) -> String {
        format!("chl{}{suffix}", self.id)
    }

    /// This machine's address on the pod network (the Coordinator listens there).
    pub(super) fn host_address(&self) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, self.subnet, 1)
    }

    /// Pod `index`'s address.
    pub(super) fn pod_address(&self, index: usize) -> Ipv4Addr {
        // add_pods holds at most 200, so this stays below 255.
        Ipv4Addr::new(
            198,
            18,
            self.subnet,
            10u8.saturating_add(u8::try_from(index).unwrap_or(u8::MAX)),
        )
    }

    /// `program` to be run inside pod `index`'s namespace.
    pub(super) fn command(&self, index: usize, program: &Path) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.namespace(index)])
            .arg(program);
        command
    }
}

impl Drop for PodNetwork {
    fn drop(&mut self) {
        for index in 0..self.pods {
            let _ = ip(&["netns", "del", &self.namespace(index)]);
        }
        // The bridge's namespace takes the veth ends in it, and with them their peers.
        let _ = ip(&["netns", "del", &self.bridge_namespace()]);
    }
}
