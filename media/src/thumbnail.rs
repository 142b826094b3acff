//! Thumbnails: decode with size limits, honour EXIF orientation, fit inside a box keeping
//! the aspect ratio (never upscaling), flatten alpha onto white, encode JPEG.
//!
//! JPEG backends (see [`JPEG_BACKEND`]):
//! * with the `turbojpeg` cargo feature, JPEGs are decoded by libjpeg-turbo at a reduced DCT
//!   scale (1/2, 1/4 or 1/8, the largest reduction that still leaves at least the target
//!   size), the trick libvips and Pillow's `draft` use, and thumbnails are encoded by
//!   libjpeg-turbo (needs cmake + nasm to build);
//! * without it (the default), the system's libjpeg-turbo is loaded at run time when it is
//!   installed (`libturbojpeg0`) and [`ThumbnailSpec::system_libjpeg_turbo`] allows it,
//!   for the same scaled decoding and encoder with nothing needed at build time;
//! * otherwise everything is pure Rust: JPEGs are decoded by jpeg-decoder at the same kind
//!   of reduced DCT scale, and encoded by `image`'s JPEG encoder.
//!
//! Either way the frame size is checked against the limits before decoding, EXIF
//! orientation comes from the crate's own parser, a JPEG cut short is
//! [`ThumbnailError::Corrupt`], and the resize is a Lanczos3 convolution
//! (fast_image_resize, SIMD). PNG, GIF (first frame) and WebP go through the `image` crate.

use std::io::Cursor;

use fast_image_resize::images::{Image as FirImage, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits, RgbImage};

use crate::jpeg;
use crate::sniff::{ImageKind, sniff_image};
#[cfg(not(feature = "turbojpeg"))]
use crate::system_turbo::{self as libjpeg, JpegError};
#[cfg(feature = "turbojpeg")]
use crate::turbo::{self as libjpeg, JpegError};

/// The JPEG backend compiled in: `"libjpeg-turbo (scaled decode)"` with the `turbojpeg`
/// feature, `"jpeg-decoder (scaled decode)"` without it.
#[cfg(feature = "turbojpeg")]
pub const JPEG_BACKEND: &str = "libjpeg-turbo (scaled decode)";
/// The JPEG backend compiled in: `"libjpeg-turbo (scaled decode)"` with the `turbojpeg`
/// feature, `"jpeg-decoder (scaled decode)"` without it.
#[cfg(not(feature = "turbojpeg"))]
pub const JPEG_BACKEND: &str = "jpeg-decoder (scaled decode)";

/// What to produce and the limits for decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThumbnailSpec {
    /// The thumbnail fits inside `max_width × max_height` (as displayed, after EXIF
    /// orientation), keeping the aspect ratio; smaller images keep their size.
    pub max_width: u32,
    pub max_height: u32,
    /// JPEG quality 1..=100.
    pub quality: u8,
    /// Source images with more pixels fail with [`ThumbnailError::TooLarge`] before any
    /// pixel buffer is allocated.
    pub max_pixels: u64,
    /// Upper bound for the decoder's allocations, in bytes.
    pub max_alloc: u64,
    /// Default build: JPEGs through the system's libjpeg-turbo when it is installed.
    /// Off in [`ThumbnailSpec::default`], so that the pure-Rust path is what a bare
    /// `ThumbnailSpec` tests; the node turns it on (`FOLIO_SYSTEM_LIBJPEG_TURBO`).
    pub system_libjpeg_turbo: bool,
}

impl Default for ThumbnailSpec {
    fn default() -> Self {
        Self {
            max_width: 300,
            max_height: 300,
            quality: 85,
            max_pixels: 50_000_000,
            max_alloc: 512 * 1024 * 1024,
            system_libjpeg_turbo: false,
        }
    }
}

/// A generated thumbnail. Dimensions are as displayed (after EXIF orientation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thumbnail {
    pub jpeg: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// The source image's size as displayed (width and height swapped for EXIF
    /// orientations 5–8).
    pub source_width: u32,
    pub source_height: u32,
}

