//! Multi-document YAML files (and JSON files) as a sequence of JSON-like values, each with
//! where it came from. A `kind: List` (what `kubectl get -o yaml` writes) is read as its items.

use std::fmt;

use crate::error::K8sError;

/// Where a document is: file name, 0-based index among the file's documents and, for an item
/// of a `kind: List`, its index among the items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentId {
    /// The file name as the user gave it (`-` for standard input).
    pub file: String,
    /// 0-based position of the document in the file.
    pub index: usize,
    /// 0-based position among the `items` of the `kind: List` document `index`.
    pub item: Option<usize>,
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.index)?;
        match self.item {
            Some(item) => write!(f, ":items[{item}]"),
            None => Ok(()),
        }
    }
}

/// How a file is written: JSON for a `.json` file, YAML otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// One JSON value (an object or a `kind: List`).
    Json,
    /// A stream of YAML documents.
    Yaml,
}

impl FileFormat {
    /// The format of the file named `file` (`-`, standard input, is read as YAML, of which JSON
    /// is a part).
    pub fn of(file: &str) -> Self {
        let is_json = std::path::Path::new(file)
            .extension()
            .is_some_and(|extension| extension.eq_ignore_ascii_case("json"));
        if is_json { Self::Json } else { Self::Yaml }
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

/// Whether `value` is a `kind: List` (`apiVersion: v1`, as `kubectl get -o yaml` writes it).
pub(crate) fn is_list(value: &serde_json::Value) -> bool {
    value.get("kind").and_then(serde_json::Value::as_str) == Some("List")
        && value.get("apiVersion").and_then(serde_json::Value::as_str) == Some("v1")
}

/// The top-level values of `text`, as written (a `kind: List` is one value): the documents of
/// a YAML file (empty and null ones left out, as `kubectl` skips them), the one value of a JSON
/// file ([`FileFormat::of`] `file`).
pub(crate) fn read_values(file: &str, text: &str) -> Result<Vec<serde_json::Value>, K8sError> {
    let values: Vec<serde_json::Value> = match FileFormat::of(file) {
        FileFormat::Json => {
            vec![serde_json::from_str(text).map_err(|error| K8sError::Json {
                file: file.to_owned(),
                detail: error.to_string(),
            })?]
        }
        FileFormat::Yaml => {
            // Kubernetes reads YAML 1.1 (go-yaml): `0755` is octal 493, as `kubectl` sends it.
            let options = serde_saphyr::options! { legacy_octal_numbers: true };
            serde_saphyr::from_multiple_with_options(text, options).map_err(|error| {
                K8sError::Yaml {
                    file: file.to_owned(),
                    detail: error.to_string(),
                }
            })?
        }
    };
    Ok(values
        .into_iter()
        .filter(|value| !value.is_null())
        .collect())
}

/// Splits `text` into its documents, in order: the YAML documents of the file (the value of a
/// `.json` file), each `kind: List` replaced by its items. Empty and null documents are not
/// documents (`kubectl` skips them too) and are left out.
pub fn read_documents(file: &str, text: &str) -> Result<Vec<Document>, K8sError> {
    let mut documents = Vec::new();
    for (index, value) in read_values(file, text)?.into_iter().enumerate() {
        let id = |item| DocumentId {
            file: file.to_owned(),
            index,
            item,
        };
        if !is_list(&value) {
            documents.push(Document {
                id: id(None),
                value,
            });
            continue;
        }
        let items = match value.get("items") {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(serde_json::Value::Array(items)) => items.clone(),
            Some(other) => {
                return Err(K8sError::Invalid {
                    at: id(None),
                    path: "items".to_owned(),
                    detail: format!("a List's items are a list, not {other}"),
                });
            }
        };
        documents.extend(items.into_iter().enumerate().map(|(item, value)| Document {
            id: id(Some(item)),
            value,
        }));
    }
    Ok(documents)
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
    fn a_list_is_read_as_its_items_each_named_by_document_and_item() {
        let text = "kind: Service\napiVersion: v1\nmetadata: {name: s}\n---\napiVersion: v1\nkind: List\nmetadata: {resourceVersion: \"\"}\nitems:\n- {kind: ConfigMap, apiVersion: v1, metadata: {name: a}}\n- {kind: Secret, apiVersion: v1, metadata: {name: b}}\n";
        let docs = read_documents("l.yaml", text).unwrap();
        let ids: Vec<String> = docs.iter().map(|d| d.id.to_string()).collect();
        assert_eq!(ids, ["l.yaml:0", "l.yaml:1:items[0]", "l.yaml:1:items[1]"]);
        assert_eq!(docs[2].name(), Some("b"));
        let error =
            read_documents("l.yaml", "apiVersion: v1\nkind: List\nitems: {a: 1}\n").unwrap_err();
        assert!(error.to_string().starts_with("l.yaml:0:items: "), "{error}");
    }

    #[test]
    fn a_json_file_is_read_as_json_a_single_object_or_a_list() {
        let docs = read_documents(
            "p.json",
            r#"{"apiVersion": "v1", "kind": "List", "items": [{"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "p"}}]}"#,
        )
        .unwrap();
        assert_eq!(docs[0].id.to_string(), "p.json:0:items[0]");
        let one = read_documents("p.json", r#"{"kind": "Pod", "apiVersion": "v1"}"#).unwrap();
        assert_eq!(one.len(), 1);
        let error = read_documents("p.json", "kind: Pod\n").unwrap_err();
        assert!(
            error.to_string().starts_with("p.json: not valid JSON"),
            "{error}"
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
