//! The client: resolves image references to digests and reads their configurations.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use rustls::RootCertStore;
use serde::Deserialize;
use tokio::io::AsyncWriteExt as _;

use crate::auth::{Challenge, CredentialSource, Credentials, DockerConfig, HelperAnswer};
use crate::http::{Http, Method, Response, query_value};
use crate::oci::{self, ACCEPTED_MANIFESTS, ManifestDocument};
use crate::{BlobCache, Digest, ImageConfiguration, ImageReference, RegistryError};

/// The largest manifest or index accepted.
const MAX_MANIFEST: usize = 4 << 20;
/// The largest image configuration accepted.
const MAX_CONFIG: usize = 16 << 20;
/// The largest token response accepted.
const MAX_TOKEN: usize = 1 << 20;
/// Registries asked at the same time.
const CONCURRENCY: usize = 8;

/// Which certificate authorities HTTPS registries must chain to.
#[derive(Debug, Clone, Default)]
pub enum TrustRoots {
    /// The operating system's roots.
    #[default]
    System,
    /// Exactly these (a private registry's CA, a test CA).
    Custom(RootCertStore),
}

/// How the client reaches registries.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// Registry hosts (`host:port` as in references) spoken to over plain HTTP.
    pub insecure: BTreeSet<String>,
    /// Registries (as named in references, or `*` for all) answered by another host, as
    /// containerd's mirror setting: `docker.io` → `mirror.internal:5000`. The repository path
    /// and the digests stay; pinned references keep the original registry name.
    pub mirrors: BTreeMap<String, String>,
    /// Credentials from Docker's `config.json`.
    pub docker_config: DockerConfig,
    /// Where manifests and configurations are cached; `None` for no cache.
    pub cache: Option<BlobCache>,
    /// The TLS roots.
    pub roots: TrustRoots,
    /// Ask no registry: resolve only images pinned by digest whose manifests and
    /// configuration are in the cache.
    pub offline: bool,
}

/// An image resolved against its registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedImage {
    /// The reference as written in the pod spec.
    pub written: String,
    /// The written reference pinned by digest, to write back into the pod spec.
    pub pinned: String,
    /// The digest the reference now names (an index's digest for multi-platform images).
    pub digest: Digest,
    /// The linux/amd64 image's configuration.
    pub config: ImageConfiguration,
}

/// Told as images resolve, so a terminal can show progress.
pub trait Progress: Send + Sync {
    /// `image` is done (resolved or failed); `done` of `total` are.
    fn finished(&self, image: &str, done: usize, total: usize);
}

impl Progress for () {
    fn finished(&self, _image: &str, _done: usize, _total: usize) {}
}

/// An OCI distribution API client.
#[derive(Debug)]
pub struct RegistryClient {
    pub(crate) http: Http,
    mirrors: BTreeMap<String, String>,
    docker_config: DockerConfig,
    cache: Option<BlobCache>,
    offline: bool,
    /// Bearer tokens by `(host, repository)`.
    tokens: Mutex<HashMap<(String, String), String>>,
    /// Credentials by host, once looked up (helpers run once).
    credentials: Mutex<HashMap<String, Option<Credentials>>>,
}

/// What a request to a registry's API needs access to: the actions a bearer token is asked
/// for when the challenge names no scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Reading (resolving, pulling).
    Pull,
    /// Writing (pushing), which also reads (the existence checks).
    Push,
}

impl Access {
    /// The scope's actions.
    pub(crate) const fn actions(self) -> &'static str {
        match self {
            Self::Pull => "pull",
            Self::Push => "pull,push",
        }
    }
}

/// One request to a registry's API.
#[derive(Debug)]
pub(crate) struct ApiRequest<'a> {
    pub(crate) method: Method,
    /// The whole URL.
    pub(crate) url: String,
    pub(crate) headers: Vec<(&'a str, String)>,
    pub(crate) body: Vec<u8>,
    pub(crate) access: Access,
}

impl RegistryClient {
    /// A client with `options`.
    ///
    /// # Errors
    /// [`RegistryError::Roots`] when the system has no usable root certificates.
    pub fn new(options: ClientOptions) -> Result<Self, RegistryError> {
        let roots = match options.roots {
            TrustRoots::Custom(roots) => roots,
            TrustRoots::System => chiaro_https::system_roots(),
        };
        Ok(Self {
            http: Http::new(roots, options.insecure)?,
            mirrors: options.mirrors,
            docker_config: options.docker_config,
            cache: options.cache,
            offline: options.offline,
            tokens: Mutex::new(HashMap::new()),
            credentials: Mutex::new(HashMap::new()),
        })
    }

