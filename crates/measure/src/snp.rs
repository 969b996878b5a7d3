//! The SEV-SNP launch digest.
//!
//! The PSP folds every page the VMM adds with `SNP_LAUNCH_UPDATE` into one SHA-384 chain
//! ([`page_info`]). The VMSAs of the vCPUs come last, the boot vCPU's first, then one identical
//! VMSA per application processor: the digest for N vCPUs is the 1-vCPU digest extended N − 1
//! times with the AP VMSA ([`page_info::extend_with_ap_vmsas`]), which lets a verifier accept a
//! range of vCPU counts from two values.

pub mod page_info;
