//! The command-line grammar.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::commands::install::defaults as install_defaults;

/// The initializer image `generate` injects unless told otherwise.
pub(crate) const DEFAULT_INITIALIZER_IMAGE: &str = concat!(
    "ghcr.io/chiaro-dev/chiaro-initializer:",
    env!("CARGO_PKG_VERSION")
);
/// The mesh proxy image `generate` injects unless told otherwise.
pub(crate) const DEFAULT_MESH_IMAGE: &str =
    concat!("ghcr.io/chiaro-dev/chiaro-mesh:", env!("CARGO_PKG_VERSION"));
/// The volume owner image `generate` injects into pods with encrypted volumes unless told
/// otherwise.
pub(crate) const DEFAULT_VOLUME_IMAGE: &str = concat!(
    "ghcr.io/chiaro-dev/chiaro-volume:",
    env!("CARGO_PKG_VERSION")
);
/// The forwarder image `install` deploys unless told otherwise (`chiaro port-forward`'s
/// untrusted forwarder).
pub(crate) const DEFAULT_FORWARDER_IMAGE: &str = concat!(
    "ghcr.io/chiaro-dev/chiaro-forwarder:",
    env!("CARGO_PKG_VERSION")
);
/// The Coordinator image `install` deploys unless told otherwise.
pub(crate) const DEFAULT_COORDINATOR_IMAGE: &str = concat!(
    "ghcr.io/chiaro-dev/chiaro-coordinator:",
    env!("CARGO_PKG_VERSION")
);

/// Chiaro: confidential containers, verifiable end to end.
#[derive(Debug, Parser)]
#[command(name = "chiaro", version, about)]
pub struct Cli {
    /// Output format of the command's result: text for people, or one JSON or YAML document
    /// (the types in `chiaro::reports`).
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// A config file whose values are the flags' defaults (default: `$CHIARO_CONFIG`, else
    /// `chiaro.toml` here if there is one).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable text.
    Text,
    /// One JSON document on stdout (one line).
    Json,
    /// One YAML document on stdout.
    Yaml,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect and verify TEE evidence.
    #[command(subcommand)]
    Evidence(EvidenceCommand),
    /// Install a manifest on the Coordinator, after attesting it.
    Set(SetArgs),
    /// Attest the Coordinator, check its manifest history, and write its CA certificates.
    Verify(VerifyDeploymentArgs),
    /// Give a restarted Coordinator its seed back from a seed share.
    Recover(RecoverArgs),
    /// Forward a local port to a confidential pod: through an untrusted forwarder, in TLS from
    /// here to the pod's mesh proxy, which must prove the workload's identity under the
    /// attested Coordinator's mesh CA; this side proves a workload owner (a short-lived client
    /// certificate the Coordinator issues for the owner key).
    PortForward(PortForwardArgs),
    /// Generate keys for workload owners and seed-share owners.
    #[command(subcommand)]
    Keygen(KeygenCommand),
    /// Inspect Kata agent policies and evaluate agent requests against them.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Write what a cluster needs for Chiaro (its namespace, RuntimeClasses and the
    /// Coordinator, generated with its own policy) and pin that policy in the manifest and the
    /// Coordinator's reference values.
    Install(InstallArgs),
    /// Make Kubernetes workloads confidential: inject the initializer, pin images, write each
    /// pod's policy (initdata annotation) and the manifest.
    Generate(GenerateArgs),
    /// Compute reference values from a pod VM's inputs (firmware, kernel, initrd, command
    /// line, vCPUs), and explain a real report's measurement.
    #[command(subcommand)]
    Measure(MeasureCommand),
    /// Run a whole deployment on this machine with no cluster and an INSECURE simulated TEE.
    #[command(subcommand)]
    Local(LocalCommand),
    /// This CLI's version, commit and target; with `-c`, the attested Coordinator's version too.
    Version(VersionArgs),
    /// A shell completion script on stdout (e.g. `source <(chiaro completion bash)`).
    Completion(CompletionArgs),
}

/// `chiaro version`
#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Also ask this Coordinator (its user API), after attesting it.
    #[arg(
        short = 'c',
        long,
        value_name = "HOST:PORT",
        requires = "coordinator_reference"
    )]
    pub coordinator: Option<String>,
    /// The reference values the Coordinator's evidence must satisfy (as for `set`).
    #[arg(long, value_name = "FILE")]
    pub coordinator_reference: Option<PathBuf>,
}

