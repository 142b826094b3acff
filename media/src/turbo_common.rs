//! What the two libjpeg-turbo backends share, the one built in (`turbo.rs`, feature
//! `turbojpeg`) and the system's loaded at run time (`system_turbo.rs`): their error, the
//! frame header and how its values are checked, and which warning fails a decode.

/// Why libjpeg-turbo could not decode, with its message.
#[derive(Debug)]
pub(crate) enum JpegError {
    /// libjpeg-turbo cannot convert this colour space to RGB (CMYK/YCCK): decode otherwise.
    UnsupportedColorspace,
    Corrupt(String),
}

/// A frame header as libjpeg-turbo read it.
pub(crate) struct Header {
    pub width: u32,
    pub height: u32,
}

impl Header {
    /// Refuses a size that cannot be, and a colour space libjpeg-turbo cannot turn into RGB.
    pub(crate) fn checked(width: i32, height: i32, cmyk_or_ycck: bool) -> Result<Header, JpegError> {
        if width <= 0 || height <= 0 {
            return Err(JpegError::Corrupt("JPEG header without dimensions".into()));
        }
        if cmyk_or_ycck {
            return Err(JpegError::UnsupportedColorspace);
        }
        Ok(Header {
            width: width as u32,
            height: height as u32,
        })
    }
}

/// Warnings do not fail a decode (benign ones such as "extraneous bytes before marker"
/// pass), but a file cut short must not become a half-grey thumbnail.
pub(crate) fn refuse_truncation(warning: String) -> Result<(), JpegError> {
    if warning.contains("Premature end") {
        return Err(JpegError::Corrupt(warning));
    }
    Ok(())
}

/// The JPEG encoder failed: never the input's fault (the pixels are ours by then).
#[derive(Debug, thiserror::Error)]
#[error("encoding the thumbnail as JPEG")]
pub(crate) struct EncodeError(#[source] pub(crate) Box<dyn std::error::Error + Send + Sync>);
