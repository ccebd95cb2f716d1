//! Serving straight from the bucket the pipeline uploads to (`avarisk serve --from s3://bucket/prefix`): no local
//! copy, every answer read through object_store.
//!
//! What a reader of the bucket is promised ([`crate::publish::bucket`]) holds here too: the days listed are those
//! of the site's `collection.json` and the latest day is the one `latest.json` names, both pointers switched only
//! after every file of their days was uploaded, so the API never names a day still being uploaded. Files are read
//! with the object's S3 ETag and Last-Modified as validators; COG byte ranges become ranged GETs (a HEAD for the
//! length, then a GET of exactly the range, conditional on the ETag). Tiles need GDAL on a file: a day's
//! `danger_class.tif` is fetched once per ETag into a temporary folder, kept while the server runs.
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use object_store::path::Path as Key;
use object_store::{GetOptions, GetRange, ObjectMeta, ObjectStore, ObjectStoreExt};
use serde_json::Value;

use super::conditional::Validators;
use super::files::{self, Reply};
use super::paths;
use super::source::Blob;
use super::ApiError;
use crate::publish::bucket::{Connection, Target, LATEST_JSON};
use crate::publish::COLLECTION_JSON;

/// A bucket prefix holding `<site>/collection.json`, `<site>/latest.json` and `<site>/<date>/<file>`.
#[derive(Debug)]
pub struct Remote {
    target: Target,
    objects: Arc<dyn ObjectStore>,
    /// Downloaded class rasters for tiles, `<site>-<date>-<etag hash>.tif`.
    cache: tempfile::TempDir,
}

fn internal(what: &str) -> impl FnOnce(object_store::Error) -> ApiError + '_ {
    move |e| match e {
        object_store::Error::NotFound { .. } => ApiError::NotFound,
        e => ApiError::Internal(format!("bucket read of {what} failed: {e}")),
    }
}

fn validators(meta: &ObjectMeta) -> Validators {
    let modified = SystemTime::from(meta.last_modified);
    let etag = match &meta.e_tag {
        Some(t) => format!("\"{}\"", t.trim_start_matches("W/").trim_matches('"')),
        None => format!("\"{:x}-{:x}\"", meta.size, meta.last_modified.timestamp_micros()),
    };
    Validators { etag, last_modified: Some(modified) }
}

impl Remote {
    pub fn open(conn: &Connection) -> std::io::Result<Remote> {
        let objects = conn.open().map_err(std::io::Error::other)?;
        let cache = tempfile::Builder::new().prefix("avarisk-serve-").tempdir()?;
        Ok(Remote { target: conn.target.clone(), objects, cache })
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Lists the prefix once: the bucket answers and the credentials are accepted.
    pub async fn check(&self) -> Result<(), object_store::Error> {
        self.objects.list_with_delimiter(self.prefix().as_ref()).await.map(|_| ())
    }

    fn prefix(&self) -> Option<Key> {
        (!self.target.prefix.is_empty()).then(|| Key::from(self.target.prefix.as_str()))
    }

    async fn get(&self, key: &Key) -> Result<Blob, ApiError> {
        let r = self.objects.get(key).await.map_err(internal(key.as_ref()))?;
        let v = validators(&r.meta);
        let bytes = r.bytes().await.map_err(internal(key.as_ref()))?;
        Ok(Blob { bytes: bytes.to_vec(), validators: v })
    }

    /// Site ids: the prefix's "folders" named like sites.
    pub async fn sites(&self) -> Vec<String> {
        let Ok(list) = self.objects.list_with_delimiter(self.prefix().as_ref()).await else { return Vec::new() };
        let mut ids: Vec<String> = list
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename())
            .filter(|id| paths::site_id(id).is_ok())
            .map(str::to_owned)
            .collect();
        ids.sort();
        ids
    }

    pub async fn collection(&self, site: &str) -> Result<Blob, ApiError> {
        self.get(&self.target.key(&[paths::site_id(site)?, COLLECTION_JSON])).await
    }

