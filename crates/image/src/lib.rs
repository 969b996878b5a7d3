//! Chiaro's OCI images as bytes: everything that decides an image's digest, and nothing that
//! reads a file, a clock or the network. The same entries, user, entrypoint, labels and time
//! give the same bytes, so the same digests, on every machine.
//!
//! - [`Entry`] and [`tar::layer`]: a file system as a tar layer (ustar; sorted, parents
//!   listed, owner 0:0, fixed modes and times).
//! - [`gzip::compress`]: gzip with no name and no time in its header, at a fixed level.
//! - [`ImageSpec`] and [`ImageSpec::build`]: one layer, its [`config::ImageConfig`] and
//!   [`manifest::Manifest`], each named by its [`Digest`] ([`BuiltImage`]).
//! - [`layout`]: an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`) of built
//!   images, as files or as one tar.
//! - [`time::rfc3339`]: the image's `created` time from a Unix time.
//!
//! The caller (`chiaro-release`) reads the binaries and packages, writes the results and pushes
//! them; see `docs/images.md`.

mod build;
pub mod config;
mod digest;
mod entry;
mod error;
pub mod gzip;
pub mod layout;
pub mod manifest;
pub mod tar;
pub mod time;

pub use build::{BuiltImage, ImageSpec, User};
pub use digest::Digest;
pub use entry::{Entry, Kind};
pub use error::ImageError;
