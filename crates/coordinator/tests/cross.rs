//! The Windows CLI (`scripts/cross`'s `chiaro.exe`, under Debian's wine64) against a Linux
//! Coordinator on loopback: the workload owner's keys made on Windows, the manifest set and the
//! deployment verified from Windows, and the record it keeps read by the Linux CLI.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

mod harness;

use harness::{Cli, Deployment, ok, owner_keys, read};

#[test]
fn needs_cross_the_windows_cli_makes_keys_sets_and_verifies_against_a_linux_coordinator() {
    let mut deployment = Deployment::new();
    deployment.cli = Cli::WindowsUnderWine;
    let (owner_digest, share_owner) = owner_keys(&deployment);
    let manifest = deployment.manifest("manifest.json", "web", &owner_digest, &share_owner);
    deployment.start_coordinator();

    let set = ok(&deployment.set(&manifest, "owner.pem"));
    assert_eq!(set["fields"]["unchanged"], false, "{set}");
    let verify = |deployment: &Deployment, to: &str| {
        let out = deployment.path(to);
        ok(&deployment.chiaro(&["verify", "--out", out.to_str().unwrap()]))
    };
    let on_windows = verify(&deployment, "verify-windows");
    assert_eq!(on_windows["fields"]["manifests"], 1, "{on_windows}");

    // The Linux CLI, with the record the Windows one wrote, sees the same deployment: the same
    // history and mesh CA, and the manifest it set as the current one.
    deployment.cli = Cli::Linux;
    let on_linux = verify(&deployment, "verify-linux");
    let without_out = |report: &serde_json::Value| {
        let mut fields = report["fields"].clone();
        fields.as_object_mut().unwrap().remove("out");
        fields
    };
    assert_eq!(without_out(&on_linux), without_out(&on_windows));
    let step = format!(
        "manifests/0000-{}.json",
        on_linux["fields"]["latest_manifest"].as_str().unwrap()
    );
    for file in ["mesh-ca.pem", "coordinator-root-ca.pem", step.as_str()] {
        assert_eq!(
            read(&deployment.path(&format!("verify-linux/{file}"))),
            read(&deployment.path(&format!("verify-windows/{file}"))),
            "{file}"
        );
    }
    let again = ok(&deployment.set(&manifest, "owner.pem"));
    assert_eq!(again["fields"]["unchanged"], true, "{again}");
    std::fs::remove_dir_all(&deployment.dir).unwrap();
}
