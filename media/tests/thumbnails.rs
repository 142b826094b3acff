//! make_thumbnail: geometry, orientation, formats and hostile input. Fixtures are made here.

use std::io::Cursor;
use std::time::{Duration, Instant};

use folio_media::{ImageKind, Thumbnail, ThumbnailError, ThumbnailSpec, make_thumbnail, sniff_image};
use image::metadata::Orientation;
use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};

const RED: [u8; 3] = [230, 20, 20];
const GREEN: [u8; 3] = [20, 200, 20];
const BLUE: [u8; 3] = [20, 20, 230];
const YELLOW: [u8; 3] = [240, 230, 20];

/// Four coloured quadrants: red top-left, green top-right, blue bottom-left, yellow
/// bottom-right. Orientation mistakes move the colours.
fn quadrants(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        Rgb(match (x < w / 2, y < h / 2) {
            (true, true) => RED,
            (false, true) => GREEN,
            (true, false) => BLUE,
            (false, false) => YELLOW,
        })
    })
}

fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

fn jpeg(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 92)
        .encode_image(img)
        .unwrap();
    out
}

/// Inserts an EXIF APP1 segment with the given orientation right after SOI.
fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut tiff = b"II\x2a\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0".to_vec();
    tiff.extend_from_slice(&orientation.to_le_bytes());
    tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // padding + next IFD = 0
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn decode(t: &Thumbnail) -> RgbImage {
    assert_eq!(sniff_image(&t.jpeg), Some(ImageKind::Jpeg));
    let img = image::load_from_memory_with_format(&t.jpeg, ImageFormat::Jpeg)
        .unwrap()
        .to_rgb8();
    assert_eq!(img.dimensions(), (t.width, t.height), "header dims match reported dims");
    img
}

fn close(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 45)
}

/// Compares the colour at the centre of each quadrant.
fn assert_same_layout(got: &RgbImage, want: &RgbImage, what: &str) {
    for (fx, fy) in [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)] {
        let g = got
            .get_pixel((got.width() as f64 * fx) as u32, (got.height() as f64 * fy) as u32)
            .0;
        let w = want
            .get_pixel((want.width() as f64 * fx) as u32, (want.height() as f64 * fy) as u32)
            .0;
        assert!(close(g, w), "{what}: at ({fx},{fy}) got {g:?}, want {w:?}");
    }
}

/// The pure-Rust result. In the default build every image also goes through the system's
/// libjpeg-turbo (what a node uses where `libturbojpeg0` is installed, as
/// scripts/test.sh makes sure), and the two paths must agree on the outcome and sizes.
fn thumb(bytes: &[u8]) -> Result<Thumbnail, ThumbnailError> {
    let rust = make_thumbnail(bytes, &ThumbnailSpec::default());
    #[cfg(not(feature = "turbojpeg"))]
    {
        let system = make_thumbnail(bytes, &system_libjpeg_spec(ThumbnailSpec::default()));
        match (&rust, &system) {
            (Ok(a), Ok(b)) => assert_eq!(
                (a.width, a.height, a.source_width, a.source_height),
                (b.width, b.height, b.source_width, b.source_height),
                "sizes from Rust and from the system's libjpeg-turbo"
            ),
            (Err(a), Err(b)) => assert_eq!(a.code(), b.code(), "Rust: {a}; system libjpeg-turbo: {b}"),
            _ => panic!("the JPEG paths disagree: Rust {rust:?}, system libjpeg-turbo {system:?}"),
        }
    }
    rust
}

/// `spec` with the system's libjpeg-turbo, which must be installed.
#[cfg(not(feature = "turbojpeg"))]
fn system_libjpeg_spec(spec: ThumbnailSpec) -> ThumbnailSpec {
    let spec = ThumbnailSpec {
        system_libjpeg_turbo: true,
        ..spec
    };
    assert!(
        folio_media::jpeg_backend(&spec).starts_with("system libjpeg-turbo"),
        "libturbojpeg0 is not installed (scripts/test.sh installs it)"
    );
    spec
}

#[test]
fn landscape_portrait_and_small() {
    let t = thumb(&jpeg(&quadrants(1200, 800))).unwrap();
    assert_eq!(
        (t.width, t.height, t.source_width, t.source_height),
        (300, 200, 1200, 800)
    );
    assert_same_layout(&decode(&t), &quadrants(300, 200), "landscape");

    let t = thumb(&jpeg(&quadrants(800, 1200))).unwrap();
    assert_eq!((t.width, t.height), (200, 300));
    assert_same_layout(&decode(&t), &quadrants(200, 300), "portrait");

    let t = thumb(&jpeg(&quadrants(100, 50))).unwrap();
    assert_eq!((t.width, t.height), (100, 50), "never upscaled");
    assert_same_layout(&decode(&t), &quadrants(100, 50), "small");

    // Big enough for the 1/8 DCT scale path.
    let t = thumb(&jpeg(&quadrants(2880, 1920))).unwrap();
    assert_eq!((t.width, t.height), (300, 200));
    assert_same_layout(&decode(&t), &quadrants(300, 200), "dct-scaled");
}

