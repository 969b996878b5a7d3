//! The insecure simulated TEE: same verifier, its own root, and the same checks failing.

use std::sync::OnceLock;

use chiaro_attest::insecure_simulation::{InsecureSimulatedTee, SimulatedLaunch};
use chiaro_attest::snp::{
    self, CertRole, GuestPolicy, SnpReferenceValues, SnpRejection, SnpTrustAnchors, VcpuRange,
    VcpuScaledMeasurement,
};
use chiaro_attest::{
    Claims, Digest48, Error, HostData, Measurement, Platform, Rejection, ReportData, Unavailable,
    UnixTime, Verified,
};

const NOW: &str = "2026-11-26T00:00:00Z";

/// One chain for the whole test binary: RSA-4096 key generation is the slow part.
fn tee() -> &'static InsecureSimulatedTee {
    static TEE: OnceLock<InsecureSimulatedTee> = OnceLock::new();
    TEE.get_or_init(|| InsecureSimulatedTee::generate(NOW.parse().unwrap()).unwrap())
}

fn launch() -> SimulatedLaunch {
    SimulatedLaunch {
        measurement: Measurement::new([1; 48]),
        host_data: HostData::new([2; 32]),
        ..Default::default()
    }
}

fn now() -> UnixTime {
    NOW.parse().unwrap()
}

#[test]
fn simulated_evidence_verifies_only_as_insecure_simulated() {
    let report = tee().report(&launch(), &ReportData::new([3; 64])).unwrap();
    let reference = SnpReferenceValues {
        host_data: Some(HostData::new([2; 32])),
        report_data: Some(ReportData::new([3; 64])),
        ..Default::default()
    };
    let claims = snp::verify(
        &report,
        &tee().collateral(),
        &tee().trust_anchors().unwrap(),
        &reference,
        now(),
    )
    .unwrap();
    assert_eq!(claims.platform, Platform::InsecureSimulated);
    assert_eq!(claims.measurement, Measurement::new([1; 48]));
    assert_eq!(claims.chip_id, Some(tee().chip_id()));
}

