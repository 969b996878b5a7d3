//! The registry client as policy generation's [`ImageSource`]: the adapter between
//! `chiaro-registry`'s OCI types and `chiaro-policy`'s, so neither library depends on the other.

use std::sync::Arc;

use chiaro_policy::{ImageConfig, ImagePin, ImageSource};
use chiaro_registry::{ImageConfiguration, Progress, RegistryClient, RegistryError};

/// Resolves images against registries, on `runtime`, telling `progress` as each finishes.
pub(crate) struct RegistrySource<'a> {
    pub(crate) client: Arc<RegistryClient>,
    pub(crate) runtime: &'a tokio::runtime::Runtime,
    pub(crate) progress: Arc<dyn Progress>,
}

impl ImageSource for RegistrySource<'_> {
    type Error = RegistryError;

    fn pin_all(&self, images: &[String]) -> Vec<Result<ImagePin, RegistryError>> {
        let results = self
            .runtime
            .block_on(self.client.resolve_all(images, Arc::clone(&self.progress)));
        results
            .into_iter()
            .map(|result| {
                result.map(|resolved| ImagePin {
                    pinned: resolved.pinned,
                    config: policy_config(resolved.config),
                })
            })
            .collect()
    }
}

/// The registry's reading of an image configuration, as the policy takes it.
fn policy_config(config: ImageConfiguration) -> ImageConfig {
    let ImageConfiguration {
        reference,
        entrypoint,
        cmd,
        env,
        working_dir,
        user,
        volumes,
    } = config;
    ImageConfig {
        reference,
        entrypoint,
        cmd,
        env,
        working_dir,
        user,
        volumes,
    }
}
