//! Saved captures in `fuzz/seeds/`: real profiles and snapshots written by earlier runs
//! (`profile_json/*.json`) and the reduction's wire bytes of the same profiles (`wire/*.bin`).
//! They seed the fuzzers (scripts/fuzz.sh) and pin both formats: a change that makes today's
//! build read an old file differently, or send other bytes, fails here. After a deliberate format
//! change (with its schema or wire version bumped), regenerate them with
//!
//!     RANKSCOPE_BLESS=1 cargo test -p rankscope --test saved_captures
//!
//! and commit the result.

use rankscope::output::{parse_profile, to_json};
use rankscope::profile::{decode, encode};
use std::path::{Path, PathBuf};

fn seeds(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/seeds")
        .join(kind)
}

fn blessing() -> bool {
    std::env::var_os("RANKSCOPE_BLESS").is_some_and(|v| v == "1")
}

/// The saved profiles, by file stem, in name order.
fn saved_profiles() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(seeds("profile_json"))
        .expect("fuzz/seeds/profile_json")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 3,
        "expected the saved profiles, found {files:?}"
    );
    files
        .into_iter()
        .map(|p| {
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            (stem, std::fs::read(&p).unwrap())
        })
        .collect()
}

/// Compares `actual` with the saved file, or rewrites the file when blessing.
fn check_saved(path: &Path, actual: &[u8], what: &str) {
    let saved = std::fs::read(path).unwrap_or_default();
    if saved == actual {
        return;
    }
    if blessing() {
        std::fs::write(path, actual).unwrap();
        eprintln!("rewrote {}", path.display());
        return;
    }
    panic!(
        "{} differs from {what} ({} bytes saved, {} now); if the format changed on purpose, \
         regenerate with RANKSCOPE_BLESS=1 cargo test -p rankscope --test saved_captures",
        path.display(),
        saved.len(),
        actual.len()
    );
}

#[test]
fn saved_profiles_read_and_write_back_byte_for_byte() {
    for (stem, bytes) in saved_profiles() {
        let p = parse_profile(&bytes).unwrap_or_else(|e| panic!("{stem}.json: {e}"));
        let path = seeds("profile_json").join(format!("{stem}.json"));
        check_saved(
            &path,
            &to_json(&p).unwrap(),
            "what this build writes for it",
        );
    }
}

#[test]
fn saved_wire_bytes_are_what_this_build_sends_and_decode_to_the_same_profile() {
    for (stem, bytes) in saved_profiles() {
        let p = parse_profile(&bytes).unwrap();
        let path = seeds("wire").join(format!("{stem}.bin"));
        check_saved(&path, &encode(&p), "the encoding of the saved profile");
        let sent = std::fs::read(&path).unwrap();
        assert_eq!(
            decode(&sent).unwrap(),
            p,
            "{stem}.bin decodes to another profile"
        );
    }
}
