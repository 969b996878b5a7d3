//! What this machine remembers of a deployment (`--deployment FILE`): its id and the latest
//! transition `set`, `verify` or `recover` saw. A Coordinator that serves another deployment,
//! or a history that no longer contains the recorded transition (a rollback), is refused.

use std::path::Path;

use anyhow::Context;
use chiaro_manifest::{TransitionHash, VerifiedHistory};
use serde::{Deserialize, Serialize};

/// The record file's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeploymentRecord {
    /// The deployment id.
    pub(crate) deployment_id: String,
    /// The latest transition seen.
    pub(crate) latest_transition: String,
    /// How many steps the history had then.
    pub(crate) steps: usize,
}

/// How a history compares with the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Comparison {
    /// Nothing recorded yet.
    FirstContact,
    /// The recorded transition is in the history (at or before its end).
    Continues {
        /// Steps added since.
        new_steps: usize,
    },
    /// Another deployment.
    OtherDeployment {
        /// The recorded id.
        recorded: String,
    },
    /// The recorded transition is not in the history: it was rolled back or forked.
    RolledBack {
        /// The recorded latest transition.
        recorded: String,
        /// How many steps the record had.
        recorded_steps: usize,
    },
}

impl DeploymentRecord {
    /// The record of `history`.
    pub(crate) fn of(history: &VerifiedHistory) -> Self {
        Self {
            deployment_id: history.deployment().to_string(),
            latest_transition: history.latest_hash().to_string(),
            steps: history.steps().len(),
        }
    }

    /// Reads the record at `path`; `None` when there is none.
    pub(crate) fn read(path: &Path) -> anyhow::Result<Option<Self>> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).map(Some).with_context(|| {
                format!("the deployment record {} does not parse", path.display())
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Writes the record to `path`.
    pub(crate) fn write(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let text = serde_json::to_string_pretty(self).context("encoding the record")?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
    }

    /// How `history` compares with the record (`None`: nothing recorded).
    pub(crate) fn compare(record: Option<&Self>, history: &VerifiedHistory) -> Comparison {
        let Some(record) = record else {
            return Comparison::FirstContact;
        };
        if record.deployment_id != history.deployment().to_string() {
            return Comparison::OtherDeployment {
                recorded: record.deployment_id.clone(),
            };
        }
        let position = TransitionHash::from_hex(&record.latest_transition)
            .and_then(|recorded| history.position(&recorded));
        match position {
            Some(index) => Comparison::Continues {
                new_steps: history.steps().len() - index - 1,
            },
            None => Comparison::RolledBack {
                recorded: record.latest_transition.clone(),
                recorded_steps: record.steps,
            },
        }
    }
}
