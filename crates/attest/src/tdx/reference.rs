//! TDX reference values, including Chiaro's own TCB policy on top of Intel's collateral.
//!
//! Fail-closed defaults: only `UpToDate` is accepted, no advisory is accepted, debug is off.

use serde::{Deserialize, Serialize};

use crate::fields::{Digest48, Measurement, ReportData};
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
    /// Accept a debuggable TD. Never set this in production.
    #[serde(default)]
    pub allow_debug: bool,
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

impl Default for TdxReferenceValues {
    fn default() -> Self {
        Self {
            allowed_tcb_statuses: allowed_statuses_default(),
            allowed_advisory_ids: Vec::new(),
            allow_debug: false,
            mrtd: None,
            rtmrs: None,
            mr_config_id: None,
            mr_owner: None,
            mr_owner_config: None,
            minimum_tee_tcb_svn: None,
            xfam: None,
            report_data: None,
        }
    }
}

impl TdxReferenceValues {
    /// The TD debug attribute, checked before the collateral so the refusal is precise.
    pub(crate) fn check_debug(&self, body: &TdReport) -> Result<(), TdxRejection> {
        if body.debug() && !self.allow_debug {
            return Err(TdxRejection::DebugEnabled {
                td_attributes: hex::encode(body.td_attributes),
            });
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

    #[test]
    fn unknown_fields_in_reference_json_are_refused() {
        let err =
            serde_json::from_str::<TdxReferenceValues>(r#"{"allow_debgu": true}"#).unwrap_err();
        assert!(err.to_string().contains("allow_debgu"), "{err}");
    }
}