/// Why no thumbnail could be made. Every variant is permanent: retrying the same bytes
/// gives the same answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThumbnailError {
    #[error("not a supported image (JPEG, PNG, GIF or WebP)")]
    Unsupported,
    #[error("image too large to thumbnail: {width}x{height}")]
    TooLarge { width: u32, height: u32 },
    #[error("corrupt image: {0}")]
    Corrupt(String),
}

impl ThumbnailError {
    /// A short machine code (`unsupported`, `too_large`, `corrupt`) for records and logs.
    pub fn code(&self) -> &'static str {
        match self {
            ThumbnailError::Unsupported => "unsupported",
            ThumbnailError::TooLarge { .. } => "too_large",
            ThumbnailError::Corrupt(_) => "corrupt",
        }
    }
}

/// Makes a thumbnail. CPU-bound and synchronous: run it on a blocking pool.
pub fn make_thumbnail(bytes: &[u8], spec: &ThumbnailSpec) -> Result<Thumbnail, ThumbnailError> {
    let fitted = decode_fitted(bytes, spec)?;
    let jpeg = encode_rgb(&fitted.rgb, fitted.width, fitted.height, spec)
        .map_err(|e| ThumbnailError::Corrupt(format!("encoding: {}", e.0)))?;
    Ok(Thumbnail {
        jpeg,
        width: fitted.width,
        height: fitted.height,
        source_width: fitted.source_width,
        source_height: fitted.source_height,
    })
}

/// Decoded pixels fitted inside the spec's box, turned upright: packed RGB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fitted {
    pub rgb: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// The source image's size as displayed.
    pub source_width: u32,
    pub source_height: u32,
}

/// Decodes (at a reduced DCT scale where the format allows), fits inside the spec's box
/// and turns upright: the pixels every output is made from.
pub(crate) fn decode_fitted(bytes: &[u8], spec: &ThumbnailSpec) -> Result<Fitted, ThumbnailError> {
    if spec.max_width == 0 || spec.max_height == 0 {
        return Err(ThumbnailError::Corrupt("thumbnail box of zero size".into()));
    }
    let kind = sniff_image(bytes).ok_or(ThumbnailError::Unsupported)?;
    match kind {
        ImageKind::Jpeg => thumbnail_jpeg(bytes, spec),
        ImageKind::Png => thumbnail_generic(bytes, ImageFormat::Png, spec),
        ImageKind::Gif => thumbnail_generic(bytes, ImageFormat::Gif, spec),
        ImageKind::Webp => thumbnail_generic(bytes, ImageFormat::WebP, spec),
    }
}

enum Fallback {
    Cmyk,
    Error(ThumbnailError),
}

impl From<ThumbnailError> for Fallback {
    fn from(e: ThumbnailError) -> Self {
        Fallback::Error(e)
    }
}

/// A JPEG cut short is corrupt whatever a decoder would make of it (zune-jpeg pads the
/// missing scan data, libjpeg-turbo only warns), and it gets the same words on every
/// path. Checked after the frame size, so that a bomb's header still reads as too large.
fn require_end_of_image(bytes: &[u8]) -> Result<(), ThumbnailError> {
    if jpeg::has_eoi(bytes) {
        Ok(())
    } else {
        Err(ThumbnailError::Corrupt("truncated JPEG: no end-of-image marker".into()))
    }
}

fn check_size(width: u32, height: u32, spec: &ThumbnailSpec) -> Result<(), ThumbnailError> {
    if width == 0 || height == 0 {
        return Err(ThumbnailError::Corrupt("image of zero size".into()));
    }
    if u64::from(width) * u64::from(height) > spec.max_pixels {
        return Err(ThumbnailError::TooLarge { width, height });
    }
    Ok(())
}

fn swaps(o: Orientation) -> bool {
    matches!(
        o,
        Orientation::Rotate90 | Orientation::Rotate270 | Orientation::Rotate90FlipH | Orientation::Rotate270FlipH
    )
}

