//! Resolving images through registries: each image pinned by digest, with its configuration.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use chiaro_policy::{ImagePin, pin_images};
use chiaro_registry::{BlobCache, ClientOptions, DockerConfig, RegistryClient};

use crate::cli::RegistryArgs;
use crate::commands::coordinator_client::runtime;
use crate::commands::registry_source::RegistrySource;
use crate::output::Printer;

/// Resolves every image, all failures reported together.
pub(crate) fn resolve(
    args: &RegistryArgs,
    images: &[String],
    printer: Printer,
) -> anyhow::Result<BTreeMap<String, ImagePin>> {
    let mut mirrors = BTreeMap::new();
    for mirror in &args.registry_mirror {
        let (from, to) = mirror
            .split_once('=')
            .filter(|(from, to)| !from.is_empty() && !to.is_empty())
            .ok_or_else(|| anyhow!("--registry-mirror {mirror:?}: expected REGISTRY=MIRROR"))?;
        mirrors.insert(from.to_owned(), to.to_owned());
    }
    let docker_config = match docker_config_path(args.docker_config.as_deref()) {
        Some(path) if path.is_file() => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            DockerConfig::parse(&path.display().to_string(), &text)?
        }
        Some(path) if args.docker_config.is_some() => {
            bail!("--docker-config {}: no such file", path.display())
        }
        _ => DockerConfig::default(),
    };
    let cache = args
        .cache_dir
        .clone()
        .or_else(default_cache_dir)
        .map(|dir| BlobCache::new(dir.join("registry")));
    let client = Arc::new(RegistryClient::new(ClientOptions {
        insecure: args.insecure_registry.iter().cloned().collect(),
        mirrors,
        docker_config,
        cache,
        ..ClientOptions::default()
    })?);
    let runtime = runtime()?;
    let source = RegistrySource {
        client,
        runtime: &runtime,
        progress: printer.progress("resolving images"),
    };
    pin_images(&source, images).map_err(|failures| {
        let lines: Vec<String> = failures
            .iter()
            .map(|failure| format!("  {}: {}", failure.image, failure.error))
            .collect();
        anyhow!(
            "{} of {} images could not be resolved:\n{}",
            failures.len(),
            images.len(),
            lines.join("\n")
        )
    })
}

fn docker_config_path(given: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = given {
        return Some(path.to_owned());
    }
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    home().map(|home| home.join(".docker").join("config.json"))
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .map(PathBuf::from)
}

/// The user's cache directory for Chiaro: `$XDG_CACHE_HOME/chiaro`, `~/.cache/chiaro`,
/// `~/Library/Caches/chiaro` on macOS, `%LOCALAPPDATA%\chiaro\cache` on Windows.
fn default_cache_dir() -> Option<PathBuf> {
    if cfg!(windows) {
        return std::env::var_os("LOCALAPPDATA")
            .map(|d| PathBuf::from(d).join("chiaro").join("cache"));
    }
    if cfg!(target_os = "macos") {
        return home().map(|h| h.join("Library").join("Caches").join("chiaro"));
    }
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(".cache")))
        .map(|d| d.join("chiaro"))
}
