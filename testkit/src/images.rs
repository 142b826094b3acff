//! Test images that carry metadata, built in code (no binary fixtures): a phone-style
//! JPEG with EXIF (camera make, GPS IFD), XMP, IPTC, a comment and an ICC profile; a PNG
//! with every kind of text chunk, a timestamp and eXIf; a WebP with EXIF and XMP chunks;
//! a GIF with a comment and an XMP application extension. Every piece of metadata holds
//! one of [`SECRETS`], so a test can say "none of it is left" by searching for them.
//! Also readers for the parts that must stay byte-identical (a JPEG's scans, PNG
//! `IDAT`s, the WebP bitstream, GIF image blocks). Helpers panic on failure, as test code
//! does.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage};

pub const MAKE: &[u8] = b"FolioCam-SECRET-MAKE";
pub const GPS_DATUM: &[u8] = b"SECRET-GPS-DATUM";
pub const XMP: &[u8] = b"SECRET-XMP-CREATOR";
pub const IPTC: &[u8] = b"SECRET-IPTC-CITY";
pub const COMMENT: &[u8] = b"SECRET-COMMENT";
pub const PNG_TEXT: &[u8] = b"SECRET-PNG-TEXT";
pub const PNG_ZTXT: &[u8] = b"SECRET-PNG-ZTXT";
pub const PNG_ITXT: &[u8] = b"SECRET-PNG-ITXT";
pub const TRAILER: &[u8] = b"SECRET-AFTER-THE-END";
/// Every secret the fixtures hide; none may survive stripping.
pub const SECRETS: &[&[u8]] = &[
    MAKE, GPS_DATUM, XMP, IPTC, COMMENT, PNG_TEXT, PNG_ZTXT, PNG_ITXT, TRAILER,
];
/// The GPS latitude the EXIF fixtures carry (52° 22' 12.34" as rationals), as its bytes.
pub const GPS_LATITUDE: [u32; 6] = [52, 1, 22, 1, 1234, 100];
/// An ICC profile stand-in: kept by stripping, so it must survive.
pub const ICC_PROFILE: &[u8] = b"KEEP-THIS-ICC-PROFILE-0123456789";

/// Whether `haystack` contains `needle`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The secrets still in `bytes` (as text), for assertion messages.
pub fn secrets_left(bytes: &[u8]) -> Vec<String> {
    let mut left: Vec<String> = SECRETS
        .iter()
        .filter(|s| contains(bytes, s))
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    if contains(bytes, &gps_latitude_le()) {
        left.push("the GPS latitude".into());
    }
    left
}

fn gps_latitude_le() -> Vec<u8> {
    GPS_LATITUDE.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A gradient (so every size and orientation is distinguishable).
pub fn gradient(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        Rgb([
            (x * 255 / width.max(1)) as u8,
            (y * 255 / height.max(1)) as u8,
            ((x + y) % 256) as u8,
        ])
    })
}

fn encode(image: RgbImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(image)
        .write_to(&mut out, format)
        .expect("encoding a test image");
    out.into_inner()
}

/// A little-endian TIFF block as a phone writes it: IFD0 with Make, Orientation and a
/// pointer to a GPS IFD holding the latitude and a map datum.
pub fn exif_tiff(orientation: u16) -> Vec<u8> {
    let mut make = MAKE.to_vec();
    make.push(0);
    let mut datum = GPS_DATUM.to_vec();
    datum.push(0);
    let ifd0 = 8u32;
    let ifd0_len = 2 + 3 * 12 + 4;
    let make_at = ifd0 + ifd0_len;
    let gps_ifd = (make_at + make.len() as u32 + 1) & !1;
    let gps_len = 2 + 3 * 12 + 4;
    let latitude_at = gps_ifd + gps_len;
    let datum_at = latitude_at + 24;

    let mut t = b"II\x2a\0".to_vec();
    t.extend_from_slice(&ifd0.to_le_bytes());
    let entry = |t: &mut Vec<u8>, tag: u16, ty: u16, count: u32, value: [u8; 4]| {
        t.extend_from_slice(&tag.to_le_bytes());
        t.extend_from_slice(&ty.to_le_bytes());
        t.extend_from_slice(&count.to_le_bytes());
        t.extend_from_slice(&value);
    };
    t.extend_from_slice(&3u16.to_le_bytes());
    entry(&mut t, 0x010F, 2, make.len() as u32, make_at.to_le_bytes());
    let o = orientation.to_le_bytes();
    entry(&mut t, 0x0112, 3, 1, [o[0], o[1], 0, 0]);
    entry(&mut t, 0x8825, 4, 1, gps_ifd.to_le_bytes());
    t.extend_from_slice(&0u32.to_le_bytes());
    t.extend_from_slice(&make);
    t.resize(gps_ifd as usize, 0);
    t.extend_from_slice(&3u16.to_le_bytes());
    entry(&mut t, 0x0001, 2, 2, [b'N', 0, 0, 0]);
    entry(&mut t, 0x0002, 5, 3, latitude_at.to_le_bytes());
    entry(&mut t, 0x0012, 2, datum.len() as u32, datum_at.to_le_bytes());
    t.extend_from_slice(&0u32.to_le_bytes());
    t.extend_from_slice(&gps_latitude_le());
    t.extend_from_slice(&datum);
    t
}