    /// Resolves every image in `images` (at most eight at a time), telling
    /// `progress` as each finishes. The results come in the order of `images`.
    pub async fn resolve_all(
        self: &Arc<Self>,
        images: &[String],
        progress: Arc<dyn Progress>,
    ) -> Vec<Result<ResolvedImage, RegistryError>> {
        let total = images.len();
        let permits = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
        let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for (index, image) in images.iter().enumerate() {
            let client = Arc::clone(self);
            let permits = Arc::clone(&permits);
            let done = Arc::clone(&done);
            let progress = Arc::clone(&progress);
            let image = image.clone();
            tasks.spawn(async move {
                let _permit = permits.acquire_owned().await;
                let result = client.resolve(&image).await;
                // The new count; `fetch_add` wraps, and so does this (it is at most `total`).
                let finished = done
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                    .wrapping_add(1);
                progress.finished(&image, finished, total);
                (index, result)
            });
        }
        let mut results: Vec<Option<Result<ResolvedImage, RegistryError>>> =
            (0..total).map(|_| None).collect();
        while let Some(joined) = tasks.join_next().await {
            if let Ok((index, result)) = joined
                && let Some(slot) = results.get_mut(index)
            {
                *slot = Some(result);
            }
        }
        results
            .into_iter()
            .zip(images)
            .map(|(result, image)| {
                result.unwrap_or_else(|| {
                    Err(RegistryError::TaskFailed {
                        image: image.clone(),
                    })
                })
            })
            .collect()
    }

    /// Resolves `image`: its digest (unless it pins one already) and its linux/amd64
    /// configuration. Everything read is checked against the digest that names it;
    /// digest-named content comes from the cache when it is there.
    ///
    /// # Errors
    /// [`RegistryError`] naming the image and what failed.
    pub async fn resolve(&self, image: &str) -> Result<ResolvedImage, RegistryError> {
        let reference = ImageReference::parse(image)?;
        let (digest, top) = match (reference.digest(), reference.tag()) {
            (Some(digest), _) => (digest, self.manifest_by_digest(&reference, digest).await?),
            (None, Some(_)) if self.offline => {
                return Err(RegistryError::Offline {
                    image: image.to_owned(),
                    reason: "not pinned by digest (only a registry says which digest a tag names)",
                });
            }
            (None, Some(tag)) => self.manifest_by_tag(&reference, tag).await?,
            (None, None) => {
                return Err(RegistryError::Reference {
                    reference: image.to_owned(),
                    reason: "neither a tag nor a digest".to_owned(),
                });
            }
        };
        let config_digest = match top {
            ManifestDocument::Image { config } => config,
            ManifestDocument::Index(entries) => {
                let platform = oci::select_platform(image, &entries)?;
                match self.manifest_by_digest(&reference, platform).await? {
                    ManifestDocument::Image { config } => config,
                    ManifestDocument::Index(_) => {
                        return Err(RegistryError::Format {
                            image: image.to_owned(),
                            what: "index".to_owned(),
                            reason: "its linux/amd64 entry is another index".to_owned(),
                        });
                    }
                }
            }
        };
        let config_body = self
            .blob(&reference, config_digest, "image configuration")
            .await?;
        let config = oci::parse_config(image, &config_body, reference.canonical_pinned(digest))?;
        Ok(ResolvedImage {
            written: image.to_owned(),
            pinned: reference.pinned_as_written(digest),
            digest,
            config,
        })
    }

    async fn manifest_by_tag(
        &self,
        reference: &ImageReference,
        tag: &str,
    ) -> Result<(Digest, ManifestDocument), RegistryError> {
        let response = self
            .get(
                reference,
                &format!("manifests/{tag}"),
                Some(ACCEPTED_MANIFESTS),
                MAX_MANIFEST,
            )
            .await?;
        let digest = Digest::of(&response.body);
        if let Some(announced) = response.header("docker-content-digest")
            && announced.starts_with("sha256:")
            && Digest::parse(announced)? != digest
        {
            return Err(RegistryError::DigestMismatch {
                image: reference.written().to_owned(),
                what: "manifest".to_owned(),
                expected: announced.to_owned(),
                actual: digest.to_string(),
            });
        }
        Ok((digest, self.keep_manifest(reference, &response)?))
    }

    /// Parses a manifest the registry sent (its digest already checked) and caches it.
    fn keep_manifest(
        &self,
        reference: &ImageReference,
        response: &Response,
    ) -> Result<ManifestDocument, RegistryError> {
        let document = oci::parse_manifest(
            reference.written(),
            &response.body,
            response.header("content-type"),
        )?;
        if let Some(cache) = &self.cache {
            cache.put(&response.body)?;
        }
        Ok(document)
    }