/// `chiaro completion`
#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `chiaro local …`
#[derive(Debug, Subcommand)]
pub enum LocalCommand {
    /// Generate, start a Coordinator, set the manifest, start every pod as the Kata agent
    /// would (each container creation evaluated against the pod's policy), verify.
    Run(LocalRunArgs),
    /// Start one pod as an untrusted host that changed one thing, and show the refusal
    /// (exit 3 when refused, 0 if the change got through).
    Tamper(LocalTamperArgs),
    /// Internal: a stand-in server inside a pod's network namespace (local mode starts it).
    #[command(hide = true)]
    StandIn(LocalStandInArgs),
    /// Internal: `GET /` from inside a pod's network namespace (local mode's traffic checks).
    #[command(hide = true)]
    Get(LocalGetArgs),
}

/// Where local mode's pods get their network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LocalNetworkMode {
    /// Network namespaces when running as root with `ip` and `iptables`, else loopback.
    Auto,
    /// One network namespace per pod joined by a bridge; mesh proxies transparent, as in a
    /// cluster (root only).
    Namespaces,
    /// Everything on this machine's loopback, one port per listener; the mesh proxies listen
    /// on their own ports (no redirection), so loopback can go around them.
    Loopback,
}

/// `chiaro local stand-in`
#[derive(Debug, Args)]
pub struct LocalStandInArgs {
    /// Where to listen.
    #[arg(long)]
    pub listen: std::net::SocketAddr,
    /// What to answer.
    #[arg(long)]
    pub body: String,
}

/// `chiaro local get`
#[derive(Debug, Args)]
pub struct LocalGetArgs {
    /// Where to send `GET /`.
    pub address: std::net::SocketAddr,
}

/// Where a local deployment comes from and lives.
#[derive(Debug, Args)]
pub struct LocalDirs {
    /// The application's YAML (a file or a directory).
    #[arg(default_value = "examples/emojivoto")]
    pub app: PathBuf,
    /// Where the generated files, keys, state and logs go.
    #[arg(long, default_value = ".chiaro-local")]
    pub work_dir: PathBuf,
}

/// `chiaro local run`
#[derive(Debug, Args)]
pub struct LocalRunArgs {
    /// The application and the work directory.
    #[command(flatten)]
    pub dirs: LocalDirs,
    /// Keep the Coordinator, the pods' processes and their network namespaces until Ctrl-C or
    /// SIGTERM; either stops the processes and removes the namespaces.
    #[arg(long)]
    pub keep_running: bool,
    /// Where the pods get their network.
    #[arg(long, value_enum, default_value = "auto")]
    pub network: LocalNetworkMode,
    /// Take chiaro-coordinator, chiaro-initializer (with chiaro-start beside it) and
    /// chiaro-mesh from DIR instead of from beside chiaro: e.g. the binaries of the images'
    /// extracted root file systems, so the run shows that the images' binaries work.
    #[arg(long, value_name = "DIR")]
    pub binaries: Option<PathBuf>,
}

/// `chiaro local tamper`
#[derive(Debug, Args)]
pub struct LocalTamperArgs {
    /// The application and the work directory of a previous `chiaro local run`.
    #[command(flatten)]
    pub dirs: LocalDirs,
    /// The workload whose pod the host tampers with.
    #[arg(long)]
    pub workload: String,
    /// What the host changes.
    #[arg(long, value_enum)]
    pub change: TamperChange,
}

/// A change an untrusted host could make when starting a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TamperChange {
    /// Change an environment variable of the workload container (or add LD_PRELOAD).
    Env,
    /// Run another image in the workload container.
    Image,
    /// Add a container the pod spec does not have.
    ExtraContainer,
    /// Start the workload without running the initializer first.
    SkipInitializer,
    /// Start the workload without its mesh proxy (for a pod that has one).
    SkipMesh,
    /// Create the mesh proxy but never start it, then start the workload.
    NeverStartMesh,
    /// Have the agent move another container's mount over the workload's `/usr/local/bin`.
    SharedMounts,
    /// Leave a pod-spec mount (the credentials volume) out of the workload.
    RemovedMount,
    /// Give the workload a seccomp filter that fakes `setuid` and `chmod`.
    ForeignSeccomp,
}

