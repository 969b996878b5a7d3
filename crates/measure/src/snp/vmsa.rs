//! The VMSA (the SEV-ES save area, AMD APM vol. 2 table B-4) of a vCPU at reset, as the VMM
//! hands it to the PSP: the one page per vCPU the launch digest ends with.

use crate::snp::ovmf::PAGE_SIZE;
use crate::snp::vcpu::GuestFeatures;
use crate::snp::vmm::ResetState;

/// One VMSA page.
pub type VmsaPage = [u8; PAGE_SIZE];

/// A segment register at reset.
struct Segment {
    selector: u16,
    attrib: u16,
    limit: u32,
    base: u64,
}

impl Segment {
    const fn data(attrib: u16) -> Self {
        Self {
            selector: 0,
            attrib,
            limit: 0xffff,
            base: 0,
        }
    }
}

/// The page being written: little-endian fields at their save-area offsets.
struct Writer(VmsaPage);

impl Writer {
    fn put(&mut self, offset: usize, bytes: &[u8]) {
        let field = offset
            .checked_add(bytes.len())
            .and_then(|end| self.0.get_mut(offset..end));
        // Every offset below is a constant inside the page.
        if let Some(field) = field {
            field.copy_from_slice(bytes);
        }
    }

    fn u16(&mut self, offset: usize, value: u16) {
        self.put(offset, &value.to_le_bytes());
    }

    fn u32(&mut self, offset: usize, value: u32) {
        self.put(offset, &value.to_le_bytes());
    }

    fn u64(&mut self, offset: usize, value: u64) {
        self.put(offset, &value.to_le_bytes());
    }

    fn segment(&mut self, offset: usize, segment: &Segment) {
        self.u16(offset, segment.selector);
        self.u16(offset + 2, segment.attrib);
        self.u32(offset + 4, segment.limit);
        self.u64(offset + 8, segment.base);
    }
}

/// The VMSA of a vCPU that starts at `eip` (`CS` base its upper 16 bits, `RIP` its lower), in
/// the VMM's reset `state`, with these SEV features. Everything not set here is zero.
pub(crate) fn vmsa_page(eip: u32, features: GuestFeatures, state: &ResetState) -> VmsaPage {
    let mut page = Writer([0; PAGE_SIZE]);
    let data = 0x93;
    page.segment(0x000, &Segment::data(data)); // ES
    page.segment(
        0x010,
        &Segment {
            selector: 0xf000,
            attrib: state.cs_attrib,
            limit: 0xffff,
            base: u64::from(eip & 0xffff_0000),
        },
    ); // CS
    page.segment(0x020, &Segment::data(state.ss_attrib)); // SS
    page.segment(0x030, &Segment::data(data)); // DS
    page.segment(0x040, &Segment::data(data)); // FS
    page.segment(0x050, &Segment::data(data)); // GS
    page.segment(0x060, &Segment::data(0)); // GDTR
    page.segment(0x070, &Segment::data(0x82)); // LDTR
    page.segment(0x080, &Segment::data(0)); // IDTR
    page.segment(0x090, &Segment::data(state.tr_attrib)); // TR
    page.u64(0x0d0, 0x1000); // EFER: SVME, as KVM sets it
    page.u64(0x148, 0x40); // CR4: MCE, as KVM sets it
    page.u64(0x158, 0x10); // CR0: ET
    page.u64(0x160, 0x400); // DR7
    page.u64(0x168, 0xffff_0ff0); // DR6
    page.u64(0x170, 0x2); // RFLAGS
    page.u64(0x178, u64::from(eip & 0xffff)); // RIP
    page.u64(0x268, state.g_pat); // G_PAT
    page.u64(0x310, state.rdx); // RDX
    page.u64(0x3b0, features.0); // SEV_FEATURES
    page.u64(0x3e8, 0x1); // XCR0: x87
    page.u32(0x408, state.mxcsr); // MXCSR
    page.u16(0x410, state.x87_fcw); // x87 FCW
    page.0
}
