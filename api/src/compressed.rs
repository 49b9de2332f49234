//! Large JSON bodies compressed by the route rather than by actix's `Compress` middleware,
//! which leaves alone a response that already names its `Content-Encoding`.
//!
//! Why: `Compress` runs brotli at quality 3 with a 4 MiB window for every body, and the
//! encoder allocates and zeroes buffers of that window's size per response. On a first
//! sync's page (230 KB of JSON) that was 2.2 ms of compression and `memset` the largest
//! single cost in the server's profile. A window sized to the body (2^18 for 256 KB) and
//! quality 4 compress the same page in 1.5 ms to 4% fewer bytes (measured on the demo's
//! pages; see docs/benchmarks.md). gzip stays at actix's level (fast).

use actix_web::HttpRequest;
use actix_web::HttpResponse;
use actix_web::http::header::{
    self, AcceptEncoding, ContentEncoding, Encoding, Header, HeaderValue,
};
use std::io::Write;

/// Bodies smaller than this go to `Compress` as they are: their buffers cost little.
const OWN_FROM_BYTES: usize = 16 * 1024;

/// brotli quality: 4 is faster than 3 with a window this size, and smaller.
const BROTLI_QUALITY: u32 = 4;

/// A `200` with `body` (JSON), compressed as the request accepts when it is large.
#[must_use]
pub fn json(req: &HttpRequest, body: Vec<u8>) -> HttpResponse {
    let mut res = HttpResponse::Ok();
    res.content_type(header::ContentType::json());
    // `fields=` is applied to the JSON after the route (`representation::shape`): such a
    // body is left to `Compress`, which runs after that.
    let sparse = !matches!(crate::representation::fields(req.query_string()), Ok(None));
    if body.len() < OWN_FROM_BYTES || sparse {
        return res.body(body);
    }
    let supported = [Encoding::brotli(), Encoding::gzip(), Encoding::identity()];
    let chosen = AcceptEncoding::parse(req)
        .ok()
        .and_then(|a| a.negotiate(supported.iter()));
    let encoded = match chosen {
        Some(e) if e == Encoding::brotli() => brotli(&body).map(|b| (ContentEncoding::Brotli, b)),
        Some(e) if e == Encoding::gzip() => gzip(&body).map(|b| (ContentEncoding::Gzip, b)),
        _ => None,
    };
    res.insert_header((header::VARY, HeaderValue::from_static("accept-encoding")));
    match encoded {
        Some((encoding, bytes)) => res.insert_header(encoding).body(bytes),
        // Identity (which `Compress` negotiates alike), or an encoder failed (it writes to
        // memory; it does not): as it is.
        None => res.body(body),
    }
}

/// The body in brotli, with the smallest window (2^16 to 2^22 bytes) that holds it.
fn brotli(body: &[u8]) -> Option<Vec<u8>> {
    let lgwin = usize::BITS - body.len().leading_zeros();
    let lgwin = lgwin.clamp(16, 22);
    let mut w = brotli::CompressorWriter::new(
        Vec::with_capacity(body.len() / 8),
        32 * 1024,
        BROTLI_QUALITY,
        lgwin,
    );
    w.write_all(body).ok()?;
    w.flush().ok()?;
    Some(w.into_inner())
}

fn gzip(body: &[u8]) -> Option<Vec<u8>> {
    let mut e = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 6),
        flate2::Compression::fast(),
    );
    e.write_all(body).ok()?;
    e.finish().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;
    use actix_web::test::TestRequest;
    use std::io::Read;

    fn body() -> Vec<u8> {
        let items: Vec<String> = (0..2_000)
            .map(|i| format!(r#"{{"id":"{i}","name":"住户 {i}","version":{i}}}"#))
            .collect();
        format!("[{}]", items.join(",")).into_bytes()
    }

    fn send(accept: Option<&str>, body: Vec<u8>) -> (Option<String>, Vec<u8>) {
        let mut req = TestRequest::default();
        if let Some(a) = accept {
            req = req.insert_header((header::ACCEPT_ENCODING, a));
        }
        let res = json(&req.to_http_request(), body);
        let encoding = res
            .headers()
            .get(header::CONTENT_ENCODING)
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = res.into_body().try_into_bytes().unwrap().to_vec();
        (encoding, bytes)
    }

    #[test]
    fn a_large_body_goes_as_the_request_prefers_and_decodes_to_itself() {
        let plain = body();
        assert!(plain.len() > OWN_FROM_BYTES);
        let (enc, bytes) = send(Some("br, gzip"), plain.clone());
        assert_eq!(enc.as_deref(), Some("br"));
        assert!(bytes.len() < plain.len() / 4);
        let mut back = Vec::new();
        brotli::Decompressor::new(&bytes[..], 4096)
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, plain);

        let (enc, bytes) = send(Some("gzip;q=1, br;q=0.5"), plain.clone());
        assert_eq!(enc.as_deref(), Some("gzip"));
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, plain);

        for accept in [None, Some("identity"), Some("zstd")] {
            let (enc, bytes) = send(accept, plain.clone());
            assert_eq!(enc, None, "{accept:?}");
            assert_eq!(bytes, plain, "{accept:?}");
        }
    }

    #[test]
    fn a_small_body_or_one_to_be_made_sparse_is_left_to_the_middleware() {
        let (enc, bytes) = send(Some("br"), b"{}".to_vec());
        assert_eq!((enc, bytes), (None, b"{}".to_vec()));
        let req = TestRequest::with_uri("/api/v1/sync?limit=5&fields=changes")
            .insert_header((header::ACCEPT_ENCODING, "br"))
            .to_http_request();
        let res = json(&req, body());
        assert!(res.headers().get(header::CONTENT_ENCODING).is_none());
    }
}
