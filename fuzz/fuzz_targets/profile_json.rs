//! The profile JSON reader: `rankscope merge` reads snapshot files that a killed job, a full disk
//! or another tool may have left in any state. Whatever the bytes, the reader returns a profile
//! or an error, never panics; and a profile it accepts must go through everything a merge does
//! with it (merging, every writer, per-rank views) without a panic, and write back to JSON that
//! reads again to the same output.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rankscope::output::{outputs, parse_profile, to_json, OutputOptions};

fuzz_target!(|data: &[u8]| {
    let Ok(profile) = parse_profile(data) else {
        return;
    };
    let every = OutputOptions {
        dart_output: true,
        trace_output: true,
        ..Default::default()
    };
    for (_, name, render) in outputs(&every) {
        if let Err(e) = render(&profile, &every) {
            // Writers may refuse (an I/O error from HDF5, say) but must say why, not panic.
            assert!(
                !e.to_string().is_empty(),
                "{name}: an error without a message"
            );
        }
    }
    for col in 0..profile.ranks.len() {
        let _ = to_json(&profile.rank_view(col));
    }
    let mut doubled = profile.clone();
    doubled.merge_same_rank(&profile);

    let written = to_json(&profile).expect("an accepted profile writes as JSON");
    let again = parse_profile(&written)
        .unwrap_or_else(|e| panic!("rankscope cannot read back what it wrote: {e}"));
    assert_eq!(
        to_json(&again).expect("writes again"),
        written,
        "write, read, write is not a fixed point"
    );
});
