//! Fuzz target: `tidewatch_core::untrusted::token_response` must never panic.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tidewatch_core::untrusted::token_response(data));
