//! The benchmark's corpus discovery and its in-process Folio loop (the reference tools are
//! exercised by the `bench_thumbnails` example, which needs them installed).

use std::path::Path;

use folio_media::ImageKind;
use folio_media::bench::{BenchError, MAX_FILE_BYTES, find_corpus, thumbnail_files};
use image::{DynamicImage, ImageFormat, RgbImage};

#[test]
fn finds_jpegs_and_pngs_by_content_and_size() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("A/contents/images")).unwrap();
    std::fs::create_dir_all(d.join("B")).unwrap();
    let img = DynamicImage::ImageRgb8(RgbImage::from_pixel(640, 480, image::Rgb([10, 100, 200])));
    img.save_with_format(d.join("A/contents/images/640x480.jpg"), ImageFormat::Jpeg)
        .unwrap();
    img.save_with_format(d.join("B/shot.png"), ImageFormat::Png).unwrap();
    img.save_with_format(d.join("B/anim.gif"), ImageFormat::Gif).unwrap(); // not JPEG/PNG
    std::fs::write(d.join("B/fake.jpg"), b"text, not a jpeg").unwrap();
    std::fs::write(d.join("B/metadata.json"), b"{}").unwrap();
    let mut big = vec![0xFF, 0xD8, 0xFF];
    big.resize(MAX_FILE_BYTES as usize + 1, 0);
    std::fs::write(d.join("B/huge.jpg"), big).unwrap();

    let found = find_corpus(d).unwrap();
    let names: Vec<_> = found
        .iter()
        .map(|(p, k, _)| (p.strip_prefix(d).unwrap().to_string_lossy().into_owned(), *k))
        .collect();
    assert_eq!(
        names,
        vec![
            ("A/contents/images/640x480.jpg".to_owned(), ImageKind::Jpeg),
            ("B/shot.png".to_owned(), ImageKind::Png)
        ]
    );

    let out = d.join("out");
    let files: Vec<_> = found.into_iter().map(|f| f.0).collect();
    let failures = thumbnail_files(&files, &out).unwrap();
    assert!(failures.is_empty(), "{failures:?}");
    for i in 0..2 {
        let t = image::open(out.join(format!("{i}_thumb.jpg"))).unwrap();
        assert_eq!((t.width(), t.height()), (300, 225));
    }
}

#[test]
fn missing_corpus_names_the_package() {
    let err = find_corpus(Path::new("/nonexistent/wallpapers")).unwrap_err();
    assert!(matches!(err, BenchError::MissingCorpus { .. }));
    assert!(err.to_string().contains("plasma-workspace-wallpapers"), "{err}");

    let empty = tempfile::tempdir().unwrap();
    let err = find_corpus(empty.path()).unwrap_err();
    assert!(err.to_string().contains("plasma-workspace-wallpapers"), "{err}");
}

#[test]
fn missing_tool_errors_name_the_package() {
    assert!(BenchError::MissingVips.to_string().contains("libvips-tools"));
    assert!(BenchError::MissingPillow.to_string().contains("pillow"));
}