#[test]
fn simulated_evidence_is_refused_under_amd_roots() {
    let report = tee().report(&launch(), &ReportData::new([3; 64])).unwrap();
    let err = snp::verify(
        &report,
        &tee().collateral(),
        &SnpTrustAnchors::amd().unwrap(),
        &SnpReferenceValues::default(),
        now(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        Error::Rejected(Rejection::Snp(SnpRejection::ChainBroken {
            role: CertRole::Ask,
            issuer: CertRole::Ark
        }))
    );
}

#[test]
fn another_simulated_root_does_not_verify_this_chain() {
    let other = InsecureSimulatedTee::generate(now()).unwrap();
    let report = tee().report(&launch(), &ReportData::new([3; 64])).unwrap();
    let err = snp::verify(
        &report,
        &tee().collateral(),
        &other.trust_anchors().unwrap(),
        &SnpReferenceValues::default(),
        now(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        Error::Rejected(Rejection::Snp(SnpRejection::ChainBroken {
            role: CertRole::Ask,
            issuer: CertRole::Ark
        }))
    );
}

#[test]
fn simulated_migration_agent_policy_is_refused_by_default() {
    let launch = SimulatedLaunch {
        policy: GuestPolicy::from_raw(0x3_0000 | 1 << 18),
        ..launch()
    };
    let report = tee().report(&launch, &ReportData::new([0; 64])).unwrap();
    let err = snp::verify(
        &report,
        &tee().collateral(),
        &tee().trust_anchors().unwrap(),
        &SnpReferenceValues::default(),
        now(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        Error::Rejected(Rejection::Snp(SnpRejection::MigrationAgentNotAllowed {
            policy: 0x7_0000
        }))
    );
    let allowed = SnpReferenceValues {
        allow_migration_agent: true,
        ..Default::default()
    };
    snp::verify(
        &report,
        &tee().collateral(),
        &tee().trust_anchors().unwrap(),
        &allowed,
        now(),
    )
    .unwrap();
}

#[test]
fn a_crl_signed_by_the_root_revokes_the_ask() {
    let report = tee().report(&launch(), &ReportData::new([0; 64])).unwrap();
    let anchors = tee().trust_anchors().unwrap();
    let next = UnixTime::from_secs(now().as_secs() + 86_400);
    let mut collateral = tee().collateral();
    collateral.crl = Some(tee().crl(false, now(), next).unwrap());
    snp::verify(
        &report,
        &collateral,
        &anchors,
        &SnpReferenceValues::default(),
        now(),
    )
    .unwrap();

    collateral.crl = Some(tee().crl(true, now(), next).unwrap());
    let err = snp::verify(
        &report,
        &collateral,
        &anchors,
        &SnpReferenceValues::default(),
        now(),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Rejected(Rejection::Snp(SnpRejection::Revoked {
                role: CertRole::Ask,
                ..
            }))
        ),
        "{err:?}"
    );
}

#[test]
fn a_stale_crl_is_unavailable() {
    let report = tee().report(&launch(), &ReportData::new([0; 64])).unwrap();
    let mut collateral = tee().collateral();
    let yesterday = UnixTime::from_secs(now().as_secs() - 86_400);
    collateral.crl = Some(
        tee()
            .crl(
                false,
                UnixTime::from_secs(now().as_secs() - 2 * 86_400),
                yesterday,
            )
            .unwrap(),
    );
    let err = snp::verify(
        &report,
        &collateral,
        &tee().trust_anchors().unwrap(),
        &SnpReferenceValues::default(),
        now(),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Unavailable(Unavailable::CollateralExpired { .. })
        ),
        "{err:?}"
    );
}

#[test]
fn a_crl_signed_by_another_root_is_refused() {
    let other = InsecureSimulatedTee::generate(now()).unwrap();
    let report = tee().report(&launch(), &ReportData::new([0; 64])).unwrap();
    let mut collateral = tee().collateral();
    collateral.crl = Some(
        other
            .crl(false, now(), UnixTime::from_secs(now().as_secs() + 60))
            .unwrap(),
    );
    let err = snp::verify(
        &report,
        &collateral,
        &tee().trust_anchors().unwrap(),
        &SnpReferenceValues::default(),
        now(),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Rejected(Rejection::Snp(SnpRejection::CrlSignatureInvalid { .. }))
        ),
        "{err:?}"
    );
}

#[test]
fn certificates_before_their_validity_are_unavailable() {
    let report = tee().report(&launch(), &ReportData::new([0; 64])).unwrap();
    let before = UnixTime::from_secs(now().as_secs() - 1);
    let err = snp::verify(
        &report,
        &tee().collateral(),
        &tee().trust_anchors().unwrap(),
        &SnpReferenceValues::default(),
        before,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Unavailable(Unavailable::CertificateNotYetValid { .. })
        ),
        "{err:?}"
    );
}

#[test]
fn a_saved_simulated_tee_signs_evidence_its_root_accepts() {
    let text = tee().to_insecure_json().unwrap();
    let loaded = InsecureSimulatedTee::from_insecure_json(&text).unwrap();
    let report = loaded.report(&launch(), &ReportData::new([5; 64])).unwrap();
    let claims = snp::verify(
        &report,
        &loaded.collateral(),
        &tee().trust_anchors().unwrap(),
        &SnpReferenceValues::default(),
        now(),
    )
    .unwrap();
    assert_eq!(claims.chip_id, Some(tee().chip_id()));
    assert!(InsecureSimulatedTee::from_insecure_json("{}").is_err());
}

/// The reference values name a guest by its 1-vCPU digest and its AP VMSA, for a range of
/// vCPU counts; `guest` is launched with `vcpus`.
fn verify_scaled(
    guest: &VcpuScaledMeasurement,
    vcpus: u32,
    accepted: VcpuRange,
) -> Result<Verified<Claims>, Error> {
    let launch = SimulatedLaunch {
        measurement: guest.for_vcpus(vcpus),
        ..launch()
    };
    let report = tee().report(&launch, &ReportData::new([3; 64])).unwrap();
    let reference = SnpReferenceValues {
        vcpu_scaled_measurements: Some(vec![VcpuScaledMeasurement {
            vcpus: accepted,
            ..*guest
        }]),
        ..Default::default()
    };
    snp::verify(
        &report,
        &tee().collateral(),
        &tee().trust_anchors().unwrap(),
        &reference,
        now(),
    )
}

