//! Evaluating agent requests against a policy as the Kata agent does: the same query
//! (`data.agent_policy.<Request>`), the same result forms, the same policy-state updates
//! (JSON-Patch ops applied to `data.pstate`), plus the reasons for a denial.

use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

use regorus::utils::limits::ExecutionTimerConfig;
use regorus::{Engine, PolicyLengthConfig, Value};

use crate::agent_policy::AgentPolicy;
use crate::error::{EngineError, PolicyError, RequestError, StateError};

/// Evaluation time limit per request; a policy that takes longer is refused (deny).
const EVALUATION_LIMIT: Duration = Duration::from_secs(2);

/// The outcome for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the agent would allow it.
    pub allowed: bool,
    /// For a denial: each violated rule as `rule: field: reason`. Empty when allowed, or when the
    /// request kind has no explained rule (refused by default).
    pub denials: Vec<String>,
    /// What the policy printed.
    pub prints: Vec<String>,
}

/// A policy loaded into regorus, with its state.
#[derive(Debug)]
pub struct Evaluator {
    engine: Engine,
}

impl Evaluator {
    /// Loads `policy` with empty state, with the length limits raised (generated policies have
    /// long lines) and a time limit per evaluation.
    pub fn new(policy: &AgentPolicy) -> Result<Self, PolicyError> {
        let mut engine = Engine::new();
        engine.set_strict_builtin_errors(false);
        engine.set_gather_prints(true);
        let (Some(max_col), Some(max_file_bytes), Some(max_lines), Some(check_interval)) = (
            NonZeroU32::new(64 * 1024),
            NonZeroUsize::new(16 * 1024 * 1024),
            NonZeroUsize::new(200_000),
            NonZeroU32::new(64),
        ) else {
            return Err(PolicyError::Rego(EngineError::from_engine(
                "limits must be non-zero",
            )));
        };
        engine.set_policy_length_config(PolicyLengthConfig {
            max_col,
            max_file_bytes,
            max_lines,
        });
        engine.set_execution_timer_config(ExecutionTimerConfig {
            limit: EVALUATION_LIMIT,
            check_interval,
        });
        engine
            .add_policy("policy.rego".to_owned(), policy.text().to_owned())
            .map_err(|error| PolicyError::Rego(EngineError::from_engine(error)))?;
        let mut evaluator = Self { engine };
        evaluator.set_state(serde_json::json!({}))?;
        Ok(evaluator)
    }

    /// Replaces the policy state (`data.pstate`).
    pub fn set_state(&mut self, state: serde_json::Value) -> Result<(), PolicyError> {
        self.engine.clear_data();
        let engine =
            |error| PolicyError::State(StateError::Engine(EngineError::from_engine(error)));
        let data = Value::from_json_str(&serde_json::json!({ "pstate": state }).to_string())
            .map_err(engine)?;
        self.engine.add_data(data).map_err(engine)
    }

    /// The policy state (`data.pstate`).
    pub fn state(&self) -> serde_json::Value {
        let data = serde_json::to_value(self.engine.get_data()).unwrap_or_default();
        data.get("pstate").cloned().unwrap_or_default()
    }

    /// Evaluates `request` (the JSON the agent receives) as a `kind` request, e.g.
    /// `CreateContainerRequest`, and applies the state ops of an allowed request.
    pub fn evaluate(
        &mut self,
        kind: &str,
        request: &serde_json::Value,
    ) -> Result<Decision, PolicyError> {
        let valid_kind = kind.ends_with("Request")
            && kind.len() > "Request".len()
            && kind.chars().all(|c| c.is_ascii_alphanumeric())
            && kind.starts_with(|c: char| c.is_ascii_uppercase());
        if !valid_kind {
            return Err(PolicyError::Request(RequestError::Kind {
                kind: kind.to_owned(),
            }));
        }
        if !request.is_object() {
            return Err(PolicyError::Request(RequestError::NotAnObject));
        }
        self.engine
            .set_input_json(&request.to_string())
            .map_err(|error| {
                PolicyError::Request(RequestError::Input(EngineError::from_engine(error)))
            })?;
        let results = self
            .engine
            .eval_query(format!("data.agent_policy.{kind}"), false);
        let prints = self.engine.take_prints().unwrap_or_default();
        // The agent refuses a request whose rule does not evaluate to exactly one value.
        let value = if let Ok(results) = &results
            && let [result] = results.result.as_slice()
            && let [expression] = result.expressions.as_slice()
        {
            expression.value.clone()
        } else {
            Value::Undefined
        };
        let allowed = match &value {
            Value::Bool(allowed) => *allowed,
            Value::Object(_) => {
                let response = serde_json::to_value(&value)
                    .map_err(|error| PolicyError::State(StateError::Response(error)))?;
                let allowed = response.get("allowed") == Some(&serde_json::Value::Bool(true));
                if allowed && let Some(ops) = response.get("ops") {
                    self.apply_ops(ops)?;
                }
                allowed
            }
            _ => false,
        };
        let denials = if allowed {
            Vec::new()
        } else {
            self.denials(kind)
        };
        Ok(Decision {
            allowed,
            denials,
            prints,
        })
    }

    /// The agent applies ops to the whole data document, `{"pstate": …}`.
    fn apply_ops(&mut self, ops: &serde_json::Value) -> Result<(), PolicyError> {
        let patch: json_patch::Patch = serde_json::from_value(ops.clone())
            .map_err(|error| PolicyError::State(StateError::Ops(error)))?;
        let mut data = serde_json::json!({ "pstate": self.state() });
        json_patch::patch(&mut data, &patch)
            .map_err(|error| PolicyError::State(StateError::Apply(error)))?;
        let state = data.get("pstate").cloned().unwrap_or_default();
        self.set_state(state)
    }

    /// `<snake_case kind>_denials`, e.g. `create_container_denials`.
    fn denials(&mut self, kind: &str) -> Vec<String> {
        let name = snake_case(kind.trim_end_matches("Request"));
        let Ok(value) = self
            .engine
            .eval_rule(format!("data.agent_policy.{name}_denials"))
        else {
            return Vec::new();
        };
        let _ = self.engine.take_prints();
        match serde_json::to_value(&value) {
            Ok(serde_json::Value::Array(items)) => items
                .into_iter()
                .filter_map(|item| item.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    }
}

fn snake_case(camel: &str) -> String {
    let chars: Vec<char> = camel.chars().collect();
    let mut snake = String::new();
    for (index, c) in chars.iter().enumerate() {
        let previous = index.checked_sub(1).and_then(|i| chars.get(i));
        let next = index.checked_add(1).and_then(|i| chars.get(i));
        let starts_word = c.is_ascii_uppercase()
            && previous.is_some_and(|p| {
                p.is_ascii_lowercase()
                    || (p.is_ascii_uppercase() && next.is_some_and(char::is_ascii_lowercase))
            });
        if starts_word {
            snake.push('_');
        }
        snake.push(c.to_ascii_lowercase());
    }
    snake
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denial_rule_names() {
        assert_eq!(snake_case("CreateContainer"), "create_container");
        assert_eq!(snake_case("AddARPNeighbors"), "add_arp_neighbors");
    }
}
