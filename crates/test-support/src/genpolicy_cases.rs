//! Kata's genpolicy test cases in `../shared/testdata/genpolicy`, and the image configurations
//! they imply.
//!
//! The images those cases name are not reachable here; their configurations are read off the
//! requests each case expects to be allowed (entrypoint, environment, working directory,
//! volumes). They are given as JSON in `chiaro_policy::ImageConfig`'s form, keyed by the image
//! as the pod YAML writes it.

use serde_json::{Value, json};

/// The case directories, below the test-data directory.
pub const CASES_DIR: &str = "genpolicy/kata-containers/tests/policy/testdata";

const PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

const PAUSE: &str = "registry.k8s.io/pause:3.6@sha256:3d380ca8864549e74af4b29c10f9cb0956236dfb01c40ca076fb6c37253234db";
const GID: &str = "ghcr.io/burgerdev/weird-images/gid:latest@sha256:bdbb485bb9e3baf381a2957b9369b6051c6113097a5f8dcee27faff17624a2c0";
const REDIS_TEST_IMAGE: &str = "quay.io/kata-containers/test-images/opstree/redis:sha256-2642c7b07713df6897fa88cbe6db85170690cf3650018ceb2ab16cfa0b4f8d48";

fn redis(reference: &str) -> Value {
    json!({
        "reference": reference,
        "entrypoint": ["/usr/bin/entrypoint.sh"],
        "env": [PATH, "REDIS_PORT=6379"],
        "working_dir": "/data",
        "volumes": ["/data", "/node-conf"],
    })
}

/// Image configurations by image as written in the cases' pod YAML.
pub fn image_configs() -> Value {
    json!({
        PAUSE: {
            "reference": "registry.k8s.io/pause@sha256:3d380ca8864549e74af4b29c10f9cb0956236dfb01c40ca076fb6c37253234db",
            "entrypoint": ["/pause"],
            "env": [PATH],
            "user": "65535:65535",
        },
        "quay.io/prometheus/busybox:latest": {
            "reference": "quay.io/prometheus/busybox:latest",
            "cmd": ["sh"],
            "env": [PATH],
        },
        "quay.io/opstree/redis": redis("quay.io/opstree/redis"),
        REDIS_TEST_IMAGE: redis(REDIS_TEST_IMAGE),
        GID: {
            "reference": "ghcr.io/burgerdev/weird-images/gid@sha256:bdbb485bb9e3baf381a2957b9369b6051c6113097a5f8dcee27faff17624a2c0",
            "entrypoint": ["/entrypoint.sh"],
            "env": [PATH],
        },
    })
}
