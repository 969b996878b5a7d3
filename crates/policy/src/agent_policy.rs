//! A pod's policy text: Chiaro's rules followed by the pod's `policy_data`.

use crate::data::PolicyData;
use crate::error::PolicyError;

/// Chiaro's Rego rules, the same for every pod.
pub const RULES: &str = include_str!("rules.rego");

const DATA_MARKER: &str = "\npolicy_data := ";

/// The Rego module the Kata agent enforces for one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentPolicy {
    text: String,
}

impl AgentPolicy {
    /// The rules with `data`.
    pub fn new(data: &PolicyData) -> Result<Self, PolicyError> {
        let json = serde_json::to_string_pretty(data).map_err(PolicyError::PolicyData)?;
        Ok(Self {
            text: format!("{RULES}{DATA_MARKER}{json}\n"),
        })
    }

    /// Wraps policy text from elsewhere (an initdata annotation, a file).
    pub fn from_text(text: &str) -> Self {
        Self {
            text: text.to_owned(),
        }
    }

    /// The Rego text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The pod's data, if the text is a Chiaro policy (rules followed by `policy_data`).
    pub fn data(&self) -> Option<PolicyData> {
        let (_, json) = self.text.rsplit_once(DATA_MARKER)?;
        serde_json::from_str(json).ok()
    }

    /// Whether the rules are exactly this version's rules.
    pub fn has_current_rules(&self) -> bool {
        self.text
            .rsplit_once(DATA_MARKER)
            .is_some_and(|(rules, _)| rules == RULES)
    }
}