/// Fit `w × h` inside `bw × bh` keeping the ratio; never upscale; at least 1×1.
pub(crate) fn fit(w: u32, h: u32, bw: u32, bh: u32) -> (u32, u32) {
    if w <= bw && h <= bh {
        return (w, h);
    }
    let (w64, h64, bw64, bh64) = (w as u64, h as u64, bw as u64, bh as u64);
    if w64 * bh64 >= h64 * bw64 {
        // width-bound
        let th = ((h64 * bw64 + w64 / 2) / w64).max(1);
        (bw, th.min(bh64) as u32)
    } else {
        let tw = ((w64 * bh64 + h64 / 2) / h64).max(1);
        (tw.min(bw64) as u32, bh)
    }
}

/// Target size in the stored (un-rotated) pixel grid, plus the displayed source size.
fn targets(w: u32, h: u32, o: Orientation, spec: &ThumbnailSpec) -> ((u32, u32), (u32, u32)) {
    if swaps(o) {
        let (dw, dh) = fit(h, w, spec.max_width, spec.max_height);
        ((dh, dw), (h, w))
    } else {
        (fit(w, h, spec.max_width, spec.max_height), (w, h))
    }
}

/// libjpeg-turbo path; CMYK/YCCK JPEGs, which it cannot turn into RGB, go through `image`.
#[cfg(feature = "turbojpeg")]
fn thumbnail_jpeg(bytes: &[u8], spec: &ThumbnailSpec) -> Result<Fitted, ThumbnailError> {
    let decoder = libjpeg::Decoder::new().map_err(|e| match jpeg_err(e) {
        Fallback::Error(e) => e,
        Fallback::Cmyk => ThumbnailError::Corrupt("libjpeg-turbo".into()),
    })?;
    thumbnail_jpeg_libjpeg(decoder, bytes, spec)
}

/// The system's libjpeg-turbo where it is installed and allowed; pure Rust otherwise.
#[cfg(not(feature = "turbojpeg"))]
fn thumbnail_jpeg(bytes: &[u8], spec: &ThumbnailSpec) -> Result<Fitted, ThumbnailError> {
    if let Some(library) = system_libjpeg(spec) {
        match libjpeg::Decoder::new(library) {
            Ok(decoder) => return thumbnail_jpeg_libjpeg(decoder, bytes, spec),
            Err(e) => tracing::warn!(error = ?e, "libjpeg-turbo failed to start; decoding in Rust"),
        }
    }
    thumbnail_jpeg_rust(bytes, spec)
}

#[cfg(not(feature = "turbojpeg"))]
fn system_libjpeg(spec: &ThumbnailSpec) -> Option<&'static libjpeg::Library> {
    spec.system_libjpeg_turbo.then(libjpeg::library).flatten()
}

/// What decodes and encodes JPEGs for `spec` in this process.
pub fn jpeg_backend(spec: &ThumbnailSpec) -> &'static str {
    #[cfg(not(feature = "turbojpeg"))]
    if system_libjpeg(spec).is_some() {
        return "system libjpeg-turbo, loaded at run time (scaled decode)";
    }
    let _ = spec;
    JPEG_BACKEND
}

/// libjpeg-turbo (built in or the system's); CMYK/YCCK JPEGs, which it cannot turn into
/// RGB, go through `image`.
fn thumbnail_jpeg_libjpeg(
    decoder: libjpeg::Decoder,
    bytes: &[u8],
    spec: &ThumbnailSpec,
) -> Result<Fitted, ThumbnailError> {
    match thumbnail_jpeg_scaled(decoder, bytes, spec) {
        Err(Fallback::Cmyk) => thumbnail_generic(bytes, ImageFormat::Jpeg, spec),
        Err(Fallback::Error(e)) => Err(e),
        Ok(t) => Ok(t),
    }
}

