//! Metadata removed from an upload before it is stored: the container is rewritten
//! segment by segment (chunk by chunk, block by block) and the image data is copied
//! byte for byte, never decoded or re-encoded.
//!
//! * JPEG: every APPn segment except APP0 (JFIF/JFXX), APP2 `ICC_PROFILE` and APP14
//!   `Adobe` (the colour transform a decoder needs) is dropped, so APP1 (EXIF, XMP,
//!   extended XMP), APP13 (IPTC/Photoshop), APP2 MPF and the vendor segments all go, and
//!   so do COM segments, before and between scans. Bytes after the end-of-image marker
//!   (MPF secondary images with their own EXIF, appended "motion photo" videos) go too.
//! * PNG: `eXIf`, `tEXt`, `zTXt`, `iTXt`, `tIME`; anything after `IEND`.
//! * WebP: `EXIF` and `XMP ` chunks and chunks the format does not define, with the
//!   VP8X flags and the RIFF size rewritten to match.
//! * GIF: comment extensions, and application extensions other than the looping ones
//!   (`NETSCAPE2.0`, `ANIMEXTS1.0`), which is where XMP lives in a GIF; anything after
//!   the trailer.
//!
//! **Orientation is kept as a minimal EXIF block holding only the Orientation tag**,
//! rather than by turning the pixels: a lossless JPEG rotation rewrites the entropy-coded
//! data (so the scans would no longer be the uploaded bytes) and is only exact when the
//! size is a whole number of MCUs (otherwise `jpegtran -perfect` refuses and the
//! alternatives trim edge pixels or re-encode them), and PNG/WebP have no lossless
//! rotation at all short of re-encoding. Browsers and our thumbnailer honour EXIF
//! orientation, and a 26-byte TIFF block with one tag says nothing about the person.
//!
//! A container whose structure cannot be followed up to the image data (a segment
//! length past the end, bytes between segments that are no marker) is refused with
//! [`StripError`]: we cannot tell where its metadata ends. A file cut short inside its
//! image data is kept as far as it goes (the thumbnailer then reports it as truncated).

use crate::jpeg::tiff_orientation;
use crate::sniff::{ImageKind, sniff_image};

/// Why an upload's metadata could not be removed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StripError {
    #[error("not a supported image (JPEG, PNG, GIF or WebP)")]
    Unsupported,
    #[error("the {format} file's structure cannot be read ({reason}), so its metadata cannot be removed")]
    Malformed { format: &'static str, reason: &'static str },
}

/// An image without its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stripped {
    pub kind: ImageKind,
    pub bytes: Vec<u8>,
    /// The EXIF orientation (2..=8) that was kept in a minimal EXIF block; `None` when the
    /// image had none, or the upright one.
    pub orientation: Option<u8>,
    /// How many segments, chunks or blocks were removed (0: the bytes are unchanged).
    pub removed: usize,
}

/// Removes the metadata listed in the module documentation. Pure and idempotent:
/// stripping the result again gives the same bytes with `removed == 0`.
pub fn strip_metadata(bytes: &[u8]) -> Result<Stripped, StripError> {
    let kind = sniff_image(bytes).ok_or(StripError::Unsupported)?;
    let (out, orientation, removed) = match kind {
        ImageKind::Jpeg => strip_jpeg(bytes)?,
        ImageKind::Png => strip_png(bytes)?,
        ImageKind::Webp => strip_webp(bytes)?,
        ImageKind::Gif => {
            let (out, removed) = strip_gif(bytes)?;
            (out, None, removed)
        }
    };
    Ok(Stripped {
        kind,
        bytes: out,
        orientation,
        removed,
    })
}

/// A TIFF structure (big-endian) with IFD0 holding only the Orientation tag.
pub fn minimal_exif_tiff(orientation: u8) -> Vec<u8> {
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
    tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry
    tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_be_bytes()); // count
    tiff.extend_from_slice(&u16::from(orientation).to_be_bytes());
    tiff.extend_from_slice(&[0, 0]); // value padding
    tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    tiff
}

