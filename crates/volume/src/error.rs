//! The one error type of this crate, and what a refusal says.

use chiaro_pod::VolumeName;

/// Why a volume is not set up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The device is not in a state this owner may touch (the plan refused it).
    #[error("volume {volume} on {device}: {refusal}")]
    Refused {
        /// The volume.
        volume: VolumeName,
        /// Its device (or, for the INSECURE stand-in, its file).
        device: String,
        /// What was found.
        refusal: Refusal,
    },
    /// A step that should have worked did not.
    #[error("volume {volume} on {device}: {step}")]
    Step {
        /// The volume.
        volume: VolumeName,
        /// Its device.
        device: String,
        /// The step, as logged.
        step: String,
        /// What failed.
        #[source]
        source: Box<Self>,
    },
    /// A program the owner runs failed.
    #[error("{command} failed: {detail}")]
    Tool {
        /// The command line, without the key.
        command: String,
        /// Its exit status and what it printed.
        detail: String,
    },
    /// Reading or writing a file, a device or the kernel's tables failed.
    #[error("{what}")]
    Io {
        /// What was read or written.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// No workload secret: the initializer writes one only when the manifest gives the workload
    /// a workload secret id.
    #[error(
        "reading the workload secret at {path} (the manifest must give this workload a workload \
         secret id)"
    )]
    NoSecret {
        /// The file.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The workload secret file is not what the initializer writes.
    #[error("the workload secret is not the hex of at least 32 bytes")]
    Secret,
    /// A per-replica key without the pod's name.
    #[error(
        "--{} needs the pod's name in {} (generate sets it from metadata.name)",
        chiaro_pod::volumes::PER_REPLICA_FLAG,
        chiaro_pod::env::POD_NAME
    )]
    NoReplicaName,
}

/// What the owner found on a device that it refuses to set up. Every one leaves the device as
/// it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No LUKS header, and data in the first 16 MiB.
    #[error("holds data that is not a Chiaro volume; refusing to format it")]
    NotChiaroData,
    /// A header that is not a LUKS2 header Chiaro reads.
    #[error("has a damaged or foreign LUKS header ({fault}); refusing to touch it")]
    DamagedHeader {
        /// What is wrong with it.
        fault: String,
    },
    /// A LUKS2 header whose label Chiaro never writes.
    #[error("is a LUKS2 volume labelled {label:?}, not set up by Chiaro; refusing to touch it")]
    ForeignLabel {
        /// The label.
        label: String,
    },
    /// The key derived for this volume does not open it.
    #[error(
        "cannot be opened with this workload's key (another workload's, another replica's, or a \
         replaced disk); refusing to format it"
    )]
    WrongKey,
    /// Marked ready, but no ext4 file system can be read through the opened mapping.
    #[error(
        "is marked ready but no ext4 file system is readable through its mapping (blocks changed \
         from outside?); refusing to format it"
    )]
    NoFileSystem,
    /// Opened, but not protected as Chiaro formats volumes (a header rewritten to another
    /// cipher, or without integrity).
    #[error(
        "opens, but its mapping uses {found} where Chiaro formats AES-XTS with HMAC-SHA256 \
         integrity on 4096-byte sectors (a header rewritten from outside?); refusing to use it"
    )]
    Unprotected {
        /// What cryptsetup reports.
        found: String,
    },
    /// The volume's mapping (`chiaro-NAME`) is active over another device.
    #[error("its mapping is active over another device; refusing to reuse it")]
    MappingOverOtherDevice,
    /// The volume's mapping is active for another LUKS volume than the header shows (or the
    /// device has no LUKS2 header).
    #[error(
        "its mapping is active for another LUKS volume than the device's header shows; refusing \
         to reuse it"
    )]
    MappingOfOtherVolume,
}
