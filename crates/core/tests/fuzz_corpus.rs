//! The fuzz corpora and every input a fuzz target ever crashed on, replayed on stable through
//! the same parsers the fuzz targets call (docs/reliability.md#fuzzing): none may panic.

use std::path::{Path, PathBuf};

use tidewatch_core::untrusted::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The files of `dir`, sorted; empty when it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

fn decode_hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

#[test]
fn every_fuzz_target_has_a_target_file_and_a_seed_corpus() {
    for (name, _) in TARGETS {
        let target = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        assert!(target.is_file(), "missing {}", target.display());
        let seeds = files(&fuzz_dir().join("corpus").join(name));
        assert!(seeds.len() >= 5, "the {name} corpus has {} seeds", seeds.len());
    }
}

#[test]
fn every_corpus_input_and_every_past_crash_is_parsed_without_a_panic() {
    let mut replayed = 0;
    for (name, parse) in TARGETS {
        for file in files(&fuzz_dir().join("corpus").join(name)) {
            parse(&std::fs::read(&file).unwrap());
            replayed += 1;
        }
        for file in files(&fuzz_dir().join("regressions").join(name)) {
            parse(&decode_hex(&std::fs::read_to_string(&file).unwrap()));
            replayed += 1;
        }
    }
    assert!(replayed > 50, "only {replayed} inputs");
}

#[test]
fn hostile_inputs_built_here_are_parsed_without_a_panic() {
    // What a seed file cannot hold well: sizes, nesting and bytes made by code.
    let deep_json = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let long_tag_list = (0..20_000).map(|i| format!("1.{i}.0")).collect::<Vec<_>>().join("\n");
    let inputs: Vec<Vec<u8>> = vec![
        Vec::new(),
        vec![0xff; 4096],
        (0u8..=255).collect(),
        deep_json.into_bytes(),
        long_tag_list.into_bytes(),
        format!("Bearer {}", "realm=\"x\",".repeat(5_000)).into_bytes(),
        format!("{}:{}", "a".repeat(100_000), "1").into_bytes(),
        "<".repeat(50_000).into_bytes(),
    ];
    for (_, parse) in TARGETS {
        for input in &inputs {
            parse(input);
        }
    }
}
