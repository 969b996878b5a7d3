//! Malformed firmware and impossible combinations: each a typed error, never a panic.

use chiaro_measure::Error;
use chiaro_measure::snp::{DirectBoot, FirmwareMeasurement, Ovmf, SectionKind, Vmm};

use crate::Rng;
use crate::synthetic::{
    CPUID, FOOTER_GUID, Firmware, KERNEL_HASHES, METADATA_AT, SEC_MEM, SECRETS, guid,
};

fn boot() -> DirectBoot {
    DirectBoot::new(b"kernel", b"initrd", "console=ttyS0")
}

/// The error measuring `firmware` with and without a direct boot gives, if both agree.
fn measure(image: &[u8], boot: Option<&DirectBoot>) -> Result<FirmwareMeasurement, Error> {
    FirmwareMeasurement::new(&Ovmf::parse(image)?, boot, Vmm::Qemu)
}

#[test]
fn the_synthetic_firmware_measures() {
    let image = Firmware::amd_sev().build(&mut Rng::new(1));
    let ovmf = Ovmf::parse(&image).unwrap();
    assert_eq!(ovmf.sections().len(), 7);
    assert_eq!(ovmf.ap_reset_address(), Ok(0x0080_b004));
    assert_eq!(ovmf.gpa(), 0x1_0000_0000 - 4 * 4096);
    assert!(measure(&image, Some(&boot())).is_ok());
}

#[test]
fn firmware_that_is_not_whole_pages_below_4_gib_is_refused() {
    for len in [0, 1, 4095, 4097, 8191] {
        let image = vec![0; len];
        assert_eq!(Ovmf::parse(&image).err(), Some(Error::FirmwareSize { len }));
    }
}

#[test]
fn firmware_without_a_footer_table_has_an_ovmf_hash_but_no_launch_digest() {
    let image = Rng::new(2).bytes(2 * 4096);
    let ovmf = Ovmf::parse(&image).unwrap();
    assert!(ovmf.sections().is_empty());
    let _ = ovmf.ovmf_hash();
    assert_eq!(
        FirmwareMeasurement::new(&ovmf, None, Vmm::Qemu),
        Err(Error::MissingFooterEntry {
            entry: "SEV_ES_RESET_BLOCK"
        })
    );
}

#[test]
fn a_footer_table_longer_than_the_image_is_refused() {
    let mut image = Firmware::amd_sev().build(&mut Rng::new(3));
    let footer_at = image.len() - 50;
    image[footer_at..footer_at + 2].copy_from_slice(&0xffffu16.to_le_bytes());
    assert_eq!(
        Ovmf::parse(&image[image.len() - 4096..]).err(),
        Some(Error::FooterTableLength {
            claimed: 0xffff - 18,
            available: 4096 - 50
        })
    );
}

#[test]
fn footer_entries_shorter_than_their_header_or_longer_than_the_table_are_refused() {
    for entry_len in [0u16, 17, 0x200] {
        let mut rng = Rng::new(4);
        let mut image = Firmware {
            sections: None,
            ..Firmware::amd_sev()
        }
        .build(&mut rng);
        // The last entry before the footer is the SEV hashes table's (8 bytes of data).
        let at = image.len() - 50 - 18;
        image[at..at + 2].copy_from_slice(&entry_len.to_le_bytes());
        assert!(
            matches!(
                Ovmf::parse(&image),
                Err(Error::FooterEntryLength { claimed, .. }) if claimed == usize::from(entry_len)
            ),
            "entry length {entry_len}"
        );
    }
}

#[test]
fn footer_entries_too_short_for_their_value_are_refused() {
    let mut image = vec![0; 4096];
    let footer_at = 4096 - 50;
    // One entry: a reset block of 2 bytes.
    let entry_at = footer_at - 20;
    image[entry_at + 2..entry_at + 4].copy_from_slice(&20u16.to_le_bytes());
    image[entry_at + 4..footer_at].copy_from_slice(&guid(crate::synthetic::RESET_BLOCK_GUID));
    image[footer_at..footer_at + 2].copy_from_slice(&(20u16 + 18).to_le_bytes());
    image[footer_at + 2..footer_at + 18].copy_from_slice(&guid(FOOTER_GUID));
    let ovmf = Ovmf::parse(&image).unwrap();
    assert_eq!(
        ovmf.ap_reset_address(),
        Err(Error::FooterEntryTooShort {
            entry: "SEV_ES_RESET_BLOCK",
            len: 2
        })
    );
}