fn scaled_guest() -> VcpuScaledMeasurement {
    VcpuScaledMeasurement {
        one_vcpu: Measurement::new([5; 48]),
        ap_vmsa: Digest48::new([6; 48]),
        vcpus: VcpuRange::new(1, 1).unwrap(),
    }
}

#[test]
fn a_guest_with_4_vcpus_verifies_against_its_1_vcpu_digest_extended() {
    let guest = scaled_guest();
    let claims = verify_scaled(&guest, 4, VcpuRange::new(1, 8).unwrap()).unwrap();
    assert_eq!(claims.measurement, guest.for_vcpus(4));
    assert_ne!(claims.measurement, guest.one_vcpu);
}

#[test]
fn attack_a_guest_with_more_vcpus_than_the_reference_allows_is_refused() {
    let guest = scaled_guest();
    let err = verify_scaled(&guest, 4, VcpuRange::new(1, 2).unwrap()).unwrap_err();
    assert_eq!(
        err,
        Error::Rejected(Rejection::Snp(SnpRejection::MeasurementNotAllowed {
            actual: guest.for_vcpus(4),
            allowed: 1
        }))
    );
    for vcpus in [1, 2] {
        verify_scaled(&guest, vcpus, VcpuRange::new(1, 2).unwrap()).unwrap();
    }
}

#[test]
fn attack_a_guest_with_fewer_vcpus_than_the_reference_allows_is_refused() {
    let guest = scaled_guest();
    let err = verify_scaled(&guest, 1, VcpuRange::new(2, 4).unwrap()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Rejected(Rejection::Snp(SnpRejection::MeasurementNotAllowed { .. }))
        ),
        "{err:?}"
    );
}

/// The vectors' 4-vCPU guest (edk2 AmdSev firmware, EPYC-v4, SNPActive, QEMU), as
/// sev-snp-measure computed it (`measure/snp/vectors.json`).
const FOUR_VCPU_DIGEST: &str = "49a5df7673889babb3ee480795e1be1571b812264c2c7cc3ac6f92298a2f8683d8c691b26d8114dd6afbd324c2150ae1";

/// That guest as `chiaro measure snp` names it: its 1-vCPU digest and AP VMSA.
fn vectors_guest(vcpus: VcpuRange) -> VcpuScaledMeasurement {
    use chiaro_measure::snp::{FirmwareMeasurement, GuestFeatures, Ovmf, VcpuModel, Vmm};
    let dir = chiaro_test_support::vectors::dir();
    let firmware = chiaro_test_support::vectors::read(&dir, "measure/snp/ovmf_AmdSev_suffix.bin");
    let ovmf = Ovmf::parse(&firmware).unwrap();
    let scaled = FirmwareMeasurement::new(&ovmf, None, Vmm::Qemu)
        .unwrap()
        .with_vcpus(VcpuModel::EpycV4, GuestFeatures::SNP_ACTIVE);
    VcpuScaledMeasurement {
        one_vcpu: Measurement::new(scaled.one_vcpu),
        ap_vmsa: Digest48::new(scaled.ap_vmsa),
        vcpus,
    }
}

#[test]
fn needs_vectors_a_4_vcpu_report_verifies_against_the_1_vcpu_digest_and_its_ap_vmsa() {
    let guest = vectors_guest(VcpuRange::new(1, 1).unwrap());
    let four: Measurement = FOUR_VCPU_DIGEST.parse().unwrap();
    assert_eq!(guest.for_vcpus(4), four);
    let claims = verify_scaled(&guest, 4, VcpuRange::new(1, 8).unwrap()).unwrap();
    assert_eq!(claims.measurement, four);
}

#[test]
fn needs_vectors_attack_a_4_vcpu_report_is_refused_when_the_reference_allows_1_to_2() {
    let guest = vectors_guest(VcpuRange::new(1, 1).unwrap());
    let err = verify_scaled(&guest, 4, VcpuRange::new(1, 2).unwrap()).unwrap_err();
    assert_eq!(
        err,
        Error::Rejected(Rejection::Snp(SnpRejection::MeasurementNotAllowed {
            actual: FOUR_VCPU_DIGEST.parse().unwrap(),
            allowed: 1
        }))
    );
}
