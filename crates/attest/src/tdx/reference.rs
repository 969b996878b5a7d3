//! TDX reference values, including Chiaro's own TCB policy on top of Intel's collateral.
//!
//! Fail-closed defaults: only `UpToDate` is accepted, no advisory is accepted, debug is off,
//! MIGRATABLE and every TD attribute without a known harmless meaning are refused, and no service
//! TD may be bound.

use serde::{Deserialize, Serialize};

use crate::fields::{Digest48, Measurement, ReportData};
use crate::tdx::attributes::TdAttributes;
use crate::tdx::collateral::TdxCollateral;
use crate::tdx::error::TdxRejection;
use crate::tdx::quote::TdReport;
use crate::tdx::tcb_status::TcbStatus;

/// Reference values for TDX evidence. The JSON schema is documented in the README.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TdxReferenceValues {
    /// TCB statuses to accept.
    #[serde(default = "allowed_statuses_default")]
    pub allowed_tcb_statuses: Vec<TcbStatus>,
    /// Advisory ids to accept on the matched TCB level.
    #[serde(default)]
    pub allowed_advisory_ids: Vec<String>,
    /// The lowest `tcbEvaluationDataNumber` Intel's TCB info and QE identity may have: refuses
    /// collateral from before a TCB recovery that is still inside its validity window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_tcb_evaluation_data_number: Option<u32>,
    /// Accept a debuggable TD (TD attribute DEBUG). Never set this in production.
    #[serde(default)]
    pub allow_debug: bool,
    /// TD attributes other than DEBUG a TD may have (a list of names, see [`TdAttributes`]);
    /// every other bit set is refused. Omitted from the JSON when it is the default.
    #[serde(
        default = "allowed_td_attributes_default",
        skip_serializing_if = "is_allowed_td_attributes_default"
    )]
    pub allowed_td_attributes: TdAttributes,
    /// Allowed MRTDs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mrtd: Option<Vec<Measurement>>,
    /// Expected RTMR0–3; `null` entries are not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtmrs: Option<[Option<Measurement>; 4]>,
    /// Expected MRCONFIGID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mr_config_id: Option<Digest48>,
    /// Expected MROWNER.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mr_owner: Option<Digest48>,
    /// Expected MROWNERCONFIG.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mr_owner_config: Option<Digest48>,
    /// Expected MRSERVICETD (TD 1.5 bodies only: a pin refuses TD 1.0 quotes). Absent: no
    /// service TD may be bound (MRSERVICETD all zero).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mr_service_td: Option<Digest48>,
    /// Minimum TEE_TCB_SVN, compared byte by byte (hex, 16 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "hex_option")]
    pub minimum_tee_tcb_svn: Option<[u8; 16]>,
    /// Expected XFAM (hex, 8 bytes little-endian as in the quote).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "hex_option")]
    pub xfam: Option<[u8; 8]>,
    /// Expected REPORTDATA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_data: Option<ReportData>,
}

fn allowed_statuses_default() -> Vec<TcbStatus> {
    vec![TcbStatus::UpToDate]
}

fn allowed_td_attributes_default() -> TdAttributes {
    TdAttributes::DEFAULT_ALLOWED
}

fn is_allowed_td_attributes_default(attributes: &TdAttributes) -> bool {
    *attributes == TdAttributes::DEFAULT_ALLOWED
}

/// MRSERVICETD of a TD without a bound service TD.
const NO_SERVICE_TD: Digest48 = Digest48::new([0; 48]);

impl Default for TdxReferenceValues {
    fn default() -> Self {
        Self {
            allowed_tcb_statuses: allowed_statuses_default(),
            allowed_advisory_ids: Vec::new(),
            minimum_tcb_evaluation_data_number: None,
            allow_debug: false,
            allowed_td_attributes: allowed_td_attributes_default(),
            mrtd: None,
            rtmrs: None,
            mr_config_id: None,
            mr_owner: None,
            mr_owner_config: None,
            mr_service_td: None,
            minimum_tee_tcb_svn: None,
            xfam: None,
            report_data: None,
        }
    }
}

