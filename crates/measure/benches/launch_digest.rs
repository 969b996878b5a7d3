//! The launch digest of a large direct boot (`bench/snp-measure`): a 4 MiB firmware (the
//! AmdSev fixture's footer at the end of 4 MiB), a 10 MiB kernel and a 50 MiB initrd, by
//! chiaro-measure (reading the firmware, streaming the kernel and initrd through SHA-256 as a CLI
//! would, and computing, in this process) and by sev-snp-measure (its
//! command line, one process per round, as a user runs it), in turns, ROUNDS times. Prints each
//! round, the medians and their ratio; checks the two digests are equal (no timed assertion).
//!
//! Usage: `cargo bench -p chiaro-measure --bench launch_digest -- [ROUNDS]`, with
//! `SEV_SNP_MEASURE` naming the program (else `sev-snp-measure` in the oracle's virtual
//! environment, else on `PATH`).

use std::io::Read as _;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use chiaro_measure::snp::{DirectBoot, GuestFeatures, Ovmf, VcpuModel, Vmm, launch_digest};
use chiaro_test_support::prerequisite;
use sha2::{Digest as _, Sha256};

const CMDLINE: &str = "console=ttyS0 root=/dev/vda1 ro";
const VCPUS: u32 = 4;

/// Pseudo-random bytes (xorshift), so nothing compresses or repeats in a page.
fn filler(len: usize, mut state: u64) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn sev_snp_measure() -> PathBuf {
    if let Some(program) = std::env::var_os("SEV_SNP_MEASURE") {
        return program.into();
    }
    let venv = prerequisite::snp_measure_venv().join("bin/sev-snp-measure");
    if venv.is_file() {
        venv
    } else {
        PathBuf::from("sev-snp-measure")
    }
}

#[expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "a benchmark stops on broken set-up"
)]
fn ours(ovmf: &Path, kernel: &Path, initrd: &Path, parts: &mut [Vec<Duration>; 3]) -> String {
    let start = Instant::now();
    let image = std::fs::read(ovmf).unwrap();
    parts[0].push(start.elapsed());
    let start = Instant::now();
    let boot = DirectBoot::from_sha256(sha256_file(kernel), sha256_file(initrd), CMDLINE);
    parts[1].push(start.elapsed());
    let start = Instant::now();
    let ovmf = Ovmf::parse(&image).unwrap();
    let vcpus = NonZeroU32::new(VCPUS).unwrap_or_else(|| panic!("{VCPUS} vCPUs"));
    let digest = launch_digest(
        &ovmf,
        Some(&boot),
        Vmm::Qemu,
        vcpus,
        VcpuModel::EpycV4,
        GuestFeatures::SNP_ACTIVE,
    )
    .unwrap();
    parts[2].push(start.elapsed());
    hex_digest(&digest)
}

/// The SHA-256 of a file read in 1 MiB pieces (as a CLI streams a large initrd).
#[expect(clippy::unwrap_used, reason = "a benchmark stops on broken set-up")]
fn sha256_file(path: &Path) -> [u8; 32] {
    let mut file = std::fs::File::open(path).unwrap();
    let mut buffer = vec![0; 1 << 20];
    let mut hash = Sha256::new();
    loop {
        let read = file.read(&mut buffer).unwrap();
        if read == 0 {
            return hash.finalize().into();
        }
        hash.update(&buffer[..read]);
    }
}

fn hex_digest(digest: &[u8]) -> String {
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[expect(clippy::unwrap_used, reason = "a benchmark stops on broken set-up")]
fn theirs(program: &Path, ovmf: &Path, kernel: &Path, initrd: &Path) -> String {
    let output = Command::new(program)
        .args([
            "--mode",
            "snp",
            "--vcpus",
            &VCPUS.to_string(),
            "--vcpu-type",
            "EPYC-v4",
        ])
        .arg("--ovmf")
        .arg(ovmf)
        .arg("--kernel")
        .arg(kernel)
        .arg("--initrd")
        .arg(initrd)
        .args(["--append", CMDLINE])
        .output()
        .unwrap();
    assert!(output.status.success(), "{} failed", program.display());
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[expect(clippy::print_stdout, reason = "a benchmark prints its numbers")]
#[expect(clippy::unwrap_used, reason = "a benchmark stops on broken set-up")]
fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find(|arg| !arg.starts_with('-'))
        .map_or(5, |arg| arg.parse().unwrap());
    let program = sev_snp_measure();
    let dir = std::env::temp_dir().join(format!("chiaro-snp-measure-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let suffix =
        std::fs::read(prerequisite::testdata_dir().join("measure/snp/ovmf_AmdSev_suffix.bin"))
            .unwrap();
    let mut firmware = filler((4 << 20) - suffix.len(), 1);
    firmware.extend_from_slice(&suffix);
    let ovmf = dir.join("OVMF.fd");
    let kernel = dir.join("vmlinuz");
    let initrd = dir.join("initrd");
    std::fs::write(&ovmf, &firmware).unwrap();
    std::fs::write(&kernel, filler(10 << 20, 2)).unwrap();
    std::fs::write(&initrd, filler(50 << 20, 3)).unwrap();
    println!(
        "4 MiB firmware + 10 MiB kernel + 50 MiB initrd, {VCPUS} vCPUs; {rounds} rounds; \
         sev-snp-measure: {}",
        program.display()
    );

    let (mut chiaro, mut python) = (Vec::new(), Vec::new());
    let mut parts: [Vec<Duration>; 3] = Default::default();
    for round in 1..=rounds {
        let start = Instant::now();
        let our_digest = ours(&ovmf, &kernel, &initrd, &mut parts);
        chiaro.push(start.elapsed());
        let start = Instant::now();
        let their_digest = theirs(&program, &ovmf, &kernel, &initrd);
        python.push(start.elapsed());
        assert_eq!(our_digest, their_digest, "the two digests differ");
        println!(
            "round {round}: chiaro-measure {:>8.1} ms   sev-snp-measure {:>8.1} ms",
            chiaro[round - 1].as_secs_f64() * 1e3,
            python[round - 1].as_secs_f64() * 1e3
        );
    }
    let (ours, theirs) = (median(&mut chiaro), median(&mut python));
    println!(
        "median:  chiaro-measure {:>8.1} ms   sev-snp-measure {:>8.1} ms   ratio {:.1}x",
        ours.as_secs_f64() * 1e3,
        theirs.as_secs_f64() * 1e3,
        theirs.as_secs_f64() / ours.as_secs_f64()
    );
    let [read, sha256, rest] = parts
        .each_mut()
        .map(|times| median(times).as_secs_f64() * 1e3);
    println!(
        "chiaro-measure's median parts: reading the firmware {read:.1} ms, streaming SHA-256 of \
         kernel and initrd {sha256:.1} ms, firmware pages, metadata and VMSAs {rest:.1} ms"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
