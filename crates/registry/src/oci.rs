//! The OCI image documents the client reads: indexes (and Docker manifest lists), image
//! manifests, and image configurations. Pure parsing; digests are checked by the caller.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::{Digest, ImageConfiguration, RegistryError};

/// The media types the client asks for and understands.
pub(crate) const ACCEPTED_MANIFESTS: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// The only platform confidential pods run on (SEV-SNP and TDX hosts are x86-64).
pub(crate) const OS: &str = "linux";
/// See [`OS`].
pub(crate) const ARCHITECTURE: &str = "amd64";

/// A manifest-endpoint document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ManifestDocument {
    /// An index: one manifest per platform.
    Index(Vec<PlatformManifest>),
    /// An image manifest: its configuration blob's digest.
    Image {
        /// The configuration's digest.
        config: Digest,
    },
}

/// One entry of an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlatformManifest {
    pub(crate) digest: Digest,
    pub(crate) os: String,
    pub(crate) architecture: String,
}

#[derive(Deserialize)]
struct RawManifest {
    #[serde(default, rename = "schemaVersion")]
    schema_version: Option<u32>,
    #[serde(default, rename = "mediaType")]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<Vec<RawDescriptor>>,
    #[serde(default)]
    config: Option<RawDescriptor>,
}

#[derive(Deserialize)]
struct RawDescriptor {
    digest: String,
    #[serde(default)]
    platform: Option<RawPlatform>,
}

#[derive(Deserialize)]
struct RawPlatform {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
}

/// Parses what the manifest endpoint returned for `image`.
pub(crate) fn parse_manifest(
    image: &str,
    body: &[u8],
    content_type: Option<&str>,
) -> Result<ManifestDocument, RegistryError> {
    let error = |reason: String| RegistryError::Format {
        image: image.to_owned(),
        what: "manifest".to_owned(),
        reason,
    };
    let raw: RawManifest =
        serde_json::from_slice(body).map_err(|e| error(format!("not JSON: {e}")))?;
    if raw.schema_version != Some(2) {
        return Err(error(format!(
            "schemaVersion {:?}; only schema 2 (OCI and Docker v2) is supported",
            raw.schema_version
        )));
    }
    let media_type = raw
        .media_type
        .as_deref()
        .or(content_type)
        .unwrap_or_default();
    let is_index = media_type.contains("index") || media_type.contains("manifest.list");
    match (is_index, raw.manifests, raw.config) {
        (_, Some(manifests), None) if is_index || media_type.is_empty() => {
            let entries = manifests
                .into_iter()
                .map(|descriptor| {
                    let platform = descriptor.platform.unwrap_or(RawPlatform {
                        os: String::new(),
                        architecture: String::new(),
                    });
                    Ok(PlatformManifest {
                        digest: Digest::parse(&descriptor.digest)?,
                        os: platform.os,
                        architecture: platform.architecture,
                    })
                })
                .collect::<Result<_, RegistryError>>()?;
            Ok(ManifestDocument::Index(entries))
        }
        (false, None, Some(config)) => Ok(ManifestDocument::Image {
            config: Digest::parse(&config.digest)?,
        }),
        _ => Err(error(format!(
            "media type {media_type:?} with neither exactly a config nor a manifest list"
        ))),
    }
}

/// The linux/amd64 entry of an index.
pub(crate) fn select_platform(
    image: &str,
    entries: &[PlatformManifest],
) -> Result<Digest, RegistryError> {
    entries
        .iter()
        .find(|entry| entry.os == OS && entry.architecture == ARCHITECTURE)
        .map(|entry| entry.digest)
        .ok_or_else(|| RegistryError::NoPlatform {
            image: image.to_owned(),
            available: entries
                .iter()
                .map(|entry| format!("{}/{}", entry.os, entry.architecture))
                .collect::<Vec<_>>()
                .join(", "),
        })
}

