//! Writing documents back: documents that did not change keep their exact source text
//! (comments, quoting, layout); changed ones keep their leading comments and are re-serialised
//! with serde-saphyr, which quotes every string YAML 1.1 would read as something else
//! (`"yes"`, `"on"`, `"0755"`, `"1e3"`), so Kubernetes reads back what was meant. The items of
//! a `kind: List` are written back into their List, and a `.json` file is written as JSON.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::documents::{FileFormat, is_list, read_values};
use crate::{Document, K8sError};

/// The text of `documents` after changing each to the value in `after` (same order, same
/// length), `original` being the text they were read from. The items of a `kind: List` go back
/// into their List; a `.json` file is written as JSON ([`FileFormat::of`]).
///
/// # Errors
/// [`K8sError::Write`] if a value cannot be serialised (it always can for JSON values), or
/// `original` is not the text `before` was read from.
pub fn write_documents(
    file: &str,
    original: &str,
    before: &[Document],
    after: &[Value],
) -> Result<String, K8sError> {
    let written = read_values(file, original)?;
    let changed: BTreeMap<(usize, Option<usize>), &Value> = before
        .iter()
        .zip(after)
        .map(|(document, value)| ((document.id.index, document.id.item), value))
        .collect();
    let mut values = written.clone();
    for (index, value) in values.iter_mut().enumerate() {
        if is_list(value) {
            if let Some(Value::Array(items)) = value.get_mut("items") {
                for (item, slot) in items.iter_mut().enumerate() {
                    if let Some(new) = changed.get(&(index, Some(item))) {
                        slot.clone_from(new);
                    }
                }
            }
        } else if let Some(new) = changed.get(&(index, None)) {
            value.clone_from(new);
        }
    }
    match FileFormat::of(file) {
        FileFormat::Json => json_text(file, original, &written, &values),
        FileFormat::Yaml => yaml_text(file, original, &written, &values),
    }
}

/// New documents (no text they were read from) as one YAML text, `---` between them: what
/// `chiaro install` writes. `file` names them in errors.
///
/// # Errors
/// [`K8sError::Write`] if a value cannot be serialised (it always can for JSON values).
pub fn new_documents(file: &str, values: &[Value]) -> Result<String, K8sError> {
    yaml_text(file, "", &[], values)
}

/// A JSON file: as it was when nothing changed, else its one value, indented.
fn json_text(
    file: &str,
    original: &str,
    before: &[Value],
    after: &[Value],
) -> Result<String, K8sError> {
    if before == after {
        return Ok(original.to_owned());
    }
    let [value] = after else {
        return Err(K8sError::Write {
            file: file.to_owned(),
            detail: "a JSON file holds one value".to_owned(),
        });
    };
    let mut text = serde_json::to_string_pretty(value).map_err(|error| K8sError::Write {
        file: file.to_owned(),
        detail: error.to_string(),
    })?;
    text.push('\n');
    Ok(text)
}

/// A YAML file: unchanged documents as written, changed ones re-serialised after their
/// leading comments.
fn yaml_text(
    file: &str,
    original: &str,
    before: &[Value],
    after: &[Value],
) -> Result<String, K8sError> {
    let sources = document_sources(original).filter(|sources| sources.len() == before.len());
    let mut out = String::with_capacity(original.len().saturating_add(1024));
    for (index, value) in after.iter().enumerate() {
        let source = sources.as_ref().and_then(|sources| sources.get(index));
        let unchanged = before.get(index) == Some(value);
        match source {
            Some(source) if unchanged => out.push_str(source),
            Some(source) => {
                out.push_str(&leading_lines(source));
                out.push_str(&serialise(file, value)?);
            }
            None => {
                if index > 0 {
                    out.push_str("---\n");
                }
                out.push_str(&serialise(file, value)?);
            }
        }
        let is_last = index.checked_add(1) == Some(after.len());
        if !out.ends_with('\n') && !is_last {
            out.push('\n');
        }
    }
    Ok(out)
}

