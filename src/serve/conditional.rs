//! Validators for cheap polling: every response carries an `ETag` (and a `Last-Modified` where it comes from a file),
//! and a request whose `If-None-Match` (or, without it, `If-Modified-Since`) still matches gets `304 Not Modified`
//! with no body (RFC 9110 §13).
use std::time::SystemTime;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// The validators of one representation.
#[derive(Debug, Clone)]
pub struct Validators {
    /// Strong entity tag, quoted.
    pub etag: String,
    pub last_modified: Option<SystemTime>,
}

impl Validators {
    /// From a file's length and modification time (what changes when the publisher replaces it).
    pub fn of_file(meta: &std::fs::Metadata, salt: &str) -> Validators {
        let mtime = meta.modified().ok();
        let nanos = mtime.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
        let etag = if salt.is_empty() {
            format!("\"{:x}-{:x}\"", meta.len(), nanos)
        } else {
            format!("\"{:x}-{:x}-{}\"", meta.len(), nanos, short_hash(salt.as_bytes()))
        };
        Validators { etag, last_modified: mtime }
    }

    /// The validators of a representation derived from this one (a tile of a raster): the tag gains a hash of
    /// `salt`, so each derived answer has its own.
    pub fn salted(&self, salt: &str) -> Validators {
        let inner = self.etag.trim_end_matches('"');
        Validators { etag: format!("{inner}-{}\"", short_hash(salt.as_bytes())), last_modified: self.last_modified }
    }

    /// From the bytes of a generated body.
    pub fn of_body(body: &[u8], last_modified: Option<SystemTime>) -> Validators {
        Validators { etag: format!("\"{}\"", short_hash(body)), last_modified }
    }

    /// True when the client's cached copy is still current.
    pub fn not_modified(&self, req: &HeaderMap) -> bool {
        if let Some(inm) = req.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
            // Weak comparison (RFC 9110 §13.1.2): W/ prefixes are ignored.
            return inm.split(',').map(|t| t.trim().trim_start_matches("W/")).any(|t| t == "*" || t == self.etag);
        }
        match (self.last_modified, req.get(header::IF_MODIFIED_SINCE).and_then(|v| v.to_str().ok())) {
            (Some(lm), Some(ims)) => match httpdate::parse_http_date(ims) {
                // HTTP dates have whole seconds.
                Ok(since) => secs(lm) <= secs(since),
                Err(_) => false,
            },
            _ => false,
        }
    }

    /// Adds `ETag`, `Last-Modified` and `Cache-Control` to `headers`.
    pub fn apply(&self, headers: &mut HeaderMap) {
        if let Ok(v) = HeaderValue::from_str(&self.etag) {
            headers.insert(header::ETAG, v);
        }
        if let Some(lm) = self.last_modified {
            if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(lm)) {
                headers.insert(header::LAST_MODIFIED, v);
            }
        }
        // Clients may keep a copy but must revalidate (cheaply, with the validators) before using it.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, no-cache"));
    }

    /// `304 Not Modified` with the validators.
    pub fn not_modified_response(&self) -> Response {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        self.apply(r.headers_mut());
        r
    }
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn short_hash(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    d[..12].iter().map(|b| format!("{b:02x}")).collect()
}

/// A body with its media type, answered 200 or 304 against the request's validators.
pub fn respond(req: &HeaderMap, v: &Validators, content_type: &str, body: Vec<u8>) -> Response {
    if v.not_modified(req) {
        return v.not_modified_response();
    }
    let mut r = body.into_response();
    if let Ok(ct) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    v.apply(r.headers_mut());
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn if_none_match_wins_over_if_modified_since() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
        let v = Validators { etag: "\"abc\"".into(), last_modified: Some(t) };
        let mut h = HeaderMap::new();
        h.insert(header::IF_MODIFIED_SINCE, httpdate::fmt_http_date(t).parse().unwrap());
        assert!(v.not_modified(&h));
        h.insert(header::IF_NONE_MATCH, "\"other\"".parse().unwrap());
        assert!(!v.not_modified(&h));
        h.insert(header::IF_NONE_MATCH, "\"x\", W/\"abc\"".parse().unwrap());
        assert!(v.not_modified(&h));
        let mut old = HeaderMap::new();
        old.insert(header::IF_MODIFIED_SINCE, httpdate::fmt_http_date(t - Duration::from_secs(1)).parse().unwrap());
        assert!(!v.not_modified(&old));
    }

    #[test]
    fn salted_tags_match_the_salted_file_form() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), "x").unwrap();
        let meta = std::fs::metadata(dir.path().join("f")).unwrap();
        assert_eq!(Validators::of_file(&meta, "").salted("3/4/5").etag, Validators::of_file(&meta, "3/4/5").etag);
    }
}