/// `chiaro generate`
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// YAML files or directories of them (`*.yaml`, `*.yml`); `-` reads standard input and
    /// writes the result to standard output. Files are rewritten in place.
    #[arg(value_name = "FILES|DIRS", required = true)]
    pub paths: Vec<PathBuf>,
    /// The manifest to create or update (owner keys, seed-share keys and reference values in
    /// it are kept; `policies` is regenerated).
    #[arg(short = 'm', long, default_value = "manifest.json")]
    pub manifest: PathBuf,
    /// Reference values (a `reference_values` object) to put into the manifest.
    #[arg(long, value_name = "FILE")]
    pub reference: Option<PathBuf>,
    /// Make every workload confidential, not only those with Chiaro's runtime class.
    #[arg(long)]
    pub all: bool,
    /// The namespace of objects without `metadata.namespace` (as `kubectl apply -n`), default
    /// `default`; written into the workloads generated and the Services, ConfigMaps and Secrets
    /// read, so applying them to another namespace fails.
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// Chiaro's runtime class.
    #[arg(long, default_value = chiaro_k8s::RUNTIME_CLASS)]
    pub runtime_class: String,
    /// The initializer image (resolved and pinned like the workloads' images).
    #[arg(long, default_value = DEFAULT_INITIALIZER_IMAGE)]
    pub initializer_image: String,
    /// The mesh proxy image, injected into pods with a `chiaro.dev/mesh-ingress` or
    /// `chiaro.dev/mesh-egress` annotation.
    #[arg(long, default_value = DEFAULT_MESH_IMAGE)]
    pub mesh_image: String,
    /// The volume owner image, injected into pods with a `chiaro.dev/encrypted-volumes`
    /// annotation (`docs/volumes.md`).
    #[arg(long, default_value = DEFAULT_VOLUME_IMAGE)]
    pub volume_image: String,
    /// The Coordinator's mesh API as pods reach it (default: the cluster DNS name `install`
    /// gives it in its default namespace).
    #[arg(
        long,
        value_name = "HOST:PORT",
        default_value_t = crate::commands::install::mesh_address(crate::commands::install::DEFAULT_NAMESPACE)
    )]
    pub coordinator_address: String,
    /// Leave values taken from Secrets out of the policies (the variables must still be
    /// present). Pinned values are readable by anyone who can read the pod.
    #[arg(long)]
    pub no_pin_secrets: bool,
    /// Leave the files of the ConfigMap, Secret, downward-API or projected volume NAME (in any
    /// workload) unpinned: the host may then copy any files into it. Without it, a volume whose
    /// ConfigMap or Secret is not among the inputs is an error. Repeatable.
    #[arg(long, value_name = "NAME")]
    pub unpinned_volume: Vec<String>,
    /// vCPUs of every pod's VM before its CPU limits are added (Kata's `default_vcpus`,
    /// written into each pod and pinned by its policy; `install --overhead-cpu` by default).
    #[arg(long, value_name = "VCPUS", default_value_t = chiaro_policy::VmSize::KATA_BASE.vcpus)]
    pub vm_base_vcpus: u32,
    /// Memory of every pod's VM before its memory limits are added, whole MiB (Kata's
    /// `default_memory`; `install --overhead-memory` by default).
    #[arg(long, value_name = "QUANTITY", default_value_t = install_defaults::overhead_memory())]
    pub vm_base_memory: String,
    /// How images are resolved.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// A confidential platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlatformChoice {
    /// AMD SEV-SNP.
    Snp,
    /// Intel TDX.
    Tdx,
}