fn serialise(file: &str, value: &Value) -> Result<String, K8sError> {
    if value.is_null() {
        // Written out: an empty text would be no document at all.
        return Ok("null\n".to_owned());
    }
    // Long one-line strings (initdata, pinned images) stay on one line rather than folded;
    // strings with newlines still become literal blocks.
    let options = serde_saphyr::ser_options! { folded_wrap_chars: usize::MAX / 2 };
    serde_saphyr::to_string_with_options(value, options).map_err(|error| K8sError::Write {
        file: file.to_owned(),
        detail: error.to_string(),
    })
}

fn is_marker(line: &str) -> bool {
    line.strip_prefix("---")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r', '\n']))
}

fn is_blank_or_comment(line: &str) -> bool {
    let trimmed = line.trim();
    trimmed.is_empty() || trimmed.starts_with('#')
}

/// The document marker line (if any) and the comment and blank lines that open `source`.
fn leading_lines(source: &str) -> String {
    let mut lead = String::new();
    for (index, line) in source.split_inclusive('\n').enumerate() {
        if (index == 0 && is_marker(line) && line.trim() == "---") || is_blank_or_comment(line) {
            lead.push_str(line);
        } else if index == 0 && is_marker(line) {
            lead.push_str("---\n");
            break;
        } else {
            break;
        }
    }
    lead
}

