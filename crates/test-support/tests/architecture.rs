//! ARCHITECTURE.md's crate map agrees with the Cargo manifests: every workspace crate has a row
//! with its path, and the row's "depends on" column names exactly the crate's direct normal
//! dependencies among the workspace crates (text in parentheses is commentary and not counted).
#![expect(
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn toml_of(path: &Path) -> toml::Table {
    read(path)
        .parse()
        .unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// A workspace crate: its path and its direct workspace dependencies.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    path: String,
    depends_on: BTreeSet<String>,
}

fn package_name(manifest: &toml::Table) -> String {
    manifest["package"]["name"]
        .as_str()
        .expect("package.name is a string")
        .to_owned()
}

fn normal_dependencies(manifest: &toml::Table) -> BTreeSet<String> {
    let tables = std::iter::once(manifest.get("dependencies")).chain(
        manifest
            .get("target")
            .and_then(toml::Value::as_table)
            .into_iter()
            .flat_map(|targets| targets.values().map(|t| t.get("dependencies"))),
    );
    tables
        .flatten()
        .filter_map(toml::Value::as_table)
        .flat_map(|deps| deps.keys().cloned())
        .collect()
}

fn from_manifests(root: &Path) -> BTreeMap<String, Entry> {
    let workspace = toml_of(&root.join("Cargo.toml"));
    let members: Vec<(String, toml::Table)> = workspace["workspace"]["members"]
        .as_array()
        .expect("workspace.members is a list")
        .iter()
        .map(|m| m.as_str().expect("a member is a path").to_owned())
        .map(|m| {
            let manifest = toml_of(&root.join(&m).join("Cargo.toml"));
            (m, manifest)
        })
        .collect();
    let ours: BTreeSet<String> = members.iter().map(|(_, m)| package_name(m)).collect();
    members
        .into_iter()
        .map(|(path, manifest)| {
            let depends_on = normal_dependencies(&manifest)
                .intersection(&ours)
                .cloned()
                .collect();
            (package_name(&manifest), Entry { path, depends_on })
        })
        .collect()
}

/// Text with every parenthesised part (nested too) taken out.
fn without_parentheses(text: &str) -> String {
    let mut depth = 0usize;
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// The words in backticks.
fn quoted(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

fn from_architecture(text: &str) -> BTreeMap<String, Entry> {
    let section = text
        .split("## Crate map")
        .nth(1)
        .expect("ARCHITECTURE.md has a `## Crate map` section");
    section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .filter_map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let name = quoted(cells.get(1)?).into_iter().next()?;
            let path = quoted(cells.get(2)?).into_iter().next()?;
            let depends_on = quoted(&without_parentheses(cells.get(5)?))
                .into_iter()
                .filter(|d| d.starts_with("chiaro"))
                .collect();
            path.starts_with("crates/")
                .then_some((name, Entry { path, depends_on }))
        })
        .collect()
}

#[test]
fn the_crate_map_in_architecture_md_matches_the_cargo_manifests() {
    let root = workspace_root();
    let manifests = from_manifests(&root);
    let documented = from_architecture(&read(&root.join("ARCHITECTURE.md")));
    let mut disagreements = Vec::new();
    for (name, actual) in &manifests {
        match documented.get(name) {
            None => disagreements.push(format!("{name}: no row in the crate map")),
            Some(row) if row != actual => disagreements.push(format!(
                "{name}: the map says {row:?}, the manifests say {actual:?}"
            )),
            Some(_) => {}
        }
    }
    for name in documented.keys().filter(|n| !manifests.contains_key(*n)) {
        disagreements.push(format!(
            "{name}: in the crate map but not a workspace member"
        ));
    }
    assert!(
        disagreements.is_empty(),
        "ARCHITECTURE.md's crate map disagrees with the Cargo manifests:\n{}",
        disagreements.join("\n")
    );
}

#[test]
fn the_map_reader_counts_only_what_is_outside_parentheses() {
    let map = "## Crate map\n\n| crate | path | kind | holds | depends on |\n|---|---|---|---|---|\n\
               | `chiaro-a` | `crates/a` | lib | x | `chiaro-b` (and `chiaro-c` as commentary) |\n\
               | fuzz | `fuzz/` | outside | y | `chiaro-a` |\n";
    let rows = from_architecture(map);
    assert_eq!(
        rows.len(),
        1,
        "only rows under crates/ are crates: {rows:?}"
    );
    let row = &rows["chiaro-a"];
    assert_eq!(row.path, "crates/a");
    assert_eq!(row.depends_on, BTreeSet::from(["chiaro-b".to_owned()]));
}
