use super::*;
use crate::luks::HeaderFault;

const UUID: &str = "4819a17b-9f25-41ab-be4f-0a3c11b5103c";
const DM_UUID: &str = "CRYPT-LUKS2-4819a17b9f2541abbe4f0a3c11b5103c-chiaro-data";

fn luks(label: &str) -> Header {
    Header::Luks2 {
        label: label.to_owned(),
        uuid: UUID.to_owned(),
    }
}

fn observed(header: Header, zeroed: bool) -> Observed {
    Observed {
        header,
        zeroed,
        mapping: Mapping::Absent,
        mounted: false,
        leftovers: Vec::new(),
    }
}

fn headers() -> Vec<Header> {
    vec![
        Header::Absent,
        Header::Damaged(HeaderFault::Version(1)),
        luks(LABEL_FORMATTING),
        luks(LABEL_READY),
        luks("data"),
        luks(""),
    ]
}

fn mappings() -> Vec<Mapping> {
    vec![
        Mapping::Absent,
        Mapping::Active {
            over_device: true,
            dm_uuid: DM_UUID.to_owned(),
        },
        Mapping::Active {
            over_device: false,
            dm_uuid: DM_UUID.to_owned(),
        },
        Mapping::Active {
            over_device: true,
            dm_uuid: "CRYPT-LUKS2-00000000000000000000000000000000-chiaro-data".to_owned(),
        },
    ]
}

fn every_observation() -> Vec<Observed> {
    let mut all = Vec::new();
    for header in headers() {
        for mapping in mappings() {
            for zeroed in [false, true] {
                for mounted in [false, true] {
                    all.push(Observed {
                        header: header.clone(),
                        zeroed,
                        mapping: mapping.clone(),
                        mounted,
                        leftovers: vec!["temporary-cryptsetup-1".to_owned()],
                    });
                }
            }
        }
    }
    all
}

#[test]
fn a_zeroed_device_without_a_header_is_formatted() {
    let plan = plan(&observed(Header::Absent, true)).unwrap();
    assert_eq!(plan.state, State::Fresh);
    assert_eq!(plan.open, Open::Open);
    assert!(plan.mount);
}

#[test]
fn data_without_a_header_damaged_headers_and_foreign_labels_are_refused() {
    assert_eq!(
        plan(&observed(Header::Absent, false)),
        Err(Refusal::NotChiaroData)
    );
    assert!(matches!(
        plan(&observed(
            Header::Damaged(HeaderFault::SecondaryAtStart),
            true
        )),
        Err(Refusal::DamagedHeader { .. })
    ));
    assert_eq!(
        plan(&observed(luks("backup"), true)),
        Err(Refusal::ForeignLabel {
            label: "backup".to_owned()
        })
    );
}

#[test]
fn the_label_says_where_setup_is() {
    assert_eq!(
        plan(&observed(luks(LABEL_FORMATTING), false)).map(|p| p.state),
        Ok(State::Interrupted)
    );
    assert_eq!(
        plan(&observed(luks(LABEL_READY), false)).map(|p| p.state),
        Ok(State::Ready)
    );
}

#[test]
fn a_mapping_is_reused_only_over_the_same_device_and_luks_volume() {
    let mut restart = observed(luks(LABEL_READY), false);
    restart.mapping = Mapping::Active {
        over_device: true,
        dm_uuid: DM_UUID.to_owned(),
    };
    restart.mounted = true;
    assert_eq!(
        plan(&restart),
        Ok(Plan {
            state: State::Ready,
            open: Open::Reuse,
            mount: false,
            close_leftovers: false,
        })
    );
    restart.mounted = false;
    assert_eq!(plan(&restart).map(|p| p.mount), Ok(true));
    restart.mapping = Mapping::Active {
        over_device: false,
        dm_uuid: DM_UUID.to_owned(),
    };
    assert_eq!(plan(&restart), Err(Refusal::MappingOverOtherDevice));
    restart.mapping = Mapping::Active {
        over_device: true,
        dm_uuid: "CRYPT-LUKS2-00000000000000000000000000000000-chiaro-data".to_owned(),
    };
    assert_eq!(plan(&restart), Err(Refusal::MappingOfOtherVolume));
    let mut fresh_under_a_mapping = observed(Header::Absent, true);
    fresh_under_a_mapping.mapping = Mapping::Active {
        over_device: true,
        dm_uuid: DM_UUID.to_owned(),
    };
    assert_eq!(
        plan(&fresh_under_a_mapping),
        Err(Refusal::MappingOfOtherVolume)
    );
}

/// The rule, over every observation and every file system: only a header-less zeroed device is
/// formatted; nothing ready is wiped, formatted or relabelled; a ready volume without a file
/// system is refused.
#[test]
fn nothing_ready_is_ever_wiped_or_formatted_and_only_zeros_are_formatted() {
    for observed in every_observation() {
        let Ok(plan) = plan(&observed) else { continue };
        assert_eq!(
            plan.close_leftovers,
            plan.state != State::Ready,
            "{observed:?}"
        );
        let fresh = observed.header == Header::Absent && observed.zeroed;
        assert_eq!(plan.state == State::Fresh, fresh, "{observed:?}");
        if fresh {
            assert_eq!(
                plan.open,
                Open::Open,
                "no mapping over a header-less device"
            );
        }
        for file_system in [
            FileSystem::Found,
            FileSystem::Absent,
            FileSystem::Unreadable,
        ] {
            let finished = finish(plan.state, file_system);
            if plan.state == State::Ready {
                match finished {
                    Ok(finish) => {
                        assert_eq!(file_system, FileSystem::Found);
                        assert!(!finish.wipe && !finish.make_file_system && !finish.mark_ready);
                    }
                    Err(refusal) => assert_eq!(refusal, Refusal::NoFileSystem),
                }
            } else {
                let finish = finished.unwrap();
                assert!(finish.mark_ready);
                if file_system == FileSystem::Found && plan.state == State::Interrupted {
                    assert!(
                        !finish.wipe && !finish.make_file_system,
                        "a file system is kept"
                    );
                }
            }
        }
    }
}
