//! Metadata removal on images built with every kind of metadata (testkit::images): the
//! secrets are gone, the image data is byte-identical, the ICC profile and the orientation
//! stay, the result decodes, and stripping twice changes nothing.

use std::io::Cursor;

use folio_media::{ImageKind, StripError, ThumbnailSpec, make_thumbnail, strip_metadata};
use folio_testkit::images::{
    ICC_PROFILE, contains, gif_image_blocks, gif_with_metadata, jpeg_scans, jpeg_segments, jpeg_with_metadata,
    png_chunks, png_idat, png_with_metadata, secrets_left, webp_chunks, webp_with_metadata,
};
use image::{ImageDecoder, ImageReader, metadata::Orientation};

fn orientation_of(bytes: &[u8]) -> Orientation {
    let mut decoder = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .unwrap()
        .into_decoder()
        .unwrap();
    decoder.orientation().unwrap()
}

fn assert_idempotent(stripped: &[u8]) {
    let again = strip_metadata(stripped).unwrap();
    assert_eq!(again.removed, 0, "a second pass found more to remove");
    assert_eq!(again.bytes, stripped, "a second pass changed the bytes");
}

#[test]
fn jpeg_loses_exif_xmp_iptc_and_comments_but_keeps_scans_icc_and_orientation() {
    let source = jpeg_with_metadata(96, 64, 6);
    assert_eq!(secrets_left(&source).len(), 7, "the fixture carries its secrets");
    let stripped = strip_metadata(&source).unwrap();
    assert_eq!(stripped.kind, ImageKind::Jpeg);
    assert!(
        secrets_left(&stripped.bytes).is_empty(),
        "{:?}",
        secrets_left(&stripped.bytes)
    );
    assert_eq!(stripped.removed, 5, "EXIF, XMP, IPTC, COM and the trailer");
    // The entropy-coded data is the uploaded bytes.
    assert_eq!(jpeg_scans(&stripped.bytes), jpeg_scans(&source));
    // Kept: JFIF first, then the minimal EXIF, and the ICC profile.
    let segments = jpeg_segments(&stripped.bytes);
    assert_eq!(segments[0].0, 0xE0);
    assert_eq!(segments[1].0, 0xE1);
    assert_eq!(
        segments[1].1.len(),
        6 + 26,
        "Exif header and a one-tag TIFF: {:?}",
        segments[1].1
    );
    assert!(segments.iter().any(|(m, b)| *m == 0xE2 && contains(b, ICC_PROFILE)));
    assert!(!segments.iter().any(|(m, _)| matches!(m, 0xED | 0xFE)));
    assert_eq!(stripped.orientation, Some(6));
    assert_eq!(orientation_of(&stripped.bytes), Orientation::Rotate90);
    // Still displays turned: the thumbnail of a 96×64 grid at orientation 6 is upright 64×96.
    let thumbnail = make_thumbnail(&stripped.bytes, &ThumbnailSpec::default()).unwrap();
    assert_eq!((thumbnail.width, thumbnail.height), (64, 96));
    image::load_from_memory(&stripped.bytes).unwrap();
    assert_idempotent(&stripped.bytes);
}

#[test]
fn upright_jpeg_keeps_no_exif_at_all() {
    let stripped = strip_metadata(&jpeg_with_metadata(40, 30, 1)).unwrap();
    assert_eq!(stripped.orientation, None);
    assert!(!jpeg_segments(&stripped.bytes).iter().any(|(m, _)| *m == 0xE1));
    assert_idempotent(&stripped.bytes);
}

#[test]
fn png_loses_text_time_and_exif_but_keeps_idat_and_orientation() {
    let source = png_with_metadata(80, 50, 8);
    let stripped = strip_metadata(&source).unwrap();
    assert!(
        secrets_left(&stripped.bytes).is_empty(),
        "{:?}",
        secrets_left(&stripped.bytes)
    );
    assert_eq!(png_idat(&stripped.bytes), png_idat(&source));
    let kinds: Vec<[u8; 4]> = png_chunks(&stripped.bytes).into_iter().map(|(k, _)| k).collect();
    for gone in [b"tEXt", b"zTXt", b"iTXt", b"tIME"] {
        assert!(!kinds.contains(gone), "{} left", String::from_utf8_lossy(gone));
    }
    let exif: Vec<Vec<u8>> = png_chunks(&stripped.bytes)
        .into_iter()
        .filter(|(k, _)| k == b"eXIf")
        .map(|(_, d)| d)
        .collect();
    assert_eq!(exif.len(), 1);
    assert_eq!(exif[0].len(), 26, "only the orientation");
    assert_eq!(orientation_of(&stripped.bytes), Orientation::Rotate270);
    image::load_from_memory(&stripped.bytes).unwrap();
    assert_idempotent(&stripped.bytes);
}

