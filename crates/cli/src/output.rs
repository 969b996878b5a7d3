//! Rendering results as text or JSON. The only module that writes to the terminal.

use std::io::Write;

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
            OutputFormat::Json => {
                stdout(&json!({ "kind": kind, "fields": fields, "notes": notes }).to_string());
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
            (OutputFormat::Json, Ok(claims)) => {
                stdout(&json!({ "verdict": "verified", "claims": claims, "notes": notes }).to_string());
            }
            (OutputFormat::Json, Err(error)) => stdout(
                &json!({
                    "verdict": error.kind(),
                    "error": { "kind": error.kind(), "check": error.check(), "message": chain(error) },
                    "notes": notes,
                })
                .to_string(),
            ),
            (OutputFormat::Text, Ok(claims)) => {
                let mut text = String::from("verified\n");
                render(&json!(claims), 1, &mut text);
                for note in notes {
                    text.push_str(&format!("note: {note}\n"));
                }
                stdout(text.trim_end());
            }
            (OutputFormat::Text, Err(error)) => {
                let mut text = format!("{}: {}\n  check: {}\n", error.kind(), chain(error), error.check());
                for note in notes {
                    text.push_str(&format!("note: {note}\n"));
                }
                stdout(text.trim_end());
            }
        }
    }

    /// A usage or input error.
    pub(crate) fn input_error(self, error: &anyhow::Error) {
        match self.format {
            OutputFormat::Json => stdout(&json!({ "verdict": "error", "error": { "kind": "input", "message": format!("{error:#}") } }).to_string()),
            OutputFormat::Text => stderr(&format!("error: {error:#}")),
        }
    }
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

fn stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
}

fn stderr(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
}
