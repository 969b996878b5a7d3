//! Reading a Kata configuration never panics, nor does assembling the command line of one that
//! reads; what needs no node agrees with the node that has the assumed CPU count.
#![no_main]

use chiaro_kata::{KataConfig, Node};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // A NUL separates the main file from its drop-ins.
    let mut files = text.split('\0');
    let main = files.next().unwrap_or("");
    let drop_ins: Vec<&str> = files.collect();
    let Ok(config) = KataConfig::parse_with_drop_ins(main, &drop_ins) else { return };
    for cpus in [0, 1, 64, 240, 4096] {
        let _ = config.kernel_command_line_on(&Node { cpus, fips: cpus == 1 });
        let _ = config.default_vcpus_on(&Node { cpus, fips: false });
    }
    if let Ok(line) = config.kernel_command_line() {
        let max = config.max_vcpus().expect("a line without a node has a maximum vCPU count");
        let node = Node { cpus: max, fips: false };
        assert_eq!(config.kernel_command_line_on(&node), line);
    }
    let _ = config.default_vcpus();
});
