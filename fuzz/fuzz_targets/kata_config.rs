//! Reading a Kata configuration never panics, nor does sizing or assembling the command line of
//! one that reads; what needs no node and no pod agrees with a node that has enough CPUs and a
//! pod without CPU limits.
#![no_main]

use chiaro_kata::{KataConfig, Node, Pod};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // A NUL separates the main file from its drop-ins.
    let mut files = text.split('\0');
    let main = files.next().unwrap_or("");
    let drop_ins: Vec<&str> = files.collect();
    let Ok(config) = KataConfig::parse_with_drop_ins(main, &drop_ins) else { return };
    for cpus in [0, 1, 64, 240, 4096] {
        for pod in [Pod::NO_CPU_LIMIT, Pod::from_cfs(150_000, 100_000), Pod::from_cfs(i64::MAX, 1)] {
            let node = Node { cpus, fips: cpus == 1 };
            let _ = config.kernel_command_line_for(&node, &pod);
            let _ = config.vcpus_for(&node, &pod);
        }
    }
    if let Ok(line) = config.kernel_command_line() {
        let max = config.max_vcpus().expect("a line without a node has a maximum vCPU count");
        let node = Node { cpus: max.max(config.vcpus().unwrap_or(max)), fips: false };
        assert_eq!(config.kernel_command_line_for(&node, &Pod::NO_CPU_LIMIT), line);
    }
    let _ = config.default_vcpus();
});
