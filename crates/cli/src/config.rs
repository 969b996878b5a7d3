//! `chiaro.toml`: what a user would otherwise repeat on every command (the Coordinator, its
//! reference values, the deployment record, the keys, the registry options). Its values become
//! the flags' defaults, so a flag on the command line overrides them, and `--help` shows them.
//!
//! Where it is: `--config FILE`, else `$CHIARO_CONFIG`, else `chiaro.toml` in the current
//! directory when there is one. Relative paths in it are relative to the file's directory.
//! `chiaro version` takes nothing from it (it would otherwise ask the Coordinator every time).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Deserialize;

/// The file looked for in the current directory.
pub(crate) const DEFAULT_FILE: &str = "chiaro.toml";
/// The environment variable naming the file.
pub(crate) const ENV: &str = "CHIARO_CONFIG";

/// The file's content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    /// `-c/--coordinator`.
    pub(crate) coordinator: Option<String>,
    /// `--coordinator-reference`.
    pub(crate) coordinator_reference: Option<PathBuf>,
    /// `--deployment`.
    pub(crate) deployment: Option<PathBuf>,
    /// `--workload-owner-key`.
    pub(crate) workload_owner_key: Option<PathBuf>,
    /// `--seed-share-owner-key`.
    pub(crate) seed_share_owner_key: Option<PathBuf>,
    /// The registry options of `generate` and `install`.
    #[serde(default)]
    pub(crate) registry: RegistryConfig,
}

/// `[registry]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegistryConfig {
    /// `--insecure-registry`, each.
    #[serde(default)]
    pub(crate) insecure_registry: Vec<String>,
    /// `--registry-mirror`, each.
    #[serde(default)]
    pub(crate) registry_mirror: Vec<String>,
    /// `--docker-config`.
    pub(crate) docker_config: Option<PathBuf>,
    /// `--cache-dir`.
    pub(crate) cache_dir: Option<PathBuf>,
}

/// Why the file is refused.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub(crate) struct ConfigError {
    file: String,
    line: usize,
    column: usize,
    message: String,
}

impl Config {
    /// Parses `text` (the file `file`); an error names the file, line and column.
    pub(crate) fn parse(file: &str, text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|error| {
            let offset = error.span().map_or(0, |span| span.start);
            let before = text.get(..offset).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            ConfigError {
                file: file.to_owned(),
                line,
                column,
                message: error.message().to_owned(),
            }
        })
    }

    /// The same, with relative paths made relative to `dir` (the file's directory).
    fn relative_to(mut self, dir: &Path) -> Self {
        let fix = |path: &mut Option<PathBuf>| {
            if let Some(path) = path.as_mut().filter(|path| path.is_relative()) {
                *path = dir.join(&*path);
            }
        };
        fix(&mut self.coordinator_reference);
        fix(&mut self.deployment);
        fix(&mut self.workload_owner_key);
        fix(&mut self.seed_share_owner_key);
        fix(&mut self.registry.docker_config);
        fix(&mut self.registry.cache_dir);
        self
    }

    /// Each flag's id (the field name clap gives it) and its values from this file.
    fn defaults(&self) -> Vec<(&'static str, Vec<String>)> {
        let path = |path: &Option<PathBuf>| path.iter().map(|p| p.display().to_string()).collect();
        vec![
            ("coordinator", self.coordinator.iter().cloned().collect()),
            ("coordinator_reference", path(&self.coordinator_reference)),
            ("deployment", path(&self.deployment)),
            ("workload_owner_key", path(&self.workload_owner_key)),
            ("seed_share_owner_key", path(&self.seed_share_owner_key)),
            ("insecure_registry", self.registry.insecure_registry.clone()),
            ("registry_mirror", self.registry.registry_mirror.clone()),
            ("docker_config", path(&self.registry.docker_config)),
            ("cache_dir", path(&self.registry.cache_dir)),
        ]
    }

    /// `command` with this file's values as its flags' defaults, in every subcommand but
    /// `version`.
    pub(crate) fn apply(&self, command: clap::Command) -> clap::Command {
        let defaults: Vec<(&'static str, Vec<&'static str>)> = self
            .defaults()
            .into_iter()
            .filter(|(_, values)| !values.is_empty())
            // clap keeps defaults for the program's life: leaked once, at start.
            .map(|(id, values)| (id, values.into_iter().map(|v| &*v.leak()).collect()))
            .collect();
        with_defaults(command, &defaults)
    }
}

fn with_defaults(
    mut command: clap::Command,
    defaults: &[(&'static str, Vec<&'static str>)],
) -> clap::Command {
    if command.get_name() == "version" {
        return command;
    }
    for (id, values) in defaults {
        if command.get_arguments().any(|arg| arg.get_id() == id) {
            let values = values.clone();
            command = command.mut_arg(*id, move |arg| arg.required(false).default_values(values));
        }
    }
    let names: Vec<String> = command
        .get_subcommands()
        .map(|sub| sub.get_name().to_owned())
        .collect();
    for name in names {
        command = command.mut_subcommand(name, |sub| with_defaults(sub, defaults));
    }
    command
}

/// The config file for `args` (the command line), read: `--config FILE`, `$CHIARO_CONFIG`, or
/// `chiaro.toml` here; none when none is named and there is none here.
pub(crate) fn load(args: &[OsString]) -> anyhow::Result<Option<Config>> {
    let named = args
        .iter()
        .position(|arg| arg == "--config")
        .and_then(|at| args.get(at + 1))
        .map(PathBuf::from)
        .or_else(|| {
            args.iter()
                .find_map(|arg| arg.to_str()?.strip_prefix("--config=").map(PathBuf::from))
        })
        .or_else(|| std::env::var_os(ENV).map(PathBuf::from));
    let path = match named {
        Some(path) => path,
        None if Path::new(DEFAULT_FILE).is_file() => PathBuf::from(DEFAULT_FILE),
        None => return Ok(None),
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading the config file {}", path.display()))?;
    let config = Config::parse(&path.display().to_string(), &text)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    Ok(Some(config.relative_to(dir)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_reads_and_its_errors_name_line_and_column() {
        let config = Config::parse(
            "chiaro.toml",
            "coordinator = \"c:1313\"\n[registry]\ninsecure_registry = [\"r:5000\"]\n",
        )
        .unwrap();
        assert_eq!(config.coordinator.as_deref(), Some("c:1313"));
        assert_eq!(config.registry.insecure_registry, ["r:5000"]);
        let error = Config::parse("chiaro.toml", "coordinator = \"c\"\ncoordinater = 1\n")
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("chiaro.toml:2:1: "), "{error}");
        assert!(error.contains("coordinater"), "{error}");
        let error = Config::parse("x.toml", "[registry]\ncache_dir = 3\n")
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("x.toml:2:13: "), "{error}");
    }

    #[test]
    fn relative_paths_are_the_files() {
        let config = Config::parse(
            "c",
            "deployment = \"d.json\"\nworkload_owner_key = \"/k.pem\"\n",
        )
        .unwrap()
        .relative_to(Path::new("/etc/chiaro"));
        assert_eq!(config.deployment, Some(PathBuf::from("/etc/chiaro/d.json")));
        assert_eq!(config.workload_owner_key, Some(PathBuf::from("/k.pem")));
    }
}
