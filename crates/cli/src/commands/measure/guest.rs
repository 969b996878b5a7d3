//! The pod VM's inputs, read: from a node's Kata configuration and the flags (a flag wins),
//! with the files hashed as the launch measures them.
//!
//! With the Kata runtime's static sandbox sizing (`static_sandbox_resource_mgmt`, which its
//! SEV-SNP and TDX configurations set) the kernel command line ends in `nr_cpus=N` for a VM of
//! N vCPUs, so the launch digest of each vCPU count has its own command line: [`Guest::stages`]
//! says which command line goes with which counts.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chiaro_attest::snp::VcpuRange;
use chiaro_kata::{KataConfig, Node, Pod};
use chiaro_measure::snp::page_info::Sha384Digest;
use chiaro_measure::snp::{DirectBoot, FirmwareMeasurement, GuestFeatures, Ovmf, VcpuModel, Vmm};
use sha2::{Digest as _, Sha256};

use crate::cli::GuestInputArgs;
use crate::commands::measure::cmdline;
use crate::reports::GuestSummary;

/// The vCPU model the Kata runtime gives an SNP guest (`chiaro_kata::SNP_CPU_MODEL`).
const KATA_SNP_VCPU_MODEL: VcpuModel = VcpuModel::EpycV4;

/// The node `measure` assumes: FIPS mode off, and CPUs enough for any pod VM.
const NODE: Node = Node {
    cpus: chiaro_kata::MAX_VCPUS,
    fips: false,
};

/// The CFS period containerd passes with a CPU quota (µs).
const CFS_PERIOD: u64 = 100_000;

/// Everything the launch digest depends on, read.
#[derive(Debug)]
pub(crate) struct Guest {
    firmware_path: PathBuf,
    firmware: Vec<u8>,
    ovmf_hash: Sha384Digest,
    boot: Option<BootFiles>,
    cmdline: CommandLine,
    /// Whether the guest boots a root file system image (which must then be a dm-verity root).
    image: bool,
    /// The vCPU model.
    pub(crate) vcpu_model: VcpuModel,
    /// The VMSA's SEV features.
    pub(crate) guest_features: GuestFeatures,
    /// The VMM.
    pub(crate) vmm: Vmm,
}

/// A kernel and initrd, hashed.
#[derive(Debug)]
struct BootFiles {
    kernel_path: PathBuf,
    kernel: [u8; 32],
    initrd_path: Option<PathBuf>,
    initrd: [u8; 32],
}

/// Where the kernel command line comes from.
#[derive(Debug)]
enum CommandLine {
    /// Given as a flag (or empty): the same for every vCPU count.
    Fixed(String),
    /// Assembled by the Kata runtime from its configuration, per pod.
    Kata(Box<KataConfig>),
}

/// The vCPU counts one kernel command line is launched with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stage {
    /// The counts.
    pub(crate) vcpus: VcpuRange,
    /// The command line (none without a kernel).
    pub(crate) cmdline: Option<String>,
}

impl Guest {
    /// Reads the configuration and the files it or the flags name.
    pub(crate) fn read(args: &GuestInputArgs) -> anyhow::Result<Self> {
        let kata = match &args.kata_config {
            Some(path) => Some(read_kata_config(path)?),
            None => None,
        };
        let on_node = |file: &str| node_path(args.root.as_deref(), file);
        let firmware_path = match (&args.firmware, &kata) {
            (Some(path), _) => path.clone(),
            (None, Some(config)) => match config.firmware() {
                Some(firmware) => on_node(firmware)?,
                None => bail!("the Kata configuration names no firmware: give --firmware FILE"),
            },
            (None, None) => bail!("no firmware: give --firmware FILE or --kata-config FILE"),
        };
        let firmware = crate::input::read(&firmware_path, "firmware")?;
        let ovmf_hash = Ovmf::parse(&firmware)
            .with_context(|| format!("firmware {}", firmware_path.display()))?
            .ovmf_hash();
        let kernel = match (&args.kernel, &kata) {
            (Some(path), _) => Some(path.clone()),
            (None, Some(config)) => Some(on_node(config.kernel())?),
            (None, None) => None,
        };
        let initrd = match (&args.initrd, kata.as_ref().and_then(KataConfig::initrd)) {
            (Some(path), _) => Some(path.clone()),
            (None, Some(initrd)) => Some(on_node(initrd)?),
            (None, None) => None,
        };
        let boot = match kernel {
            Some(kernel_path) => Some(BootFiles::read(kernel_path, initrd)?),
            None if initrd.is_some() || args.cmdline.is_some() => {
                bail!(
                    "an initrd or a command line is measured only with a kernel: give --kernel FILE"
                )
            }
            None => None,
        };
        let image = kata.as_ref().is_some_and(|config| config.image().is_some());
        let cmdline = match (&args.cmdline, kata) {
            (Some(given), _) => CommandLine::Fixed(given.clone()),
            (None, Some(config)) => CommandLine::Kata(Box::new(config)),
            (None, None) => CommandLine::Fixed(String::new()),
        };
        let kata_model = matches!(cmdline, CommandLine::Kata(_)).then_some(KATA_SNP_VCPU_MODEL);
        Ok(Self {
            firmware_path,
            firmware,
            ovmf_hash,
            boot,
            cmdline,
            image,
            vcpu_model: args
                .vcpu_model
                .or(kata_model)
                .unwrap_or(KATA_SNP_VCPU_MODEL),
            guest_features: args.guest_features.unwrap_or_default(),
            vmm: args.vmm.unwrap_or_default(),
        })
    }

