//! The kernel command line of the shipped SNP and TDX configurations and of their variants,
//! each part derived from the Go runtime's source (see the crate's documentation for the blobs).

#![expect(clippy::unwrap_used, reason = "test helpers fail loudly")]

use chiaro_kata::{Error, GuestImage, KataConfig, Node, Platform, Pod, RootfsType};

const SNP: &str = include_str!("fixtures/configuration-qemu-snp.toml");
const TDX: &str = include_str!("fixtures/configuration-qemu-tdx.toml");

/// A 64-CPU node without FIPS.
const NODE: Node = Node {
    cpus: 64,
    fips: false,
};

/// `text` with `from` replaced by `to`, which must occur once.
fn edit(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "{from:?} must occur once");
    text.replace(from, to)
}

fn line_on(text: &str, node: &Node) -> String {
    KataConfig::parse(text)
        .unwrap()
        .kernel_command_line_for(node, &Pod::NO_CPU_LIMIT)
}

/// The configuration without static resource management: `nr_cpus` is then `default_maxvcpus`.
fn dynamic(text: &str) -> String {
    edit(
        text,
        "static_sandbox_resource_mgmt = true",
        "static_sandbox_resource_mgmt = false",
    )
}

/// The shipped SNP configuration, for a pod without CPU limits, part by part.
const SNP_LINE: &str = concat!(
    // qemu_amd64.go `kernelParams`, the x86 list (`newQemuArch`; no IOMMU).
    "tsc=reliable no_timer_check rcupdate.rcu_expedited=1 i8042.direct=1 i8042.dumbkbd=1 ",
    "i8042.nopnp=1 i8042.noaux=1 noreplace-smp reboot=k cryptomgr.notests net.ifnames=0 ",
    "pci=lastbus=0 ",
    // qemu_arch_base.go `handleImagePath` (an image is set): hypervisor.go
    // `GetKernelRootParams("ext4", disableNvdimm = true, dax = false)` — `newQemuArch` disables
    // nvdimm for a confidential guest, so virtio-blk's `/dev/vda1` and the ext4 flags without
    // `dax`.
    "root=/dev/vda1 rootflags=data=ordered,errors=remount-ro ro rootfstype=ext4 ",
    // qemu_arch_base.go `appendConsole` (`use_legacy_serial = false`), run by `buildDevices`
    // before `CreateVM` reads the parameters.
    "console=hvc0 console=hvc1 ",
    // `kernelParameters(debug = false)`: `kernelParamsNonDebug`, with the
    // `kernelParamsSystemdNonDebug` that `handleImagePath` appended for an image.
    "quiet systemd.show_status=false ",
    // qemu.go `kernelParameters`: `defaultKernelParameters`.
    "panic=1 ",
    // `nr_cpus` = `DefaultMaxVCPUs`, which `static_sandbox_resource_mgmt = true` sets to the
    // VM's vCPU count (pkg/oci/utils.go `SandboxConfig`: `default_vcpus` 1 + the pod's CPU
    // limit 0, rounded up), replacing katautils' `defaultMaxVCPUs` (the node's CPU count for
    // `default_maxvcpus = 0`).
    "nr_cpus=1 ",
    // `disable_guest_selinux = true`.
    "selinux=0 ",
    // `HypervisorConfig.KernelParams` from katautils `SetKernelParams`: the systemd parameters
    // (`needSystemd`: an image is set), then `scsi_mod.scan=none` for `virtio-scsi`; no agent
    // parameters (agent debug, tracing, debug console off, no `cdh_api_timeout`) and an empty
    // `kernel_params`.
    "systemd.unit=kata-containers.target systemd.mask=systemd-networkd.service ",
    "systemd.mask=systemd-networkd.socket scsi_mod.scan=none",
);

