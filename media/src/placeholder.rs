//! The picture a thumbhash stands for, as a tiny PNG: what public pages show while an
//! image loads. It is made from the hash alone (a few dozen bytes the page already
//! names), so serving it reveals nothing the page did not.

use image::{ImageEncoder, codecs::png::PngEncoder};

/// Thumbhashes are at most 25 bytes; anything much longer is not one.
pub const MAX_THUMBHASH_BYTES: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum PlaceholderError {
    #[error("not a thumbhash")]
    NotAThumbhash,
    #[error("encoding the placeholder")]
    Encode(#[source] image::ImageError),
}

/// The PNG a thumbhash decodes to (at most 32 pixels on its longest edge).
pub fn placeholder_png(thumbhash: &[u8]) -> Result<Vec<u8>, PlaceholderError> {
    if thumbhash.len() < 5 || thumbhash.len() > MAX_THUMBHASH_BYTES {
        return Err(PlaceholderError::NotAThumbhash);
    }
    // The decoder indexes into the hash by what its header says; a forged header must
    // be an error, not a panic.
    let decoded = std::panic::catch_unwind(|| thumbhash::thumb_hash_to_rgba(thumbhash))
        .map_err(|_| PlaceholderError::NotAThumbhash)?;
    let (width, height, rgba) = decoded.map_err(|()| PlaceholderError::NotAThumbhash)?;
    let mut png = Vec::with_capacity(1024);
    PngEncoder::new(&mut png)
        .write_image(&rgba, width as u32, height as u32, image::ExtendedColorType::Rgba8)
        .map_err(PlaceholderError::Encode)?;
    Ok(png)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thumbhash_becomes_a_small_png_of_its_shape() {
        // A 4:3 orange picture.
        let (w, h) = (80usize, 60usize);
        let rgba: Vec<u8> = (0..w * h).flat_map(|_| [240u8, 140, 40, 255]).collect();
        let hash = thumbhash::rgba_to_thumb_hash(w, h, &rgba);
        let png = placeholder_png(&hash).expect("a placeholder");
        let picture = image::load_from_memory(&png).expect("a PNG").to_rgba8();
        assert!(picture.width() <= 32 && picture.height() <= 32);
        assert!(picture.width() > picture.height(), "keeps the landscape shape");
        let [r, g, b, _] = picture.get_pixel(picture.width() / 2, picture.height() / 2).0;
        assert!(r > 200 && (100..180).contains(&g) && b < 90, "{r} {g} {b}");
    }

    #[test]
    fn anything_else_is_refused() {
        assert!(matches!(placeholder_png(b""), Err(PlaceholderError::NotAThumbhash)));
        assert!(matches!(
            placeholder_png(&[0xff; 200]),
            Err(PlaceholderError::NotAThumbhash)
        ));
        for junk in [[0u8; 5], [0xff; 5], [1, 2, 3, 4, 5]] {
            // Refused or decoded, never a panic.
            let _ = placeholder_png(&junk);
        }
    }
}