/// Pure-Rust path: jpeg-decoder at the largest DCT reduction that still leaves at least the
/// target size, the trick libjpeg's scaled decoding gives libvips and Pillow's `draft`.
/// CMYK/YCCK and 16-bit JPEGs, rare in uploads, go through the `image` crate at full size.
#[cfg(not(feature = "turbojpeg"))]
fn thumbnail_jpeg_rust(bytes: &[u8], spec: &ThumbnailSpec) -> Result<Fitted, ThumbnailError> {
    use jpeg_decoder::PixelFormat;

    let (width, height) = jpeg::frame_dimensions(bytes)
        .ok_or_else(|| ThumbnailError::Corrupt("JPEG without a readable frame header".into()))?;
    check_size(width, height, spec)?;
    require_end_of_image(bytes)?;
    let orientation = jpeg_orientation(bytes);
    let ((tw, th), (sw, sh)) = targets(width, height, orientation, spec);
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    decoder.set_max_decoding_buffer_size(usize::try_from(spec.max_alloc).unwrap_or(usize::MAX));
    let requested = |v: u32| u16::try_from(v).unwrap_or(u16::MAX);
    let (dw, dh) = decoder
        .scale(requested(tw), requested(th))
        .map_err(|e| ThumbnailError::Corrupt(e.to_string()))?;
    let format = decoder.info().map(|info| info.pixel_format);
    if !matches!(format, Some(PixelFormat::RGB24 | PixelFormat::L8)) {
        return thumbnail_generic(bytes, ImageFormat::Jpeg, spec);
    }
    let pixels = decoder.decode().map_err(|e| ThumbnailError::Corrupt(e.to_string()))?;
    let (dw, dh) = (u32::from(dw), u32::from(dh));
    let rgb = if format == Some(PixelFormat::L8) {
        pixels.iter().flat_map(|&l| [l, l, l]).collect()
    } else {
        pixels
    };
    if rgb.len() as u64 != u64::from(dw) * u64::from(dh) * 3 {
        return Err(ThumbnailError::Corrupt("decoded JPEG of an unexpected size".into()));
    }
    finish(rgb, dw, dh, tw, th, sw, sh, orientation)
}

fn thumbnail_jpeg_scaled(mut dec: libjpeg::Decoder, bytes: &[u8], spec: &ThumbnailSpec) -> Result<Fitted, Fallback> {
    let header = dec.read_header(bytes).map_err(jpeg_err)?;
    check_size(header.width, header.height, spec)?;
    require_end_of_image(bytes)?;
    let orientation = jpeg_orientation(bytes);
    let ((tw, th), (sw, sh)) = targets(header.width, header.height, orientation, spec);

    // The largest DCT reduction that still gives at least the target size.
    let num = [1u32, 2, 4, 8]
        .into_iter()
        .find(|&n| (header.width * n).div_ceil(8) >= tw && (header.height * n).div_ceil(8) >= th)
        .unwrap_or(8);
    let (dw, dh) = ((header.width * num).div_ceil(8), (header.height * num).div_ceil(8));
    if u64::from(dw) * u64::from(dh) * 3 > spec.max_alloc {
        return Err(ThumbnailError::TooLarge {
            width: header.width,
            height: header.height,
        }
        .into());
    }
    let (rgb, dw, dh) = dec.decode_rgb_scaled(bytes, &header, num).map_err(jpeg_err)?;
    finish(rgb, dw, dh, tw, th, sw, sh, orientation).map_err(Fallback::Error)
}

fn jpeg_err(e: JpegError) -> Fallback {
    match e {
        JpegError::UnsupportedColorspace => Fallback::Cmyk,
        JpegError::Corrupt(msg) => Fallback::Error(ThumbnailError::Corrupt(msg)),
    }
}

fn jpeg_orientation(bytes: &[u8]) -> Orientation {
    jpeg::exif_orientation(bytes)
        .and_then(Orientation::from_exif)
        .unwrap_or(Orientation::NoTransforms)
}

fn image_err(e: ImageError, width: u32, height: u32) -> ThumbnailError {
    match e {
        ImageError::Limits(_) => ThumbnailError::TooLarge { width, height },
        ImageError::Unsupported(u) => ThumbnailError::Corrupt(format!("unsupported variant: {u}")),
        other => ThumbnailError::Corrupt(other.to_string()),
    }
}

