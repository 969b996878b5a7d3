//! Manifest parsing never panics, and what parses re-parses to the same hash.
#![no_main]

use chiaro_manifest::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(manifest) = Manifest::parse(text) {
        let again = Manifest::parse(&manifest.to_json_pretty()).expect("a manifest re-parses");
        assert_eq!(again.hash(), manifest.hash());
    }
});
