//! The launch digest as the VMM builds it, one `SNP_LAUNCH_UPDATE` page at a time.

use sha2::{Digest as _, Sha384};

use crate::snp::ovmf::PAGE_SIZE;
use crate::snp::page_info::{PageInfo, PageType, Sha384Digest, VMSA_GPA};

/// The digest so far: all zeros before the first page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Chain(Sha384Digest);

impl Chain {
    pub(crate) const fn new() -> Self {
        Self([0; 48])
    }

    pub(crate) const fn from_digest(digest: Sha384Digest) -> Self {
        Self(digest)
    }

    pub(crate) const fn digest(self) -> Sha384Digest {
        self.0
    }

    fn add(&mut self, page_type: PageType, gpa: u64, contents: Sha384Digest) {
        self.0 = PageInfo {
            contents,
            page_type,
            gpa,
        }
        .extend(&self.0);
    }

    /// Normal pages with `data` from `gpa` on (a trailing partial page is never passed: callers
    /// hold whole pages).
    pub(crate) fn normal_pages(&mut self, gpa: u64, data: &[u8]) {
        let mut page_gpa = gpa;
        for page in data.chunks_exact(PAGE_SIZE) {
            self.add(PageType::Normal, page_gpa, Sha384::digest(page).into());
            page_gpa = page_gpa.wrapping_add(PAGE_SIZE as u64);
        }
    }

    /// `pages` pages of one contents-less type from `gpa` on.
    pub(crate) fn empty_pages(&mut self, page_type: PageType, gpa: u64, pages: u64) {
        for page in 0..pages {
            self.add(page_type, gpa + page * PAGE_SIZE as u64, [0; 48]);
        }
    }

    /// One VMSA page.
    pub(crate) fn vmsa_page(&mut self, vmsa: &[u8; PAGE_SIZE]) {
        self.add(PageType::Vmsa, VMSA_GPA, Sha384::digest(vmsa).into());
    }
}
