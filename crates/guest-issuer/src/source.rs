//! Where a Chiaro process's own evidence comes from, as its binaries configure it.

use std::path::PathBuf;
use std::sync::Arc;

use chiaro_atls::{Clock, Issuer};
use chiaro_attest::insecure_simulation::{InsecureSimulatedTee, SimulatedLaunch};
use chiaro_attest::{HostData, Measurement};

use crate::atls_issuer::{AtlsIssuer, guest_issuer};
use chiaro_attest_guest::InsecureSimulatedIssuer;

/// The flags that select the evidence source, as the Coordinator's and the initializer's
/// binaries read them and local mode and tests write them ([`EvidenceSource::args`]).
pub mod flags {
    /// INSECURE: the simulated TEE's file.
    pub const INSECURE_SIMULATED_TEE: &str = "insecure-simulated-tee";
    /// With [`INSECURE_SIMULATED_TEE`]: the launch measurement to report (96 hex).
    pub const INSECURE_SIMULATED_MEASUREMENT: &str = "insecure-simulated-measurement";
    /// With [`INSECURE_SIMULATED_TEE`]: the HOST_DATA to report (64 hex).
    pub const INSECURE_SIMULATED_HOST_DATA: &str = "insecure-simulated-host-data";
}

/// The evidence source of a Coordinator or initializer.
#[derive(Debug, Clone)]
pub enum EvidenceSource {
    /// configfs-tsm in a real SNP or TDX guest, with VCEKs from AMD KDS cached in this directory.
    ConfigfsTsm {
        /// The KDS cache directory.
        kds_cache: PathBuf,
    },
    /// **Insecure**: a simulated TEE loaded from a file, launched with these values.
    InsecureSimulated {
        /// The file `InsecureSimulatedTee::to_insecure_json` wrote.
        tee: PathBuf,
        /// The launch measurement to report.
        measurement: Measurement,
        /// The `HOST_DATA` (the process's policy hash) to report.
        host_data: HostData,
    },
}

impl EvidenceSource {
    /// The source a binary's flags select: the simulated TEE in `insecure_simulated_tee` when
    /// given (with zero measurement and host data unless set), configfs-tsm otherwise (with its
    /// KDS/PCS cache in the temporary directory).
    pub fn from_flags(
        insecure_simulated_tee: Option<PathBuf>,
        measurement: Option<Measurement>,
        host_data: Option<HostData>,
    ) -> Self {
        match insecure_simulated_tee {
            None => Self::ConfigfsTsm {
                kds_cache: std::env::temp_dir().join("chiaro-kds-cache"),
            },
            Some(tee) => Self::InsecureSimulated {
                tee,
                measurement: measurement.unwrap_or(Measurement::new([0; 48])),
                host_data: host_data.unwrap_or(HostData::new([0; 32])),
            },
        }
    }

    /// The binary flags that select this source ([`flags`]; none for configfs-tsm, the
    /// binaries' default).
    pub fn args(&self) -> Vec<std::ffi::OsString> {
        match self {
            Self::ConfigfsTsm { .. } => Vec::new(),
            Self::InsecureSimulated {
                tee,
                measurement,
                host_data,
            } => vec![
                format!("--{}", flags::INSECURE_SIMULATED_TEE).into(),
                tee.clone().into(),
                format!("--{}", flags::INSECURE_SIMULATED_MEASUREMENT).into(),
                measurement.to_string().into(),
                format!("--{}", flags::INSECURE_SIMULATED_HOST_DATA).into(),
                host_data.to_string().into(),
            ],
        }
    }

    /// Whether evidence from this source proves nothing about hardware.
    pub fn is_insecure(&self) -> bool {
        matches!(self, Self::InsecureSimulated { .. })
    }

    /// The attested-TLS issuer for this source.
    ///
    /// # Errors
    /// [`SetupError`] when the simulated TEE file cannot be read or loaded, or KDS cannot be
    /// set up.
    pub fn issuer(&self, clock: Clock) -> Result<Arc<dyn Issuer>, SetupError> {
        match self {
            Self::ConfigfsTsm { kds_cache } => {
                Ok(Arc::new(guest_issuer(kds_cache.clone(), clock)?))
            }
            Self::InsecureSimulated {
                tee,
                measurement,
                host_data,
            } => {
                let text = std::fs::read_to_string(tee).map_err(|source| {
                    SetupError::ReadSimulatedTee {
                        path: tee.clone(),
                        source,
                    }
                })?;
                let tee = InsecureSimulatedTee::from_insecure_json(&text).map_err(|source| {
                    SetupError::LoadSimulatedTee {
                        path: tee.clone(),
                        source,
                    }
                })?;
                let launch = SimulatedLaunch {
                    measurement: *measurement,
                    host_data: *host_data,
                    ..SimulatedLaunch::default()
                };
                Ok(Arc::new(AtlsIssuer::new(InsecureSimulatedIssuer::new(
                    tee, launch,
                ))))
            }
        }
    }
}

/// The production issuer could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// No HTTPS client for KDS and PCS (no system root certificates).
    #[error("no HTTPS client for AMD KDS and Intel PCS")]
    Fetcher(#[source] chiaro_collateral::FetchError),
    /// The simulated TEE file could not be read.
    #[error("reading the simulated TEE {}", path.display())]
    ReadSimulatedTee {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The simulated TEE file does not load.
    #[error("loading the simulated TEE {}", path.display())]
    LoadSimulatedTee {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: chiaro_attest::insecure_simulation::SimulationError,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_simulated_source_is_written_as_the_flags_the_daemons_read() {
        let source = EvidenceSource::InsecureSimulated {
            tee: PathBuf::from("/work/tee.json"),
            measurement: Measurement::new([0xab; 48]),
            host_data: HostData::new([0xcd; 32]),
        };
        let args: Vec<String> = source
            .args()
            .into_iter()
            .map(|arg| arg.into_string().unwrap())
            .collect();
        assert_eq!(
            args,
            [
                "--insecure-simulated-tee".to_owned(),
                "/work/tee.json".to_owned(),
                "--insecure-simulated-measurement".to_owned(),
                "ab".repeat(48),
                "--insecure-simulated-host-data".to_owned(),
                "cd".repeat(32),
            ]
        );
        let tsm = EvidenceSource::ConfigfsTsm {
            kds_cache: PathBuf::from("/tmp"),
        };
        assert!(
            tsm.args().is_empty(),
            "configfs-tsm is the daemons' default"
        );
    }
}