#[test]
fn shipped_snp_configuration() {
    let config = KataConfig::parse(SNP).unwrap();
    assert_eq!(config.kernel_command_line().unwrap(), SNP_LINE);
    assert_eq!(
        config.kernel_command_line_for(&NODE, &Pod::NO_CPU_LIMIT),
        SNP_LINE
    );
    // A pod limited to half a CPU (containerd's quota 50000 per 100000): 1 + 0.5, rounded up.
    let half = Pod::from_cfs(50_000, 100_000);
    assert_eq!(config.vcpus_for(&NODE, &half), 2);
    assert_eq!(
        config.kernel_command_line_for(&NODE, &half),
        SNP_LINE.replace("nr_cpus=1", "nr_cpus=2")
    );
    assert_eq!(
        config.kernel(),
        "/opt/kata/share/kata-containers/vmlinuz-confidential.container"
    );
    assert_eq!(
        config.guest_image(),
        &GuestImage::Image {
            path: "/opt/kata/share/kata-containers/kata-containers-confidential.img".to_owned(),
            rootfs_type: RootfsType::Ext4,
        }
    );
    assert_eq!(config.initrd(), None);
    assert_eq!(config.firmware(), Some("/opt/kata/share/ovmf/AMDSEV.fd"));
    assert_eq!(config.firmware_volume(), None);
    assert_eq!(
        config.qemu_path(),
        Some("/opt/kata/bin/qemu-system-x86_64-snp-experimental")
    );
    assert_eq!(config.cpu_model(Platform::AmdSevSnp).unwrap(), "EPYC-v4");
    assert_eq!(
        config.qemu_cpu_argument(Platform::AmdSevSnp).unwrap(),
        "EPYC-v4,pmu=off"
    );
    assert_eq!(config.default_vcpus().unwrap(), 1);
    assert_eq!(config.vcpus().unwrap(), 1);
    assert_eq!(config.vcpus_for(&NODE, &Pod::NO_CPU_LIMIT), 1);
    assert_eq!(config.max_vcpus().unwrap(), 1);
    assert_eq!(config.default_memory_mib(), 2048);
    assert_eq!(config.snp_guest_policy(), Some(0x30000));
    assert!(config.sev_snp_guest());
    assert!(config.static_sandbox_resource_mgmt());
    assert_eq!(
        config.enable_annotations(),
        ["enable_iommu", "virtio_fs_extra_args", "kernel_params"]
    );
}

#[test]
fn shipped_tdx_configuration() {
    let config = KataConfig::parse(TDX).unwrap();
    // The same assembly: nothing in it is specific to SEV-SNP or TDX in this release.
    assert_eq!(config.kernel_command_line().unwrap(), SNP_LINE);
    assert_eq!(config.cpu_model(Platform::IntelTdx).unwrap(), "host");
    assert_eq!(
        config.qemu_cpu_argument(Platform::IntelTdx).unwrap(),
        "host,-vmx-rdseed-exit,pmu=off"
    );
    // Without `sev_snp_guest` an AMD node would start a plain SEV guest.
    assert_eq!(config.cpu_model(Platform::AmdSevSnp), Err(Error::NotSevSnp));
    assert_eq!(config.firmware(), Some("/opt/kata/share/tdvf/OVMF.fd"));
    assert_eq!(config.snp_guest_policy(), None);
}

#[test]
fn the_pod_s_cpu_limit_is_nr_cpus_with_static_resource_management() {
    let config = KataConfig::parse(SNP).unwrap();
    for (quota, period, vcpus) in [
        (0, 100_000, 1),
        (-1, 100_000, 1),
        (100_000, 0, 1),
        (100_000, 100_000, 2),
        (220_000, 100_000, 4),
        (33_333, 100_000, 2),
    ] {
        let pod = Pod::from_cfs(quota, period);
        assert_eq!(config.vcpus_for(&NODE, &pod), vcpus, "{quota}/{period}");
        assert!(
            config
                .kernel_command_line_for(&NODE, &pod)
                .contains(&format!(" nr_cpus={vcpus} "))
        );
    }
    // `default_maxvcpus` is then overridden.
    let text = edit(SNP, "default_maxvcpus = 0", "default_maxvcpus = 8");
    assert_eq!(
        KataConfig::parse(&text)
            .unwrap()
            .kernel_command_line()
            .unwrap(),
        SNP_LINE
    );
    // At most 240 (`validateHypervisorConfig`); the vCPU count itself is not capped.
    let big = Pod::from_cfs(1_000_000_000, 100_000);
    assert_eq!(config.max_vcpus_for(&NODE, &big), 240);
    assert_eq!(config.vcpus_for(&NODE, &big), 10_001);
}

