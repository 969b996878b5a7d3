//! The size of a pod's VM, fixed when it starts (a TEE hot-plugs neither CPUs nor memory): the
//! runtime's base plus the pod's effective limits, computed as Kata's static sandbox sizing
//! computes it from what the kubelet and containerd hand it (see `docs/generate.md`, "VM
//! size", for the sources this follows).

use chiaro_k8s::{Container, INITIALIZER_NAME, MESH_NAME};
use serde::{Deserialize, Serialize};

use crate::qos::{BadQuantity, QuantityProblem, quantity_nanos};

/// Annotation: the VM's vCPUs before the pod's limits are added (Kata's `default_vcpus`).
pub const VM_VCPUS_ANNOTATION: &str = "io.katacontainers.config.hypervisor.default_vcpus";
/// Annotation: the VM's memory in MiB before the pod's limits are added (Kata's
/// `default_memory`).
pub const VM_MEMORY_ANNOTATION: &str = "io.katacontainers.config.hypervisor.default_memory";

/// Kata refuses a `default_memory` annotation below this (`vc.MinHypervisorMemory`, MiB).
pub const MIN_BASE_MEMORY_MIB: u64 = 256;

/// Nanounits in one unit (a CPU, a byte).
const NANOS: i128 = 1_000_000_000;
/// Bytes in one MiB.
const MIB: i128 = 1 << 20;

/// A VM's size: vCPUs and memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmSize {
    /// vCPUs (each one VMSA in the SEV-SNP launch digest).
    pub vcpus: u32,
    /// Memory in MiB.
    pub memory_mib: u64,
}

impl VmSize {
    /// The base of every pod VM unless told otherwise: Kata's own defaults (`DEFVCPUS := 1`,
    /// `DEFMEMSZ := 2048` in `src/runtime/Makefile`, `default_vcpus = 1` in
    /// `configuration-qemu-snp.toml`), and the overhead `chiaro install`'s RuntimeClasses
    /// declare.
    pub const KATA_BASE: Self = Self {
        vcpus: 1,
        memory_mib: 2048,
    };

    /// The annotations that make the runtime start from this base, with their values.
    pub fn base_annotations(self) -> [(&'static str, String); 2] {
        [
            (VM_VCPUS_ANNOTATION, self.vcpus.to_string()),
            (VM_MEMORY_ANNOTATION, self.memory_mib.to_string()),
        ]
    }
}

/// A memory quantity (`2048Mi`, `2Gi`) in whole MiB; `None` when it is not a quantity, is
/// negative or is not a whole number of MiB.
pub fn memory_mib(quantity: &str) -> Option<u64> {
    let nanos = quantity_nanos(&serde_json::Value::String(quantity.to_owned()))?;
    let unit = NANOS.checked_mul(MIB)?;
    if nanos < 0 || nanos.checked_rem(unit)? != 0 {
        return None;
    }
    u64::try_from(nanos.checked_div(unit)?).ok()
}

/// A pod's VM size and what the user should know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sizing {
    /// The size the runtime gives the VM.
    pub size: VmSize,
    /// The pod's own containers without a memory limit (their memory comes out of the base).
    pub without_memory_limit: Vec<String>,
}

/// The VM size of a pod with these init containers and containers on `base`: the base plus
/// the pod's effective limits (the kubelet's `PodLimits`: the larger of the app containers'
/// and sidecars' sum and each init container's limit with the sidecars started before it),
/// CPU rounded up to whole vCPUs, memory rounded down to whole MiB as Kata rounds them.
/// Refuses a limit that is no quantity or below its request.
pub(crate) fn vm_size(
    init_containers: &[Container],
    containers: &[Container],
    base: VmSize,
) -> Result<Sizing, BadQuantity> {
    let cpu = effective_limit(init_containers, containers, "cpu")?;
    let memory = effective_limit(init_containers, containers, "memory")?;
    // Named after the container with the largest limit of the resource.
    let too_large = |resource: &str| BadQuantity {
        container: init_containers
            .iter()
            .chain(containers)
            .max_by_key(|c| limit(c, resource).ok().flatten().unwrap_or(0))
            .map(|c| c.name.clone())
            .unwrap_or_default(),
        field: format!("resources.limits.{resource}"),
        problem: QuantityProblem::TotalTooLarge,
    };
    // The kubelet's quota over its period is the limit in CPUs; Kata adds it to the base's
    // vCPUs and rounds up.
    let workload_vcpus = ceil_div(cpu, NANOS)
        .and_then(|vcpus| u32::try_from(vcpus).ok())
        .ok_or_else(|| too_large("cpu"))?;
    // The kubelet gives the limit in bytes (rounded up); Kata rounds it down to MiB.
    let workload_mib = ceil_div(memory, NANOS)
        .and_then(|bytes| bytes.checked_div(MIB))
        .and_then(|mib| u64::try_from(mib).ok())
        .ok_or_else(|| too_large("memory"))?;
    let size = VmSize {
        vcpus: base
            .vcpus
            .checked_add(workload_vcpus)
            .ok_or_else(|| too_large("cpu"))?,
        memory_mib: base
            .memory_mib
            .checked_add(workload_mib)
            .ok_or_else(|| too_large("memory"))?,
    };
    let without_memory_limit = init_containers
        .iter()
        .chain(containers)
        .filter(|c| c.name != INITIALIZER_NAME && c.name != MESH_NAME)
        .filter(|c| {
            c.resources
                .as_ref()
                .is_none_or(|r| !r.limits.contains_key("memory"))
        })
        .map(|c| c.name.clone())
        .collect();
    Ok(Sizing {
        size,
        without_memory_limit,
    })
}

