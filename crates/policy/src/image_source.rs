//! The port through which generation learns about images. The policy crate does no I/O: the
//! CLI adapts a registry client to [`ImageSource`], and tests and local mode give fixed
//! configurations, so no registry client (and no HTTP or TLS stack) is linked into policy
//! generation, and the registry client links no policy engine.

use std::collections::BTreeMap;

use crate::ImagePin;

/// Pins images as written in pod specs: each to its reference by digest and its configuration.
pub trait ImageSource {
    /// Why one image could not be pinned.
    type Error;

    /// Pins each of `images`, answering in the order of `images`.
    fn pin_all(&self, images: &[String]) -> Vec<Result<ImagePin, Self::Error>>;
}

/// An image that could not be pinned, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpinned<E> {
    /// The image as written.
    pub image: String,
    /// Why.
    pub error: E,
}

/// Pins `images` through `source`: every pin by image as written, or every failure, each with
/// its image, so that all of them are reported together.
///
/// # Errors
/// The images that could not be pinned, with why, in the order of `images`.
pub fn pin_images<S: ImageSource>(
    source: &S,
    images: &[String],
) -> Result<BTreeMap<String, ImagePin>, Vec<Unpinned<S::Error>>> {
    let mut pins = BTreeMap::new();
    let mut failures = Vec::new();
    for (image, result) in images.iter().zip(source.pin_all(images)) {
        match result {
            Ok(pin) => {
                pins.insert(image.clone(), pin);
            }
            Err(error) => failures.push(Unpinned {
                image: image.clone(),
                error,
            }),
        }
    }
    if failures.is_empty() {
        Ok(pins)
    } else {
        Err(failures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ImageConfig;

    /// Pins every image but those named `missing…`.
    struct Fixture;

    impl ImageSource for Fixture {
        type Error = &'static str;

        fn pin_all(&self, images: &[String]) -> Vec<Result<ImagePin, Self::Error>> {
            images
                .iter()
                .map(|image| {
                    if image.starts_with("missing") {
                        Err("no such image")
                    } else {
                        Ok(ImagePin {
                            pinned: format!("{image}@sha256:00"),
                            config: ImageConfig::default(),
                        })
                    }
                })
                .collect()
        }
    }

    #[test]
    fn pins_come_by_image_as_written() {
        let images = ["nginx:1".to_owned(), "redis".to_owned()];
        let pins = pin_images(&Fixture, &images).unwrap();
        assert_eq!(pins["nginx:1"].pinned, "nginx:1@sha256:00");
        assert_eq!(pins["redis"].pinned, "redis@sha256:00");
    }

    #[test]
    fn every_failure_is_reported_with_its_image() {
        let images = [
            "missing-a".to_owned(),
            "nginx".to_owned(),
            "missing-b".to_owned(),
        ];
        let failures = pin_images(&Fixture, &images).unwrap_err();
        assert_eq!(
            failures,
            ["missing-a", "missing-b"].map(|image| Unpinned {
                image: image.to_owned(),
                error: "no such image"
            })
        );
    }
}