/// The source text of each document, split at `---` lines (a `---` at the start of a line
/// always starts a document in YAML). Text before the first marker that holds no content
/// belongs to the first document; trailing text after the last marker with no content is not
/// a document. `None` when the file has `...` end markers or directives (not split here).
fn document_sources(text: &str) -> Option<Vec<String>> {
    // A lone carriage return is a line break to YAML but not to `lines()`: do not split such text.
    if text
        .split('\r')
        .skip(1)
        .any(|after_cr| !after_cr.starts_with('\n'))
    {
        return None;
    }
    let mut chunks: Vec<String> = vec![String::new()];
    for line in text.split_inclusive('\n') {
        if line.starts_with("...") || line.starts_with('%') {
            return None;
        }
        if is_marker(line) {
            chunks.push(String::new());
        }
        if let Some(last) = chunks.last_mut() {
            last.push_str(line);
        }
    }
    if let [header, first, ..] = chunks.as_mut_slice()
        && header.lines().all(is_blank_or_comment)
    {
        first.insert_str(0, header);
        chunks.remove(0);
    }
    if chunks.len() > 1
        && chunks.last().is_some_and(|last| {
            last.lines().skip(1).all(is_blank_or_comment)
                && last.lines().next().is_some_and(|l| l.trim() == "---")
        })
    {
        let trailer = chunks.pop().unwrap_or_default();
        if let Some(last) = chunks.last_mut() {
            last.push_str(&trailer);
        }
    }
    Some(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read_documents;

    const TEXT: &str = "# header comment\n---\n# the service\napiVersion: v1\nkind: Service\nmetadata:\n  name: web   # inline\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  mode: \"0755\"\n  flag: 'on'\n";

    #[test]
    fn unchanged_documents_keep_their_text_byte_for_byte() {
        let documents = read_documents("f", TEXT).unwrap();
        let values: Vec<Value> = documents.iter().map(|d| d.value.clone()).collect();
        assert_eq!(
            write_documents("f", TEXT, &documents, &values).unwrap(),
            TEXT
        );
    }

    #[test]
    fn changed_documents_keep_leading_comments_and_quote_yaml_1_1_strings() {
        let documents = read_documents("f", TEXT).unwrap();
        let mut values: Vec<Value> = documents.iter().map(|d| d.value.clone()).collect();
        values[1]["data"]["extra"] = Value::String("yes".to_owned());
        let written = write_documents("f", TEXT, &documents, &values).unwrap();
        assert!(written.starts_with("# header comment\n---\n# the service\napiVersion: v1\n"));
        assert!(written.contains("name: web   # inline\n---\n"), "{written}");
        assert!(written.contains("mode: \"0755\""), "{written}");
        assert!(written.contains("flag: \"on\""), "{written}");
        assert!(written.contains("extra: \"yes\""), "{written}");
        let again = read_documents("f", &written).unwrap();
        let read_back: Vec<Value> = again.into_iter().map(|d| d.value).collect();
        assert_eq!(read_back, values);
        let rewritten = write_documents(
            "f",
            &written,
            &read_documents("f", &written).unwrap(),
            &read_back,
        )
        .unwrap();
        assert_eq!(rewritten, written, "writing is a fixed point");
    }

    #[test]
    fn list_items_are_written_back_into_their_list() {
        let text = "# from kubectl\napiVersion: v1\nkind: List\nmetadata: {resourceVersion: \"\"}\nitems:\n- {kind: ConfigMap, apiVersion: v1, metadata: {name: a}}\n- {kind: ConfigMap, apiVersion: v1, metadata: {name: b}}\n---\nkind: Service\napiVersion: v1\nmetadata: {name: s}  # kept\n";
        let documents = read_documents("f", text).unwrap();
        let mut values: Vec<Value> = documents.iter().map(|d| d.value.clone()).collect();
        values[1]["data"] = serde_json::json!({"k": "v"});
        let written = write_documents("f", text, &documents, &values).unwrap();
        assert!(
            written.starts_with("# from kubectl\napiVersion: v1\nkind: List\n"),
            "{written}"
        );
        assert!(
            written.ends_with("metadata: {name: s}  # kept\n"),
            "{written}"
        );
        let again = read_documents("f", &written).unwrap();
        assert_eq!(again.len(), 3);
        assert_eq!(again[1].id.to_string(), "f:2:1:items[1]");
        assert_eq!(again[1].value["data"]["k"], "v");
        assert_eq!(again[0].value, documents[0].value);
        let top = read_values("f", &written).unwrap();
        assert_eq!(
            top[0]["metadata"]["resourceVersion"], "",
            "the List's own fields stay"
        );
    }

    #[test]
    fn a_json_file_is_written_back_as_json_and_unchanged_as_it_was() {
        let text =
            "{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"a\"}}";
        let documents = read_documents("c.json", text).unwrap();
        let mut values: Vec<Value> = documents.iter().map(|d| d.value.clone()).collect();
        assert_eq!(
            write_documents("c.json", text, &documents, &values).unwrap(),
            text
        );
        values[0]["data"] = serde_json::json!({"mode": "0755"});
        let written = write_documents("c.json", text, &documents, &values).unwrap();
        let read_back: Value = serde_json::from_str(&written).unwrap();
        assert_eq!(read_back, values[0]);
        assert!(written.ends_with("}\n"), "{written}");
    }

    #[test]
    fn a_comment_with_a_lone_carriage_return_is_not_kept_as_a_comment() {
        // Found by the fuzzer: YAML reads `\r` as a line break, so "b: 2" is content.
        let text = "# note\rb: 2\nc: 3\n";
        let documents = read_documents("f", text).unwrap();
        let mut values: Vec<Value> = documents.iter().map(|d| d.value.clone()).collect();
        values[0]["d"] = Value::Bool(true);
        let written = write_documents("f", text, &documents, &values).unwrap();
        let again: Vec<Value> = read_documents("f", &written)
            .unwrap()
            .into_iter()
            .map(|d| d.value)
            .collect();
        assert_eq!(again, values, "{written:?}");
    }

    #[test]
    fn sources_split_at_markers_only() {
        let text = "a: |\n  --- not a marker, indented\n---\nb: 1\n--- # comment\nc: 2\n---\n";
        let sources = document_sources(text).unwrap();
        assert_eq!(sources.len(), 3, "{sources:?}");
        assert_eq!(read_documents("f", text).unwrap().len(), 3);
        assert!(document_sources("%YAML 1.1\n---\na: 1\n").is_none());
        assert!(
            document_sources("# a\rb: 1\n").is_none(),
            "a lone CR breaks lines"
        );
        assert!(document_sources("a: 1\r\n---\r\nb: 2\r\n").is_some());
    }
}
