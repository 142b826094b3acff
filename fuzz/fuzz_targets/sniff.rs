//! Content sniffing decides an upload's type from its bytes: any bytes, no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(kind) = folio_media::sniff_image(data) {
        // The answer is one of the accepted types, with its own MIME type and extension.
        assert!(kind.mime().starts_with("image/"));
        assert!(!kind.extension().is_empty());
    }
});
