//! Launch measurements computed from a guest's inputs, with no I/O: the caller reads the files.
//!
//! - [`snp`]: the AMD SEV-SNP launch digest (the report's `MEASUREMENT`) of a guest that boots
//!   OVMF, with or without a kernel, initrd and command line measured through OVMF's SEV hashes
//!   table, for a vCPU count, vCPU model, guest features and VMM:
//!   - [`snp::ovmf`]: the firmware image, its footer table and SEV metadata;
//!   - [`snp::sev_hashes`]: the direct boot's SEV hashes table;
//!   - [`snp::vcpu`], [`snp::vmm`], [`snp::vmsa`]: the vCPUs' VMSAs;
//!   - [`snp::page_info`]: one step of the digest;
//!   - [`snp::launch`]: the whole computation.
//! - [`Error`]: why inputs could not be measured.
//!
//! TDX is not here: see `docs/reference-values.md` for why.

#![deny(clippy::indexing_slicing, clippy::panic_in_result_fn)]

mod error;
pub mod snp;

pub use error::Error;
