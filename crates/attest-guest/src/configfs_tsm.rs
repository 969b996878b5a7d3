//! The configfs-tsm report client (kernel ABI `Documentation/ABI/testing/configfs-tsm`).
//!
//! One request: `mkdir <root>/<entry>`; read `provider`; for SNP optionally write `privlevel`;
//! write the 64 bytes of report data to `inblob`; read `generation`; read `outblob` (the kernel
//! produces the report on this read) and, for SNP, `auxblob`; read `generation` again, which
//! must not have moved; `rmdir` the entry.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use chiaro_attest::ReportData;

use crate::issuer::{Evidence, EvidenceIssuer, IssueError};

/// Where the kernel mounts the report interface.
pub const DEFAULT_TSM_ROOT: &str = "/sys/kernel/config/tsm/report";

/// The TEE behind configfs-tsm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// AMD SEV-SNP (`sev_guest`).
    SevGuest,
    /// Intel TDX (`tdx_guest`).
    TdxGuest,
}

/// A configfs-tsm client rooted at a report directory.
#[derive(Debug, Clone)]
pub struct ConfigfsTsm {
    root: PathBuf,
    privlevel: Option<u8>,
}

/// Distinguishes entries of concurrent requests from one process.
static NEXT_ENTRY: AtomicU64 = AtomicU64::new(0);

impl ConfigfsTsm {
    /// A client for the report directory `root` (normally [`DEFAULT_TSM_ROOT`]).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            privlevel: None,
        }
    }

    /// Requests SNP reports at this VMPL (`privlevel`); ignored for TDX.
    #[must_use]
    pub fn with_privlevel(mut self, privlevel: u8) -> Self {
        self.privlevel = Some(privlevel);
        self
    }

    /// Runs one request in an entry directory the kernel has populated (`provider`,
    /// `generation`, `inblob`, `outblob`, `auxblob`, `privlevel`).
    ///
    /// # Errors
    /// [`IssueError`] naming the attribute that failed.
    pub fn request_in(
        &self,
        entry: &Path,
        report_data: &ReportData,
    ) -> Result<Evidence, IssueError> {
        let provider_text = read_text(entry, "provider")?;
        let provider = match provider_text.trim() {
            "sev_guest" => Provider::SevGuest,
            "tdx_guest" => Provider::TdxGuest,
            other => {
                return Err(IssueError::UnsupportedProvider {
                    provider: other.to_owned(),
                });
            }
        };
        if let (Provider::SevGuest, Some(level)) = (provider, self.privlevel) {
            write(entry, "privlevel", level.to_string().as_bytes())?;
        }
        write(entry, "inblob", report_data.as_bytes())?;
        let before = generation(entry)?;
        let outblob = read(entry, "outblob")?;
        let auxblob = match provider {
            Provider::SevGuest => read(entry, "auxblob").ok().filter(|blob| !blob.is_empty()),
            Provider::TdxGuest => None,
        };
        let after = generation(entry)?;
        if before != after {
            return Err(IssueError::ConcurrentWriter { before, after });
        }
        if outblob.is_empty() {
            return Err(IssueError::Unexpected {
                attribute: "outblob",
                value: String::new(),
            });
        }
        Ok(match provider {
            Provider::SevGuest => Evidence::Snp {
                report: outblob,
                certificate_table: auxblob,
            },
            Provider::TdxGuest => Evidence::Tdx { quote: outblob },
        })
    }
}

impl EvidenceIssuer for ConfigfsTsm {
    fn evidence(&self, report_data: &ReportData) -> Result<Evidence, IssueError> {
        let name = format!(
            "chiaro-{}-{}",
            std::process::id(),
            NEXT_ENTRY.fetch_add(1, Ordering::Relaxed)
        );
        let entry = self.root.join(name);
        fs::create_dir(&entry).map_err(|source| IssueError::NotAvailable {
            path: self.root.clone(),
            source,
        })?;
        let result = self.request_in(&entry, report_data);
        // configfs removes a populated entry with rmdir; a failure here leaks one entry, which the
        // kernel frees with the guest, so it does not hide the request's own result.
        let _ = fs::remove_dir(&entry);
        result
    }
}

fn read(entry: &Path, attribute: &str) -> Result<Vec<u8>, IssueError> {
    let path = entry.join(attribute);
    fs::read(&path).map_err(|source| IssueError::Attribute { path, source })
}

fn read_text(entry: &Path, attribute: &str) -> Result<String, IssueError> {
    let bytes = read(entry, attribute)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn write(entry: &Path, attribute: &str, bytes: &[u8]) -> Result<(), IssueError> {
    let path = entry.join(attribute);
    fs::write(&path, bytes).map_err(|source| IssueError::Attribute { path, source })
}

fn generation(entry: &Path) -> Result<u64, IssueError> {
    let text = read_text(entry, "generation")?;
    text.trim().parse().map_err(|_| IssueError::Unexpected {
        attribute: "generation",
        value: text,
    })
}
