//! Reading a device's first bytes (a LUKS2 header the host may have written) never panics,
//! and what it reads decides a plan without panicking either; only zeros are ever formatted.
#![no_main]

use chiaro_volume::luks::{Header, has_ext4_magic, read_header};
use chiaro_volume::plan::{Mapping, Observed, State, plan};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let header = read_header(data);
    let _ = has_ext4_magic(data);
    let zeroed = data.iter().all(|&b| b == 0);
    let observed = Observed { header: header.clone(), zeroed, mapping: Mapping::Absent, mounted: false };
    if let Ok(plan) = plan(&observed) {
        assert_eq!(plan.state == State::Fresh, header == Header::Absent && zeroed);
    }
});