    async fn manifest_by_digest(
        &self,
        reference: &ImageReference,
        digest: Digest,
    ) -> Result<ManifestDocument, RegistryError> {
        if let Some(body) = self.cache.as_ref().and_then(|cache| cache.get(digest)) {
            return oci::parse_manifest(reference.written(), &body, None);
        }
        let response = self
            .get(
                reference,
                &format!("manifests/{digest}"),
                Some(ACCEPTED_MANIFESTS),
                MAX_MANIFEST,
            )
            .await?;
        check(reference, "manifest", digest, &response.body)?;
        self.keep_manifest(reference, &response)
    }

    async fn blob(
        &self,
        reference: &ImageReference,
        digest: Digest,
        what: &str,
    ) -> Result<Vec<u8>, RegistryError> {
        if let Some(body) = self.cache.as_ref().and_then(|cache| cache.get(digest)) {
            return Ok(body);
        }
        let response = self
            .get(reference, &format!("blobs/{digest}"), None, MAX_CONFIG)
            .await?;
        check(reference, what, digest, &response.body)?;
        if let Some(cache) = &self.cache {
            cache.put(&response.body)?;
        }
        Ok(response.body)
    }

    /// The host API requests for `reference` go to, after mirroring.
    fn host_for(&self, reference: &ImageReference) -> String {
        self.mirrors
            .get(reference.registry())
            .or_else(|| self.mirrors.get("*"))
            .cloned()
            .unwrap_or_else(|| reference.api_host().to_owned())
    }

    /// GETs `/v2/<repository>/<suffix>`, answering an authentication challenge once.
    async fn get(
        &self,
        reference: &ImageReference,
        suffix: &str,
        accept: Option<&str>,
        limit: usize,
    ) -> Result<Response, RegistryError> {
        if self.offline {
            return Err(RegistryError::Offline {
                image: reference.written().to_owned(),
                reason: "its manifest or configuration is not in the cache",
            });
        }
        let host = self.host_for(reference);
        let url = format!(
            "{}/v2/{}/{suffix}",
            self.http.base_url(&host),
            reference.repository()
        );
        let headers: Vec<(&str, String)> = accept
            .map(|accept| ("accept", accept.to_owned()))
            .into_iter()
            .collect();
        let request = ApiRequest {
            method: Method::Get,
            url: url.clone(),
            headers,
            body: Vec::new(),
            access: Access::Pull,
        };
        let response = self.authorized(&host, reference, request, limit).await?;
        if !response.is_success() {
            return Err(RegistryError::Status {
                url,
                status: response.status,
                body: response.body_excerpt(),
            });
        }
        Ok(response)
    }

    /// Sends `request` to `host`'s API for `reference`'s repository, answering an
    /// authentication challenge once (a token for `request.access`). Returns the response
    /// whatever its status but 401 and 403.
    pub(crate) async fn authorized(
        &self,
        host: &str,
        reference: &ImageReference,
        request: ApiRequest<'_>,
        limit: usize,
    ) -> Result<Response, RegistryError> {
        let repository = reference.repository();
        let key = (host.to_owned(), repository.to_owned());
        // Upload locations on another host (a storage service) get no credentials.
        let own_host = request.url.starts_with(&self.http.base_url(host))
            && request
                .url
                .get(self.http.base_url(host).len()..)
                .is_some_and(|rest| rest.starts_with('/'));
        let cached_token = self.tokens.lock().ok().and_then(|t| t.get(&key).cloned());
        let mut authorization = cached_token
            .filter(|_| own_host)
            .map(|token| format!("Bearer {token}"));
        for attempt in 0..2 {
            let mut headers = request.headers.clone();
            if let Some(value) = &authorization {
                headers.push(("authorization", value.clone()));
            }
            let response = self
                .http
                .send(
                    request.method,
                    &request.url,
                    &headers,
                    request.body.clone(),
                    limit,
                )
                .await?;
            if response.status == 401 && attempt == 0 && own_host {
                let challenge = response
                    .header("www-authenticate")
                    .and_then(Challenge::parse)
                    .ok_or_else(|| RegistryError::Auth {
                        host: host.to_owned(),
                        reason: "401 without a Bearer or Basic challenge".to_owned(),
                    })?;
                authorization = Some(
                    self.answer(host, repository, challenge, request.access)
                        .await?,
                );
                continue;
            }
            if response.status == 401 || response.status == 403 {
                return Err(RegistryError::Auth {
                    host: host.to_owned(),
                    reason: format!(
                        "{} access to {repository} refused ({}): {}",
                        request.access.actions(),
                        response.status,
                        response.body_excerpt()
                    ),
                });
            }
            return Ok(response);
        }
        Err(RegistryError::Auth {
            host: host.to_owned(),
            reason: format!("access to {repository} refused after authenticating"),
        })
    }