/// `chiaro install`
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Chiaro's namespace (the Coordinator runs in it; its Services resolve from every
    /// namespace as `NAME.NAMESPACE.svc.cluster.local`).
    #[arg(short = 'n', long, default_value = crate::commands::install::DEFAULT_NAMESPACE)]
    pub namespace: String,
    /// Where to write the objects (one YAML file for `kubectl apply -f`).
    #[arg(long, default_value = "chiaro-install.yaml")]
    pub out: PathBuf,
    /// The manifest: its Coordinator entry becomes the generated Coordinator's policy.
    #[arg(short = 'm', long, default_value = "manifest.json")]
    pub manifest: PathBuf,
    /// Reference values (a `reference_values` object) to put into the manifest.
    #[arg(long, value_name = "FILE")]
    pub reference: Option<PathBuf>,
    /// Where to write the Coordinator's reference values (the manifest's, each set pinned to
    /// the Coordinator's policy hash), for `set`, `verify` and `recover`.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "coordinator-reference.json"
    )]
    pub coordinator_reference: PathBuf,
    /// The Coordinator's image (resolved and pinned by digest).
    #[arg(long, default_value = DEFAULT_COORDINATOR_IMAGE)]
    pub coordinator_image: String,
    /// The image of `chiaro port-forward`'s forwarder (a plain pod that carries TLS records:
    /// not pinned, nothing trusts it).
    #[arg(long, default_value = DEFAULT_FORWARDER_IMAGE)]
    pub forwarder_image: String,
    /// The platform the runtime class `chiaro-cc` (and the Coordinator) runs on.
    #[arg(long, value_enum, default_value = "snp")]
    pub platform: PlatformChoice,
    /// The nodes' Kata handler for SEV-SNP (runtime class `chiaro-cc-snp`).
    #[arg(long, default_value = install_defaults::SNP_HANDLER)]
    pub snp_handler: String,
    /// The nodes' Kata handler for TDX (runtime class `chiaro-cc-tdx`).
    #[arg(long, default_value = install_defaults::TDX_HANDLER)]
    pub tdx_handler: String,
    /// Memory each pod's VM adds beyond its containers (the RuntimeClasses' overhead; the
    /// default is generate's --vm-base-memory).
    #[arg(long, default_value_t = install_defaults::overhead_memory())]
    pub overhead_memory: String,
    /// CPU each pod's VM adds beyond its containers (the default is generate's
    /// --vm-base-vcpus).
    #[arg(long, default_value_t = install_defaults::overhead_cpu())]
    pub overhead_cpu: String,
    /// The Coordinator's memory (request and limit).
    #[arg(long, default_value = install_defaults::COORDINATOR_MEMORY)]
    pub coordinator_memory: String,
    /// The Coordinator's CPU (request and limit).
    #[arg(long, default_value = install_defaults::COORDINATOR_CPU)]
    pub coordinator_cpu: String,
    /// Replace the Coordinator the manifest already pins by another policy (a new image or
    /// configuration). Without it, install refuses to change the pinned Coordinator: a moved
    /// tag must not silently become the Coordinator every client trusts.
    #[arg(long)]
    pub replace_coordinator: bool,
    /// How images are resolved.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `chiaro measure …`
#[derive(Debug, Subcommand)]
pub enum MeasureCommand {
    /// The SEV-SNP launch measurement of a pod VM for a range of vCPU counts, as reference
    /// values in the manifest's format (or merged into a manifest).
    Snp(MeasureSnpArgs),
    /// Which input makes a real SEV-SNP report's measurement differ from the computed one:
    /// tries vCPU counts, vCPU models, guest features and VMMs. Exit 0 when a combination
    /// matches, 3 when none does.
    Explain(MeasureExplainArgs),
}

/// What a pod VM is launched with: a node's Kata configuration, or each input as a flag (a
/// flag overrides the configuration's value).
#[derive(Debug, Args)]
pub struct GuestInputArgs {
    /// A node's Kata configuration (`configuration-qemu-snp.toml`): its firmware, kernel,
    /// initrd, the kernel command line the Kata runtime assembles from it, and its vCPU model.
    #[arg(long, value_name = "FILE")]
    pub kata_config: Option<PathBuf>,
    /// Read the Kata configuration's absolute paths under DIR (a copy of the node's files).
    #[arg(long, value_name = "DIR", requires = "kata_config")]
    pub root: Option<PathBuf>,
    /// The OVMF firmware image (`AMDSEV.fd` for measured direct boot).
    #[arg(long, value_name = "FILE")]
    pub firmware: Option<PathBuf>,
    /// The guest kernel (measured through the firmware's SEV hashes table).
    #[arg(long, value_name = "FILE")]
    pub kernel: Option<PathBuf>,
    /// The initrd (empty when not given).
    #[arg(long, value_name = "FILE")]
    pub initrd: Option<PathBuf>,
    /// The kernel command line exactly as QEMU receives it (`-append`).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub cmdline: Option<String>,
    /// The vCPU model (QEMU's name; Kata gives SNP guests `EPYC-v4`).
    #[arg(long, value_name = "MODEL")]
    pub vcpu_model: Option<chiaro_measure::snp::VcpuModel>,
    /// The guest's SEV features (VMSA `SEV_FEATURES`), hex or decimal [default: 0x1].
    #[arg(long, value_name = "BITS", value_parser = parse_guest_features)]
    pub guest_features: Option<chiaro_measure::snp::GuestFeatures>,
    /// The VMM that lays out the VMSAs: `QEMU`, `ec2` or `gce` [default: QEMU].
    #[arg(long, value_name = "VMM")]
    pub vmm: Option<chiaro_measure::snp::Vmm>,
}