/// Whether a TIFF block is the one [`minimal_exif_tiff`] writes: a second pass over our
/// own output then counts nothing as removed.
fn is_minimal_exif(tiff: &[u8]) -> bool {
    tiff_orientation(tiff).is_some_and(|o| (2..=8).contains(&o) && minimal_exif_tiff(o) == tiff)
}

/// An orientation worth keeping: 2..=8 (1 is upright, anything else is invalid).
fn kept(orientation: Option<u8>) -> Option<u8> {
    orientation.filter(|o| (2..=8).contains(o))
}

fn jpeg_malformed(reason: &'static str) -> StripError {
    StripError::Malformed { format: "JPEG", reason }
}

/// Whether a JPEG marker segment with this body is kept.
fn keep_jpeg_segment(marker: u8, body: &[u8]) -> bool {
    match marker {
        0xE0 => body.starts_with(b"JFIF\0") || body.starts_with(b"JFXX\0"),
        0xE2 => body.starts_with(b"ICC_PROFILE\0"),
        0xEE => body.starts_with(b"Adobe"),
        0xE1 | 0xE3..=0xED | 0xEF | 0xFE => false,
        _ => true,
    }
}

type StripOutput = (Vec<u8>, Option<u8>, usize);

fn strip_jpeg(b: &[u8]) -> Result<StripOutput, StripError> {
    if b.len() < 4 || b[..2] != [0xFF, 0xD8] {
        return Err(jpeg_malformed("no start-of-image marker"));
    }
    let mut out = Vec::with_capacity(b.len());
    out.extend_from_slice(&[0xFF, 0xD8]);
    let mut orientation = None;
    let mut removed = 0;
    // Where the orientation block goes: after a leading APP0, which JFIF wants first.
    let mut exif_at = out.len();
    let mut first_segment = true;
    let mut i = 2;
    // The segments before the first scan: all of them must be readable.
    let sos = loop {
        if i + 2 > b.len() {
            return Err(jpeg_malformed("the file ends before the image data"));
        }
        if b[i] != 0xFF {
            return Err(jpeg_malformed("bytes between segments that are not a marker"));
        }
        let marker = b[i + 1];
        match marker {
            0xFF => {
                i += 1; // fill byte
                continue;
            }
            0x01 | 0xD0..=0xD7 => {
                out.extend_from_slice(&b[i..i + 2]);
                i += 2;
                continue;
            }
            0xDA => break i,
            0xD8 | 0xD9 => return Err(jpeg_malformed("a second start or an end before the image data")),
            _ => {}
        }
        if i + 4 > b.len() {
            return Err(jpeg_malformed("the file ends inside a segment header"));
        }
        let len = usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]]));
        if len < 2 {
            return Err(jpeg_malformed("a segment length below 2"));
        }
        let end = i + 2 + len;
        if end > b.len() {
            return Err(jpeg_malformed("a segment longer than the file"));
        }
        let body = &b[i + 4..end];
        if marker == 0xE1
            && orientation.is_none()
            && let Some(tiff) = body.strip_prefix(b"Exif\0\0")
        {
            orientation = tiff_orientation(tiff);
        }
        if keep_jpeg_segment(marker, body) {
            out.extend_from_slice(&b[i..end]);
            if first_segment && marker == 0xE0 {
                exif_at = out.len();
            }
        } else if !(marker == 0xE1 && body.strip_prefix(b"Exif\0\0").is_some_and(is_minimal_exif)) {
            removed += 1;
        }
        first_segment = false;
        i = end;
    };
    // The scans: entropy-coded data copied as is; segments between scans are judged
    // like those above; everything after the end-of-image marker is dropped.
    i = sos;
    loop {
        // `i` is at a marker (FF xx) here.
        let marker = b[i + 1];
        if marker == 0xD9 {
            out.extend_from_slice(&b[i..i + 2]);
            if i + 2 < b.len() {
                removed += 1;
            }
            break;
        }
        if i + 4 > b.len() {
            break; // cut short inside a segment header: nothing more to keep
        }
        let len = usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]]));
        let end = i + 2 + len;
        if len < 2 || end > b.len() {
            if marker == 0xDA {
                out.extend_from_slice(&b[i..]); // a scan header cut short: image data
            }
            break;
        }
        if keep_jpeg_segment(marker, &b[i + 4..end]) {
            out.extend_from_slice(&b[i..end]);
        } else {
            removed += 1;
        }
        i = end;
        if marker == 0xDA {
            let data_end = next_marker(b, i);
            out.extend_from_slice(&b[i..data_end]);
            i = data_end;
        } else {
            // Fill bytes before the next marker.
            while i + 1 < b.len() && b[i] == 0xFF && b[i + 1] == 0xFF {
                i += 1;
            }
        }
        if i + 2 > b.len() || b[i] != 0xFF {
            break; // cut short (or stray bytes after a segment): keep no more
        }
    }
    let orientation = kept(orientation);
    if let Some(o) = orientation {
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend_from_slice(&minimal_exif_tiff(o));
        let mut segment = vec![0xFF, 0xE1];
        segment.extend_from_slice(&u16::try_from(app1.len() + 2).unwrap_or(u16::MAX).to_be_bytes());
        segment.extend_from_slice(&app1);
        out.splice(exif_at..exif_at, segment);
    }
    Ok((out, orientation, removed))
}

