//! What a test needs beyond the Rust toolchain, and the one rule for tests that need it.
//!
//! A test that needs a [`Prerequisite`] carries its [marker](Prerequisite::marker) in its name
//! (`needs_vectors_…`, `needs_registry_…`, `needs_root_…`, `needs_schemas_…`,
//! `needs_images_…`, `needs_snp_oracle_…`, `needs_cryptsetup_…`, `needs_vm_…`) and asks for
//! it here. It gets it or
//! panics saying what is missing; it never returns early, so a test that cannot run fails and
//! never passes. `scripts/test` runs [`missing`] (through the `chiaro-prerequisites` binary)
//! and, only when `CI` is unset, leaves out the tests whose marker names a missing
//! prerequisite (`-E 'not test(needs_…)'`): nextest counts them as skipped and the script says
//! why. Under `CI` nothing is left out.
//!
//! Under nextest, asking for a prerequisite from a test whose name lacks its marker panics too:
//! `scripts/test` could not leave that test out, so it would fail wherever the prerequisite is
//! missing instead of being skipped.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The variable that overrides where the vectors live.
pub const TESTDATA_ENV: &str = "CHIARO_TESTDATA";

/// The binary Debian's `docker-registry` package installs.
pub const REGISTRY_BINARY: &str = "docker-registry";

/// The offline checker of generated YAML against the Kubernetes schemas (PyPI).
pub const SCHEMA_CHECKER: &str = "kubernetes-validate";

/// The tools of the network-namespace tests: pods as namespaces (`ip`), the proxies' rules
/// (`iptables`, the `-restore` variants the mesh and local mode load them with), the helper
/// processes inside the namespaces (`python3`), the descriptor limits of the floods
/// (`prlimit`) and the ready-file test's pipe (`mkfifo`).
pub const ROOT_TOOLS: &[&str] = &[
    "ip",
    "iptables",
    "iptables-restore",
    "ip6tables-restore",
    "python3",
    "prlimit",
    "mkfifo",
];

/// The binaries Chiaro's images hold, built static by `scripts/images --prepare`.
pub const IMAGE_BINARIES: &[&str] = &[
    "chiaro-coordinator",
    "chiaro-initializer",
    "chiaro-start",
    "chiaro-mesh",
    "chiaro-volume",
    "chiaro-forwarder",
];

/// The tools the image tests read images back with: `skopeo` (registries and layouts),
/// `dpkg-deb` (the locked packages), `tar` (layers).
pub const IMAGE_TOOLS: &[&str] = &["skopeo", "dpkg-deb", "tar"];

/// The launch-digest oracle (PyPI), at the version the SEV-SNP vectors were computed with.
pub const SNP_MEASURE: &str = "sev-snp-measure";

/// The version of [`SNP_MEASURE`] the oracle tests want (`scripts/test` installs it).
pub const SNP_MEASURE_VERSION: &str = "0.0.13";

/// Debian's full OVMF image (package `ovmf`): a standard build, without kernel hashes.
pub const DEBIAN_OVMF: &str = "/usr/share/ovmf/OVMF.fd";

/// The tools the encrypted-volume tests run on this machine: `cryptsetup` (the INSECURE stand-in
/// formats files with it, and the host-side checks read the VM's disks with it).
pub const CRYPTSETUP_TOOLS: &[&str] = &["cryptsetup"];

/// What the VM tests put in their guest besides the kernel: the emulator, the tools the volume
/// owner runs and a static busybox for the init script.
pub const VM_TOOLS: &[&str] = &["qemu-system-x86_64", "cryptsetup", "mke2fs", "busybox"];

/// The targets `scripts/cross` builds the CLI for, beside this machine's own: static Linux on
/// both architectures, macOS on both, Windows.
pub const CROSS_TARGETS: &[&str] = &[
    "x86_64-unknown-linux-musl",
    "aarch64-unknown-linux-musl",
    "x86_64-apple-darwin",
    "aarch64-apple-darwin",
    WINDOWS,
];

