//! Model bundles: a trained [`UNet`] and everything needed to use it again, in one directory.
//!
//! ```text
//!  <bundle>/model.safetensors   the UNet's variables (`encoder.*`, `decoder.*`), float32; PyTorch can read it with
//!                               `safetensors.torch.load_file`
//!  <bundle>/bundle.json         BundleMeta: input features in order, normalisation, resolution, architecture,
//!                               metrics, lineage, versions
//! ```
//!
//! [`save`] is atomic: both files are written to a hidden temporary sibling directory, which then replaces `<bundle>`,
//! so a reader sees the old bundle or the new one, never half of one. [`load`] refuses a bundle whose weights do not
//! match the architecture in its `bundle.json`, and [`check_compatible`] refuses one trained on other features or at
//! another resolution than a site's.
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tch::{nn, Device, Tensor};

use crate::unet::{UNet, UNetConfig, ENCODER_PREFIX};

/// File holding the weights inside a bundle directory.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// File holding the [`BundleMeta`] inside a bundle directory.
pub const META_FILE: &str = "bundle.json";
/// Version of the tch crate this build links (pinned with `=` in Cargo.toml).
pub const TCH_VERSION: &str = "0.24.0";
/// Version of libtorch that tch 0.24 requires: torch-sys's build script refuses any other (tch exposes no runtime
/// version query), so this pinned constant is the version actually linked.
pub const LIBTORCH_VERSION: &str = "2.11.0";
/// Largest relative difference between a bundle's resolution and a site's that [`check_compatible`] accepts.
pub const RESOLUTION_TOLERANCE: f64 = 0.01;

/// Software versions that produced a bundle.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Versions {
    pub avarisk: String,
    pub tch: String,
    pub libtorch: String,
}

impl Versions {
    /// The versions of this build.
    pub fn current() -> Self {
        Versions {
            avarisk: env!("CARGO_PKG_VERSION").to_string(),
            tch: TCH_VERSION.to_string(),
            libtorch: LIBTORCH_VERSION.to_string(),
        }
    }
}

/// Contents of `bundle.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BundleMeta {
    /// Bundle name, e.g. `"davos-2024-source"`.
    pub name: String,
    /// Creation time, RFC 3339 (`chrono::Utc::now().to_rfc3339()`).
    pub created: String,
    /// Input channel names, in channel order; a site must supply exactly these, in this order.
    pub features: Vec<String>,
    /// Per-channel mean subtracted before the network (same order as `features`, feature units).
    pub norm_mean: Vec<f32>,
    /// Per-channel standard deviation divided by after subtracting the mean (same order as `features`).
    pub norm_std: Vec<f32>,
    /// Cell size the model was trained at, metres.
    pub resolution_m: f64,
    /// Training window side, pixels.
    pub patch: i64,
    /// Unlabelled context cells on each side of a training window: prediction reads this margin of real terrain
    /// around every tile, so each cell is predicted with the context it was trained with (0 in older bundles).
    #[serde(default)]
    pub context: i64,
    /// Architecture; [`load`] rebuilds the network from it.
    pub unet: UNetConfig,
    /// Evaluation metrics, free-form (e.g. `{"val": {"auc": 0.81}}`).
    pub metrics: serde_json::Value,
    /// Lineage: the bundle this one was fine-tuned from, as [`lineage_id`] gives it (`name@sha256:<hex>`).
    pub parent: Option<String>,
    /// Hash identifying the training data (e.g. [`hash_file`] of the dataset manifest).
    pub data_hash: String,
    pub versions: Versions,
}

