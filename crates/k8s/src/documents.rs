//! Multi-document YAML files (and JSON files) as a sequence of JSON-like values, each with
//! where it came from. A `kind: List` (what `kubectl get -o yaml` writes) is read as its items.

use std::fmt;

use crate::error::K8sError;

/// Where a document is: file name, 0-based index among the file's documents, the line and
/// column it starts at and, for an item of a `kind: List`, its index among the items. Shown as
/// `FILE:LINE:COLUMN` (`:items[N]`), as editors and compilers name places.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentId {
    /// The file name as the user gave it (`-` for standard input).
    pub file: String,
    /// 0-based position of the document in the file.
    pub index: usize,
    /// 1-based line of the file where the document's content starts.
    pub line: usize,
    /// 1-based column (in characters) where it starts.
    pub column: usize,
    /// 0-based position among the `items` of the `kind: List` document `index`.
    pub item: Option<usize>,
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)?;
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
    Ok(read_located(file, text)?
        .into_iter()
        .map(|(value, _)| value)
        .collect())
}

/// A value and the 1-based line and column where it starts.
type Located = (serde_json::Value, (usize, usize));

/// A parser's 1-based line or column as an index (at least 1).
pub(crate) fn position(at: u64) -> usize {
    usize::try_from(at).unwrap_or(usize::MAX).max(1)
}

/// How Kubernetes reads YAML: 1.1 (go-yaml), so `0755` is octal 493, as `kubectl` sends it.
pub(crate) fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! { legacy_octal_numbers: true }
}

/// [`read_values`], each with the 1-based line and column where it starts.
fn read_located(file: &str, text: &str) -> Result<Vec<Located>, K8sError> {
    let values: Vec<Located> = match FileFormat::of(file) {
        FileFormat::Json => {
            let value = serde_json::from_str(text).map_err(|error| K8sError::Json {
                file: file.to_owned(),
                line: error.line().max(1),
                column: error.column().max(1),
                detail: error.to_string(),
            })?;
            vec![(value, start_of_json(text))]
        }
        FileFormat::Yaml => {
            let documents: Vec<serde_saphyr::Spanned<serde_json::Value>> =
                serde_saphyr::from_multiple_with_options(text, yaml_options()).map_err(
                    |error| {
                        let (line, column) = error
                            .location()
                            .map_or((1, 1), |at| (position(at.line()), position(at.column())));
                        K8sError::Yaml {
                            file: file.to_owned(),
                            line,
                            column,
                            detail: error.to_string(),
                        }
                    },
                )?;
            documents
                .into_iter()
                .map(|spanned| {
                    let at = spanned.referenced;
                    (spanned.value, (position(at.line()), position(at.column())))
                })
                .collect()
        }
    };
    Ok(values
        .into_iter()
        .filter(|(value, _)| !value.is_null())
        .collect())
}

/// Where a JSON text's value starts: its first character that is not white space.
fn start_of_json(text: &str) -> (usize, usize) {
    let mut place: (usize, usize) = (1, 1);
    for character in text.chars() {
        match character {
            '\n' => place = (place.0.saturating_add(1), 1),
            ' ' | '\t' | '\r' | '\u{feff}' => place.1 = place.1.saturating_add(1),
            _ => break,
        }
    }
    place
}

/// Splits `text` into its documents, in order: the YAML documents of the file (the value of a
/// `.json` file), each `kind: List` replaced by its items. Empty and null documents are not
/// documents (`kubectl` skips them too) and are left out.
pub fn read_documents(file: &str, text: &str) -> Result<Vec<Document>, K8sError> {
    let mut documents = Vec::new();
    for (index, (value, (line, column))) in read_located(file, text)?.into_iter().enumerate() {
        let id = |item| DocumentId {
            file: file.to_owned(),
            index,
            line,
            column,
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
        assert_eq!(docs[1].id.to_string(), "f.yaml:3:1");
        assert_eq!(docs[1].id.index, 1);
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
        assert_eq!(
            ids,
            ["l.yaml:1:1", "l.yaml:5:1:items[0]", "l.yaml:5:1:items[1]"]
        );
        assert_eq!(docs[2].name(), Some("b"));
        let error =
            read_documents("l.yaml", "apiVersion: v1\nkind: List\nitems: {a: 1}\n").unwrap_err();
        assert!(
            error.to_string().starts_with("l.yaml:1:1:items: "),
            "{error}"
        );
    }

    #[test]
    fn a_json_file_is_read_as_json_a_single_object_or_a_list() {
        let docs = read_documents(
            "p.json",
            r#"{"apiVersion": "v1", "kind": "List", "items": [{"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "p"}}]}"#,
        )
        .unwrap();
        assert_eq!(docs[0].id.to_string(), "p.json:1:1:items[0]");
        let one = read_documents("p.json", r#"{"kind": "Pod", "apiVersion": "v1"}"#).unwrap();
        assert_eq!(one.len(), 1);
        let error = read_documents("p.json", "kind: Pod\n").unwrap_err();
        assert!(
            error.to_string().starts_with("p.json:1:1: not valid JSON"),
            "{error}"
        );
        let indented = read_documents("q.json", "\n\n  {\"kind\": \"Pod\"}").unwrap();
        assert_eq!(indented[0].id.to_string(), "q.json:3:3");
    }

    #[test]
    fn broken_yaml_names_the_file_line_and_column() {
        let error = read_documents("bad.yaml", "a: [1, 2\n").unwrap_err();
        assert!(error.to_string().starts_with("bad.yaml:"), "{error}");
        // In the second document: the line counts from the top of the file.
        let text =
            "kind: ConfigMap\napiVersion: v1\n---\nkind: Pod\nmetadata:\n  name: [a\n  x: y\n";
        let error = read_documents("two.yaml", text).unwrap_err();
        let K8sError::Yaml { line, column, .. } = &error else {
            panic!("{error}");
        };
        assert!(*line >= 6, "{error}");
        assert!(
            error
                .to_string()
                .starts_with(&format!("two.yaml:{line}:{column}: not valid YAML")),
            "{error}"
        );
    }

    #[test]
    fn the_second_document_is_named_by_its_line_and_column() {
        let text = "# comment\nkind: ConfigMap\napiVersion: v1\n---\n\nkind: Pod\n";
        let docs = read_documents("two.yaml", text).unwrap();
        assert_eq!(docs[0].id.to_string(), "two.yaml:2:1");
        assert_eq!(docs[1].id.to_string(), "two.yaml:6:1");
    }
}
