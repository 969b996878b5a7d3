//! The kubelet's QoS class of a pod and the OOM score adjustments it gives the pod's
//! containers (`pkg/apis/core/v1/helper/qos` and `pkg/kubelet/qos/policy.go`), from the pod
//! spec as written (before the API server's defaulting: a limit without a request is also the
//! request).

use std::collections::BTreeMap;

use chiaro_k8s::Container;

use crate::data::OomScoreAdj;

/// The priority class that makes a pod node-critical (OOM score adjustment of a Guaranteed pod
/// whatever its resources).
const NODE_CRITICAL_CLASS: &str = "system-node-critical";

/// A pod's QoS class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QosClass {
    /// Every container has CPU and memory limits, and requests equal limits.
    Guaranteed,
    /// Some request or limit, not Guaranteed.
    Burstable,
    /// No CPU or memory request or limit anywhere.
    BestEffort,
}

/// The adjustment of Guaranteed and node-critical pods' containers.
const GUARANTEED: OomScoreAdj = OomScoreAdj::exactly(-997);

impl QosClass {
    /// The OOM score adjustments the kubelet may give a container of a pod whose spec, as
    /// written, has this class: Guaranteed `-997`, BestEffort `1000`, Burstable
    /// `1000 - 1000 * request / capacity` clamped to `3..=999` (`2..=999` with kubelets before
    /// 1.20, whose Guaranteed value was `-998`); the node's capacity is unknown here, so any
    /// value of the range. A namespace's LimitRange adds default requests and limits to
    /// containers that have none (Kata's own test requests show it: `994` for a pod without
    /// resources), which can only raise the class: a BestEffort spec may run as any class, a
    /// Burstable one also as Guaranteed.
    pub(crate) fn oom_score_adj(self, priority_class: Option<&str>) -> Vec<OomScoreAdj> {
        if priority_class == Some(NODE_CRITICAL_CLASS) {
            return vec![GUARANTEED];
        }
        match self {
            Self::Guaranteed => vec![GUARANTEED],
            Self::Burstable => vec![GUARANTEED, OomScoreAdj { min: 2, max: 999 }],
            Self::BestEffort => vec![GUARANTEED, OomScoreAdj { min: 2, max: 1000 }],
        }
    }
}

/// A resource quantity the pod spec gives is not a Kubernetes quantity, or makes the pod's
/// total too large.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadQuantity {
    /// The container.
    pub container: String,
    /// `requests.cpu`, `limits.memory`, …
    pub field: String,
    /// What is wrong with it.
    pub problem: QuantityProblem,
}

/// What is wrong with a [`BadQuantity`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QuantityProblem {
    /// It is not a Kubernetes quantity (or does not fit in nanounits).
    NotAQuantity,
    /// It is one, but the pod's total of the resource, with it, does not fit in nanounits (or
    /// its VM's size).
    TotalTooLarge,
    /// A limit below the container's request (the API server refuses it).
    BelowRequest,
}

impl QuantityProblem {
    /// The hint for the user.
    pub(crate) fn hint(self) -> &'static str {
        match self {
            Self::NotAQuantity => "not a Kubernetes quantity",
            Self::TotalTooLarge => "the pod's total of this resource is too large",
            Self::BelowRequest => {
                "the limit is below the request, which Kubernetes refuses; the VM is sized from \
                 the limits: raise the limit"
            }
        }
    }
}

/// The QoS compute resources.
const QOS_RESOURCES: [&str; 2] = ["cpu", "memory"];

