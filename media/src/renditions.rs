//! Renditions: the fixed set of sizes (longest edge 320, 640, 1280 and 2048 pixels, never
//! upscaled) in WebP (lossy, libwebp) and JPEG, the seed's 300-pixel JPEG thumbnail, and
//! a thumbhash placeholder, all from one decode.
//!
//! The source is decoded once, at the largest DCT reduction that still covers the
//! largest rendition (the thumbnail path's scaled decoding), fitted to it and turned
//! upright; each smaller size is then resized from the one above it, so the big source
//! is touched once and each further resize works on a picture at most ~2× its target.
//! An image smaller than a size gets no rendition of that size: its largest rendition is
//! its own size, and clients pick by the `width` each rendition states.
//!
//! No AVIF: the only well-kept encoders are rav1e (pure Rust, several CPU seconds for a
//! 2048-pixel image at speed 10 on this machine class, far outside the ≤ 1.0× vips
//! budget for the whole set) and libaom/libavif through C builds that need cmake and
//! nasm; WebP already gives most of the bytes saved over JPEG.

use fast_image_resize::PixelType;

use crate::thumbnail::{ThumbnailError, ThumbnailSpec, decode_fitted, encode_rgb, fit, resize};

/// The longest edges of the renditions, smallest first.
pub const RENDITION_EDGES: [u32; 4] = [320, 640, 1280, 2048];

/// Lossy WebP quality (libwebp's 0–100 scale), as `vipsthumbnail`'s default `Q=75` for
/// WebP and close to the JPEG quality in visual terms.
pub const WEBP_QUALITY: f32 = 75.0;

/// A rendition's encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RenditionFormat {
    Webp,
    Jpeg,
}

impl RenditionFormat {
    pub const ALL: [RenditionFormat; 2] = [RenditionFormat::Webp, RenditionFormat::Jpeg];

    pub fn mime(self) -> &'static str {
        match self {
            RenditionFormat::Webp => "image/webp",
            RenditionFormat::Jpeg => "image/jpeg",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            RenditionFormat::Webp => "webp",
            RenditionFormat::Jpeg => "jpg",
        }
    }
}

/// One encoded rendition. Sizes are as displayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendition {
    pub width: u32,
    pub height: u32,
    pub format: RenditionFormat,
    pub bytes: Vec<u8>,
}

/// Everything made from one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenditionSet {
    /// Smallest first; for each size, WebP then JPEG.
    pub renditions: Vec<Rendition>,
    /// The seed's thumbnail (the spec's box, JPEG).
    pub thumbnail: Rendition,
    /// The thumbhash of the image (at most 100×100 pixels' worth), raw bytes.
    pub thumbhash: Vec<u8>,
    /// The source's size as displayed (after EXIF orientation).
    pub source_width: u32,
    pub source_height: u32,
}

/// Time spent per format while making a set, for the benchmark.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RenditionTimings {
    pub decode_and_resize: std::time::Duration,
    pub webp: std::time::Duration,
    pub jpeg: std::time::Duration,
}

/// Makes every rendition of an image. `spec` gives the limits, the JPEG quality, the
/// JPEG backend and the thumbnail's box. CPU-bound: run it on a blocking pool.
pub fn make_renditions(bytes: &[u8], spec: &ThumbnailSpec) -> Result<RenditionSet, ThumbnailError> {
    make_renditions_timed(bytes, spec).map(|(set, _)| set)
}

/// [`make_renditions`], with the time each stage took.
pub fn make_renditions_timed(
    bytes: &[u8],
    spec: &ThumbnailSpec,
) -> Result<(RenditionSet, RenditionTimings), ThumbnailError> {
    let mut timings = RenditionTimings::default();
    let started = std::time::Instant::now();
    let largest = RENDITION_EDGES[RENDITION_EDGES.len() - 1];
    let fitted = decode_fitted(
        bytes,
        &ThumbnailSpec {
            max_width: largest,
            max_height: largest,
            ..spec.clone()
        },
    )?;
    let (source_width, source_height) = (fitted.source_width, fitted.source_height);
    // The sizes to make, largest first: the fitted picture itself, then every edge
    // below its own longest edge.
    let longest = fitted.width.max(fitted.height);
    let mut levels: Vec<(Vec<u8>, u32, u32)> = vec![(fitted.rgb, fitted.width, fitted.height)];
    // Each size is resized from the one above it (cheap), but fitted from the largest,
    // so that rounding does not add up from one size to the next.
    let (fw, fh) = (fitted.width, fitted.height);
    for &edge in RENDITION_EDGES.iter().rev().filter(|&&edge| edge < longest) {
        let (above, w, h) = levels.last().map(|(p, w, h)| (p, *w, *h)).ok_or_else(no_pixels)?;
        let (tw, th) = fit(fw, fh, edge, edge);
        let pixels = resize(above, w, h, tw, th, PixelType::U8x3)?;
        levels.push((pixels, tw, th));
    }
    // The seed's thumbnail and the thumbhash come from the smallest level.
    let (smallest, sw, sh) = levels.last().map(|(p, w, h)| (p, *w, *h)).ok_or_else(no_pixels)?;
    let (tw, th) = fit(fw, fh, spec.max_width, spec.max_height);
    let thumb_pixels = if (tw, th) == (sw, sh) {
        smallest.clone()
    } else {
        resize(smallest, sw, sh, tw, th, PixelType::U8x3)?
    };
    let thumbhash = thumbhash_of(smallest, sw, sh)?;
    timings.decode_and_resize = started.elapsed();

    let jpeg = |pixels: &[u8], w: u32, h: u32, timings: &mut RenditionTimings| {
        let started = std::time::Instant::now();
        let bytes =
            encode_rgb(pixels, w, h, spec).map_err(|e| ThumbnailError::Corrupt(format!("encoding: {}", e.0)))?;
        timings.jpeg += started.elapsed();
        Ok::<_, ThumbnailError>(Rendition {
            width: w,
            height: h,
            format: RenditionFormat::Jpeg,
            bytes,
        })
    };
    let thumbnail = jpeg(&thumb_pixels, tw, th, &mut timings)?;
    let mut renditions = Vec::with_capacity(levels.len() * 2);
    for (pixels, w, h) in levels.iter().rev() {
        let started = std::time::Instant::now();
        let webp = webp::Encoder::from_rgb(pixels, *w, *h).encode(WEBP_QUALITY);
        renditions.push(Rendition {
            width: *w,
            height: *h,
            format: RenditionFormat::Webp,
            bytes: webp.to_vec(),
        });
        timings.webp += started.elapsed();
        renditions.push(jpeg(pixels, *w, *h, &mut timings)?);
    }
    Ok((
        RenditionSet {
            renditions,
            thumbnail,
            thumbhash,
            source_width,
            source_height,
        },
        timings,
    ))
}

fn no_pixels() -> ThumbnailError {
    ThumbnailError::Corrupt("no pixels to make renditions from".into())
}

/// The thumbhash of packed RGB (scaled to fit 100×100 first, as the format asks).
fn thumbhash_of(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>, ThumbnailError> {
    let (tw, th) = fit(w, h, 100, 100);
    let small = if (tw, th) == (w, h) {
        rgb.to_vec()
    } else {
        resize(rgb, w, h, tw, th, PixelType::U8x3)?
    };
    let rgba: Vec<u8> = small.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect();
    Ok(thumbhash::rgba_to_thumb_hash(tw as usize, th as usize, &rgba))
}