/// `chiaro measure snp`
#[derive(Debug, Args)]
pub struct MeasureSnpArgs {
    /// The pod VM's inputs.
    #[command(flatten)]
    pub guest: GuestInputArgs,
    /// The vCPU counts the reference values accept: `N` or `MIN-MAX`. Every pod's vCPU count
    /// (generate: the runtime's base plus its CPU limits) must be in it.
    #[arg(long, value_name = "N|MIN-MAX", default_value = "1-64", value_parser = parse_vcpu_range)]
    pub vcpus: chiaro_attest::snp::VcpuRange,
    /// Also write the measurement into this manifest's SNP reference sets (added to each set,
    /// or a new set when it has none; a skeleton manifest when the file does not exist).
    #[arg(long, value_name = "FILE", conflicts_with = "reference")]
    pub manifest: Option<PathBuf>,
    /// Also write it into this `reference_values` file's SNP sets, as with `--manifest` (sets
    /// there may hold only the other checks, e.g. a `minimum_tcb`, until then).
    #[arg(long, value_name = "FILE")]
    pub reference: Option<PathBuf>,
    /// With `--manifest` or `--reference`: replace each SNP set's measurements instead of
    /// adding to them.
    #[arg(long)]
    pub replace: bool,
    /// The lowest TCB the sets accept (`bootloader=N,tee=N,snp=N,microcode=N[,fmc=N]`): every
    /// set written needs one, else it accepts any firmware and microcode. Sets merged into keep
    /// theirs; this is required for a new set, and for a merged set without one.
    #[arg(long, value_name = "SPLS", value_parser = parse_minimum_tcb)]
    pub minimum_tcb: Option<chiaro_attest::snp::MinimumTcb>,
}

/// `chiaro measure explain`
#[derive(Debug, Args)]
pub struct MeasureExplainArgs {
    /// The pod VM's inputs, as they were meant to be.
    #[command(flatten)]
    pub guest: GuestInputArgs,
    /// A real SEV-SNP attestation report (raw, hex or base64).
    #[arg(long, value_name = "FILE")]
    pub snp_report: PathBuf,
    /// The largest vCPU count tried.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=i64::from(chiaro_attest::snp::MAX_VCPUS)))]
    pub max_vcpus: u32,
}

/// `N` or `MIN-MAX`.
fn parse_vcpu_range(text: &str) -> Result<chiaro_attest::snp::VcpuRange, String> {
    let count = |part: &str| {
        part.trim()
            .parse::<u32>()
            .map_err(|_| format!("`{part}` is not a vCPU count"))
    };
    let (min, max) = match text.split_once('-') {
        Some((min, max)) => (count(min)?, count(max)?),
        None => {
            let only = count(text)?;
            (only, only)
        }
    };
    chiaro_attest::snp::VcpuRange::new(min, max).map_err(|error| error.to_string())
}

/// `bootloader=N,tee=N,snp=N,microcode=N[,fmc=N]`.
fn parse_minimum_tcb(text: &str) -> Result<chiaro_attest::snp::MinimumTcb, String> {
    let mut values = std::collections::BTreeMap::new();
    for part in text.split(',') {
        let (name, value) = part
            .split_once('=')
            .ok_or_else(|| format!("`{part}`: expected NAME=SPL"))?;
        let value: u8 = value
            .trim()
            .parse()
            .map_err(|_| format!("`{part}`: the SPL is a number 0–255"))?;
        if values.insert(name.trim().to_owned(), value).is_some() {
            return Err(format!("`{name}` given twice"));
        }
    }
    let mut take = |name: &str| values.remove(name);
    let required =
        |value: Option<u8>, name: &str| value.ok_or_else(|| format!("`{name}=` missing"));
    let tcb = chiaro_attest::snp::MinimumTcb {
        bootloader: required(take("bootloader"), "bootloader")?,
        tee: required(take("tee"), "tee")?,
        snp: required(take("snp"), "snp")?,
        microcode: required(take("microcode"), "microcode")?,
        fmc: take("fmc"),
    };
    match values.keys().next() {
        Some(unknown) => Err(format!(
            "`{unknown}` is not a TCB component (bootloader, tee, snp, microcode, fmc)"
        )),
        None => Ok(tcb),
    }
}

/// `0x…` hex or decimal.
fn parse_guest_features(text: &str) -> Result<chiaro_measure::snp::GuestFeatures, String> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse::<u64>(),
    };
    parsed
        .map(chiaro_measure::snp::GuestFeatures)
        .map_err(|_| format!("`{text}` is not a number (hex with 0x, or decimal)"))
}

