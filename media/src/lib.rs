//! Blob storage and thumbnail generation for Folio.
//!
//! * [`BlobStore`] with two implementations side by side: [`LocalDirStore`] (a directory)
//!   and [`S3Store`] (any S3 server through the `minio` crate).
//! * [`sniff_image`]: the upload's type decided from its bytes.
//! * [`make_thumbnail`]: bounded, orientation-aware, fast thumbnails.
//! * [`bench`]: the thumbnail benchmark against libvips and Pillow.

pub mod bench;
mod blob;
mod jpeg;
mod local;
mod s3;
mod sniff;
mod thumbnail;
#[cfg(feature = "turbojpeg")]
mod turbo;

#[cfg(feature = "testing")]
pub mod testing;

pub use blob::{
    content_etag, validate_key, Blob, BlobError, BlobMeta, BlobStore, SharedBlobStore,
};
pub use local::LocalDirStore;
pub use s3::{S3Settings, S3Store};
pub use sniff::{sniff_image, ImageKind};
pub use thumbnail::{make_thumbnail, Thumbnail, ThumbnailError, ThumbnailSpec, JPEG_BACKEND};
