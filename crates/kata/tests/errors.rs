//! What is refused: wrong types (with the key and its place), debug, non-confidential guests,
//! other hypervisors, and what this crate does not reproduce.

#![expect(clippy::unwrap_used, reason = "test helpers fail loudly")]

use chiaro_kata::{Error, KataConfig, Location};

const SNP: &str = include_str!("fixtures/configuration-qemu-snp.toml");

fn edit(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "{from:?} must occur once");
    text.replace(from, to)
}

fn refusal(text: &str) -> Error {
    KataConfig::parse(text).unwrap_err()
}

#[test]
fn a_wrong_type_names_the_key_and_its_place() {
    let text = "[hypervisor.qemu]\nconfidential_guest = true\ndefault_maxvcpus = \"four\"\n";
    let Error::WrongType {
        key,
        location,
        file,
        ..
    } = refusal(text)
    else {
        panic!()
    };
    assert_eq!(key, "hypervisor.qemu.default_maxvcpus");
    assert_eq!(
        location,
        Some(Location {
            line: 3,
            column: 20
        })
    );
    assert_eq!(file, None);

    let text = edit(
        SNP,
        "\nconfidential_guest = true",
        "\nconfidential_guest = \"yes\"",
    );
    let error = refusal(&text);
    let Error::WrongType {
        key,
        location: Some(location),
        ..
    } = &error
    else {
        panic!("{error}")
    };
    assert_eq!(key, "hypervisor.qemu.confidential_guest");
    let line = SNP
        .lines()
        .position(|line| line == "confidential_guest = true")
        .unwrap()
        + 1;
    assert_eq!(*location, Location { line, column: 22 });
    assert!(
        error
            .to_string()
            .contains(&format!("line {line}, column 22")),
        "{error}"
    );
}

#[test]
fn out_of_range_and_other_wrong_types() {
    for (from, to, key) in [
        (
            "default_maxvcpus = 0",
            "default_maxvcpus = -1",
            "hypervisor.qemu.default_maxvcpus",
        ),
        (
            "default_memory = 2048",
            "default_memory = 1.5",
            "hypervisor.qemu.default_memory",
        ),
        (
            "kernel_params = \"\"",
            "kernel_params = [\"a\"]",
            "hypervisor.qemu.kernel_params",
        ),
        (
            "default_vcpus = 1",
            "default_vcpus = \"1\"",
            "hypervisor.qemu.default_vcpus",
        ),
        (
            "dial_timeout = 90",
            "cdh_api_timeout = true",
            "agent.kata.cdh_api_timeout",
        ),
        (
            "static_sandbox_resource_mgmt = true",
            "static_sandbox_resource_mgmt = 1",
            "runtime.static_sandbox_resource_mgmt",
        ),
    ] {
        match refusal(&edit(SNP, from, to)) {
            Error::WrongType {
                key: got,
                location: Some(_),
                ..
            } => assert_eq!(got, key),
            other => panic!("{to}: {other:?}"),
        }
    }
}