#[test]
fn default_maxvcpus_n_is_nr_cpus() {
    let text = edit(
        &dynamic(SNP),
        "default_maxvcpus = 0",
        "default_maxvcpus = 4",
    );
    let config = KataConfig::parse(&text).unwrap();
    let line = config.kernel_command_line().unwrap();
    assert_eq!(line, SNP_LINE.replace("nr_cpus=1", "nr_cpus=4"));
    assert_eq!(
        config.kernel_command_line_for(&NODE, &Pod::NO_CPU_LIMIT),
        line
    );
    // The pod's CPU limit does not count without static resource management.
    assert_eq!(
        config.kernel_command_line_for(&NODE, &Pod::from_cfs(800_000, 100_000)),
        line
    );
    // `defaultMaxVCPUs`: a request of at least the node's CPU count is the node's CPU count.
    assert!(
        line_on(
            &text,
            &Node {
                cpus: 2,
                fips: false
            }
        )
        .contains(" nr_cpus=2 ")
    );
    assert!(
        line_on(
            &text,
            &Node {
                cpus: 4,
                fips: false
            }
        )
        .contains(" nr_cpus=4 ")
    );
}

#[test]
fn default_maxvcpus_0_is_the_node_s_cpus_at_most_240() {
    let text = dynamic(SNP);
    // The templates' `default_maxvcpus = 0` makes `nr_cpus` the node's CPU count.
    assert!(matches!(
        KataConfig::parse(&text).unwrap().kernel_command_line(),
        Err(Error::DependsOnNode {
            key: "hypervisor.qemu.default_maxvcpus",
            ..
        })
    ));
    assert_eq!(
        line_on(&text, &NODE),
        SNP_LINE.replace("nr_cpus=1", "nr_cpus=64")
    );
    assert!(
        line_on(
            &text,
            &Node {
                cpus: 512,
                fips: false
            }
        )
        .contains(" nr_cpus=240 ")
    );
    assert!(
        line_on(
            &text,
            &Node {
                cpus: 1,
                fips: false
            }
        )
        .contains(" nr_cpus=1 ")
    );
    // `validateHypervisorConfig` replaces a 0 by govmm.MaxVCPUs().
    assert!(
        line_on(
            &text,
            &Node {
                cpus: 0,
                fips: false
            }
        )
        .contains(" nr_cpus=240 ")
    );
    let text = edit(&text, "default_maxvcpus = 0", "default_maxvcpus = 1000");
    assert_eq!(KataConfig::parse(&text).unwrap().max_vcpus().unwrap(), 240);
}

#[test]
fn an_initrd_has_no_root_and_no_systemd_parameters() {
    let text = edit(
        SNP,
        "image = \"/opt/kata/share/kata-containers/kata-containers-confidential.img\"",
        "initrd = \"/opt/kata/share/kata-containers/kata-containers-initrd-confidential.img\"",
    );
    let config = KataConfig::parse(&text).unwrap();
    assert_eq!(
        config.initrd(),
        Some("/opt/kata/share/kata-containers/kata-containers-initrd-confidential.img")
    );
    assert_eq!(config.image(), None);
    // No `handleImagePath` parameters, no `kernelParamsSystemdNonDebug`, no `needSystemd`.
    assert_eq!(
        config.kernel_command_line().unwrap(),
        concat!(
            "tsc=reliable no_timer_check rcupdate.rcu_expedited=1 i8042.direct=1 i8042.dumbkbd=1 ",
            "i8042.nopnp=1 i8042.noaux=1 noreplace-smp reboot=k cryptomgr.notests net.ifnames=0 ",
            "pci=lastbus=0 console=hvc0 console=hvc1 quiet panic=1 nr_cpus=1 selinux=0 ",
            "scsi_mod.scan=none",
        )
    );
}

