//! The TDX quote parser never panics on arbitrary bytes.
#![no_main]

use chiaro_attest::tdx;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(quote) = tdx::Quote::parse(data) {
        let _ = quote.signed_bytes().len();
        let _ = quote.body.debug();
    }
});
