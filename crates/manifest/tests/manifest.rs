//! Manifest validation, canonical hashing and policy lookup.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

use std::sync::OnceLock;

use chiaro_attest::{Digest48, HostData, InitDataBinding};
use chiaro_manifest::{Manifest, ManifestError, PolicyHash, Role};
use rsa::pkcs8::EncodePublicKey;
use serde_json::{Value, json};

const WEB: &str = "8e6b3b17e2e7f6d0b0e5a9f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b";
const DB: &str = "1111111111111111111111111111111111111111111111111111111111111111";

fn rsa_key_hex(bits: usize) -> String {
    let key =
        rsa::PrivateKey::new(&mut rsa::rand_core::UnwrapErr(getrandom::SysRng), bits).unwrap();
    hex::encode(key.to_public_key().to_public_key_der().unwrap().as_bytes())
}

/// One 3072-bit key for the whole test binary.
fn strong_key() -> &'static str {
    static KEY: OnceLock<String> = OnceLock::new();
    KEY.get_or_init(|| rsa_key_hex(3072))
}

fn valid() -> Value {
    json!({
        "version": 1,
        "policies": {
            WEB: { "sans": ["web", "web.default.svc.cluster.local"], "workload_secret_id": "apps/v1/Deployment/default/web" },
            DB: { "sans": ["db"], "role": "workload" }
        },
        "reference_values": {
            "snp": [{ "measurements": ["00".repeat(48)], "minimum_tcb": { "bootloader": 3, "tee": 0, "snp": 8, "microcode": 115 } }],
            "tdx": [{ "mrtd": ["11".repeat(48)], "rtmrs": ["33".repeat(48), "44".repeat(48), "55".repeat(48), null] }]
        },
        "workload_owner_key_digests": ["22".repeat(32)],
        "seed_share_owner_keys": [strong_key()]
    })
}

#[test]
fn attack_reference_set_without_a_measurement_is_refused() {
    // HOST_DATA and MRCONFIGID are the launcher's to choose and policy hashes are public: a set
    // that does not pin the guest accepts a guest the host built, under any workload's hash.
    let cases = [
        (
            "/reference_values/snp/0/measurements",
            Value::Null,
            "reference_values.snp[0]: measurements",
        ),
        (
            "/reference_values/snp/0/measurements",
            json!([]),
            "reference_values.snp[0]: measurements",
        ),
        (
            "/reference_values/tdx/0/mrtd",
            Value::Null,
            "reference_values.tdx[0]: mrtd",
        ),
        (
            "/reference_values/tdx/0/rtmrs",
            Value::Null,
            "reference_values.tdx[0]: rtmrs[0..=2]",
        ),
        (
            "/reference_values/tdx/0/rtmrs",
            json!(["33".repeat(48), null, "55".repeat(48), null]),
            "reference_values.tdx[0]: rtmrs[0..=2]",
        ),
    ];
    for (pointer, replacement, expected) in cases {
        let error = parse(&with(valid(), pointer, replacement.clone())).unwrap_err();
        assert!(
            matches!(error, ManifestError::UnpinnedGuest { .. })
                && error.to_string().starts_with(expected),
            "{pointer} = {replacement}: {error}"
        );
    }
    let no_exact = with(valid(), "/reference_values/snp/0/measurements", Value::Null);
    let none_scaled = with(
        no_exact,
        "/reference_values/snp/0/vcpu_scaled_measurements",
        json!([]),
    );
    let error = parse(&none_scaled).unwrap_err();
    assert!(
        matches!(error, ManifestError::UnpinnedGuest { .. }),
        "{error}"
    );
}

