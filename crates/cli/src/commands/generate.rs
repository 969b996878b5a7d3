//! `chiaro generate`: reads the user's YAML, resolves images, rewrites the workloads and the
//! manifest (the pure work is `chiaro_policy::generate_deployment`; this is the I/O around it).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use chiaro_policy::{
    DeploymentOptions, GenerateOptions, ImagePin, SourceFile, generate_deployment,
    images_to_resolve, pin_images,
};
use chiaro_registry::{BlobCache, ClientOptions, DockerConfig, RegistryClient};
use serde_json::{Value, json};

use crate::cli::{GenerateArgs, RegistryArgs};
use crate::commands::coordinator_client::runtime;
use crate::commands::registry_source::RegistrySource;
use crate::exit::Outcome;
use crate::output::Printer;

/// The name `-` stands for.
const STDIN: &str = "-";

pub(crate) fn run(args: &GenerateArgs, printer: Printer) -> anyhow::Result<Outcome> {
    let files = read_inputs(&args.paths)?;
    let to_stdout = files.iter().any(|file| file.name == STDIN);
    let options = DeploymentOptions {
        all_workloads: args.all,
        runtime_class: args.runtime_class.clone(),
        initializer_image: args.initializer_image.clone(),
        mesh_image: args.mesh_image.clone(),
        coordinator: args.coordinator_address.clone(),
        policy: GenerateOptions {
            pin_secret_values: !args.no_pin_secrets,
            ..GenerateOptions::default()
        },
    };
    let mut manifest = read_manifest(&args.manifest)?;
    if let Some(path) = &args.reference {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading reference values {}", path.display()))?;
        chiaro_manifest::ReferenceValueSets::parse(&text)
            .with_context(|| format!("reference values {}", path.display()))?;
        let reference: Value = serde_json::from_str(&text)
            .with_context(|| format!("reference values {}", path.display()))?;
        let object = manifest.get_or_insert_with(|| json!({"version": 1, "policies": {}}));
        if let Some(object) = object.as_object_mut() {
            object.insert("reference_values".to_owned(), reference);
        }
    }

    let images = images_to_resolve(&files, &options)?;
    let pins = resolve(&args.registry, &images, printer)?;
    let generated = generate_deployment(&files, &pins, manifest.as_ref(), &options)?;

    let mut written = Vec::new();
    for (before, after) in files.iter().zip(&generated.files) {
        if after.name == STDIN {
            printer.yaml(&after.text);
        } else if after.text != before.text {
            write_atomically(Path::new(&after.name), after.text.as_bytes())?;
            written.push(after.name.clone());
        }
    }
    let manifest_text = serde_json::to_string_pretty(&generated.manifest)? + "\n";
    let old_manifest = std::fs::read_to_string(&args.manifest).ok();
    if old_manifest.as_deref() != Some(manifest_text.as_str()) {
        write_atomically(&args.manifest, manifest_text.as_bytes())?;
        written.push(args.manifest.display().to_string());
    }
    let mut warnings = generated.warnings.clone();
    if let Err(error) = chiaro_manifest::Manifest::parse(&manifest_text) {
        warnings.push(format!(
            "{} is not complete yet ({error}); `chiaro set` refuses it until it is",
            args.manifest.display()
        ));
    }
    if generated
        .workloads
        .iter()
        .any(|w| !w.pinned_secrets.is_empty())
    {
        warnings.push(
            "values from Secrets are pinned in policies: anyone who can read these pods' annotations can read them (--no-pin-secrets leaves them out; confidential values belong in workload secrets)".to_owned(),
        );
    }

    let summary = json!({
        "workloads": generated.workloads,
        "written": written,
        "warnings": warnings,
    });
    let mut text = String::new();
    for workload in &generated.workloads {
        text.push_str(&format!(
            "{} {} {}/{}",
            workload.at, workload.kind, workload.namespace, workload.name
        ));
        match (&workload.skipped, &workload.policy_hash) {
            (Some(reason), _) => text.push_str(&format!(": skipped, {reason}\n")),
            (None, Some(hash)) => {
                text.push_str(&format!(": policy {hash}\n"));
                text.push_str(&format!("  sans: {}\n", workload.sans.join(", ")));
                for (container, image) in &workload.images {
                    text.push_str(&format!("  {container}: {image}\n"));
                }
                for secret in &workload.pinned_secrets {
                    text.push_str(&format!("  secret value pinned: {secret}\n"));
                }
            }
            (None, None) => text.push('\n'),
        }
    }
    if !written.is_empty() {
        text.push_str(&format!("wrote {}\n", written.join(", ")));
    } else if !to_stdout {
        text.push_str("nothing changed\n");
    }
    for warning in &warnings {
        text.push_str(&format!("warning: {warning}\n"));
    }
    if to_stdout {
        printer.note(&summary, &text);
    } else {
        printer.result(&summary, &text);
    }
    Ok(Outcome::Verified)
}

/// The files named, directories expanded to their `*.yaml`/`*.yml` files (sorted, not
/// recursive, as `kubectl apply -f DIR`), `-` read from standard input.
pub(crate) fn read_inputs(paths: &[PathBuf]) -> anyhow::Result<Vec<SourceFile>> {
    let mut names = Vec::new();
    for path in paths {
        if path.as_os_str() == STDIN {
            names.push(PathBuf::from(STDIN));
        } else if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("reading directory {}", path.display()))?
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
                .collect();
            if found.is_empty() {
                bail!("{}: no *.yaml or *.yml files in it", path.display());
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

fn read_manifest(path: &Path) -> anyhow::Result<Option<Value>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let value: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", path.display()))?;
            if !value.is_object() {
                bail!("{}: expected a JSON object", path.display());
            }
            Ok(Some(value))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
}

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

/// Writes `path` through a temporary file renamed into place, so a reader never sees half.
fn write_atomically(path: &Path, content: &[u8]) -> anyhow::Result<()> {
    chiaro_atomic_file::write(path, content, chiaro_atomic_file::Mode::PUBLIC)
        .with_context(|| format!("writing {}", path.display()))
}
