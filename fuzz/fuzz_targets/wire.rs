//! The reduction's wire format (docs/output-format.md): a rank decodes what its children send.
//! Whatever the bytes, decoding returns a profile or an error (counts bounded by the bytes left,
//! indices checked), never panics or allocates without bound; what it accepts encodes back to
//! bytes that decode to the same profile.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rankscope::profile::{decode, encode};

fuzz_target!(|data: &[u8]| {
    let Ok(profile) = decode(data) else {
        return;
    };
    let again = decode(&encode(&profile)).expect("rankscope cannot decode what it encoded");
    assert_eq!(again, profile, "decode, encode, decode changed the profile");
});