#[test]
fn an_ap_reset_address_of_zero_is_refused() {
    let image = Firmware {
        reset_address: Some(0),
        ..Firmware::amd_sev()
    }
    .build(&mut Rng::new(5));
    assert_eq!(measure(&image, None), Err(Error::ZeroApResetAddress));
}

/// Patches the metadata pointer (the footer table's first entry from the start: the metadata
/// GUID's entry, right before the footer).
fn with_metadata_offset(image: &mut [u8], offset_from_end: u32) {
    let at = image.len() - 50 - 18 - 4;
    image[at..at + 4].copy_from_slice(&offset_from_end.to_le_bytes());
}

#[test]
fn metadata_outside_the_image_is_refused() {
    let mut rng = Rng::new(6);
    for offset in [0, 1, 15, 4 * 4096 + 1, u32::MAX] {
        let mut image = Firmware::amd_sev().build(&mut rng);
        with_metadata_offset(&mut image, offset);
        assert_eq!(
            Ovmf::parse(&image).err(),
            Some(Error::MetadataOffset {
                offset_from_end: offset,
                image_len: image.len()
            }),
            "offset {offset}"
        );
    }
}

#[test]
fn metadata_with_a_wrong_signature_version_or_length_is_refused() {
    let mut rng = Rng::new(7);
    let fresh = |rng: &mut Rng| Firmware::amd_sev().build(rng);

    let mut image = fresh(&mut rng);
    image[METADATA_AT] = b'B';
    assert_eq!(
        Ovmf::parse(&image).err(),
        Some(Error::MetadataSignature { found: *b"BSEV" })
    );

    let mut image = fresh(&mut rng);
    image[METADATA_AT + 8] = 2;
    assert_eq!(
        Ovmf::parse(&image).err(),
        Some(Error::MetadataVersion { found: 2 })
    );

    for (len, items) in [
        (15, 0),
        (16, 1),
        (16 + 12 * 7 - 1, 7),
        (u32::MAX, 7),
        (0x4000, 7),
    ] {
        let mut image = fresh(&mut rng);
        image[METADATA_AT + 4..METADATA_AT + 8].copy_from_slice(&len.to_le_bytes());
        image[METADATA_AT + 12..METADATA_AT + 16].copy_from_slice(&(items as u32).to_le_bytes());
        assert!(
            matches!(Ovmf::parse(&image), Err(Error::MetadataLength { .. })),
            "length {len}, {items} items"
        );
    }
    let mut image = fresh(&mut rng);
    image[METADATA_AT + 12..METADATA_AT + 16].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        Ovmf::parse(&image),
        Err(Error::MetadataLength { .. })
    ));
}

#[test]
fn sections_of_unknown_type_are_refused() {
    for section_type in [0, 5, 0xf, 0x11, u32::MAX] {
        let firmware = Firmware {
            sections: Some(vec![
                (0x80_0000, 0x1000, SEC_MEM),
                (0x80_1000, 0x1000, section_type),
            ]),
            ..Firmware::amd_sev()
        };
        assert_eq!(
            Ovmf::parse(&firmware.build(&mut Rng::new(8))).err(),
            Some(Error::UnknownSectionType {
                index: 1,
                section_type
            })
        );
    }
}