#[test]
fn a_set_pinned_by_a_vcpu_scaled_measurement_alone_is_valid() {
    let scaled = json!([{ "one_vcpu": "66".repeat(48), "ap_vmsa": "77".repeat(48), "vcpus": { "min": 1, "max": 8 } }]);
    let manifest = with(valid(), "/reference_values/snp/0/measurements", Value::Null);
    let manifest = with(
        manifest,
        "/reference_values/snp/0/vcpu_scaled_measurements",
        scaled,
    );
    let parsed = parse(&manifest).unwrap();
    assert_eq!(Manifest::parse(&parsed.to_json_pretty()).unwrap(), parsed);
    let bad_ranges = [
        (json!({ "min": 0, "max": 8 }), "vcpus 0..=8"),
        (json!({ "min": 3, "max": 2 }), "vcpus 3..=2"),
        (json!({ "min": 1 }), "missing field `max`"),
    ];
    for (bad, expected) in bad_ranges {
        let broken = with(
            manifest.clone(),
            "/reference_values/snp/0/vcpu_scaled_measurements/0/vcpus",
            bad.clone(),
        );
        let error = parse(&broken).unwrap_err();
        assert!(error.to_string().contains(expected), "{bad}: {error}");
    }
}

#[test]
fn attack_vcpu_scaled_measurements_too_costly_to_check_are_refused() {
    // Every attestation is checked against every set, and a host can make genuine reports at
    // will: what one set costs to check is bounded.
    let family = |count: u32| json!({ "one_vcpu": "66".repeat(48), "ap_vmsa": "77".repeat(48), "vcpus": { "min": count, "max": count } });
    let per_count = |max: u32| Value::Array((1..=max).map(family).collect());
    let manifest = with(valid(), "/reference_values/snp/0/measurements", Value::Null);
    let within = with(
        manifest.clone(),
        "/reference_values/snp/0/vcpu_scaled_measurements",
        per_count(127),
    );
    parse(&within).unwrap();
    let beyond = with(
        manifest,
        "/reference_values/snp/0/vcpu_scaled_measurements",
        per_count(128),
    );
    let error = parse(&beyond).unwrap_err();
    assert!(
        matches!(
            error,
            ManifestError::TooMuchVcpuWork {
                work: 8256,
                limit: 8192,
                ..
            }
        ),
        "{error}"
    );
}

fn parse(value: &Value) -> Result<Manifest, ManifestError> {
    Manifest::parse(&value.to_string())
}

/// `value` with the member at `pointer` set (added when its parent is an object without it).
fn with(mut value: Value, pointer: &str, replacement: Value) -> Value {
    let (parent, last) = pointer.rsplit_once('/').unwrap();
    match value.pointer_mut(parent).unwrap() {
        Value::Object(map) => {
            map.insert(last.to_owned(), replacement);
        }
        Value::Array(items) => items[last.parse::<usize>().unwrap()] = replacement,
        other => panic!("{pointer}: parent is {other}"),
    }
    value
}

#[test]
fn a_valid_manifest_parses_and_round_trips() {
    let manifest = parse(&valid()).unwrap();
    assert_eq!(manifest.policies().len(), 2);
    assert_eq!(manifest.seed_share_owner_keys().len(), 1);
    let again = Manifest::parse(&manifest.to_json_pretty()).unwrap();
    assert_eq!(again, manifest);
    assert_eq!(again.hash(), manifest.hash());
}

#[test]
fn the_hash_ignores_key_order_whitespace_and_hex_case() {
    let manifest = parse(&valid()).unwrap();
    let text = format!(
        r#"{{ "seed_share_owner_keys": ["{}"], "workload_owner_key_digests": ["{}"],
             "reference_values": {{ "tdx": [{{"mrtd": ["{}"], "rtmrs": ["{rtmr0}", "{rtmr1}", "{rtmr2}", null]}}],
                                    "snp": [{{"minimum_tcb": {{"microcode": 115, "snp": 8, "tee": 0, "bootloader": 3}}, "measurements": ["{}"]}}] }},
             "policies": {{ "{DB}": {{"role": "workload", "sans": ["db"]}},
                            "{}": {{"workload_secret_id": "apps/v1/Deployment/default/web", "sans": ["web", "web.default.svc.cluster.local"]}} }},
             "version": 1 }}"#,
        strong_key(),
        "22".repeat(32),
        "11".repeat(48),
        "00".repeat(48),
        WEB.to_uppercase(),
        rtmr0 = "33".repeat(48),
        rtmr1 = "44".repeat(48),
        rtmr2 = "55".repeat(48),
    );
    assert_eq!(Manifest::parse(&text).unwrap().hash(), manifest.hash());
}

