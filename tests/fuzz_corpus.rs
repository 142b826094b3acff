//! Replays the committed fuzzing corpus (fuzz/corpus/<target>/) through the functions
//! the fuzz targets exercise, on the stable toolchain: an input that once crashed one of
//! them, or any seed, must not crash it again.

use std::path::{Path, PathBuf};

use folio_media::{ThumbnailSpec, make_thumbnail, sniff_image};
use poem::{FromRequest as _, Request, web::Multipart};

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .filter(|path| path.is_file())
        .map(|path| {
            let bytes = std::fs::read(&path).expect("corpus file");
            (path, bytes)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "the {target} corpus is empty");
    files
}

#[test]
fn sniff_corpus() {
    let mut recognised = 0;
    for (_, bytes) in corpus("sniff") {
        if let Some(kind) = sniff_image(&bytes) {
            assert!(kind.mime().starts_with("image/"));
            recognised += 1;
        }
    }
    assert!(recognised >= 3, "the seeds hold PNG, GIF and WebP");
}

/// Through both JPEG paths of the build: pure Rust, and the system's libjpeg-turbo (the
/// node's default where it is installed; scripts/test.sh installs it).
#[test]
fn thumbnail_corpus() {
    thumbnail_corpus_with(false);
    thumbnail_corpus_with(true);
}

fn thumbnail_corpus_with(system_libjpeg_turbo: bool) {
    let spec = ThumbnailSpec {
        max_pixels: 4_000_000,
        max_alloc: 64 * 1024 * 1024,
        system_libjpeg_turbo,
        ..ThumbnailSpec::default()
    };
    let mut made = 0;
    for (path, bytes) in corpus("thumbnail") {
        if let Ok(thumbnail) = make_thumbnail(&bytes, &spec) {
            assert!(
                thumbnail.width <= spec.max_width && thumbnail.height <= spec.max_height,
                "{}",
                path.display()
            );
            made += 1;
        }
    }
    assert!(made >= 1, "the seeds hold decodable images");
}

#[tokio::test]
async fn multipart_corpus() {
    let mut accepted = 0;
    for (path, bytes) in corpus("multipart") {
        let request = Request::builder()
            .method(poem::http::Method::POST)
            .content_type("multipart/form-data; boundary=folio")
            .body(bytes);
        let (request, mut body) = request.split();
        if let Ok(mut form) = Multipart::from_request(&request, &mut body).await {
            match folio_http::routes::media::read_upload_form(&mut form).await {
                Ok(_) => accepted += 1,
                Err(error) => assert!(error.status.is_client_error(), "{}: {error:?}", path.display()),
            }
        }
    }
    assert!(accepted >= 1, "the seeds hold a well-formed upload form");
}
