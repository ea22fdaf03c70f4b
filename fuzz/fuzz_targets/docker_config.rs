//! Fuzz target: `tidewatch_core::untrusted::docker_config` must never panic.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tidewatch_core::untrusted::docker_config(data));
