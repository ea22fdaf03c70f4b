//! Fuzz target: `tidewatch_core::untrusted::www_authenticate` must never panic.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tidewatch_core::untrusted::www_authenticate(data));
