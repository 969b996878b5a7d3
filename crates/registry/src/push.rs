//! Pushing an image (the distribution spec's push): each blob unless the repository has it
//! (`HEAD`), uploaded in one piece (`POST …/blobs/uploads/`, then `PUT` to the returned
//! `Location` with `?digest=`), then the manifest under its tag (`PUT …/manifests/<tag>`).
//! Authentication is a pull's, with tokens asked for `pull,push`; plain HTTP only to insecure
//! hosts. Pushes go to the registry the reference names, never to a mirror.

use crate::client::{Access, ApiRequest};
use crate::http::{Method, Response};
use crate::{Digest, ImageReference, RegistryClient, RegistryError};

/// The largest answer to a push request read (registries answer with short JSON errors).
const MAX_ANSWER: usize = 1 << 20;

impl RegistryClient {
    /// Pushes an image to `target` (`registry/repository:tag`): `blobs` (its layers and
    /// configuration, any order) that the repository lacks, then `manifest` (of
    /// `media_type`) under the tag. Returns the manifest's digest.
    ///
    /// # Errors
    /// [`RegistryError`]: a target without a tag or with a digest, refused credentials, an
    /// answer the distribution spec does not give, or a registry that names another digest for
    /// the manifest than its content's.
    pub async fn push_image(
        &self,
        target: &str,
        blobs: &[&[u8]],
        media_type: &str,
        manifest: &[u8],
    ) -> Result<Digest, RegistryError> {
        let reference = ImageReference::parse(target)?;
        let tag = match (reference.tag(), reference.digest()) {
            (Some(tag), None) => tag.to_owned(),
            _ => {
                return Err(RegistryError::Reference {
                    reference: target.to_owned(),
                    reason: "a push target has a tag and no digest".to_owned(),
                });
            }
        };
        for blob in blobs {
            self.push_blob(&reference, blob).await?;
        }
        let digest = Digest::of(manifest);
        let response = self
            .push_request(
                &reference,
                Method::Put,
                self.api_url(&reference, &format!("manifests/{tag}")),
                vec![("content-type", media_type.to_owned())],
                manifest.to_vec(),
            )
            .await?;
        expect(&response, 201, self.api_url(&reference, "manifests"))?;
        if let Some(announced) = response.header("docker-content-digest")
            && Digest::parse(announced)? != digest
        {
            return Err(RegistryError::DigestMismatch {
                image: target.to_owned(),
                what: "pushed manifest".to_owned(),
                expected: digest.to_string(),
                actual: announced.to_owned(),
            });
        }
        Ok(digest)
    }

    /// Uploads `blob` unless the repository has it already.
    async fn push_blob(
        &self,
        reference: &ImageReference,
        blob: &[u8],
    ) -> Result<(), RegistryError> {
        let digest = Digest::of(blob);
        let exists = self
            .push_request(
                reference,
                Method::Head,
                self.api_url(reference, &format!("blobs/{digest}")),
                Vec::new(),
                Vec::new(),
            )
            .await?;
        if exists.is_success() {
            return Ok(());
        }
        expect(
            &exists,
            404,
            self.api_url(reference, &format!("blobs/{digest}")),
        )?;
        let start_url = self.api_url(reference, "blobs/uploads/");
        let started = self
            .push_request(
                reference,
                Method::Post,
                start_url.clone(),
                Vec::new(),
                Vec::new(),
            )
            .await?;
        expect(&started, 202, start_url.clone())?;
        let location = started
            .header("location")
            .ok_or_else(|| RegistryError::Format {
                image: reference.written().to_owned(),
                what: "upload session".to_owned(),
                reason: format!("{start_url} answered 202 without a Location"),
            })?;
        let put_url = upload_url(&start_url, location, digest);
        let stored = self
            .push_request(
                reference,
                Method::Put,
                put_url.clone(),
                vec![("content-type", "application/octet-stream".to_owned())],
                blob.to_vec(),
            )
            .await?;
        expect(&stored, 201, put_url)
    }

    /// `https://<registry>/v2/<repository>/<suffix>` (plain HTTP for insecure hosts).
    fn api_url(&self, reference: &ImageReference, suffix: &str) -> String {
        format!(
            "{}/v2/{}/{suffix}",
            self.http.base_url(reference.api_host()),
            reference.repository()
        )
    }

    async fn push_request(
        &self,
        reference: &ImageReference,
        method: Method,
        url: String,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    ) -> Result<Response, RegistryError> {
        let request = ApiRequest {
            method,
            url,
            headers,
            body,
            access: Access::Push,
        };
        self.authorized(reference.api_host(), reference, request, MAX_ANSWER)
            .await
    }
}

/// The error for an answer other than `status`.
fn expect(response: &Response, status: u16, url: String) -> Result<(), RegistryError> {
    if response.status == status {
        Ok(())
    } else {
        Err(RegistryError::Status {
            url,
            status: response.status,
            body: response.body_excerpt(),
        })
    }
}

/// Where to `PUT` a blob: the upload session's `Location` (absolute, absolute-path, or relative
/// to the `POST`'s URL, as the spec allows), with `digest=` added to its query.
fn upload_url(start_url: &str, location: &str, digest: Digest) -> String {
    let absolute = if location.starts_with("http://") || location.starts_with("https://") {
        location.to_owned()
    } else if location.starts_with('/') {
        // scheme://authority of the POST's URL.
        let origin_end = start_url
            .find("://")
            .and_then(|scheme| {
                let after = scheme.checked_add(3)?;
                let rest = start_url.get(after..)?;
                Some(after.saturating_add(rest.find('/').unwrap_or(rest.len())))
            })
            .unwrap_or(start_url.len());
        format!(
            "{}{location}",
            start_url.get(..origin_end).unwrap_or(start_url)
        )
    } else {
        let directory = start_url.rfind('/').map_or(start_url, |slash| {
            start_url.get(..=slash).unwrap_or(start_url)
        });
        format!("{directory}{location}")
    };
    let separator = if absolute.contains('?') { '&' } else { '?' };
    format!("{absolute}{separator}digest={digest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_locations_resolve_against_the_post_and_get_the_digest() {
        let start = "http://127.0.0.1:5000/v2/team/app/blobs/uploads/";
        let digest = Digest::of(b"x");
        assert_eq!(
            upload_url(start, "/v2/team/app/blobs/uploads/u1?_state=s", digest),
            format!("http://127.0.0.1:5000/v2/team/app/blobs/uploads/u1?_state=s&digest={digest}")
        );
        assert_eq!(
            upload_url(start, "https://storage.example/up/u2", digest),
            format!("https://storage.example/up/u2?digest={digest}")
        );
        assert_eq!(
            upload_url(start, "u3", digest),
            format!("http://127.0.0.1:5000/v2/team/app/blobs/uploads/u3?digest={digest}")
        );
    }
}
