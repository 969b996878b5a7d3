//! The configfs-tsm client against a temporary directory laid out like the kernel's.
//!
//! No TEE runs here, so the "kernel" is this test: it creates the entry's attributes as files,
//! and `outblob` as a FIFO so that, as with the real attribute, the client's read blocks until
//! the report is produced from what it wrote to `inblob`. What this cannot cover: the kernel's
//! own `mkdir`/`rmdir` semantics and real firmware.

#![expect(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;

use chiaro_attest::insecure_simulation::{InsecureSimulatedTee, SimulatedLaunch};
use chiaro_attest::snp::{self, SnpReferenceValues};
use chiaro_attest::{ReportData, UnixTime};
use chiaro_attest_guest::{ConfigfsTsm, Evidence, EvidenceIssuer, IssueError};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("chiaro-tsm-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Lays out an entry as the kernel does on `mkdir`, with `outblob` as a FIFO.
fn kernel_entry(root: &Path, provider: &str) -> PathBuf {
    let entry = root.join("entry");
    fs::create_dir(&entry).unwrap();
    fs::write(entry.join("provider"), format!("{provider}\n")).unwrap();
    fs::write(entry.join("generation"), "1\n").unwrap();
    fs::write(entry.join("inblob"), b"").unwrap();
    fs::write(entry.join("privlevel"), b"").unwrap();
    fs::write(entry.join("auxblob"), b"").unwrap();
    let status = Command::new("mkfifo")
        .arg(entry.join("outblob"))
        .status()
        .unwrap();
    assert!(status.success(), "mkfifo failed");
    entry
}

/// The kernel side: once the client opens `outblob`, answers with `respond(inblob)`, after
/// optionally moving `generation` as a concurrent writer would.
fn serve(
    entry: PathBuf,
    bump_generation: bool,
    respond: impl FnOnce(&[u8]) -> Vec<u8> + Send + 'static,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut outblob = fs::OpenOptions::new()
            .write(true)
            .open(entry.join("outblob"))
            .unwrap();
        let inblob = fs::read(entry.join("inblob")).unwrap();
        if bump_generation {
            fs::write(entry.join("generation"), "2\n").unwrap();
        }
        outblob.write_all(&respond(&inblob)).unwrap();
    })
}

#[test]
fn snp_request_writes_report_data_and_returns_the_report() {
    let root = scratch("snp");
    let entry = kernel_entry(&root, "sev_guest");
    let now: UnixTime = "2026-11-26T00:00:00Z".parse().unwrap();
    let tee = InsecureSimulatedTee::generate(now).unwrap();
    let anchors = tee.trust_anchors().unwrap();
    let collateral = tee.collateral();
    let kernel = serve(entry.clone(), false, move |inblob| {
        tee.report(
            &SimulatedLaunch::default(),
            &ReportData::from_slice(inblob).unwrap(),
        )
        .unwrap()
    });
    let report_data = ReportData::new([9; 64]);
    let evidence = ConfigfsTsm::new(&root)
        .with_privlevel(0)
        .request_in(&entry, &report_data)
        .unwrap();
    kernel.join().unwrap();
    let Evidence::Snp {
        report,
        certificate_table,
    } = evidence
    else {
        panic!("not SNP evidence")
    };
    assert_eq!(
        certificate_table, None,
        "an empty auxblob is no certificate table"
    );
    assert_eq!(fs::read_to_string(entry.join("privlevel")).unwrap(), "0");
    let claims = snp::verify(
        &report,
        &collateral,
        &anchors,
        &SnpReferenceValues {
            report_data: Some(report_data),
            ..Default::default()
        },
        now,
    )
    .unwrap();
    assert_eq!(claims.report_data, report_data);
    fs::remove_dir_all(root).unwrap();
}

#[test]
fn tdx_request_returns_the_quote() {
    let root = scratch("tdx");
    let entry = kernel_entry(&root, "tdx_guest");
    let kernel = serve(entry.clone(), false, |inblob| {
        let mut quote = b"QUOTE:".to_vec();
        quote.extend_from_slice(inblob);
        quote
    });
    let evidence = ConfigfsTsm::new(&root)
        .request_in(&entry, &ReportData::new([4; 64]))
        .unwrap();
    kernel.join().unwrap();
    let Evidence::Tdx { quote } = evidence else {
        panic!("not TDX evidence")
    };
    assert_eq!(&quote[..6], b"QUOTE:");
    assert_eq!(&quote[6..], &[4; 64]);
    fs::remove_dir_all(root).unwrap();
}

#[test]
fn a_concurrent_writer_is_detected() {
    let root = scratch("race");
    let entry = kernel_entry(&root, "tdx_guest");
    let kernel = serve(entry.clone(), true, |_| vec![1; 16]);
    let err = ConfigfsTsm::new(&root)
        .request_in(&entry, &ReportData::new([0; 64]))
        .unwrap_err();
    kernel.join().unwrap();
    assert!(
        matches!(
            err,
            IssueError::ConcurrentWriter {
                before: 1,
                after: 2
            }
        ),
        "{err:?}"
    );
    fs::remove_dir_all(root).unwrap();
}

#[test]
fn an_unknown_provider_is_refused() {
    let root = scratch("provider");
    let entry = kernel_entry(&root, "arm_cca_guest");
    let err = ConfigfsTsm::new(&root)
        .request_in(&entry, &ReportData::new([0; 64]))
        .unwrap_err();
    assert!(
        matches!(err, IssueError::UnsupportedProvider { ref provider } if provider == "arm_cca_guest"),
        "{err:?}"
    );
    fs::remove_dir_all(root).unwrap();
}

#[test]
fn a_missing_interface_is_reported_with_its_path() {
    let root = scratch("missing").join("tsm/report");
    let err = ConfigfsTsm::new(&root)
        .evidence(&ReportData::new([0; 64]))
        .unwrap_err();
    assert!(
        matches!(err, IssueError::NotAvailable { ref path, .. } if *path == root),
        "{err:?}"
    );
}