#[test]
fn rootfs_types() {
    let erofs = edit(SNP, "rootfs_type = \"ext4\"", "rootfs_type = \"erofs\"");
    assert!(line_on(&erofs, &NODE).contains(" root=/dev/vda1 rootflags=ro rootfstype=erofs "));
    // `GetKernelRootParams`: xfs falls through to the ext4 flags.
    let xfs = edit(SNP, "rootfs_type = \"ext4\"", "rootfs_type = \"xfs\"");
    assert!(
        line_on(&xfs, &NODE).contains(
            " root=/dev/vda1 rootflags=data=ordered,errors=remount-ro ro rootfstype=xfs "
        )
    );
    // `rootfsType()`: an empty or missing value is ext4.
    let empty = edit(SNP, "rootfs_type = \"ext4\"", "rootfs_type = \"\"");
    assert_eq!(line_on(&empty, &NODE), SNP_LINE);
    let missing = edit(SNP, "rootfs_type = \"ext4\"", "");
    assert_eq!(line_on(&missing, &NODE), SNP_LINE);
}

#[test]
fn disable_guest_selinux() {
    let enabled = edit(
        SNP,
        "disable_guest_selinux = true",
        "disable_guest_selinux = false",
    );
    assert_eq!(
        line_on(&enabled, &NODE),
        SNP_LINE.replace("selinux=0", "selinux=1")
    );
    // A Go bool: a missing key is false, so guest SELinux is on.
    let missing = edit(SNP, "disable_guest_selinux = true", "");
    assert_eq!(
        line_on(&missing, &NODE),
        SNP_LINE.replace("selinux=0", "selinux=1")
    );
}

#[test]
fn kernel_params_are_appended_last_as_written() {
    // `KernelParamFields` keeps a quoted value with spaces in one parameter; duplicates are
    // kept (the guest kernel honours the last) — here `selinux` and `panic` again, after the
    // runtime's own; `foo=` prints as `foo` (`SerializeParams` drops an empty value); extra
    // spaces vanish.
    let text = edit(
        SNP,
        "kernel_params = \"\"",
        r#"kernel_params = "  agent.log=info  selinux=1 dm-mod.create=\"a b  c\" foo= panic=0 panic=0 ""#,
    );
    assert_eq!(
        line_on(&text, &NODE),
        format!("{SNP_LINE} agent.log=info selinux=1 dm-mod.create=\"a b  c\" foo panic=0 panic=0")
    );
}

#[test]
fn the_shipped_cgroup_parameters() {
    // The `kernel_params` a later release ships in this configuration (observed by a third
    // party): they are appended unchanged.
    let text = edit(
        SNP,
        "kernel_params = \"\"",
        "kernel_params = \"cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1\"",
    );
    assert_eq!(
        line_on(&text, &NODE),
        format!("{SNP_LINE} cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1")
    );
}

#[test]
fn agent_parameters_come_before_kernel_params() {
    // `SetKernelParams`: systemd, scsi, then `KataAgentKernelParams` (debug, trace,
    // `agent.cdh_api_timeout`), then the configuration's `kernel_params`.
    let text = edit(
        SNP,
        "enable_debug = false\nenable_tracing = false\nkernel_modules",
        "enable_debug = true\nenable_tracing = true\ncdh_api_timeout = 50\nkernel_modules",
    );
    let text = edit(&text, "kernel_params = \"\"", "kernel_params = \"x=1\"");
    assert_eq!(
        line_on(&text, &NODE),
        format!("{SNP_LINE} agent.log=debug agent.trace=true agent.cdh_api_timeout=50 x=1")
    );
}

#[test]
fn block_device_driver() {
    let blk = edit(
        SNP,
        "block_device_driver = \"virtio-scsi\"",
        "block_device_driver = \"virtio-blk\"",
    );
    assert_eq!(
        line_on(&blk, &NODE),
        SNP_LINE.replace(" scsi_mod.scan=none", "")
    );
    // `blockDeviceDriver()`: an empty value is the default, virtio-scsi.
    let missing = edit(SNP, "block_device_driver = \"virtio-scsi\"", "");
    assert_eq!(line_on(&missing, &NODE), SNP_LINE);
}

#[test]
fn iommu_legacy_serial_and_fips() {
    let iommu = edit(SNP, "enable_iommu = false", "enable_iommu = true");
    assert!(
        line_on(&iommu, &NODE).contains(" pci=lastbus=0 intel_iommu=on iommu=pt root=/dev/vda1 ")
    );
    let serial = edit(SNP, "use_legacy_serial = false", "use_legacy_serial = true");
    assert!(line_on(&serial, &NODE).contains(" rootfstype=ext4 console=ttyS0 quiet "));
    // `checkForFIPS` appends `fips=1` last.
    assert_eq!(
        line_on(
            SNP,
            &Node {
                cpus: 64,
                fips: true
            }
        ),
        format!("{SNP_LINE} fips=1")
    );
}

