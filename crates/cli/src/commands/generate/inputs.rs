//! The YAML files `generate` reads: files, directories of them, or standard input.

use std::collections::BTreeSet;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chiaro_policy::SourceFile;

use super::STDIN;

/// The files named, directories expanded to their `*.yaml`/`*.yml`/`*.json` files (sorted,
/// not recursive, as `kubectl apply -f DIR`; the manifest generate writes, `manifest`, left
/// out), `-` read from standard input.
pub(crate) fn read_inputs(
    paths: &[PathBuf],
    manifest: Option<&Path>,
) -> anyhow::Result<Vec<SourceFile>> {
    let manifest = manifest.and_then(|path| path.canonicalize().ok());
    let mut names = Vec::new();
    for path in paths {
        if path.as_os_str() == STDIN {
            names.push(PathBuf::from(STDIN));
        } else if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("reading directory {}", path.display()))?
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|p| {
                    p.is_file()
                        && p.extension()
                            .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
                        && (manifest.is_none() || p.canonicalize().ok() != manifest)
                })
                .collect();
            if found.is_empty() {
                bail!("{}: no *.yaml, *.yml or *.json files in it", path.display());
            }
            found.sort();
            names.extend(found);
        } else {
            names.push(path.clone());
        }
    }
    let mut seen = BTreeSet::new();
    let mut files = Vec::new();
    for name in names {
        if !seen.insert(name.clone()) {
            continue;
        }
        let text = if name.as_os_str() == STDIN {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading standard input")?;
            text
        } else {
            std::fs::read_to_string(&name).with_context(|| format!("reading {}", name.display()))?
        };
        files.push(SourceFile {
            name: name.display().to_string(),
            text,
        });
    }
    if files.iter().filter(|f| f.name == STDIN).count() > 0 && files.len() > 1 {
        bail!("`-` (standard input) cannot be combined with files");
    }
    Ok(files)
}
