//! Image references as written in pod specs, normalised the way container runtimes do.

use std::fmt;

use crate::{Digest, RegistryError};

/// Docker Hub's name in references.
const DOCKER_HUB: &str = "docker.io";
/// Docker Hub's API host.
const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// A parsed `[registry/]repository[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageReference {
    written: String,
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl ImageReference {
    /// Parses `text` with Docker's normalisation: no registry means Docker Hub, and a one-part
    /// Docker Hub name lives under `library/`. No tag and no digest means `latest`.
    ///
    /// # Errors
    /// [`RegistryError::Reference`] naming what is wrong.
    pub fn parse(text: &str) -> Result<Self, RegistryError> {
        let error = |reason: &str| RegistryError::Reference {
            reference: text.to_owned(),
            reason: reason.to_owned(),
        };
        if text.is_empty() {
            return Err(error("empty"));
        }
        if text.len() > 4096 || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(error("contains whitespace or is too long"));
        }
        let (name_and_tag, digest) = match text.split_once('@') {
            Some((name, digest)) => (name, Some(Digest::parse(digest)?)),
            None => (text, None),
        };
        // The tag follows the first `:` of the last path component.
        let last = name_and_tag.rsplit('/').next().unwrap_or(name_and_tag);
        let (name, tag) = match last.split_once(':') {
            Some((_, tag)) => {
                let name = name_and_tag
                    .strip_suffix(tag)
                    .and_then(|rest| rest.strip_suffix(':'))
                    .unwrap_or(name_and_tag);
                (name, Some(tag))
            }
            None => (name_and_tag, None),
        };
        if let Some(tag) = tag {
            let valid = !tag.is_empty()
                && tag.len() <= 128
                && !tag.starts_with(['.', '-'])
                && tag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
            if !valid {
                return Err(error(
                    "the tag must be 1-128 of [A-Za-z0-9_.-], not starting with . or -",
                ));
            }
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_owned(), rest.to_owned())
            }
            _ if name.contains('/') => (DOCKER_HUB.to_owned(), name.to_owned()),
            _ => (DOCKER_HUB.to_owned(), format!("library/{name}")),
        };
        let registry = if registry == "index.docker.io" {
            DOCKER_HUB.to_owned()
        } else {
            registry
        };
        if !registry
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
        {
            return Err(error(
                "the registry host has characters a host name cannot have",
            ));
        }
        for component in repository.split('/') {
            let valid = !component.is_empty()
                && component
                    .bytes()
                    .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'))
                && component.starts_with(|c: char| c.is_ascii_alphanumeric())
                && component.ends_with(|c: char| c.is_ascii_alphanumeric());
            if !valid {
                return Err(error(
                    "repository path components are lowercase letters, digits and . _ - separators",
                ));
            }
        }
        let tag = match (tag, digest) {
            (None, None) => Some("latest".to_owned()),
            (tag, _) => tag.map(str::to_owned),
        };
        Ok(Self {
            written: text.to_owned(),
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The reference exactly as written.
    pub fn written(&self) -> &str {
        &self.written
    }

    /// The registry as named in references (`docker.io` for Docker Hub).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The host to send API requests to (`registry-1.docker.io` for Docker Hub).
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// The repository path (`library/nginx`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if the reference has one (or `latest` when it has neither tag nor digest).
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if the reference pins one.
    pub fn digest(&self) -> Option<Digest> {
        self.digest
    }

    /// The written reference pinned to `digest`: the written name and tag stay for readers,
    /// the digest decides what runs (`nginx:1.27@sha256:…`).
    pub fn pinned_as_written(&self, digest: Digest) -> String {
        let name_and_tag = self
            .written
            .split_once('@')
            .map_or(self.written.as_str(), |(name, _)| name);
        format!("{name_and_tag}@{digest}")
    }

    /// The fully qualified reference pinned to `digest`: `docker.io/library/nginx@sha256:…`.
    pub fn canonical_pinned(&self, digest: Digest) -> String {
        format!("{}/{}@{digest}", self.registry, self.repository)
    }
}

impl fmt::Display for ImageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    #[test]
    fn docker_hub_names_are_normalised() {
        let nginx = ImageReference::parse("nginx").unwrap();
        assert_eq!(nginx.registry(), "docker.io");
        assert_eq!(nginx.api_host(), "registry-1.docker.io");
        assert_eq!(nginx.repository(), "library/nginx");
        assert_eq!(nginx.tag(), Some("latest"));
        let user = ImageReference::parse("istio/examples-bookinfo-details-v1:1.20.1").unwrap();
        assert_eq!(user.repository(), "istio/examples-bookinfo-details-v1");
        assert_eq!(user.tag(), Some("1.20.1"));
        let index = ImageReference::parse("index.docker.io/library/redis:7").unwrap();
        assert_eq!(index.registry(), "docker.io");
    }

    #[test]
    fn registries_with_ports_and_digests() {
        let text = format!("localhost:5000/team/app:v1@sha256:{HEX}");
        let reference = ImageReference::parse(&text).unwrap();
        assert_eq!(reference.registry(), "localhost:5000");
        assert_eq!(reference.api_host(), "localhost:5000");
        assert_eq!(reference.repository(), "team/app");
        assert_eq!(reference.tag(), Some("v1"));
        assert_eq!(reference.digest().unwrap().hex(), HEX);
        let digest = Digest::of(b"other");
        assert_eq!(
            reference.pinned_as_written(digest),
            format!("localhost:5000/team/app:v1@{digest}")
        );
        assert_eq!(
            reference.canonical_pinned(digest),
            format!("localhost:5000/team/app@{digest}")
        );
        let untagged = ImageReference::parse(&format!("busybox@sha256:{HEX}")).unwrap();
        assert_eq!(untagged.tag(), None);
    }

    #[test]
    fn malformed_references_are_refused_with_a_reason() {
        for bad in [
            "",
            "Nginx",
            "nginx:",
            "nginx:-x",
            "nginx:a b",
            "nginx@sha256:abc",
            "registry.example.com//app",
            "registry.example.com/app_/x",
            "bad host!/app",
        ] {
            let result = ImageReference::parse(bad);
            assert!(result.is_err(), "{bad:?} was accepted");
        }
    }
}
