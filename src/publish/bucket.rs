//! Publishing to object storage: a site's map sets mirrored into an S3 bucket (AWS, or any S3-compatible store:
//! MinIO, Ceph RGW, Garage, R2) with the guarantee the disk gives: a reader sees the previous day's set or the new
//! one, never a mix.
//!
//! [`super::publish`] first puts the day in place on disk, which stays the source of truth; [`upload_day`] then
//! copies it, in an order that makes every pointer name only complete days:
//!
//! ```text
//!  1. s3://<bucket>/<prefix>/<site>/<date>/<file>     every file of published/<site>/<date>/, item.json last
//!     (and so any other published day the bucket lacks: one whose item.json is not there)
//!  2. s3://<bucket>/<prefix>/<site>/collection.json   the STAC Collection, one PUT
//!  3. s3://<bucket>/<prefix>/<site>/latest.json       {"date": "<the day `latest` names on disk>"}, one PUT
//!  4. objects under <date>/ that the day no longer has (an alert.cap.xml withdrawn by a re-publish) are deleted
//! ```
//!
//! A single-object PUT is atomic, and S3 (since December 2020) reads it back strongly consistent, so once step 2 or
//! 3 is answered every reader sees the new pointer and everything it names. A failure before step 2 leaves the
//! pointers on the previous day; objects already uploaded stay, unnamed, until the next run uploads the day again.
//! Re-publishing a day that the bucket already holds replaces its objects one by one: a reader fetching several files
//! of *that* day during the upload may get some old and some new (docs/operations.md).
//!
//! Connection: the standard AWS variables as [`object_store::aws::AmazonS3Builder::from_env`] reads them
//! (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, ...);
//! plain `http://` is allowed only when the endpoint URL says `http://`. Requests are path-style
//! (`<endpoint>/<bucket>/<key>`) unless `AWS_VIRTUAL_HOSTED_STYLE_REQUEST=true`.
//!
//! Site-level files written after a range run (the season series, [`super::series`]) go up with
//! [`upload_site_files`], beside the collection: one PUT each, no pointer names them.
//!
//! **Failure injection** for tests and drills: `fail_after = Some(n)`, or the environment variable
//! `AVARISK_S3_FAIL_AFTER=<n>` (read by [`upload_day`] only when `fail_after` is `None`), makes the upload fail in
//! place of its `n+1`-th PUT.
use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::NaiveDate;
use futures_util::TryStreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as Key;
use object_store::{Attribute, Attributes, ObjectStore, ObjectStoreExt, PutOptions, PutPayload};

use super::{place, COLLECTION_JSON, ITEM_JSON};
use crate::store::Store;

/// Name of the latest-day pointer object in a site's prefix (the bucket's counterpart of the `latest` symlink).
pub const LATEST_JSON: &str = "latest.json";
/// Environment variable of the failure-injection hook (see the module doc).
pub const FAIL_AFTER_ENV: &str = "AVARISK_S3_FAIL_AFTER";

pub use crate::config::params::Target;

/// Object keys under a [`Target`] (the type lives in configuration; its keys need object_store).
impl Target {
    /// The object key of `parts` (site, date, file name) under the prefix.
    pub fn key(&self, parts: &[&str]) -> Key {
        let prefix = (!self.prefix.is_empty()).then_some(self.prefix.as_str());
        Key::from(prefix.into_iter().chain(parts.iter().copied()).collect::<Vec<_>>().join("/"))
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.prefix.as_str() {
            "" => write!(f, "s3://{}", self.bucket),
            p => write!(f, "s3://{}/{p}", self.bucket),
        }
    }
}

/// A target and the `AWS_*` settings to reach it.
#[derive(Clone)]
pub struct Connection {
    pub target: Target,
    /// `(name, value)` pairs; names not starting with `AWS_` are ignored.
    pub vars: Vec<(String, String)>,
}

impl std::fmt::Debug for Connection {
    // The values may hold secrets: only the names are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.vars.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Connection").field("target", &self.target).field("vars", &names).finish()
    }
}