    /// Answers a challenge: the `Authorization` value to retry with.
    async fn answer(
        &self,
        host: &str,
        repository: &str,
        challenge: Challenge,
        access: Access,
    ) -> Result<String, RegistryError> {
        let credentials = self.credentials_for(host).await?;
        match challenge {
            Challenge::Basic => credentials
                .map(|credentials| credentials.basic_header())
                .ok_or_else(|| RegistryError::Auth {
                    host: host.to_owned(),
                    reason: "asks for a password and ~/.docker/config.json has none for it"
                        .to_owned(),
                }),
            Challenge::Bearer {
                realm,
                service,
                scope,
            } => {
                let scope = scope
                    .unwrap_or_else(|| format!("repository:{repository}:{}", access.actions()));
                let mut url = format!("{realm}?scope={}", query_value(&scope));
                if let Some(service) = service {
                    url.push_str(&format!("&service={}", query_value(&service)));
                }
                let headers: Vec<(&str, String)> = credentials
                    .iter()
                    .map(|credentials| ("authorization", credentials.basic_header()))
                    .collect();
                let response = self.http.get(&url, &headers, MAX_TOKEN).await?;
                if !(200..300).contains(&response.status) {
                    return Err(RegistryError::Auth {
                        host: host.to_owned(),
                        reason: format!(
                            "the token service {realm} answered {}: {}",
                            response.status,
                            response.body_excerpt()
                        ),
                    });
                }
                #[derive(Deserialize)]
                struct TokenAnswer {
                    #[serde(default)]
                    token: Option<String>,
                    #[serde(default)]
                    access_token: Option<String>,
                }
                let answer: TokenAnswer =
                    serde_json::from_slice(&response.body).map_err(|e| RegistryError::Auth {
                        host: host.to_owned(),
                        reason: format!("the token service {realm} sent no token JSON: {e}"),
                    })?;
                let token = answer
                    .token
                    .or(answer.access_token)
                    .filter(|token| !token.is_empty())
                    .ok_or_else(|| RegistryError::Auth {
                        host: host.to_owned(),
                        reason: format!("the token service {realm} sent an empty token"),
                    })?;
                if let Ok(mut tokens) = self.tokens.lock() {
                    tokens.insert((host.to_owned(), repository.to_owned()), token.clone());
                }
                Ok(format!("Bearer {token}"))
            }
        }
    }

    /// The credentials for `host`, from `config.json` or its credential helper.
    async fn credentials_for(&self, host: &str) -> Result<Option<Credentials>, RegistryError> {
        if let Some(known) = self
            .credentials
            .lock()
            .ok()
            .and_then(|c| c.get(host).cloned())
        {
            return Ok(known);
        }
        let registry = if host == "registry-1.docker.io" {
            "docker.io"
        } else {
            host
        };
        let credentials = match self.docker_config.source_for(registry) {
            CredentialSource::Anonymous => None,
            CredentialSource::Inline(credentials) => Some(credentials),
            CredentialSource::Helper(helper) => run_helper(&helper, registry).await?,
        };
        if let Ok(mut known) = self.credentials.lock() {
            known.insert(host.to_owned(), credentials.clone());
        }
        Ok(credentials)
    }
}

/// Checks fetched content against the digest that named it.
fn check(
    reference: &ImageReference,
    what: &str,
    expected: Digest,
    body: &[u8],
) -> Result<(), RegistryError> {
    let actual = Digest::of(body);
    if actual == expected {
        Ok(())
    } else {
        Err(RegistryError::DigestMismatch {
            image: reference.written().to_owned(),
            what: what.to_owned(),
            expected: expected.to_string(),
            actual: actual.to_string(),
        })
    }
}

/// Runs `docker-credential-<helper> get` for `registry`; `None` when it has no entry.
async fn run_helper(helper: &str, registry: &str) -> Result<Option<Credentials>, RegistryError> {
    let program = format!("docker-credential-{helper}");
    let error = |reason: String| RegistryError::Credentials {
        path: program.clone(),
        reason,
    };
    let mut child = tokio::process::Command::new(&program)
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| error(format!("cannot run it: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(registry.as_bytes())
            .await
            .map_err(|e| error(e.to_string()))?;
    }
    let output = child
        .wait_with_output()
        .await
        .map_err(|e| error(e.to_string()))?;
    if !output.status.success() {
        let message = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        if message.contains("credentials not found") {
            return Ok(None);
        }
        return Err(error(format!("get {registry}: {}", message.trim())));
    }
    let answer: HelperAnswer = serde_json::from_slice(&output.stdout)
        .map_err(|e| error(format!("get {registry}: not the helper JSON: {e}")))?;
    Ok(Some(Credentials {
        username: answer.username,
        password: answer.secret,
    }))
}
