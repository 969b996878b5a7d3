//! Kernel parameters as the runtime models them (`virtcontainers.Param`), read from a
//! `kernel_params` string and printed back.
//!
//! Go sources: `virtcontainers/hypervisor.go` `KernelParamFields`, `DeserializeParams`,
//! `SerializeParams`, `HypervisorConfig.AddKernelParam`.

use crate::Error;

/// One kernel parameter: `key=value`, or `key` alone when the value is empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Param {
    /// The key (never empty).
    pub(crate) key: String,
    /// The value; empty prints the key alone.
    pub(crate) value: String,
}

impl Param {
    /// A parameter from its key and value.
    pub(crate) fn new(key: &str, value: &str) -> Self {
        Self {
            key: key.to_owned(),
            value: value.to_owned(),
        }
    }

    /// `SerializeParams(params, "=")` for this parameter: `key` when the value is empty (so
    /// `foo=` prints as `foo`), else `key=value`. (A parameter with both empty is skipped by Go;
    /// a key is never empty here.)
    pub(crate) fn serialize(&self, out: &mut String) {
        out.push_str(&self.key);
        if !self.value.is_empty() {
            out.push('=');
            out.push_str(&self.value);
        }
    }
}

/// `KernelParamFields`: split on a space that is not inside double quotes (quotes toggle on
/// every `"`, so an unbalanced quote runs to the end), trim every field of Unicode white space
/// (Go's `strings.TrimSpace`, the same set as Rust's `char::is_whitespace`) and drop empty ones.
/// Only U+0020 splits: a tab inside a field stays in it.
pub(crate) fn kernel_param_fields(s: &str) -> Vec<&str> {
    let mut fields = Vec::new();
    let mut start = 0;
    let mut in_quote = false;
    for (current, c) in s.char_indices() {
        if c == '"' {
            in_quote = !in_quote;
        } else if c == ' ' && !in_quote {
            let field = s.get(start..current).unwrap_or("").trim();
            if !field.is_empty() {
                fields.push(field);
            }
            start = current + 1;
        }
    }
    let field = s.get(start..).unwrap_or("").trim();
    if !field.is_empty() {
        fields.push(field);
    }
    fields
}

/// `DeserializeParams(KernelParamFields(s))` then `AddKernelParam` on each: the key is what
/// precedes the first `=`, the value the rest (quotes are kept as written); no `=` gives an
/// empty value. An empty key is the runtime's "Empty kernel parameter" error. Duplicates are
/// kept, in order: the runtime never removes one (the guest kernel honours the last).
pub(crate) fn parse_kernel_params(s: &str) -> Result<Vec<Param>, Error> {
    kernel_param_fields(s)
        .into_iter()
        .map(|field| {
            let (key, value) = field.split_once('=').unwrap_or((field, ""));
            if key.is_empty() {
                return Err(Error::EmptyKernelParam {
                    param: field.to_owned(),
                });
            }
            Ok(Param::new(key, value))
        })
        .collect()
}

/// `strings.Join(SerializeParams(params, "="), " ")`.
pub(crate) fn serialize(params: &[Param]) -> String {
    let mut out = String::new();
    for (index, param) in params.iter().enumerate() {
        if index != 0 {
            out.push(' ');
        }
        param.serialize(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{kernel_param_fields, parse_kernel_params, serialize};

    #[test]
    fn fields_split_on_unquoted_spaces_only() {
        assert_eq!(
            kernel_param_fields("  a b\tc  d=\"x y\" e"),
            ["a", "b\tc", "d=\"x y\"", "e"]
        );
        assert_eq!(kernel_param_fields("a=\"x y"), ["a=\"x y"]);
        assert!(kernel_param_fields("   ").is_empty());
    }

    #[test]
    fn an_empty_value_prints_the_key_alone() {
        let params = parse_kernel_params("a= b=c=d e").unwrap();
        assert_eq!(serialize(&params), "a b=c=d e");
    }

    #[test]
    fn an_empty_key_is_refused() {
        assert!(parse_kernel_params("a =b").is_err());
    }
}