fn thumbnail_generic(bytes: &[u8], format: ImageFormat, spec: &ThumbnailSpec) -> Result<Fitted, ThumbnailError> {
    // A bomb's header is refused before the decoder (and its buffers) exists.
    if let Some((w, h)) = peek_dimensions(bytes, format) {
        check_size(w, h, spec)?;
    }
    if format == ImageFormat::Jpeg {
        require_end_of_image(bytes)?;
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    // Header-sized limits while reading the header; the real ones follow below.
    let mut limits = Limits::default();
    limits.max_alloc = Some(spec.max_alloc);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|e| image_err(e, 0, 0))?;
    // Dimensions come from the header: check them before any pixel buffer exists.
    let (width, height) = decoder.dimensions();
    check_size(width, height, spec)?;
    if decoder.total_bytes() > spec.max_alloc {
        return Err(ThumbnailError::TooLarge { width, height });
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    limits.max_alloc = Some(spec.max_alloc);
    decoder.set_limits(limits).map_err(|e| image_err(e, width, height))?;
    let orientation = if format == ImageFormat::Jpeg {
        // The crate's own EXIF reader, as on the libjpeg-turbo path.
        jpeg_orientation(bytes)
    } else {
        decoder.orientation().unwrap_or(Orientation::NoTransforms)
    };
    let ((tw, th), (sw, sh)) = targets(width, height, orientation, spec);
    let image = DynamicImage::from_decoder(decoder).map_err(|e| image_err(e, width, height))?;
    let (w, h) = (image.width(), image.height());
    if !image.color().has_alpha() {
        return finish(image.into_rgb8().into_raw(), w, h, tw, th, sw, sh, orientation);
    }
    // Resized first, flattened after: compositing onto white is linear in the
    // premultiplied colour the resize works in, so the order does not change the
    // result, and the per-pixel compositing runs on the thumbnail instead of the source
    // (it was 6 % of a node's CPU on the corpus benchmark).
    let rgba = image.into_rgba8().into_raw();
    let small = if (w, h) == (tw, th) {
        rgba
    } else {
        resize(&rgba, w, h, tw, th, PixelType::U8x4)?
    };
    finish(flatten_onto_white(&small), tw, th, tw, th, sw, sh, orientation)
}

/// Dimensions straight from a PNG IHDR, a GIF logical screen descriptor or a JPEG frame
/// header.
fn peek_dimensions(bytes: &[u8], format: ImageFormat) -> Option<(u32, u32)> {
    match format {
        ImageFormat::Png if bytes.len() >= 24 && &bytes[12..16] == b"IHDR" => Some((
            u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]),
            u32::from_be_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]),
        )),
        ImageFormat::Gif if bytes.len() >= 10 => Some((
            u32::from(u16::from_le_bytes([bytes[6], bytes[7]])),
            u32::from(u16::from_le_bytes([bytes[8], bytes[9]])),
        )),
        ImageFormat::Jpeg => jpeg::frame_dimensions(bytes),
        _ => None,
    }
}

