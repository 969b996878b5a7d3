//! Where a field that an error names is written: the line and column of
//! `spec.template.spec.containers[0].securityContext.privileged` in its file. A successful read
//! keeps no positions (`read_documents` returns plain values); only an error that names a field
//! reads its file again, with positions, to point at it ([`K8sError::at_field`]).
//!
//! A field path is what this crate's errors write: keys joined by `.` (a key may hold dots
//! itself, as annotation keys do: the longest key that matches is taken), `[N]` for the Nth
//! element of a list and `[NAME]` for the element whose `name` is NAME (containers, volumes,
//! env; of a mapping, the entry whose key is NAME, as annotation keys are written). Where the
//! path leaves what the document holds (a field that is missing), the position is that of the
//! deepest part that is there.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use crate::documents::{DocumentId, position, yaml_options};
use crate::error::K8sError;

/// A YAML node with where each of its children is written; scalars keep their text, to match
/// `[NAME]` against `name`.
#[derive(Debug)]
enum Node {
    Null,
    Scalar(String),
    List(Vec<Spanned<Self>>),
    Map(Vec<(String, Spanned<Self>)>),
}

/// The 1-based line and column of the field `path` of the document `at` in `text`, `None` when
/// the text does not read (the error then keeps the document's position) or the path names no
/// part of the document.
pub(crate) fn locate(text: &str, at: &DocumentId, path: &str) -> Option<(usize, usize)> {
    let documents: Vec<Spanned<Node>> =
        serde_saphyr::from_multiple_with_options(text, yaml_options()).ok()?;
    // The documents as `read_documents` counts them: null ones are not documents.
    let document = documents
        .iter()
        .filter(|document| !matches!(document.value, Node::Null))
        .nth(at.index)?;
    let root = match at.item {
        Some(item) => {
            child(&document.value, "items").and_then(|items| element(&items.value, item))?
        }
        None => document,
    };
    let (found, reached) = walk(root, path);
    let at = found.referenced;
    reached.then(|| (position(at.line()), position(at.column())))
}

/// The deepest node of `path` under `node`, and whether any part of the path was found.
fn walk<'a>(mut node: &'a Spanned<Node>, mut rest: &str) -> (&'a Spanned<Node>, bool) {
    let mut reached = false;
    loop {
        rest = rest.strip_prefix('.').unwrap_or(rest);
        if rest.is_empty() {
            return (node, reached);
        }
        let next = if let Some(indexed) = rest.strip_prefix('[') {
            let Some((inside, after)) = indexed.split_once(']') else {
                return (node, reached);
            };
            rest = after;
            match inside.parse::<usize>() {
                Ok(index) => element(&node.value, index),
                Err(_) => named(&node.value, inside).or_else(|| child(&node.value, inside)),
            }
        } else {
            let Some((key, child)) = longest_key(&node.value, rest) else {
                return (node, reached);
            };
            rest = &rest[key.len()..];
            Some(child)
        };
        match next {
            Some(child) => {
                node = child;
                reached = true;
            }
            None => return (node, reached),
        }
    }
}

/// The entry of a mapping whose key is the longest that `rest` starts with, followed by the end,
/// `.` or `[`.
fn longest_key<'a>(node: &'a Node, rest: &str) -> Option<(&'a str, &'a Spanned<Node>)> {
    let Node::Map(entries) = node else {
        return None;
    };
    entries
        .iter()
        .filter(|(key, _)| {
            rest.strip_prefix(key.as_str())
                .is_some_and(|after| after.is_empty() || after.starts_with(['.', '[']))
        })
        .max_by_key(|(key, _)| key.len())
        .map(|(key, child)| (key.as_str(), child))
}

fn child<'a>(node: &'a Node, key: &str) -> Option<&'a Spanned<Node>> {
    let Node::Map(entries) = node else {
        return None;
    };
    entries
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, child)| child)
}

fn element(node: &Node, index: usize) -> Option<&Spanned<Node>> {
    match node {
        Node::List(items) => items.get(index),
        _ => None,
    }
}

/// The element of a list whose `name` is `name`.
fn named<'a>(node: &'a Node, name: &str) -> Option<&'a Spanned<Node>> {
    let Node::List(items) = node else {
        return None;
    };
    items.iter().find(|item| {
        child(&item.value, "name")
            .is_some_and(|value| matches!(&value.value, Node::Scalar(text) if text == name))
    })
}

impl K8sError {
    /// This error with its position narrowed from the document's start to the field it names,
    /// where `text` (the file it came from) has that field; otherwise unchanged. The message
    /// reads as before (`FILE:LINE:COLUMN:PATH: …`), the line and column now the field's.
    #[must_use]
    pub fn at_field(mut self, text: &str) -> Self {
        let located = self
            .document_and_path()
            .and_then(|(at, path)| locate(text, at, path));
        if let (Some((line, column)), Some(at)) = (located, self.document_mut()) {
            at.line = line;
            at.column = column;
        }
        self
    }

    /// The file this error is about, if it names one.
    pub fn file(&self) -> Option<&str> {
        match self {
            Self::Yaml { file, .. } | Self::Json { file, .. } | Self::Write { file, .. } => {
                Some(file)
            }
            _ => self.document_and_path().map(|(at, _)| at.file.as_str()),
        }
    }

    fn document_and_path(&self) -> Option<(&DocumentId, &str)> {
        match self {
            Self::Invalid { at, path, .. }
            | Self::Unsupported { at, path, .. }
            | Self::NotYetSupported { at, path, .. }
            | Self::UnknownField { at, path, .. }
            | Self::UnrewritableKind { at, path, .. } => Some((at, path)),
            _ => None,
        }
    }

    fn document_mut(&mut self) -> Option<&mut DocumentId> {
        match self {
            Self::Invalid { at, .. }
            | Self::Unsupported { at, .. }
            | Self::NotYetSupported { at, .. }
            | Self::UnknownField { at, .. }
            | Self::UnrewritableKind { at, .. } => Some(at),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a YAML node")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        Node::deserialize(deserializer)
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Node, E> {
        Ok(Node::Scalar(value.to_string()))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Node, E> {
        Ok(Node::Scalar(value.to_string()))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Node, E> {
        Ok(Node::Scalar(value.to_string()))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Node, E> {
        Ok(Node::Scalar(value.to_string()))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Node, E> {
        Ok(Node::Scalar(value.to_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Node, A::Error> {
        let mut list = Vec::new();
        while let Some(item) = items.next_element::<Spanned<Node>>()? {
            list.push(item);
        }
        Ok(Node::List(list))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Node, A::Error> {
        let mut map = Vec::new();
        while let Some(key) = entries.next_key::<Node>()? {
            let value = entries.next_value::<Spanned<Node>>()?;
            let key = match key {
                Node::Scalar(text) => text,
                Node::Null => "null".to_owned(),
                // A list or mapping as a key names no field of a Kubernetes object.
                Node::List(_) | Node::Map(_) => continue,
            };
            map.push((key, value));
        }
        Ok(Node::Map(map))
    }
}

#[cfg(test)]
mod tests;