/// `chiaro policy …`
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Evaluate one agent request as the Kata agent would; exit 0 allowed, 3 denied.
    Eval(PolicyEvalArgs),
    /// Print a policy's hash and what it pins, per container.
    Show(PolicyShowArgs),
}

/// `chiaro policy show`
#[derive(Debug, Args)]
pub struct PolicyShowArgs {
    /// The policy.
    #[command(flatten)]
    pub source: PolicySourceArgs,
    /// How to reach registries, for a workload not generated yet.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Where a policy comes from: exactly one of `--policy` and `--from-yaml`, and `--workload`
/// only with `--from-yaml`. (A struct-level `#[group]` would put `--workload` in the
/// one-of group too, refusing the documented `--from-yaml FILE --workload NAME`.)
#[derive(Debug, Args)]
#[group(skip)]
#[command(group(
    clap::ArgGroup::new("policy_source")
        .required(true)
        .multiple(false)
        .args(["policy", "from_yaml"])
))]
pub struct PolicySourceArgs {
    /// A policy (Rego text).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// A workload's YAML: the policy in its initdata annotation when `chiaro generate` wrote
    /// one, else the policy `chiaro generate --all` would write (images resolved).
    #[arg(long, value_name = "FILE")]
    pub from_yaml: Option<PathBuf>,
    /// Which workload of the YAML (by `metadata.name`), when it has several.
    // `conflicts_with` as well: clap takes `requires` as met by any member of the required
    // group, `--policy` included (clap-rs/clap#4707).
    #[arg(
        long,
        value_name = "NAME",
        requires = "from_yaml",
        conflicts_with = "policy"
    )]
    pub workload: Option<String>,
    /// The namespace of a workload without `metadata.namespace`, as `generate -n`.
    #[arg(
        short = 'n',
        long,
        value_name = "NAMESPACE",
        requires = "from_yaml",
        conflicts_with = "policy"
    )]
    pub namespace: Option<String>,
}

/// `chiaro policy eval`
#[derive(Debug, Args)]
pub struct PolicyEvalArgs {
    /// The policy.
    #[command(flatten)]
    pub source: PolicySourceArgs,
    /// The request as JSON, or a `{"kind": …, "request": …}` object as in Kata's testcases.json.
    #[arg(long, value_name = "FILE")]
    pub request: PathBuf,
    /// The request name, e.g. CreateContainerRequest (read from the file when it has `kind`).
    #[arg(long, value_name = "REQUEST_NAME")]
    pub kind: Option<String>,
    /// Policy state (`data.pstate`) before the request, as JSON; default empty.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// How to reach registries, for a workload not generated yet.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// How images are resolved.
#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// A registry reached over plain HTTP (`host:port` as in image references; repeatable).
    #[arg(long, value_name = "HOST")]
    pub insecure_registry: Vec<String>,
    /// Ask MIRROR for the images of REGISTRY (`*` for every registry; repeatable). Digests and
    /// the names written back stay those of REGISTRY.
    #[arg(long, value_name = "REGISTRY=MIRROR")]
    pub registry_mirror: Vec<String>,
    /// Docker's config.json with registry credentials; default `$DOCKER_CONFIG/config.json`
    /// or `~/.docker/config.json`.
    #[arg(long, value_name = "FILE")]
    pub docker_config: Option<PathBuf>,
    /// The image cache; default the user's cache directory.
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Ask no registry: every image must be pinned by digest, its manifests and
    /// configuration in the cache.
    #[arg(long)]
    pub offline: bool,
}

/// How to reach and attest the Coordinator.
#[derive(Debug, Args)]
pub struct CoordinatorArgs {
    /// The Coordinator's user API.
    #[arg(short = 'c', long, value_name = "HOST:PORT")]
    pub coordinator: String,
    /// Reference values the Coordinator's evidence must satisfy (a `reference_values` object
    /// in which every set pins the Coordinator's policy hash: SNP `host_data`, TDX
    /// `mr_config_id`). Required: the CLI trusts no Coordinator by default.
    #[arg(long, value_name = "FILE")]
    pub coordinator_reference: PathBuf,
    /// This machine's record of the deployment (its id and the latest transition seen):
    /// written by `set`, checked and updated by `verify` and `recover`, which refuse another
    /// deployment or a rolled-back history. Keep it with the manifest.
    #[arg(long, value_name = "FILE", default_value = "chiaro-deployment.json")]
    pub deployment: PathBuf,
    /// Verification time (RFC 3339); default: now.
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<String>,
}

