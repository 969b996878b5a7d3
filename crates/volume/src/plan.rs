//! The decision, pure: from what the shell observed on a device to what it may do, and after
//! opening, from what is readable through the mapping to what is left to do.
//!
//! | observed | plan |
//! |---|---|
//! | no LUKS header, the first 16 MiB zero | [`State::Fresh`]: format, open, mkfs, mark ready, mount |
//! | no LUKS header, data | refuse: not a Chiaro volume |
//! | a damaged or foreign header, or another label | refuse |
//! | label `chiaro:formatting` | [`State::Interrupted`]: open (the key must open it), wipe and mkfs unless an ext4 superblock is readable, mark ready, mount |
//! | label `chiaro:ready` | [`State::Ready`]: open, an ext4 superblock must be readable, mount; never mkfs |
//! | the mapping `chiaro-NAME` active over this device with the header's UUID | reuse it (after checking the key) |
//! | the mapping active over another device or with another UUID | refuse |
//! | the mapping mounted at the mount point | keep the mount |
//! | a killed luksFormat's temporary mappings over the device, not ready | close them first |
//!
//! The rule: app data exists only after `chiaro:ready` and a mount, and nothing in `ready`
//! state is ever wiped or formatted; a device the derived key cannot open is never formatted
//! (the only format is of a device without a header whose first 16 MiB are zero).
//!
//! # What the host can do
//!
//! The host owns the disk, so it can write any byte of it between two starts, the LUKS2
//! header included. The header is not authenticated by anything the owner checks before the
//! key opens it (cryptsetup checks its checksum, which anyone can recompute). What editing it
//! achieves:
//! - make the owner refuse (a foreign label, a damaged header, data where zeros were, another
//!   UUID under an active mapping): the volume does not come up, and the app does not start;
//! - make the owner see [`State::Fresh`]: only by zeroing the header and the first 16 MiB,
//!   which destroys the keyslots, so the old data was gone anyway; the host could always wipe
//!   its own disk;
//! - relabel a ready volume `chiaro:formatting`: the key must still open it, and an existing
//!   file system is then kept (no wipe, no mkfs when its superblock reads); a host that also
//!   destroyed the superblock could have destroyed the data anyway;
//! - relabel an interrupted volume `chiaro:ready`: the owner refuses when no file system reads.
//!
//! Blocks changed under the key fail dm-integrity's HMAC: reads return I/O errors, never
//! altered data. What stays possible and cannot be seen here: rolling the whole device (header,
//! tags and data) back to an earlier state, or handing one replica's earlier disk back to it.

use crate::Refusal;
use crate::luks::{Header, LABEL_FORMATTING, LABEL_READY};

/// How far from the start of a header-less device it must be zero to be formatted.
pub const ZERO_CHECK_LEN: u64 = 16 << 20;

/// What the shell observed about one volume before touching it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// The device's first 4096 bytes, read.
    pub header: Header,
    /// Whether the first [`ZERO_CHECK_LEN`] bytes (or the whole device, when smaller) are zero.
    pub zeroed: bool,
    /// The volume's mapping, if active.
    pub mapping: Mapping,
    /// Whether the mapping is what is mounted at the mount point.
    pub mounted: bool,
    /// Temporary mappings a killed `cryptsetup luksFormat` left over the device (its wipe's),
    /// which keep the device busy.
    pub leftovers: Vec<String>,
}

/// The device-mapper mapping `chiaro-NAME`, as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapping {
    /// None of that name.
    Absent,
    /// One is active.
    Active {
        /// Whether the device under it is this volume's device.
        over_device: bool,
        /// Its device-mapper UUID.
        dm_uuid: String,
    },
}

/// Where first-time setup is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Never set up: format.
    Fresh,
    /// Formatted, the file system maybe not made: finish.
    Interrupted,
    /// Set up; may hold data.
    Ready,
}

/// How the mapping comes to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Open {
    /// `cryptsetup open` with the key.
    Open,
    /// The mapping of an earlier start, kept; the key is checked against the header.
    Reuse,
}

/// What to do before the file system is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Where setup is.
    pub state: State,
    /// How to get the mapping.
    pub open: Open,
    /// Whether to mount (false: it is mounted already).
    pub mount: bool,
    /// Whether to close [`Observed::leftovers`] first (only before the volume is ready: no
    /// step of a ready volume makes them).
    pub close_leftovers: bool,
}

/// What is readable through the opened mapping at its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileSystem {
    /// An ext4 superblock.
    Found,
    /// Readable, no superblock.
    Absent,
    /// Reading failed (blocks never written since `luksFormat`, or changed from outside).
    Unreadable,
}

/// What to do once the mapping is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finish {
    /// Write zeros through the mapping (so every block has valid integrity tags).
    pub wipe: bool,
    /// `mkfs.ext4` on the mapping.
    pub make_file_system: bool,
    /// Relabel `chiaro:ready`.
    pub mark_ready: bool,
}

/// Decides from what was observed.
///
/// # Errors
/// The [`Refusal`] for a device this owner must not touch.
pub fn plan(observed: &Observed) -> Result<Plan, Refusal> {
    let state = match &observed.header {
        Header::Absent if observed.zeroed => State::Fresh,
        Header::Absent => return Err(Refusal::NotChiaroData),
        Header::Damaged(fault) => {
            return Err(Refusal::DamagedHeader {
                fault: fault.to_string(),
            });
        }
        Header::Luks2 { label, .. } if label == LABEL_FORMATTING => State::Interrupted,
        Header::Luks2 { label, .. } if label == LABEL_READY => State::Ready,
        Header::Luks2 { label, .. } => {
            return Err(Refusal::ForeignLabel {
                label: label.clone(),
            });
        }
    };
    let open = match (&observed.mapping, &observed.header) {
        (Mapping::Absent, _) => Open::Open,
        (
            Mapping::Active {
                over_device: false, ..
            },
            _,
        ) => return Err(Refusal::MappingOverOtherDevice),
        (Mapping::Active { dm_uuid, .. }, Header::Luks2 { uuid, .. })
            if crate::luks::dm_uuid_is_of(dm_uuid, uuid) =>
        {
            Open::Reuse
        }
        (Mapping::Active { .. }, _) => {
            return Err(Refusal::MappingOfOtherVolume);
        }
    };
    Ok(Plan {
        state,
        open,
        mount: !(open == Open::Reuse && observed.mounted),
        close_leftovers: state != State::Ready && !observed.leftovers.is_empty(),
    })
}

/// Decides, once the key opened the device, from what the mapping shows.
///
/// # Errors
/// [`Refusal::NoFileSystem`] for a ready volume without a readable file system.
pub fn finish(state: State, file_system: FileSystem) -> Result<Finish, Refusal> {
    match (state, file_system) {
        // luksFormat wrote every block (and its tags) already.
        (State::Fresh, _) => Ok(Finish {
            wipe: false,
            make_file_system: true,
            mark_ready: true,
        }),
        (State::Interrupted, FileSystem::Found) => Ok(Finish {
            wipe: false,
            make_file_system: false,
            mark_ready: true,
        }),
        (State::Interrupted, FileSystem::Absent | FileSystem::Unreadable) => Ok(Finish {
            wipe: true,
            make_file_system: true,
            mark_ready: true,
        }),
        (State::Ready, FileSystem::Found) => Ok(Finish {
            wipe: false,
            make_file_system: false,
            mark_ready: false,
        }),
        (State::Ready, FileSystem::Absent | FileSystem::Unreadable) => Err(Refusal::NoFileSystem),
    }
}

#[cfg(test)]
mod tests;
