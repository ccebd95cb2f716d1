//! Where the server reads the published maps: the output root on disk (`<root>/published`, through the strict
//! [`paths`] resolution), or the bucket the pipeline uploads to ([`bucket`]). Handlers see one interface.
use std::path::PathBuf;

use axum::http::HeaderMap;
use axum::response::Response;
use chrono::NaiveDate;

use super::conditional::Validators;
use super::{bucket, files, paths, ApiError};

/// A published file read whole, with its validators.
#[derive(Debug)]
pub struct Blob {
    pub bytes: Vec<u8>,
    pub validators: Validators,
}

#[derive(Debug)]
pub enum Source {
    Disk(paths::Published),
    Bucket(bucket::Remote),
}

async fn read(path: &std::path::Path) -> Result<Blob, ApiError> {
    let bytes = tokio::fs::read(path).await.map_err(|_| ApiError::NotFound)?;
    let meta = tokio::fs::metadata(path).await.map_err(|_| ApiError::NotFound)?;
    Ok(Blob { bytes, validators: Validators::of_file(&meta, "") })
}

impl Source {
    /// Ids of the published sites, sorted.
    pub async fn sites(&self) -> Vec<String> {
        match self {
            Source::Disk(p) => p.sites(),
            Source::Bucket(b) => b.sites().await,
        }
    }

    /// The site's STAC Collection as published.
    pub async fn collection(&self, site: &str) -> Result<Blob, ApiError> {
        match self {
            Source::Disk(p) => read(&p.collection(site)?).await,
            Source::Bucket(b) => b.collection(site).await,
        }
    }

    /// Published days, oldest first.
    pub async fn dates(&self, site: &str) -> Result<Vec<NaiveDate>, ApiError> {
        match self {
            Source::Disk(p) => Ok(p.dates(site)?),
            Source::Bucket(b) => b.dates(site).await,
        }
    }

    /// The site's latest day.
    pub async fn latest(&self, site: &str) -> Result<NaiveDate, ApiError> {
        match self {
            Source::Disk(p) => Ok(p.latest(site)?),
            Source::Bucket(b) => b.latest(site).await,
        }
    }

    /// A file of one day, read whole (item.json, zones.geojson).
    pub async fn day_blob(&self, site: &str, day: &str, name: &str) -> Result<Blob, ApiError> {
        match self {
            Source::Disk(p) => read(&p.day_file(site, day, name)?).await,
            Source::Bucket(b) => b.day_blob(site, day, name).await,
        }
    }

    /// A file of one day as an HTTP answer, with validators and byte ranges.
    pub async fn day_file(&self, site: &str, day: &str, name: &str, req: &HeaderMap) -> Result<Response, ApiError> {
        match self {
            Source::Disk(p) => {
                let path = p.day_file(site, day, name)?;
                let (_, content_type) = paths::file_name(name)?;
                files::serve_file(&path, content_type, req).await
            }
            Source::Bucket(b) => b.day_file(site, day, name, req).await,
        }
    }

    /// A local file of the day's danger-class raster for GDAL, and its validators (the file's path changes, or its
    /// modification time does, whenever the raster does).
    pub async fn class_raster(&self, site: &str, day: &str) -> Result<(PathBuf, Validators), ApiError> {
        match self {
            Source::Disk(p) => {
                let path = p.day_file(site, day, "danger_class.tif")?;
                let meta = tokio::fs::metadata(&path).await.map_err(|_| ApiError::NotFound)?;
                Ok((path, Validators::of_file(&meta, "")))
            }
            Source::Bucket(b) => b.class_raster(site, day).await,
        }
    }

    /// What the start-up line names.
    pub fn describe(&self, root: &std::path::Path) -> String {
        match self {
            Source::Disk(_) => format!("published maps under {}", root.display()),
            Source::Bucket(b) => format!("published maps in {}", b.target()),
        }
    }
}
