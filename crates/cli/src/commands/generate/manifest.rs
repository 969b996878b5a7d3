//! `manifest.json` around generation: what generate needs of the current one, and the new one
//! with the generated entries. Every manifest the CLI writes goes through
//! [`ManifestDraft`], the one writer of the schema.

use std::path::Path;

use anyhow::Context;
use chiaro_manifest::{
    DeploymentAnchor, DraftReferenceValues, ManifestDraft, PolicyEntry, ReferenceValueSets, Role,
};
use chiaro_policy::{Anchor, CoordinatorEntry, ExistingManifest, GeneratedEntry};

/// The current `manifest.json`, if there is one (complete or not).
pub(crate) fn read(path: &Path) -> anyhow::Result<Option<ManifestDraft>> {
    match std::fs::read_to_string(path) {
        Ok(text) => ManifestDraft::parse(&text)
            .map(Some)
            .with_context(|| format!("{} is not a manifest", path.display())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
}

/// The manifest at `path` as it is (a skeleton when there is none yet only if `reference` is
/// given), with `reference`'s values in it when given.
pub(crate) fn with_reference(
    path: &Path,
    reference: Option<&Path>,
) -> anyhow::Result<Option<ManifestDraft>> {
    let draft = read(path)?;
    let Some(reference) = reference else {
        return Ok(draft);
    };
    let values = read_reference(reference)?;
    Ok(Some(
        draft
            .unwrap_or_else(ManifestDraft::skeleton)
            .with_reference_values(values),
    ))
}

/// Reference values from a file (validated as in a manifest), for the draft.
pub(crate) fn read_reference(path: &Path) -> anyhow::Result<DraftReferenceValues> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading reference values {}", path.display()))?;
    ReferenceValueSets::parse(&text)
        .with_context(|| format!("reference values {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("reference values {}", path.display()))
}

/// What generation needs of the current manifest: the deployment anchor its pods pin (or why
/// there is none) and its Coordinator entries.
pub(crate) fn existing(draft: Option<&ManifestDraft>) -> ExistingManifest {
    let Some(draft) = draft else {
        return ExistingManifest::default();
    };
    let anchor = draft
        .validate()
        .and_then(|manifest| DeploymentAnchor::of_manifest(&manifest));
    ExistingManifest {
        anchor: match anchor {
            Ok(anchor) => Anchor::Pinned(anchor.to_json()),
            Err(reason) => Anchor::Missing(reason.to_string()),
        },
        coordinator_entries: draft
            .coordinator_entries()
            .map(|(hash, entry)| CoordinatorEntry {
                hash: hash.to_owned(),
                sans: entry.sans.clone(),
            })
            .collect(),
    }
}

/// The manifest with the workload entries replaced by the generated ones (Coordinator
/// entries and every other field kept); a skeleton when there was none.
pub(crate) fn updated(draft: Option<ManifestDraft>, generated: &[GeneratedEntry]) -> ManifestDraft {
    draft
        .unwrap_or_else(ManifestDraft::skeleton)
        .with_workload_policies(generated.iter().map(|entry| {
            (
                entry.hash,
                PolicyEntry {
                    sans: entry.sans.clone(),
                    role: Role::Workload,
                    workload_secret_id: Some(entry.workload_secret_id.clone()),
                },
            )
        }))
}