/// The pod's QoS class from its containers and init containers (`ComputePodQOS`).
pub(crate) fn pod_qos<'a>(
    containers: impl IntoIterator<Item = &'a Container>,
) -> Result<QosClass, BadQuantity> {
    let mut requests: BTreeMap<&str, i128> = BTreeMap::new();
    let mut limits: BTreeMap<&str, i128> = BTreeMap::new();
    let mut guaranteed = true;
    for container in containers {
        let (container_requests, container_limits) = match &container.resources {
            Some(resources) => (&resources.requests, &resources.limits),
            None => {
                guaranteed = false;
                continue;
            }
        };
        let mut limits_found = 0_usize;
        for resource in QOS_RESOURCES {
            let bad = |kind: &str, problem| BadQuantity {
                container: container.name.clone(),
                field: format!("resources.{kind}.{resource}"),
                problem,
            };
            let quantity = |kind: &str, map: &BTreeMap<String, serde_json::Value>| {
                map.get(resource)
                    .map(|value| {
                        quantity_nanos(value)
                            .ok_or_else(|| bad(kind, QuantityProblem::NotAQuantity))
                    })
                    .transpose()
            };
            let limit = quantity("limits", container_limits)?;
            // The API server defaults a missing request to the limit.
            let request = quantity("requests", container_requests)?.or(limit);
            if let Some(request) = request.filter(|r| *r > 0) {
                let total = requests.entry(resource).or_default();
                *total = total
                    .checked_add(request)
                    .ok_or_else(|| bad("requests", QuantityProblem::TotalTooLarge))?;
            }
            if let Some(limit) = limit.filter(|l| *l > 0) {
                let total = limits.entry(resource).or_default();
                *total = total
                    .checked_add(limit)
                    .ok_or_else(|| bad("limits", QuantityProblem::TotalTooLarge))?;
                limits_found = limits_found.saturating_add(1);
            }
        }
        if limits_found < QOS_RESOURCES.len() {
            guaranteed = false;
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return Ok(QosClass::BestEffort);
    }
    if guaranteed && requests == limits {
        return Ok(QosClass::Guaranteed);
    }
    Ok(QosClass::Burstable)
}

/// A Kubernetes quantity (`500m`, `1.5Gi`, `2e3`, a JSON number) in units of 10⁻⁹, rounded up;
/// `None` when it is not one or does not fit.
pub(crate) fn quantity_nanos(value: &serde_json::Value) -> Option<i128> {
    let text = match value {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Number(number) => number.to_string(),
        _ => return None,
    };
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(&text)),
    };
    let number_end = unsigned
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(unsigned.len());
    let (number, suffix) = unsigned.split_at(number_end);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
        return None;
    }
    let (binary_shift, decimal_exponent): (u32, i32) = match suffix {
        "Ki" => (10, 0),
        "Mi" => (20, 0),
        "Gi" => (30, 0),
        "Ti" => (40, 0),
        "Pi" => (50, 0),
        "Ei" => (60, 0),
        "n" => (0, -9),
        "u" => (0, -6),
        "m" => (0, -3),
        "" => (0, 0),
        "k" => (0, 3),
        "M" => (0, 6),
        "G" => (0, 9),
        "T" => (0, 12),
        "P" => (0, 15),
        "E" => (0, 18),
        exponent => {
            let digits = exponent.strip_prefix(['e', 'E'])?;
            let value: i32 = digits.parse().ok()?;
            if !(-40..=40).contains(&value) {
                return None;
            }
            (0, value)
        }
    };
    let digits = format!("{whole}{fraction}");
    let mantissa: i128 = digits.parse().ok()?;
    let scaled = mantissa.checked_mul(1_i128.checked_shl(binary_shift)?)?;
    let fraction_len = i32::try_from(fraction.len()).ok()?;
    let exponent = 9_i32
        .checked_add(decimal_exponent)?
        .checked_sub(fraction_len)?;
    let nanos = if exponent >= 0 {
        scaled.checked_mul(10_i128.checked_pow(exponent.unsigned_abs())?)?
    } else {
        // Rounded up; `scaled` is not negative (its digits have no sign).
        let divisor = 10_i128.checked_pow(exponent.unsigned_abs())?;
        let rounding = i128::from(scaled.checked_rem(divisor)? != 0);
        scaled.checked_div(divisor)?.checked_add(rounding)?
    };
    if negative {
        nanos.checked_neg()
    } else {
        Some(nanos)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn container(name: &str, resources: serde_json::Value) -> Container {
        serde_json::from_value(json!({"name": name, "image": "x", "resources": resources})).unwrap()
    }

    #[test]
    fn quantities_parse_as_kubernetes_does() {
        let q = |text: &str| quantity_nanos(&json!(text));
        assert_eq!(q("500m"), Some(500_000_000));
        assert_eq!(q("0.5"), q("500m"));
        assert_eq!(q("1Gi"), q("1024Mi"));
        assert_eq!(q("1.5Gi"), Some(1_610_612_736 * 1_000_000_000));
        assert_eq!(q("2e3"), q("2k"));
        assert_eq!(quantity_nanos(&json!(2)), q("2"));
        assert_eq!(q("1n"), Some(1));
        for bad in ["", "abc", "1X", "1.2.3", "--1", "1e99"] {
            assert_eq!(q(bad), None, "{bad}");
        }
    }

    #[test]
    fn qos_classes_follow_the_kubelet() {
        let guaranteed = container(
            "a",
            json!({"limits": {"cpu": "500m", "memory": "1Gi"}, "requests": {"cpu": "0.5"}}),
        );
        assert_eq!(pod_qos([&guaranteed]), Ok(QosClass::Guaranteed));
        let none = container("b", json!({}));
        assert_eq!(pod_qos([&none]), Ok(QosClass::BestEffort));
        // One container without limits (as Chiaro's injected ones) makes the pod Burstable.
        assert_eq!(pod_qos([&guaranteed, &none]), Ok(QosClass::Burstable));
        let lower = container(
            "c",
            json!({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"memory": "512Mi"}}),
        );
        assert_eq!(pod_qos([&lower]), Ok(QosClass::Burstable));
        let gpu_only = container("d", json!({"limits": {"nvidia.com/gpu": 1}}));
        assert_eq!(pod_qos([&gpu_only]), Ok(QosClass::BestEffort));
        let bad = container("e", json!({"requests": {"memory": "lots"}}));
        assert_eq!(
            pod_qos([&bad]),
            Err(BadQuantity {
                container: "e".to_owned(),
                field: "resources.requests.memory".to_owned(),
                problem: QuantityProblem::NotAQuantity,
            })
        );
        // Each fits (10³⁸ nanounits), their sum does not.
        let huge = |name| container(name, json!({"requests": {"cpu": "1e29"}}));
        assert_eq!(
            pod_qos([&huge("f"), &huge("g")]),
            Err(BadQuantity {
                container: "g".to_owned(),
                field: "resources.requests.cpu".to_owned(),
                problem: QuantityProblem::TotalTooLarge,
            })
        );
    }

    #[test]
    fn oom_score_ranges_by_class() {
        let burstable = OomScoreAdj { min: 2, max: 999 };
        assert_eq!(QosClass::Guaranteed.oom_score_adj(None), vec![GUARANTEED]);
        assert_eq!(
            QosClass::Burstable.oom_score_adj(None),
            vec![GUARANTEED, burstable]
        );
        assert_eq!(
            QosClass::BestEffort.oom_score_adj(None),
            vec![GUARANTEED, OomScoreAdj { min: 2, max: 1000 }]
        );
        assert_eq!(
            QosClass::BestEffort.oom_score_adj(Some("system-node-critical")),
            vec![GUARANTEED]
        );
    }
}