impl BundleMeta {
    /// Every inconsistency in this metadata (empty when it describes a usable bundle).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.name.trim().is_empty() {
            out.push("name is empty".to_string());
        }
        if let Err(e) = chrono::DateTime::parse_from_rfc3339(&self.created) {
            out.push(format!("created {:?} is not RFC 3339: {e}", self.created));
        }
        let n = self.features.len();
        if n == 0 {
            out.push("features is empty".to_string());
        }
        let mut seen = HashSet::new();
        for f in &self.features {
            if !seen.insert(f) {
                out.push(format!("feature {f:?} is listed twice"));
            }
        }
        if self.unet.in_channels != n as i64 {
            out.push(format!("unet.in_channels is {} but there are {n} features", self.unet.in_channels));
        }
        for (key, v) in [("norm_mean", &self.norm_mean), ("norm_std", &self.norm_std)] {
            if v.len() != n {
                out.push(format!("{key} has {} values for {n} features", v.len()));
            }
        }
        if self.norm_mean.iter().any(|m| !m.is_finite()) {
            out.push("norm_mean has non-finite values".to_string());
        }
        if self.norm_std.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            out.push("norm_std must be finite and positive".to_string());
        }
        if !(self.resolution_m.is_finite() && self.resolution_m > 0.0) {
            out.push(format!("resolution_m must be positive (found {})", self.resolution_m));
        }
        if self.patch < 4 || self.patch % 4 != 0 {
            out.push(format!("patch must be a positive multiple of 4 (found {})", self.patch));
        }
        out.extend(self.unet.problems().into_iter().map(|p| format!("unet: {p}")));
        out
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// I/O failure; fs-err and tempfile messages name the path.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("{path}: not found (a bundle is a directory holding {WEIGHTS_FILE} and {META_FILE})")]
    Missing { path: PathBuf },
    #[error("{path}: {message}")]
    BadPath { path: PathBuf, message: String },
    #[error("{path}: invalid bundle metadata: {source}")]
    Json { path: PathBuf, source: serde_json::Error },
    #[error("{path}: inconsistent bundle metadata: {}", problems.join("; "))]
    Invalid { path: PathBuf, problems: Vec<String> },
    #[error("{path}: weights do not match the architecture in {META_FILE}: {detail}")]
    Weights { path: PathBuf, detail: String },
    #[error("{path}: cannot write weights: {source}")]
    SaveWeights { path: PathBuf, source: tch::TchError },
    #[error("bundle {bundle:?} was trained on other features: {detail}")]
    FeaturesDiffer { bundle: String, expected: Vec<String>, found: Vec<String>, detail: String },
    #[error(
        "bundle {bundle:?} was trained at {bundle_m} m but the site is at {site_m} m (more than {}% apart); \
         resample the site or train a bundle at its resolution",
        RESOLUTION_TOLERANCE * 100.0
    )]
    ResolutionDiffers { bundle: String, bundle_m: f64, site_m: f64 },
}

/// Names of the variables a bundle holds: the UNet's.
fn is_unet_variable(name: &str) -> bool {
    name.starts_with(ENCODER_PREFIX) || name.starts_with("decoder.")
}

/// Name -> shape of the variables a [`UNet`] built from `cfg` has (built on the CPU in a scratch store).
fn expected_shapes(cfg: &UNetConfig) -> BTreeMap<String, Vec<i64>> {
    let vs = nn::VarStore::new(Device::Cpu);
    let _net = UNet::new(&vs.root(), cfg);
    vs.variables().into_iter().map(|(n, t)| (n, t.size())).collect()
}

