//! The upload form reader (poem's multipart parser plus Folio's caps) on arbitrary
//! bodies: a form or a 4xx, never a panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use poem::{FromRequest as _, Request, web::Multipart};

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    let request = Request::builder()
        .method(poem::http::Method::POST)
        .content_type("multipart/form-data; boundary=folio")
        .body(data.to_vec());
    let (request, mut body) = request.split();
    runtime().block_on(async {
        if let Ok(mut form) = Multipart::from_request(&request, &mut body).await {
            if let Err(error) = folio_http::routes::media::read_upload_form(&mut form).await {
                assert!(error.status.is_client_error(), "{error:?}");
            }
        }
    });
});