#[test]
fn default_vcpus() {
    let config = |value: &str| {
        KataConfig::parse(&edit(
            SNP,
            "default_vcpus = 1",
            &format!("default_vcpus = {value}"),
        ))
        .unwrap()
    };
    let none = Pod::NO_CPU_LIMIT;
    assert_eq!(config("0").default_vcpus().unwrap(), 1);
    assert_eq!(config("1.5").default_vcpus().unwrap(), 2);
    // 1.5 + 0.5 = 2.
    assert_eq!(
        config("1.5").vcpus_for(&NODE, &Pod::from_cfs(50_000, 100_000)),
        2
    );
    assert_eq!(config("2.0").vcpus_for(&NODE, &none), 2);
    // Negative, or above the node's CPU count, is the node's CPU count.
    assert!(config("-1").default_vcpus().is_err());
    assert!(config("-1").kernel_command_line().is_err());
    assert_eq!(config("-1").vcpus_for(&NODE, &none), 64);
    assert_eq!(config("100").vcpus_for(&NODE, &none), 64);
    // With static resource management it is `nr_cpus`.
    assert_eq!(
        config("8").kernel_command_line().unwrap(),
        SNP_LINE.replace("nr_cpus=1", "nr_cpus=8")
    );
    // Without, it does not reach the command line.
    let text = edit(
        &dynamic(SNP),
        "default_maxvcpus = 0",
        "default_maxvcpus = 1",
    );
    let text = edit(&text, "default_vcpus = 1", "default_vcpus = 8");
    assert_eq!(
        KataConfig::parse(&text)
            .unwrap()
            .kernel_command_line()
            .unwrap(),
        SNP_LINE
    );
}

#[test]
fn default_memory_below_256_is_2048() {
    let text = edit(SNP, "default_memory = 2048", "default_memory = 255");
    assert_eq!(KataConfig::parse(&text).unwrap().default_memory_mib(), 2048);
    let text = edit(SNP, "default_memory = 2048", "default_memory = 4096");
    assert_eq!(KataConfig::parse(&text).unwrap().default_memory_mib(), 4096);
}

#[test]
fn drop_ins_override_keys() {
    let drop_in = "[hypervisor.qemu]\ndefault_vcpus = 2\nkernel_params = \"a=b\"\n";
    let config =
        KataConfig::parse_with_drop_ins(SNP, &[drop_in, "[runtime]\nenable_debug = true\n"])
            .unwrap();
    assert_eq!(
        config.kernel_command_line().unwrap(),
        format!("{} a=b", SNP_LINE.replace("nr_cpus=1", "nr_cpus=2"))
    );
    // The other keys stay.
    assert_eq!(config.firmware(), Some("/opt/kata/share/ovmf/AMDSEV.fd"));
}

#[test]
fn contrast_cross_check() {
    // Edgeless Contrast's SNP launch-digest derivation of 2024 (edgelesssys/contrast, Nix,
    // `cmdlineBase`, Kata 3.x with Contrast's patches) uses this line for an erofs image with
    // one vCPU, before appending its dm-verity arguments: the same parameters in the same order.
    let text = edit(SNP, "rootfs_type = \"ext4\"", "rootfs_type = \"erofs\"");
    assert_eq!(
        KataConfig::parse(&text)
            .unwrap()
            .kernel_command_line()
            .unwrap(),
        concat!(
            "tsc=reliable no_timer_check rcupdate.rcu_expedited=1 i8042.direct=1 i8042.dumbkbd=1 ",
            "i8042.nopnp=1 i8042.noaux=1 noreplace-smp reboot=k cryptomgr.notests net.ifnames=0 ",
            "pci=lastbus=0 root=/dev/vda1 rootflags=ro rootfstype=erofs console=hvc0 console=hvc1 ",
            "quiet systemd.show_status=false panic=1 nr_cpus=1 selinux=0 ",
            "systemd.unit=kata-containers.target systemd.mask=systemd-networkd.service ",
            "systemd.mask=systemd-networkd.socket scsi_mod.scan=none",
        )
    );
}
