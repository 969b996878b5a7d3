//! `chiaro measure snp` and `chiaro measure explain`, as a user runs them: on the launch-digest
//! vectors, on a node's Kata configuration (a copy of its files under `--root`), against
//! sev-snp-measure, and on signed (simulated) reports.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use chiaro::reports::MeasurementExplained;
use chiaro_attest::insecure_simulation::{InsecureSimulatedTee, SimulatedLaunch};
use chiaro_attest::snp::VcpuScaledMeasurement;
use chiaro_attest::{Measurement, ReportData};
use chiaro_kata::{KataConfig, Node, Pod};
use chiaro_manifest::{DraftReferenceValues, ManifestDraft};
use chiaro_test_support::prerequisite::{self, Prerequisite};
use chiaro_test_support::vectors;
use serde::Deserialize;

use crate::chiaro;

/// The vectors' directory for SNP launch digests.
const SNP: &str = "measure/snp";

/// The Kata SEV-SNP configuration as the runtime ships it (`chiaro-kata`'s fixture).
const KATA_SNP_CONFIG: &str =
    include_str!("../../../kata/tests/fixtures/configuration-qemu-snp.toml");

/// The TCB minimum every measured set carries (Milan's, as in the deploy guide).
const TCB: &str = "bootloader=3,tee=0,snp=8,microcode=115";

/// One case of `vectors.json`.
#[derive(Debug, Deserialize)]
struct Vector {
    ovmf: String,
    vcpus: u32,
    vcpu_type: String,
    guest_features: u64,
    vmm_type: String,
    kernel: Option<String>,
    initrd: Option<String>,
    append: Option<String>,
    launch_digest: String,
}

/// A directory for one test, removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("chiaro-measure-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn str(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn measured(stdout: &str) -> Vec<VcpuScaledMeasurement> {
    let values: DraftReferenceValues =
        serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(values.snp.len(), 1, "{stdout}");
    values.snp[0].vcpu_scaled_measurements.clone().unwrap()
}

fn file(dir: &Path, relative: &str) -> String {
    dir.join(relative).display().to_string()
}

