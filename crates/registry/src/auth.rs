//! Registry authentication: `WWW-Authenticate` challenges and Docker's `config.json`.
//!
//! Pure: the client reads the file and runs credential helpers; this module parses.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use crate::RegistryError;

/// A challenge from a `401 Unauthorized` response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Bearer realm=…,service=…,scope=…`: get a token from `realm`.
    Bearer {
        /// The token endpoint.
        realm: String,
        /// The `service` parameter to send, if given.
        service: Option<String>,
        /// The `scope` parameter to send, if given.
        scope: Option<String>,
    },
    /// `Basic realm=…`: send the credentials with every request.
    Basic,
}

impl Challenge {
    /// Parses a `WWW-Authenticate` header value; `None` for schemes other than Bearer and Basic
    /// or a Bearer challenge without a realm.
    pub fn parse(header: &str) -> Option<Self> {
        let (scheme, parameters) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return Some(Self::Basic);
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let parameters = auth_parameters(parameters);
        Some(Self::Bearer {
            realm: parameters.get("realm")?.clone(),
            service: parameters.get("service").cloned(),
            scope: parameters.get("scope").cloned(),
        })
    }
}

/// `key="value", key2=value2` (RFC 7235 auth-params, quoted strings with `\` escapes).
fn auth_parameters(text: &str) -> BTreeMap<String, String> {
    let mut parameters = BTreeMap::new();
    let mut rest = text.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remainder) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.chars();
            // What follows the closing quote; nothing when the value is not closed.
            let mut remainder = "";
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(escaped) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        remainder = chars.as_str();
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, remainder)
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_owned(), &after[end..])
        };
        parameters.insert(key, value);
        rest = remainder.trim_start().trim_start_matches(',');
    }
    parameters
}

/// A user name and password (or token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password or access token.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    /// The `Authorization: Basic …` value.
    pub fn basic_header(&self) -> String {
        format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", self.username, self.password))
        )
    }
}

/// Where Docker's `config.json` says the credentials for a registry are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// In the file itself.
    Inline(Credentials),
    /// With the helper program `docker-credential-<name>`.
    Helper(String),
    /// Nowhere: anonymous access.
    Anonymous,
}

/// The parts of Docker's `config.json` that say how to log in to registries.
#[derive(Debug, Clone, Default)]
pub struct DockerConfig {
    auths: BTreeMap<String, Credentials>,
    helpers: BTreeMap<String, String>,
    store: Option<String>,
}

#[derive(Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default, rename = "identitytoken")]
    identity_token: Option<String>,
}

impl DockerConfig {
    /// Parses the text of `config.json` read from `path` (named in errors).
    ///
    /// # Errors
    /// [`RegistryError::Credentials`] for malformed JSON, a malformed `auth` value, or an
    /// OAuth identity token (not supported: log in with a password or access token instead).
    pub fn parse(path: &str, text: &str) -> Result<Self, RegistryError> {
        let error = |reason: String| RegistryError::Credentials {
            path: path.to_owned(),
            reason,
        };
        let file: ConfigFile = serde_json::from_str(text)
            .map_err(|e| error(format!("not Docker config JSON: {e}")))?;
        let mut auths = BTreeMap::new();
        for (server, entry) in file.auths {
            if entry.identity_token.is_some() {
                return Err(error(format!(
                    "auths.{server:?}: identity tokens are not supported; log in with a password or access token"
                )));
            }
            let credentials = match (entry.auth, entry.username, entry.password) {
                (Some(auth), _, _) if !auth.is_empty() => {
                    let decoded = STANDARD
                        .decode(auth.trim())
                        .ok()
                        .and_then(|bytes| String::from_utf8(bytes).ok())
                        .ok_or_else(|| {
                            error(format!(
                                "auths.{server:?}.auth: not base64 of user:password"
                            ))
                        })?;
                    let (username, password) = decoded.split_once(':').ok_or_else(|| {
                        error(format!(
                            "auths.{server:?}.auth: no ':' between user and password"
                        ))
                    })?;
                    Credentials {
                        username: username.to_owned(),
                        password: password.to_owned(),
                    }
                }
                (_, Some(username), Some(password)) => Credentials { username, password },
                _ => continue,
            };
            auths.insert(server_host(&server), credentials);
        }
        let helpers = file
            .cred_helpers
            .into_iter()
            .map(|(server, helper)| (server_host(&server), helper))
            .collect();
        Ok(Self {
            auths,
            helpers,
            store: file.creds_store.filter(|store| !store.is_empty()),
        })
    }

