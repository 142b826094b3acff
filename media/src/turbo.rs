//! libjpeg-turbo (TurboJPEG 3 API), only with the `turbojpeg` feature: DCT-scaled
//! decoding and the thumbnail encoder. The pure-Rust JPEG helpers (EXIF orientation, frame
//! header, end-of-image check) are in `jpeg.rs` and serve both backends.

use std::ffi::CStr;

use turbojpeg::raw;

use crate::turbo_common::refuse_truncation;
pub(crate) use crate::turbo_common::{Header, JpegError};

/// A TurboJPEG decompressor handle.
pub(crate) struct Decoder {
    handle: raw::tjhandle,
}

impl Decoder {
    pub fn new() -> Result<Self, JpegError> {
        // SAFETY: tj3Init has no preconditions; a null result is handled.
        let handle = unsafe { raw::tj3Init(raw::TJINIT_TJINIT_DECOMPRESS as libc::c_int) };
        if handle.is_null() {
            return Err(JpegError::Corrupt("cannot initialise libjpeg-turbo".into()));
        }
        Ok(Self { handle })
    }

    fn error(&self) -> String {
        // SAFETY: the handle is valid; the returned string is owned by the handle (or
        // static) and copied at once.
        unsafe {
            let msg = raw::tj3GetErrorStr(self.handle);
            if msg.is_null() {
                "unknown libjpeg-turbo error".to_owned()
            } else {
                CStr::from_ptr(msg).to_string_lossy().into_owned()
            }
        }
    }

    fn get(&self, param: raw::TJPARAM) -> libc::c_int {
        // SAFETY: valid handle; reading a parameter has no other precondition.
        unsafe { raw::tj3Get(self.handle, param as libc::c_int) }
    }

    /// Reads the frame header (dimensions, colour space) without decoding pixels.
    pub fn read_header(&mut self, jpeg: &[u8]) -> Result<Header, JpegError> {
        // SAFETY: pointer and length describe a live slice.
        let res = unsafe { raw::tj3DecompressHeader(self.handle, jpeg.as_ptr(), jpeg.len() as raw::size_t) };
        if res != 0 {
            return Err(JpegError::Corrupt(self.error()));
        }
        let cs = self.get(raw::TJPARAM_TJPARAM_COLORSPACE);
        Header::checked(
            self.get(raw::TJPARAM_TJPARAM_JPEGWIDTH),
            self.get(raw::TJPARAM_TJPARAM_JPEGHEIGHT),
            cs == raw::TJCS_TJCS_CMYK as libc::c_int || cs == raw::TJCS_TJCS_YCCK as libc::c_int,
        )
    }

    /// Decodes to packed RGB at `num/8` scale (num ∈ 1, 2, 4, 8). Must follow a successful
    /// `read_header` of the same data. A file cut short ("premature end") is an error.
    pub fn decode_rgb_scaled(
        &mut self,
        jpeg: &[u8],
        header: &Header,
        num: u32,
    ) -> Result<(Vec<u8>, u32, u32), JpegError> {
        // libjpeg-turbo only accepts its factors in lowest terms (1/8, 1/4, 1/2, 1/1).
        let (n, d) = match num {
            1 => (1, 8),
            2 => (1, 4),
            4 => (1, 2),
            8 => (1, 1),
            _ => return Err(JpegError::Corrupt(format!("unsupported scale {num}/8"))),
        };
        let factor = raw::tjscalingfactor { num: n, denom: d };
        // SAFETY: valid handle, plain struct argument.
        if unsafe { raw::tj3SetScalingFactor(self.handle, factor) } != 0 {
            return Err(JpegError::Corrupt(self.error()));
        }
        // TJSCALED: ceil(dim * num / denom)
        let w = (header.width * num).div_ceil(8);
        let h = (header.height * num).div_ceil(8);
        let pitch = w as usize * 3;
        let len = pitch
            .checked_mul(h as usize)
            .ok_or_else(|| JpegError::Corrupt("image too large".into()))?;
        let mut out = vec![0u8; len];
        // SAFETY: `out` holds pitch*h bytes, which is what tj3Decompress8 writes for the
        // scaled size with TJPF_RGB; the input slice is live.
        let res = unsafe {
            raw::tj3Decompress8(
                self.handle,
                jpeg.as_ptr(),
                jpeg.len() as raw::size_t,
                out.as_mut_ptr(),
                pitch as libc::c_int,
                raw::TJPF_TJPF_RGB,
            )
        };
        if res != 0 {
            return Err(JpegError::Corrupt(self.error()));
        }
        // TJPARAM_STOPONWARNING is off: a warning leaves the call successful.
        // SAFETY: valid handle.
        if unsafe { raw::tj3GetErrorCode(self.handle) } == raw::TJERR_TJERR_WARNING as libc::c_int {
            refuse_truncation(self.error())?;
        }
        Ok((out, w, h))
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: the handle came from tj3Init and is destroyed once.
        unsafe { raw::tj3Destroy(self.handle) }
    }
}

/// Encodes packed RGB as a baseline JPEG (4:2:0, like libvips and Pillow by default).
pub(crate) fn encode_rgb(
    rgb: &[u8],
    width: u32,
    height: u32,
    quality: u8,
) -> Result<Vec<u8>, crate::turbo_common::EncodeError> {
    use crate::turbo_common::EncodeError;
    let image = turbojpeg::Image {
        pixels: rgb,
        width: width as usize,
        pitch: width as usize * 3,
        height: height as usize,
        format: turbojpeg::PixelFormat::RGB,
    };
    let encode = |e: turbojpeg::Error| EncodeError(Box::new(e));
    let mut c = turbojpeg::Compressor::new().map_err(encode)?;
    c.set_quality(quality.clamp(1, 100) as i32).map_err(encode)?;
    c.set_subsamp(turbojpeg::Subsamp::Sub2x2).map_err(encode)?;
    c.compress_to_vec(image).map_err(encode)
}