/// The Windows target of [`CROSS_TARGETS`], whose binary runs here under [`WINE`].
pub const WINDOWS: &str = "x86_64-pc-windows-gnu";

/// Debian's `wine64` (package `wine64`), which runs the Windows binary here.
pub const WINE: &str = "/usr/lib/wine/wine64";

/// The tools the cross tests use: [`WINE`], and `file`, which reads the binaries' headers.
pub const CROSS_TOOLS: &[&str] = &[WINE, "file"];

/// Something a test needs that the toolchain does not bring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prerequisite {
    /// The third-party vectors in `../shared/testdata` (or `CHIARO_TESTDATA`).
    Vectors,
    /// Debian's `docker-registry`, a real OCI registry the tests start on loopback.
    Registry,
    /// Root, for network namespaces and firewall rules, with [`ROOT_TOOLS`].
    Root,
    /// [`SCHEMA_CHECKER`], which checks generated YAML against the Kubernetes schemas.
    Schemas,
    /// The static binaries ([`IMAGE_BINARIES`] in [`image_binaries_dir`]) and the locked
    /// Debian packages ([`image_debs_dir`]) of `scripts/images --prepare`, and
    /// [`IMAGE_TOOLS`].
    Images,
    /// [`SNP_MEASURE`] [`SNP_MEASURE_VERSION`] (in [`snp_measure_venv`], else on `PATH`) and
    /// [`DEBIAN_OVMF`]: an independent launch-digest calculator and a real firmware to run
    /// both on.
    SnpMeasure,
    /// [`CRYPTSETUP_TOOLS`] on `PATH`.
    Cryptsetup,
    /// [`VM_TOOLS`] on `PATH` (busybox the static one) and Debian's kernel with its modules
    /// extracted by `scripts/test` into [`vm_kernel_dir`] (with `modules.dep`).
    Vm,
    /// The CLI built by `scripts/cross` for every [`CROSS_TARGETS`] entry ([`cross_binary`]),
    /// the test-only `bcryptprimitives.dll` beside the Windows one, and [`CROSS_TOOLS`].
    Cross,
}

impl Prerequisite {
    /// Every prerequisite.
    pub const ALL: [Self; 9] = [
        Self::Vectors,
        Self::Registry,
        Self::Root,
        Self::Schemas,
        Self::Images,
        Self::SnpMeasure,
        Self::Cryptsetup,
        Self::Vm,
        Self::Cross,
    ];

    /// The word in the name of every test that needs it.
    pub const fn marker(self) -> &'static str {
        match self {
            Self::Vectors => "needs_vectors",
            Self::Registry => "needs_registry",
            Self::Root => "needs_root",
            Self::Schemas => "needs_schemas",
            Self::Images => "needs_images",
            Self::SnpMeasure => "needs_snp_oracle",
            Self::Cryptsetup => "needs_cryptsetup",
            Self::Vm => "needs_vm",
            Self::Cross => "needs_cross",
        }
    }

    /// Why this machine lacks it (`None`: it has it).
    pub fn absence(self) -> Option<String> {
        match self {
            Self::Vectors => {
                let dir = testdata_dir();
                (!dir.join("README.md").is_file()).then(|| {
                    format!(
                        "test data not found at {} (set {TESTDATA_ENV})",
                        dir.display()
                    )
                })
            }
            Self::Registry => (!runs(REGISTRY_BINARY, "--version")).then(|| {
                format!("{REGISTRY_BINARY} not installed (apt-get install docker-registry)")
            }),
            Self::Root => root_absence(),
            Self::Schemas => (!runs(SCHEMA_CHECKER, "--version"))
                .then(|| format!("{SCHEMA_CHECKER} not installed (pip install {SCHEMA_CHECKER})")),
            Self::Images => images_absence(),
            Self::SnpMeasure => snp_measure_absence(),
            Self::Cryptsetup => tools_absence(CRYPTSETUP_TOOLS, "cryptsetup-bin"),
            Self::Vm => vm_absence(),
            Self::Cross => cross_absence(),
        }
    }

    /// Claims the prerequisite for the running test: returns when it is there.
    ///
    /// # Panics
    /// When it is missing, or (under nextest) when the test's name lacks the marker.
    pub fn require(self) {
        self.check_marker();
        if let Some(why) = self.absence() {
            panic!(
                "{why}: this test needs it (scripts/test leaves tests named {} out when it is \
                 missing, unless CI is set)",
                self.marker()
            );
        }
    }

    fn check_marker(self) {
        let Ok(name) = std::env::var("NEXTEST_TEST_NAME") else {
            return;
        };
        assert!(
            name.contains(self.marker()),
            "the test {name} needs {self:?} but its name lacks {:?}: scripts/test could not \
             leave it out where that is missing",
            self.marker()
        );
    }
}