/// The offset of the first marker after entropy-coded data starting at `from` (an `FF`
/// followed by anything but `00`, a restart marker or another `FF`), or the end.
fn next_marker(b: &[u8], from: usize) -> usize {
    let mut i = from;
    while i + 1 < b.len() {
        if b[i] == 0xFF {
            match b[i + 1] {
                0x00 | 0xD0..=0xD7 => i += 2,
                0xFF => i += 1,
                _ => return i,
            }
        } else {
            i += 1;
        }
    }
    b.len()
}

fn png_malformed(reason: &'static str) -> StripError {
    StripError::Malformed { format: "PNG", reason }
}

const PNG_SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut chunk = Vec::with_capacity(data.len() + 12);
    chunk.extend_from_slice(&u32::try_from(data.len()).unwrap_or(u32::MAX).to_be_bytes());
    chunk.extend_from_slice(kind);
    chunk.extend_from_slice(data);
    let crc = crc32(&chunk[4..]);
    chunk.extend_from_slice(&crc.to_be_bytes());
    chunk
}

/// CRC-32 (ISO-HDLC, as PNG uses), for the one chunk we write ourselves.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
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

fn strip_png(b: &[u8]) -> Result<StripOutput, StripError> {
    if !b.starts_with(PNG_SIGNATURE) {
        return Err(png_malformed("no PNG signature"));
    }
    let mut out = Vec::with_capacity(b.len());
    out.extend_from_slice(PNG_SIGNATURE);
    let mut orientation = None;
    let mut exif_at = None;
    let mut removed = 0;
    let mut i = PNG_SIGNATURE.len();
    while i < b.len() {
        if i + 8 > b.len() {
            return Err(png_malformed("the file ends inside a chunk header"));
        }
        let len = u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as usize;
        let kind: [u8; 4] = [b[i + 4], b[i + 5], b[i + 6], b[i + 7]];
        if !kind.iter().all(u8::is_ascii_alphabetic) {
            return Err(png_malformed("a chunk type that is not four letters"));
        }
        let end = i.saturating_add(12).saturating_add(len);
        if end > b.len() {
            // Cut short: image data is kept as far as it goes, anything else is dropped.
            if &kind == b"IDAT" {
                out.extend_from_slice(&b[i..]);
            } else {
                removed += 1;
            }
            break;
        }
        match &kind {
            b"eXIf" => {
                orientation = orientation.or_else(|| tiff_orientation(exif_payload(&b[i + 8..end - 4])));
                exif_at.get_or_insert(out.len());
                if !is_minimal_exif(&b[i + 8..end - 4]) {
                    removed += 1;
                }
            }
            b"tEXt" | b"zTXt" | b"iTXt" | b"tIME" => removed += 1,
            _ => out.extend_from_slice(&b[i..end]),
        }
        i = end;
        if &kind == b"IEND" {
            if i < b.len() {
                removed += 1;
            }
            break;
        }
    }
    let orientation = kept(orientation);
    if let (Some(o), Some(at)) = (orientation, exif_at) {
        out.splice(at..at, png_chunk(b"eXIf", &minimal_exif_tiff(o)));
    }
    Ok((out, orientation, removed))
}