impl TdxReferenceValues {
    /// What kind of TD this is: its attributes and its bound service TD. Checked before the
    /// collateral, because `dcap-qvl` refuses some of the same (migration, reserved bits, a
    /// service TD) with untyped messages, and the refusal should name the check.
    pub(crate) fn check_td(&self, body: &TdReport) -> Result<(), TdxRejection> {
        let attributes = body.attributes();
        if attributes.contains(TdAttributes::DEBUG) && !self.allow_debug {
            return Err(TdxRejection::DebugEnabled {
                td_attributes: hex::encode(body.td_attributes),
            });
        }
        let refused = attributes
            .without(TdAttributes::DEBUG)
            .without(self.allowed_td_attributes);
        if !refused.is_empty() {
            return Err(TdxRejection::TdAttributesNotAllowed {
                td_attributes: attributes,
                refused,
            });
        }
        match (self.mr_service_td, body.mr_service_td) {
            (Some(_), None) => Err(TdxRejection::MrServiceTdMissing),
            (Some(expected), Some(actual)) if actual != expected => {
                Err(TdxRejection::MrServiceTdMismatch { actual, expected })
            }
            (None, Some(actual)) if actual != NO_SERVICE_TD => {
                Err(TdxRejection::ServiceTdNotAllowed { actual })
            }
            _ => Ok(()),
        }
    }

    /// Whether `dcap-qvl` may accept a TD bound to a service TD: only when MRSERVICETD is pinned
    /// (and [`Self::check_td`] has compared it).
    pub(crate) fn allows_service_td(&self) -> bool {
        self.mr_service_td.is_some()
    }

    /// The collateral's TCB evaluation data numbers, read after `dcap-qvl` has checked Intel's
    /// signatures over them.
    pub(crate) fn check_evaluation_data_numbers(
        &self,
        collateral: &TdxCollateral,
    ) -> Result<(), TdxRejection> {
        let Some(minimum) = self.minimum_tcb_evaluation_data_number else {
            return Ok(());
        };
        for (what, actual) in collateral.evaluation_data_numbers()? {
            if actual < minimum {
                return Err(TdxRejection::TcbEvaluationDataNumberBelowMinimum {
                    what,
                    actual,
                    minimum,
                });
            }
        }
        Ok(())
    }

    /// Chiaro's TCB policy on the status and advisories `dcap-qvl` matched.
    pub(crate) fn check_tcb(
        &self,
        status: TcbStatus,
        advisory_ids: &[String],
    ) -> Result<(), TdxRejection> {
        if !self.allowed_tcb_statuses.contains(&status) {
            return Err(TdxRejection::TcbStatusNotAllowed {
                status,
                allowed: self.allowed_tcb_statuses.clone(),
            });
        }
        if let Some(advisory_id) = advisory_ids
            .iter()
            .find(|id| !self.allowed_advisory_ids.contains(id))
        {
            return Err(TdxRejection::AdvisoryNotAllowed {
                advisory_id: advisory_id.clone(),
            });
        }
        Ok(())
    }