#[test]
fn any_change_changes_the_hash() {
    let base = parse(&valid()).unwrap().hash();
    let changes = [
        with(valid(), &format!("/policies/{WEB}/sans/0"), json!("www")),
        with(
            valid(),
            &format!("/policies/{DB}/role"),
            json!("coordinator"),
        ),
        with(valid(), "/reference_values/snp/0/minimum_tcb/snp", json!(9)),
        with(
            valid(),
            "/workload_owner_key_digests/0",
            json!("33".repeat(32)),
        ),
    ];
    for changed in changes {
        assert_ne!(parse(&changed).unwrap().hash(), base, "{changed}");
    }
}

#[test]
fn each_invalid_field_is_named() {
    let cases: Vec<(Value, ManifestError)> = vec![
        (
            with(valid(), "/version", json!(2)),
            ManifestError::UnsupportedVersion { version: 2 },
        ),
        (
            with(valid(), "/policies", json!({})),
            ManifestError::NoPolicies,
        ),
        (
            with(valid(), "/policies", json!({ "abc": { "sans": ["x"] } })),
            ManifestError::MalformedHex {
                field: "policies[\"abc\"]".to_owned(),
                expected_hex_chars: 64,
                got: "abc".to_owned(),
            },
        ),
        (
            with(valid(), &format!("/policies/{DB}/sans"), json!([])),
            ManifestError::EmptySans {
                field: format!("policies[{DB:?}].sans"),
            },
        ),
        (
            with(valid(), &format!("/policies/{DB}/sans"), json!(["db", "*"])),
            ManifestError::InvalidSan {
                field: format!("policies[{DB:?}].sans"),
                san: "*".to_owned(),
            },
        ),
        (
            with(
                valid(),
                &format!("/policies/{DB}/sans"),
                json!(["db", "db"]),
            ),
            ManifestError::InvalidSan {
                field: format!("policies[{DB:?}].sans"),
                san: "db".to_owned(),
            },
        ),
        (
            with(
                valid(),
                &format!("/policies/{DB}/workload_secret_id"),
                json!(" "),
            ),
            ManifestError::EmptyWorkloadSecretId {
                field: format!("policies[{DB:?}].workload_secret_id"),
            },
        ),
        (
            with(valid(), "/reference_values", json!({})),
            ManifestError::NoReferenceValues,
        ),
        (
            with(valid(), "/workload_owner_key_digests/0", json!("zz")),
            ManifestError::MalformedHex {
                field: "workload_owner_key_digests[0]".to_owned(),
                expected_hex_chars: 64,
                got: "zz".to_owned(),
            },
        ),
        (
            with(
                valid(),
                "/workload_owner_key_digests",
                json!(["22".repeat(32), "22".repeat(32)]),
            ),
            ManifestError::DuplicateKey {
                field: "workload_owner_key_digests[1]".to_owned(),
            },
        ),
        (
            with(
                valid(),
                "/seed_share_owner_keys",
                json!([strong_key(), strong_key()]),
            ),
            ManifestError::DuplicateKey {
                field: "seed_share_owner_keys[1]".to_owned(),
            },
        ),
    ];
    for (value, expected) in cases {
        assert_eq!(parse(&value).unwrap_err(), expected, "{value}");
    }
}

