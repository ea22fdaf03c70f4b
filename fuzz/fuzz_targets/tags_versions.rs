//! Fuzz target: `tidewatch_core::untrusted::tags_versions` must never panic.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tidewatch_core::untrusted::tags_versions(data));
