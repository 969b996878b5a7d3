//! Chiaro's images, built from the static binaries and pinned Debian files: what each image
//! holds ([`Component`], pure), the Debian lock ([`DebianLock`], pure), and the shell that reads
//! the inputs, writes OCI image layouts and pushes them ([`inputs`], [`output`]). The binary
//! (`chiaro-release`) is what `scripts/images` and `scripts/release` run; `docs/images.md`
//! says what is in each image and why its digest depends only on the source.
//!
//! Not in any TCB: it runs where images are built, never in a pod.

mod component;
mod error;
pub mod inputs;
mod lock;
pub mod output;

pub use component::{Component, DebianFile, Inputs, Stamp};
pub use error::ReleaseError;
pub use lock::{DebianLock, LockedPackage};