#[test]
fn attack_hand_edited_manifest_giving_two_entries_one_san_is_refused() {
    // Whoever holds a certificate with a name can answer for it: a second entry with the same
    // identity, in any spelling certificate matching treats as equal, would be a second holder.
    let with_ip = with(
        valid(),
        &format!("/policies/{WEB}/sans"),
        json!(["web", "10.0.0.7"]),
    );
    let cases = [
        (valid(), json!(["db", "web"]), "web"),
        (
            valid(),
            json!(["db", "Web.Default.Svc.Cluster.Local."]),
            "Web.Default.Svc.Cluster.Local.",
        ),
        (with_ip, json!(["db", "::ffff:10.0.0.7"]), "::ffff:10.0.0.7"),
    ];
    for (base, db_sans, san) in cases {
        let edited = with(base, &format!("/policies/{DB}/sans"), db_sans);
        assert_eq!(
            parse(&edited).unwrap_err(),
            ManifestError::SharedSan {
                field: format!("policies[{DB:?}].sans"),
                san: san.to_owned(),
                other: format!("policies[{WEB:?}]"),
            },
            "{edited}"
        );
    }
    // The Coordinator's entry is no exception: no workload may carry its names either.
    let coordinator = with(
        with(
            valid(),
            &format!("/policies/{DB}/role"),
            json!("coordinator"),
        ),
        &format!("/policies/{DB}/sans"),
        json!(["web"]),
    );
    assert!(
        matches!(parse(&coordinator), Err(ManifestError::SharedSan { .. })),
        "{coordinator}"
    );
    let error = parse(&with(
        valid(),
        &format!("/policies/{DB}/sans"),
        json!(["web"]),
    ))
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("\"web\"") && error.contains(WEB) && error.contains(DB),
        "{error}"
    );
}

#[test]
fn attack_workload_san_in_the_reserved_owner_namespace_is_refused() {
    // A workload with the owners' identity would pass a port-forward allow-list as the owner,
    // and an owner's certificate would pass as that workload.
    for san in [
        chiaro_names::reserved::WORKLOAD_OWNER,
        "Workload-Owner.Chiaro.Invalid.",
        "other.chiaro.invalid",
    ] {
        let edited = with(valid(), &format!("/policies/{DB}/sans"), json!(["db", san]));
        assert_eq!(
            parse(&edited).unwrap_err(),
            ManifestError::ReservedSan {
                field: format!("policies[{DB:?}].sans"),
                san: san.to_owned(),
                domain: "chiaro.invalid",
            },
            "{edited}"
        );
    }
}

#[test]
fn a_san_repeated_in_one_entry_in_another_spelling_is_refused() {
    let repeated = with(
        valid(),
        &format!("/policies/{DB}/sans"),
        json!(["db", "DB."]),
    );
    assert_eq!(
        parse(&repeated).unwrap_err(),
        ManifestError::InvalidSan {
            field: format!("policies[{DB:?}].sans"),
            san: "DB.".to_owned(),
        }
    );
}

#[test]
fn a_policy_hash_listed_twice_is_refused_even_in_another_case() {
    let text = valid().to_string().replacen(
        &format!("\"{DB}\""),
        &format!("\"{}\":{{\"sans\":[\"x\"]}},\"{DB}\"", WEB.to_uppercase()),
        1,
    );
    assert_eq!(
        Manifest::parse(&text).unwrap_err(),
        ManifestError::DuplicatePolicy {
            hash: WEB.to_owned()
        }
    );
    let exact = valid().to_string().replacen(
        &format!("\"{DB}\""),
        &format!("\"{DB}\":{{\"sans\":[\"x\"]}},\"{DB}\""),
        1,
    );
    assert_eq!(
        Manifest::parse(&exact).unwrap_err(),
        ManifestError::DuplicatePolicy {
            hash: DB.to_owned()
        }
    );
}

