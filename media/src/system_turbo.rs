//! The system's libjpeg-turbo, loaded at run time (default build only): the fast JPEG
//! path without cmake, nasm or a C compiler at build time. Debian and Ubuntu ship it as
//! `libturbojpeg0`. It goes through the TurboJPEG 2 API, which libjpeg-turbo 2.0 and
//! later (3.x included) export: scaled decoding is asked for by passing the scaled
//! size to `tjDecompress2`. When the library is missing, thumbnails stay pure Rust.

use std::{
    ffi::{CStr, c_char, c_int, c_ulong, c_void},
    sync::OnceLock,
};

type Handle = *mut c_void;

/// The TurboJPEG 2 functions Folio uses, resolved once.
pub(crate) struct Library {
    init_decompress: unsafe extern "C" fn() -> Handle,
    init_compress: unsafe extern "C" fn() -> Handle,
    destroy: unsafe extern "C" fn(Handle) -> c_int,
    decompress_header3:
        unsafe extern "C" fn(Handle, *const u8, c_ulong, *mut c_int, *mut c_int, *mut c_int, *mut c_int) -> c_int,
    decompress2: unsafe extern "C" fn(Handle, *const u8, c_ulong, *mut u8, c_int, c_int, c_int, c_int, c_int) -> c_int,
    compress2: unsafe extern "C" fn(
        Handle,
        *const u8,
        c_int,
        c_int,
        c_int,
        c_int,
        *mut *mut u8,
        *mut c_ulong,
        c_int,
        c_int,
        c_int,
    ) -> c_int,
    free: unsafe extern "C" fn(*mut u8),
    error_str2: unsafe extern "C" fn(Handle) -> *mut c_char,
    error_code: unsafe extern "C" fn(Handle) -> c_int,
    /// Kept loaded for the life of the process: the function pointers above point into it.
    _library: libloading::Library,
}

const TJPF_RGB: c_int = 0;
const TJSAMP_420: c_int = 2;
const TJCS_CMYK: c_int = 3;
const TJCS_YCCK: c_int = 4;
const TJERR_WARNING: c_int = 0;

const NAMES: &[&str] = &[
    "libturbojpeg.so.0",
    "libturbojpeg.so",
    "libturbojpeg.0.dylib",
    "libturbojpeg.dylib",
    "turbojpeg.dll",
];

/// The loaded library, or `None` when the system has none (looked for once).
pub(crate) fn library() -> Option<&'static Library> {
    static LIBRARY: OnceLock<Option<Library>> = OnceLock::new();
    LIBRARY.get_or_init(load).as_ref()
}

fn load() -> Option<Library> {
    for name in NAMES {
        // SAFETY: loading libjpeg-turbo runs no initialisers with preconditions of ours.
        let Ok(library) = (unsafe { libloading::Library::new(name) }) else {
            continue;
        };
        match resolve(library) {
            Ok(resolved) => {
                tracing::info!(library = name, "thumbnails: JPEGs through the system's libjpeg-turbo");
                return Some(resolved);
            }
            Err(e) => {
                tracing::warn!(library = name, error = %e, "libjpeg-turbo without the TurboJPEG 2 API; thumbnails stay pure Rust")
            }
        }
    }
    None
}

fn resolve(library: libloading::Library) -> Result<Library, libloading::Error> {
    // SAFETY: each symbol is declared with the signature turbojpeg.h gives it (TurboJPEG
    // 2.0 API; `unsigned long` is `c_ulong`), and the library outlives the pointers.
    unsafe {
        Ok(Library {
            init_decompress: *library.get(b"tjInitDecompress\0")?,
            init_compress: *library.get(b"tjInitCompress\0")?,
            destroy: *library.get(b"tjDestroy\0")?,
            decompress_header3: *library.get(b"tjDecompressHeader3\0")?,
            decompress2: *library.get(b"tjDecompress2\0")?,
            compress2: *library.get(b"tjCompress2\0")?,
            free: *library.get(b"tjFree\0")?,
            error_str2: *library.get(b"tjGetErrorStr2\0")?,
            error_code: *library.get(b"tjGetErrorCode\0")?,
            _library: library,
        })
    }
}

use crate::turbo_common::refuse_truncation;
pub(crate) use crate::turbo_common::{Header, JpegError};

/// A failure libjpeg-turbo reported, in its words.
#[derive(Debug, thiserror::Error)]
#[error("libjpeg-turbo: {0}")]
pub(crate) struct LibraryError(String);

/// One TurboJPEG handle, destroyed on drop.
struct Session<'l> {
    library: &'l Library,
    handle: Handle,
}

impl<'l> Session<'l> {
    fn new(library: &'l Library, compress: bool) -> Result<Self, LibraryError> {
        // SAFETY: the init functions have no preconditions; a null handle is handled.
        let handle = unsafe {
            if compress {
                (library.init_compress)()
            } else {
                (library.init_decompress)()
            }
        };
        if handle.is_null() {
            return Err(LibraryError("cannot initialise".into()));
        }
        Ok(Self { library, handle })
    }

