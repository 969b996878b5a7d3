//! sev-snp-measure itself as the oracle: Debian's full `OVMF.fd`, both fixtures and firmware
//! made here, every vCPU count 1…64, every vCPU model both tools know, explicit signatures,
//! guest features 0x1 and 0x21, every VMM, and kernels, initrds and command lines made up
//! here, each dimension covered fully and a seeded sample of their cross product, all computed
//! by one Python process (`oracle.py`) and compared.

#![expect(clippy::unwrap_used, reason = "the oracle's helpers fail loudly")]

use std::io::Write as _;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use chiaro_measure::Error;
use chiaro_measure::snp::{
    CpuSignature, DirectBoot, FirmwareMeasurement, GuestFeatures, Ovmf, VcpuModel, Vmm,
};
use chiaro_test_support::prerequisite::{self, DEBIAN_OVMF, Prerequisite};
use chiaro_test_support::vectors;
use serde_json::{Value, json};

use crate::Rng;
use crate::synthetic::Firmware;

/// How a case names its vCPUs' signature.
#[derive(Debug, Clone, Copy)]
enum Vcpu {
    Model(VcpuModel),
    Raw(u32),
    FamilyModelStepping(u32, u32, u32),
}

impl Vcpu {
    fn signature(self) -> CpuSignature {
        match self {
            Self::Model(model) => model.into(),
            Self::Raw(signature) => CpuSignature(signature),
            Self::FamilyModelStepping(family, model, stepping) => {
                CpuSignature::from_family_model_stepping(family, model, stepping)
            }
        }
    }

    fn json(self) -> Value {
        match self {
            Self::Model(model) => json!({ "type": model.name() }),
            Self::Raw(signature) => json!({ "sig": signature }),
            Self::FamilyModelStepping(family, model, stepping) => {
                json!({ "family": family, "model": model, "stepping": stepping })
            }
        }
    }
}

/// A kernel, initrd (or none) and command line (or none), in files for the oracle.
#[derive(Debug)]
struct Boot {
    kernel: PathBuf,
    initrd: Option<PathBuf>,
    append: Option<String>,
    measured: DirectBoot,
}

#[derive(Debug)]
struct Case<'a> {
    firmware: usize,
    boot: Option<&'a Boot>,
    vcpus: u32,
    vcpu: Vcpu,
    features: u64,
    vmm: Vmm,
}