/// `chiaro set`
#[derive(Debug, Args)]
pub struct SetArgs {
    /// The Coordinator.
    #[command(flatten)]
    pub coordinator: CoordinatorArgs,
    /// The manifest.
    #[arg(short = 'm', long, default_value = "manifest.json")]
    pub manifest: PathBuf,
    /// A workload-owner key (PKCS#8 PEM) listed in the current manifest; needed for updates.
    #[arg(long, value_name = "FILE")]
    pub workload_owner_key: Option<PathBuf>,
    /// Where to write the seed shares the first manifest returns.
    #[arg(long, default_value = ".")]
    pub seed_shares_dir: PathBuf,
}

/// `chiaro port-forward`
#[derive(Debug, Args)]
pub struct PortForwardArgs {
    /// The Coordinator.
    #[command(flatten)]
    pub coordinator: CoordinatorArgs,
    /// `pod/NAME` or `svc/NAME` (a bare NAME is a pod). The server identity to require is
    /// derived from it and the verified manifest alone: `pod/NAME` names the workload whose
    /// pods are named `WORKLOAD` or `WORKLOAD-…`, `svc/NAME` the Service.
    pub target: String,
    /// `LOCAL:REMOTE`, or `REMOTE` for the same port here (LOCAL 0: any free port).
    pub ports: String,
    /// The target's namespace.
    #[arg(short = 'n', long, default_value = "default")]
    pub namespace: String,
    /// A workload-owner key (PKCS#8 PEM) the current manifest lists: it signs the request for
    /// the client certificate the target's ingress allow-list must name
    /// (`workload-owner.chiaro.invalid`).
    #[arg(long, value_name = "FILE")]
    pub workload_owner_key: PathBuf,
    /// Require this server identity instead of the one TARGET gives: a SAN of exactly one
    /// entry of the verified manifest.
    #[arg(long, value_name = "SAN")]
    pub server_name: Option<String>,
    /// Where to listen here (loopback by default: whoever connects uses the owner's identity).
    #[arg(long, default_value = "127.0.0.1")]
    pub address: std::net::IpAddr,
    /// A forwarder to connect to (`chiaro-forwarder`, untrusted: it carries TLS records);
    /// default: `kubectl port-forward` to the one `chiaro install` deployed in
    /// `--chiaro-namespace` (in local mode, the forwarder's address).
    #[arg(long, value_name = "HOST:PORT")]
    pub forwarder: Option<String>,
    /// Where the forwarder connects (routing only, untrusted); default: the pod's IP from
    /// `kubectl get pod` with REMOTE (`pod/NAME`), or the Service's cluster DNS name with
    /// REMOTE (`svc/NAME`). In local mode: the report's `ingress` address.
    #[arg(long, value_name = "HOST:PORT")]
    pub to: Option<String>,
    /// Chiaro's namespace, where `chiaro install` put the forwarder.
    #[arg(long, default_value = crate::commands::install::DEFAULT_NAMESPACE)]
    pub chiaro_namespace: String,
    /// The kubectl to run (its context and credentials as configured).
    #[arg(long, default_value = "kubectl")]
    pub kubectl: String,
    /// How long each owner client certificate lives, in seconds (60 to 3600); a new one is
    /// requested when less than a minute is left.
    #[arg(long, value_name = "SECONDS", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(60..=3600))]
    pub certificate_lifetime: u64,
}

/// `chiaro verify`
#[derive(Debug, Args)]
pub struct VerifyDeploymentArgs {
    /// The Coordinator.
    #[command(flatten)]
    pub coordinator: CoordinatorArgs,
    /// The manifest the latest one must equal; without it, the history is only written.
    #[arg(short = 'm', long)]
    pub manifest: Option<PathBuf>,
    /// Where to write the history, the root CA and the mesh CA.
    #[arg(long, default_value = "verify")]
    pub out: PathBuf,
}

/// `chiaro recover`
#[derive(Debug, Args)]
pub struct RecoverArgs {
    /// The Coordinator.
    #[command(flatten)]
    pub coordinator: CoordinatorArgs,
    /// The seed-share owner's private key (PKCS#8 PEM).
    #[arg(long, value_name = "FILE", alias = "seedshare-owner-key")]
    pub seed_share_owner_key: PathBuf,
    /// The seed share `chiaro set` wrote for that key; default: `seed-share-<key digest>.bin`
    /// in `--seed-shares-dir`.
    #[arg(long, value_name = "FILE")]
    pub seed_share: Option<PathBuf>,
    /// Where `chiaro set` wrote the seed shares.
    #[arg(long, default_value = ".")]
    pub seed_shares_dir: PathBuf,
    /// Restore a persisted history older than the one `--deployment` records (a rollback:
    /// manifests installed since are undone). Without it, such a history is refused.
    #[arg(long)]
    pub allow_rollback: bool,
}