#[test]
fn exif_orientation_6_swaps_dimensions() {
    let src = quadrants(1200, 800);
    let bytes = with_exif_orientation(&jpeg(&src), 6);
    let t = thumb(&bytes).unwrap();
    assert_eq!((t.width, t.height), (200, 300));
    assert_eq!((t.source_width, t.source_height), (800, 1200));
    // Orientation 6 = rotate 90° clockwise to display: red (top-left) ends top-right.
    let got = decode(&t);
    let px = got.get_pixel(150, 50).0;
    assert!(close(px, RED), "top-right should be red, got {px:?}");
}

#[test]
fn all_eight_exif_orientations() {
    let src = quadrants(480, 320);
    let plain = jpeg(&src);
    for o in 1..=8u8 {
        let t = thumb(&with_exif_orientation(&plain, o as u16)).unwrap();
        let mut want = DynamicImage::ImageRgb8(src.clone());
        want.apply_orientation(Orientation::from_exif(o).unwrap());
        let want = want.to_rgb8();
        let swapped = o >= 5;
        assert_eq!(
            (t.width, t.height),
            if swapped { (200, 300) } else { (300, 200) },
            "orientation {o}"
        );
        assert_same_layout(&decode(&t), &want, &format!("orientation {o}"));
    }
}

#[test]
fn png_with_alpha_becomes_white() {
    // Left half fully transparent (black underneath), right half opaque blue.
    let img = RgbaImage::from_fn(600, 400, |x, _| {
        if x < 300 {
            Rgba([0, 0, 0, 0])
        } else {
            Rgba([BLUE[0], BLUE[1], BLUE[2], 255])
        }
    });
    let bytes = encode(&DynamicImage::ImageRgba8(img), ImageFormat::Png);
    let t = thumb(&bytes).unwrap();
    assert_eq!((t.width, t.height), (300, 200));
    let got = decode(&t);
    let left = got.get_pixel(40, 100).0;
    assert!(
        left.iter().all(|&c| c >= 245),
        "transparent must turn white, got {left:?}"
    );
    assert!(close(got.get_pixel(260, 100).0, BLUE));
}

#[test]
fn png_rgb_and_sixteen_bit() {
    let t = thumb(&encode(&DynamicImage::ImageRgb8(quadrants(900, 600)), ImageFormat::Png)).unwrap();
    assert_eq!((t.width, t.height), (300, 200));
    assert_same_layout(&decode(&t), &quadrants(300, 200), "png");

    let img16 = DynamicImage::ImageRgb8(quadrants(640, 480)).into_rgb16();
    let t = thumb(&encode(&DynamicImage::ImageRgb16(img16), ImageFormat::Png)).unwrap();
    assert_eq!((t.width, t.height), (300, 225));
    assert_same_layout(&decode(&t), &quadrants(300, 225), "png16");
}

#[test]
fn gif_first_frame() {
    let bytes = encode(&DynamicImage::ImageRgb8(quadrants(600, 300)), ImageFormat::Gif);
    assert_eq!(sniff_image(&bytes), Some(ImageKind::Gif));
    let t = thumb(&bytes).unwrap();
    assert_eq!((t.width, t.height), (300, 150));
    assert_same_layout(&decode(&t), &quadrants(300, 150), "gif");
}

#[test]
fn webp_lossless_with_alpha() {
    let src = quadrants(400, 600);
    let mut img = RgbaImage::from_fn(400, 600, |x, y| {
        let c = src.get_pixel(x, y).0;
        Rgba([c[0], c[1], c[2], 255])
    });
    img.put_pixel(0, 0, Rgba([0, 0, 0, 0]));
    let bytes = encode(&DynamicImage::ImageRgba8(img), ImageFormat::WebP);
    assert_eq!(sniff_image(&bytes), Some(ImageKind::Webp));
    let t = thumb(&bytes).unwrap();
    assert_eq!((t.width, t.height), (200, 300));
    assert_same_layout(&decode(&t), &quadrants(200, 300), "webp");
}

#[test]
fn grayscale_jpeg() {
    let gray = DynamicImage::ImageRgb8(quadrants(640, 320)).into_luma8();
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90)
        .encode_image(&gray)
        .unwrap();
    let t = thumb(&bytes).unwrap();
    assert_eq!((t.width, t.height), (300, 150));
}

