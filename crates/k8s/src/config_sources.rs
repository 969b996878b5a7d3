//! ConfigMaps and Secrets given next to the workloads, whose values pods consume.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::Value;

use crate::documents::Document;
use crate::error::K8sError;

/// ConfigMap or Secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConfigSourceKind {
    /// A ConfigMap.
    ConfigMap,
    /// A Secret.
    Secret,
}

/// The data of one ConfigMap or Secret, decoded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigSource {
    /// Key to value; Secret `data` is base64-decoded, `stringData` taken as is.
    pub data: BTreeMap<String, Vec<u8>>,
}

/// All ConfigMaps and Secrets of the input, by kind and name.
#[derive(Debug, Clone, Default)]
pub struct ConfigSources {
    sources: BTreeMap<(ConfigSourceKind, String), ConfigSource>,
}

impl ConfigSources {
    /// Records `document` if it is a ConfigMap or Secret; returns whether it was one.
    pub fn add(&mut self, document: &Document) -> Result<bool, K8sError> {
        let kind = match document.kind() {
            Some("ConfigMap") => ConfigSourceKind::ConfigMap,
            Some("Secret") => ConfigSourceKind::Secret,
            _ => return Ok(false),
        };
        let name = document.name().ok_or_else(|| K8sError::NotAnObject {
            at: document.id.clone(),
            detail: "missing metadata.name".to_owned(),
        })?;
        let invalid = |path: String, detail: &str| K8sError::Invalid {
            at: document.id.clone(),
            path,
            detail: detail.to_owned(),
        };
        let mut source = ConfigSource::default();
        let entries = |field: &str| match document.value.get(field) {
            Some(Value::Object(map)) => Ok(map.iter().collect::<Vec<_>>()),
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(_) => Err(invalid(field.to_owned(), "expected a mapping")),
        };
        let text = |field: &str, key: &str, value: &Value| match value {
            Value::String(s) => Ok(s.clone()),
            _ => Err(invalid(format!("{field}.{key}"), "expected a string")),
        };
        match kind {
            ConfigSourceKind::ConfigMap => {
                for (key, value) in entries("data")? {
                    source
                        .data
                        .insert(key.clone(), text("data", key, value)?.into_bytes());
                }
                for (key, value) in entries("binaryData")? {
                    let decoded = base64::engine::general_purpose::STANDARD
                        .decode(text("binaryData", key, value)?)
                        .map_err(|_| invalid(format!("binaryData.{key}"), "not base64"))?;
                    source.data.insert(key.clone(), decoded);
                }
            }
            ConfigSourceKind::Secret => {
                for (key, value) in entries("data")? {
                    let decoded = base64::engine::general_purpose::STANDARD
                        .decode(text("data", key, value)?)
                        .map_err(|_| invalid(format!("data.{key}"), "not base64"))?;
                    source.data.insert(key.clone(), decoded);
                }
                for (key, value) in entries("stringData")? {
                    source
                        .data
                        .insert(key.clone(), text("stringData", key, value)?.into_bytes());
                }
            }
        }
        self.sources.insert((kind, name.to_owned()), source);
        Ok(true)
    }

    /// The ConfigMap or Secret named `name`.
    pub fn get(&self, kind: ConfigSourceKind, name: &str) -> Option<&ConfigSource> {
        self.sources.get(&(kind, name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documents::read_documents;

    #[test]
    fn secret_data_is_decoded_and_string_data_taken_as_is() {
        let docs = read_documents(
            "s.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {a: aGVsbG8=}\nstringData: {b: \"yes\"}\n",
        )
        .unwrap();
        let mut sources = ConfigSources::default();
        assert!(sources.add(&docs[0]).unwrap());
        let secret = sources.get(ConfigSourceKind::Secret, "s").unwrap();
        assert_eq!(secret.data["a"], b"hello");
        assert_eq!(secret.data["b"], b"yes");
    }

    #[test]
    fn bad_base64_names_the_key() {
        let docs = read_documents(
            "s.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {a: \"!!\"}\n",
        )
        .unwrap();
        let error = ConfigSources::default().add(&docs[0]).unwrap_err();
        assert_eq!(error.to_string(), "s.yaml:1:1:data.a: not base64");
    }
}
