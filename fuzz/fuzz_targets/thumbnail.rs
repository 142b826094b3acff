//! The thumbnailer decodes whatever was uploaded: any bytes give a thumbnail within the
//! spec or an error, never a panic or an allocation past the spec's bound.
#![no_main]

use folio_media::{ThumbnailSpec, make_thumbnail};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The server's spec, with smaller pixel and allocation bounds so each run stays fast
    // (the bounds are what is being exercised, not their size).
    let spec = ThumbnailSpec {
        max_pixels: 4_000_000,
        max_alloc: 64 * 1024 * 1024,
        ..ThumbnailSpec::default()
    };
    if let Ok(thumbnail) = make_thumbnail(data, &spec) {
        assert!(thumbnail.width <= spec.max_width && thumbnail.height <= spec.max_height);
    }
});