#[test]
fn sections_not_whole_pages_or_past_4_gib_are_refused() {
    let cases = [
        (0x80_0001, 0x1000, SEC_MEM, SectionKind::SnpSecMem),
        (0x80_0000, 0x1001, SEC_MEM, SectionKind::SnpSecMem),
        (0xffff_f000, 0x2000, SEC_MEM, SectionKind::SnpSecMem),
        (0xffff_0000, 0xffff_f000, SEC_MEM, SectionKind::SnpSecMem),
        (0x80_0800, 0x1000, SECRETS, SectionKind::SnpSecrets),
        (0xffff_ffff, 0x1000, CPUID, SectionKind::Cpuid),
        (
            0xffff_f000,
            0x2000,
            KERNEL_HASHES,
            SectionKind::SnpKernelHashes,
        ),
    ];
    for (gpa, size, section_type, kind) in cases {
        let firmware = Firmware {
            sections: Some(vec![(gpa, size, section_type)]),
            ..Firmware::amd_sev()
        };
        assert_eq!(
            Ovmf::parse(&firmware.build(&mut Rng::new(9))).err(),
            Some(Error::SectionRange {
                index: 0,
                kind,
                gpa,
                size
            }),
        );
    }
    // The last page below 4 GiB is in range.
    let firmware = Firmware {
        sections: Some(vec![
            (0xffff_f000, 0x1000, SEC_MEM),
            (0xffff_f000, 0, CPUID),
        ]),
        ..Firmware::amd_sev()
    };
    assert!(Ovmf::parse(&firmware.build(&mut Rng::new(9))).is_ok());
}

#[test]
fn a_kernel_hashes_section_of_more_than_a_page_is_refused_with_a_kernel() {
    let firmware = Firmware {
        sections: Some(vec![(0x81_0000, 0x2000, KERNEL_HASHES)]),
        ..Firmware::amd_sev()
    };
    let image = firmware.build(&mut Rng::new(10));
    assert_eq!(
        measure(&image, Some(&boot())),
        Err(Error::KernelHashesSectionSize { size: 0x2000 })
    );
    assert!(
        measure(&image, None).is_ok(),
        "without a kernel it is zero pages"
    );
}

#[test]
fn a_hashes_table_that_does_not_fit_its_page_is_refused() {
    for gpa in [0x81_0f51, 0x81_0fff] {
        let firmware = Firmware {
            hashes_table_gpa: Some(gpa),
            ..Firmware::amd_sev()
        };
        let image = firmware.build(&mut Rng::new(11));
        assert_eq!(
            measure(&image, Some(&boot())),
            Err(Error::HashesTableOffset {
                offset: gpa & 0xfff
            })
        );
    }
    let firmware = Firmware {
        hashes_table_gpa: Some(0x81_0f50),
        ..Firmware::amd_sev()
    };
    assert!(measure(&firmware.build(&mut Rng::new(11)), Some(&boot())).is_ok());
}

#[test]
fn a_kernel_without_the_hashes_table_address_is_refused() {
    let firmware = Firmware {
        hashes_table_gpa: None,
        ..Firmware::amd_sev()
    };
    let image = firmware.build(&mut Rng::new(12));
    assert_eq!(
        measure(&image, Some(&boot())),
        Err(Error::MissingFooterEntry {
            entry: "SEV_HASH_TABLE_RV"
        })
    );
    assert!(measure(&image, None).is_ok());
}

/// Random images with a footer GUID in place and random lengths, entries and metadata:
/// typed errors or digests, never a panic.
#[test]
fn random_footer_tables_and_metadata_never_panic() {
    let mut rng = Rng::new(13);
    let boot = boot();
    for _ in 0..20_000 {
        let mut image = if rng.coin() {
            Firmware::random(&mut rng).build(&mut rng)
        } else {
            rng.bytes(4096)
        };
        let len = image.len();
        // Random footer length, and now and then random bytes anywhere in the table area.
        let footer_at = len - 50;
        image[footer_at + 2..footer_at + 18].copy_from_slice(&guid(FOOTER_GUID));
        if rng.coin() {
            let footer_len = rng.below(0x200) as u16;
            image[footer_at..footer_at + 2].copy_from_slice(&footer_len.to_le_bytes());
        }
        for _ in 0..rng.below(4) {
            let at = rng.range((len - 0x200) as u64, (len - 1) as u64) as usize;
            image[at] = rng.next_u64() as u8;
        }
        for _ in 0..rng.below(3) {
            let at = rng.range(METADATA_AT as u64, (METADATA_AT + 0x80) as u64) as usize;
            image[at] = rng.next_u64() as u8;
        }
        let Ok(ovmf) = Ovmf::parse(&image) else {
            continue;
        };
        if !crate::cheap_to_measure(&ovmf) {
            continue;
        }
        for vmm in Vmm::ALL {
            for boot in [None, Some(&boot)] {
                let _ = FirmwareMeasurement::from_ovmf_hash([0; 48], &ovmf, boot, vmm);
            }
        }
    }
}
