//! The client against a real registry (Debian's `docker-registry`) on loopback, with images the
//! tests push: plain HTTP, HTTPS with a test CA, bearer tokens, multi-platform indexes,
//! mirrors, the cache, and content the registry serves altered.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chiaro_registry::{
    BlobCache, ClientOptions, DockerConfig, HttpError, RegistryClient, RegistryError, TrustRoots,
};
use chiaro_test_support::oci_registry::{Access, OciRegistry};
use serde_json::json;

fn config(arch: &str, cmd: &[&str]) -> serde_json::Value {
    json!({
        "os": "linux",
        "architecture": arch,
        "config": {
            "Entrypoint": ["/entry"],
            "Cmd": cmd,
            "Env": ["PATH=/usr/bin", "MODE=test"],
            "WorkingDir": "/srv",
            "User": "1000:1000",
            "Volumes": {"/data": {}}
        }
    })
}

fn insecure(registry: &OciRegistry) -> ClientOptions {
    ClientOptions {
        insecure: BTreeSet::from([registry.host.clone()]),
        ..ClientOptions::default()
    }
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("chiaro-registry-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[tokio::test]
async fn needs_registry_tags_resolve_to_the_pushed_digest_and_configuration() {
    let registry = OciRegistry::start(&Access::Open);
    let digest = registry.push_image("team/app", "v1", &config("amd64", &["serve"]));
    let client = RegistryClient::new(insecure(&registry)).unwrap();
    let image = format!("{}/team/app:v1", registry.host);
    let resolved = client.resolve(&image).await.unwrap();
    assert_eq!(resolved.digest.to_string(), digest);
    assert_eq!(resolved.pinned, format!("{image}@{digest}"));
    assert_eq!(
        resolved.config.reference,
        format!("{}/team/app@{digest}", registry.host)
    );
    assert_eq!(resolved.config.entrypoint, ["/entry"]);
    assert_eq!(resolved.config.cmd, ["serve"]);
    assert_eq!(resolved.config.env, ["PATH=/usr/bin", "MODE=test"]);
    assert_eq!(resolved.config.working_dir, "/srv");
    assert_eq!(resolved.config.user, "1000:1000");
    assert_eq!(resolved.config.volumes, ["/data"]);

    let again = client.resolve(&resolved.pinned).await.unwrap();
    assert_eq!(
        again.pinned, resolved.pinned,
        "a pinned reference stays as it is"
    );

    let missing = client
        .resolve(&format!("{}/team/app:v2", registry.host))
        .await
        .unwrap_err();
    assert!(
        matches!(missing, RegistryError::Status { status: 404, .. }),
        "{missing}"
    );
}

#[tokio::test]
async fn needs_registry_indexes_pin_the_index_and_read_the_amd64_configuration() {
    let registry = OciRegistry::start(&Access::Open);
    let amd64 = registry.push_image("multi/app", "amd64", &config("amd64", &["x86"]));
    let arm64 = registry.push_image("multi/app", "arm64", &config("arm64", &["arm"]));
    let index = registry.push_index(
        "multi/app",
        "v1",
        &[("linux", "arm64", &arm64), ("linux", "amd64", &amd64)],
    );
    registry.push_index("multi/app", "arm-only", &[("linux", "arm64", &arm64)]);
    let client = RegistryClient::new(insecure(&registry)).unwrap();
    let resolved = client
        .resolve(&format!("{}/multi/app:v1", registry.host))
        .await
        .unwrap();
    assert_eq!(resolved.digest.to_string(), index);
    assert_eq!(resolved.config.cmd, ["x86"]);
    let error = client
        .resolve(&format!("{}/multi/app:arm-only", registry.host))
        .await
        .unwrap_err();
    assert!(matches!(error, RegistryError::NoPlatform { .. }), "{error}");
    let error = client
        .resolve(&format!("{}/multi/app:arm64", registry.host))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("built for linux/arm64"),
        "{error}"
    );
}

#[tokio::test]
async fn needs_registry_content_the_registry_alters_is_refused() {
    let registry = OciRegistry::start(&Access::Open);
    let image_config = config("amd64", &["serve"]);
    registry.push_image("evil/app", "v1", &image_config);
    let config_digest = registry.push_blob("evil/app", &serde_json::to_vec(&image_config).unwrap());
    let data = registry.blob_path(&config_digest);
    let mut bytes = std::fs::read(&data).unwrap();
    let serve = bytes.windows(5).position(|w| w == b"serve").unwrap();
    bytes[serve] = b'S';
    std::fs::write(&data, bytes).unwrap();
    let client = RegistryClient::new(insecure(&registry)).unwrap();
    let error = client
        .resolve(&format!("{}/evil/app:v1", registry.host))
        .await
        .unwrap_err();
    match error {
        RegistryError::DigestMismatch { what, expected, .. } => {
            assert_eq!(what, "image configuration");
            assert_eq!(expected, config_digest);
        }
        other => panic!("expected a digest mismatch, got {other}"),
    }
}

#[tokio::test]
async fn needs_registry_a_manifest_that_is_not_the_one_the_registry_names_is_refused() {
    let registry = OciRegistry::start(&Access::Open);
    let manifest_digest = registry.push_image("evil/app", "v2", &config("amd64", &["serve"]));
    // The registry names the manifest by the digest it stored (Docker-Content-Digest) and
    // serves the bytes on its disk, which someone changed: the announced digest no longer
    // matches what arrives.
    let data = registry.blob_path(&manifest_digest);
    let text = std::fs::read_to_string(&data).unwrap();
    let altered = text.replacen("\"layers\":[]", "\"layers\": []", 1);
    assert_ne!(altered, text, "the stored manifest is the one pushed");
    std::fs::write(&data, altered).unwrap();
    let client = RegistryClient::new(insecure(&registry)).unwrap();
    let error = client
        .resolve(&format!("{}/evil/app:v2", registry.host))
        .await
        .unwrap_err();
    match error {
        RegistryError::DigestMismatch { what, expected, .. } => {
            assert_eq!(what, "manifest");
            assert_eq!(expected, manifest_digest);
        }
        other => panic!("expected a digest mismatch, got {other}"),
    }
}

#[tokio::test]
async fn needs_registry_bearer_tokens_come_from_the_token_service_with_config_json_credentials() {
    let open = OciRegistry::start(&Access::Open);
    let digest = open.push_image("private/app", "v1", &config("amd64", &["serve"]));
    let protected = open.sharing_storage(&Access::Token {
        username: "alice".to_owned(),
        password: "s3cret".to_owned(),
    });
    let image = format!("{}/private/app:v1", protected.host);
    let with = |user: &str, password: &str| {
        let text =
            json!({"auths": {protected.host.clone(): {"username": user, "password": password}}})
                .to_string();
        ClientOptions {
            docker_config: DockerConfig::parse("config.json", &text).unwrap(),
            insecure: BTreeSet::from([
                protected.host.clone(),
                protected.token_service.clone().unwrap(),
            ]),
            ..ClientOptions::default()
        }
    };

    let client = RegistryClient::new(with("alice", "s3cret")).unwrap();
    let resolved = client.resolve(&image).await.unwrap();
    assert_eq!(resolved.digest.to_string(), digest);
    let tokens = protected
        .token_requests
        .load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(tokens, 1, "one token for the repository");
    client.resolve(&image).await.unwrap();
    assert_eq!(
        protected
            .token_requests
            .load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the token is reused"
    );

    let wrong = RegistryClient::new(with("alice", "guess")).unwrap();
    let error = wrong.resolve(&image).await.unwrap_err();
    assert!(matches!(error, RegistryError::Auth { .. }), "{error}");
    assert!(error.to_string().contains("401"), "{error}");

    let anonymous = RegistryClient::new(ClientOptions {
        docker_config: DockerConfig::default(),
        ..with("", "")
    })
    .unwrap();
    let error = anonymous.resolve(&image).await.unwrap_err();
    assert!(matches!(error, RegistryError::Auth { .. }), "{error}");
}

#[tokio::test]
async fn needs_registry_https_registries_must_chain_to_the_trusted_roots() {
    let registry = OciRegistry::start(&Access::Tls);
    let open = OciRegistry::start(&Access::Open);
    let _ = open;
    let tls = registry.ca.clone().unwrap();
    let pusher = registry.sharing_storage(&Access::Open);
    let digest = pusher.push_image("tls/app", "v1", &config("amd64", &["serve"]));
    let image = format!("{}/tls/app:v1", registry.host);

    let mut roots = rustls::RootCertStore::empty();
    roots.add(tls.into()).unwrap();
    let trusting = RegistryClient::new(ClientOptions {
        roots: TrustRoots::Custom(roots),
        ..ClientOptions::default()
    })
    .unwrap();
    assert_eq!(
        trusting.resolve(&image).await.unwrap().digest.to_string(),
        digest
    );

    let system = RegistryClient::new(ClientOptions::default()).unwrap();
    let error = system.resolve(&image).await.unwrap_err();
    assert!(
        matches!(
            &error,
            RegistryError::Unreachable {
                source: HttpError::Tls { .. },
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(error.unreachable_host(), Some(registry.host.as_str()));
}

#[tokio::test]
async fn needs_registry_digest_pinned_images_resolve_from_the_cache_when_the_registry_is_gone() {
    let registry = OciRegistry::start(&Access::Open);
    registry.push_image("cached/app", "v1", &config("amd64", &["serve"]));
    let cache_dir = scratch("cache");
    let options = ClientOptions {
        cache: Some(BlobCache::new(&cache_dir)),
        ..insecure(&registry)
    };
    let tagged = format!("{}/cached/app:v1", registry.host);
    let first = RegistryClient::new(options.clone())
        .unwrap()
        .resolve(&tagged)
        .await
        .unwrap();
    drop(registry);

    let offline = RegistryClient::new(options).unwrap();
    let again = offline.resolve(&first.pinned).await.unwrap();
    assert_eq!((again.digest, &again.config), (first.digest, &first.config));
    let error = offline.resolve(&tagged).await.unwrap_err();
    assert!(
        matches!(error, RegistryError::Unreachable { .. }),
        "tags are not cached: {error}"
    );
    std::fs::remove_dir_all(cache_dir).unwrap();
}

#[tokio::test]
async fn needs_registry_offline_resolves_only_pinned_images_in_the_cache() {
    let registry = OciRegistry::start(&Access::Open);
    registry.push_image("cached/app", "v1", &config("amd64", &["serve"]));
    let other = registry.push_image("other/app", "v1", &config("amd64", &["other"]));
    let cache_dir = scratch("offline");
    let options = ClientOptions {
        cache: Some(BlobCache::new(&cache_dir)),
        ..insecure(&registry)
    };
    let tagged = format!("{}/cached/app:v1", registry.host);
    let first = RegistryClient::new(options.clone())
        .unwrap()
        .resolve(&tagged)
        .await
        .unwrap();

    let offline = RegistryClient::new(ClientOptions {
        offline: true,
        ..options
    })
    .unwrap();
    let again = offline.resolve(&first.pinned).await.unwrap();
    assert_eq!(
        again.config, first.config,
        "pinned and cached: no registry asked"
    );
    let error = offline.resolve(&tagged).await.unwrap_err().to_string();
    assert_eq!(
        error,
        format!(
            "{tagged}: not pinned by digest (only a registry says which digest a tag names), and --offline asks no registry"
        )
    );
    let uncached = format!("{}/other/app@{other}", registry.host);
    let error = offline.resolve(&uncached).await.unwrap_err().to_string();
    assert_eq!(
        error,
        format!(
            "{uncached}: its manifest or configuration is not in the cache, and --offline asks no registry"
        ),
        "the registry is up, and still not asked"
    );
    std::fs::remove_dir_all(cache_dir).unwrap();
}

#[tokio::test]
async fn a_registry_refusing_connections_is_a_network_failure_naming_its_host() {
    // Port 1 (tcpmux) has no listener on a test machine: connecting is refused at once.
    let client = RegistryClient::new(ClientOptions {
        insecure: BTreeSet::from(["127.0.0.1:1".to_owned()]),
        ..ClientOptions::default()
    })
    .unwrap();
    let error = client.resolve("127.0.0.1:1/app:v1").await.unwrap_err();
    assert_eq!(error.unreachable_host(), Some("127.0.0.1:1"), "{error}");
    let bad = client.resolve("Bad Reference").await.unwrap_err();
    assert_eq!(
        bad.unreachable_host(),
        None,
        "bad input is not a network failure"
    );
}

#[tokio::test]
async fn needs_registry_mirrors_answer_for_other_registries_and_pins_keep_the_original_name() {
    let registry = OciRegistry::start(&Access::Open);
    let digest = registry.push_image("library/nginx", "1.27", &config("amd64", &["nginx"]));
    let client = Arc::new(
        RegistryClient::new(ClientOptions {
            mirrors: BTreeMap::from([("*".to_owned(), registry.host.clone())]),
            ..insecure(&registry)
        })
        .unwrap(),
    );
    let results = client
        .resolve_all(
            &["nginx:1.27".to_owned(), "nginx:absent".to_owned()],
            Arc::new(()),
        )
        .await;
    let resolved = results[0].as_ref().unwrap();
    assert_eq!(resolved.pinned, format!("nginx:1.27@{digest}"));
    assert_eq!(
        resolved.config.reference,
        format!("docker.io/library/nginx@{digest}")
    );
    assert!(results[1].is_err());
}

/// A manifest pointing at `config` and `layers` (gzip layers, as Chiaro's images have).
fn manifest_of(config: &[u8], layers: &[&[u8]]) -> serde_json::Value {
    let descriptor = |media_type: &str, content: &[u8]| {
        json!({
            "mediaType": media_type,
            "digest": chiaro_registry::Digest::of(content).to_string(),
            "size": content.len(),
        })
    };
    json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptor("application/vnd.oci.image.config.v1+json", config),
        "layers": layers
            .iter()
            .map(|layer| descriptor("application/vnd.oci.image.layer.v1.tar+gzip", layer))
            .collect::<Vec<_>>(),
    })
}

#[tokio::test]
async fn needs_registry_pushed_images_resolve_by_tag_through_open_and_token_registries() {
    let open = OciRegistry::start(&Access::Open);
    let protected = open.sharing_storage(&Access::Token {
        username: "alice".to_owned(),
        password: "s3cret".to_owned(),
    });
    let credentials =
        json!({"auths": {protected.host.clone(): {"username": "alice", "password": "s3cret"}}})
            .to_string();
    let config_json = serde_json::to_vec(&config("amd64", &["serve"])).unwrap();
    let layer = b"\x1f\x8b not really a layer".to_vec();
    let manifest = serde_json::to_vec(&manifest_of(&config_json, &[&layer])).unwrap();
    for (registry, docker_config, repository) in [
        (&open, DockerConfig::default(), "pushed/open"),
        (
            &protected,
            DockerConfig::parse("config.json", &credentials).unwrap(),
            "pushed/tokens",
        ),
    ] {
        let client = RegistryClient::new(ClientOptions {
            docker_config,
            insecure: BTreeSet::from_iter(
                [Some(registry.host.clone()), registry.token_service.clone()]
                    .into_iter()
                    .flatten(),
            ),
            ..ClientOptions::default()
        })
        .unwrap();
        let target = format!("{}/{repository}:v1", registry.host);
        let blobs: [&[u8]; 2] = [&layer, &config_json];
        let media_type = "application/vnd.oci.image.manifest.v1+json";
        let digest = client
            .push_image(&target, &blobs, media_type, &manifest)
            .await
            .unwrap();
        assert_eq!(digest, chiaro_registry::Digest::of(&manifest));
        // Again: the blobs are there (HEAD), the tag is written again, the digest is the same.
        let again = client
            .push_image(&target, &blobs, media_type, &manifest)
            .await
            .unwrap();
        assert_eq!(again, digest);
        let resolved = client.resolve(&target).await.unwrap();
        assert_eq!(resolved.digest, digest);
        assert_eq!(resolved.config.cmd, ["serve"]);
        assert_eq!(
            open.request(
                "GET",
                &format!(
                    "/v2/{repository}/blobs/{}",
                    chiaro_registry::Digest::of(&layer)
                ),
                &[],
                &[]
            )
            .2,
            layer,
            "the layer is stored as pushed"
        );
    }
    assert!(
        protected
            .token_requests
            .load(std::sync::atomic::Ordering::SeqCst)
            >= 1
    );
    let no_tag = RegistryClient::new(insecure(&open))
        .unwrap()
        .push_image(
            &format!("{}/x@{}", open.host, chiaro_registry::Digest::of(b"x")),
            &[],
            "m",
            b"{}",
        )
        .await
        .unwrap_err();
    assert!(
        matches!(no_tag, RegistryError::Reference { .. }),
        "{no_tag}"
    );
}
