//! The Coordinator's own deployment, generated through the same stages as every workload's
//! pod (images pinned, policy generated, initdata annotation) but without Chiaro's containers:
//! the Coordinator is what initializers attest to, so it has no initializer of its own, and it
//! is not a mesh peer. Its policy hash is what the manifest's `role: coordinator` entry, the
//! CLI's `--coordinator-reference` and every pod's deployment anchor pin.

use std::collections::BTreeMap;

use chiaro_k8s::{
    ConfigSources, Workload, namespace_of, pin_images, read_documents, services, write_documents,
};
use chiaro_names::PolicyHash;

use super::sans::default_sans;
use super::workload::policy_into_annotation;
use super::{ImagePin, SourceFile};
use crate::{GenerateOptions, PolicyError};

/// The Coordinator's deployment as generated.
#[derive(Debug, Clone)]
pub struct GeneratedCoordinator {
    /// The files, rewritten: images pinned, the initdata annotation set.
    pub files: Vec<SourceFile>,
    /// The Coordinator's policy hash.
    pub policy_hash: PolicyHash,
    /// The names of its entry: its own and those of the Services selecting it (reserved: no
    /// workload may take them).
    pub sans: Vec<String>,
    /// The size of its VM (the base plus its limits).
    pub vm_size: crate::VmSize,
}

/// Generates the Coordinator's deployment in `files`: exactly one workload (the Coordinator's
/// StatefulSet) and the Services that select it. `pins` holds the resolution of its images.
///
/// # Errors
/// [`PolicyError::CoordinatorWorkloads`] unless there is exactly one workload; otherwise as
/// [`super::generate_deployment`].
pub fn generate_coordinator(
    files: &[SourceFile],
    pins: &BTreeMap<String, ImagePin>,
    options: &GenerateOptions,
) -> Result<GeneratedCoordinator, PolicyError> {
    // The Coordinator's documents name their namespace: they are read as written.
    let mut config = ConfigSources::default();
    let mut parsed = Vec::with_capacity(files.len());
    for file in files {
        let documents = read_documents(&file.name, &file.text).map_err(PolicyError::Input)?;
        for document in &documents {
            config.add(document).map_err(PolicyError::Input)?;
        }
        parsed.push(documents);
    }
    let service_list = services(parsed.iter().flatten());
    let mut found = Vec::new();
    let mut out = Vec::with_capacity(files.len());
    for (file, documents) in files.iter().zip(&parsed) {
        let mut values: Vec<_> = documents.iter().map(|d| d.value.clone()).collect();
        for (document, value) in documents.iter().zip(values.iter_mut()) {
            let Some(workload) = Workload::from_document(document).map_err(PolicyError::Input)?
            else {
                continue;
            };
            pin_images(value, workload.kind, |image| {
                pins.get(image).map(|pin| pin.pinned.clone())
            });
            let (rewritten, policy) =
                policy_into_annotation(document, value, pins, &config, options)?;
            let namespace = namespace_of(&document.value);
            let sans = default_sans(&rewritten, document, &namespace, &service_list)?;
            found.push((
                document.id.to_string(),
                policy.initdata.policy_hash(),
                sans.into_iter().map(|sourced| sourced.san).collect(),
                policy.generated.vm_size,
            ));
        }
        out.push(SourceFile {
            name: file.name.clone(),
            text: write_documents(&file.name, &file.text, documents, &values)
                .map_err(PolicyError::Input)?,
        });
    }
    match <[_; 1]>::try_from(found) {
        Ok([(_, policy_hash, sans, vm_size)]) => Ok(GeneratedCoordinator {
            files: out,
            policy_hash,
            sans,
            vm_size,
        }),
        Err(found) => Err(PolicyError::CoordinatorWorkloads {
            found: found.into_iter().map(|(at, ..)| at).collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{INITDATA_ANNOTATION, ImageConfig, Initdata};

    const IMAGE: &str = "registry.example/chiaro-coordinator:1";
    const PINNED: &str = "registry.example/chiaro-coordinator@sha256:1111111111111111111111111111111111111111111111111111111111111111";

    fn pins() -> BTreeMap<String, ImagePin> {
        BTreeMap::from([(
            IMAGE.to_owned(),
            ImagePin {
                pinned: PINNED.to_owned(),
                config: ImageConfig {
                    reference: PINNED.to_owned(),
                    entrypoint: vec!["/usr/local/bin/chiaro-coordinator".to_owned()],
                    user: "0".to_owned(),
                    working_dir: "/".to_owned(),
                    ..ImageConfig::default()
                },
            },
        )])
    }

    fn coordinator_yaml(replicas_of_workloads: usize) -> SourceFile {
        let mut text = String::new();
        for index in 0..replicas_of_workloads {
            text.push_str(&format!(
                "---\napiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: coordinator{index}\n  namespace: chiaro\nspec:\n  serviceName: coordinator\n  selector:\n    matchLabels: {{app: coordinator}}\n  template:\n    metadata:\n      labels: {{app: coordinator}}\n    spec:\n      runtimeClassName: chiaro-cc\n      containers:\n      - name: coordinator\n        image: {IMAGE}\n"
            ));
        }
        text.push_str("---\napiVersion: v1\nkind: Service\nmetadata:\n  name: coordinator\n  namespace: chiaro\nspec:\n  selector: {app: coordinator}\n  ports:\n  - port: 1313\n");
        SourceFile {
            name: "coordinator.yaml".to_owned(),
            text,
        }
    }

    #[test]
    fn the_coordinator_gets_a_policy_and_no_initializer() {
        let generated =
            generate_coordinator(&[coordinator_yaml(1)], &pins(), &GenerateOptions::default())
                .unwrap();
        let text = &generated.files[0].text;
        assert!(text.contains(PINNED), "{text}");
        assert!(!text.contains("chiaro-initializer"), "{text}");
        let documents = read_documents("coordinator.yaml", text).unwrap();
        let annotation = documents[0]
            .value
            .pointer("/spec/template/metadata/annotations")
            .and_then(|a| a.get(INITDATA_ANNOTATION))
            .and_then(serde_json::Value::as_str)
            .unwrap();
        assert_eq!(
            Initdata::from_annotation(annotation).unwrap().policy_hash(),
            generated.policy_hash
        );
        assert!(
            generated
                .sans
                .contains(&"coordinator.chiaro.svc.cluster.local".to_owned())
        );
    }

    #[test]
    fn generating_twice_gives_the_same_policy() {
        let once =
            generate_coordinator(&[coordinator_yaml(1)], &pins(), &GenerateOptions::default())
                .unwrap();
        let twice =
            generate_coordinator(&once.files, &pins(), &GenerateOptions::default()).unwrap();
        assert_eq!(once.policy_hash, twice.policy_hash);
        assert_eq!(once.files, twice.files);
    }

    #[test]
    fn two_workloads_are_not_one_coordinator() {
        let error =
            generate_coordinator(&[coordinator_yaml(2)], &pins(), &GenerateOptions::default())
                .unwrap_err();
        assert!(
            matches!(&error, PolicyError::CoordinatorWorkloads { found } if found.len() == 2),
            "{error}"
        );
    }
}
