//! The volume owner of a Chiaro pod (`chiaro-volume`, the `chiaro-volumes` sidecar): opens each
//! encrypted block volume inside the confidential VM with LUKS2 and dm-integrity (authenticated
//! encryption: blocks the host changes fail to read), under a key derived from the workload
//! secret, formats it only on first use (ext4), and mounts it where the pod's containers share
//! it (`docs/volumes.md`).
//!
//! The pure core decides; the shell observes and acts:
//! - [`key`]: [`WorkloadSecret`], [`volume_key`] (HKDF-SHA256 bound to the volume and replica);
//! - [`luks`]: the LUKS2 binary header, the ext4 superblock magic, mapping UUIDs;
//! - [`plan`]: what was observed → what may be done, with the argument of what the host can do
//!   by editing the disk;
//! - [`protection`]: what cryptsetup says protects an opened volume, and what Chiaro requires;
//! - [`setup`]: the plan's steps through the [`Tools`] port;
//! - [`system`] (I/O): observing a device, its mapping and its mount; cryptsetup, mkfs.ext4,
//!   mount(2);
//! - [`owner`]: the run over every volume, with the ready files;
//! - [`stand_in`] (I/O, INSECURE, local mode): a regular file instead of a device, no
//!   device-mapper, the data in plain.

mod error;
pub mod key;
pub mod luks;
pub mod owner;
pub mod plan;
pub mod protection;
pub mod setup;
pub mod stand_in;
pub mod system;

pub use error::{Error, Refusal};
pub use key::{KeyContext, VolumeKey, WorkloadSecret, volume_key};
pub use owner::Owner;
pub use setup::{Tools, Volume, set_up};
