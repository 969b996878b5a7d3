//! The published vectors: `../shared/testdata/measure/snp` (sev-snp-measure 0.0.13's digests)
//! and the two assertions of sev-snp-measure's own tests.

use std::num::NonZeroU32;
use std::path::Path;

use chiaro_measure::Error;
use chiaro_measure::snp::{
    DirectBoot, FirmwareMeasurement, GuestFeatures, Ovmf, VcpuModel, Vmm, launch_digest,
};
use chiaro_test_support::vectors;
use serde_json::Value;

const SNP: &str = "measure/snp";

fn read(dir: &Path, name: &str) -> Vec<u8> {
    vectors::read(dir, &format!("{SNP}/{name}"))
}

#[test]
fn needs_vectors_every_snp_vector_computes_equal() {
    let dir = vectors::dir();
    let cases: Vec<Value> = serde_json::from_slice(&read(&dir, "vectors.json")).unwrap();
    assert_eq!(cases.len(), 21, "the README's 21 cases");
    for case in &cases {
        let text = |key: &str| case.get(key).and_then(Value::as_str);
        let image = read(&dir, text("ovmf").unwrap());
        let ovmf = Ovmf::parse(&image).unwrap();
        let files = text("kernel").map(|kernel| {
            let initrd = text("initrd")
                .map(|name| read(&dir, name))
                .unwrap_or_default();
            (read(&dir, kernel), initrd)
        });
        let boot = files
            .as_ref()
            .map(|(kernel, initrd)| DirectBoot::new(kernel, initrd, text("append").unwrap_or("")));
        let vcpus = NonZeroU32::new(case["vcpus"].as_u64().unwrap() as u32).unwrap();
        let model: VcpuModel = text("vcpu_type").unwrap().parse().unwrap();
        let features = GuestFeatures(case["guest_features"].as_u64().unwrap());
        let vmm: Vmm = text("vmm_type").unwrap().parse().unwrap();
        let expected = text("launch_digest").unwrap();

        let direct = launch_digest(&ovmf, boot.as_ref(), vmm, vcpus, model, features).unwrap();
        assert_eq!(hex::encode(direct), expected, "{case}");
        let scalable = FirmwareMeasurement::new(&ovmf, boot.as_ref(), vmm)
            .unwrap()
            .with_vcpus(model, features)
            .for_vcpus(vcpus);
        assert_eq!(hex::encode(scalable), expected, "{case} (scalable)");
    }
}

/// sev-snp-measure `tests/test_guest.py`: empty kernel and initrd (`/dev/null`), a command line,
/// `DebugSwap` among the guest features.
#[test]
fn needs_vectors_published_snp_digest_with_empty_kernel_and_initrd() {
    let dir = vectors::dir();
    let image = read(&dir, "ovmf_AmdSev_suffix.bin");
    let ovmf = Ovmf::parse(&image).unwrap();
    let boot = DirectBoot::new(b"", b"", "console=ttyS0 loglevel=7");
    let digest = launch_digest(
        &ovmf,
        Some(&boot),
        Vmm::Qemu,
        NonZeroU32::MIN,
        VcpuModel::EpycV4,
        GuestFeatures(0x21),
    )
    .unwrap();
    assert_eq!(
        hex::encode(digest),
        "803f691094946e42068aaa3a8f9e26a5c89f36f7b73ecfb28c653360fe4b3aba7e534442e7e1e17895dfe778d0228977"
    );
}

/// sev-snp-measure `tests/test_guest.py`: `--mode snp:ovmf-hash`.
#[test]
fn needs_vectors_published_ovmf_hash() {
    let dir = vectors::dir();
    let image = read(&dir, "ovmf_AmdSev_suffix.bin");
    let ovmf = Ovmf::parse(&image).unwrap();
    assert_eq!(
        hex::encode(ovmf.ovmf_hash()),
        "086e2e9149ebf45abdc3445fba5b2da8270bdbb04094d7a2c37faaa4b24af3aa16aff8c374c2a55c467a50da6d466b74"
    );
    // Seeding the computation with it gives what hashing the image gives.
    let boot = DirectBoot::new(b"", b"", "");
    assert_eq!(
        FirmwareMeasurement::from_ovmf_hash(ovmf.ovmf_hash(), &ovmf, Some(&boot), Vmm::Qemu),
        FirmwareMeasurement::new(&ovmf, Some(&boot), Vmm::Qemu)
    );
}

/// sev-snp-measure: "Kernel specified but OVMF metadata doesn't include SNP_KERNEL_HASHES
/// section".
#[test]
fn needs_vectors_kernel_with_a_firmware_without_kernel_hashes_is_refused() {
    let dir = vectors::dir();
    let image = read(&dir, "ovmf_OvmfX64_suffix.bin");
    let ovmf = Ovmf::parse(&image).unwrap();
    let kernel = read(&dir, "kernel.bin");
    let boot = DirectBoot::new(&kernel, b"", "");
    for vmm in Vmm::ALL {
        assert_eq!(
            FirmwareMeasurement::new(&ovmf, Some(&boot), vmm),
            Err(Error::NoKernelHashesSection)
        );
    }
    // Without a kernel it measures.
    assert!(FirmwareMeasurement::new(&ovmf, None, Vmm::Qemu).is_ok());
}

/// Every one-byte change of the real firmware suffixes, and every truncation, gives a digest
/// or a typed error: never a panic.
#[test]
fn needs_vectors_changed_and_truncated_fixtures_never_panic() {
    let dir = vectors::dir();
    let boot = DirectBoot::new(b"kernel", b"initrd", "cmdline");
    for name in ["ovmf_AmdSev_suffix.bin", "ovmf_OvmfX64_suffix.bin"] {
        let image = read(&dir, name);
        for len in (0..image.len()).step_by(97) {
            assert_eq!(
                Ovmf::parse(&image[image.len() - len..]).err(),
                Some(Error::FirmwareSize { len })
            );
        }
        // The footer table and the metadata are in the last 1.5 KiB.
        for at in image.len() - 0x600..image.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut changed = image.clone();
                changed[at] ^= flip;
                let Ok(ovmf) = Ovmf::parse(&changed) else {
                    continue;
                };
                if !crate::cheap_to_measure(&ovmf) {
                    continue;
                }
                for vmm in Vmm::ALL {
                    for boot in [None, Some(&boot)] {
                        // The image's hash is no matter here: skip it.
                        let _ = FirmwareMeasurement::from_ovmf_hash([0; 48], &ovmf, boot, vmm);
                    }
                }
            }
        }
    }
}
