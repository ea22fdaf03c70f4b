//! Fuzz target: `tidewatch_core::untrusted::link_header` must never panic.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tidewatch_core::untrusted::link_header(data));