impl Connection {
    /// The target, reached with this process's `AWS_*` environment.
    pub fn from_env(target: &Target) -> Connection {
        let vars = std::env::vars().filter(|(k, _)| k.starts_with("AWS_")).collect();
        Connection { target: target.clone(), vars }
    }

    /// An S3 client for the target's bucket. Build it inside the runtime that uses it (its connection pool lives
    /// there).
    pub fn open(&self) -> Result<Arc<dyn ObjectStore>, BucketError> {
        let mut b = AmazonS3Builder::new();
        let mut http = false;
        for (k, v) in self.vars.iter().filter(|(k, _)| k.starts_with("AWS_")) {
            if let Ok(key) = k.to_ascii_lowercase().parse::<AmazonS3ConfigKey>() {
                if matches!(key, AmazonS3ConfigKey::Endpoint | AmazonS3ConfigKey::S3Endpoint) {
                    http |= v.starts_with("http://");
                }
                b = b.with_config(key, v);
            }
        }
        if http {
            b = b.with_allow_http(true);
        }
        let s3 = b
            .with_url(format!("s3://{}", self.target.bucket))
            .build()
            .map_err(|e| BucketError::Connect { target: self.target.to_string(), message: e.to_string() })?;
        Ok(Arc::new(s3))
    }
}

/// Why an upload stopped. Whatever was uploaded before stays, unnamed by the pointers.
#[derive(Debug, thiserror::Error)]
pub enum BucketError {
    #[error(
        "cannot reach {target}: {message}; set AWS_ENDPOINT_URL (for stores other than AWS), AWS_REGION and the \
         credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"
    )]
    Connect { target: String, message: String },
    #[error(
        "cannot {action} {object}: {source}; the bucket's pointers still name the previous day: check the bucket, \
         AWS_ENDPOINT_URL, AWS_REGION and the credentials, then run again"
    )]
    Request {
        action: &'static str,
        /// `s3://<bucket>/<key>`.
        object: String,
        source: Box<object_store::Error>,
    },
    #[error("cannot read {path} for upload: {source}")]
    Local { path: String, source: std::io::Error },
    #[error(transparent)]
    Published(#[from] super::PublishError),
    #[error("{FAIL_AFTER_ENV}={0:?}: use a number of objects (0, 1, 2, ...)")]
    FailAfter(String),
    #[error("upload failed on purpose after {0} object(s) ({FAIL_AFTER_ENV} or fail_after)")]
    Injected(usize),
    #[error("cannot start the async runtime for the upload: {0}")]
    Runtime(std::io::Error),
}

/// What a successful [`upload_day`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Uploaded {
    /// The days whose files were uploaded (the published day, and any the bucket lacked), oldest first.
    pub days: Vec<NaiveDate>,
    /// Objects written (day files and the two pointers) and their bytes.
    pub objects: usize,
    pub bytes: u64,
    /// The day `latest.json` names now.
    pub latest: NaiveDate,
}

impl std::fmt::Display for Uploaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let days: Vec<String> = self.days.iter().map(|d| d.to_string()).collect();
        write!(f, "{} object(s), {} bytes (days {}), latest {}", self.objects, self.bytes, days.join(", "), self.latest)
    }
}

/// The media type a published file is uploaded with (browsers and GDAL's `/vsis3/` read it back).
pub fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("tif") => super::stac::COG_MEDIA_TYPE,
        Some("geojson") => super::stac::GEOJSON_MEDIA_TYPE,
        Some("xml") => super::stac::CAP_MEDIA_TYPE,
        Some("png") => "image/png",
        Some("json") if name == ITEM_JSON => super::stac::GEOJSON_MEDIA_TYPE,
        Some("json") => "application/json",
        Some("csv") => "text/csv",
        _ => "application/octet-stream",
    }
}