#[test]
fn custom_box_and_quality() {
    let spec = ThumbnailSpec {
        max_width: 64,
        max_height: 64,
        quality: 40,
        ..Default::default()
    };
    let t = make_thumbnail(&jpeg(&quadrants(1000, 500)), &spec).unwrap();
    assert_eq!((t.width, t.height), (64, 32));
    let hi = make_thumbnail(&jpeg(&quadrants(1000, 500)), &ThumbnailSpec { quality: 100, ..spec }).unwrap();
    assert!(hi.jpeg.len() > t.jpeg.len(), "quality is applied");
}

// ---- hostile input ----

fn assert_fast<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let r = f();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{what} took {:?}",
        start.elapsed()
    );
    r
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_chunk(out: &mut Vec<u8>, ty: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut body = ty.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
}

/// A PNG whose IHDR claims `w × h` RGB8, followed by a tiny IDAT: a decompression bomb's
/// header.
fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit, RGB, deflate, no filter, no interlace
    png_chunk(&mut out, b"IHDR", &ihdr);
    png_chunk(&mut out, b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    png_chunk(&mut out, b"IEND", &[]);
    out
}

#[test]
fn crc_helper_is_right() {
    // The CRC of an empty IEND chunk is well known.
    assert_eq!(crc32(b"IEND"), 0xAE42_6082);
}

#[test]
fn png_bomb_header_fails_fast() {
    let bytes = png_claiming(100_000, 100_000);
    let r = assert_fast("png bomb", || thumb(&bytes));
    assert_eq!(
        r.unwrap_err(),
        ThumbnailError::TooLarge {
            width: 100_000,
            height: 100_000
        }
    );
    // Just over the pixel limit, too.
    let r = thumb(&png_claiming(10_000, 5_001));
    assert!(matches!(r, Err(ThumbnailError::TooLarge { .. })), "{r:?}");
}

#[test]
fn jpeg_bomb_header_fails_fast() {
    // Patch the SOF0 frame size of a real JPEG to 60000×60000 (3.6 gigapixels).
    let mut bytes = jpeg(&quadrants(64, 64));
    let sof = bytes.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    bytes[sof + 5..sof + 7].copy_from_slice(&60000u16.to_be_bytes());
    bytes[sof + 7..sof + 9].copy_from_slice(&60000u16.to_be_bytes());
    let r = assert_fast("jpeg bomb", || thumb(&bytes));
    assert_eq!(
        r.unwrap_err(),
        ThumbnailError::TooLarge {
            width: 60000,
            height: 60000
        }
    );
}

#[test]
fn not_images_are_unsupported() {
    for bytes in [
        &b""[..],
        b"hello, I am a text file named photo.png\n",
        b"%PDF-1.4",
        b"\xFF\xD8",
    ] {
        let r = assert_fast("non-image", || thumb(bytes));
        assert_eq!(r.unwrap_err(), ThumbnailError::Unsupported, "{bytes:?}");
    }
}

fn noisy(w: u32, h: u32) -> RgbImage {
    let mut x = 0x9E37_79B9u32;
    RgbImage::from_fn(w, h, |_, _| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        Rgb([x as u8, (x >> 8) as u8, (x >> 16) as u8])
    })
}

#[test]
fn truncated_jpeg_is_corrupt() {
    let full = jpeg(&noisy(800, 600));
    thumb(&full).expect("the untruncated file is fine");
    for cut in [full.len() / 2, full.len() * 9 / 10, 200, 40] {
        let r = assert_fast("truncated jpeg", || thumb(&full[..cut]));
        assert!(matches!(r, Err(ThumbnailError::Corrupt(_))), "cut at {cut}: {r:?}");
    }
}

#[test]
fn truncated_and_damaged_others_are_corrupt() {
    let png = encode(&DynamicImage::ImageRgb8(noisy(300, 200)), ImageFormat::Png);
    let gif = encode(&DynamicImage::ImageRgb8(noisy(300, 200)), ImageFormat::Gif);
    let webp = encode(&DynamicImage::ImageRgb8(noisy(300, 200)), ImageFormat::WebP);
    for (name, bytes) in [("png", png), ("gif", gif), ("webp", webp)] {
        for cut in [bytes.len() / 2, 20] {
            let r = assert_fast(name, || thumb(&bytes[..cut]));
            assert!(
                matches!(r, Err(ThumbnailError::Corrupt(_))),
                "{name} cut at {cut}: {r:?}"
            );
        }
    }
    // Zero-sized PNG header.
    let r = thumb(&png_claiming(0, 10));
    assert!(matches!(r, Err(ThumbnailError::Corrupt(_))), "{r:?}");
}