    /// The days the collection links to, oldest first.
    pub async fn dates(&self, site: &str) -> Result<Vec<NaiveDate>, ApiError> {
        let c: Value = serde_json::from_slice(&self.collection(site).await?.bytes)
            .map_err(|e| ApiError::Internal(format!("the bucket's collection of {site} is not valid JSON: {e}")))?;
        let mut days: Vec<NaiveDate> = c["links"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|l| l["rel"] == "item")
            .filter_map(|l| l["href"].as_str()?.strip_prefix("./")?.split('/').next().map(paths::date))
            .filter_map(Result::ok)
            .collect();
        days.sort();
        days.dedup();
        Ok(days)
    }

    /// The day `latest.json` names; without it, the newest day of the collection.
    pub async fn latest(&self, site: &str) -> Result<NaiveDate, ApiError> {
        match self.get(&self.target.key(&[paths::site_id(site)?, LATEST_JSON])).await {
            Ok(b) => {
                let v: Value = serde_json::from_slice(&b.bytes).unwrap_or_default();
                v["date"].as_str().and_then(|d| paths::date(d).ok()).ok_or_else(|| {
                    ApiError::Internal(format!("the bucket's {LATEST_JSON} of {site} names no YYYY-MM-DD date"))
                })
            }
            Err(ApiError::NotFound) => self.dates(site).await?.pop().ok_or(ApiError::NotFound),
            Err(e) => Err(e),
        }
    }

    fn day_key(site: &str, day: &str, name: &str, target: &Target) -> Result<Key, ApiError> {
        let (site, day) = (paths::site_id(site)?, paths::date(day)?.to_string());
        paths::file_name(name)?;
        Ok(target.key(&[site, &day, name]))
    }

    pub async fn day_blob(&self, site: &str, day: &str, name: &str) -> Result<Blob, ApiError> {
        self.get(&Self::day_key(site, day, name, &self.target)?).await
    }

    /// A day's file with validators and byte ranges.
    pub async fn day_file(&self, site: &str, day: &str, name: &str, req: &HeaderMap) -> Result<Response, ApiError> {
        let key = Self::day_key(site, day, name, &self.target)?;
        let (_, content_type) = paths::file_name(name)?;
        let meta = self.objects.head(&key).await.map_err(internal(key.as_ref()))?;
        let v = validators(&meta);
        let (status, headers, range) = match files::decide(meta.size, &v, content_type, req) {
            Reply::Done(r) => return Ok(r),
            Reply::Send { status, headers, range } => (status, headers, range),
        };
        // The GET must read the object the HEAD described (a re-publish may replace it in between).
        let opts = GetOptions {
            range: range.map(|r| GetRange::Bounded(r.first..r.last + 1)),
            if_match: meta.e_tag.clone(),
            ..Default::default()
        };
        let r = self.objects.get_opts(&key, opts).await.map_err(internal(key.as_ref()))?;
        Ok((status, headers, Body::from_stream(r.into_stream())).into_response())
    }

    /// A local copy of the day's class raster for GDAL, and its validators.
    pub async fn class_raster(&self, site: &str, day: &str) -> Result<(PathBuf, Validators), ApiError> {
        let key = Self::day_key(site, day, "danger_class.tif", &self.target)?;
        let meta = self.objects.head(&key).await.map_err(internal(key.as_ref()))?;
        let v = validators(&meta);
        let tag: String = v.etag.chars().filter(char::is_ascii_alphanumeric).take(40).collect();
        let path = self.cache.path().join(format!("{site}-{day}-{tag}.tif"));
        if !path.is_file() {
            let r = self.objects.get_opts(&key, GetOptions { if_match: meta.e_tag.clone(), ..Default::default() });
            let bytes = r.await.map_err(internal(key.as_ref()))?.bytes().await.map_err(internal(key.as_ref()))?;
            let dir = self.cache.path().to_owned();
            let dest = path.clone();
            // Written aside and renamed, so a concurrent request never opens half a raster.
            tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
                std::io::Write::write_all(&mut tmp, &bytes)?;
                tmp.persist(dest).map(|_| ()).map_err(|e| e.error)
            })
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .map_err(|e| ApiError::Internal(format!("cannot cache the class raster for tiles: {e}")))?;
        }
        Ok((path, v))
    }
}
