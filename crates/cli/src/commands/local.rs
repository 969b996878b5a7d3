//! `chiaro local run` and `chiaro local tamper`: a whole deployment on this machine, with no
//! cluster and an INSECURE simulated TEE.
//!
//! What is real: `generate` and the policies it writes, the Coordinator, `chiaro set` and
//! `chiaro verify` (processes, attested TLS, the manifest history), each pod's initializer (the
//! real binary, attesting with the simulated TEE and the pod's policy hash as HOST_DATA), and the
//! agent's decision on every container creation (the pod's own policy, evaluated with its state
//! as the Kata agent does). What is simulated: the TEE (a locally generated key chain that
//! proves nothing about hardware), the host's requests (what a well-behaved containerd and Kata
//! shim send), and the application images, which cannot run here: each container is stood in
//! for by a small built-in server on its declared ports, and the output says so.
//!
//! As root (with `ip` and `iptables`), each pod gets its own network namespace on a bridge
//! ([`pod_network`]) and its mesh proxy runs transparent, as in a cluster; otherwise everything
//! shares this machine's loopback and the proxies listen on ports of their own.

mod addresses;
mod pod_network;
mod processes;
mod stand_in;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;

use anyhow::{Context, anyhow, bail};
use chiaro_attest::insecure_simulation::InsecureSimulatedTee;
use chiaro_k8s::{INITIALIZER_NAME, MESH_NAME, Workload, WorkloadKind, read_documents};
use chiaro_pod::env::{MESH_INGRESS as MESH_INGRESS_ENV, MESH_PROBES as PROBES_ENV};
use chiaro_pod::layout::{MESH_STATUS_PORT, MOUNT as CREDENTIALS_PATH};
use chiaro_pod::parse_ingress;
use chiaro_policy::{
    AgentPolicy, DeploymentOptions, Evaluator, GenerateOptions, INITDATA_ANNOTATION, ImageConfig,
    ImagePin, Initdata, PolicyData, SANDBOX, SimulatedPod, SourceFile, create_container_request,
    create_sandbox_request, creation_order, generate_deployment, images_to_resolve,
    start_container_request,
};
use chiaro_registry::{Digest, ImageReference};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::cli::{LocalDirs, LocalNetworkMode, LocalRunArgs, LocalTamperArgs, TamperChange};
use crate::commands::generate;
use crate::exit::Outcome;
use crate::input;
use crate::output::Printer;
use addresses::AddressPlan;
use pod_network::PodNetwork;
use processes::{Place, run_initializer, start_coordinator, start_mesh};
use stand_in::{StandIn, get_from, http_get, http_get_path};
pub(crate) use stand_in::{get_process, stand_in_process};

/// The initializer image the local deployment names (the real binary runs in its place).
const LOCAL_INITIALIZER_IMAGE: &str = "chiaro.local/chiaro-initializer:local";

/// The mesh proxy image the local deployment names (the real binary runs in its place).
const LOCAL_MESH_IMAGE: &str = "chiaro.local/chiaro-mesh:local";

/// The Coordinator's simulated HOST_DATA: in a cluster, its own policy hash.
fn coordinator_host_data() -> String {
    hex::encode(Sha256::digest(
        b"chiaro local mode: the Coordinator's policy",
    ))
}

/// The application's YAML (a file, or a directory's `*.yaml`/`*.yml`) as `generate` reads it,
/// each named by its file name (the generated copies go side by side into the work directory).
fn read_app(app: &Path) -> anyhow::Result<Vec<SourceFile>> {
    let mut files = generate::read_inputs(&[app.to_owned()])?;
    for file in &mut files {
        if let Some(name) = Path::new(&file.name).file_name() {
            file.name = name.to_string_lossy().into_owned();
        }
    }
    Ok(files)
}