#[derive(Deserialize)]
struct RawConfigFile {
    #[serde(default)]
    os: Option<String>,
    #[serde(default)]
    architecture: Option<String>,
    #[serde(default)]
    config: Option<RawConfig>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawConfig {
    #[serde(default)]
    entrypoint: Option<Vec<String>>,
    #[serde(default)]
    cmd: Option<Vec<String>>,
    #[serde(default)]
    env: Option<Vec<String>>,
    #[serde(default)]
    working_dir: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    volumes: Option<BTreeMap<String, serde_json::Value>>,
}

/// Parses an image configuration blob into what the policy needs, `reference` being the
/// canonical pinned reference.
pub(crate) fn parse_config(
    image: &str,
    body: &[u8],
    reference: String,
) -> Result<ImageConfiguration, RegistryError> {
    let error = |reason: String| RegistryError::Format {
        image: image.to_owned(),
        what: "image configuration".to_owned(),
        reason,
    };
    let raw: RawConfigFile =
        serde_json::from_slice(body).map_err(|e| error(format!("not JSON: {e}")))?;
    let os = raw.os.unwrap_or_default();
    let architecture = raw.architecture.unwrap_or_default();
    if os != OS || architecture != ARCHITECTURE {
        return Err(error(format!(
            "built for {os}/{architecture}; confidential pods run {OS}/{ARCHITECTURE}"
        )));
    }
    let config = raw.config.unwrap_or(RawConfig {
        entrypoint: None,
        cmd: None,
        env: None,
        working_dir: None,
        user: None,
        volumes: None,
    });
    Ok(ImageConfiguration {
        reference,
        entrypoint: config.entrypoint.unwrap_or_default(),
        cmd: config.cmd.unwrap_or_default(),
        env: config.env.unwrap_or_default(),
        working_dir: config.working_dir.unwrap_or_default(),
        user: config.user.unwrap_or_default(),
        volumes: config.volumes.unwrap_or_default().into_keys().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(n: u8) -> String {
        Digest::of(&[n]).to_string()
    }

    #[test]
    fn indexes_select_linux_amd64_and_skip_attestations() {
        let index = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
              {{"digest":"{}","platform":{{"os":"linux","architecture":"arm64"}}}},
              {{"digest":"{}","platform":{{"os":"unknown","architecture":"unknown"}}}},
              {{"digest":"{}","platform":{{"os":"linux","architecture":"amd64"}}}}]}}"#,
            digest(1),
            digest(2),
            digest(3)
        );
        let ManifestDocument::Index(entries) = parse_manifest("i", index.as_bytes(), None).unwrap()
        else {
            panic!("not an index")
        };
        assert_eq!(
            select_platform("i", &entries).unwrap().to_string(),
            digest(3)
        );
        let error = select_platform("i", &entries[..2]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "i: no linux/amd64 image in its index (has: linux/arm64, unknown/unknown)"
        );
    }

    #[test]
    fn image_manifests_name_their_config_and_media_type_may_come_from_the_header() {
        let manifest = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":2}},"layers":[]}}"#,
            digest(7)
        );
        assert_eq!(
            parse_manifest(
                "i",
                manifest.as_bytes(),
                Some("application/vnd.oci.image.manifest.v1+json")
            )
            .unwrap(),
            ManifestDocument::Image {
                config: Digest::of(&[7])
            }
        );
    }

    #[test]
    fn malformed_manifests_are_refused() {
        for bad in [
            "",
            "[]",
            r#"{"schemaVersion":1,"fsLayers":[]}"#,
            r#"{"schemaVersion":2}"#,
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","config":{"digest":"sha256:00"}}"#,
            r#"{"schemaVersion":2,"manifests":[{"digest":"md5:00"}]}"#,
        ] {
            assert!(parse_manifest("i", bad.as_bytes(), None).is_err(), "{bad}");
        }
    }

    #[test]
    fn configs_give_the_process_and_refuse_other_platforms() {
        let config = br#"{"os":"linux","architecture":"amd64","config":{
            "Entrypoint":["/docker-entrypoint.sh"],"Cmd":["nginx","-g","daemon off;"],
            "Env":["PATH=/usr/bin"],"WorkingDir":"/srv","User":"101:101",
            "Volumes":{"/var/cache/nginx":{}}}}"#;
        let parsed = parse_config("i", config, "r@sha256:x".to_owned()).unwrap();
        assert_eq!(parsed.entrypoint, ["/docker-entrypoint.sh"]);
        assert_eq!(parsed.cmd, ["nginx", "-g", "daemon off;"]);
        assert_eq!(parsed.env, ["PATH=/usr/bin"]);
        assert_eq!(parsed.working_dir, "/srv");
        assert_eq!(parsed.user, "101:101");
        assert_eq!(parsed.volumes, ["/var/cache/nginx"]);
        assert_eq!(parsed.reference, "r@sha256:x");
        let arm = br#"{"os":"linux","architecture":"arm64","config":{}}"#;
        assert!(parse_config("i", arm, String::new()).is_err());
        assert!(parse_config("i", b"{\"os\":", String::new()).is_err());
        let empty = br#"{"os":"linux","architecture":"amd64"}"#;
        assert_eq!(
            parse_config("i", empty, String::new()).unwrap().cmd,
            Vec::<String>::new()
        );
    }
}
