//! Pure-Rust JPEG helpers used by both decoding backends: the EXIF orientation tag read
//! straight from the APP1 segment, the frame size from the SOF header (checked against the
//! pixel limit before any decoder exists), and the end-of-image check that turns a cut-off
//! file into an error (zune-jpeg pads missing scan data silently).

/// How a walk over the segments before the first scan ended.
enum Walk<T> {
    /// Reached the first SOS marker, at this offset.
    Scan(usize),
    /// The callback stopped the walk with this value.
    Stopped(T),
    /// The data ends before the first scan.
    Truncated,
    /// No SOI, bytes between segments that are not a marker, or EOI before any scan.
    Malformed,
}

impl<T> Walk<T> {
    fn stopped(self) -> Option<T> {
        match self {
            Walk::Stopped(v) => Some(v),
            _ => None,
        }
    }
}

/// Walks the marker segments before the first scan, calling `f(marker, body)` for every
/// segment with a length (the body excludes marker and length); `f` returning `Some` stops
/// the walk.
fn walk_segments<T>(jpeg: &[u8], mut f: impl FnMut(u8, &[u8]) -> Option<T>) -> Walk<T> {
    if jpeg.len() < 2 {
        return Walk::Truncated;
    }
    if jpeg[..2] != [0xFF, 0xD8] {
        return Walk::Malformed;
    }
    let mut i = 2; // after SOI
    while i + 4 <= jpeg.len() {
        if jpeg[i] != 0xFF {
            return Walk::Malformed;
        }
        let marker = jpeg[i + 1];
        if marker == 0xFF {
            i += 1; // fill byte
            continue;
        }
        // Markers without a length.
        if marker == 0x01 || (0xD0..=0xD7).contains(&marker) {
            i += 2;
            continue;
        }
        if marker == 0xDA {
            return Walk::Scan(i); // start of scan
        }
        if marker == 0xD9 {
            return Walk::Malformed; // end of image before any scan
        }
        let len = u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]) as usize;
        if len < 2 {
            return Walk::Malformed;
        }
        if i + 2 + len > jpeg.len() {
            return Walk::Truncated;
        }
        if let Some(v) = f(marker, &jpeg[i + 4..i + 2 + len]) {
            return Walk::Stopped(v);
        }
        i += 2 + len;
    }
    Walk::Truncated
}

/// The EXIF orientation (1..=8) of a JPEG, if it has an APP1 Exif segment with the tag.
pub(crate) fn exif_orientation(jpeg: &[u8]) -> Option<u8> {
    walk_segments(jpeg, |marker, body| {
        if marker == 0xE1 {
            body.strip_prefix(b"Exif\0\0").and_then(tiff_orientation)
        } else {
            None
        }
    })
    .stopped()
}

