//! What `chiaro generate` reports.

use chiaro_policy::WorkloadReport;
use serde::{Deserialize, Serialize};

/// What `chiaro generate` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerateSummary {
    /// Per workload, in input order.
    pub workloads: Vec<WorkloadReport>,
    /// The files written.
    pub written: Vec<String>,
    /// What the user should know.
    pub warnings: Vec<String>,
}
