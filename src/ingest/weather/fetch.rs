//! An HTTP client that behaves like a production one: bounded concurrency, connect/read timeouts, retries with
//! exponential backoff and full jitter on timeouts, connection errors, 429 and 5xx (honouring `Retry-After`), never
//! on other 4xx; and an on-disk cache of good answers keyed by the request, so a re-run does not fetch again and
//! `--offline` runs from the cache alone.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use crate::config::params::FetchParams;
use rand::Rng;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use tracing::{debug, warn};

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("GET {url} failed after {attempts} attempt(s): {cause}")]
    Failed { url: String, attempts: u32, cause: String },
    #[error("GET {url}: HTTP {status} (not retried: the request itself is wrong){body}")]
    Client { url: String, status: u16, body: String },
    #[error("offline and not in the cache: {url}")]
    NotCached { url: String },
    #[error("cache {path}: {source}")]
    Cache { path: String, source: std::io::Error },
    #[error("cannot build the HTTP client: {0}")]
    Client0(String),
}

/// Shared by every request of a run: one connection pool, one concurrency limit, one cache.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    params: FetchParams,
    limit: Arc<Semaphore>,
    cache: PathBuf,
    offline: bool,
}

impl Fetcher {
    pub fn new(params: FetchParams, cache: &Path, offline: bool) -> Result<Fetcher, FetchError> {
        let client = reqwest::Client::builder()
            .connect_timeout(params.connect_timeout)
            .read_timeout(params.read_timeout)
            .user_agent(concat!("avarisk/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FetchError::Client0(e.to_string()))?;
        let limit = Arc::new(Semaphore::new(params.concurrency.max(1)));
        Ok(Fetcher { client, params, limit, cache: cache.to_path_buf(), offline })
    }

    pub fn offline(&self) -> bool {
        self.offline
    }

    /// The cached answer to `url`, if any.
    pub fn cached(&self, url: &str) -> Option<String> {
        std::fs::read_to_string(self.cache_path(url)).ok()
    }

    /// Stores a good answer for `url` (written to a temporary file, then renamed).
    pub fn remember(&self, url: &str, body: &str) -> Result<(), FetchError> {
        let path = self.cache_path(url);
        let err = |e| FetchError::Cache { path: path.display().to_string(), source: e };
        fs_err::create_dir_all(&self.cache).map_err(err)?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        fs_err::write(&tmp, body).map_err(err)?;
        fs_err::rename(&tmp, &path).map_err(err)
    }

    fn cache_path(&self, url: &str) -> PathBuf {
        let key = Sha256::digest(url.as_bytes());
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        self.cache.join(format!("{hex}.json"))
    }

    /// GETs `url` with retries; a cached answer is returned without a request. Callers check the body and call
    /// [`Fetcher::remember`] when it is good.
    pub async fn get(&self, url: &str) -> Result<String, FetchError> {
        if let Some(body) = self.cached(url) {
            debug!(url = %redact(url), "cache hit");
            return Ok(body);
        }
        if self.offline {
            return Err(FetchError::NotCached { url: redact(url) });
        }
        let _permit = self.limit.acquire().await.expect("semaphore never closed");
        let mut attempt = 0;
        loop {
            let wait = match self.client.get(url).send().await {
                Ok(resp) => {
                    let status = resp.status();
                    if status.is_success() {
                        match resp.text().await {
                            Ok(body) => return Ok(body),
                            Err(e) => Retry::After(None, format!("reading the body: {}", chain(&e))),
                        }
                    } else if status.as_u16() == 429 || status.is_server_error() {
                        let after = resp
                            .headers()
                            .get(reqwest::header::RETRY_AFTER)
                            .and_then(|v| v.to_str().ok())
                            .and_then(retry_after);
                        Retry::After(after, format!("HTTP {status}"))
                    } else {
                        let body = resp.text().await.unwrap_or_default();
                        let body = if body.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", body.chars().take(300).collect::<String>())
                        };
                        return Err(FetchError::Client { url: redact(url), status: status.as_u16(), body });
                    }
                }
                Err(e) => Retry::After(None, chain(&e)),
            };
            let Retry::After(after, cause) = wait;
            if attempt >= self.params.retries {
                return Err(FetchError::Failed { url: redact(url), attempts: attempt + 1, cause });
            }
            let delay = after.unwrap_or_else(|| self.backoff(attempt)).min(self.params.max_backoff);
            warn!(url = %redact(url), attempt = attempt + 1, delay_ms = delay.as_millis() as u64, "{cause}; retrying");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let cap = self.params.base_backoff.saturating_mul(1u32 << attempt.min(16)).min(self.params.max_backoff);
        Duration::from_millis(rand::thread_rng().gen_range(0..=cap.as_millis() as u64))
    }
}

enum Retry {
    After(Option<Duration>, String),
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(v: &str) -> Option<Duration> {
    if let Ok(s) = v.trim().parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v.trim()).ok()?;
    let secs = (when.timestamp() - chrono::Utc::now().timestamp()).max(0);
    Some(Duration::from_secs(secs as u64))
}

/// The error and its causes, one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// The URL without secrets: values of `apikey`, `key`, `token` query parameters are masked.
pub fn redact(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else { return url.to_owned() };
    let parts: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if ["apikey", "key", "token", "api_key"].contains(&k.to_ascii_lowercase().as_str()) => {
                format!("{k}=***")
            }
            _ => kv.to_owned(),
        })
        .collect();
    format!("{base}?{}", parts.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked() {
        assert_eq!(redact("https://x/v1/archive?a=1&apikey=s3cr3t&b=2"), "https://x/v1/archive?a=1&apikey=***&b=2");
        assert_eq!(redact("https://x/v1"), "https://x/v1");
    }

    #[test]
    fn retry_after_in_seconds_or_date() {
        assert_eq!(retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        assert_eq!(retry_after("soon"), None);
    }
}