    fn error(&self) -> String {
        // SAFETY: a valid handle; the string belongs to the handle (or is static) and is
        // copied at once.
        unsafe {
            let message = (self.library.error_str2)(self.handle);
            if message.is_null() {
                "unknown libjpeg-turbo error".to_owned()
            } else {
                CStr::from_ptr(message).to_string_lossy().into_owned()
            }
        }
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        // SAFETY: the handle came from an init function and is destroyed once.
        unsafe {
            (self.library.destroy)(self.handle);
        }
    }
}

/// A decompressor for one image.
pub(crate) struct Decoder<'l>(Session<'l>);

impl<'l> Decoder<'l> {
    pub fn new(library: &'l Library) -> Result<Self, JpegError> {
        Session::new(library, false)
            .map(Self)
            .map_err(|e| JpegError::Corrupt(e.to_string()))
    }

    pub fn read_header(&mut self, jpeg: &[u8]) -> Result<Header, JpegError> {
        let (mut width, mut height, mut subsampling, mut colorspace) = (0, 0, 0, 0);
        // SAFETY: pointer and length describe a live slice; the out-pointers are locals.
        let result = unsafe {
            (self.0.library.decompress_header3)(
                self.0.handle,
                jpeg.as_ptr(),
                jpeg.len() as c_ulong,
                &mut width,
                &mut height,
                &mut subsampling,
                &mut colorspace,
            )
        };
        if result != 0 {
            return Err(JpegError::Corrupt(self.0.error()));
        }
        Header::checked(width, height, colorspace == TJCS_CMYK || colorspace == TJCS_YCCK)
    }

    /// Decodes to packed RGB at `num/8` scale (num ∈ 1, 2, 4, 8). Must follow a
    /// successful `read_header` of the same data. A file cut short is an error.
    pub fn decode_rgb_scaled(
        &mut self,
        jpeg: &[u8],
        header: &Header,
        num: u32,
    ) -> Result<(Vec<u8>, u32, u32), JpegError> {
        if ![1, 2, 4, 8].contains(&num) {
            return Err(JpegError::Corrupt(format!("unsupported scale {num}/8")));
        }
        // TJSCALED: ceil(dimension * num / 8). Passing it as the wanted size makes
        // tjDecompress2 pick exactly that scaling factor.
        let width = (header.width * num).div_ceil(8);
        let height = (header.height * num).div_ceil(8);
        let pitch = width as usize * 3;
        let len = pitch
            .checked_mul(height as usize)
            .ok_or_else(|| JpegError::Corrupt("image too large".into()))?;
        let as_int = |v: usize| c_int::try_from(v).map_err(|_| JpegError::Corrupt("image too large".into()));
        let mut out = vec![0u8; len];
        // SAFETY: `out` holds pitch × height bytes, which is what tjDecompress2 writes
        // for that scaled size in TJPF_RGB; the input slice is live.
        let result = unsafe {
            (self.0.library.decompress2)(
                self.0.handle,
                jpeg.as_ptr(),
                jpeg.len() as c_ulong,
                out.as_mut_ptr(),
                as_int(width as usize)?,
                as_int(pitch)?,
                as_int(height as usize)?,
                TJPF_RGB,
                0,
            )
        };
        if result != 0 {
            return Err(JpegError::Corrupt(self.0.error()));
        }
        // SAFETY: valid handle.
        if unsafe { (self.0.library.error_code)(self.0.handle) } == TJERR_WARNING {
            refuse_truncation(self.0.error())?;
        }
        Ok((out, width, height))
    }
}

/// Encodes packed RGB as a baseline JPEG (4:2:0, like libvips and Pillow by default).
pub(crate) fn encode_rgb(
    library: &Library,
    rgb: &[u8],
    width: u32,
    height: u32,
    quality: u8,
) -> Result<Vec<u8>, LibraryError> {
    let session = Session::new(library, true)?;
    let too_large = || LibraryError("image too large".into());
    let as_int = |v: u32| c_int::try_from(v).map_err(|_| too_large());
    let pitch = width.checked_mul(3).ok_or_else(too_large)?;
    if rgb.len() as u64 != u64::from(pitch) * u64::from(height) {
        return Err(LibraryError("pixel buffer of the wrong size".into()));
    }
    let mut buffer: *mut u8 = std::ptr::null_mut();
    let mut size: c_ulong = 0;
    // SAFETY: `rgb` holds pitch × height bytes of TJPF_RGB pixels; with a null buffer
    // tjCompress2 allocates the output, which is copied and then freed with tjFree.
    let result = unsafe {
        (library.compress2)(
            session.handle,
            rgb.as_ptr(),
            as_int(width)?,
            as_int(pitch)?,
            as_int(height)?,
            TJPF_RGB,
            &mut buffer,
            &mut size,
            TJSAMP_420,
            c_int::from(quality.clamp(1, 100)),
            0,
        )
    };
    let out = if result == 0 && !buffer.is_null() {
        // SAFETY: on success the buffer holds `size` bytes.
        Ok(unsafe { std::slice::from_raw_parts(buffer, size as usize) }.to_vec())
    } else {
        Err(LibraryError(session.error()))
    };
    if !buffer.is_null() {
        // SAFETY: allocated by tjCompress2, freed once.
        unsafe { (library.free)(buffer) };
    }
    out
}