fn jpeg_segment(marker: u8, body: &[u8]) -> Vec<u8> {
    let mut s = vec![0xFF, marker];
    s.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
    s.extend_from_slice(body);
    s
}

/// A `width × height` JPEG (stored grid; displayed turned by `orientation`) with EXIF
/// (make, orientation, GPS), XMP, IPTC, a comment, an ICC profile and bytes after its
/// end-of-image marker.
pub fn jpeg_with_metadata(width: u32, height: u32, orientation: u16) -> Vec<u8> {
    let plain = encode(gradient(width, height), ImageFormat::Jpeg);
    let mut exif = b"Exif\0\0".to_vec();
    exif.extend_from_slice(&exif_tiff(orientation));
    let mut xmp = b"http://ns.adobe.com/xap/1.0/\0".to_vec();
    xmp.extend_from_slice(b"<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><dc:creator>");
    xmp.extend_from_slice(XMP);
    xmp.extend_from_slice(b"</dc:creator></x:xmpmeta>");
    let mut iptc = b"Photoshop 3.0\08BIM\x04\x04\0\0".to_vec();
    let mut record = vec![0x1C, 0x02, 90];
    record.extend_from_slice(&(IPTC.len() as u16).to_be_bytes());
    record.extend_from_slice(IPTC);
    iptc.extend_from_slice(&(record.len() as u32).to_be_bytes());
    iptc.extend_from_slice(&record);
    let mut icc = b"ICC_PROFILE\0\x01\x01".to_vec();
    icc.extend_from_slice(ICC_PROFILE);

    let mut out = plain[..2].to_vec(); // SOI
    let mut rest = &plain[2..];
    // Keep the encoder's APP0 (JFIF) first, as cameras do.
    if rest.starts_with(&[0xFF, 0xE0]) {
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        out.extend_from_slice(&rest[..2 + len]);
        rest = &rest[2 + len..];
    }
    out.extend(jpeg_segment(0xE1, &exif));
    out.extend(jpeg_segment(0xE1, &xmp));
    out.extend(jpeg_segment(0xE2, &icc));
    out.extend(jpeg_segment(0xED, &iptc));
    out.extend(jpeg_segment(0xFE, COMMENT));
    out.extend_from_slice(rest);
    out.extend_from_slice(TRAILER);
    out
}

/// A JPEG's scans: from its first start-of-scan marker to its end-of-image marker.
pub fn jpeg_scans(jpeg: &[u8]) -> &[u8] {
    let mut i = 2;
    while jpeg[i + 1] != 0xDA {
        i += 2 + usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
    }
    let end = jpeg
        .windows(2)
        .rposition(|w| w == [0xFF, 0xD9])
        .expect("an end-of-image marker");
    &jpeg[i..end + 2]
}

/// A JPEG's marker segments before its first scan, as (marker, body).
pub fn jpeg_segments(jpeg: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut segments = Vec::new();
    let mut i = 2;
    while jpeg[i + 1] != 0xDA {
        let len = usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
        segments.push((jpeg[i + 1], jpeg[i + 4..i + 2 + len].to_vec()));
        i += 2 + len;
    }
    segments
}

/// CRC-32 as PNG uses it.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
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

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut c = (data.len() as u32).to_be_bytes().to_vec();
    c.extend_from_slice(kind);
    c.extend_from_slice(data);
    let crc = crc32(&c[4..]);
    c.extend_from_slice(&crc.to_be_bytes());
    c
}

/// A zlib stream holding `data` in one stored (uncompressed) block.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut z = vec![0x78, 0x01, 0x01];
    let len = data.len() as u16;
    z.extend_from_slice(&len.to_le_bytes());
    z.extend_from_slice(&(!len).to_le_bytes());
    z.extend_from_slice(data);
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65521;
        b = (b + a) % 65521;
    }
    z.extend_from_slice(&((b << 16) | a).to_be_bytes());
    z
}

/// A PNG with `tEXt`, `zTXt`, `iTXt`, `tIME` and an `eXIf` (with GPS and this
/// orientation) before its image data, and bytes after `IEND`.
pub fn png_with_metadata(width: u32, height: u32, orientation: u16) -> Vec<u8> {
    let plain = encode(gradient(width, height), ImageFormat::Png);
    let ihdr_end = 8 + 12 + 13;
    let mut out = plain[..ihdr_end].to_vec();
    let mut text = b"Comment\0".to_vec();
    text.extend_from_slice(PNG_TEXT);
    out.extend(png_chunk(b"tEXt", &text));
    let mut ztxt = b"Author\0\0".to_vec();
    ztxt.extend(zlib_stored(PNG_ZTXT));
    out.extend(png_chunk(b"zTXt", &ztxt));
    let mut itxt = b"Description\0\0\0\0\0".to_vec();
    itxt.extend_from_slice(PNG_ITXT);
    out.extend(png_chunk(b"iTXt", &itxt));
    out.extend(png_chunk(b"tIME", &[0x07, 0xEA, 12, 4, 9, 30, 0]));
    out.extend(png_chunk(b"eXIf", &exif_tiff(orientation)));
    out.extend_from_slice(&plain[ihdr_end..]);
    out.extend_from_slice(TRAILER);
    out
}

