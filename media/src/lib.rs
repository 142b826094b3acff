//! Blob storage and thumbnail generation for Folio.
//!
//! * [`BlobStore`] with two implementations side by side: [`LocalDirStore`] (a directory)
//!   and [`S3Store`] (any S3 server through the `minio` crate).
//! * [`sniff_image`]: the upload's type decided from its bytes.
//! * [`strip_metadata`]: EXIF, XMP, IPTC, comments and text chunks removed before an
//!   upload is stored, the image data untouched.
//! * [`make_thumbnail`]: bounded, orientation-aware, fast thumbnails.
//! * [`make_renditions`]: every size and format of an image, and its thumbhash, from one
//!   decode.
//! * [`bench`]: the thumbnail benchmark against libvips and Pillow.

#[cfg(feature = "bench")]
pub mod bench;
mod blob;
mod jpeg;
mod local;
mod placeholder;
mod renditions;
mod s3;
mod sniff;
mod strip;
#[cfg(not(feature = "turbojpeg"))]
mod system_turbo;
mod thumbnail;
#[cfg(feature = "turbojpeg")]
mod turbo;
mod turbo_common;

pub use blob::{
    Blob, BlobError, BlobMeta, BlobStore, BlobStream, BlobWriter, SharedBlobStore, content_etag, validate_key,
};
pub use local::LocalDirStore;
pub use placeholder::{MAX_THUMBHASH_BYTES, PlaceholderError, placeholder_png};
pub use renditions::{
    RENDITION_EDGES, Rendition, RenditionFormat, RenditionSet, RenditionTimings, WEBP_QUALITY, make_renditions,
    make_renditions_timed,
};
pub use s3::{S3Settings, S3Store};
pub use sniff::{ImageKind, sniff_image};
pub use strip::{StripError, Stripped, minimal_exif_tiff, strip_metadata};
pub use thumbnail::{JPEG_BACKEND, Thumbnail, ThumbnailError, ThumbnailSpec, jpeg_backend, make_thumbnail};