/// Uploads `site`'s published `date` from `store` to the bucket, then switches its pointers (see the module doc).
/// Blocking: runs its own small runtime.
pub fn upload_day(
    conn: &Connection,
    store: &Store,
    site: &str,
    date: NaiveDate,
    fail_after: Option<usize>,
) -> Result<Uploaded, BucketError> {
    let fail_after = match fail_after {
        Some(n) => Some(n),
        None => match std::env::var(FAIL_AFTER_ENV) {
            Ok(v) => Some(v.trim().parse().map_err(|_| BucketError::FailAfter(v))?),
            Err(_) => None,
        },
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(BucketError::Runtime)?;
    rt.block_on(async {
        let mut up = Uploader { objects: conn.open()?, target: &conn.target, fail_after, done: 0, bytes: 0 };
        up.day_and_pointers(store, site, date).await
    })
}

/// Uploads files of `site`'s published folder (the season series) to `<prefix>/<site>/<file name>`; returns how many.
pub fn upload_site_files(conn: &Connection, site: &str, files: &[&std::path::Path]) -> Result<usize, BucketError> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(BucketError::Runtime)?;
    rt.block_on(async {
        let mut up = Uploader { objects: conn.open()?, target: &conn.target, fail_after: None, done: 0, bytes: 0 };
        for path in files {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let body = tokio::fs::read(path).await.map_err(|source| local(path, source))?;
            up.put(&up.target.key(&[site, &name]), body, content_type(&name)).await?;
        }
        Ok(up.done)
    })
}

struct Uploader<'a> {
    objects: Arc<dyn ObjectStore>,
    target: &'a Target,
    fail_after: Option<usize>,
    /// PUTs done so far, and their bytes.
    done: usize,
    bytes: u64,
}

impl Uploader<'_> {
    fn request(&self, action: &'static str, key: &Key) -> impl FnOnce(object_store::Error) -> BucketError {
        let object = format!("s3://{}/{key}", self.target.bucket);
        move |source| BucketError::Request { action, object, source: Box::new(source) }
    }

    async fn put(&mut self, key: &Key, body: Vec<u8>, content_type: &'static str) -> Result<(), BucketError> {
        if self.fail_after.is_some_and(|n| self.done >= n) {
            return Err(BucketError::Injected(self.done));
        }
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::ContentType, content_type.into());
        // Readers must revalidate: a day can be re-published, and pointers move every day.
        attributes.insert(Attribute::CacheControl, "no-cache".into());
        let len = body.len() as u64;
        let opts = PutOptions { attributes, ..Default::default() };
        self.objects.put_opts(key, PutPayload::from(body), opts).await.map_err(self.request("upload", key))?;
        self.done += 1;
        self.bytes += len;
        Ok(())
    }

    /// Every file of a local day folder, item.json last (a day is complete in the bucket once its item.json is).
    async fn put_day(&mut self, dir: &std::path::Path, site: &str, date: NaiveDate) -> Result<(), BucketError> {
        let mut names = BTreeSet::new();
        for e in fs_err::read_dir(dir).map_err(|source| local(dir, source))? {
            let e = e.map_err(|source| local(dir, source))?;
            if e.file_type().map(|t| t.is_file()).unwrap_or(false) {
                names.insert(e.file_name().to_string_lossy().into_owned());
            }
        }
        names.remove(ITEM_JSON);
        let day = date.to_string();
        for name in names.iter().map(String::as_str).chain([ITEM_JSON]) {
            let path = dir.join(name);
            let body = tokio::fs::read(&path).await.map_err(|source| local(&path, source))?;
            self.put(&self.target.key(&[site, &day, name]), body, content_type(name)).await?;
        }
        Ok(())
    }

    async fn day_and_pointers(&mut self, store: &Store, site: &str, date: NaiveDate) -> Result<Uploaded, BucketError> {
        let site_dir = store.published_site(site);
        let local_days = place::dated_dirs(&site_dir)?;
        let site_key = self.target.key(&[site]);
        let present: BTreeSet<Key> = self
            .objects
            .list(Some(&site_key))
            .map_ok(|m| m.location)
            .try_collect()
            .await
            .map_err(self.request("list", &site_key))?;

        // 1. The day, and every published day the bucket lacks, so that the collection names only complete days.
        let mut days = Vec::new();
        for (d, dir) in &local_days {
            if *d == date || !present.contains(&self.target.key(&[site, &d.to_string(), ITEM_JSON])) {
                self.put_day(dir, site, *d).await?;
                days.push(*d);
            }
        }
        if !days.contains(&date) {
            let dir = store.published(site, date);
            return Err(local(&dir, std::io::Error::new(std::io::ErrorKind::NotFound, "no published day there")));
        }

        // 2. and 3. The pointers, each one PUT.
        let collection = site_dir.join(COLLECTION_JSON);
        let body = tokio::fs::read(&collection).await.map_err(|source| local(&collection, source))?;
        self.put(&self.target.key(&[site, COLLECTION_JSON]), body, "application/json").await?;
        let link = store.latest(site);
        let latest = fs_err::read_link(&link)
            .ok()
            .and_then(|t| t.to_str().and_then(|t| t.parse::<NaiveDate>().ok()))
            .unwrap_or(date);
        let pointer = serde_json::json!({ "date": latest.to_string(), "item": format!("./{latest}/{ITEM_JSON}") });
        let body = serde_json::to_vec_pretty(&pointer).unwrap_or_default();
        self.put(&self.target.key(&[site, LATEST_JSON]), body, "application/json").await?;

        // 4. Files the day no longer has.
        let day_dir = store.published(site, date);
        let day = date.to_string();
        let day_prefix = self.target.key(&[site, &day]);
        for key in present.iter().filter(|k| k.prefix_matches(&day_prefix)) {
            let name = key.filename().unwrap_or_default();
            if !day_dir.join(name).is_file() {
                self.objects.delete(key).await.map_err(self.request("delete", key))?;
            }
        }
        tracing::info!(target = %self.target, site, date = %date, objects = self.done, bytes = self.bytes,
            latest = %latest, "uploaded");
        Ok(Uploaded { days, objects: self.done, bytes: self.bytes, latest })
    }
}