    /// Which command line each vCPU count in `range` is launched with: one stage for a fixed
    /// command line, one per count the Kata runtime can give a pod when it writes the count into
    /// the line (counts below the configuration's base are never launched, and left out).
    ///
    /// # Errors
    /// When no count in `range` can be launched.
    pub(crate) fn stages(&self, range: VcpuRange) -> anyhow::Result<Vec<Stage>> {
        let stages = self.unchecked_stages(range)?;
        for stage in &stages {
            if let Some(line) = &stage.cmdline {
                cmdline::check(line, self.image)?;
            }
        }
        Ok(stages)
    }

    fn unchecked_stages(&self, range: VcpuRange) -> anyhow::Result<Vec<Stage>> {
        let Some(_) = &self.boot else {
            return Ok(vec![Stage {
                vcpus: range,
                cmdline: None,
            }]);
        };
        let config = match &self.cmdline {
            CommandLine::Fixed(cmdline) => {
                return Ok(vec![Stage {
                    vcpus: range,
                    cmdline: Some(cmdline.clone()),
                }]);
            }
            CommandLine::Kata(config) => config,
        };
        if !config.static_sandbox_resource_mgmt() {
            // The line does not depend on the pod; where it depends on the node's CPU count,
            // `kernel_command_line` refuses.
            return Ok(vec![Stage {
                vcpus: range,
                cmdline: Some(config.kernel_command_line()?),
            }]);
        }
        let base = config.default_vcpus()?;
        if range.max() > chiaro_kata::MAX_VCPUS {
            bail!(
                "--vcpus {range}: the Kata runtime gives a VM at most {} vCPUs",
                chiaro_kata::MAX_VCPUS
            );
        }
        let mut stages = Vec::new();
        for count in range.min()..=range.max() {
            let Some(pod) = pod_with_vcpus(config, count) else {
                continue;
            };
            stages.push(Stage {
                vcpus: VcpuRange::new(count, count)?,
                cmdline: Some(config.kernel_command_line_for(&NODE, &pod)),
            });
        }
        if stages.is_empty() {
            bail!(
                "the Kata configuration gives every pod VM at least {base} vCPUs: --vcpus {range} has none of them"
            );
        }
        Ok(stages)
    }

    /// The digest of everything before the VMSAs, with `cmdline`, for `vmm`.
    pub(crate) fn firmware_measurement(
        &self,
        vmm: Vmm,
        cmdline: Option<&str>,
    ) -> anyhow::Result<FirmwareMeasurement> {
        let ovmf = Ovmf::parse(&self.firmware)
            .with_context(|| format!("firmware {}", self.firmware_path.display()))?;
        let boot = self.boot.as_ref().map(|files| {
            DirectBoot::from_sha256(files.kernel, files.initrd, cmdline.unwrap_or_default())
        });
        FirmwareMeasurement::from_ovmf_hash(self.ovmf_hash, &ovmf, boot.as_ref(), vmm)
            .with_context(|| format!("firmware {}", self.firmware_path.display()))
    }

