//! The issuer port and the evidence it yields.

use std::path::PathBuf;

use chiaro_attest::ReportData;
use chiaro_attest::insecure_simulation::{InsecureSimulatedTee, SimulatedLaunch};
use chiaro_attest::snp::SnpCollateral;

/// Evidence as the TEE produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evidence {
    /// An SEV-SNP attestation report, with the host's certificate table when it supplied one.
    Snp {
        /// The 1184-byte report.
        report: Vec<u8>,
        /// The raw `auxblob` (GUID-keyed certificate table), if any.
        certificate_table: Option<Vec<u8>>,
    },
    /// An SNP-format report from the simulated TEE with the simulated VCEK and ASK.
    InsecureSimulatedSnp {
        /// The 1184-byte report.
        report: Vec<u8>,
        /// The simulated chain.
        collateral: SnpCollateral,
    },
    /// A TDX quote (v4 or v5).
    Tdx {
        /// The quote.
        quote: Vec<u8>,
    },
}

/// Something that produces evidence carrying the given report data.
pub trait EvidenceIssuer {
    /// Produces fresh evidence with `report_data` embedded.
    ///
    /// # Errors
    /// [`IssueError`] when the TEE interface is missing or misbehaves.
    fn evidence(&self, report_data: &ReportData) -> Result<Evidence, IssueError>;
}

/// Evidence could not be obtained.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// The configfs-tsm interface is not there (no TEE, or a kernel before 6.7).
    #[error("configfs-tsm is not available at {path}")]
    NotAvailable {
        /// The report directory tried.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Reading or writing an attribute failed.
    #[error("configfs-tsm attribute {path}")]
    Attribute {
        /// The attribute.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The provider is neither `sev_guest` nor `tdx_guest`.
    #[error("configfs-tsm provider {provider:?} is not supported (sev_guest and tdx_guest are)")]
    UnsupportedProvider {
        /// The provider the kernel named.
        provider: String,
    },
    /// Another writer changed the request while we read the report.
    #[error("configfs-tsm entry was written concurrently (generation {before} became {after})")]
    ConcurrentWriter {
        /// Generation after our writes.
        before: u64,
        /// Generation after our reads.
        after: u64,
    },
    /// An attribute held something unexpected.
    #[error("configfs-tsm attribute {attribute} holds {value:?}")]
    Unexpected {
        /// The attribute.
        attribute: &'static str,
        /// What it held.
        value: String,
    },
    /// The simulated TEE failed.
    #[error("simulated TEE")]
    Simulation(#[source] chiaro_attest::insecure_simulation::SimulationError),
}

/// **Insecure**: issues SNP-format evidence signed by a simulated TEE. Only for local mode and
/// tests; verifiers accept it only with the simulated root as an explicit trust anchor.
#[derive(Debug)]
pub struct InsecureSimulatedIssuer {
    tee: InsecureSimulatedTee,
    launch: SimulatedLaunch,
}

impl InsecureSimulatedIssuer {
    /// An issuer for a guest launched as `launch`.
    pub fn new(tee: InsecureSimulatedTee, launch: SimulatedLaunch) -> Self {
        Self { tee, launch }
    }

    /// The simulated TEE (to hand its trust anchors to a verifier).
    pub fn tee(&self) -> &InsecureSimulatedTee {
        &self.tee
    }
}

impl EvidenceIssuer for InsecureSimulatedIssuer {
    fn evidence(&self, report_data: &ReportData) -> Result<Evidence, IssueError> {
        let report = self
            .tee
            .report(&self.launch, report_data)
            .map_err(IssueError::Simulation)?;
        Ok(Evidence::InsecureSimulatedSnp {
            report,
            collateral: self.tee.collateral(),
        })
    }
}
