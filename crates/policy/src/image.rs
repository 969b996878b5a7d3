//! What the policy needs to know about an image: its reference and its configuration.

use serde::{Deserialize, Serialize};

/// An image's reference and the parts of its OCI configuration that decide the process.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// The reference pinned by digest, `registry/repository@sha256:…`.
    pub reference: String,
    /// `Entrypoint`.
    #[serde(default)]
    pub entrypoint: Vec<String>,
    /// `Cmd`.
    #[serde(default)]
    pub cmd: Vec<String>,
    /// `Env`, `NAME=value` each.
    #[serde(default)]
    pub env: Vec<String>,
    /// `WorkingDir`.
    #[serde(default)]
    pub working_dir: String,
    /// `User`: `uid`, `uid:gid`, or names.
    #[serde(default)]
    pub user: String,
    /// `Volumes`: directories the runtime mounts from outside the image.
    #[serde(default)]
    pub volumes: Vec<String>,
}

/// The names a container runtime may use for an image written as `image` in a pod spec:
/// the text itself, and without the tag when a digest pins it (how containerd names it).
pub fn runtime_names(image: &str, config: &ImageConfig) -> Vec<String> {
    let mut names = vec![image.to_owned()];
    if let Some((name_and_tag, digest)) = image.split_once('@') {
        // Without the tag: what follows the first `:` of the last path component.
        let last = name_and_tag.rsplit('/').next().unwrap_or(name_and_tag);
        let name = match last.split_once(':') {
            Some((_, tag)) => name_and_tag
                .strip_suffix(tag)
                .and_then(|rest| rest.strip_suffix(':'))
                .unwrap_or(name_and_tag),
            None => name_and_tag,
        };
        names.push(format!("{name}@{digest}"));
    }
    if !config.reference.is_empty() {
        names.push(config.reference.clone());
    }
    let qualified: Vec<String> = names
        .iter()
        .filter_map(|name| docker_hub_qualified(name))
        .collect();
    names.extend(qualified);
    names.sort();
    names.dedup();
    names
}

/// `nginx` → `docker.io/library/nginx`, `user/app` → `docker.io/user/app`.
fn docker_hub_qualified(name: &str) -> Option<String> {
    let first = name.split('/').next()?;
    let has_registry =
        name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    if has_registry {
        return None;
    }
    Some(if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_pinned_names_drop_the_tag() {
        let names = runtime_names(
            "registry.k8s.io/pause:3.6@sha256:3d38",
            &ImageConfig::default(),
        );
        assert!(names.contains(&"registry.k8s.io/pause@sha256:3d38".to_owned()));
        assert!(names.contains(&"registry.k8s.io/pause:3.6@sha256:3d38".to_owned()));
        let names = runtime_names("localhost:5000/app@sha256:ab", &ImageConfig::default());
        assert_eq!(names, vec!["localhost:5000/app@sha256:ab".to_owned()]);
    }

    #[test]
    fn docker_hub_short_names_are_qualified() {
        let names = runtime_names("redis@sha256:ab", &ImageConfig::default());
        assert!(names.contains(&"docker.io/library/redis@sha256:ab".to_owned()));
    }
}