#[test]
fn random_garbage_never_panics() {
    let base = jpeg(&quadrants(200, 120));
    let mut x = 12345u64;
    for _ in 0..300 {
        let mut b = base.clone();
        for _ in 0..8 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let i = (x as usize) % b.len();
            b[i] = (x >> 32) as u8;
        }
        // Damaged data: each decoder may give up or carry on, but none may panic.
        let _ = make_thumbnail(&b, &ThumbnailSpec::default());
        #[cfg(not(feature = "turbojpeg"))]
        let _ = make_thumbnail(&b, &system_libjpeg_spec(ThumbnailSpec::default()));
    }
    let png = encode(&DynamicImage::ImageRgb8(quadrants(120, 80)), ImageFormat::Png);
    for i in (8..png.len()).step_by(7) {
        let mut b = png.clone();
        b[i] ^= 0x5A;
        let _ = thumb(&b);
    }
}

// ---- JPEG backends ----

#[test]
fn backend_matches_the_feature() {
    if cfg!(feature = "turbojpeg") {
        assert_eq!(folio_media::JPEG_BACKEND, "libjpeg-turbo (scaled decode)");
    } else {
        assert_eq!(folio_media::JPEG_BACKEND, "jpeg-decoder (scaled decode)");
        assert_eq!(
            folio_media::jpeg_backend(&ThumbnailSpec::default()),
            folio_media::JPEG_BACKEND,
            "a bare spec stays pure Rust"
        );
    }
}

/// Documents why the pure-Rust path checks for the end-of-image marker itself: zune-jpeg
/// (through `image`) does not fail on a JPEG cut in the middle of its scan; it fills the
/// missing part. If this ever starts failing, zune-jpeg reports truncation itself.
#[test]
fn zune_jpeg_pads_truncated_scans_silently() {
    let full = jpeg(&noisy(800, 600));
    let half = &full[..full.len() / 2];
    let decoded = image::load_from_memory_with_format(half, ImageFormat::Jpeg);
    let img = decoded.expect("zune-jpeg decodes a half JPEG without an error");
    assert_eq!((img.width(), img.height()), (800, 600));
}

#[test]
fn jpeg_missing_only_its_end_marker_is_corrupt() {
    let full = jpeg(&noisy(800, 600));
    assert_eq!(&full[full.len() - 2..], &[0xFF, 0xD9]);
    let r = thumb(&full[..full.len() - 2]);
    assert!(matches!(r, Err(ThumbnailError::Corrupt(_))), "{r:?}");
}

#[test]
fn jpeg_with_bytes_after_its_end_marker_is_fine() {
    let mut bytes = jpeg(&quadrants(1200, 800));
    bytes.extend_from_slice(&[0u8; 4096]);
    bytes.extend_from_slice(b"appended trailer, like a motion photo's video");
    let t = thumb(&bytes).unwrap();
    assert_eq!((t.width, t.height), (300, 200));
    assert_same_layout(&decode(&t), &quadrants(300, 200), "trailing bytes");
}

#[test]
fn exif_thumbnail_end_marker_does_not_hide_truncation() {
    // An APP1 segment containing FF D9 (as an embedded EXIF thumbnail has), then a scan cut
    // short: still corrupt.
    let full = jpeg(&noisy(400, 300));
    let mut bytes = full[..2].to_vec();
    let app1 = b"Exif\0\0embedded thumbnail \xFF\xD8 ... \xFF\xD9";
    bytes.extend_from_slice(&[0xFF, 0xE1]);
    bytes.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    bytes.extend_from_slice(app1);
    bytes.extend_from_slice(&full[2..]);
    thumb(&bytes).expect("the untruncated file is fine");
    let cut = bytes.len() * 3 / 4;
    let r = thumb(&bytes[..cut]);
    assert!(matches!(r, Err(ThumbnailError::Corrupt(_))), "{r:?}");
}

#[test]
fn large_jpeg_keeps_layout_on_both_backends() {
    // Large enough that the libjpeg-turbo path uses the 1/8 DCT scale and the pure path a
    // big Lanczos reduction: both give the same geometry and colours.
    let spec = ThumbnailSpec {
        max_width: 160,
        max_height: 160,
        ..Default::default()
    };
    let t = make_thumbnail(&jpeg(&quadrants(3200, 1600)), &spec).unwrap();
    assert_eq!(
        (t.width, t.height, t.source_width, t.source_height),
        (160, 80, 3200, 1600)
    );
    assert_same_layout(&decode(&t), &quadrants(160, 80), "large");
    #[cfg(not(feature = "turbojpeg"))]
    {
        let t = make_thumbnail(&jpeg(&quadrants(3200, 1600)), &system_libjpeg_spec(spec)).unwrap();
        assert_eq!((t.width, t.height), (160, 80));
        assert_same_layout(&decode(&t), &quadrants(160, 80), "large, system libjpeg-turbo");
    }
}