#[test]
fn webp_loses_exif_and_xmp_chunks_and_its_flags_say_so() {
    let source = webp_with_metadata(70, 40, 1);
    let stripped = strip_metadata(&source).unwrap();
    assert!(
        secrets_left(&stripped.bytes).is_empty(),
        "{:?}",
        secrets_left(&stripped.bytes)
    );
    let chunks = webp_chunks(&stripped.bytes);
    let kinds: Vec<&[u8; 4]> = chunks.iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, [b"VP8X", b"ICCP", b"VP8L"]);
    assert_eq!(chunks[0].1[0], 0x20, "only the ICC flag is left");
    let bitstream = |b: &[u8]| webp_chunks(b).into_iter().find(|(k, _)| k == b"VP8L").unwrap().1;
    assert_eq!(bitstream(&stripped.bytes), bitstream(&source));
    let riff_size = u32::from_le_bytes(stripped.bytes[4..8].try_into().unwrap()) as usize;
    assert_eq!(riff_size + 8, stripped.bytes.len());
    let decoded = image::load_from_memory(&stripped.bytes).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (70, 40));
    assert_idempotent(&stripped.bytes);

    // A turned WebP keeps a one-tag EXIF chunk, flagged.
    let turned = strip_metadata(&webp_with_metadata(70, 40, 6)).unwrap();
    let chunks = webp_chunks(&turned.bytes);
    assert_eq!(chunks[0].1[0], 0x20 | 0x08);
    let exif = &chunks.iter().find(|(k, _)| k == b"EXIF").unwrap().1;
    assert_eq!(exif.len(), 26);
    assert!(secrets_left(&turned.bytes).is_empty());
    assert_eq!(orientation_of(&turned.bytes), Orientation::Rotate90);
    assert_idempotent(&turned.bytes);
}

#[test]
fn gif_loses_comments_and_xmp_but_keeps_its_image_blocks() {
    let source = gif_with_metadata(33, 21);
    let stripped = strip_metadata(&source).unwrap();
    assert!(
        secrets_left(&stripped.bytes).is_empty(),
        "{:?}",
        secrets_left(&stripped.bytes)
    );
    assert_eq!(stripped.removed, 3, "comment, XMP and the trailing bytes");
    assert_eq!(gif_image_blocks(&stripped.bytes), gif_image_blocks(&source));
    assert_eq!(stripped.bytes.last(), Some(&0x3B));
    let decoded = image::load_from_memory(&stripped.bytes).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (33, 21));
    assert_idempotent(&stripped.bytes);
}

#[test]
fn unreadable_containers_are_refused_not_stored_with_their_metadata() {
    // A JPEG whose EXIF segment claims more bytes than the file has.
    let mut jpeg = jpeg_with_metadata(32, 32, 1);
    let app1 = jpeg.windows(2).position(|w| w == [0xFF, 0xE1]).unwrap();
    jpeg[app1 + 2] = 0xFF;
    jpeg[app1 + 3] = 0xFF;
    jpeg.truncate(app1 + 200);
    assert!(matches!(
        strip_metadata(&jpeg),
        Err(StripError::Malformed { format: "JPEG", .. })
    ));
    let mut png = png_with_metadata(16, 16, 1);
    png.truncate(8 + 25 + 20);
    // A PNG cut short inside its text chunk: the partial chunk goes with the rest.
    let cut = strip_metadata(&png).unwrap();
    assert!(secrets_left(&cut.bytes).is_empty());
    assert!(!png_chunks(&cut.bytes).iter().any(|(k, _)| k == b"tEXt"));
    // A PNG chunk type that is not letters.
    let mut png = png_with_metadata(16, 16, 1);
    png[8 + 25 + 4] = 0;
    assert!(matches!(
        strip_metadata(&png),
        Err(StripError::Malformed { format: "PNG", .. })
    ));
    // A GIF block that is neither an image nor an extension.
    let mut gif = gif_with_metadata(8, 8);
    let packed = gif[10];
    let table = if packed & 0x80 != 0 { 3 << ((packed & 7) + 1) } else { 0 };
    gif[13 + table] = 0x42;
    assert!(matches!(
        strip_metadata(&gif),
        Err(StripError::Malformed { format: "GIF", .. })
    ));
    assert_eq!(strip_metadata(b"plain text"), Err(StripError::Unsupported));
}

#[test]
fn a_jpeg_cut_short_in_its_scan_is_kept_as_far_as_it_goes() {
    let source = jpeg_with_metadata(64, 48, 1);
    let scans = jpeg_scans(&source).len();
    let cut = &source[..source.len() - folio_testkit::images::TRAILER.len() - scans / 2];
    let stripped = strip_metadata(cut).unwrap();
    assert!(secrets_left(&stripped.bytes).is_empty());
    // The thumbnailer then reports it as truncated, as before.
    assert!(make_thumbnail(&stripped.bytes, &ThumbnailSpec::default()).is_err());
}
