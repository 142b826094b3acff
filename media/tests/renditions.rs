//! The fixed rendition set: every size below the image's own in WebP and JPEG, the
//! image's own size as the largest, never upscaled, turned upright, each decoding to the
//! size it states; the seed's thumbnail; a thumbhash with the image's aspect ratio.

use std::io::Cursor;

use folio_media::{RenditionFormat, ThumbnailSpec, make_renditions, sniff_image};
use folio_testkit::images::{gradient, jpeg_with_metadata};
use image::{DynamicImage, ImageFormat};

fn encode(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(gradient(width, height))
        .write_to(&mut out, format)
        .unwrap();
    out.into_inner()
}

/// (width, height, format) of every rendition, checked to decode to what it states.
fn sizes(bytes: &[u8]) -> Vec<(u32, u32, RenditionFormat)> {
    let set = make_renditions(bytes, &ThumbnailSpec::default()).unwrap();
    for r in &set.renditions {
        let kind = sniff_image(&r.bytes).unwrap();
        assert_eq!(kind.mime(), r.format.mime());
        let decoded = image::load_from_memory(&r.bytes).unwrap();
        assert_eq!(
            (decoded.width(), decoded.height()),
            (r.width, r.height),
            "{:?}",
            r.format
        );
    }
    set.renditions.iter().map(|r| (r.width, r.height, r.format)).collect()
}

fn both(sizes: &[(u32, u32)]) -> Vec<(u32, u32, RenditionFormat)> {
    sizes
        .iter()
        .flat_map(|&(w, h)| [(w, h, RenditionFormat::Webp), (w, h, RenditionFormat::Jpeg)])
        .collect()
}

#[test]
fn a_large_jpeg_gets_all_four_sizes_in_both_formats() {
    let bytes = encode(3000, 2000, ImageFormat::Jpeg);
    assert_eq!(
        sizes(&bytes),
        both(&[(320, 213), (640, 427), (1280, 853), (2048, 1365)])
    );
    let set = make_renditions(&bytes, &ThumbnailSpec::default()).unwrap();
    assert_eq!((set.source_width, set.source_height), (3000, 2000));
    assert_eq!((set.thumbnail.width, set.thumbnail.height), (300, 200));
    assert_eq!(set.thumbnail.format, RenditionFormat::Jpeg);
    // A thumbhash keeps the shape only as its count of components across and down (at
    // most 7 on the long side): 3:2 comes back as 7:5.
    let ratio = thumbhash::thumb_hash_to_approximate_aspect_ratio(&set.thumbhash).unwrap();
    assert!((ratio - 1.5).abs() <= 0.15, "thumbhash aspect ratio {ratio}");
    // The placeholder decodes to a picture of that shape too.
    let (w, h, rgba) = thumbhash::thumb_hash_to_rgba(&set.thumbhash).unwrap();
    assert_eq!(rgba.len(), w * h * 4);
    assert!(w > h, "{w}×{h}");
}

#[test]
fn smaller_images_are_never_upscaled() {
    assert_eq!(
        sizes(&encode(500, 300, ImageFormat::Png)),
        both(&[(320, 192), (500, 300)])
    );
    assert_eq!(sizes(&encode(100, 50, ImageFormat::Gif)), both(&[(100, 50)]));
    assert_eq!(
        sizes(&encode(2048, 1024, ImageFormat::WebP)),
        both(&[(320, 160), (640, 320), (1280, 640), (2048, 1024)])
    );
}

#[test]
fn renditions_are_upright() {
    // 800×600 stored, orientation 6: displayed 600×800.
    let bytes = jpeg_with_metadata(800, 600, 6);
    assert_eq!(sizes(&bytes), both(&[(240, 320), (480, 640), (600, 800)]));
    let set = make_renditions(&bytes, &ThumbnailSpec::default()).unwrap();
    assert_eq!((set.source_width, set.source_height), (600, 800));
    let ratio = thumbhash::thumb_hash_to_approximate_aspect_ratio(&set.thumbhash).unwrap();
    assert!((ratio - 0.75).abs() < 0.1, "thumbhash aspect ratio {ratio}");
}

#[test]
fn the_system_libjpeg_turbo_path_makes_the_same_set() {
    let bytes = encode(1600, 1200, ImageFormat::Jpeg);
    let spec = ThumbnailSpec {
        system_libjpeg_turbo: true,
        ..ThumbnailSpec::default()
    };
    let set = make_renditions(&bytes, &spec).unwrap();
    let got: Vec<_> = set.renditions.iter().map(|r| (r.width, r.height, r.format)).collect();
    assert_eq!(got, both(&[(320, 240), (640, 480), (1280, 960), (1600, 1200)]));
    for r in &set.renditions {
        image::load_from_memory(&r.bytes).unwrap();
    }
}
