//! Rendering results as text or JSON. The only module that writes to the terminal.

use std::io::{IsTerminal as _, Write};
use std::sync::Arc;

use chiaro_registry::Progress;

use chiaro_attest::{Claims, Error};
use serde_json::{Value, json};

use crate::cli::OutputFormat;

/// Writes results in the chosen format.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Printer {
    format: OutputFormat,
}

impl Printer {
    pub(crate) fn new(format: OutputFormat) -> Self {
        Self { format }
    }

    /// A decoded piece of evidence.
    pub(crate) fn show(self, kind: &str, fields: &Value, notes: &[String]) {
        match self.format {
            OutputFormat::Json | OutputFormat::Yaml => {
                self.document(&json!({ "kind": kind, "fields": fields, "notes": notes }));
            }
            OutputFormat::Text => {
                let mut text = format!("{kind}\n");
                render(fields, 1, &mut text);
                for note in notes {
                    text.push_str(&format!("note: {note}\n"));
                }
                stdout(text.trim_end());
            }
        }
    }

    /// A verification result.
    pub(crate) fn verdict(self, result: &Result<Claims, Error>, notes: &[String]) {
        match (self.format, result) {
            (OutputFormat::Json | OutputFormat::Yaml, Ok(claims)) => {
                self.document(&json!({ "verdict": "verified", "claims": claims, "notes": notes }));
            }
            (OutputFormat::Json | OutputFormat::Yaml, Err(error)) => self.document(&json!({
                "verdict": error.kind(),
                "error": { "kind": error.kind(), "check": error.check(), "message": chain(error) },
                "notes": notes,
            })),
            (OutputFormat::Text, Ok(claims)) => {
                let mut text = String::from("verified\n");
                render(&json!(claims), 1, &mut text);
                for note in notes {
                    text.push_str(&format!("note: {note}\n"));
                }
                stdout(text.trim_end());
            }
            (OutputFormat::Text, Err(error)) => {
                let mut text = format!(
                    "{}: {}\n  check: {}\n",
                    error.kind(),
                    chain(error),
                    error.check()
                );
                for note in notes {
                    text.push_str(&format!("note: {note}\n"));
                }
                stdout(text.trim_end());
            }
        }
    }

    /// A command's result: `json` on stdout as one document, or `text` as it is.
    pub(crate) fn result(self, json: &Value, text: &str) {
        match self.format {
            OutputFormat::Json | OutputFormat::Yaml => self.document(json),
            OutputFormat::Text => stdout(text.trim_end()),
        }
    }

    /// One line of a narrated run, in text mode (JSON mode reports at the end).
    pub(crate) fn line(self, text: &str) {
        if self.format == OutputFormat::Text {
            stdout(text);
        }
    }

    /// A command's report when stdout carries its data (YAML): JSON or text on stderr.
    pub(crate) fn note(self, json: &Value, text: &str) {
        match self.format {
            OutputFormat::Json => stderr(&json.to_string()),
            OutputFormat::Yaml => stderr(yaml(json).trim_end()),
            OutputFormat::Text => stderr(text.trim_end()),
        }
    }

    /// Documents a command produces (`generate -`), as they are.
    pub(crate) fn yaml(self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
    }

    /// A progress bar on stderr while `what` goes on, when stderr is a terminal and the
    /// output is text; otherwise nothing.
    pub(crate) fn progress(self, what: &str) -> Arc<dyn Progress> {
        if self.format == OutputFormat::Text && std::io::stderr().is_terminal() {
            Arc::new(ProgressBar {
                what: what.to_owned(),
            })
        } else {
            Arc::new(())
        }
    }

    /// A usage or input error.
    pub(crate) fn input_error(self, error: &anyhow::Error) {
        self.error("input", error);
    }

    /// A failure that is not the input's: a registry that cannot be reached.
    pub(crate) fn network_error(self, error: &anyhow::Error) {
        self.error("network", error);
    }

    fn error(self, kind: &str, error: &anyhow::Error) {
        match self.format {
            OutputFormat::Json | OutputFormat::Yaml => self.document(&json!({ "verdict": "error", "error": { "kind": kind, "message": chiaro_pod::with_causes(error.as_ref()) } })),
            OutputFormat::Text => stderr(&format!("error: {}", chiaro_pod::with_causes(error.as_ref()))),
        }
    }
}

impl Printer {
    /// A structured result on stdout: one JSON document on one line, or one YAML document.
    fn document(self, value: &Value) {
        match self.format {
            OutputFormat::Yaml => stdout(yaml(value).trim_end()),
            OutputFormat::Json | OutputFormat::Text => stdout(&value.to_string()),
        }
    }
}

/// `value` as one YAML document, written as generate writes Kubernetes YAML (strings that YAML
/// 1.1 would read as booleans or numbers are quoted).
fn yaml(value: &Value) -> String {
    chiaro_k8s::new_documents("output", std::slice::from_ref(value))
        .unwrap_or_else(|error| format!("# cannot render YAML: {error}\n{value}"))
}

/// The error and its sources, outermost first.
fn chain(error: &Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Indented `key: value` lines of a JSON value.
fn render(value: &Value, depth: usize, out: &mut String) {
    let indent = "  ".repeat(depth);
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match value {
                    Value::Object(_) => {
                        out.push_str(&format!("{indent}{key}:\n"));
                        render(value, depth + 1, out);
                    }
                    Value::Array(items)
                        if items.iter().any(|item| item.is_object() || item.is_array()) =>
                    {
                        out.push_str(&format!("{indent}{key}:\n"));
                        render(value, depth + 1, out);
                    }
                    _ => out.push_str(&format!("{indent}{key}: {}\n", scalar(value))),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                out.push_str(&format!("{indent}-\n"));
                render(item, depth + 1, out);
            }
        }
        other => out.push_str(&format!("{indent}{}\n", scalar(other))),
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

/// A one-line bar redrawn in place: `resolving images [#####     ] 5/10 nginx:1.27`.
struct ProgressBar {
    what: String,
}

impl Progress for ProgressBar {
    fn finished(&self, item: &str, done: usize, total: usize) {
        const WIDTH: usize = 24;
        let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH);
        let line: String = format!(
            "\r{} [{}{}] {done}/{total} {item}",
            self.what,
            "#".repeat(filled),
            " ".repeat(WIDTH.saturating_sub(filled))
        )
        .chars()
        .take(100)
        .collect();
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{line:<100}");
        if done == total {
            let _ = writeln!(err);
        }
        let _ = err.flush();
    }
}

fn stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
}

fn stderr(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
}