    /// Where the credentials for `registry` (as named in references, `docker.io` for Docker
    /// Hub) are: a per-registry helper first, then the file, then the default store.
    pub fn source_for(&self, registry: &str) -> CredentialSource {
        let names: &[&str] = if registry == "docker.io" {
            &["docker.io", "index.docker.io", "registry-1.docker.io"]
        } else {
            &[registry]
        };
        for name in names {
            if let Some(helper) = self.helpers.get(*name) {
                return CredentialSource::Helper(helper.clone());
            }
        }
        for name in names {
            if let Some(credentials) = self.auths.get(*name) {
                return CredentialSource::Inline(credentials.clone());
            }
        }
        match &self.store {
            Some(store) => CredentialSource::Helper(store.clone()),
            None => CredentialSource::Anonymous,
        }
    }
}

/// `https://index.docker.io/v1/` → `index.docker.io`; `registry:5000` stays.
fn server_host(server: &str) -> String {
    let without_scheme = server
        .strip_prefix("https://")
        .or_else(|| server.strip_prefix("http://"))
        .unwrap_or(server);
    without_scheme
        .split('/')
        .next()
        .unwrap_or(without_scheme)
        .to_owned()
}

/// What a credential helper prints for `get`.
#[derive(Deserialize)]
pub(crate) struct HelperAnswer {
    #[serde(rename = "Username")]
    pub(crate) username: String,
    #[serde(rename = "Secret")]
    pub(crate) secret: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_are_parsed_with_quotes_and_commas() {
        let challenge = Challenge::parse(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#,
        )
        .unwrap();
        assert_eq!(
            challenge,
            Challenge::Bearer {
                realm: "https://auth.docker.io/token".to_owned(),
                service: Some("registry.docker.io".to_owned()),
                scope: Some("repository:library/nginx:pull".to_owned()),
            }
        );
        let escaped = Challenge::parse(r#"bearer realm="http://x/t\"q", service=svc"#).unwrap();
        assert_eq!(
            escaped,
            Challenge::Bearer {
                realm: "http://x/t\"q".to_owned(),
                service: Some("svc".to_owned()),
                scope: None,
            }
        );
        assert_eq!(
            Challenge::parse(r#"Basic realm="r""#),
            Some(Challenge::Basic)
        );
        assert_eq!(Challenge::parse("Bearer service=x"), None);
        assert_eq!(Challenge::parse("Negotiate"), None);
    }

    #[test]
    fn docker_config_entries_helpers_and_store() {
        let text = r#"{
            "auths": {
                "https://index.docker.io/v1/": {"auth": "dXNlcjpwYTpzcw=="},
                "registry.example.com": {"username": "u2", "password": "p2"},
                "empty.example.com": {}
            },
            "credHelpers": {"gcr.io": "gcloud"},
            "credsStore": "desktop"
        }"#;
        let config = DockerConfig::parse("config.json", text).unwrap();
        assert_eq!(
            config.source_for("docker.io"),
            CredentialSource::Inline(Credentials {
                username: "user".to_owned(),
                password: "pa:ss".to_owned()
            })
        );
        assert_eq!(
            config.source_for("registry.example.com"),
            CredentialSource::Inline(Credentials {
                username: "u2".to_owned(),
                password: "p2".to_owned()
            })
        );
        assert_eq!(
            config.source_for("gcr.io"),
            CredentialSource::Helper("gcloud".to_owned())
        );
        assert_eq!(
            config.source_for("quay.io"),
            CredentialSource::Helper("desktop".to_owned())
        );
        let bare = DockerConfig::parse("c", "{}").unwrap();
        assert_eq!(bare.source_for("quay.io"), CredentialSource::Anonymous);
    }

    #[test]
    fn malformed_config_files_are_refused_with_the_path() {
        for bad in [
            "{",
            r#"{"auths": {"r": {"auth": "%%%"}}}"#,
            r#"{"auths": {"r": {"auth": "bm9jb2xvbg=="}}}"#,
            r#"{"auths": {"r": {"identitytoken": "t"}}}"#,
            r#"{"auths": []}"#,
        ] {
            let error = DockerConfig::parse("/home/u/.docker/config.json", bad).unwrap_err();
            assert!(
                error
                    .to_string()
                    .starts_with("/home/u/.docker/config.json: "),
                "{error}"
            );
        }
    }

    #[test]
    fn credentials_are_redacted_in_debug_output() {
        let credentials = Credentials {
            username: "u".to_owned(),
            password: "hunter2".to_owned(),
        };
        assert!(!format!("{credentials:?}").contains("hunter2"));
        assert_eq!(credentials.basic_header(), "Basic dTpodW50ZXIy");
    }
}