/// The prerequisites this machine lacks, each with why.
pub fn missing() -> Vec<(Prerequisite, String)> {
    Prerequisite::ALL
        .into_iter()
        .filter_map(|prerequisite| prerequisite.absence().map(|why| (prerequisite, why)))
        .collect()
}

/// Where the vectors are looked for: `CHIARO_TESTDATA`, else `../shared/testdata` beside the
/// workspace.
pub fn testdata_dir() -> PathBuf {
    std::env::var_os(TESTDATA_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata"))
}

fn root_absence() -> Option<String> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0");
    if !root {
        return Some("not root (network namespaces and firewall rules need it)".to_owned());
    }
    let absent: Vec<&str> = ROOT_TOOLS
        .iter()
        .copied()
        .filter(|tool| !on_path(tool))
        .collect();
    (!absent.is_empty()).then(|| format!("not installed: {}", absent.join(", ")))
}

/// The target directory: `CARGO_TARGET_DIR`, else `target` in the workspace.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

/// Where `scripts/images` puts the static binaries.
pub fn image_binaries_dir() -> PathBuf {
    target_dir().join("x86_64-unknown-linux-musl/image")
}

/// Where `scripts/images` downloads the locked Debian packages.
pub fn image_debs_dir() -> PathBuf {
    target_dir().join("images/debs")
}

fn images_absence() -> Option<String> {
    let binaries = image_binaries_dir();
    let mut absent: Vec<String> = IMAGE_BINARIES
        .iter()
        .filter(|binary| !binaries.join(binary).is_file())
        .map(|binary| format!("{}/{binary}", binaries.display()))
        .collect();
    let debs = image_debs_dir();
    let has_debs = std::fs::read_dir(&debs).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|entry| entry.file_name().to_string_lossy().ends_with(".deb"))
    });
    if !has_debs {
        absent.push(format!("the packages in {}", debs.display()));
    }
    if !absent.is_empty() {
        return Some(format!(
            "not built: {} (scripts/images --prepare)",
            absent.join(", ")
        ));
    }
    let tools: Vec<&str> = IMAGE_TOOLS
        .iter()
        .copied()
        .filter(|tool| !on_path(tool))
        .collect();
    (!tools.is_empty()).then(|| format!("not installed: {}", tools.join(", ")))
}

/// Where `scripts/cross` puts the CLI for `target`: `$CARGO_TARGET_DIR/cross-cli/TARGET/chiaro`
/// (`chiaro.exe` on Windows).
pub fn cross_binary(target: &str) -> PathBuf {
    let name = if target.contains("windows") {
        "chiaro.exe"
    } else {
        "chiaro"
    };
    target_dir().join("cross-cli").join(target).join(name)
}

fn cross_absence() -> Option<String> {
    let mut absent: Vec<String> = CROSS_TARGETS
        .iter()
        .map(|target| cross_binary(target))
        .filter(|binary| !binary.is_file())
        .map(|binary| binary.display().to_string())
        .collect();
    let windows = cross_binary(WINDOWS);
    let stand_in = windows.with_file_name("bcryptprimitives.dll");
    if !stand_in.is_file() {
        absent.push(stand_in.display().to_string());
    }
    if !absent.is_empty() {
        return Some(format!("not built: {} (scripts/cross)", absent.join(", ")));
    }
    tools_absence(CROSS_TOOLS, "wine64 file")
}

