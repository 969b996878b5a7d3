//! `Verified<Claims>`: the only proof downstream code accepts that evidence was checked.

use std::ops::Deref;

use serde::Serialize;

use crate::fields::{ChipId, Digest48, HostData, Measurement, ReportData};
use crate::snp::{Product, SigningKey, TcbVersion};
use crate::tdx::TcbStatus;

/// A value produced by a verifier in this crate. Nothing outside the crate can construct one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Verified<T>(T);

impl<T> Verified<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(value)
    }

    /// Gives up the proof and returns the plain value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Verified<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// What verified evidence says about the guest, in the form later layers need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Claims {
    /// The TEE and its root of trust.
    pub platform: Platform,
    /// The launch measurement (SNP `MEASUREMENT`, TDX `MRTD`).
    pub measurement: Measurement,
    /// The field that binds the initdata (Chiaro's policy hash) into the launch.
    pub init_data: InitDataBinding,
    /// The report data, which binds the evidence to a key or session.
    pub report_data: ReportData,
    /// The TCB the evidence was produced on.
    pub tcb: TcbClaims,
    /// The chip id, for SNP reports with an unmasked chip id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chip_id: Option<ChipId>,
}

/// The TEE that produced the evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Platform {
    /// AMD SEV-SNP, chained to AMD's pinned roots.
    Snp {
        /// The processor generation.
        product: Product,
        /// The key that signed the report.
        signing_key: SigningKey,
    },
    /// Intel TDX, chained to Intel's SGX root.
    Tdx,
    /// SNP-format evidence from the simulated TEE: proves nothing about hardware.
    InsecureSimulated,
}

/// The launch-bound configuration digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InitDataBinding {
    /// SNP `HOST_DATA` (32 bytes).
    HostData(HostData),
    /// TDX `MRCONFIGID` (48 bytes).
    MrConfigId(Digest48),
}

/// The TCB the evidence was produced on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TcbClaims {
    /// SNP `REPORTED_TCB`, decoded for the product.
    Snp(TcbVersion),
    /// TDX `TEE_TCB_SVN` and the TCB status Intel's collateral gives it.
    Tdx {
        /// The TDX module's TCB SVN.
        #[serde(with = "hex::serde")]
        tee_tcb_svn: [u8; 16],
        /// The status from TCB info.
        status: TcbStatus,
    },
}