/// An EXIF payload as PNG and WebP hold it: TIFF, sometimes behind JPEG's `Exif\0\0`.
fn exif_payload(data: &[u8]) -> &[u8] {
    data.strip_prefix(b"Exif\0\0").unwrap_or(data)
}

fn webp_malformed(reason: &'static str) -> StripError {
    StripError::Malformed { format: "WebP", reason }
}

/// VP8X flag bits for an EXIF and an XMP chunk.
const VP8X_EXIF: u8 = 0x08;
const VP8X_XMP: u8 = 0x04;

fn strip_webp(b: &[u8]) -> Result<StripOutput, StripError> {
    if b.len() < 12 || &b[..4] != b"RIFF" || &b[8..12] != b"WEBP" {
        return Err(webp_malformed("no RIFF/WEBP header"));
    }
    let riff_end = (u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as usize)
        .saturating_add(8)
        .min(b.len());
    let mut chunks = Vec::new();
    let mut orientation = None;
    let mut removed = 0;
    let mut i = 12;
    while i < riff_end {
        if i + 8 > riff_end {
            return Err(webp_malformed("the file ends inside a chunk header"));
        }
        let kind: [u8; 4] = [b[i], b[i + 1], b[i + 2], b[i + 3]];
        let len = u32::from_le_bytes([b[i + 4], b[i + 5], b[i + 6], b[i + 7]]) as usize;
        let data_end = i.saturating_add(8).saturating_add(len);
        let padded_end = data_end.saturating_add(len & 1);
        match &kind {
            b"VP8 " | b"VP8L" | b"ALPH" | b"ANMF" if data_end > riff_end => {
                // Cut short inside the image data: kept as far as it goes.
                chunks.push(b[i..riff_end].to_vec());
                break;
            }
            _ if data_end > riff_end => return Err(webp_malformed("a chunk longer than the file")),
            b"VP8X" | b"VP8 " | b"VP8L" | b"ALPH" | b"ANIM" | b"ANMF" | b"ICCP" => {
                chunks.push(b[i..padded_end.min(riff_end)].to_vec());
            }
            b"EXIF" => {
                orientation = orientation.or_else(|| tiff_orientation(exif_payload(&b[i + 8..data_end])));
                if !is_minimal_exif(&b[i + 8..data_end]) {
                    removed += 1;
                }
            }
            _ => removed += 1,
        }
        i = padded_end;
    }
    if riff_end < b.len() {
        removed += 1; // bytes after the RIFF chunk
    }
    let has_vp8x = chunks.first().is_some_and(|c| c.starts_with(b"VP8X") && c.len() >= 9);
    let orientation = kept(orientation).filter(|_| has_vp8x);
    if has_vp8x {
        let flags = &mut chunks[0][8];
        *flags &= !(VP8X_EXIF | VP8X_XMP);
        if orientation.is_some() {
            *flags |= VP8X_EXIF;
        }
    }
    if let Some(o) = orientation {
        // EXIF goes after the image data.
        let tiff = minimal_exif_tiff(o);
        let mut chunk = b"EXIF".to_vec();
        chunk.extend_from_slice(&u32::try_from(tiff.len()).unwrap_or(u32::MAX).to_le_bytes());
        chunk.extend_from_slice(&tiff);
        if tiff.len() % 2 == 1 {
            chunk.push(0);
        }
        chunks.push(chunk);
    }
    let body: usize = chunks.iter().map(Vec::len).sum();
    let mut out = Vec::with_capacity(body + 12);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&u32::try_from(body + 4).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(b"WEBP");
    for chunk in chunks {
        out.extend_from_slice(&chunk);
    }
    Ok((out, orientation, removed))
}