/// Describes how `found` (name -> shape) differs from `expected`, or `None` when they agree exactly.
fn shape_mismatch(expected: &BTreeMap<String, Vec<i64>>, found: &BTreeMap<String, Vec<i64>>) -> Option<String> {
    const SHOW: usize = 5;
    let list = |names: Vec<&String>| {
        let more = names.len().saturating_sub(SHOW);
        let shown: Vec<&str> = names.iter().take(SHOW).map(|s| s.as_str()).collect();
        if more > 0 {
            format!("{} and {more} more", shown.join(", "))
        } else {
            shown.join(", ")
        }
    };
    let mut parts = Vec::new();
    let missing: Vec<&String> = expected.keys().filter(|n| !found.contains_key(*n)).collect();
    if !missing.is_empty() {
        parts.push(format!("missing {}", list(missing)));
    }
    let extra: Vec<&String> = found.keys().filter(|n| !expected.contains_key(*n)).collect();
    if !extra.is_empty() {
        parts.push(format!("unexpected {}", list(extra)));
    }
    let wrong: Vec<String> = expected
        .iter()
        .filter_map(|(n, s)| found.get(n).filter(|f| *f != s).map(|f| format!("{n} is {f:?}, expected {s:?}")))
        .collect();
    if !wrong.is_empty() {
        let more = wrong.len().saturating_sub(SHOW);
        let mut s = wrong.into_iter().take(SHOW).collect::<Vec<_>>().join(", ");
        if more > 0 {
            s.push_str(&format!(" and {more} more"));
        }
        parts.push(s);
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Splits `dir` into its parent (created if missing) and its final component.
fn parent_and_name(dir: &Path) -> Result<(PathBuf, String), BundleError> {
    let name = dir.file_name().and_then(|n| n.to_str()).ok_or_else(|| BundleError::BadPath {
        path: dir.to_path_buf(),
        message: "a bundle directory needs a final path component in UTF-8".to_string(),
    })?;
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((parent, name.to_string()))
}

/// Writes the bundle at `dir` (a directory, created or replaced) from the UNet variables of `vs` and `meta`.
///
/// Only the UNet's variables (`encoder.*`, `decoder.*`) are written; others in `vs` (a domain classifier sharing the
/// encoder, say) are not part of the bundle. They must match `meta.unet` exactly, and `meta` must be consistent
/// ([`BundleMeta::problems`]): a bundle that [`load`] would refuse is never written.
///
/// Atomic: everything is written and synced in a temporary directory next to `dir`, then renamed into place; an
/// existing bundle at `dir` is replaced only after the new one is complete (and restored if the final rename fails).
pub fn save(dir: &Path, vs: &nn::VarStore, meta: &BundleMeta) -> Result<(), BundleError> {
    let problems = meta.problems();
    if !problems.is_empty() {
        return Err(BundleError::Invalid { path: dir.join(META_FILE), problems });
    }
    let weights: BTreeMap<String, Tensor> = vs.variables().into_iter().filter(|(n, _)| is_unet_variable(n)).collect();
    let found = weights.iter().map(|(n, t)| (n.clone(), t.size())).collect();
    if let Some(detail) = shape_mismatch(&expected_shapes(&meta.unet), &found) {
        return Err(BundleError::Weights { path: dir.join(WEIGHTS_FILE), detail });
    }

    let (parent, name) = parent_and_name(dir)?;
    if dir.exists() && !dir.is_dir() {
        return Err(BundleError::BadPath {
            path: dir.to_path_buf(),
            message: "exists and is not a directory".to_string(),
        });
    }
    fs_err::create_dir_all(&parent)?;
    // staging/new becomes the bundle; staging/old receives the bundle it replaces; dropping staging removes both.
    let staging = tempfile::Builder::new().prefix(&format!(".{name}.")).suffix(".tmp").tempdir_in(&parent)?;
    let new = staging.path().join("new");
    fs_err::create_dir(&new)?;

    let weights_path = new.join(WEIGHTS_FILE);
    let cpu: Vec<(String, Tensor)> =
        weights.iter().map(|(n, t)| (n.clone(), t.detach().to_device(Device::Cpu).contiguous())).collect();
    Tensor::write_safetensors(&cpu, &weights_path)
        .map_err(|source| BundleError::SaveWeights { path: dir.join(WEIGHTS_FILE), source })?;
    fs_err::File::open(&weights_path)?.sync_all()?;

    let json =
        serde_json::to_vec_pretty(meta).map_err(|source| BundleError::Json { path: dir.join(META_FILE), source })?;
    let mut file = fs_err::File::create(new.join(META_FILE))?;
    file.write_all(&json)?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    drop(file);

    let old = staging.path().join("old");
    let replacing = dir.exists();
    if replacing {
        fs_err::rename(dir, &old)?;
    }
    if let Err(e) = fs_err::rename(&new, dir) {
        if replacing {
            // Put the previous bundle back; the error reported is the one that stopped the save.
            let _ = fs_err::rename(&old, dir);
        }
        return Err(e.into());
    }
    // Make the renames durable (best effort: not every filesystem lets a directory be synced).
    if let Ok(d) = fs_err::File::open(&parent) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Reads and checks `dir/bundle.json`.
pub fn read_meta(dir: &Path) -> Result<BundleMeta, BundleError> {
    let path = dir.join(META_FILE);
    if !path.is_file() {
        return Err(BundleError::Missing { path });
    }
    let text = fs_err::read_to_string(&path)?;
    let meta: BundleMeta =
        serde_json::from_str(&text).map_err(|source| BundleError::Json { path: path.clone(), source })?;
    let problems = meta.problems();
    if !problems.is_empty() {
        return Err(BundleError::Invalid { path, problems });
    }
    Ok(meta)
}

/// Loads the bundle at `dir` onto `device`: the network is rebuilt from `bundle.json` and its weights are read from
/// `model.safetensors`, which must hold exactly that network's variables with exactly their shapes (no broadcasting,
/// no partial loads). Put the network in eval mode (`forward_t(xs, false)`) for prediction.
pub fn load(dir: &Path, device: Device) -> Result<(nn::VarStore, UNet, BundleMeta), BundleError> {
    if !dir.is_dir() {
        return Err(BundleError::Missing { path: dir.to_path_buf() });
    }
    let meta = read_meta(dir)?;
    let path = dir.join(WEIGHTS_FILE);
    if !path.is_file() {
        return Err(BundleError::Missing { path });
    }
    let weights_err = |detail: String| BundleError::Weights { path: path.clone(), detail };
    let stored: BTreeMap<String, Tensor> =
        Tensor::read_safetensors(&path).map_err(|e| weights_err(e.to_string()))?.into_iter().collect();

    let vs = nn::VarStore::new(device);
    let net = UNet::new(&vs.root(), &meta.unet);
    let variables = vs.variables();
    let expected = variables.iter().map(|(n, t)| (n.clone(), t.size())).collect();
    let found = stored.iter().map(|(n, t)| (n.clone(), t.size())).collect();
    if let Some(detail) = shape_mismatch(&expected, &found) {
        return Err(weights_err(detail));
    }
    tch::no_grad(|| {
        for (name, var) in &variables {
            let mut var = var.shallow_clone();
            var.f_copy_(&stored[name]).map_err(|e| weights_err(format!("{name}: {e}")))?;
        }
        Ok::<(), BundleError>(())
    })?;
    Ok((vs, net, meta))
}

/// Refuses a bundle for a site whose features (names and order) or resolution differ from the bundle's.
pub fn check_compatible(meta: &BundleMeta, features: &[String], resolution_m: f64) -> Result<(), BundleError> {
    if meta.features != features {
        let missing: Vec<&str> = meta.features.iter().filter(|f| !features.contains(f)).map(|f| f.as_str()).collect();
        let extra: Vec<&str> = features.iter().filter(|f| !meta.features.contains(f)).map(|f| f.as_str()).collect();
        let mut parts = Vec::new();
        if !missing.is_empty() {
            parts.push(format!("the site lacks {}", missing.join(", ")));
        }
        if !extra.is_empty() {
            parts.push(format!("the bundle does not know {}", extra.join(", ")));
        }
        if parts.is_empty() {
            // Same names, another order (or another count of a repeated name): name the first position that differs.
            let i = meta.features.iter().zip(features).position(|(a, b)| a != b).unwrap_or(meta.features.len());
            parts.push(format!(
                "same names in another order: channel {i} is {:?} in the bundle but {:?} at the site",
                meta.features.get(i).map(String::as_str).unwrap_or("(none)"),
                features.get(i).map(String::as_str).unwrap_or("(none)"),
            ));
        }
        return Err(BundleError::FeaturesDiffer {
            bundle: meta.name.clone(),
            expected: meta.features.clone(),
            found: features.to_vec(),
            detail: parts.join("; "),
        });
    }
    let relative = (resolution_m - meta.resolution_m).abs() / meta.resolution_m;
    if !relative.is_finite() || relative > RESOLUTION_TOLERANCE {
        return Err(BundleError::ResolutionDiffers {
            bundle: meta.name.clone(),
            bundle_m: meta.resolution_m,
            site_m: resolution_m,
        });
    }
    Ok(())
}

/// SHA-256 of the file at `path`, lowercase hex (64 characters).
pub fn hash_file(path: &Path) -> Result<String, BundleError> {
    let mut hasher = Sha256::new();
    std::io::copy(&mut fs_err::File::open(path)?, &mut hasher)?;
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Identifies the bundle at `dir` for [`BundleMeta::parent`]: `<name>@sha256:<hash of model.safetensors>`.
pub fn lineage_id(dir: &Path) -> Result<String, BundleError> {
    let meta = read_meta(dir)?;
    let weights = dir.join(WEIGHTS_FILE);
    if !weights.is_file() {
        return Err(BundleError::Missing { path: weights });
    }
    Ok(format!("{}@sha256:{}", meta.name, hash_file(&weights)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::nn::ModuleT;
    use tch::Kind;

    fn features() -> Vec<String> {
        ["slope", "aspect_sin", "aspect_cos"].iter().map(|s| s.to_string()).collect()
    }

    fn tiny_meta(name: &str) -> BundleMeta {
        BundleMeta {
            name: name.to_string(),
            created: "2025-01-15T06:00:00+00:00".to_string(),
            features: features(),
            norm_mean: vec![30.0, 0.0, 0.0],
            norm_std: vec![12.5, 0.7, 0.7],
            resolution_m: 90.0,
            patch: 32,
            context: 0,
            unet: UNetConfig { in_channels: 3, widths: [4, 8, 16], dilation: 2, dropout: 0.1 },
            metrics: serde_json::json!({"val": {"auc": 0.8}}),
            parent: None,
            data_hash: "0".repeat(64),
            versions: Versions::current(),
        }
    }

    /// A trained-looking network: random weights and non-trivial batch-norm running statistics.
    fn trained(meta: &BundleMeta) -> (nn::VarStore, UNet) {
        let vs = nn::VarStore::new(Device::Cpu);
        let net = UNet::new(&vs.root(), &meta.unet);
        for _ in 0..3 {
            let _ = net.forward_t(&Tensor::randn([2, 3, 16, 16], (Kind::Float, Device::Cpu)), true);
        }
        (vs, net)
    }

    #[test]
    fn bundle_round_trips() {
        tch::manual_seed(10);
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("sites").join("davos-source");
        let meta = tiny_meta("davos-source");
        let (vs, net) = trained(&meta);
        save(&dir, &vs, &meta).unwrap();
        assert!(dir.join(WEIGHTS_FILE).is_file() && dir.join(META_FILE).is_file());

        let (vs2, net2, meta2) = load(&dir, Device::Cpu).unwrap();
        assert_eq!(meta2, meta);
        assert_eq!(vs2.len(), vs.len());
        let xs = Tensor::randn([2, 3, 32, 32], (Kind::Float, Device::Cpu));
        let (a, b) = (net.forward_t(&xs, false), net2.forward_t(&xs, false));
        assert!(a.equal(&b), "outputs differ by up to {}", f64::try_from((a - b).abs().max()).unwrap());
        for (name, t) in vs.variables() {
            assert!(t.equal(&vs2.variables()[&name]), "{name} differs");
        }
    }

    #[test]
    fn save_replaces_an_existing_bundle_and_leaves_no_scratch() {
        tch::manual_seed(11);
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("b");
        let first = tiny_meta("first");
        save(&dir, &trained(&first).0, &first).unwrap();
        let second = BundleMeta { name: "second".to_string(), parent: Some(lineage_id(&dir).unwrap()), ..first };
        save(&dir, &trained(&second).0, &second).unwrap();

        let (_, _, meta) = load(&dir, Device::Cpu).unwrap();
        assert_eq!(meta.name, "second");
        let parent = meta.parent.unwrap();
        assert!(parent.starts_with("first@sha256:") && parent.len() == "first@sha256:".len() + 64, "{parent}");
        let entries: Vec<_> = fs_err::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(entries, ["b"], "scratch directories left behind");
    }

    #[test]
    fn save_refuses_what_load_would_refuse() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("b");
        let meta = tiny_meta("m");
        let (vs, _) = trained(&meta);
        let bad = BundleMeta { norm_std: vec![1.0], ..meta.clone() };
        assert!(matches!(save(&dir, &vs, &bad), Err(BundleError::Invalid { .. })));
        let other = BundleMeta { unet: UNetConfig { widths: [4, 8, 32], ..meta.unet.clone() }, ..meta };
        assert!(matches!(save(&dir, &vs, &other), Err(BundleError::Weights { .. })));
        assert!(!dir.exists());
    }

    #[test]
    fn incompatible_sites_are_refused() {
        let meta = tiny_meta("m");
        assert!(check_compatible(&meta, &features(), 90.0).is_ok());
        assert!(check_compatible(&meta, &features(), 90.8).is_ok(), "within 1%");

        let mut swapped = features();
        swapped.swap(1, 2);
        let e = check_compatible(&meta, &swapped, 90.0).unwrap_err();
        assert!(e.to_string().contains("channel 1 is \"aspect_sin\""), "{e}");

        let mut other = features();
        other[2] = "curvature".to_string();
        let e = check_compatible(&meta, &other, 90.0).unwrap_err();
        assert!(matches!(e, BundleError::FeaturesDiffer { .. }));
        let msg = e.to_string();
        assert!(msg.contains("lacks aspect_cos") && msg.contains("does not know curvature"), "{msg}");

        let e = check_compatible(&meta, &features(), 100.0).unwrap_err();
        assert!(matches!(e, BundleError::ResolutionDiffers { site_m, .. } if site_m == 100.0), "{e}");
        assert!(check_compatible(&meta, &features(), f64::NAN).is_err());
    }

    #[test]
    fn broken_bundles_are_refused_with_the_path() {
        tch::manual_seed(12);
        let tmp = tempfile::tempdir().unwrap();

        let nowhere = tmp.path().join("nowhere");
        let e = load(&nowhere, Device::Cpu).unwrap_err();
        assert!(matches!(e, BundleError::Missing { .. }) && e.to_string().contains("nowhere"), "{e}");

        // Weights saved for other widths than bundle.json says.
        let dir = tmp.path().join("b");
        let meta = tiny_meta("m");
        save(&dir, &trained(&meta).0, &meta).unwrap();
        let json = dir.join(META_FILE);
        let wider = BundleMeta { unet: UNetConfig { widths: [8, 16, 32], ..meta.unet.clone() }, ..meta.clone() };
        fs_err::write(&json, serde_json::to_string(&wider).unwrap()).unwrap();
        let e = load(&dir, Device::Cpu).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, BundleError::Weights { .. }), "{msg}");
        assert!(
            msg.contains("model.safetensors") && msg.contains("decoder.block1.bn1.bias is [4], expected [8]"),
            "{msg}"
        );

        // Other input channels: [w, 1, 3, 3] would broadcast into [w, 3, 3, 3] with a plain copy_; it must not.
        let one = BundleMeta {
            features: vec!["slope".to_string()],
            norm_mean: vec![0.0],
            norm_std: vec![1.0],
            unet: UNetConfig { in_channels: 1, ..meta.unet.clone() },
            ..meta.clone()
        };
        let dir1 = tmp.path().join("one");
        save(&dir1, &untrained(&one).0, &one).unwrap();
        fs_err::write(dir1.join(META_FILE), serde_json::to_string(&meta).unwrap()).unwrap();
        assert!(matches!(load(&dir1, Device::Cpu), Err(BundleError::Weights { .. })));

        // Bad JSON, and JSON that parses but is inconsistent.
        fs_err::write(&json, "{ not json").unwrap();
        let e = load(&dir, Device::Cpu).unwrap_err();
        assert!(matches!(e, BundleError::Json { .. }) && e.to_string().contains("bundle.json"), "{e}");
        let bad = BundleMeta { created: "yesterday".to_string(), ..meta.clone() };
        fs_err::write(&json, serde_json::to_string(&bad).unwrap()).unwrap();
        assert!(matches!(load(&dir, Device::Cpu), Err(BundleError::Invalid { .. })));

        // Missing weights file.
        fs_err::write(&json, serde_json::to_string(&meta).unwrap()).unwrap();
        fs_err::remove_file(dir.join(WEIGHTS_FILE)).unwrap();
        let e = load(&dir, Device::Cpu).unwrap_err();
        assert!(matches!(e, BundleError::Missing { .. }) && e.to_string().contains("model.safetensors"), "{e}");
    }

    fn untrained(meta: &BundleMeta) -> (nn::VarStore, UNet) {
        let vs = nn::VarStore::new(Device::Cpu);
        let net = UNet::new(&vs.root(), &meta.unet);
        (vs, net)
    }

    #[test]
    fn hash_file_is_sha256_hex() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("abc.txt");
        fs_err::write(&path, "abc").unwrap();
        // FIPS 180-2 test vector for "abc".
        assert_eq!(hash_file(&path).unwrap(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