/// A stand-in image: a real OCI configuration and manifest, synthesised here, whose digest
/// the policy pins. Nothing of the original image is claimed.
fn stand_in(image: &str) -> anyhow::Result<(ImagePin, Value)> {
    let reference = ImageReference::parse(image)?;
    let base = reference
        .repository()
        .rsplit('/')
        .next()
        .unwrap_or("app")
        .to_owned();
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": [format!("/usr/local/bin/{base}")], "User": "65532:65532", "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": []},
    });
    let config_bytes = serde_json::to_vec(&config)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": Digest::of(&config_bytes).to_string(), "size": config_bytes.len()},
        "layers": [],
    });
    let digest = reference
        .digest()
        .unwrap_or_else(|| Digest::of(manifest.to_string().as_bytes()));
    let pinned = reference.pinned_as_written(digest);
    let pin = ImagePin {
        pinned: pinned.clone(),
        config: ImageConfig {
            reference: reference.canonical_pinned(digest),
            entrypoint: vec![format!("/usr/local/bin/{base}")],
            user: "65532:65532".to_owned(),
            working_dir: "/".to_owned(),
            ..ImageConfig::default()
        },
    };
    Ok((
        pin,
        json!({"image": image, "pinned": pinned, "manifest": manifest, "config": config}),
    ))
}

/// The pod name a controller of `kind` would give the first replica of `name`.
fn pod_name(kind: &str, name: &str) -> String {
    match WorkloadKind::from_kind(kind) {
        Some(WorkloadKind::Pod) => name.to_owned(),
        Some(WorkloadKind::Deployment) => format!("{name}-7d9f8c6b5d-q8x2z"),
        Some(WorkloadKind::StatefulSet) => format!("{name}-0"),
        Some(WorkloadKind::CronJob) => format!("{name}-29100000-q8x2z"),
        _ => format!("{name}-q8x2z"),
    }
}

/// A generated workload of the local deployment.
struct LocalPod {
    name: String,
    namespace: String,
    labels: BTreeMap<String, String>,
    kind: String,
    policy: AgentPolicy,
    data: PolicyData,
    policy_hash: String,
    document: Value,
    template_pointer: &'static str,
}

impl LocalPod {
    fn simulated(&self) -> SimulatedPod {
        SimulatedPod {
            name: pod_name(&self.kind, &self.name),
            namespace: self.namespace.clone(),
            netns: format!("/var/run/netns/cni-{}", &self.policy_hash[..8]),
        }
    }

    /// Every port the pod's containers declare.
    fn ports(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = creation_order(&self.data)
            .iter()
            .flat_map(|name| declared_ports(self.container(name)))
            .collect();
        ports.sort_unstable();
        ports.dedup();
        ports
    }

    /// The value of `variable` in container `name`'s pod-spec environment.
    fn env(&self, name: &str, variable: &str) -> Option<String> {
        self.container(name)?
            .get("env")?
            .as_array()?
            .iter()
            .find(|v| v.get("name").and_then(Value::as_str) == Some(variable))?
            .get("value")?
            .as_str()
            .map(str::to_owned)
    }

    fn container(&self, name: &str) -> Option<&Value> {
        let spec = self
            .document
            .pointer(&format!("{}/spec", self.template_pointer))?;
        ["initContainers", "containers"]
            .iter()
            .filter_map(|list| spec.get(*list).and_then(Value::as_array))
            .flatten()
            .find(|c| c.get("name").and_then(Value::as_str) == Some(name))
    }
}

/// The confidential workloads of the generated files in the work directory.
fn local_pods(generated: &[SourceFile]) -> anyhow::Result<Vec<LocalPod>> {
    let mut pods = Vec::new();
    for file in generated {
        for document in read_documents(&file.name, &file.text)? {
            let Some(workload) = Workload::from_document(&document)? else {
                continue;
            };
            let Some(annotation) = workload.pod_annotations.get(INITDATA_ANNOTATION) else {
                continue;
            };
            let initdata = Initdata::from_annotation(annotation)?;
            let policy = AgentPolicy::from_text(initdata.policy());
            let data = policy
                .data()
                .ok_or_else(|| anyhow!("{}: the policy has no readable data", document.id))?;
            pods.push(LocalPod {
                name: workload.name.clone(),
                labels: workload.pod_labels.clone(),
                namespace: workload
                    .namespace
                    .clone()
                    .unwrap_or_else(|| "default".to_owned()),
                kind: document.kind().unwrap_or_default().to_owned(),
                policy_hash: initdata.policy_hash().to_string(),
                policy,
                data,
                template_pointer: workload.kind.template_pointer(),
                document: document.value,
            });
        }
    }
    Ok(pods)
}