fn gif_malformed(reason: &'static str) -> StripError {
    StripError::Malformed { format: "GIF", reason }
}

/// The end of a run of GIF data sub-blocks starting at `i` (after the zero terminator),
/// or `None` when the file ends first.
fn sub_blocks_end(b: &[u8], mut i: usize) -> Option<usize> {
    loop {
        let size = usize::from(*b.get(i)?);
        i += 1;
        if size == 0 {
            return Some(i);
        }
        i += size;
        if i > b.len() {
            return None;
        }
    }
}

fn colour_table_len(packed: u8) -> usize {
    if packed & 0x80 != 0 {
        3 * (1 << ((packed & 0x07) + 1))
    } else {
        0
    }
}

fn strip_gif(b: &[u8]) -> Result<(Vec<u8>, usize), StripError> {
    if b.len() < 13 {
        return Err(gif_malformed("the file ends inside its header"));
    }
    let header_end = 13 + colour_table_len(b[10]);
    if header_end > b.len() {
        return Err(gif_malformed("the file ends inside its colour table"));
    }
    let mut out = Vec::with_capacity(b.len());
    out.extend_from_slice(&b[..header_end]);
    let mut removed = 0;
    let mut i = header_end;
    while i < b.len() {
        match b[i] {
            0x3B => {
                out.push(0x3B);
                if i + 1 < b.len() {
                    removed += 1;
                }
                break;
            }
            0x21 => {
                let Some(&label) = b.get(i + 1) else {
                    break;
                };
                let Some(end) = sub_blocks_end(b, i + 2) else {
                    removed += 1; // an extension cut short: dropped
                    break;
                };
                let keep = match label {
                    0xFE => false,
                    0xFF => {
                        let identifier = b.get(i + 3..i + 14).unwrap_or(&[]);
                        b.get(i + 2) == Some(&11) && (identifier == b"NETSCAPE2.0" || identifier == b"ANIMEXTS1.0")
                    }
                    _ => true,
                };
                if keep {
                    out.extend_from_slice(&b[i..end]);
                } else {
                    removed += 1;
                }
                i = end;
            }
            0x2C => {
                if i + 10 > b.len() {
                    out.extend_from_slice(&b[i..]);
                    break;
                }
                let data_start = i + 10 + colour_table_len(b[i + 9]) + 1; // + LZW code size
                match sub_blocks_end(b, data_start) {
                    Some(end) => {
                        out.extend_from_slice(&b[i..end]);
                        i = end;
                    }
                    None => {
                        // Cut short inside the image data: kept as far as it goes.
                        out.extend_from_slice(&b[i..]);
                        break;
                    }
                }
            }
            _ => return Err(gif_malformed("a block that is neither an image nor an extension")),
        }
    }
    Ok((out, removed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_exif_reads_back() {
        for o in 1..=8 {
            assert_eq!(tiff_orientation(&minimal_exif_tiff(o)), Some(o));
        }
    }

    #[test]
    fn crc_matches_png() {
        // The IEND chunk's CRC, as every PNG has it.
        assert_eq!(crc32(b"IEND"), 0xAE42_6082);
    }

    #[test]
    fn malformed_jpeg_headers_are_refused() {
        // An APP1 whose length runs past the end.
        let bad = [0xFF, 0xD8, 0xFF, 0xE1, 0x40, 0x00, b'E', b'x'];
        assert!(matches!(strip_metadata(&bad), Err(StripError::Malformed { .. })));
        // Stray bytes between segments.
        let bad = [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x02, 0x12, 0x34, 0xFF, 0xDA];
        assert!(matches!(strip_metadata(&bad), Err(StripError::Malformed { .. })));
    }
}
