//! Multi-document YAML files as a sequence of JSON-like values, each with where it came from.

use std::fmt;

use crate::error::K8sError;

/// Where a document is: file name and 0-based index among the file's documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentId {
    /// The file name as the user gave it (`-` for standard input).
    pub file: String,
    /// 0-based position of the document in the file.
    pub index: usize,
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.index)
    }
}

/// One YAML document.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Where it is.
    pub id: DocumentId,
    /// Its content; `Null` for an empty document.
    pub value: serde_json::Value,
}

impl Document {
    /// `kind` of the object, if it is one.
    pub fn kind(&self) -> Option<&str> {
        self.value.get("kind").and_then(serde_json::Value::as_str)
    }

    /// `metadata.name` of the object.
    pub fn name(&self) -> Option<&str> {
        self.value
            .pointer("/metadata/name")
            .and_then(serde_json::Value::as_str)
    }
}

/// Splits `text` into its YAML documents, in order. Empty and null documents are not
/// documents (`kubectl` skips them too) and are left out.
pub fn read_documents(file: &str, text: &str) -> Result<Vec<Document>, K8sError> {
    // Kubernetes reads YAML 1.1 (go-yaml): `0755` is octal 493, as `kubectl` would send it.
    let options = serde_saphyr::options! { legacy_octal_numbers: true };
    let values: Vec<serde_json::Value> = serde_saphyr::from_multiple_with_options(text, options)
        .map_err(|error| K8sError::Yaml {
            file: file.to_owned(),
            detail: error.to_string(),
        })?;
    Ok(values
        .into_iter()
        .filter(|value| !value.is_null())
        .enumerate()
        .map(|(index, value)| Document {
            id: DocumentId {
                file: file.to_owned(),
                index,
            },
            value,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_keep_order_and_strings_stay_strings() {
        let text = "a: 1\n---\nb: \"yes\"\nc: \"0755\"\nd: yes\n";
        let docs = read_documents("f.yaml", text).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].id.to_string(), "f.yaml:1");
        assert_eq!(docs[1].value["b"], serde_json::json!("yes"));
        assert_eq!(docs[1].value["c"], serde_json::json!("0755"));
        assert_eq!(docs[1].value["d"], serde_json::json!(true));
        let with_nulls = read_documents("f.yaml", "--- !x\n---\na: 1\n---\nnull\n").unwrap();
        assert_eq!(with_nulls.len(), 1, "null documents are not documents");
        assert_eq!(with_nulls[0].id.index, 0);
    }

    #[test]
    fn numbers_read_as_kubernetes_reads_them() {
        let docs = read_documents(
            "f.yaml",
            "mode: 0755
port: 8080
ratio: 0.5
on: on
",
        )
        .unwrap();
        assert_eq!(docs[0].value["mode"], serde_json::json!(493));
        assert_eq!(docs[0].value["port"], serde_json::json!(8080));
        assert_eq!(docs[0].value["ratio"], serde_json::json!(0.5));
        assert_eq!(docs[0].value["on"], serde_json::json!(true));
    }

    #[test]
    fn every_truncation_is_read_or_refused_without_panic() {
        let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {a: \"yes\"}}\nspec:\n  containers:\n  - name: c\n    image: x\n    args: [\"0755\", on]\n---\nkind: Secret\n";
        for end in 0..=text.len() {
            if text.is_char_boundary(end) {
                let _ = read_documents("t.yaml", &text[..end]);
            }
        }
        let docs = read_documents("t.yaml", text).unwrap();
        assert_eq!(
            docs[0].value["spec"]["containers"][0]["args"][0],
            serde_json::json!("0755")
        );
    }

    #[test]
    fn broken_yaml_names_the_file() {
        let error = read_documents("bad.yaml", "a: [1, 2\n").unwrap_err();
        assert!(
            error.to_string().starts_with("bad.yaml: not valid YAML"),
            "{error}"
        );
    }
}
