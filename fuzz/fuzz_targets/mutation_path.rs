#![no_main]
//! Fuzz target: see `portcullis::fuzzing::mutation_path`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| portcullis::fuzzing::mutation_path(data));
