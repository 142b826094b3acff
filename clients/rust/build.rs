//! Generates the client from the repository's committed `openapi.json` at build time,
//! so the crate cannot drift from the document (and the document's drift test keeps
//! that in line with the server).

use std::{env, fs, path::PathBuf};

/// Operations progenitor 0.14 cannot generate: a `multipart/form-data` body (it knows
/// JSON, form-urlencoded and octet-stream bodies). `src/upload.rs` covers the upload
/// by hand, decoding into the generated models.
const NOT_GENERATED: &[(&str, &str)] = &[("/media/upload", "post")];

fn main() {
    // Read at run time: `env!` would bake in the directory the build script was first
    // compiled in, and cargo reuses that binary for a clone elsewhere sharing the target
    // dir (CI's clean clones do), which then reads another checkout's document.
    let manifest_dir = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let document = PathBuf::from(manifest_dir).join("../../openapi.json");
    println!("cargo:rerun-if-changed={}", document.display());
    let text = fs::read_to_string(&document).unwrap_or_else(|e| panic!("reading {}: {e}", document.display()));
    let mut spec: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", document.display()));
    for (path, method) in NOT_GENERATED {
        if let Some(item) = spec["paths"][*path].as_object_mut() {
            item.remove(*method);
        }
    }
    let spec = serde_json::from_value(spec)
        .unwrap_or_else(|e| panic!("{} is not an OpenAPI 3.0 document: {e}", document.display()));
    let mut generator = progenitor::Generator::default();
    let tokens = generator
        .generate_tokens(&spec)
        .unwrap_or_else(|e| panic!("progenitor cannot generate a client from {}: {e}", document.display()));
    let ast = syn::parse2(tokens).unwrap_or_else(|e| panic!("progenitor generated invalid Rust: {e}"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("folio_client.rs");
    fs::write(&out, prettyplease::unparse(&ast)).unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}
