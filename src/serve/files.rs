//! Published files over HTTP with byte ranges (RFC 9110 §14), so QGIS, GDAL's `/vsicurl/` and other COG-aware
//! clients read only the blocks and overviews they need. One range per request (what those clients send); a
//! multi-range request gets the whole file, which the RFC allows.
use std::io::SeekFrom;
use std::path::Path;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::conditional::Validators;
use super::ApiError;

/// A satisfiable byte range, inclusive `first..=last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub first: u64,
    pub last: u64,
}

/// What the `Range` header asks of a representation of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable range: send everything (absent, malformed, several ranges, or not in bytes).
    Full,
    One(ByteRange),
    /// A well-formed range outside the file: 416.
    Unsatisfiable,
}

/// Parses `bytes=a-b`, `bytes=a-` and `bytes=-n` against a length.
pub fn parse_range(value: &str, len: u64) -> RangeRequest {
    let Some(spec) = value.trim().strip_prefix("bytes=") else { return RangeRequest::Full };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else { return RangeRequest::Full };
    let num = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    match (a.trim(), b.trim()) {
        ("", n) => match num(n) {
            Some(0) => RangeRequest::Unsatisfiable,
            Some(_) if len == 0 => RangeRequest::Unsatisfiable,
            Some(n) => RangeRequest::One(ByteRange { first: len.saturating_sub(n), last: len - 1 }),
            None => RangeRequest::Full,
        },
        (f, "") => match num(f) {
            Some(f) if f < len => RangeRequest::One(ByteRange { first: f, last: len - 1 }),
            Some(_) => RangeRequest::Unsatisfiable,
            None => RangeRequest::Full,
        },
        (f, l) => match (num(f), num(l)) {
            (Some(f), Some(l)) if f > l => RangeRequest::Full,
            (Some(f), Some(_)) if f >= len => RangeRequest::Unsatisfiable,
            (Some(f), Some(l)) => RangeRequest::One(ByteRange { first: f, last: l.min(len - 1) }),
            _ => RangeRequest::Full,
        },
    }
}

/// What to send of a representation: decided from its length, validators and the request's headers.
pub enum Reply {
    /// A complete answer without a body (304, 416).
    Done(Response),
    /// 200 with the whole representation (`None`) or 206 with one range; the headers are set.
    Send { status: StatusCode, headers: HeaderMap, range: Option<ByteRange> },
}

/// Applies validators, conditional requests, `If-Range` and `Range` to a representation of `len` bytes.
pub fn decide(len: u64, v: &Validators, content_type: &str, req: &HeaderMap) -> Reply {
    if v.not_modified(req) {
        return Reply::Done(v.not_modified_response());
    }
    // If-Range: a range applies only to the representation the client already holds part of.
    let if_range_ok = match req.get(header::IF_RANGE).and_then(|h| h.to_str().ok()) {
        None => true,
        Some(tag) if tag.starts_with('"') => tag == v.etag,
        Some(date) => match (httpdate::parse_http_date(date), v.last_modified) {
            (Ok(d), Some(lm)) => httpdate::fmt_http_date(d) == httpdate::fmt_http_date(lm),
            _ => false,
        },
    };
    let range = match req.get(header::RANGE).and_then(|h| h.to_str().ok()) {
        Some(r) if if_range_ok => parse_range(r, len),
        _ => RangeRequest::Full,
    };
    let mut headers = HeaderMap::new();
    v.apply(&mut headers);
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(ct) = HeaderValue::from_str(content_type) {
        headers.insert(header::CONTENT_TYPE, ct);
    }
    match range {
        RangeRequest::Unsatisfiable => {
            headers.insert(header::CONTENT_RANGE, header_value(&format!("bytes */{len}")));
            headers.remove(header::CONTENT_TYPE);
            Reply::Done((StatusCode::RANGE_NOT_SATISFIABLE, headers, Body::empty()).into_response())
        }
        RangeRequest::Full => {
            headers.insert(header::CONTENT_LENGTH, header_value(&len.to_string()));
            Reply::Send { status: StatusCode::OK, headers, range: None }
        }
        RangeRequest::One(r) => {
            headers.insert(header::CONTENT_RANGE, header_value(&format!("bytes {}-{}/{len}", r.first, r.last)));
            headers.insert(header::CONTENT_LENGTH, header_value(&(r.last - r.first + 1).to_string()));
            Reply::Send { status: StatusCode::PARTIAL_CONTENT, headers, range: Some(r) }
        }
    }
}

/// Serves `path` (already resolved inside the root) with validators, conditional requests and ranges.
pub async fn serve_file(path: &Path, content_type: &str, req: &HeaderMap) -> Result<Response, ApiError> {
    let mut file = tokio::fs::File::open(path).await.map_err(|_| ApiError::NotFound)?;
    let meta = file.metadata().await.map_err(|_| ApiError::NotFound)?;
    let v = Validators::of_file(&meta, "");
    let (status, headers, range) = match decide(meta.len(), &v, content_type, req) {
        Reply::Done(r) => return Ok(r),
        Reply::Send { status, headers, range } => (status, headers, range),
    };
    let body = match range {
        None => Body::from_stream(tokio_util::io::ReaderStream::new(file)),
        Some(r) => {
            file.seek(SeekFrom::Start(r.first)).await.map_err(|_| ApiError::NotFound)?;
            Body::from_stream(tokio_util::io::ReaderStream::new(file.take(r.last - r.first + 1)))
        }
    };
    Ok((status, headers, body).into_response())
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        let one = |first, last| RangeRequest::One(ByteRange { first, last });
        assert_eq!(parse_range("bytes=0-99", 1000), one(0, 99));
        assert_eq!(parse_range("bytes=990-2000", 1000), one(990, 999));
        assert_eq!(parse_range("bytes=500-", 1000), one(500, 999));
        assert_eq!(parse_range("bytes=-100", 1000), one(900, 999));
        assert_eq!(parse_range("bytes=-5000", 1000), one(0, 999));
        assert_eq!(parse_range("bytes=1000-", 1000), RangeRequest::Unsatisfiable);
        assert_eq!(parse_range("bytes=2000-3000", 1000), RangeRequest::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 1000), RangeRequest::Unsatisfiable);
        assert_eq!(parse_range("bytes=5-1", 1000), RangeRequest::Full);
        assert_eq!(parse_range("bytes=0-1,5-6", 1000), RangeRequest::Full);
        assert_eq!(parse_range("items=0-1", 1000), RangeRequest::Full);
        assert_eq!(parse_range("bytes=a-b", 1000), RangeRequest::Full);
    }
}