/// `value / divisor` rounded up, for a value that is not negative.
fn ceil_div(value: i128, divisor: i128) -> Option<i128> {
    let whole = value.checked_div(divisor)?;
    whole.checked_add(i128::from(value.checked_rem(divisor)? > 0))
}

/// The pod's effective limit of `resource` in nanounits (0 when no container limits it).
fn effective_limit(
    init_containers: &[Container],
    containers: &[Container],
    resource: &str,
) -> Result<i128, BadQuantity> {
    let too_large = |container: &Container| BadQuantity {
        container: container.name.clone(),
        field: format!("resources.limits.{resource}"),
        problem: QuantityProblem::TotalTooLarge,
    };
    let mut sum: i128 = 0;
    for container in containers {
        let limit = limit(container, resource)?.unwrap_or(0);
        sum = sum.checked_add(limit).ok_or_else(|| too_large(container))?;
    }
    // Sidecars (init containers that restart) run beside everything after them.
    let mut sidecars: i128 = 0;
    let mut init_max: i128 = 0;
    for container in init_containers {
        let limit = limit(container, resource)?.unwrap_or(0);
        let running = if container.restart_policy.as_deref() == Some("Always") {
            sum = sum.checked_add(limit).ok_or_else(|| too_large(container))?;
            sidecars = sidecars
                .checked_add(limit)
                .ok_or_else(|| too_large(container))?;
            sidecars
        } else {
            limit
                .checked_add(sidecars)
                .ok_or_else(|| too_large(container))?
        };
        init_max = init_max.max(running);
    }
    Ok(sum.max(init_max))
}

