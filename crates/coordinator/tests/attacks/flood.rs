//! Load before authentication (`docs/atls.md`): the host, which is the network, opens
//! connections that never authenticate, from many addresses, until the Coordinator runs out of
//! what it gives them; real initializers and `chiaro verify` must still get through.
//!
//! Flood connections come from other loopback addresses (127.0.0.2, ...) than the real clients
//! (127.0.0.1), as distinct sources.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::net::TcpSocket;

use crate::harness::{Deployment, WEB, http_get, metric, ok, ok_process, owner_keys};

/// A guard against hanging, not a timing assertion: every wait below is for an event.
const PATIENCE: Duration = Duration::from_secs(120);

#[test]
fn attack_idle_connection_flood_does_not_starve_initializers() {
    let mut deployment = Deployment::new();
    // Fewer descriptors than the flood's connections: a listener without caps runs out of them.
    // The long deadline keeps the flood in place for the whole test, however slow the machine.
    deployment.descriptor_limit = Some(512);
    deployment.coordinator_flags = flags(&["--pre-auth-timeout-secs", "600"]);
    let manifest = set_up(&mut deployment);

    let others: Vec<u8> = (3..=32).collect();
    let mut flood = Vec::new();
    let mut sizes = Vec::new();
    for target in [deployment.mesh_api, deployment.user_api] {
        // One address far over its per-source cap (8), then thirty far over the global one (128).
        let before = flood.len();
        flood.extend(idle_connections(target, &[2], 20));
        flood.extend(idle_connections(target, &others, 300));
        sizes.push(u64::try_from(flood.len() - before).unwrap());
    }
    // Every connection completed: the Coordinator kept accepting (it never ran out of
    // descriptors, as a listener without caps does here).
    assert_eq!(sizes, [320, 320]);
    let flooded = wait_for_metrics(&mut deployment, "every flood connection seen", |text| {
        ["mesh", "user"].iter().all(|api| seen(text, api) == 320)
    });
    for api in ["mesh", "user"] {
        assert_eq!(
            value(&flooded, &pre_auth(api)),
            128,
            "the flood holds every unauthenticated place of the {api} API"
        );
        assert_eq!(value(&flooded, &refused(api, "source_pre_auth")), 12);
    }

    // The real clients come while the flood holds the tables.
    ok_process(&deployment.initializer(WEB, "tee.json", "web", "20"));
    ok(&deployment.chiaro(&[
        "verify",
        "-m",
        manifest.to_str().unwrap(),
        "--out",
        deployment.path("verify").to_str().unwrap(),
    ]));
    assert!(deployment.path("web/tls/cert.pem").exists());
    let after = metrics(&deployment);
    for api in ["mesh", "user"] {
        assert!(
            value(&after, &evicted(api)) > value(&flooded, &evicted(api)),
            "the {api} API let its real client in by ending a flood exchange:\n{after}"
        );
    }
    drop(flood);
    std::fs::remove_dir_all(&deployment.dir).unwrap();
}

#[test]
fn attack_descriptor_exhaustion_backs_off() {
    let mut deployment = Deployment::new();
    // Far fewer descriptors than the caps allow connections, so the flood exhausts them; the
    // long deadline keeps it in place (nothing frees a descriptor until it ends).
    deployment.descriptor_limit = Some(64);
    deployment.coordinator_flags =
        flags(&["--pre-auth-timeout-secs", "600", "--log-format", "json"]);
    let (log, lines) = mpsc::channel();
    deployment.log = Some(log);
    set_up(&mut deployment);

    // 120 idle connections from 40 addresses, 3 each (under every cap): the Coordinator takes
    // about 50 before it has no descriptor left; the rest wait in the listen queue (128 long),
    // so every accept fails with EMFILE.
    let sources: Vec<u8> = (2..=41).collect();
    let flood = idle_connections(deployment.mesh_api, &sources, 120);
    let mut failures = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the mesh API's accept loop never reached its longest pause (1 s)");
        let line: AcceptLine = serde_json::from_str(&line).unwrap();
        if line.listener.as_deref() == Some("mesh")
            && let Some(pause) = line.pause.clone()
        {
            // A descriptor freed meanwhile (another connection of the test closing) lets one
            // accept through, which resets the backoff: count the failures in a row since.
            if pause == "10ms" {
                failures.clear();
            }
            failures.push(line);
            if pause == "1s" {
                break;
            }
        }
    }
    assert!(
        failures.iter().all(|line| line
            .error
            .as_deref()
            .is_some_and(|e| e.contains("os error 24"))),
        "{failures:#?}"
    );
    // Pauses of 10, 20, ..., 640 ms, then 1 s: the eighth failure in a row. A loop retrying at
    // once fails thousands of times meanwhile.
    assert_eq!(failures.len(), 8, "{failures:#?}");

    drop(flood);
    ok_process(&deployment.initializer(WEB, "tee.json", "web", "30"));
    let text = metrics(&deployment);
    let errors = value(
        &text,
        "chiaro_coordinator_accept_errors_total{api=\"mesh\"}",
    );
    let pauses = value(
        &text,
        "chiaro_coordinator_accept_pauses_total{api=\"mesh\"}",
    );
    assert!(pauses >= 8 && errors >= pauses, "{text}");
    std::fs::remove_dir_all(&deployment.dir).unwrap();
}