/// Narrates in text mode, collects in JSON mode.
struct Story {
    printer: Printer,
    steps: Vec<Value>,
}

impl Story {
    fn step(&mut self, title: &str) {
        self.printer.line(&format!("\n== {title}"));
        self.steps.push(json!({"step": title, "lines": []}));
    }

    fn line(&mut self, text: &str) {
        self.printer.line(&format!("   {text}"));
        if let Some(lines) = self
            .steps
            .last_mut()
            .and_then(|step| step.get_mut("lines"))
            .and_then(Value::as_array_mut)
        {
            lines.push(json!(text));
        }
    }
}

/// Runs `chiaro` itself with `args` (JSON output); its parsed output, or the error it printed.
fn chiaro(args: &[&str]) -> anyhow::Result<Value> {
    let exe = std::env::current_exe()?;
    let output = Command::new(exe)
        .args(["--output", "json"])
        .args(args)
        .output()
        .with_context(|| format!("running chiaro {}", args.join(" ")))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "chiaro {} failed: {}{}",
            args[0],
            stdout.trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    serde_json::from_str(stdout.trim()).with_context(|| format!("chiaro {}: {stdout}", args[0]))
}

pub(crate) fn run(args: &LocalRunArgs, printer: Printer) -> anyhow::Result<Outcome> {
    let work = &args.dirs.work_dir;
    let _ = std::fs::remove_dir_all(work);
    std::fs::create_dir_all(work).with_context(|| format!("creating {}", work.display()))?;
    let path = |name: &str| work.join(name);
    let path_text = |name: &str| work.join(name).display().to_string();
    let mut story = Story {
        printer,
        steps: Vec::new(),
    };
    printer.line("WARNING: local mode uses an INSECURE simulated TEE: nothing here proves anything about hardware.");

    story.step("1. An INSECURE simulated TEE (ARK -> ASK -> VCEK generated on this machine)");
    let now = input::verification_time(None)?;
    let tee = InsecureSimulatedTee::generate(now).context("generating the simulated TEE")?;
    std::fs::write(path("insecure-simulated-tee.json"), tee.to_insecure_json()?)?;
    let ark = hex::encode(tee.ark_der());
    let reference = json!({"insecure_simulated": [{"ark": ark, "values": {}}]});
    std::fs::write(path("reference.json"), reference.to_string())?;
    let coordinator_reference = json!({"insecure_simulated": [{"ark": ark, "values": {"host_data": coordinator_host_data()}}]});
    std::fs::write(
        path("coordinator-reference.json"),
        coordinator_reference.to_string(),
    )?;
    story.line(&format!(
        "wrote {}",
        path_text("insecure-simulated-tee.json")
    ));
    story.line("workloads are accepted under this root only because the manifest lists it (reference_values.insecure_simulated)");

    story.step("2. Owner keys: a workload owner (may update the manifest) and a seed-share owner");
    let owner = chiaro(&[
        "keygen",
        "workload-owner",
        "--out",
        &path_text("workload-owner.pem"),
    ])?;
    let share = chiaro(&[
        "keygen",
        "seed-share-owner",
        "--out",
        &path_text("seed-share-owner.pem"),
    ])?;
    let owner_digest = owner["fields"]["manifest_workload_owner_key_digest"].clone();
    let share_key = share["fields"]["manifest_seed_share_owner_key"].clone();
    story.line(&format!(
        "workload owner key digest {}",
        owner_digest.as_str().unwrap_or("?")
    ));

    let unavailable = pod_network::unavailable();
    let mut pod_network = match (args.network, &unavailable) {
        (LocalNetworkMode::Loopback, _) | (LocalNetworkMode::Auto, Some(_)) => None,
        (LocalNetworkMode::Namespaces, Some(why)) => bail!("--network namespaces: {why}"),
        (_, None) => Some(PodNetwork::create().context("creating the pod network")?),
    };
    let bind = pod_network
        .as_ref()
        .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |network| {
            IpAddr::V4(network.host_address())
        });

    story.step("3. The Coordinator starts (its own CVM in a cluster; the simulated TEE here)");
    let (coordinator, user_api, mesh_api, status) = start_coordinator(work, bind)?;
    story.line(&format!(
        "pid {}: user API {user_api}, mesh API {mesh_api}, status {status}",
        coordinator.0.id()
    ));

    story.step("4. chiaro generate: initializer injected, images pinned, one policy per pod");
    let files = read_app(&args.dirs.app)?;
    let options = DeploymentOptions {
        all_workloads: true,
        runtime_class: "chiaro-cc".to_owned(),
        initializer_image: LOCAL_INITIALIZER_IMAGE.to_owned(),
        mesh_image: LOCAL_MESH_IMAGE.to_owned(),
        coordinator: mesh_api.to_string(),
        policy: GenerateOptions::default(),
    };
    let mut pins = BTreeMap::new();
    let mut stand_ins = Vec::new();
    for image in images_to_resolve(&files, &options)? {
        let (pin, record) = stand_in(&image)?;
        pins.insert(image, pin);
        stand_ins.push(record);
    }
    std::fs::write(
        path("stand-in-images.json"),
        serde_json::to_string_pretty(&stand_ins)?,
    )?;
    story.line(&format!(
        "{} images cannot run here: each is a stand-in (an OCI config synthesised here, listed in {}); the policy pins its digest",
        stand_ins.len(),
        path_text("stand-in-images.json")
    ));
    // The Coordinator's own policy is listed with the role `coordinator`: generate pins it, with
    // the owner key, in every pod's deployment anchor.
    let manifest = json!({
        "version": 1,
        "policies": {
            coordinator_host_data(): { "sans": ["chiaro-coordinator"], "role": "coordinator" }
        },
        "reference_values": reference,
        "workload_owner_key_digests": [owner_digest],
        "seed_share_owner_keys": [share_key],
    });
    let generated = generate_deployment(&files, &pins, Some(&manifest), &options)?;
    let generated_dir = path("generated");
    std::fs::create_dir_all(&generated_dir)?;
    for file in &generated.files {
        std::fs::write(generated_dir.join(&file.name), &file.text)?;
    }
    std::fs::write(
        path("manifest.json"),
        serde_json::to_string_pretty(&generated.manifest)? + "\n",
    )?;
    for workload in generated.workloads.iter().filter(|w| w.skipped.is_none()) {
        story.line(&format!(
            "{}/{} ({}): policy {}",
            workload.namespace,
            workload.name,
            workload.kind,
            workload.policy_hash.as_deref().unwrap_or("-")
        ));
    }
    for warning in &generated.warnings {
        story.line(&format!("warning: {warning}"));
    }

    story.step("5. chiaro set: attest the Coordinator, install the manifest");
    let coordinator_args = [
        "-c",
        &user_api.to_string(),
        "--coordinator-reference",
        &path_text("coordinator-reference.json"),
        "--deployment",
        &path_text("deployment.json"),
    ]
    .map(str::to_owned);
    let mut set_args: Vec<String> = vec!["set".to_owned()];
    set_args.extend(coordinator_args.iter().cloned());
    set_args.extend(
        [
            "-m",
            &path_text("manifest.json"),
            "--workload-owner-key",
            &path_text("workload-owner.pem"),
            "--seed-shares-dir",
            &path_text("seed-shares"),
        ]
        .map(str::to_owned),
    );
    std::fs::create_dir_all(path("seed-shares"))?;
    let set = chiaro(&set_args.iter().map(String::as_str).collect::<Vec<_>>())?;
    story.line(&format!("installed: {}", compact(&set["fields"])));

    story.step("6. Every pod, as the Kata agent starts it: each container creation is checked against the pod's policy");
    let pods = local_pods(&generated.files)?;
    match pod_network.as_mut() {
        Some(network) => {
            network.add_pods(pods.len())?;
            story.line(&format!(
                "each pod in its own network namespace on a bridge (this machine is {}); mesh proxies transparent, as in a cluster",
                network.host_address()
            ));
        }
        None => story.line(&format!(
            "pods share this machine's loopback ({}); the mesh proxies listen on ports of their own, so loopback can go around them (as root, pods get network namespaces)",
            unavailable.as_deref().unwrap_or("--network loopback")
        )),
    }
    let network = AddressPlan::plan(&pods, &generated.files, pod_network.as_ref())?;
    let mut servers = Vec::new();
    let mut proxies = Vec::new();
    let mut failures = 0;
    for (index, pod) in pods.iter().enumerate() {
        let addresses = &network.pods[index];
        let place = Place::of(pod_network.as_ref(), index);
        let simulated = pod.simulated();
        story.line(&format!(
            "pod {}/{} (policy {}…)",
            simulated.namespace,
            simulated.name,
            &pod.policy_hash[..16]
        ));
        let mut evaluator = Evaluator::new(&pod.policy)?;
        for container in creation_order(&pod.data) {
            let request = create_container_request(&pod.data, &simulated, &container)?;
            let decision = evaluator.evaluate("CreateContainerRequest", &request)?;
            if !decision.allowed {
                story.line(&format!(
                    "  {container:<20} REFUSED: {}",
                    decision.denials.join("; ")
                ));
                failures += 1;
                break;
            }
            if container == SANDBOX {
                story.line(&format!("  {container:<20} allowed"));
            } else if container == INITIALIZER_NAME {
                let out = work.join("pods").join(&simulated.name).join("chiaro");
                let result =
                    run_initializer(pod, &out, &path("insecure-simulated-tee.json"), place);
                match result {
                    Ok(files) => story.line(&format!(
                        "  {container:<20} allowed; ran the real initializer: attested to the Coordinator, wrote {files}"
                    )),
                    Err(error) => {
                        story.line(&format!("  {container:<20} allowed; the initializer FAILED: {error:#}"));
                        failures += 1;
                        break;
                    }
                }
            } else if container == MESH_NAME {
                let out = work.join("pods").join(&simulated.name).join("chiaro");
                match start_mesh(pod, addresses, &out, work, place) {
                    Ok((proxy, summary)) => {
                        story.line(&format!(
                            "  {container:<20} allowed; ran the real mesh proxy: {summary}"
                        ));
                        proxies.push(proxy);
                    }
                    Err(error) => {
                        story.line(&format!(
                            "  {container:<20} allowed; the mesh proxy FAILED: {error:#}"
                        ));
                        failures += 1;
                        break;
                    }
                }
            } else {
                let ports = declared_ports(pod.container(&container));
                let mut mapped = Vec::new();
                for port in &ports {
                    let mut server = match place {
                        Place::Loopback => {
                            let listener = addresses
                                .held
                                .lock()
                                .ok()
                                .and_then(|mut held| held.remove(port))
                                .ok_or_else(|| anyhow!("no listener planned for port {port}"))?;
                            StandIn::start(&container, &pod.name, *port, listener)?
                        }
                        Place::Namespace(..) => StandIn::start_in(
                            place,
                            &container,
                            &pod.name,
                            *port,
                            addresses.stand_ins[port],
                        )?,
                    };
                    server.meshed = addresses.ingress.contains_key(port);
                    let reach = match addresses.ingress.get(port) {
                        Some(ingress) if *ingress == server.address => {
                            " (behind the pod's mesh proxy)".to_owned()
                        }
                        Some(ingress) => format!(" (reached through the mesh at {ingress})"),
                        None => String::new(),
                    };
                    mapped.push(format!("{port} -> {}{reach}", server.address));
                    servers.push(server);
                }
                let ports = if mapped.is_empty() {
                    "no declared ports".to_owned()
                } else {
                    format!("stand-in server on {}", mapped.join(", "))
                };
                story.line(&format!(
                    "  {container:<20} allowed; image cannot run here: {ports}"
                ));
            }
        }
    }

    story.step("7. Traffic between pods goes through their mesh proxies");
    let mut mesh_failures = 0;
    for (index, pod) in pods.iter().enumerate() {
        let place = Place::of(pod_network.as_ref(), index);
        for (rule, through) in &network.pods[index].egress {
            let answer = get_from(place, rule.local).unwrap_or_default();
            let crossed = answer.contains("200 OK");
            story.line(&format!(
                "{}: GET via egress {} ({}) -> {}: {}",
                pod.name,
                rule.name,
                rule.local,
                rule.remote,
                if crossed {
                    format!(
                        "crossed two proxies (mutual TLS to {through}): {}",
                        answer.lines().last().unwrap_or_default()
                    )
                } else {
                    format!("no answer ({answer:?})")
                }
            ));
            if !crossed {
                mesh_failures += 1;
            }
        }
    }
    for (index, pod) in pods.iter().enumerate() {
        if let Some((port, ingress)) = network.pods[index].ingress.iter().next() {
            let entry = pod
                .env(MESH_NAME, MESH_INGRESS_ENV)
                .and_then(|text| parse_ingress(&text).ok())
                .and_then(|rules| rules.into_iter().find(|r| r.port == *port));
            if entry.is_some_and(|rule| !rule.tls) {
                continue;
            }
            let answer = http_get(*ingress).unwrap_or_default();
            let refused = !answer.contains("200 OK");
            let what = if pod_network.is_some() {
                "its port, redirected to its proxy"
            } else {
                "its proxy's ingress"
            };
            story.line(&format!(
                "plaintext straight to {} ({ingress}, {what}, port {port}): {}",
                pod.name,
                if refused {
                    "refused (no mesh certificate)"
                } else {
                    "ANSWERED"
                }
            ));
            if !refused {
                mesh_failures += 1;
            }
        }
    }
    if let Some(pod_network) = &pod_network {
        for (index, pod) in pods.iter().enumerate() {
            let Some(table) = pod.env(MESH_NAME, PROBES_ENV) else {
                continue;
            };
            let table: BTreeMap<String, Value> = serde_json::from_str(&table)?;
            let status = SocketAddr::from((pod_network.pod_address(index), MESH_STATUS_PORT));
            for path in table.keys() {
                let answer =
                    http_get_path(status, path).unwrap_or_else(|e| format!("no answer: {e}"));
                story.line(&format!(
                    "{}: the kubelet's probe {path} (moved to the proxy's status port {status}): {answer}",
                    pod.name
                ));
                if !answer.starts_with("HTTP/1.1 200") {
                    mesh_failures += 1;
                }
            }
        }
    }
    for server in servers.iter().filter(|s| !s.meshed) {
        let answer = server.get().unwrap_or_else(|e| format!("no answer: {e}"));
        story.line(&format!(
            "{} {}: {answer}",
            server.container, server.address
        ));
    }
    failures += mesh_failures;

    story.step("8. chiaro verify: anyone can attest the Coordinator and check the deployment");
    let mut verify_args: Vec<String> = vec!["verify".to_owned()];
    verify_args.extend(coordinator_args.iter().cloned());
    verify_args.extend(
        [
            "-m",
            &path_text("manifest.json"),
            "--out",
            &path_text("verify"),
        ]
        .map(str::to_owned),
    );
    let verify = chiaro(&verify_args.iter().map(String::as_str).collect::<Vec<_>>())?;
    story.line(&format!("verified: {}", compact(&verify["fields"])));

    let summary = json!({
        "pods": pods.len(),
        "refused_or_failed": failures,
        "work_dir": work.display().to_string(),
        "steps": story.steps,
    });
    if failures > 0 {
        printer.result(&summary, &format!("\n{failures} pod(s) did not start"));
        return Ok(Outcome::Failed);
    }
    printer.result(
        &summary,
        &format!(
            "\nAll {} pods started under their policies; the deployment verifies. Files: {}",
            pods.len(),
            work.display()
        ),
    );
    if args.keep_running {
        printer.line("Running until Ctrl-C.");
        let runtime = crate::commands::coordinator_client::runtime()?;
        runtime.block_on(tokio::signal::ctrl_c())?;
    }
    drop(servers);
    drop(proxies);
    drop(coordinator);
    Ok(Outcome::Verified)
}