/// `chiaro keygen …`
#[derive(Debug, Subcommand)]
pub enum KeygenCommand {
    /// An ECDSA P-256 key that may authorise manifest updates.
    WorkloadOwner(KeygenArgs),
    /// An RSA-4096 key that seed shares are encrypted to.
    SeedShareOwner(KeygenArgs),
}

/// Where a generated key goes.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// The private key file (PKCS#8 PEM, mode 0600); the public key goes to FILE.pub.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Also add the key to this manifest (created when missing): a workload owner's digest to
    /// `workload_owner_key_digests`, a seed-share owner's key to `seed_share_owner_keys`.
    #[arg(short = 'm', long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
}

/// `chiaro evidence …`
#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// Print every field of an SNP report or a TDX quote, decoded.
    Show(ShowArgs),
    /// Verify evidence against the vendor's roots and reference values.
    #[command(subcommand)]
    Verify(VerifyCommand),
    /// INSECURE: write SNP-format evidence from a freshly generated simulated TEE, its chain,
    /// its root and matching reference values (for trying the verifier without hardware).
    SimulateInsecure(SimulateArgs),
}

/// `chiaro evidence simulate-insecure`
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Directory to write `report.bin`, `vcek-chain.pem`, `insecure-simulated-ark.pem` and
    /// `reference.json` into.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// `chiaro evidence show`
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct ShowArgs {
    /// An SEV-SNP attestation report (raw, hex or base64).
    #[arg(long, value_name = "FILE")]
    pub snp_report: Option<PathBuf>,
    /// A TDX quote (raw, hex or base64).
    #[arg(long, value_name = "FILE")]
    pub tdx_quote: Option<PathBuf>,
}

/// `chiaro evidence verify …`
#[derive(Debug, Subcommand)]
pub enum VerifyCommand {
    /// Verify an AMD SEV-SNP attestation report.
    Snp(VerifySnpArgs),
    /// Verify an Intel TDX quote.
    Tdx(VerifyTdxArgs),
}

/// `chiaro evidence verify snp`
#[derive(Debug, Args)]
pub struct VerifySnpArgs {
    /// The report (raw binary, hex or base64; detected).
    #[arg(long, value_name = "FILE")]
    pub report: PathBuf,
    /// Where the report starts inside the file, for reports embedded in a larger structure
    /// (Azure's HCL report: 32).
    #[arg(long, value_name = "BYTES", default_value_t = 0)]
    pub report_offset: usize,
    /// The VCEK or VLEK (DER or PEM); a PEM bundle of VCEK, ASK and ARK works alone.
    #[arg(long, value_name = "FILE")]
    pub vcek: Option<PathBuf>,
    /// The ASK/ASVK and ARK (PEM bundle as AMD KDS serves `cert_chain`, or DER).
    #[arg(long, value_name = "FILE")]
    pub chain: Option<PathBuf>,
    /// AMD's CRL for the product (DER or PEM).
    #[arg(long, value_name = "FILE")]
    pub crl: Option<PathBuf>,
    /// Reference values (JSON; schema in the README).
    #[arg(long, value_name = "FILE")]
    pub reference: Option<PathBuf>,
    /// Verification time (RFC 3339); default: now.
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<String>,
    /// INSECURE: trust this simulated ARK instead of AMD's roots. The evidence then proves
    /// nothing about hardware and is reported as `insecure_simulated`.
    #[arg(long, value_name = "FILE")]
    pub insecure_simulated_root: Option<PathBuf>,
}

/// `chiaro evidence verify tdx`
#[derive(Debug, Args)]
pub struct VerifyTdxArgs {
    /// The quote (raw binary, hex or base64; detected).
    #[arg(long, value_name = "FILE")]
    pub quote: PathBuf,
    /// Intel collateral as the JSON `dcap-qvl` and PCCS clients use.
    #[arg(long, value_name = "FILE")]
    pub collateral: PathBuf,
    /// Reference values (JSON; schema in the README).
    #[arg(long, value_name = "FILE")]
    pub reference: Option<PathBuf>,
    /// Verification time (RFC 3339); default: now.
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<String>,
}