#[test]
fn not_toml() {
    let error = refusal("[hypervisor.qemu]\nkernel = \n");
    assert!(
        matches!(
            error,
            Error::Syntax {
                location: Some(Location { line: 2, .. }),
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn debug_is_refused() {
    let text = edit(
        SNP,
        "enable_debug = false\n\ndisable_nesting_checks",
        "enable_debug = true\n\ndisable_nesting_checks",
    );
    assert_eq!(
        refusal(&text),
        Error::Debug {
            key: "hypervisor.qemu.enable_debug"
        }
    );
    let text = edit(
        SNP,
        "debug_console_enabled = false",
        "debug_console_enabled = true",
    );
    assert_eq!(
        refusal(&text),
        Error::Debug {
            key: "agent.kata.debug_console_enabled"
        }
    );
}

#[test]
fn a_guest_that_is_not_confidential_is_refused() {
    let text = edit(
        SNP,
        "\nconfidential_guest = true",
        "\nconfidential_guest = false",
    );
    assert_eq!(refusal(&text), Error::NotConfidential);
    let text = edit(SNP, "\nconfidential_guest = true", "\n");
    assert_eq!(refusal(&text), Error::NotConfidential);
}

#[test]
fn other_hypervisors_are_refused() {
    let text = edit(SNP, "[hypervisor.qemu]", "[hypervisor.clh]");
    assert_eq!(
        refusal(&text),
        Error::UnsupportedHypervisor("clh".to_owned())
    );
    let text = format!("{SNP}\n[hypervisor.firecracker]\n");
    assert!(matches!(refusal(&text), Error::SeveralHypervisors(names) if names.len() == 2));
    assert_eq!(refusal("[runtime]\n"), Error::NoHypervisor);
    let text = format!("{SNP}\n[agent.other]\n");
    assert!(matches!(refusal(&text), Error::SeveralAgents(_)));
}

#[test]
fn what_is_not_reproduced_is_refused() {
    let text = edit(
        SNP,
        "kernel_verity_params = \"\"",
        "kernel_verity_params = \"root_hash=ab,salt=cd,data_blocks=1,data_block_size=4096,hash_block_size=4096\"",
    );
    assert!(matches!(
        refusal(&text),
        Error::Unsupported {
            key: "hypervisor.qemu.kernel_verity_params",
            ..
        }
    ));
    let text = edit(
        SNP,
        "dial_timeout = 90",
        "dial_timeout = 90\nlaunch_process_timeout = 6",
    );
    assert!(matches!(
        refusal(&text),
        Error::Unsupported {
            key: "agent.kata.launch_process_timeout",
            ..
        }
    ));
    let text = edit(SNP, "machine_type = \"q35\"", "machine_type = \"microvm\"");
    assert!(matches!(
        refusal(&text),
        Error::Unsupported {
            key: "hypervisor.qemu.machine_type",
            ..
        }
    ));
}

#[test]
fn what_the_runtime_refuses_is_refused() {
    let text = edit(SNP, "rootfs_type = \"ext4\"", "rootfs_type = \"btrfs\"");
    assert!(matches!(
        refusal(&text),
        Error::InvalidValue {
            key: "hypervisor.qemu.rootfs_type",
            ..
        }
    ));
    let text = edit(
        SNP,
        "block_device_driver = \"virtio-scsi\"",
        "block_device_driver = \"ide\"",
    );
    assert!(matches!(
        refusal(&text),
        Error::InvalidValue {
            key: "hypervisor.qemu.block_device_driver",
            ..
        }
    ));
    let text = edit(SNP, "kernel_params = \"\"", "kernel_params = \"a =b\"");
    assert_eq!(
        refusal(&text),
        Error::EmptyKernelParam {
            param: "=b".to_owned()
        }
    );
    let text = edit(SNP, "rootfs_type = \"ext4\"", "initrd = \"/initrd\"");
    assert_eq!(refusal(&text), Error::ImageAndInitrd);
    let text = edit(
        SNP,
        "image = \"/opt/kata/share/kata-containers/kata-containers-confidential.img\"",
        "",
    );
    assert_eq!(refusal(&text), Error::NoGuestImage);
    let text = edit(
        SNP,
        "kernel = \"/opt/kata/share/kata-containers/vmlinuz-confidential.container\"",
        "",
    );
    assert_eq!(refusal(&text), Error::NoKernel);
    let text = edit(SNP, "default_vcpus = 1", "default_vcpus = nan");
    assert!(matches!(
        refusal(&text),
        Error::InvalidValue {
            key: "hypervisor.qemu.default_vcpus",
            ..
        }
    ));
}

#[test]
fn keys_in_another_letter_case_are_refused() {
    // The Go decoder matches keys case-insensitively: it would read these.
    let text = edit(SNP, "kernel_params = \"\"", "Kernel_Params = \"\"");
    assert_eq!(
        refusal(&text),
        Error::KeyCase {
            key: "hypervisor.qemu.Kernel_Params".to_owned(),
            field: "kernel_params"
        }
    );
    let text = edit(SNP, "[runtime]", "[Runtime]");
    assert_eq!(
        refusal(&text),
        Error::KeyCase {
            key: "Runtime".to_owned(),
            field: "runtime"
        }
    );
}

#[test]
fn drop_ins() {
    // A drop-in may set only keys the runtime knows.
    let error =
        KataConfig::parse_with_drop_ins(SNP, &["[hypervisor.qemu]\nkernel_parms = \"x\"\n"])
            .unwrap_err();
    assert_eq!(
        error,
        Error::UnknownDropInKey {
            key: "hypervisor.qemu.kernel_parms".to_owned(),
            file: 0
        }
    );
    let error =
        KataConfig::parse_with_drop_ins(SNP, &["", "[hypervisor.qemu]\nenable_debug = 1\n"])
            .unwrap_err();
    assert!(
        matches!(
            error,
            Error::WrongType {
                file: Some(1),
                location: Some(Location { line: 2, .. }),
                ..
            }
        ),
        "{error:?}"
    );
    let error = KataConfig::parse_with_drop_ins(SNP, &["[hypervisor.qemu]\nenable_debug = true\n"])
        .unwrap_err();
    assert_eq!(
        error,
        Error::Debug {
            key: "hypervisor.qemu.enable_debug"
        }
    );
}