#[test]
fn needs_vectors_measure_snp_gives_every_direct_boot_vector_from_one_value_per_model() {
    let dir = vectors::dir();
    let cases: Vec<Vector> =
        serde_json::from_slice(&vectors::read(&dir, &format!("{SNP}/vectors.json"))).unwrap();
    let mut checked = 0;
    for case in &cases {
        let mut args = vec![
            "--output".to_owned(),
            "json".to_owned(),
            "measure".to_owned(),
            "snp".to_owned(),
            "--firmware".to_owned(),
            file(&dir, &format!("{SNP}/{}", case.ovmf)),
            "--vcpu-model".to_owned(),
            case.vcpu_type.clone(),
            "--guest-features".to_owned(),
            format!("{:#x}", case.guest_features),
            "--vmm".to_owned(),
            case.vmm_type.clone(),
            "--vcpus".to_owned(),
            "1-8".to_owned(),
            "--minimum-tcb".to_owned(),
            TCB.to_owned(),
        ];
        if let Some(kernel) = &case.kernel {
            args.extend([
                "--kernel".to_owned(),
                file(&dir, &format!("{SNP}/{kernel}")),
            ]);
        }
        if let Some(initrd) = &case.initrd {
            args.extend([
                "--initrd".to_owned(),
                file(&dir, &format!("{SNP}/{initrd}")),
            ]);
        }
        if let Some(append) = &case.append {
            args.extend(["--cmdline".to_owned(), append.clone()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, stdout, stderr) = chiaro(&args);
        assert_eq!(code, 0, "{case:?}: {stdout}{stderr}");
        let [family] = measured(&stdout)[..] else {
            panic!("a fixed command line is one family: {stdout}");
        };
        assert_eq!(
            family.for_vcpus(case.vcpus).to_string(),
            case.launch_digest,
            "{case:?}"
        );
        checked += 1;
    }
    assert_eq!(checked, 21);
}

#[test]
fn needs_vectors_attack_reference_values_without_a_tcb_minimum_are_not_written() {
    // Without `minimum_tcb` a set accepts any firmware and microcode, known-broken ones too.
    let dir = vectors::dir();
    let firmware = file(&dir, &format!("{SNP}/ovmf_AmdSev_suffix.bin"));
    let (code, stdout, _) = chiaro(&[
        "--output",
        "json",
        "measure",
        "snp",
        "--firmware",
        &firmware,
    ]);
    assert_eq!(code, 64, "{stdout}");
    assert!(stdout.contains("--minimum-tcb"), "{stdout}");
    let scratch = Scratch::new("no-tcb");
    let manifest = scratch.str("manifest.json");
    let (code, stdout, _) = chiaro(&[
        "--output",
        "json",
        "measure",
        "snp",
        "--firmware",
        &firmware,
        "--manifest",
        &manifest,
    ]);
    assert_eq!(code, 64, "{stdout}");
    assert!(!scratch.path("manifest.json").exists());
    let (code, stdout, _) = chiaro(&[
        "--output",
        "json",
        "measure",
        "snp",
        "--firmware",
        &firmware,
        "--manifest",
        &manifest,
        "--minimum-tcb",
        TCB,
    ]);
    assert_eq!(code, 0, "{stdout}");
    let values: DraftReferenceValues = serde_json::from_str(&stdout).unwrap();
    assert!(values.snp[0].minimum_tcb.is_some());
    for bad in [
        "bootloader=3",
        "bootloader=3,tee=0,snp=8,microcode=999",
        "bootloader=3,tee=0,snp=8,microcode=1,cpu=2",
    ] {
        let (code, _, stderr) = chiaro(&[
            "measure",
            "snp",
            "--firmware",
            &firmware,
            "--minimum-tcb",
            bad,
        ]);
        assert_eq!(code, 64, "{bad}: {stderr}");
    }
}

#[test]
fn needs_vectors_a_kernel_with_a_firmware_without_kernel_hashes_is_refused() {
    let dir = vectors::dir();
    let (code, stdout, _) = chiaro(&[
        "--output",
        "json",
        "measure",
        "snp",
        "--firmware",
        &file(&dir, &format!("{SNP}/ovmf_OvmfX64_suffix.bin")),
        "--kernel",
        &file(&dir, &format!("{SNP}/kernel.bin")),
    ]);
    assert_eq!(code, 64, "{stdout}");
    assert!(stdout.contains("SNP_KERNEL_HASHES"), "{stdout}");
}

#[test]
fn bad_measure_inputs_are_usage_errors_that_say_what() {
    let scratch = Scratch::new("bad-inputs");
    std::fs::write(scratch.path("garbage.fd"), vec![0x5a; 4096]).unwrap();
    let cases: [(&[&str], &str); 5] = [
        (&["--vcpus", "0-4", "--firmware", "x"], "1 ≤ min ≤ max"),
        (&["--vcpus", "4-2", "--firmware", "x"], "1 ≤ min ≤ max"),
        (&["--vcpu-model", "EPYC-v9", "--firmware", "x"], "EPYC-v9"),
        (&["--guest-features", "0xzz", "--firmware", "x"], "0xzz"),
        (&["--kernel", "k"], "no firmware"),
    ];
    for (args, expected) in cases {
        let mut all = vec!["measure", "snp"];
        all.extend_from_slice(args);
        let (code, stdout, stderr) = chiaro(&all);
        assert_eq!(code, 64, "{args:?}: {stdout}{stderr}");
        assert!(
            format!("{stdout}{stderr}").contains(expected),
            "{args:?}: {stdout}{stderr}"
        );
    }
    let garbage = scratch.str("garbage.fd");
    let (code, stdout, stderr) = chiaro(&["measure", "snp", "--firmware", &garbage]);
    assert_eq!(code, 64, "{stdout}{stderr}");
    assert!(
        format!("{stdout}{stderr}").contains("garbage.fd"),
        "{stdout}{stderr}"
    );
}

/// A copy of a node's Kata files under `scratch`: see [`kata_node_at`].
fn kata_node(
    scratch: &Scratch,
    dir: &Path,
    image: bool,
    kernel_params: &str,
) -> (PathBuf, PathBuf) {
    let root = scratch.path("node");
    (kata_node_at(&root, dir, image, kernel_params), root)
}

/// A node's `/opt/kata` under `root`: the vectors' firmware, kernel and initrd at the shipped
/// configuration's paths, and that configuration (`kernel_params` set) booting the initrd, or
/// with `image` the root image it ships with. Returns the configuration's path.
pub(crate) fn kata_node_at(root: &Path, dir: &Path, image: bool, kernel_params: &str) -> PathBuf {
    let share = root.join("opt/kata/share");
    for sub in ["ovmf", "kata-containers", "defaults/kata-containers"] {
        std::fs::create_dir_all(share.join(sub)).unwrap();
    }
    std::fs::copy(
        dir.join(SNP).join("ovmf_AmdSev_suffix.bin"),
        share.join("ovmf/AMDSEV.fd"),
    )
    .unwrap();
    std::fs::copy(
        dir.join(SNP).join("kernel.bin"),
        share.join("kata-containers/vmlinuz-confidential.container"),
    )
    .unwrap();
    std::fs::copy(
        dir.join(SNP).join("initrd.bin"),
        share.join("kata-containers/kata-containers-initrd-confidential.img"),
    )
    .unwrap();
    let mut config = KATA_SNP_CONFIG.replace(
        "kernel_params = \"\"",
        &format!("kernel_params = {kernel_params:?}"),
    );
    if !image {
        config = config.replace(
            "image = \"/opt/kata/share/kata-containers/kata-containers-confidential.img\"",
            "initrd = \"/opt/kata/share/kata-containers/kata-containers-initrd-confidential.img\"",
        );
    }
    let path = share.join("defaults/kata-containers/configuration-qemu-snp.toml");
    std::fs::write(&path, config).unwrap();
    path
}

/// sev-snp-measure's digest of the vectors' AmdSev firmware, kernel and initrd.
fn sev_snp_measure(dir: &Path, vcpus: u32, cmdline: &str) -> String {
    let python = prerequisite::snp_measure_python().unwrap();
    let output = Command::new(python)
        .args(["-c", "import sys; from sevsnpmeasure.cli import main; sys.argv[0] = 'sev-snp-measure'; sys.exit(main())"])
        .args(["--mode", "snp", "--vcpu-type", "EPYC-v4", "--vmm-type", "QEMU"])
        .args(["--vcpus", &vcpus.to_string(), "--append", cmdline])
        .arg("--ovmf")
        .arg(dir.join(SNP).join("ovmf_AmdSev_suffix.bin"))
        .arg("--kernel")
        .arg(dir.join(SNP).join("kernel.bin"))
        .arg("--initrd")
        .arg(dir.join(SNP).join("initrd.bin"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[test]
fn needs_snp_oracle_and_needs_vectors_a_kata_node_measures_as_sev_snp_measure_says_for_each_vcpu_count()
 {
    Prerequisite::SnpMeasure.require();
    let dir = vectors::dir();
    let scratch = Scratch::new("kata-oracle");
    let (config_path, root) = kata_node(&scratch, &dir, false, "");
    let (code, stdout, stderr) = chiaro(&[
        "--output",
        "json",
        "measure",
        "snp",
        "--kata-config",
        &config_path.display().to_string(),
        "--root",
        &root.display().to_string(),
        "--vcpus",
        "1-3",
        "--minimum-tcb",
        TCB,
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let families = measured(&stdout);
    // Static sandbox sizing writes the vCPU count into the command line (`nr_cpus=`): one
    // value per count, each valid for that count only.
    assert_eq!(families.len(), 3, "{stdout}");
    let config = KataConfig::parse(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    let node = Node {
        cpus: chiaro_kata::MAX_VCPUS,
        fips: false,
    };
    for (family, vcpus) in families.iter().zip(1u32..) {
        assert_eq!((family.vcpus.min(), family.vcpus.max()), (vcpus, vcpus));
        let pod = Pod::from_cfs(i64::from(vcpus - 1) * 100_000, 100_000);
        assert_eq!(config.vcpus_for(&node, &pod), vcpus);
        let cmdline = config.kernel_command_line_for(&node, &pod);
        assert!(cmdline.contains(&format!(" nr_cpus={vcpus} ")), "{cmdline}");
        assert_eq!(
            family.for_vcpus(vcpus).to_string(),
            sev_snp_measure(&dir, vcpus, &cmdline)
        );
    }
}

#[test]
fn needs_vectors_attack_a_kata_root_image_without_dm_verity_is_refused() {
    // The launch digest covers the kernel, initrd and command line, not a disk image: with an
    // unverified root image the host could swap the agent that enforces the policy.
    let dir = vectors::dir();
    let scratch = Scratch::new("kata-image");
    let (config_path, root) = kata_node(&scratch, &dir, true, "");
    let args = |config: &Path| {
        vec![
            "--output".to_owned(),
            "json".to_owned(),
            "measure".to_owned(),
            "snp".to_owned(),
            "--kata-config".to_owned(),
            config.display().to_string(),
            "--root".to_owned(),
            root.display().to_string(),
            "--minimum-tcb".to_owned(),
            TCB.to_owned(),
        ]
    };
    let run = |config: &Path| {
        let args = args(config);
        chiaro(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let (code, stdout, _) = run(&config_path);
    assert_eq!(code, 64, "{stdout}");
    assert!(stdout.contains("dm-verity"), "{stdout}");
    let verity = format!(
        r#"dm-mod.create="root,,,ro,0 8 verity 1 /dev/vda1 /dev/vda2 4096 4096 1 1 sha256 {} -" root=/dev/dm-0"#,
        "ab".repeat(32)
    );
    let scratch = Scratch::new("kata-verity");
    let (config_path, _) = kata_node(&scratch, &dir, true, &verity);
    let (code, stdout, _) = {
        let mut args = args(&config_path);
        args[7] = scratch.str("node");
        chiaro(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    assert_eq!(code, 0, "{stdout}");
}

#[test]
fn needs_vectors_attack_kernel_params_that_open_the_guest_are_refused() {
    // The node's `kernel_params` end up in the measured line: a debug console or a shell there
    // would make a measurement of a guest the host can log into.
    let dir = vectors::dir();
    for params in [
        "agent.debug_console",
        "systemd.unit=emergency.target",
        "init=/bin/sh",
    ] {
        let scratch = Scratch::new("kata-params");
        let (config_path, root) = kata_node(&scratch, &dir, false, params);
        let (code, stdout, _) = chiaro(&[
            "--output",
            "json",
            "measure",
            "snp",
            "--kata-config",
            &config_path.display().to_string(),
            "--root",
            &root.display().to_string(),
        ]);
        assert_eq!(code, 64, "{params}: {stdout}");
        assert!(stdout.contains(params), "{params}: {stdout}");
    }
}

#[test]
fn needs_vectors_a_path_that_leaves_the_root_is_refused() {
    let dir = vectors::dir();
    let scratch = Scratch::new("kata-escape");
    let (config_path, root) = kata_node(&scratch, &dir, false, "");
    let kernel = root.join("opt/kata/share/kata-containers/vmlinuz-confidential.container");
    std::fs::remove_file(&kernel).unwrap();
    std::os::unix::fs::symlink(dir.join(SNP).join("kernel.bin"), &kernel).unwrap();
    let (code, stdout, _) = chiaro(&[
        "--output",
        "json",
        "measure",
        "snp",
        "--kata-config",
        &config_path.display().to_string(),
        "--root",
        &root.display().to_string(),
    ]);
    assert_eq!(code, 64, "{stdout}");
    assert!(stdout.contains("outside --root"), "{stdout}");
}

#[test]
fn needs_vectors_measure_snp_merges_into_each_snp_set_of_a_manifest() {
    let dir = vectors::dir();
    let scratch = Scratch::new("merge");
    let manifest = scratch.str("manifest.json");
    let measure = |cmdline: &str, extra: &[&str]| {
        let firmware = file(&dir, &format!("{SNP}/ovmf_AmdSev_suffix.bin"));
        let kernel = file(&dir, &format!("{SNP}/kernel.bin"));
        let mut args = vec![
            "--output",
            "json",
            "measure",
            "snp",
            "--firmware",
            &firmware,
            "--kernel",
            &kernel,
        ];
        args.extend([
            "--cmdline",
            cmdline,
            "--manifest",
            &manifest,
            "--minimum-tcb",
            TCB,
        ]);
        args.extend_from_slice(extra);
        let (code, stdout, stderr) = chiaro(&args);
        assert_eq!(code, 0, "{stdout}{stderr}");
        measured(&stdout)
    };
    let read = || {
        let draft = ManifestDraft::parse(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
        draft.reference_values().snp.clone()
    };
    // `--output json` prints the reference values the manifest has now.
    let first = measure("console=ttyS0", &[]);
    assert_eq!(first.len(), 1);
    assert_eq!(read().len(), 1);
    assert_eq!(read()[0].vcpu_scaled_measurements, Some(first.clone()));
    assert!(read()[0].minimum_tcb.is_some());
    let both = measure("console=hvc0", &[]);
    assert_eq!(both.len(), 2);
    assert_eq!(both[0], first[0]);
    assert_eq!(
        measure("console=hvc0", &[]),
        both,
        "the same measurement is not added twice"
    );
    assert_eq!(read()[0].vcpu_scaled_measurements, Some(both.clone()));
    let replaced = measure("quiet", &["--replace"]);
    assert_eq!(replaced.len(), 1);
    assert!(!both.contains(&replaced[0]));
    assert_eq!(read().len(), 1);
    assert_eq!(read()[0].vcpu_scaled_measurements, Some(replaced));
    assert_eq!(read()[0].measurements, None);
}

/// One simulated chain for the test binary (RSA key generation is slow).
fn tee() -> &'static InsecureSimulatedTee {
    static TEE: OnceLock<InsecureSimulatedTee> = OnceLock::new();
    TEE.get_or_init(|| {
        InsecureSimulatedTee::generate("2026-11-26T00:00:00Z".parse().unwrap()).unwrap()
    })
}

/// A signed report of a guest with this measurement, written to `scratch`.
fn report_file(scratch: &Scratch, measurement: Measurement) -> String {
    let launch = SimulatedLaunch {
        measurement,
        ..SimulatedLaunch::default()
    };
    let report = tee().report(&launch, &ReportData::new([7; 64])).unwrap();
    std::fs::write(scratch.path("report.bin"), report).unwrap();
    scratch.str("report.bin")
}

fn direct_boot_args(dir: &Path, cmdline: &str) -> Vec<String> {
    vec![
        "--firmware".to_owned(),
        file(dir, &format!("{SNP}/ovmf_AmdSev_suffix.bin")),
        "--kernel".to_owned(),
        file(dir, &format!("{SNP}/kernel.bin")),
        "--initrd".to_owned(),
        file(dir, &format!("{SNP}/initrd.bin")),
        "--cmdline".to_owned(),
        cmdline.to_owned(),
    ]
}

/// `measure snp` of the direct boot with these extra flags, for `vcpus`.
fn digest(dir: &Path, cmdline: &str, extra: &[&str], vcpus: u32) -> Measurement {
    let mut args: Vec<String> = ["--output", "json", "measure", "snp", "--minimum-tcb", TCB]
        .map(str::to_owned)
        .to_vec();
    args.extend(direct_boot_args(dir, cmdline));
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    let (code, stdout, stderr) = chiaro(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 0, "{stdout}{stderr}");
    measured(&stdout)[0].for_vcpus(vcpus)
}

fn explain(dir: &Path, report: &str, cmdline: &str) -> (i32, MeasurementExplained) {
    let mut args: Vec<String> = [
        "--output",
        "json",
        "measure",
        "explain",
        "--snp-report",
        report,
    ]
    .map(str::to_owned)
    .to_vec();
    args.extend(direct_boot_args(dir, cmdline));
    args.extend(["--max-vcpus".to_owned(), "16".to_owned()]);
    let (code, stdout, stderr) = chiaro(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let explained =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}{stderr}"));
    (code, explained)
}

#[test]
fn needs_vectors_explain_names_the_vcpu_count_model_and_features_a_report_was_launched_with() {
    let dir = vectors::dir();
    let scratch = Scratch::new("explain-found");
    let launched = digest(
        &dir,
        "console=ttyS0",
        &["--vcpu-model", "EPYC-Milan", "--guest-features", "0x21"],
        5,
    );
    let report = report_file(&scratch, launched);
    let (code, explained) = explain(&dir, &report, "console=ttyS0");
    assert_eq!(code, 0, "{explained:?}");
    assert_eq!(explained.measurement, launched);
    let [found] = &explained.matches[..] else {
        panic!("exactly one launch matches: {explained:?}");
    };
    assert_eq!(found.vcpus, 5);
    assert!(
        found.vcpu_models.iter().any(|model| model == "EPYC-Milan"),
        "{found:?}"
    );
    assert_eq!(found.guest_features, "0x21");
    assert_eq!(found.vmm, "QEMU");
    assert_eq!(found.differs_in.len(), 2, "{found:?}");
    assert!(
        found.differs_in[0].starts_with("vCPU model (given EPYC-v4)"),
        "{found:?}"
    );
    assert!(
        found.differs_in[1].starts_with("guest features (given 0x1)"),
        "{found:?}"
    );
    // The inputs as launched: no difference but the count.
    let same = digest(&dir, "console=ttyS0", &[], 3);
    let report = report_file(&scratch, same);
    let (code, explained) = explain(&dir, &report, "console=ttyS0");
    assert_eq!(code, 0);
    assert_eq!(explained.matches.len(), 1, "{explained:?}");
    assert!(explained.matches[0].differs_in.is_empty());
    assert!(
        explained.verdict.contains("with 3 vCPUs"),
        "{}",
        explained.verdict
    );
}

#[test]
fn needs_vectors_attack_explain_marks_a_launch_with_fewer_protections_as_weaker() {
    // A host that shows the owner a report of a guest with BTB isolation off must not have it
    // read as "measure again with these features".
    let dir = vectors::dir();
    let scratch = Scratch::new("explain-weaker");
    let launched = digest(&dir, "console=ttyS0", &["--guest-features", "0x1"], 2);
    let report = report_file(&scratch, launched);
    let mut args: Vec<String> = [
        "--output",
        "json",
        "measure",
        "explain",
        "--snp-report",
        &report,
    ]
    .map(str::to_owned)
    .to_vec();
    args.extend(direct_boot_args(&dir, "console=ttyS0"));
    args.extend([
        "--guest-features".to_owned(),
        "0x81".to_owned(),
        "--max-vcpus".to_owned(),
        "4".to_owned(),
    ]);
    let (code, stdout, _) = chiaro(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 0, "{stdout}");
    let explained: MeasurementExplained = serde_json::from_str(&stdout).unwrap();
    let found = explained
        .matches
        .iter()
        .find(|launch| launch.guest_features == "0x1")
        .unwrap();
    assert_eq!(
        found.downgrades,
        ["guest feature BTBIsolation (bit 7) off"],
        "{found:?}"
    );
    assert!(
        explained.verdict.contains("weaker"),
        "{}",
        explained.verdict
    );
}

#[test]
fn needs_vectors_explain_says_when_no_launch_of_the_files_matches() {
    let dir = vectors::dir();
    let scratch = Scratch::new("explain-none");
    // Another command line: every count, model, feature set and VMM misses.
    let other = digest(&dir, "console=ttyS0 loglevel=7", &[], 2);
    let report = report_file(&scratch, other);
    let (code, explained) = explain(&dir, &report, "console=ttyS0");
    assert_eq!(code, 3, "{explained:?}");
    assert!(explained.matches.is_empty());
    assert!(
        explained.verdict.contains("kernel command line"),
        "{}",
        explained.verdict
    );
    assert!(explained.tried >= 16 * 3 * 64, "{}", explained.tried);
}
