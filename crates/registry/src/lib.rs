//! The OCI registry client `chiaro generate` uses to pin images: it resolves `image:tag` to
//! `image@sha256:…` and reads the image configuration (entrypoint, command, environment,
//! working directory, user, volumes) that decides what a container runs. `chiaro-release`
//! pushes Chiaro's own images with it ([`RegistryClient::push_image`]).
//!
//! - [`ImageReference`] and [`Digest`]: references as container runtimes normalise them.
//! - [`RegistryClient`]: the distribution API over HTTPS (or plain HTTP for hosts listed as
//!   insecure), bearer-token and basic authentication with credentials from Docker's
//!   `config.json` or its credential helpers, registry mirrors, and a [`BlobCache`].
//!
//! Security model: the registry is untrusted. Everything read by digest (manifests, the
//! configuration) is checked against that digest, from the network and from the cache alike;
//! a tag is trusted only to say which digest it names *now*, and that digest is what the
//! policy pins, so the image that runs is the one whose configuration the policy was built
//! from. Plain HTTP is never used unless the user names the host.
//!
//! Pushing is the distribution spec's monolithic upload: blobs the repository lacks (checked
//! with `HEAD`), then the manifest under its tag, with tokens for `pull,push`; pushes go to the
//! named registry, never a mirror, and are not resumed (a failed push is pushed again).
//!
//! What it does not do: it does not pull layers (the Kata guest pulls and checks them), does
//! not read `/etc/passwd` from layers (named users need `runAsUser`), does not upload in
//! chunks or mount blobs across repositories, and does not support OAuth identity tokens or
//! schema-1 manifests. Only linux/amd64 images are read:
//! SEV-SNP and TDX hosts are x86-64.

// Panic-free parsing: registry responses (token challenges, indexes, manifests, image
// configs, layers) are untrusted until their digests check, image references come from users'
// YAML, and credential helpers answer in JSON.
#![deny(
    clippy::indexing_slicing,
    clippy::panic_in_result_fn,
    clippy::arithmetic_side_effects
)]

mod auth;
mod cache;
mod client;
mod digest;
mod error;
mod http;
mod image_config;
mod oci;
mod push;
mod reference;

pub use auth::{Challenge, CredentialSource, Credentials, DockerConfig};
pub use cache::BlobCache;
pub use chiaro_https::HttpError;
pub use client::{ClientOptions, Progress, RegistryClient, ResolvedImage, TrustRoots};
pub use digest::Digest;
pub use error::RegistryError;
pub use image_config::ImageConfiguration;
pub use reference::ImageReference;
