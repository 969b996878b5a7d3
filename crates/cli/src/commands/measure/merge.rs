//! A measurement merged into a manifest's SNP reference sets.

use anyhow::bail;
use chiaro_attest::snp::{MinimumTcb, SnpReferenceValues, VcpuScaledMeasurement};

/// A new SNP set with these measurements and TCB minimum.
///
/// # Errors
/// Without a TCB minimum: such a set would accept any firmware and microcode.
pub(crate) fn new_set(
    measured: &[VcpuScaledMeasurement],
    minimum_tcb: Option<MinimumTcb>,
) -> anyhow::Result<SnpReferenceValues> {
    let Some(minimum_tcb) = minimum_tcb else {
        bail!(
            "give --minimum-tcb bootloader=N,tee=N,snp=N,microcode=N: a set without it accepts any firmware and microcode"
        );
    };
    Ok(SnpReferenceValues {
        vcpu_scaled_measurements: Some(measured.to_vec()),
        minimum_tcb: Some(minimum_tcb),
        ..SnpReferenceValues::default()
    })
}

/// Adds `measured` to every SNP set (each keeps its other checks: TCB, policy, keys), or
/// makes them the set's only measurements with `replace`; a new set when there is none. A set
/// without a TCB minimum gets `minimum_tcb`. Says what changed.
///
/// # Errors
/// When a set would be left without a TCB minimum.
pub(crate) fn measurements_into(
    sets: &mut Vec<SnpReferenceValues>,
    measured: &[VcpuScaledMeasurement],
    replace: bool,
    minimum_tcb: Option<MinimumTcb>,
) -> anyhow::Result<String> {
    if sets.is_empty() {
        sets.push(new_set(measured, minimum_tcb)?);
        return Ok("a new SNP reference set".to_owned());
    }
    for (index, set) in sets.iter_mut().enumerate() {
        if set.minimum_tcb.is_none() {
            let Some(minimum) = minimum_tcb else {
                bail!(
                    "snp[{index}] has no minimum_tcb: give --minimum-tcb, or such a set accepts any firmware"
                );
            };
            set.minimum_tcb = Some(minimum);
        }
    }
    let mut changed = 0;
    for set in sets.iter_mut() {
        if replace {
            set.measurements = None;
            set.vcpu_scaled_measurements = Some(measured.to_vec());
            changed += 1;
            continue;
        }
        let list = set.vcpu_scaled_measurements.get_or_insert_with(Vec::new);
        let before = list.len();
        for one in measured {
            if !list.contains(one) {
                list.push(*one);
            }
        }
        changed += usize::from(list.len() > before);
    }
    let verb = if replace {
        "replaced the measurements of"
    } else {
        "added to"
    };
    Ok(format!(
        "{verb} {changed} of {} SNP reference sets",
        sets.len()
    ))
}

#[cfg(test)]
mod tests {
    use chiaro_attest::snp::{MinimumTcb, VcpuRange};
    use chiaro_attest::{Digest48, Measurement};

    use super::*;

    fn measured(byte: u8) -> VcpuScaledMeasurement {
        VcpuScaledMeasurement {
            one_vcpu: Measurement::new([byte; 48]),
            ap_vmsa: Digest48::new([byte; 48]),
            vcpus: VcpuRange::new(1, 8).unwrap(),
        }
    }

    fn set_with_tcb() -> SnpReferenceValues {
        SnpReferenceValues {
            measurements: Some(vec![Measurement::new([9; 48])]),
            minimum_tcb: Some(MinimumTcb {
                bootloader: 3,
                tee: 0,
                snp: 8,
                microcode: 115,
                fmc: None,
            }),
            ..SnpReferenceValues::default()
        }
    }

    #[test]
    fn adding_keeps_each_sets_other_checks_and_does_not_repeat() {
        let mut sets = vec![set_with_tcb()];
        measurements_into(&mut sets, &[measured(1)], false, None).unwrap();
        measurements_into(&mut sets, &[measured(1)], false, None).unwrap();
        assert_eq!(sets[0].vcpu_scaled_measurements, Some(vec![measured(1)]));
        assert_eq!(sets[0].measurements, set_with_tcb().measurements);
        assert_eq!(sets[0].minimum_tcb, set_with_tcb().minimum_tcb);
    }

    #[test]
    fn replacing_leaves_only_the_new_measurement() {
        let mut sets = vec![set_with_tcb(), set_with_tcb()];
        measurements_into(&mut sets, &[measured(1)], false, None).unwrap();
        measurements_into(&mut sets, &[measured(2)], true, None).unwrap();
        for set in &sets {
            assert_eq!(set.measurements, None);
            assert_eq!(set.vcpu_scaled_measurements, Some(vec![measured(2)]));
            assert_eq!(set.minimum_tcb, set_with_tcb().minimum_tcb);
        }
    }

    #[test]
    fn a_manifest_without_snp_sets_gets_one_with_its_tcb_minimum() {
        let mut sets = Vec::new();
        assert!(measurements_into(&mut sets, &[measured(1)], true, None).is_err());
        assert!(sets.is_empty());
        measurements_into(&mut sets, &[measured(1)], true, set_with_tcb().minimum_tcb).unwrap();
        assert_eq!(sets.len(), 1);
        assert!(sets[0].pins_the_measurement());
        assert_eq!(sets[0].minimum_tcb, set_with_tcb().minimum_tcb);
    }

    #[test]
    fn a_set_without_a_tcb_minimum_is_not_left_without_one() {
        let bare = SnpReferenceValues {
            measurements: Some(vec![Measurement::new([9; 48])]),
            ..SnpReferenceValues::default()
        };
        let mut sets = vec![bare];
        assert!(measurements_into(&mut sets, &[measured(1)], false, None).is_err());
        let tcb = set_with_tcb().minimum_tcb;
        measurements_into(&mut sets, &[measured(1)], false, tcb).unwrap();
        assert_eq!(sets[0].minimum_tcb, tcb);
        // A set with its own minimum keeps it.
        let mut sets = vec![set_with_tcb()];
        let other = Some(MinimumTcb {
            bootloader: 9,
            tee: 9,
            snp: 9,
            microcode: 9,
            fmc: None,
        });
        measurements_into(&mut sets, &[measured(1)], false, other).unwrap();
        assert_eq!(sets[0].minimum_tcb, tcb);
    }
}