#[test]
fn unknown_platforms_and_fields_are_syntax_errors_naming_them() {
    for (value, name) in [
        (
            with(valid(), "/reference_values", json!({ "sev": [{}] })),
            "sev",
        ),
        (
            with(
                valid(),
                &format!("/policies/{DB}"),
                json!({ "sans": ["db"], "rol": "workload" }),
            ),
            "rol",
        ),
        (
            with(valid(), &format!("/policies/{DB}/role"), json!("admin")),
            "admin",
        ),
        (
            with(
                valid(),
                "/reference_values/snp/0",
                json!({ "allow_debgu": true }),
            ),
            "allow_debgu",
        ),
    ] {
        match parse(&value).unwrap_err() {
            ManifestError::Syntax { detail, .. } => assert!(detail.contains(name), "{detail}"),
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn weak_or_malformed_seed_share_keys_are_refused() {
    let weak = rsa_key_hex(2048);
    assert_eq!(
        parse(&with(valid(), "/seed_share_owner_keys/0", json!(weak))).unwrap_err(),
        ManifestError::WeakKey {
            field: "seed_share_owner_keys[0]".to_owned(),
            bits: 2048
        }
    );
    assert!(matches!(
        parse(&with(valid(), "/seed_share_owner_keys/0", json!("3059"))).unwrap_err(),
        ManifestError::InvalidKey { ref field, .. } if field == "seed_share_owner_keys[0]"
    ));
}

#[test]
fn a_simulated_root_must_be_a_certificate() {
    let value = with(
        valid(),
        "/reference_values/insecure_simulated",
        json!([{ "ark": "3082", "values": {} }]),
    );
    assert!(matches!(
        parse(&value).unwrap_err(),
        ManifestError::InvalidSimulatedRoot { ref field, .. } if field == "reference_values.insecure_simulated[0].ark"
    ));
}

#[test]
fn policy_lookup_matches_host_data_and_zero_padded_mrconfigid() {
    let manifest = parse(&valid()).unwrap();
    let hash = PolicyHash::from_hex(WEB).unwrap();
    let host_data = InitDataBinding::HostData(HostData::new(*hash.as_bytes()));
    let (found, entry) = manifest.entry_for_binding(&host_data).unwrap();
    assert_eq!(found, hash);
    assert_eq!(entry.role, Role::Workload);
    assert_eq!(
        entry.workload_secret_id.as_deref(),
        Some("apps/v1/Deployment/default/web")
    );

    let mut config_id = [0u8; 48];
    config_id[..32].copy_from_slice(hash.as_bytes());
    assert!(
        manifest
            .entry_for_binding(&InitDataBinding::MrConfigId(Digest48::new(config_id)))
            .is_some()
    );
    config_id[47] = 1;
    assert!(
        manifest
            .entry_for_binding(&InitDataBinding::MrConfigId(Digest48::new(config_id)))
            .is_none()
    );
    assert!(
        manifest
            .entry_for_binding(&InitDataBinding::HostData(HostData::new([0x42; 32])))
            .is_none()
    );
}

#[test]
fn truncated_manifests_are_refused_without_panicking() {
    let text = valid().to_string();
    for len in 0..text.len() {
        assert!(Manifest::parse(&text[..len]).is_err(), "truncated to {len}");
    }
}

#[test]
fn bit_flipped_manifests_never_panic_and_never_keep_the_hash() {
    let text = valid().to_string();
    let original = Manifest::parse(&text).unwrap().hash();
    for offset in 0..text.len() {
        let mut bytes = text.clone().into_bytes();
        bytes[offset] ^= 0x01;
        let Ok(flipped) = String::from_utf8(bytes) else {
            continue;
        };
        if let Ok(manifest) = Manifest::parse(&flipped) {
            // A flip inside a hex string can change only the letter case, which is the same value.
            let case_only = flipped.eq_ignore_ascii_case(&text);
            assert!(
                case_only || manifest.hash() != original,
                "flip at {offset} kept the hash"
            );
        }
    }
}

#[test]
fn a_listed_simulated_root_is_kept_as_an_explicit_reference_set() {
    let now = "2026-11-26T00:00:00Z".parse().unwrap();
    let tee = chiaro_attest::insecure_simulation::InsecureSimulatedTee::generate(now).unwrap();
    let value = with(
        valid(),
        "/reference_values/insecure_simulated",
        json!([{ "ark": hex::encode(tee.ark_der()), "values": { "measurements": ["00".repeat(48)] } }]),
    );
    let manifest = parse(&value).unwrap();
    let simulated = &manifest.reference_values().insecure_simulated;
    assert_eq!(simulated.len(), 1);
    assert_eq!(simulated[0].ark, tee.ark_der());
    assert_ne!(manifest.hash(), parse(&valid()).unwrap().hash());
}