/// A PNG's chunks as (type, data).
pub fn png_chunks(png: &[u8]) -> Vec<([u8; 4], Vec<u8>)> {
    let mut chunks = Vec::new();
    let mut i = 8;
    while i + 12 <= png.len() {
        let len = u32::from_be_bytes(png[i..i + 4].try_into().expect("4 bytes")) as usize;
        let kind: [u8; 4] = png[i + 4..i + 8].try_into().expect("4 bytes");
        chunks.push((kind, png[i + 8..i + 8 + len].to_vec()));
        i += 12 + len;
        if &kind == b"IEND" {
            break;
        }
    }
    chunks
}

/// A PNG's image data: its `IDAT` chunks, concatenated with their headers and CRCs.
pub fn png_idat(png: &[u8]) -> Vec<u8> {
    png_chunks(png)
        .into_iter()
        .filter(|(k, _)| k == b"IDAT")
        .flat_map(|(k, d)| png_chunk(&k, &d))
        .collect()
}

fn riff_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut c = kind.to_vec();
    c.extend_from_slice(&(data.len() as u32).to_le_bytes());
    c.extend_from_slice(data);
    if data.len() % 2 == 1 {
        c.push(0);
    }
    c
}

/// An extended (VP8X) WebP: the bitstream `image` makes, with an ICC profile, an EXIF
/// chunk (GPS, this orientation) and an XMP chunk, and the VP8X flags saying so.
pub fn webp_with_metadata(width: u32, height: u32, orientation: u16) -> Vec<u8> {
    let plain = encode(gradient(width, height), ImageFormat::WebP);
    let bitstream = &plain[12..]; // the VP8L chunk
    let mut vp8x = vec![0x20 | 0x08 | 0x04, 0, 0, 0]; // ICC, EXIF, XMP
    vp8x.extend_from_slice(&(width - 1).to_le_bytes()[..3]);
    vp8x.extend_from_slice(&(height - 1).to_le_bytes()[..3]);
    let mut xmp = b"<x:xmpmeta><dc:creator>".to_vec();
    xmp.extend_from_slice(XMP);
    xmp.extend_from_slice(b"</dc:creator></x:xmpmeta>");
    let mut body = b"WEBP".to_vec();
    body.extend(riff_chunk(b"VP8X", &vp8x));
    body.extend(riff_chunk(b"ICCP", ICC_PROFILE));
    body.extend_from_slice(bitstream);
    body.extend(riff_chunk(b"EXIF", &exif_tiff(orientation)));
    body.extend(riff_chunk(b"XMP ", &xmp));
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend(body);
    out
}

/// A WebP's chunks as (fourcc, data).
pub fn webp_chunks(webp: &[u8]) -> Vec<([u8; 4], Vec<u8>)> {
    let mut chunks = Vec::new();
    let mut i = 12;
    while i + 8 <= webp.len() {
        let kind: [u8; 4] = webp[i..i + 4].try_into().expect("4 bytes");
        let len = u32::from_le_bytes(webp[i + 4..i + 8].try_into().expect("4 bytes")) as usize;
        chunks.push((kind, webp[i + 8..i + 8 + len].to_vec()));
        i += 8 + len + (len & 1);
    }
    chunks
}

/// A GIF with a comment extension and an XMP application extension before its image,
/// and bytes after its trailer.
pub fn gif_with_metadata(width: u32, height: u32) -> Vec<u8> {
    let plain = encode(gradient(width, height), ImageFormat::Gif);
    let packed = plain[10];
    let table = if packed & 0x80 != 0 {
        3 * (1 << ((packed & 7) + 1))
    } else {
        0
    };
    let header_end = 13 + table;
    let mut out = plain[..header_end].to_vec();
    out.extend_from_slice(&[0x21, 0xFE, COMMENT.len() as u8]);
    out.extend_from_slice(COMMENT);
    out.push(0);
    out.extend_from_slice(&[0x21, 0xFF, 11]);
    out.extend_from_slice(b"XMP DataXMP");
    out.push(XMP.len() as u8);
    out.extend_from_slice(XMP);
    out.push(0);
    out.extend_from_slice(&plain[header_end..]);
    out.extend_from_slice(TRAILER);
    out
}

/// A GIF's image blocks: from its first image descriptor to its trailer, inclusive.
pub fn gif_image_blocks(gif: &[u8]) -> Vec<u8> {
    let packed = gif[10];
    let table = if packed & 0x80 != 0 {
        3 * (1 << ((packed & 7) + 1))
    } else {
        0
    };
    let mut i = 13 + table;
    // Skip extensions up to the first image.
    while gif[i] == 0x21 {
        i += 2;
        while gif[i] != 0 {
            i += 1 + usize::from(gif[i]);
        }
        i += 1;
    }
    let trailer = gif.iter().rposition(|&b| b == 0x3B).expect("a trailer");
    gif[i..=trailer].to_vec()
}
