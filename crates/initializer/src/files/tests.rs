//! What the initializer writes where, and with which modes.

use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use chiaro_pod::layout::START_GATE_NAME;

fn scratch(name: &str) -> CredentialsDir {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "chiaro-initializer-{name}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = fs::remove_dir_all(&dir);
    CredentialsDir::new(dir)
}

fn credentials(workload_secret: Option<Vec<u8>>) -> Credentials {
    Credentials {
        certificate: vec![1, 2, 3],
        key: vec![4, 5, 6],
        mesh_ca: vec![7, 8],
        root_ca: vec![9],
        workload_secret,
    }
}

/// Every file under `root`, with its mode.
fn files_under(root: &Path) -> Vec<(PathBuf, u32)> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
                found.push((path, mode));
            }
        }
    }
    found.sort();
    found
}

#[test]
fn the_credentials_go_where_the_contract_says_private_ones_0600() {
    let out = scratch("write");
    write(&out, &credentials(Some(vec![0xab; 32]))).unwrap();
    let mut expected = vec![
        (out.mesh_ca(), PUBLIC.bits()),
        (out.root_ca(), PUBLIC.bits()),
        (out.certificate(), PUBLIC.bits()),
        (out.key(), PRIVATE.bits()),
        (out.workload_secret_seed(), PRIVATE.bits()),
    ];
    expected.sort();
    assert_eq!(files_under(out.root()), expected);
    assert_eq!((PRIVATE.bits(), PUBLIC.bits()), (0o600, 0o644));
    assert_eq!(
        fs::read_to_string(out.certificate()).unwrap(),
        pem("CERTIFICATE", &[1, 2, 3])
    );
    assert_eq!(
        fs::read_to_string(out.key()).unwrap(),
        pem("PRIVATE KEY", &[4, 5, 6])
    );
    assert!(
        fs::read_to_string(out.mesh_ca())
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----\n")
    );
    assert_eq!(
        fs::read_to_string(out.workload_secret_seed()).unwrap(),
        "ab".repeat(32),
        "hex"
    );
    fs::remove_dir_all(out.root()).unwrap();
}

#[test]
fn without_a_workload_secret_no_seed_file_is_written() {
    let out = scratch("no-secret");
    write(&out, &credentials(None)).unwrap();
    assert!(!out.workload_secret_seed().exists());
    assert!(out.secrets().is_dir());
    assert_eq!(files_under(out.root()).len(), 4);
    fs::remove_dir_all(out.root()).unwrap();
}

#[test]
fn the_start_gate_is_installed_whole_and_executable() {
    let out = scratch("gate");
    let source = scratch("gate-source");
    fs::create_dir_all(source.root()).unwrap();
    let binary = source.root().join(START_GATE_NAME);
    fs::write(&binary, b"#!/bin/sh\nexec \"$@\"\n").unwrap();
    let installed = install_start_gate(&out, &binary).unwrap();
    assert_eq!(installed, out.start_gate());
    assert_eq!(
        files_under(out.root()),
        [(out.start_gate(), Mode::EXECUTABLE.bits())],
        "no temporary left beside it"
    );
    assert_eq!(Mode::EXECUTABLE.bits(), 0o755);
    assert_eq!(fs::read(&installed).unwrap(), fs::read(&binary).unwrap());

    let error = install_start_gate(&out, &source.root().join("missing")).unwrap_err();
    assert!(format!("{error:#}").contains("missing"), "{error:#}");
    fs::remove_dir_all(out.root()).unwrap();
    fs::remove_dir_all(source.root()).unwrap();
}
