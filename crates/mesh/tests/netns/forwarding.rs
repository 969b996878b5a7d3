//! Where transparent ingress forwards to: the address a connection was sent to, which must be
//! one of the pod's own and not loopback. A mesh member (here: the client pod, with a valid
//! mesh certificate) tries to reach what the pod keeps on loopback — a service the workload
//! bound there, and the egress listeners, through which it would reach a third pod as this pod
//! — and to have the proxy relay its bytes to another host.

use crate::harness::{Net, log_of, wait_for_log};

#[test]
fn needs_root_attack_mesh_member_reaches_a_loopback_only_service_through_ingress() {
    let net = Net::up();
    let (client, server) = (net.client.clone(), net.server.clone());
    let (server_ip, server_ip6) = (net.server_ip.clone(), format!("[{}]", net.server_ip6));
    // The workload serves 8080 on every address, and 7070 (IPv4) and 7071 (IPv6) on loopback
    // only: for itself, not for the network.
    net.start_helper(&server, &["echo", "8080", "7070@127.0.0.1", "7071@::1"]);
    let (_, log) = net.server_proxy(&["--ingress", ""], &[]);
    net.wait_ready();
    let member = net.member();
    assert_eq!(
        net.send(&client, &server_ip, 8080, "allowed", &member),
        "echo:allowed",
        "the member gets through where the workload listens at the pod address"
    );
    for (host, port) in [
        (&server_ip, 7070),
        (&server_ip6, 7070),
        (&server_ip6, 7071),
        (&server_ip, 7071),
    ] {
        assert_eq!(
            net.send(&client, host, port, "loopback only?", &member),
            "",
            "{host}:{port}: a loopback-only service is not reachable through the mesh"
        );
    }
    wait_for_log(
        &log,
        &format!("the workload does not listen on {server_ip}:7070"),
    );
    // The services are there, for the pod itself.
    assert_eq!(
        net.send(&server, "127.0.0.1", 7070, "inside", &[]),
        "echo:inside"
    );
    assert_eq!(
        net.send(&server, "[::1]", 7071, "inside", &[]),
        "echo:inside"
    );
}

#[test]
fn needs_root_attack_neighbour_packet_addressed_to_loopback_is_not_forwarded() {
    let net = Net::up();
    let (client, server) = (net.client.clone(), net.server.clone());
    net.start_helper(&server, &["echo", "7070@127.0.0.1", "7071@127.0.0.1"]);
    let (_, log) = net.server_proxy(&["--ingress", "open#7071#false"], &[]);
    net.wait_ready();
    // The client pod sends packets for the server's 127.0.0.1 to the server's interface (the
    // host, which is the network, can do so to any pod): the redirect rule takes them in,
    // addressed to the server's loopback.
    net.route_via_server("127.0.0.1", 7070);
    net.route_via_server("127.0.0.1", 7071);
    assert_eq!(
        net.send(&client, "127.0.0.1", 7070, "as a neighbour", &net.member()),
        "",
        "a mesh member does not reach the loopback-only service"
    );
    assert_eq!(
        net.send(&client, "127.0.0.1", 7071, "plaintext", &[]),
        "",
        "nor does anyone on a plaintext port"
    );
    wait_for_log(&log, "addressed to 127.0.0.1:7070, a loopback address");
    wait_for_log(&log, "addressed to 127.0.0.1:7071, a loopback address");
}

#[test]
fn needs_root_attack_mesh_member_reaches_a_third_pod_through_this_pods_egress_listener() {
    let net = Net::up();
    let (client, server) = (net.client.clone(), net.server.clone());
    let (server_ip, server_ip6) = (net.server_ip.clone(), format!("[{}]", net.server_ip6));
    // A third pod (in the client's namespace, port 9443) that trusts the server pod's identity.
    let third = net.dir.join("third");
    net.ca.credentials(&third, &["third"]);
    let file = |name: &str| third.join("tls").join(name).display().to_string();
    net.start_helper(
        &client,
        &[
            "tls-echo",
            "9443",
            &file("mesh-ca.pem"),
            &file("cert.pem"),
            &file("key.pem"),
        ],
    );
    let egress = format!("third#127.0.0.1:19191#{}:9443#third", net.client_ip);
    let (_, log) = net.server_proxy(&["--ingress", "", "--egress", &egress], &[]);
    net.wait_ready();
    let own = net.send(&server, "127.0.0.1", 19191, "own", &[]);
    assert_eq!(
        own,
        "as:api,api.shop:own",
        "the server's workload reaches the third pod as itself:\n{}",
        log_of(&log)
    );
    let member = net.member();
    for host in [&server_ip, &server_ip6] {
        assert_eq!(
            net.send(&client, host, 19191, "as the server", &member),
            "",
            "{host}: the egress listener is not reachable through ingress"
        );
    }
    wait_for_log(
        &log,
        &format!("the workload does not listen on {server_ip}:19191"),
    );
    net.route_via_server("127.0.0.1", 19191);
    assert_eq!(
        net.send(&client, "127.0.0.1", 19191, "as the server", &member),
        "",
        "nor addressed to the server's loopback"
    );
    wait_for_log(&log, "addressed to 127.0.0.1:19191, a loopback address");
}

#[test]
fn needs_root_attack_connection_addressed_to_another_host_is_not_relayed() {
    let net = Net::up();
    let (client, server) = (net.client.clone(), net.server.clone());
    // Another host (an address of the client's namespace) with a plaintext service.
    let elsewhere = format!("{}.50", net.prefix);
    super::harness::ip(&[
        "-n",
        &client,
        "addr",
        "add",
        &format!("{elsewhere}/32"),
        "dev",
        &net.client_if,
    ]);
    net.start_helper(
        &client,
        &[
            "echo",
            &format!("6060@{elsewhere}"),
            &format!("6061@{elsewhere}"),
        ],
    );
    let (_, log) = net.server_proxy(&["--ingress", "open#6061#false"], &[]);
    net.wait_ready();
    assert_eq!(
        net.send(&server, &elsewhere, 6060, "direct", &[]),
        "echo:direct",
        "the server pod can reach it: a relay would get through"
    );
    // Connections for that host sent to the server's interface reach its proxy...
    net.route_via_server(&elsewhere, 6060);
    net.route_via_server(&elsewhere, 6061);
    assert_eq!(
        net.send(&client, &elsewhere, 6060, "relay me", &net.member()),
        "",
        "a mesh member's bytes are not relayed to another host as the server pod:\n{}",
        log_of(&log)
    );
    assert_eq!(
        net.send(&client, &elsewhere, 6061, "relay me", &[]),
        "",
        "nor anyone's on a plaintext port"
    );
    wait_for_log(
        &log,
        &format!("addressed to {elsewhere}:6061, not an address of this pod"),
    );
}