/// The temporary files of one run, removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let dir =
            std::env::temp_dir().join(format!("chiaro-measure-oracle-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn file(&self, name: &str, contents: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run_oracle(request: &Value) -> Value {
    let python = prerequisite::snp_measure_python().unwrap();
    let mut child = Command::new(&python)
        .args(["-c", include_str!("oracle.py")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{} oracle.py failed",
        python.display()
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn random_vcpu(rng: &mut Rng) -> Vcpu {
    match rng.below(4) {
        0 => Vcpu::Raw(rng.next_u64() as u32),
        1 => Vcpu::FamilyModelStepping(
            rng.below(0x120) as u32,
            rng.below(0x120) as u32,
            rng.below(0x20) as u32,
        ),
        _ => Vcpu::Model(*rng.pick(VcpuModel::ALL)),
    }
}

fn random_boot(rng: &mut Rng, scratch: &Scratch, index: usize) -> Boot {
    let large = rng.below(10) == 0;
    let kernel = rng.blob(if large { 3 << 20 } else { 64 << 10 });
    let initrd = match rng.below(4) {
        0 => None,
        1 => Some(Vec::new()),
        _ => Some(rng.blob(if large { 5 << 20 } else { 64 << 10 })),
    };
    let append = match rng.below(4) {
        0 => None,
        1 => Some(String::new()),
        _ => Some(rng.cmdline()),
    };
    let measured = DirectBoot::new(
        &kernel,
        initrd.as_deref().unwrap_or_default(),
        append.as_deref().unwrap_or_default(),
    );
    Boot {
        kernel: scratch.file(&format!("kernel{index}"), &kernel),
        initrd: initrd.map(|initrd| scratch.file(&format!("initrd{index}"), &initrd)),
        append,
        measured,
    }
}

/// Ours: the direct digest, the scalable one, or the error (both forms must agree).
fn ours(ovmf: &Ovmf<'_>, case: &Case<'_>) -> Result<String, Error> {
    let measurement =
        FirmwareMeasurement::new(ovmf, case.boot.map(|boot| &boot.measured), case.vmm)?;
    let vcpus = NonZeroU32::new(case.vcpus).unwrap();
    let features = GuestFeatures(case.features);
    let signature = case.vcpu.signature();
    let direct = measurement.launch_digest(vcpus, signature, features);
    let scalable = measurement.with_vcpus(signature, features).for_vcpus(vcpus);
    assert_eq!(direct, scalable, "{case:?}");
    Ok(hex::encode(direct))
}

#[test]
fn needs_snp_oracle_and_needs_vectors_digests_equal_sev_snp_measure() {
    Prerequisite::SnpMeasure.require();
    let testdata = vectors::dir().join("measure/snp");
    let scratch = Scratch::new();
    let mut rng = Rng::new(0x0c_a1e5);

    // Firmware: Debian's, the two fixtures, the AmdSev layout and random layouts made here.
    let mut firmware: Vec<PathBuf> = vec![
        PathBuf::from(DEBIAN_OVMF),
        testdata.join("ovmf_AmdSev_suffix.bin"),
        testdata.join("ovmf_OvmfX64_suffix.bin"),
    ];
    let made = std::iter::once(Firmware::amd_sev())
        .chain((0..12).map(|_| Firmware::random(&mut rng)))
        .collect::<Vec<_>>();
    for (index, layout) in made.iter().enumerate() {
        firmware.push(scratch.file(&format!("firmware{index}.fd"), &layout.build(&mut rng)));
    }
    let images: Vec<Vec<u8>> = firmware
        .iter()
        .map(|path| std::fs::read(path).unwrap())
        .collect();
    let ovmfs: Vec<Ovmf<'_>> = images
        .iter()
        .map(|image| Ovmf::parse(image).unwrap())
        .collect();
    // Those a kernel can be measured with: the AmdSev fixture and the AmdSev layout made here.
    let with_hashes = [1, 3];

    let boots: Vec<Boot> = (0..120)
        .map(|index| random_boot(&mut rng, &scratch, index))
        .collect();
    let mut cases = Vec::new();
    let features = [0x1, 0x21];
    // Every vCPU count, on each real firmware.
    for firmware in 0..3 {
        for vcpus in 1..=64 {
            cases.push(Case {
                firmware,
                boot: None,
                vcpus,
                vcpu: Vcpu::Model(VcpuModel::EpycV4),
                features: features[vcpus as usize % 2],
                vmm: Vmm::Qemu,
            });
        }
    }
    // Every vCPU model, with each of the guest features and VMMs.
    for &model in VcpuModel::ALL {
        for vmm in Vmm::ALL {
            for features in features {
                cases.push(Case {
                    firmware: rng.below(3) as usize,
                    boot: None,
                    vcpus: rng.range(1, 64) as u32,
                    vcpu: Vcpu::Model(model),
                    features,
                    vmm,
                });
            }
        }
    }
    // Explicit signatures.
    for _ in 0..20 {
        cases.push(Case {
            firmware: 1,
            boot: None,
            vcpus: rng.range(1, 64) as u32,
            vcpu: random_vcpu(&mut rng),
            features: 0x1,
            vmm: Vmm::Qemu,
        });
    }
    // Direct boots made up here, on the firmware with a kernel-hashes section.
    for boot in &boots {
        cases.push(Case {
            firmware: *rng.pick(&with_hashes),
            boot: Some(boot),
            vcpus: rng.range(1, 64) as u32,
            vcpu: random_vcpu(&mut rng),
            features: *rng.pick(&features),
            vmm: *rng.pick(&Vmm::ALL),
        });
    }
    // A kernel with a firmware without the section: both refuse.
    for firmware in [0, 2] {
        cases.push(Case {
            firmware,
            boot: Some(&boots[0]),
            vcpus: 1,
            vcpu: Vcpu::Model(VcpuModel::EpycV4),
            features: 0x1,
            vmm: Vmm::Qemu,
        });
    }
    // A seeded sample of the whole cross product, random layouts and guest features included.
    for _ in 0..300 {
        cases.push(Case {
            firmware: rng.below(firmware.len() as u64) as usize,
            boot: rng.coin().then(|| rng.pick(&boots)),
            vcpus: rng.range(1, 64) as u32,
            vcpu: random_vcpu(&mut rng),
            features: match rng.below(3) {
                0 => rng.next_u64(),
                pick => features[pick as usize - 1],
            },
            vmm: *rng.pick(&Vmm::ALL),
        });
    }
    let fms: Vec<(u32, u32, u32)> = (0..200)
        .map(|_| {
            (
                rng.below(0x200) as u32,
                rng.below(0x200) as u32,
                rng.below(0x40) as u32,
            )
        })
        .collect();

    let request = json!({
        "cases": cases.iter().map(|case| {
            let boot = case.boot;
            json!({
                "ovmf": firmware[case.firmware],
                "kernel": boot.map(|boot| &boot.kernel),
                "initrd": boot.and_then(|boot| boot.initrd.as_ref()),
                "append": boot.and_then(|boot| boot.append.as_ref()),
                "vcpus": case.vcpus,
                "vcpu": case.vcpu.json(),
                "guest_features": case.features,
                "vmm_type": case.vmm.name(),
            })
        }).collect::<Vec<_>>(),
        "ovmf_hashes": firmware,
        "cpu_sigs": fms.iter().map(|&(f, m, s)| [f, m, s]).collect::<Vec<_>>(),
    });
    let answer = run_oracle(&request);
    assert_eq!(answer["version"], prerequisite::SNP_MEASURE_VERSION);

    // Every model sev-snp-measure knows, spelled alike, with the same signature.
    let models = answer["models"].as_object().unwrap();
    let ours_models: Vec<(&str, u64)> = VcpuModel::ALL
        .iter()
        .map(|model| (model.name(), u64::from(model.signature().0)))
        .collect();
    let theirs: Vec<(&str, u64)> = models
        .iter()
        .map(|(name, sig)| (name.as_str(), sig.as_u64().unwrap()))
        .collect();
    assert_eq!(ours_models, theirs);

    for (&(family, model, stepping), theirs) in
        fms.iter().zip(answer["cpu_sigs"].as_array().unwrap())
    {
        let ours = CpuSignature::from_family_model_stepping(family, model, stepping);
        assert_eq!(
            u64::from(ours.0),
            theirs.as_u64().unwrap(),
            "{family} {model} {stepping}"
        );
    }

    for ((ovmf, path), theirs) in ovmfs
        .iter()
        .zip(&firmware)
        .zip(answer["ovmf_hashes"].as_array().unwrap())
    {
        assert_eq!(
            hex::encode(ovmf.ovmf_hash()),
            theirs.as_str().unwrap(),
            "{}",
            path.display()
        );
    }

    let digests = answer["digests"].as_array().unwrap();
    assert_eq!(digests.len(), cases.len());
    let mut refused = 0;
    for (case, theirs) in cases.iter().zip(digests) {
        let ours = ours(&ovmfs[case.firmware], case);
        let context = || format!("{case:?} on {}", firmware[case.firmware].display());
        match (ours, theirs.as_str()) {
            (Ok(ours), Some(theirs)) => assert_eq!(ours, theirs, "{}", context()),
            (Err(Error::NoKernelHashesSection), None) => {
                let message = theirs["error"].as_str().unwrap();
                assert!(
                    message.contains("SNP_KERNEL_HASHES"),
                    "{message}: {}",
                    context()
                );
                refused += 1;
            }
            (ours, _) => panic!("ours {ours:?}, sev-snp-measure {theirs}: {}", context()),
        }
    }
    assert!(refused >= 2, "the refusals were exercised");
    assert!(cases.len() > 600, "{} cases", cases.len());
}