/// Packed RGBA to packed RGB, composited onto white.
fn flatten_onto_white(rgba: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; rgba.len() / 4 * 3];
    for (px, rgb) in rgba.chunks_exact(4).zip(out.chunks_exact_mut(3)) {
        let a = u32::from(px[3]);
        let white = 255 * (255 - a);
        for (c, o) in px[..3].iter().zip(rgb.iter_mut()) {
            // c*a/255 + 255*(255-a)/255, rounded
            *o = ((u32::from(*c) * a + white + 127) / 255) as u8;
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn finish(
    rgb: Vec<u8>,
    w: u32,
    h: u32,
    tw: u32,
    th: u32,
    source_width: u32,
    source_height: u32,
    orientation: Orientation,
) -> Result<Fitted, ThumbnailError> {
    let resized = if (w, h) == (tw, th) {
        rgb
    } else {
        resize(&rgb, w, h, tw, th, PixelType::U8x3)?
    };
    let (out, ow, oh) = if orientation == Orientation::NoTransforms {
        (resized, tw, th)
    } else {
        let img =
            RgbImage::from_raw(tw, th, resized).ok_or_else(|| ThumbnailError::Corrupt("pixel buffer size".into()))?;
        let mut dynimg = DynamicImage::ImageRgb8(img);
        dynimg.apply_orientation(orientation);
        let rgb = dynimg.into_rgb8();
        let (ow, oh) = rgb.dimensions();
        (rgb.into_raw(), ow, oh)
    };
    Ok(Fitted {
        rgb: out,
        width: ow,
        height: oh,
        source_width,
        source_height,
    })
}

/// How much larger than the target a source must be before it is box-shrunk first.
const PRESHRINK_FACTOR: u32 = 3;

/// Resizes packed RGB (or RGBA, in premultiplied alpha) to `tw × th` with Lanczos3. A source more than [`PRESHRINK_FACTOR`]
/// times the target is first averaged down (box filter) to twice the target, as libvips
/// does: the Lanczos kernel then spans a few source pixels instead of dozens, and the box
/// average is itself a proper anti-aliasing filter, unlike a nearest-neighbour pre-step.
pub(crate) fn resize(
    pixels: &[u8],
    w: u32,
    h: u32,
    tw: u32,
    th: u32,
    pixel: PixelType,
) -> Result<Vec<u8>, ThumbnailError> {
    let buffer_err = |e: fast_image_resize::ImageBufferError| ThumbnailError::Corrupt(format!("pixel buffer: {e}"));
    let resize_err = |e: fast_image_resize::ResizeError| ThumbnailError::Corrupt(format!("resize: {e}"));
    let src = ImageRef::new(w, h, pixels, pixel).map_err(buffer_err)?;
    let mut resizer = Resizer::new();
    let lanczos = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    let mut dst = FirImage::new(tw, th, pixel);
    if w >= tw.saturating_mul(PRESHRINK_FACTOR) && h >= th.saturating_mul(PRESHRINK_FACTOR) {
        let mut shrunk = FirImage::new(tw * 2, th * 2, pixel);
        let box_filter = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Box));
        resizer.resize(&src, &mut shrunk, &box_filter).map_err(resize_err)?;
        resizer.resize(&shrunk, &mut dst, &lanczos).map_err(resize_err)?;
    } else {
        resizer.resize(&src, &mut dst, &lanczos).map_err(resize_err)?;
    }
    Ok(dst.into_vec())
}

pub(crate) use crate::turbo_common::EncodeError;

/// Encodes packed RGB as a JPEG with the compiled-in backend.
#[cfg(feature = "turbojpeg")]
pub(crate) fn encode_rgb(rgb: &[u8], width: u32, height: u32, spec: &ThumbnailSpec) -> Result<Vec<u8>, EncodeError> {
    libjpeg::encode_rgb(rgb, width, height, spec.quality)
}

/// Encodes packed RGB as a JPEG with the compiled-in backend.
#[cfg(not(feature = "turbojpeg"))]
pub(crate) fn encode_rgb(rgb: &[u8], width: u32, height: u32, spec: &ThumbnailSpec) -> Result<Vec<u8>, EncodeError> {
    use image::codecs::jpeg::JpegEncoder;
    let quality = spec.quality;
    if let Some(library) = system_libjpeg(spec) {
        return libjpeg::encode_rgb(library, rgb, width, height, quality).map_err(|e| EncodeError(Box::new(e)));
    }
    use image::{ExtendedColorType, ImageEncoder};
    let mut out = Vec::with_capacity(rgb.len() / 8 + 1024);
    JpegEncoder::new_with_quality(&mut out, quality.clamp(1, 100))
        .write_image(rgb, width, height, ExtendedColorType::Rgb8)
        .map_err(|e| EncodeError(Box::new(e)))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_box() {
        assert_eq!(fit(1200, 800, 300, 300), (300, 200));
        assert_eq!(fit(800, 1200, 300, 300), (200, 300));
        assert_eq!(fit(100, 50, 300, 300), (100, 50));
        assert_eq!(fit(300, 300, 300, 300), (300, 300));
        assert_eq!(fit(10000, 1, 300, 300), (300, 1));
        assert_eq!(fit(1, 10000, 300, 300), (1, 300));
        assert_eq!(fit(1920, 1080, 300, 300), (300, 169));
        assert_eq!(fit(600, 200, 300, 100), (300, 100));
    }
}