/// Width and height from the first SOF (start of frame) header, read without decoding.
/// A height of 0 (defined later by a DNL marker) is returned as is.
pub(crate) fn frame_dimensions(jpeg: &[u8]) -> Option<(u32, u32)> {
    walk_segments(jpeg, |marker, body| {
        // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
        let is_sof = (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_sof && body.len() >= 5 {
            let h = u16::from_be_bytes([body[1], body[2]]);
            let w = u16::from_be_bytes([body[3], body[4]]);
            Some((u32::from(w), u32::from(h)))
        } else {
            None
        }
    })
    .stopped()
}

/// Whether the data holds an end-of-image marker (`FF D9`) after the start of the first
/// scan, i.e. the file was not cut short. Trailing bytes after the EOI (padding, appended
/// videos of "motion photos") are allowed: the marker is searched from the end. Inside
/// entropy-coded data an `FF` is always followed by `00` or a restart marker, so `FF D9`
/// there is the real end; starting after the first SOS skips the EOI of an embedded EXIF
/// thumbnail.
pub(crate) fn has_eoi(jpeg: &[u8]) -> bool {
    let start = match walk_segments(jpeg, |_, _| None::<()>) {
        Walk::Scan(sos) => sos + 2,
        Walk::Truncated | Walk::Stopped(()) => return false,
        // Unusual layout (e.g. stray bytes between segments): search everything after SOI.
        Walk::Malformed => 2.min(jpeg.len()),
    };
    jpeg[start..].windows(2).rev().any(|w| w == [0xFF, 0xD9])
}

/// Reads tag 0x0112 from IFD0 of a TIFF structure (the EXIF payload).
pub(crate) fn tiff_orientation(tiff: &[u8]) -> Option<u8> {
    if tiff.len() < 8 {
        return None;
    }
    let le = match &tiff[..2] {
        b"II" => true,
        b"MM" => false,
        _ => return None,
    };
    let u16_at = |o: usize| -> Option<u16> {
        let b = tiff.get(o..o + 2)?;
        Some(if le {
            u16::from_le_bytes([b[0], b[1]])
        } else {
            u16::from_be_bytes([b[0], b[1]])
        })
    };
    let u32_at = |o: usize| -> Option<u32> {
        let b = tiff.get(o..o + 4)?;
        Some(if le {
            u32::from_le_bytes([b[0], b[1], b[2], b[3]])
        } else {
            u32::from_be_bytes([b[0], b[1], b[2], b[3]])
        })
    };
    if u16_at(2)? != 42 {
        return None;
    }
    let ifd = u32_at(4)? as usize;
    let count = u16_at(ifd)? as usize;
    for n in 0..count.min(512) {
        let entry = ifd + 2 + n * 12;
        if u16_at(entry)? == 0x0112 {
            let ty = u16_at(entry + 2)?;
            let value = match ty {
                3 => u16_at(entry + 8)? as u32,        // SHORT
                4 => u32_at(entry + 8)?,               // LONG (non-standard but seen)
                1 | 7 => *tiff.get(entry + 8)? as u32, // BYTE / UNDEFINED
                _ => return None,
            };
            return (1..=8).contains(&value).then_some(value as u8);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exif_jpeg_prefix(orientation: u16, big_endian: bool) -> Vec<u8> {
        let mut tiff = Vec::new();
        if big_endian {
            tiff.extend_from_slice(b"MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01");
            tiff.extend_from_slice(&orientation.to_be_bytes());
            tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        } else {
            tiff.extend_from_slice(b"II\x2a\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0");
            tiff.extend_from_slice(&orientation.to_le_bytes());
            tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        }
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend_from_slice(&tiff);
        let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
        out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(&app1);
        out.extend_from_slice(&[0xFF, 0xDA, 0, 2]);
        out
    }

    #[test]
    fn reads_orientation_both_byte_orders() {
        for o in 1..=8u16 {
            assert_eq!(exif_orientation(&exif_jpeg_prefix(o, false)), Some(o as u8));
            assert_eq!(exif_orientation(&exif_jpeg_prefix(o, true)), Some(o as u8));
        }
        assert_eq!(exif_orientation(&exif_jpeg_prefix(9, false)), None);
        assert_eq!(exif_orientation(&[0xFF, 0xD8, 0xFF, 0xDA, 0, 2]), None);
    }

    #[test]
    fn survives_garbage() {
        let mut data = exif_jpeg_prefix(6, false);
        for cut in 0..data.len() {
            let _ = exif_orientation(&data[..cut]);
        }
        data[12] = 0xFF; // break the TIFF offset
        let _ = exif_orientation(&data);
        // a length running past the end
        assert_eq!(exif_orientation(&[0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF, 0]), None);
    }

    /// A minimal JPEG skeleton: SOI, the EXIF prefix's APP1 (with an embedded `FF D9` to
    /// mimic an EXIF thumbnail), SOF0 for `w × h`, SOS, a little scan data, optional EOI.
    fn skeleton(w: u16, h: u16, eoi: bool) -> Vec<u8> {
        let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1, 0, 8];
        out.extend_from_slice(b"XX\xFF\xD9XX");
        out.extend_from_slice(&[0xFF, 0xC0, 0, 11, 8]);
        out.extend_from_slice(&h.to_be_bytes());
        out.extend_from_slice(&w.to_be_bytes());
        out.extend_from_slice(&[1, 1, 0x11, 0]);
        out.extend_from_slice(&[0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 63, 0]);
        out.extend_from_slice(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56]);
        if eoi {
            out.extend_from_slice(&[0xFF, 0xD9]);
        }
        out
    }

    #[test]
    fn frame_dimensions_from_sof() {
        assert_eq!(frame_dimensions(&skeleton(640, 480, true)), Some((640, 480)));
        assert_eq!(frame_dimensions(&skeleton(60000, 1, false)), Some((60000, 1)));
        let sk = skeleton(640, 480, true);
        for cut in 0..20 {
            assert_eq!(frame_dimensions(&sk[..cut]), None, "cut at {cut}");
        }
        assert_eq!(frame_dimensions(b"not a jpeg"), None);
    }

    #[test]
    fn eoi_after_the_scan_is_required() {
        assert!(has_eoi(&skeleton(8, 8, true)));
        // The FF D9 inside APP1 does not count.
        assert!(!has_eoi(&skeleton(8, 8, false)));
        // Trailing bytes after the EOI are fine.
        let mut padded = skeleton(8, 8, true);
        padded.extend_from_slice(&[0; 100]);
        assert!(has_eoi(&padded));
        let sk = skeleton(8, 8, true);
        for cut in 0..sk.len() {
            assert!(!has_eoi(&sk[..cut]), "cut at {cut}");
        }
    }
}
