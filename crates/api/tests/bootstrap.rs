//! The checked-in generated code is what the `.proto` files generate (the linkerd
//! `spiffe-proto` pattern): builds need no protobuf compiler, and a changed `.proto` without
//! regenerated code fails here. Regenerate with `CHIARO_BLESS=1 cargo test -p chiaro-api`.

use std::path::Path;

#[test]
fn generated_code_is_current() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::env::temp_dir().join(format!("chiaro-api-bootstrap-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    let descriptors = protox::compile(
        [root.join("proto/chiaro/v1/api.proto")],
        [root.join("proto")],
    )
    .unwrap();
    tonic_prost_build::configure()
        .build_transport(false)
        .out_dir(&out)
        .compile_fds(descriptors)
        .unwrap();
    let generated = std::fs::read_to_string(out.join("chiaro.v1.rs")).unwrap();
    let checked_in_path = root.join("src/generated/chiaro.v1.rs");
    let checked_in = std::fs::read_to_string(&checked_in_path).unwrap_or_default();
    std::fs::remove_dir_all(&out).unwrap();
    if generated != checked_in {
        if std::env::var_os("CHIARO_BLESS").is_some() {
            std::fs::write(&checked_in_path, generated).unwrap();
        } else {
            panic!(
                "src/generated/chiaro.v1.rs is stale: run CHIARO_BLESS=1 cargo test -p chiaro-api"
            );
        }
    }
}