/// Where `scripts/test` installs [`SNP_MEASURE`]: a virtual environment in the target
/// directory.
pub fn snp_measure_venv() -> PathBuf {
    target_dir().join("venv/sev-snp-measure")
}

/// The Python interpreter that has [`SNP_MEASURE`]'s package (`sevsnpmeasure`): the virtual
/// environment's, else the one named by the `#!` line of the `sev-snp-measure` on `PATH`.
pub fn snp_measure_python() -> Option<PathBuf> {
    let venv_python = snp_measure_venv().join("bin/python3");
    if venv_python.is_file() {
        return Some(venv_python);
    }
    let path = std::env::var_os("PATH")?;
    let program = std::env::split_paths(&path)
        .map(|dir| dir.join(SNP_MEASURE))
        .find(|program| program.is_file())?;
    let script = std::fs::read(program).ok()?;
    let first_line = script.split(|&byte| byte == b'\n').next()?;
    let interpreter = std::str::from_utf8(first_line.strip_prefix(b"#!")?).ok()?;
    let mut words = interpreter.split_whitespace();
    let first = words.next()?;
    let python = if first.ends_with("/env") {
        words.next()?
    } else {
        first
    };
    Some(PathBuf::from(python))
}

fn snp_measure_absence() -> Option<String> {
    let install = format!(
        "scripts/test installs it: python3 -m venv {venv} && {venv}/bin/pip install \
         {SNP_MEASURE}=={SNP_MEASURE_VERSION}",
        venv = snp_measure_venv().display()
    );
    let Some(python) = snp_measure_python() else {
        return Some(format!("{SNP_MEASURE} not installed ({install})"));
    };
    let version = Command::new(&python)
        .args(["-c", "import sevsnpmeasure.cli as c; print(c.VERSION)"])
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned());
    match version {
        None => {
            return Some(format!(
                "{} cannot import sevsnpmeasure ({install})",
                python.display()
            ));
        }
        Some(version) if version != SNP_MEASURE_VERSION => {
            return Some(format!(
                "{SNP_MEASURE} {version} found, the oracle tests want {SNP_MEASURE_VERSION} \
                 ({install})"
            ));
        }
        Some(_) => {}
    }
    (!Path::new(DEBIAN_OVMF).is_file())
        .then(|| format!("{DEBIAN_OVMF} not found (apt-get install ovmf)"))
}

/// Where `scripts/test` extracts Debian's kernel package for the VM tests (`boot/vmlinuz-*`,
/// `lib/modules/*/`).
pub fn vm_kernel_dir() -> PathBuf {
    target_dir().join("vm/kernel")
}

fn tools_absence(tools: &[&str], packages: &str) -> Option<String> {
    let absent: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|tool| !on_path(tool))
        .collect();
    (!absent.is_empty()).then(|| {
        format!(
            "not installed: {} (apt-get install {packages})",
            absent.join(", ")
        )
    })
}

fn vm_absence() -> Option<String> {
    if let Some(why) = tools_absence(
        VM_TOOLS,
        "qemu-system-x86 cryptsetup-bin e2fsprogs busybox-static",
    ) {
        return Some(why);
    }
    let kernel = vm_kernel_dir();
    let has = |sub: &str, name: &str| {
        std::fs::read_dir(kernel.join(sub)).is_ok_and(|entries| {
            entries.flatten().any(|entry| {
                let path = entry.path();
                entry.file_name().to_string_lossy().starts_with(name) || path.join(name).is_file()
            })
        })
    };
    (!(has("boot", "vmlinuz-") && has("lib/modules", "modules.dep"))).then(|| {
        format!(
            "no kernel with modules.dep in {} (scripts/test extracts Debian's \
             linux-image-*-amd64 there)",
            kernel.display()
        )
    })
}

/// Whether `program arg` runs and succeeds.
fn runs(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Whether `tool` is an executable file in a `PATH` directory.
fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(tool)).is_ok_and(|meta| {
                meta.is_file()
                    && std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 != 0
            })
        })
    })
}