    /// The measurement and configuration registers.
    pub(crate) fn check_body(&self, body: &TdReport) -> Result<(), TdxRejection> {
        if let Some(allowed) = &self.mrtd
            && !allowed.contains(&body.mr_td)
        {
            return Err(TdxRejection::MrTdNotAllowed {
                actual: body.mr_td,
                allowed: allowed.len(),
            });
        }
        if let Some(expected) = &self.rtmrs {
            for (index, (actual, expected)) in body.rtmrs.iter().zip(expected).enumerate() {
                if let Some(expected) = expected
                    && actual != expected
                {
                    return Err(TdxRejection::RtmrMismatch {
                        index,
                        actual: *actual,
                        expected: *expected,
                    });
                }
            }
        }
        let registers = [
            (self.mr_config_id, body.mr_config_id, Register::ConfigId),
            (self.mr_owner, body.mr_owner, Register::Owner),
            (
                self.mr_owner_config,
                body.mr_owner_config,
                Register::OwnerConfig,
            ),
        ];
        for (expected, actual, register) in registers {
            if let Some(expected) = expected
                && actual != expected
            {
                return Err(register.mismatch(actual, expected));
            }
        }
        if let Some(minimum) = self.minimum_tee_tcb_svn {
            for (index, (actual, minimum)) in body.tee_tcb_svn.iter().zip(minimum).enumerate() {
                if *actual < minimum {
                    return Err(TdxRejection::TeeTcbSvnBelowMinimum {
                        index,
                        actual: *actual,
                        minimum,
                    });
                }
            }
        }
        if let Some(expected) = self.xfam
            && body.xfam != expected
        {
            return Err(TdxRejection::XfamMismatch {
                actual: body.xfam_value(),
                expected: u64::from_le_bytes(expected),
            });
        }
        if let Some(expected) = self.report_data
            && body.report_data != expected
        {
            return Err(TdxRejection::ReportDataMismatch {
                actual: body.report_data,
                expected,
            });
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Register {
    ConfigId,
    Owner,
    OwnerConfig,
}

impl Register {
    fn mismatch(self, actual: Digest48, expected: Digest48) -> TdxRejection {
        match self {
            Self::ConfigId => TdxRejection::MrConfigIdMismatch { actual, expected },
            Self::Owner => TdxRejection::MrOwnerMismatch { actual, expected },
            Self::OwnerConfig => TdxRejection::MrOwnerConfigMismatch { actual, expected },
        }
    }
}

mod hex_option {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer, const N: usize>(
        value: &Option<[u8; N]>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(bytes) => serializer.serialize_str(&hex::encode(bytes)),
            None => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        deserializer: D,
    ) -> Result<Option<[u8; N]>, D::Error> {
        let text: Option<String> = Option::deserialize(deserializer)?;
        text.map(|text| {
            let bytes = hex::decode(text.trim()).map_err(serde::de::Error::custom)?;
            <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| {
                serde::de::Error::custom(format!("expected {N} bytes of hex, got {}", bytes.len()))
            })
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_up_to_date_without_advisories_passes_by_default() {
        let reference = TdxReferenceValues::default();
        assert_eq!(reference.check_tcb(TcbStatus::UpToDate, &[]), Ok(()));
        assert_eq!(
            reference.check_tcb(TcbStatus::SWHardeningNeeded, &[]),
            Err(TdxRejection::TcbStatusNotAllowed {
                status: TcbStatus::SWHardeningNeeded,
                allowed: vec![TcbStatus::UpToDate]
            })
        );
        assert_eq!(
            reference.check_tcb(TcbStatus::UpToDate, &["INTEL-SA-00615".to_owned()]),
            Err(TdxRejection::AdvisoryNotAllowed {
                advisory_id: "INTEL-SA-00615".to_owned()
            })
        );
    }

    #[test]
    fn statuses_and_advisories_pass_only_when_listed() {
        let reference = TdxReferenceValues {
            allowed_tcb_statuses: vec![TcbStatus::UpToDate, TcbStatus::SWHardeningNeeded],
            allowed_advisory_ids: vec!["INTEL-SA-00615".to_owned()],
            ..Default::default()
        };
        assert_eq!(
            reference.check_tcb(TcbStatus::SWHardeningNeeded, &["INTEL-SA-00615".to_owned()]),
            Ok(())
        );
        assert_eq!(
            reference.check_tcb(
                TcbStatus::SWHardeningNeeded,
                &["INTEL-SA-00615".to_owned(), "INTEL-SA-00289".to_owned()]
            ),
            Err(TdxRejection::AdvisoryNotAllowed {
                advisory_id: "INTEL-SA-00289".to_owned()
            })
        );
        assert!(reference.check_tcb(TcbStatus::Revoked, &[]).is_err());
    }

    /// A TD 1.5 report body with these attributes and MRSERVICETD; everything else zero.
    fn body(attributes: TdAttributes, mr_service_td: Option<Digest48>) -> TdReport {
        let zero48 = Measurement::new([0; 48]);
        TdReport {
            body_type: mr_service_td.map(|_| 3),
            tee_tcb_svn: [0; 16],
            mr_seam: NO_SERVICE_TD,
            mr_signer_seam: NO_SERVICE_TD,
            seam_attributes: [0; 8],
            td_attributes: attributes.bits().to_le_bytes(),
            xfam: [0; 8],
            mr_td: zero48,
            mr_config_id: NO_SERVICE_TD,
            mr_owner: NO_SERVICE_TD,
            mr_owner_config: NO_SERVICE_TD,
            rtmrs: [zero48; 4],
            report_data: ReportData::new([0; 64]),
            tee_tcb_svn2: mr_service_td.map(|_| [0; 16]),
            mr_service_td,
        }
    }

    #[test]
    fn attack_migratable_td_is_rejected_by_default() {
        // No genuine quote in the test data is migratable, and flipping the bit breaks the
        // quote signature, so the check is exercised on a report body directly.
        let migratable = TdAttributes::SEPT_VE_DISABLE.union(TdAttributes::MIGRATABLE);
        assert_eq!(
            TdxReferenceValues::default().check_td(&body(migratable, None)),
            Err(TdxRejection::TdAttributesNotAllowed {
                td_attributes: migratable,
                refused: TdAttributes::MIGRATABLE,
            })
        );
        let allowed = TdxReferenceValues {
            allowed_td_attributes: TdAttributes::DEFAULT_ALLOWED.union(TdAttributes::MIGRATABLE),
            ..Default::default()
        };
        assert_eq!(allowed.check_td(&body(migratable, None)), Ok(()));
    }

    #[test]
    fn attack_reserved_td_attribute_is_rejected_unless_listed() {
        let reserved = TdAttributes::SEPT_VE_DISABLE.union(TdAttributes::from_bits(1 << 40));
        let err = TdxReferenceValues::default()
            .check_td(&body(reserved, None))
            .unwrap_err();
        assert_eq!(err.check(), "tdx.reference.td_attributes");
        assert!(err.to_string().contains("include BIT_40"), "{err}");
        let listed: TdxReferenceValues =
            serde_json::from_str(r#"{"allowed_td_attributes": ["SEPT_VE_DISABLE", "BIT_40"]}"#)
                .unwrap();
        assert_eq!(listed.check_td(&body(reserved, None)), Ok(()));
        // The list replaces the default: what it leaves out is refused.
        let pks = TdAttributes::SEPT_VE_DISABLE.union(TdAttributes::PKS);
        assert_eq!(
            listed.check_td(&body(pks, None)),
            Err(TdxRejection::TdAttributesNotAllowed {
                td_attributes: pks,
                refused: TdAttributes::PKS,
            })
        );
    }

    #[test]
    fn debug_is_governed_by_allow_debug_alone() {
        let debug = TdAttributes::DEBUG.union(TdAttributes::SEPT_VE_DISABLE);
        assert!(matches!(
            TdxReferenceValues::default().check_td(&body(debug, None)),
            Err(TdxRejection::DebugEnabled { .. })
        ));
        let allowed = TdxReferenceValues {
            allow_debug: true,
            allowed_td_attributes: TdAttributes::SEPT_VE_DISABLE,
            ..Default::default()
        };
        assert_eq!(allowed.check_td(&body(debug, None)), Ok(()));
    }

    #[test]
    fn attack_unpinned_service_td_binding_is_rejected() {
        let bound = Digest48::new([0x38; 48]);
        let attributes = TdAttributes::SEPT_VE_DISABLE;
        let reference = TdxReferenceValues::default();
        assert_eq!(
            reference.check_td(&body(attributes, Some(bound))),
            Err(TdxRejection::ServiceTdNotAllowed { actual: bound })
        );
        assert_eq!(
            reference.check_td(&body(attributes, Some(NO_SERVICE_TD))),
            Ok(())
        );
        assert!(!reference.allows_service_td());
        let pinned = TdxReferenceValues {
            mr_service_td: Some(bound),
            ..Default::default()
        };
        assert_eq!(pinned.check_td(&body(attributes, Some(bound))), Ok(()));
        assert!(pinned.allows_service_td());
        assert_eq!(
            pinned.check_td(&body(attributes, Some(NO_SERVICE_TD))),
            Err(TdxRejection::MrServiceTdMismatch {
                actual: NO_SERVICE_TD,
                expected: bound
            })
        );
        assert_eq!(
            pinned.check_td(&body(attributes, None)),
            Err(TdxRejection::MrServiceTdMissing)
        );
    }

    #[test]
    fn reference_json_without_the_new_fields_keeps_its_meaning_and_its_form() {
        let old = r#"{"allowed_tcb_statuses":["UpToDate"],"allowed_advisory_ids":[],"allow_debug":false}"#;
        let parsed: TdxReferenceValues = serde_json::from_str(old).unwrap();
        assert_eq!(parsed, TdxReferenceValues::default());
        // Defaults are omitted, so canonical JSON (and manifest hashes) do not change.
        assert_eq!(serde_json::to_string(&parsed).unwrap(), old);
        let new = TdxReferenceValues {
            minimum_tcb_evaluation_data_number: Some(18),
            allowed_td_attributes: TdAttributes::SEPT_VE_DISABLE,
            mr_service_td: Some(NO_SERVICE_TD),
            ..Default::default()
        };
        let json = serde_json::to_string(&new).unwrap();
        assert!(
            json.contains(r#""minimum_tcb_evaluation_data_number":18"#)
                && json.contains(r#""allowed_td_attributes":["SEPT_VE_DISABLE"]"#)
                && json.contains(&format!(r#""mr_service_td":"{}""#, "00".repeat(48))),
            "{json}"
        );
        assert_eq!(
            serde_json::from_str::<TdxReferenceValues>(&json).unwrap(),
            new
        );
    }

    fn collateral(tcb_info: u32, qe_identity: u32) -> TdxCollateral {
        TdxCollateral {
            pck_crl_issuer_chain: String::new(),
            root_ca_crl: Vec::new(),
            pck_crl: Vec::new(),
            tcb_info_issuer_chain: String::new(),
            tcb_info: format!(r#"{{"tcbEvaluationDataNumber":{tcb_info}}}"#),
            tcb_info_signature: Vec::new(),
            qe_identity_issuer_chain: String::new(),
            qe_identity: format!(r#"{{"tcbEvaluationDataNumber":{qe_identity}}}"#),
            qe_identity_signature: Vec::new(),
        }
    }

    #[test]
    fn both_evaluation_data_numbers_must_reach_the_minimum() {
        let reference = TdxReferenceValues {
            minimum_tcb_evaluation_data_number: Some(18),
            ..Default::default()
        };
        assert_eq!(
            reference.check_evaluation_data_numbers(&collateral(18, 19)),
            Ok(())
        );
        assert_eq!(
            reference.check_evaluation_data_numbers(&collateral(18, 17)),
            Err(TdxRejection::TcbEvaluationDataNumberBelowMinimum {
                what: "QE identity",
                actual: 17,
                minimum: 18
            })
        );
        let mut missing = collateral(18, 18);
        missing.tcb_info = "{}".to_owned();
        assert!(matches!(
            reference.check_evaluation_data_numbers(&missing),
            Err(TdxRejection::CollateralMalformed {
                what: "TCB info",
                ..
            })
        ));
        // Without a minimum nothing is read.
        assert_eq!(
            TdxReferenceValues::default().check_evaluation_data_numbers(&missing),
            Ok(())
        );
    }

    #[test]
    fn unknown_fields_in_reference_json_are_refused() {
        let err =
            serde_json::from_str::<TdxReferenceValues>(r#"{"allow_debgu": true}"#).unwrap_err();
        assert!(err.to_string().contains("allow_debgu"), "{err}");
    }
}
