//! The property the verifier relies on: the N-vCPU digest derived from the 1-vCPU
//! [`ScalableDigest`](chiaro_measure::snp::ScalableDigest) is the one computed directly.

use std::num::NonZeroU32;

use chiaro_measure::snp::{
    CpuSignature, DirectBoot, FirmwareMeasurement, GuestFeatures, Ovmf, VcpuModel, Vmm,
};

use crate::Rng;
use crate::synthetic::Firmware;

#[test]
fn the_scalable_digest_equals_the_direct_one_for_1_to_64_vcpus() {
    let mut rng = Rng::new(0x5ca1ab1e);
    for _ in 0..40 {
        let firmware = Firmware::random(&mut rng);
        let image = firmware.build(&mut rng);
        let ovmf = Ovmf::parse(&image).unwrap();
        let boot = rng.coin().then(|| {
            let kernel = rng.blob(5000);
            let initrd = rng.blob(5000);
            DirectBoot::new(&kernel, &initrd, &rng.cmdline())
        });
        let vmm = *rng.pick(&Vmm::ALL);
        let Ok(measurement) = FirmwareMeasurement::new(&ovmf, boot.as_ref(), vmm) else {
            // A random layout without a kernel-hashes section cannot take a kernel.
            assert!(boot.is_some());
            continue;
        };
        let signature = if rng.coin() {
            CpuSignature::from(*rng.pick(VcpuModel::ALL))
        } else {
            CpuSignature(rng.next_u64() as u32)
        };
        let features = GuestFeatures(if rng.coin() { 0x21 } else { rng.next_u64() });
        let scalable = measurement.with_vcpus(signature, features);
        for vcpus in 1..=64 {
            let vcpus = NonZeroU32::new(vcpus).unwrap();
            assert_eq!(
                scalable.for_vcpus(vcpus),
                measurement.launch_digest(vcpus, signature, features),
                "{vcpus} vCPUs, {vmm}, {firmware:?}"
            );
        }
    }
}