/// The fields of a failed accept's log line (`--log-format json`).
#[derive(Debug, Clone, serde::Deserialize)]
struct AcceptLine {
    listener: Option<String>,
    pause: Option<String>,
    error: Option<String>,
}

fn flags(flags: &[&str]) -> Vec<String> {
    flags.iter().map(|flag| (*flag).to_owned()).collect()
}

/// Starts the Coordinator and installs a manifest with the `WEB` policy; returns its path.
fn set_up(deployment: &mut Deployment) -> std::path::PathBuf {
    let (owner_digest, share_owner) = owner_keys(deployment);
    let manifest = deployment.manifest("manifest.json", "web", &owner_digest, &share_owner);
    deployment.start_coordinator();
    ok(&deployment.set(&manifest, "owner.pem"));
    manifest
}

/// Up to `count` TCP connections to `target` that send nothing, the i-th from
/// 127.0.0.`sources[i % sources.len()]`, made one after the other (so the Coordinator sees them
/// in this order). Like an attacker, it gives up on a connection the kernel does not complete
/// within 5 s (the listen queue stays full: a Coordinator out of descriptors no longer accepts;
/// a busy one drains its queue long before) and goes on with the next.
fn idle_connections(target: SocketAddr, sources: &[u8], count: usize) -> Vec<std::net::TcpStream> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut held = Vec::with_capacity(count);
        for from in sources.iter().cycle().take(count) {
            let socket = TcpSocket::new_v4().unwrap();
            socket
                .bind(SocketAddr::new(
                    IpAddr::V4(Ipv4Addr::new(127, 0, 0, *from)),
                    0,
                ))
                .unwrap();
            let connect = tokio::time::timeout(Duration::from_secs(5), socket.connect(target));
            if let Ok(connected) = connect.await {
                held.push(connected.unwrap().into_std().unwrap());
            }
        }
        held
    })
}

fn metrics(deployment: &Deployment) -> String {
    http_get(deployment.status, "/metrics").1
}

fn value(text: &str, series: &str) -> u64 {
    metric(text, series).unwrap_or_else(|| panic!("{series} missing from\n{text}"))
}

/// Polls the metrics until `condition` holds of them; fails if the Coordinator exits first.
fn wait_for_metrics(
    deployment: &mut Deployment,
    what: &str,
    condition: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let coordinator = deployment.coordinator.as_mut().unwrap();
        if let Some(status) = coordinator.try_wait().unwrap() {
            panic!("the Coordinator exited ({status}) before {what}");
        }
        let text = metrics(deployment);
        if condition(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "not {what} in time:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The flood connections the `api` listener has seen: holding a pre-auth place, refused by a
/// cap, or evicted.
fn seen(text: &str, api: &str) -> u64 {
    let refusals: u64 = [
        "connections",
        "source_connections",
        "pre_auth",
        "source_pre_auth",
    ]
    .iter()
    .map(|reason| metric(text, &refused(api, reason)).unwrap_or(0))
    .sum();
    metric(text, &pre_auth(api)).unwrap_or(0) + refusals + metric(text, &evicted(api)).unwrap_or(0)
}

fn pre_auth(api: &str) -> String {
    format!("chiaro_coordinator_connections{{api=\"{api}\",phase=\"pre_auth\"}}")
}

fn refused(api: &str, reason: &str) -> String {
    format!("chiaro_coordinator_connections_refused_total{{api=\"{api}\",reason=\"{reason}\"}}")
}

fn evicted(api: &str) -> String {
    format!("chiaro_coordinator_pre_auth_evicted_total{{api=\"{api}\"}}")
}