/// A container's limit of `resource` in nanounits (`None`: not given), checked against its
/// request: both quantities, neither negative, the limit not below the request.
fn limit(container: &Container, resource: &str) -> Result<Option<i128>, BadQuantity> {
    let Some(resources) = &container.resources else {
        return Ok(None);
    };
    let bad = |kind: &str, problem| BadQuantity {
        container: container.name.clone(),
        field: format!("resources.{kind}.{resource}"),
        problem,
    };
    let parse = |kind: &str, map: &std::collections::BTreeMap<String, serde_json::Value>| {
        map.get(resource)
            .map(|value| match quantity_nanos(value) {
                Some(nanos) if nanos >= 0 => Ok(nanos),
                _ => Err(bad(kind, QuantityProblem::NotAQuantity)),
            })
            .transpose()
    };
    let limit = parse("limits", &resources.limits)?;
    let request = parse("requests", &resources.requests)?;
    if let (Some(limit), Some(request)) = (limit, request)
        && limit < request
    {
        return Err(bad("limits", QuantityProblem::BelowRequest));
    }
    Ok(limit)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn container(name: &str, resources: serde_json::Value) -> Container {
        serde_json::from_value(json!({"name": name, "image": "x", "resources": resources})).unwrap()
    }

    fn sidecar(name: &str, resources: serde_json::Value) -> Container {
        serde_json::from_value(json!({
            "name": name, "image": "x", "restartPolicy": "Always", "resources": resources,
        }))
        .unwrap()
    }

    fn limits(cpu: &str, memory: &str) -> serde_json::Value {
        json!({"limits": {"cpu": cpu, "memory": memory}})
    }

    const BASE: VmSize = VmSize::KATA_BASE;

    #[test]
    fn the_size_is_the_base_plus_the_sum_of_the_limits_cpu_rounded_up() {
        let pod = [
            container("a", limits("500m", "256Mi")),
            container("b", limits("1.2", "1Gi")),
        ];
        let sizing = vm_size(&[], &pod, BASE).unwrap();
        // 1.7 CPUs: 2 vCPUs on the base's 1; 1280 MiB on the base's 2048.
        assert_eq!(
            sizing.size,
            VmSize {
                vcpus: 3,
                memory_mib: 3328
            }
        );
        assert!(sizing.without_memory_limit.is_empty());
        // Whole CPUs add exactly; no limits leave the base.
        let whole = [container("a", limits("2", "0"))];
        assert_eq!(vm_size(&[], &whole, BASE).unwrap().size.vcpus, 3);
        let none = [container("a", json!({}))];
        assert_eq!(vm_size(&[], &none, BASE).unwrap().size, BASE);
    }

    #[test]
    fn memory_is_rounded_down_to_mib_as_kata_does() {
        // 1.5 MiB and a byte: Kata's `memory / 1024 / 1024` gives 1.
        let pod = [container("a", json!({"limits": {"memory": "1572865"}}))];
        assert_eq!(vm_size(&[], &pod, BASE).unwrap().size.memory_mib, 2049);
        // A fraction of a byte is a byte (the kubelet's `Value()` rounds up): that byte
        // completes the MiB.
        let milli = [container("a", json!({"limits": {"memory": "1048575500m"}}))];
        assert_eq!(vm_size(&[], &milli, BASE).unwrap().size.memory_mib, 2049);
    }

    #[test]
    fn init_containers_count_by_their_maximum_and_sidecars_add() {
        let init = [
            container("migrate", limits("3", "4Gi")),
            container("small", limits("100m", "64Mi")),
        ];
        let app = [container("app", limits("1", "1Gi"))];
        // The largest init container (3 CPUs, 4 GiB) exceeds the app's 1 CPU and 1 GiB.
        assert_eq!(
            vm_size(&init, &app, BASE).unwrap().size,
            VmSize {
                vcpus: 4,
                memory_mib: 2048 + 4096
            }
        );
        // A sidecar runs beside the init containers after it and beside the app.
        let with_sidecar = [
            sidecar("proxy", limits("500m", "128Mi")),
            container("migrate", limits("1", "512Mi")),
        ];
        // Init phase: 1.5 CPUs, 640 MiB; running: 1.5 CPUs, 1152 MiB.
        assert_eq!(
            vm_size(&with_sidecar, &app, BASE).unwrap().size,
            VmSize {
                vcpus: 3,
                memory_mib: 2048 + 1152
            }
        );
    }

    #[test]
    fn a_container_without_a_memory_limit_is_reported_and_chiaros_are_not() {
        let pod = [
            container("app", json!({"limits": {"cpu": "1"}})),
            container(MESH_NAME, json!({})),
            container("db", limits("1", "1Gi")),
        ];
        let init = [container(INITIALIZER_NAME, json!({}))];
        let sizing = vm_size(&init, &pod, BASE).unwrap();
        assert_eq!(sizing.without_memory_limit, ["app"]);
        assert_eq!(sizing.size.memory_mib, 3072);
    }

    #[test]
    fn a_limit_below_its_request_is_refused_naming_the_field() {
        let pod = [container(
            "app",
            json!({"limits": {"memory": "1Gi"}, "requests": {"memory": "2Gi"}}),
        )];
        assert_eq!(
            vm_size(&[], &pod, BASE),
            Err(BadQuantity {
                container: "app".to_owned(),
                field: "resources.limits.memory".to_owned(),
                problem: QuantityProblem::BelowRequest,
            })
        );
        let cpu = [container(
            "app",
            json!({"limits": {"cpu": "500m"}, "requests": {"cpu": "1"}}),
        )];
        assert_eq!(
            vm_size(&[], &cpu, BASE).unwrap_err().field,
            "resources.limits.cpu"
        );
    }

    #[test]
    fn bad_and_negative_quantities_are_refused() {
        for bad in [json!("lots"), json!("-1Gi"), json!(true)] {
            let pod = [container("app", json!({"limits": {"memory": bad}}))];
            assert_eq!(
                vm_size(&[], &pod, BASE),
                Err(BadQuantity {
                    container: "app".to_owned(),
                    field: "resources.limits.memory".to_owned(),
                    problem: QuantityProblem::NotAQuantity,
                }),
                "{bad}"
            );
        }
        let pod = [container("app", json!({"requests": {"cpu": "1x"}}))];
        assert_eq!(
            vm_size(&[], &pod, BASE).unwrap_err().field,
            "resources.requests.cpu"
        );
        // Beyond u32 vCPUs.
        let huge = [container("app", json!({"limits": {"cpu": "1e12"}}))];
        assert_eq!(
            vm_size(&[], &huge, BASE).unwrap_err().problem,
            QuantityProblem::TotalTooLarge
        );
    }

    #[test]
    fn memory_flags_are_whole_mib() {
        assert_eq!(memory_mib("2048Mi"), Some(2048));
        assert_eq!(memory_mib("2Gi"), Some(2048));
        assert_eq!(memory_mib("1M"), None);
        assert_eq!(memory_mib("-1Gi"), None);
        assert_eq!(memory_mib("lots"), None);
    }

    #[test]
    fn base_annotations_carry_the_base() {
        assert_eq!(
            BASE.base_annotations(),
            [
                (VM_VCPUS_ANNOTATION, "1".to_owned()),
                (VM_MEMORY_ANNOTATION, "2048".to_owned())
            ]
        );
    }
}
