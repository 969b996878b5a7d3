//! One step of the launch digest: the `PAGE_INFO` structure of the SEV-SNP ABI
//! (`SNP_LAUNCH_UPDATE`, "Launch Digest Calculation"), hashed with SHA-384.

use sha2::{Digest as _, Sha384};

/// A SHA-384 value: a launch digest, or the digest of a page's contents.
pub type Sha384Digest = [u8; 48];

/// The guest-physical address every VMSA is added at (QEMU, EC2 and GCE alike).
pub const VMSA_GPA: u64 = 0xFFFF_FFFF_F000;

/// The size of `PAGE_INFO` in bytes, which is also its `LENGTH` field.
const PAGE_INFO_LEN: usize = 0x70;

/// `PAGE_TYPE` of `SNP_LAUNCH_UPDATE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum PageType {
    /// Measured contents.
    Normal = 0x01,
    /// A vCPU's save area.
    Vmsa = 0x02,
    /// A page of zeros.
    Zero = 0x03,
    /// Unmeasured contents.
    Unmeasured = 0x04,
    /// The secrets page the PSP fills.
    Secrets = 0x05,
    /// The CPUID page the PSP checks.
    Cpuid = 0x06,
}

/// What one `SNP_LAUNCH_UPDATE` of one page adds to the digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageInfo {
    /// SHA-384 of the page's contents for [`PageType::Normal`] and [`PageType::Vmsa`]; zero for
    /// the other types.
    pub contents: Sha384Digest,
    /// The page type.
    pub page_type: PageType,
    /// The guest-physical address of the page.
    pub gpa: u64,
}

impl PageInfo {
    /// The digest after this page: SHA-384 of `PAGE_INFO` with `current` as `DIGEST_CUR`
    /// (`IMI_PAGE` clear, VMPL permissions zero).
    pub fn extend(&self, current: &Sha384Digest) -> Sha384Digest {
        let mut info = [0u8; PAGE_INFO_LEN];
        let (digest_cur, rest) = info.split_at_mut(48);
        digest_cur.copy_from_slice(current);
        let (contents, rest) = rest.split_at_mut(48);
        contents.copy_from_slice(&self.contents);
        let (length, rest) = rest.split_at_mut(2);
        length.copy_from_slice(&(PAGE_INFO_LEN as u16).to_le_bytes());
        let (page_type, rest) = rest.split_at_mut(1);
        page_type.copy_from_slice(&[self.page_type as u8]);
        // IMI_PAGE, VMPL3, VMPL2 and VMPL1 permissions and a reserved byte: zero.
        let (_, gpa) = rest.split_at_mut(5);
        gpa.copy_from_slice(&self.gpa.to_le_bytes());
        Sha384::digest(info).into()
    }
}

/// The digest of a guest with `additional` more application processors than the guest whose
/// digest is `digest`: each AP adds one VMSA page whose contents hash to `ap_vmsa`.
pub fn extend_with_ap_vmsas(
    digest: &Sha384Digest,
    ap_vmsa: &Sha384Digest,
    additional: u32,
) -> Sha384Digest {
    let page = PageInfo {
        contents: *ap_vmsa,
        page_type: PageType::Vmsa,
        gpa: VMSA_GPA,
    };
    (0..additional).fold(*digest, |current, _| page.extend(&current))
}
