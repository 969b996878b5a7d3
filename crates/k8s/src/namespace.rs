//! The namespace objects are generated for: `metadata.namespace` where a document has one,
//! else the one the user names (`chiaro generate -n NS`), else `default`, as `kubectl apply`
//! decides it.

use std::fmt;

use serde_json::Value;

use crate::{Document, K8sError, WorkloadKind};

/// A Kubernetes namespace name: an RFC 1123 label (at most 63 lower-case letters, digits and
/// `-`, starting and ending with a letter or digit).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Namespace(String);

impl Namespace {
    /// `name` as a namespace.
    ///
    /// # Errors
    /// [`K8sError::Namespace`] when `name` is not an RFC 1123 label.
    pub fn parse(name: &str) -> Result<Self, K8sError> {
        let bytes = name.as_bytes();
        let alphanumeric = |byte: &u8| byte.is_ascii_lowercase() || byte.is_ascii_digit();
        let valid = (1..=63).contains(&bytes.len())
            && bytes.iter().all(|b| alphanumeric(b) || *b == b'-')
            && bytes.first().is_some_and(alphanumeric)
            && bytes.last().is_some_and(alphanumeric);
        if valid {
            Ok(Self(name.to_owned()))
        } else {
            Err(K8sError::Namespace {
                name: name.to_owned(),
            })
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `document` with `metadata.namespace` set to this namespace when it has none and is an
    /// object generate reads in its namespace: a workload, a Service, a ConfigMap or a Secret
    /// (their namespace decides the SANs, the policy's namespace and the values a pod gets).
    /// Other kinds are returned as they are: their scope (namespaced or cluster-wide) is not
    /// generate's to decide.
    pub fn default_for(&self, document: &Document) -> Document {
        let mut document = document.clone();
        let kind = document.kind();
        let read_in_namespace = kind.is_some_and(|kind| {
            WorkloadKind::from_kind(kind).is_some()
                || matches!(kind, "Service" | "ConfigMap" | "Secret")
        });
        if !read_in_namespace || document.value.pointer("/metadata/namespace").is_some() {
            return document;
        }
        if let Some(object) = document.value.as_object_mut() {
            let metadata = object
                .entry("metadata")
                .or_insert_with(|| Value::Object(serde_json::Map::new()));
            if let Some(metadata) = metadata.as_object_mut() {
                metadata.insert("namespace".to_owned(), Value::String(self.0.clone()));
            }
        }
        document
    }
}

impl Default for Namespace {
    /// `default`, the namespace `kubectl` uses when none is given.
    fn default() -> Self {
        Self("default".to_owned())
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read_documents;

    #[test]
    fn a_namespace_is_an_rfc_1123_label() {
        for good in ["shop", "a", "team-1", &"a".repeat(63)] {
            assert_eq!(Namespace::parse(good).unwrap().as_str(), good);
        }
        for bad in ["", "Shop", "-a", "a-", "a.b", "a_b", &"a".repeat(64)] {
            let error = Namespace::parse(bad).unwrap_err().to_string();
            assert!(error.contains("not a namespace name"), "{bad}: {error}");
        }
    }

    #[test]
    fn objects_read_in_a_namespace_get_it_and_others_keep_theirs() {
        let documents = read_documents(
            "f.yaml",
            "kind: Deployment\napiVersion: apps/v1\nmetadata: {name: web}\n---\nkind: Service\napiVersion: v1\nmetadata: {name: web, namespace: other}\n---\nkind: ConfigMap\napiVersion: v1\nmetadata: {name: c}\n---\nkind: ClusterRole\napiVersion: rbac.authorization.k8s.io/v1\nmetadata: {name: r}\n",
        )
        .unwrap();
        let shop = Namespace::parse("shop").unwrap();
        let namespaces: Vec<Option<String>> = documents
            .iter()
            .map(|document| {
                shop.default_for(document)
                    .value
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .collect();
        assert_eq!(
            namespaces,
            [
                Some("shop".to_owned()),
                Some("other".to_owned()),
                Some("shop".to_owned()),
                None
            ]
        );
        assert_eq!(Namespace::default().as_str(), "default");
    }
}