    /// The inputs, for reports; `cmdline` is the one of the smallest count.
    pub(crate) fn summary(&self, cmdline: Option<&str>) -> GuestSummary {
        GuestSummary {
            firmware: self.firmware_path.display().to_string(),
            firmware_sha256: hex::encode(Sha256::digest(&self.firmware)),
            kernel: self
                .boot
                .as_ref()
                .map(|boot| boot.kernel_path.display().to_string()),
            kernel_sha256: self.boot.as_ref().map(|boot| hex::encode(boot.kernel)),
            initrd: self
                .boot
                .as_ref()
                .and_then(|boot| boot.initrd_path.as_ref())
                .map(|path| path.display().to_string()),
            initrd_sha256: self.boot.as_ref().map(|boot| hex::encode(boot.initrd)),
            cmdline: cmdline.map(str::to_owned),
            cmdline_from: match &self.cmdline {
                CommandLine::Fixed(_) => "given".to_owned(),
                CommandLine::Kata(_) => {
                    "the Kata configuration (nr_cpus= follows the vCPU count)".to_owned()
                }
            },
            vcpu_model: self.vcpu_model.to_string(),
            guest_features: format!("{:#x}", self.guest_features.0),
            vmm: self.vmm.to_string(),
        }
    }
}

impl BootFiles {
    fn read(kernel_path: PathBuf, initrd_path: Option<PathBuf>) -> anyhow::Result<Self> {
        let kernel = sha256_of(&kernel_path, "kernel")?;
        let initrd = match &initrd_path {
            Some(path) => sha256_of(path, "initrd")?,
            None => Sha256::digest([]).into(),
        };
        Ok(Self {
            kernel_path,
            kernel,
            initrd_path,
            initrd,
        })
    }
}

/// A pod whose VM the runtime gives `count` vCPUs, if there is one: a CPU limit of `count`
/// minus the configuration's base.
fn pod_with_vcpus(config: &KataConfig, count: u32) -> Option<Pod> {
    let base = config.vcpus_for(&NODE, &Pod::NO_CPU_LIMIT);
    let pod = match count.checked_sub(base)? {
        0 => Pod::NO_CPU_LIMIT,
        extra => Pod::from_cfs(i64::from(extra) * CFS_PERIOD as i64, CFS_PERIOD),
    };
    (config.vcpus_for(&NODE, &pod) == count).then_some(pod)
}

/// A path of the node's, under `root` when given: resolved (symbolic links followed, as the
/// runtime follows them) and refused when it leaves `root`.
fn node_path(root: Option<&Path>, file: &str) -> anyhow::Result<PathBuf> {
    let file = Path::new(file);
    let Some(root) = root else {
        return Ok(file.to_path_buf());
    };
    let inside = root.join(file.strip_prefix("/").unwrap_or(file));
    let root = root
        .canonicalize()
        .with_context(|| format!("--root {}", root.display()))?;
    let resolved = inside
        .canonicalize()
        .with_context(|| format!("reading {}", inside.display()))?;
    if !resolved.starts_with(&root) {
        bail!(
            "{} resolves to {}, outside --root {}: an absolute link in the copy points at this machine's files",
            inside.display(),
            resolved.display(),
            root.display()
        );
    }
    Ok(resolved)
}

/// The configuration and its drop-ins (`config.d/*.toml` beside it, in file-name order, as the
/// runtime reads them).
fn read_kata_config(path: &Path) -> anyhow::Result<KataConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading Kata configuration {}", path.display()))?;
    let drop_in_dir = path.parent().unwrap_or(Path::new(".")).join("config.d");
    let mut drop_in_paths: Vec<PathBuf> = match std::fs::read_dir(&drop_in_dir) {
        Ok(entries) => entries
            .map(|entry| entry.map(|entry| entry.path()))
            .collect::<Result<_, _>>()
            .with_context(|| format!("reading {}", drop_in_dir.display()))?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(error) => {
            return Err(error).with_context(|| format!("reading {}", drop_in_dir.display()));
        }
    };
    drop_in_paths.retain(|path| {
        path.extension()
            .is_some_and(|extension| extension == "toml")
    });
    drop_in_paths.sort();
    let drop_ins = drop_in_paths
        .iter()
        .map(|path| {
            std::fs::read_to_string(path)
                .with_context(|| format!("reading Kata drop-in {}", path.display()))
        })
        .collect::<anyhow::Result<Vec<String>>>()?;
    let drop_ins: Vec<&str> = drop_ins.iter().map(String::as_str).collect();
    KataConfig::parse_with_drop_ins(&text, &drop_ins).with_context(|| {
        format!(
            "Kata configuration {} (with {} drop-ins)",
            path.display(),
            drop_ins.len()
        )
    })
}

/// SHA-256 of a file, read in pieces (initrds are large).
fn sha256_of(path: &Path, what: &str) -> anyhow::Result<[u8; 32]> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("reading {what} {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file
            .read(&mut buffer)
            .with_context(|| format!("reading {what} {}", path.display()))?;
        let Some(piece) = buffer.get(..read).filter(|piece| !piece.is_empty()) else {
            break;
        };
        hasher.update(piece);
    }
    Ok(hasher.finalize().into())
}
