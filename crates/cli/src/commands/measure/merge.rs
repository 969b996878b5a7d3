//! A measurement merged into a manifest's SNP reference sets.

use chiaro_attest::snp::{SnpReferenceValues, VcpuScaledMeasurement};

/// Adds `measured` to every SNP set (each keeps its other checks: TCB, policy, keys), or
/// makes them the set's only measurements with `replace`; a new set when there is none. Says
/// what changed.
pub(crate) fn measurements_into(
    sets: &mut Vec<SnpReferenceValues>,
    measured: &[VcpuScaledMeasurement],
    replace: bool,
) -> String {
    if sets.is_empty() {
        sets.push(SnpReferenceValues {
            vcpu_scaled_measurements: Some(measured.to_vec()),
            ..SnpReferenceValues::default()
        });
        return "a new SNP reference set".to_owned();
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
    format!("{verb} {changed} of {} SNP reference sets", sets.len())
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
        measurements_into(&mut sets, &[measured(1)], false);
        measurements_into(&mut sets, &[measured(1)], false);
        assert_eq!(sets[0].vcpu_scaled_measurements, Some(vec![measured(1)]));
        assert_eq!(sets[0].measurements, set_with_tcb().measurements);
        assert_eq!(sets[0].minimum_tcb, set_with_tcb().minimum_tcb);
    }

    #[test]
    fn replacing_leaves_only_the_new_measurement() {
        let mut sets = vec![set_with_tcb(), set_with_tcb()];
        measurements_into(&mut sets, &[measured(1)], false);
        measurements_into(&mut sets, &[measured(2)], true);
        for set in &sets {
            assert_eq!(set.measurements, None);
            assert_eq!(set.vcpu_scaled_measurements, Some(vec![measured(2)]));
            assert_eq!(set.minimum_tcb, set_with_tcb().minimum_tcb);
        }
    }

    #[test]
    fn a_manifest_without_snp_sets_gets_one() {
        let mut sets = Vec::new();
        measurements_into(&mut sets, &[measured(1)], true);
        assert_eq!(sets.len(), 1);
        assert!(sets[0].pins_the_measurement());
    }
}