fn compact(value: &Value) -> String {
    match value.as_object() {
        Some(map) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        None => value.to_string(),
    }
}

fn declared_ports(container: Option<&Value>) -> Vec<u16> {
    container
        .and_then(|c| c.get("ports"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|port| port.get("containerPort").and_then(Value::as_u64))
        .filter_map(|port| u16::try_from(port).ok())
        .collect()
}

pub(crate) fn tamper(args: &LocalTamperArgs, printer: Printer) -> anyhow::Result<Outcome> {
    let generated = read_generated(&args.dirs)?;
    let pods = local_pods(&generated)?;
    let pod = pods
        .iter()
        .find(|pod| pod.name == args.workload)
        .ok_or_else(|| {
            anyhow!(
                "no workload {:?}; workloads: {}",
                args.workload,
                pods.iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
    let simulated = pod.simulated();
    let order = creation_order(&pod.data);
    // The first container no other waits for: an application container, not an init one.
    let workload_container = order
        .iter()
        .skip(1)
        .find(|name| {
            !pod.data
                .containers
                .values()
                .any(|rules| rules.after.contains(name))
        })
        .cloned()
        .ok_or_else(|| anyhow!("the pod has no application container"))?;
    let has_mesh = pod.data.containers.contains_key(MESH_NAME);
    if args.change == TamperChange::NeverStartMesh && !has_mesh {
        bail!("workload {:?} has no mesh proxy", args.workload);
    }
    // (step, request kind, request, tampered): CreateSandbox, then each container created and
    // started in order, as the kubelet and the Kata runtime send them.
    let mut requests: Vec<(String, &str, Value, bool)> = vec![(
        "sandbox (CreateSandbox)".to_owned(),
        "CreateSandboxRequest",
        create_sandbox_request(&pod.data, &simulated),
        false,
    )];
    for container in &order {
        if (args.change == TamperChange::SkipInitializer && container == INITIALIZER_NAME)
            || (args.change == TamperChange::SkipMesh && container == MESH_NAME)
        {
            continue;
        }
        let mut request = create_container_request(&pod.data, &simulated, container)?;
        let tampered =
            container == &workload_container && tamper_create(args.change, &mut request)?;
        requests.push((
            container.clone(),
            "CreateContainerRequest",
            request,
            tampered,
        ));
        let never_started = args.change == TamperChange::NeverStartMesh && container == MESH_NAME;
        if !never_started {
            let start = start_container_request(&simulated, container, 0);
            let tampered =
                args.change == TamperChange::NeverStartMesh && container == &workload_container;
            requests.push((
                format!("{container} (start)"),
                "StartContainerRequest",
                start,
                tampered,
            ));
        }
    }
    if args.change == TamperChange::ExtraContainer {
        let mut extra = create_container_request(&pod.data, &simulated, &workload_container)?;
        let id = hex::encode(Sha256::digest(b"debug container"));
        extra["container_id"] = json!(id);
        extra["exec_id"] = json!(id);
        extra["OCI"]["Annotations"]["io.kubernetes.cri.container-name"] = json!("debug");
        extra["OCI"]["Process"]["Args"] = json!(["/bin/sh"]);
        requests.push((
            "debug (extra)".to_owned(),
            "CreateContainerRequest",
            extra,
            true,
        ));
    }
    let mut evaluator = Evaluator::new(&pod.policy)?;
    let mut lines = vec![format!(
        "pod {}/{}: the host {}",
        simulated.namespace,
        simulated.name,
        match args.change {
            TamperChange::Env => format!("changes an environment variable of {workload_container}"),
            TamperChange::Image => format!("runs another image as {workload_container}"),
            TamperChange::ExtraContainer =>
                "adds a container the pod spec does not have".to_owned(),
            TamperChange::SkipInitializer => "skips the initializer".to_owned(),
            TamperChange::SkipMesh => "skips the mesh proxy".to_owned(),
            TamperChange::NeverStartMesh => format!(
                "creates the mesh proxy but never starts it, then starts {workload_container}"
            ),
            TamperChange::SharedMounts => format!(
                "moves the mesh proxy's service-account mount over /usr/local/bin of {workload_container}"
            ),
            TamperChange::RemovedMount =>
                format!("leaves {CREDENTIALS_PATH} out of {workload_container}"),
            TamperChange::ForeignSeccomp =>
                format!("gives {workload_container} a seccomp filter that fakes setuid and chmod"),
        }
    )];
    let mut refused = None;
    let mut decisions = Vec::new();
    for (step, kind, request, tampered) in &requests {
        let decision = evaluator.evaluate(kind, request)?;
        let marker = if *tampered { " (tampered)" } else { "" };
        if decision.allowed {
            lines.push(format!("  {step}{marker}: allowed"));
        } else {
            lines.push(format!("  {step}{marker}: REFUSED"));
            for denial in &decision.denials {
                lines.push(format!("    {denial}"));
            }
        }
        decisions.push(json!({"container": step, "request": kind, "tampered": tampered, "allowed": decision.allowed, "denials": decision.denials}));
        if !decision.allowed {
            refused = Some(step.clone());
            break;
        }
    }
    let outcome = if refused.is_some() {
        lines.push(
            "The agent refused the change: the pod does not start as the host wanted.".to_owned(),
        );
        Outcome::Rejected
    } else {
        lines.push("The change was NOT refused.".to_owned());
        Outcome::Verified
    };
    printer.result(
        &json!({"workload": pod.name, "change": format!("{:?}", args.change), "refused": refused, "decisions": decisions}),
        &lines.join("\n"),
    );
    Ok(outcome)
}

/// Applies `change` to the workload's CreateContainerRequest; whether it changed it.
fn tamper_create(change: TamperChange, request: &mut Value) -> anyhow::Result<bool> {
    match change {
        TamperChange::Env => {
            let env = request["OCI"]["Process"]["Env"]
                .as_array_mut()
                .ok_or_else(|| anyhow!("request without Env"))?;
            match env
                .iter_mut()
                .find(|e| e.as_str().is_some_and(|e| !e.starts_with("HOSTNAME=")))
            {
                Some(first) => {
                    let name = first
                        .as_str()
                        .and_then(|e| e.split_once('='))
                        .map(|(n, _)| n.to_owned())
                        .unwrap_or_default();
                    *first = json!(format!("{name}=changed-by-the-host"));
                }
                None => env.push(json!("LD_PRELOAD=/tmp/evil.so")),
            }
        }
        TamperChange::Image => {
            let other = format!(
                "registry.example/evil@sha256:{}",
                hex::encode(Sha256::digest(b"another image"))
            );
            request["storages"][0]["source"] = json!(other);
            request["OCI"]["Annotations"]["io.kubernetes.cri.image-name"] = json!(other);
        }
        TamperChange::SharedMounts => {
            request["shared_mounts"] = json!([{
                "name": "bin", "src_ctr": MESH_NAME,
                "src_path": "/var/run/secrets/kubernetes.io/serviceaccount",
                "dst_ctr": request["OCI"]["Annotations"]["io.kubernetes.cri.container-name"],
                "dst_path": "/usr/local/bin",
            }]);
        }
        TamperChange::RemovedMount => {
            let mounts = request["OCI"]["Mounts"]
                .as_array_mut()
                .ok_or_else(|| anyhow!("request without Mounts"))?;
            let before = mounts.len();
            mounts.retain(|m| m["destination"] != CREDENTIALS_PATH);
            if mounts.len() == before {
                bail!("the workload container has no {CREDENTIALS_PATH} mount");
            }
        }
        TamperChange::ForeignSeccomp => {
            request["OCI"]["Linux"]["Seccomp"] = json!({
                "DefaultAction": "SCMP_ACT_ALLOW",
                "Syscalls": [{"Names": ["setuid", "setgid", "chmod"], "Action": "SCMP_ACT_ERRNO", "ErrnoRet": 0}],
            });
        }
        TamperChange::ExtraContainer
        | TamperChange::SkipInitializer
        | TamperChange::SkipMesh
        | TamperChange::NeverStartMesh => return Ok(false),
    }
    Ok(true)
}

fn read_generated(dirs: &LocalDirs) -> anyhow::Result<Vec<SourceFile>> {
    let dir = dirs.work_dir.join("generated");
    if !dir.is_dir() {
        bail!(
            "{} does not exist: run `chiaro local run {}` first",
            dir.display(),
            dirs.app.display()
        );
    }
    read_app(&dir)
}
