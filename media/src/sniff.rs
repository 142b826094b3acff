//! Image type from magic bytes only (never from a file name).

/// The image formats Folio accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageKind {
    Jpeg,
    Png,
    Gif,
    Webp,
}

impl ImageKind {
    pub fn mime(self) -> &'static str {
        match self {
            ImageKind::Jpeg => "image/jpeg",
            ImageKind::Png => "image/png",
            ImageKind::Gif => "image/gif",
            ImageKind::Webp => "image/webp",
        }
    }

    /// File extension without the dot, used in storage keys.
    pub fn extension(self) -> &'static str {
        match self {
            ImageKind::Jpeg => "jpg",
            ImageKind::Png => "png",
            ImageKind::Gif => "gif",
            ImageKind::Webp => "webp",
        }
    }

    pub fn from_mime(mime: &str) -> Option<Self> {
        match mime {
            "image/jpeg" => Some(ImageKind::Jpeg),
            "image/png" => Some(ImageKind::Png),
            "image/gif" => Some(ImageKind::Gif),
            "image/webp" => Some(ImageKind::Webp),
            _ => None,
        }
    }
}

/// Recognises JPEG, PNG, GIF and WebP by their signatures; anything else is `None`.
pub fn sniff_image(bytes: &[u8]) -> Option<ImageKind> {
    if bytes.len() >= 3 && bytes[..3] == [0xFF, 0xD8, 0xFF] {
        return Some(ImageKind::Jpeg);
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some(ImageKind::Png);
    }
    if bytes.len() >= 6 && (bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a")) {
        return Some(ImageKind::Gif);
    }
    if bytes.len() >= 16 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        let chunk = &bytes[12..16];
        if chunk == b"VP8 " || chunk == b"VP8L" || chunk == b"VP8X" {
            return Some(ImageKind::Webp);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_signatures() {
        assert_eq!(sniff_image(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]), Some(ImageKind::Jpeg));
        assert_eq!(sniff_image(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Some(ImageKind::Png));
        assert_eq!(sniff_image(b"GIF89a\x01\0\x01\0"), Some(ImageKind::Gif));
        assert_eq!(sniff_image(b"GIF87a\x01\0\x01\0"), Some(ImageKind::Gif));
        assert_eq!(sniff_image(b"RIFF\x24\0\0\0WEBPVP8L\x0d\0\0\0"), Some(ImageKind::Webp));
        assert_eq!(sniff_image(b"RIFF\x24\0\0\0WEBPVP8X\x0d\0\0\0"), Some(ImageKind::Webp));
    }

    #[test]
    fn rejects_non_images() {
        assert_eq!(sniff_image(b""), None);
        assert_eq!(sniff_image(&[0xFF, 0xD8]), None);
        assert_eq!(sniff_image(b"hello, I am text in a file named cat.png"), None);
        assert_eq!(sniff_image(b"\x89PNG\r\n"), None); // truncated signature
        assert_eq!(sniff_image(b"GIF90a\x01\0"), None);
        assert_eq!(sniff_image(b"RIFF\x24\0\0\0WAVEfmt \x10\0\0\0"), None); // a WAV file
        assert_eq!(sniff_image(b"RIFF\x24\0\0\0WEBPXXXX\0\0\0\0"), None);
        assert_eq!(sniff_image(b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>"), None);
        assert_eq!(sniff_image(b"%PDF-1.7\n"), None);
    }

    #[test]
    fn mime_and_extension() {
        for kind in [ImageKind::Jpeg, ImageKind::Png, ImageKind::Gif, ImageKind::Webp] {
            assert_eq!(ImageKind::from_mime(kind.mime()), Some(kind));
        }
        assert_eq!(ImageKind::Jpeg.extension(), "jpg");
        assert_eq!(ImageKind::Webp.mime(), "image/webp");
    }
}
