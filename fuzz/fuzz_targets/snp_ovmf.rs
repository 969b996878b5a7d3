//! OVMF images: parsing never panics, measuring what parses never panics (every VMM, with and
//! without a kernel), and the scalable digest is the direct one.
#![no_main]

use std::num::NonZeroU32;

use chiaro_measure::snp::{DirectBoot, FirmwareMeasurement, GuestFeatures, Ovmf, VcpuModel, Vmm};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Whole pages, the fuzzer's bytes at the end (where the footer table is read).
    let Some(padding) = data.len().div_ceil(4096).max(1).checked_mul(4096) else {
        return;
    };
    let mut image = vec![0; padding - data.len()];
    image.extend_from_slice(data);
    let _ = Ovmf::parse(&image[..image.len() - 4096]);
    let Ok(ovmf) = Ovmf::parse(&image) else {
        return;
    };
    // A section of a million zero pages measures correctly, but slowly.
    if ovmf
        .sections()
        .iter()
        .map(|s| u64::from(s.size))
        .sum::<u64>()
        > 1 << 22
    {
        return;
    }
    let boot = DirectBoot::new(b"kernel", b"initrd", "console=ttyS0");
    for vmm in Vmm::ALL {
        for boot in [None, Some(&boot)] {
            let Ok(measurement) = FirmwareMeasurement::from_ovmf_hash([0; 48], &ovmf, boot, vmm)
            else {
                continue;
            };
            let vcpus = NonZeroU32::new(3).expect("3 is not zero");
            let features = GuestFeatures(0x21);
            assert_eq!(
                measurement
                    .with_vcpus(VcpuModel::EpycGenoa, features)
                    .for_vcpus(vcpus),
                measurement.launch_digest(vcpus, VcpuModel::EpycGenoa, features),
            );
        }
    }
});