fn local(path: &std::path::Path, source: std::io::Error) -> BucketError {
    BucketError::Local { path: path.display().to_string(), source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_with_messages_that_say_what_is_accepted() {
        let t = Target::parse("s3://avarisk-maps/daily/v1/").unwrap();
        assert_eq!((t.bucket.as_str(), t.prefix.as_str()), ("avarisk-maps", "daily/v1"));
        assert_eq!(t.to_string(), "s3://avarisk-maps/daily/v1");
        assert_eq!(
            t.key(&["tyrol-west", "2021-02-15", "item.json"]).as_ref(),
            "daily/v1/tyrol-west/2021-02-15/item.json"
        );
        let root = Target::parse("s3://maps").unwrap();
        assert_eq!((root.prefix.as_str(), root.to_string().as_str()), ("", "s3://maps"));
        assert_eq!(root.key(&["a", "latest.json"]).as_ref(), "a/latest.json");
        for (bad, says) in [
            ("https://maps/x", "s3://<bucket>"),
            ("s3://Maps/x", "bucket `Maps`"),
            ("s3://ab", "3-63"),
            ("s3://maps/a//b", "no empty"),
            ("s3://maps/a/../b", "`..`"),
            ("s3://maps/a b", "prefix `a b`"),
        ] {
            let e = Target::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn connection_debug_hides_values() {
        let t = Target::parse("s3://maps").unwrap();
        let c = Connection { target: t, vars: vec![("AWS_SECRET_ACCESS_KEY".into(), "hunter2".into())] };
        let text = format!("{c:?}");
        assert!(text.contains("AWS_SECRET_ACCESS_KEY") && !text.contains("hunter2"), "{text}");
    }

    #[test]
    fn content_types_follow_the_published_names() {
        assert_eq!(content_type("danger_class.tif"), super::super::stac::COG_MEDIA_TYPE);
        assert_eq!(content_type("item.json"), "application/geo+json");
        assert_eq!(content_type("collection.json"), "application/json");
        assert_eq!(content_type("alert.cap.xml"), "application/cap+xml");
    }
}
