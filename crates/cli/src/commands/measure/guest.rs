//! The pod VM's inputs, read: from a node's Kata configuration and the flags (a flag wins),
//! with the files hashed as the launch measures them.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chiaro_measure::snp::{DirectBoot, FirmwareMeasurement, GuestFeatures, Ovmf, VcpuModel, Vmm};
use sha2::{Digest as _, Sha256};

use crate::cli::GuestInputArgs;
use crate::reports::GuestSummary;

/// The vCPU model the Kata runtime gives an SNP guest (`qemu_amd64.go`, `cpuModel()`).
const KATA_SNP_VCPU_MODEL: VcpuModel = VcpuModel::EpycV4;

/// Everything the launch digest depends on, read.
#[derive(Debug)]
pub(crate) struct Guest {
    firmware_path: PathBuf,
    firmware: Vec<u8>,
    boot: Option<Boot>,
    /// The vCPU model.
    pub(crate) vcpu_model: VcpuModel,
    /// The VMSA's SEV features.
    pub(crate) guest_features: GuestFeatures,
    /// The VMM.
    pub(crate) vmm: Vmm,
    /// What the user should know about these inputs.
    pub(crate) notes: Vec<String>,
}

/// A kernel, initrd and command line, hashed.
#[derive(Debug)]
struct Boot {
    kernel_path: PathBuf,
    initrd_path: Option<PathBuf>,
    cmdline: String,
    hashes: DirectBoot,
}

/// What a node's Kata configuration says about its SNP pod VMs.
#[derive(Debug, Default)]
struct KataGuest {
    firmware: Option<PathBuf>,
    kernel: Option<PathBuf>,
    initrd: Option<PathBuf>,
    cmdline: Option<String>,
    notes: Vec<String>,
}

impl Guest {
    /// Reads the configuration and the files it or the flags name.
    pub(crate) fn read(args: &GuestInputArgs) -> anyhow::Result<Self> {
        let kata = match &args.kata_config {
            Some(path) => kata_guest(path, args.root.as_deref())?,
            None => KataGuest::default(),
        };
        let Some(firmware_path) = args.firmware.clone().or(kata.firmware) else {
            bail!("no firmware: give --firmware FILE or --kata-config FILE");
        };
        let firmware = crate::input::read(&firmware_path, "firmware")?;
        let kernel = args.kernel.clone().or(kata.kernel);
        let initrd = args.initrd.clone().or(kata.initrd);
        let cmdline = args.cmdline.clone().or(kata.cmdline);
        let boot = match kernel {
            Some(kernel_path) => Some(Boot::read(kernel_path, initrd, cmdline.unwrap_or_default())?),
            None if initrd.is_some() || cmdline.is_some() => {
                bail!("an initrd or a command line is measured only with a kernel: give --kernel FILE")
            }
            None => None,
        };
        let kata_model = args.kata_config.as_ref().map(|_| KATA_SNP_VCPU_MODEL);
        Ok(Self {
            firmware_path,
            firmware,
            boot,
            vcpu_model: args.vcpu_model.or(kata_model).unwrap_or(KATA_SNP_VCPU_MODEL),
            guest_features: args.guest_features.unwrap_or_default(),
            vmm: args.vmm.unwrap_or(Vmm::Qemu),
            notes: kata.notes,
        })
    }

    /// The firmware's footer table and metadata.
    pub(crate) fn ovmf(&self) -> anyhow::Result<Ovmf<'_>> {
        Ovmf::parse(&self.firmware).with_context(|| format!("firmware {}", self.firmware_path.display()))
    }

    /// The digest of everything before the VMSAs, for this guest's VMM.
    pub(crate) fn firmware_measurement(&self) -> anyhow::Result<FirmwareMeasurement> {
        self.firmware_measurement_for(self.vmm)
    }

    /// The digest of everything before the VMSAs, for `vmm`.
    pub(crate) fn firmware_measurement_for(&self, vmm: Vmm) -> anyhow::Result<FirmwareMeasurement> {
        let ovmf = self.ovmf()?;
        FirmwareMeasurement::new(&ovmf, self.boot.as_ref().map(|boot| &boot.hashes), vmm)
            .with_context(|| format!("firmware {}", self.firmware_path.display()))
    }

    /// The inputs, for reports.
    pub(crate) fn summary(&self) -> GuestSummary {
        GuestSummary {
            firmware: self.firmware_path.display().to_string(),
            firmware_sha256: hex::encode(Sha256::digest(&self.firmware)),
            kernel: self.boot.as_ref().map(|boot| boot.kernel_path.display().to_string()),
            initrd: self
                .boot
                .as_ref()
                .and_then(|boot| boot.initrd_path.as_ref())
                .map(|path| path.display().to_string()),
            cmdline: self.boot.as_ref().map(|boot| boot.cmdline.clone()),
            vcpu_model: self.vcpu_model.to_string(),
            guest_features: format!("{:#x}", self.guest_features.0),
            vmm: self.vmm.to_string(),
        }
    }
}

impl Boot {
    fn read(kernel_path: PathBuf, initrd_path: Option<PathBuf>, cmdline: String) -> anyhow::Result<Self> {
        let kernel = sha256_of(&kernel_path, "kernel")?;
        let initrd = match &initrd_path {
            Some(path) => sha256_of(path, "initrd")?,
            None => Sha256::digest([]).into(),
        };
        let hashes = DirectBoot::from_sha256(kernel, initrd, &cmdline);
        Ok(Self {
            kernel_path,
            initrd_path,
            cmdline,
            hashes,
        })
    }
}

/// SHA-256 of a file, read in pieces (initrds are large).
fn sha256_of(path: &Path, what: &str) -> anyhow::Result<[u8; 32]> {
    let mut file = std::fs::File::open(path).with_context(|| format!("reading {what} {}", path.display()))?;
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

/// The node's Kata configuration: its files (under `root` when given) and the command line the
/// runtime assembles.
fn kata_guest(path: &Path, root: Option<&Path>) -> anyhow::Result<KataGuest> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading Kata configuration {}", path.display()))?;
    let config = chiaro_kata::KataConfig::parse(&text)
        .with_context(|| format!("Kata configuration {}", path.display()))?;
    let cmdline = config
        .kernel_command_line()
        .with_context(|| format!("Kata configuration {}", path.display()))?;
    let on_node = |file: &Path| match root {
        Some(root) => root.join(file.strip_prefix("/").unwrap_or(file)),
        None => file.to_path_buf(),
    };
    let mut notes = Vec::new();
    if config.image().is_some() {
        notes.push(
            "the configuration boots a root file system image: only the kernel, initrd and command \
             line are measured, so the image is pinned only through a dm-verity root hash on the \
             command line"
                .to_owned(),
        );
    }
    Ok(KataGuest {
        firmware: config.firmware().map(on_node),
        kernel: config.kernel().map(on_node),
        initrd: config.initrd().map(on_node),
        cmdline: Some(cmdline.to_string()),
        notes,
    })
}
