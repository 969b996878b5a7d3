//! Resolving images through registries: each image pinned by digest, with its configuration.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use chiaro_policy::{ImagePin, Unpinned, pin_images};
use chiaro_registry::{BlobCache, ClientOptions, DockerConfig, RegistryClient, RegistryError};

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
        offline: args.offline,
        ..ClientOptions::default()
    })?);
    let runtime = runtime()?;
    let source = RegistrySource {
        client,
        runtime: &runtime,
        progress: printer.progress("resolving images"),
    };
    pin_images(&source, images).map_err(|failures| {
        anyhow::Error::new(UnresolvedImages {
            failures,
            total: images.len(),
        })
    })
}

/// The images that could not be resolved, each with why.
#[derive(Debug)]
pub(crate) struct UnresolvedImages {
    failures: Vec<Unpinned<RegistryError>>,
    total: usize,
}

impl UnresolvedImages {
    /// The registries that could not be reached: a network failure, which a mirror or the
    /// cache may get around, not bad input.
    pub(crate) fn unreachable_hosts(&self) -> BTreeSet<&str> {
        self.failures
            .iter()
            .filter_map(|failure| failure.error.unreachable_host())
            .collect()
    }
}

impl std::error::Error for UnresolvedImages {}

impl fmt::Display for UnresolvedImages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of {} images could not be resolved:",
            self.failures.len(),
            self.total
        )?;
        for failure in &self.failures {
            write!(
                f,
                "\n  {}: {}",
                failure.image,
                chiaro_pod::with_causes(&failure.error)
            )?;
        }
        let hosts = self.unreachable_hosts();
        if !hosts.is_empty() {
            let hosts: Vec<&str> = hosts.into_iter().collect();
            write!(
                f,
                "\n{} could not be reached from here: name a mirror that can be \
                 (--registry-mirror REGISTRY=MIRROR), or, when every image is pinned by digest \
                 and an earlier run filled the cache (--cache-dir DIR), pass --offline",
                hosts.join(", ")
            )?;
        }
        Ok(())
    }
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
