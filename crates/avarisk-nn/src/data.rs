//! Dataset files: the training and validation patches of a run in one safetensors file, written by
//! `avarisk dataset export` and read by `avarisk-train` (or by PyTorch's `safetensors.torch.load_file`).
//!
//! ```text
//!  train.x       F32 [N, C, P, P]  raw channel values (not normalised; NaN where a value is missing)
//!  train.y       F32 [N, 1, P, P]  1 = release (positive), 0 = negative or unlabelled
//!  train.mask    F32 [N, 1, P, P]  1 = labelled pixel (enters the loss), 0 = unlabelled
//!  train.winter  I32 [N]           winter of each patch (year of its October)
//!  train.event   I64 [N]           event of each patch (the bootstrap unit), unique across sites
//!  val.*                           the same for the validation patches (N may be 0)
//!  norm.mean     F32 [C]           training-split channel means (finite values at labelled pixels)
//!  norm.std      F32 [C]           training-split channel standard deviations
//!  __metadata__                    format, channels (comma-separated, in order), patch, resolution_m, sites,
//!                                  held_back_from, data_hash, created_by
//! ```
//!
//! The reader checks every shape against the metadata and names the file and tensor when one does not fit.
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tch::{Device, Kind, Tensor};

/// Value of the `format` metadata key this module writes and reads.
pub const FORMAT: &str = "avarisk-dataset/1";

/// Patches of one split. Arrays are row-major: `x` is N x C x P x P, `y` and `mask` N x P x P.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Split {
    pub x: Vec<f32>,
    pub y: Vec<f32>,
    pub mask: Vec<f32>,
    pub winter: Vec<i32>,
    pub event: Vec<i64>,
}

impl Split {
    pub fn len(&self) -> usize {
        self.winter.len()
    }
    pub fn is_empty(&self) -> bool {
        self.winter.is_empty()
    }
}

/// What a dataset file says about its patches (the safetensors metadata, plus the normalisation tensors).
#[derive(Debug, Clone, PartialEq)]
pub struct Info {
    /// Channel names, in channel order.
    pub channels: Vec<String>,
    /// Patch side, pixels.
    pub patch: usize,
    /// Unlabelled context cells on each side of a patch; prediction reads the same margin around its tiles.
    pub context: usize,
    /// Per-channel mean and standard deviation of the training split (normalisation travels with the data).
    pub norm_mean: Vec<f32>,
    pub norm_std: Vec<f32>,
    /// Cell size of the sites' grids, metres.
    pub resolution_m: f64,
    pub sites: Vec<String>,
    /// Winters from this one on are in the validation split.
    pub held_back_from: i32,
    /// Hash of the training patches (as avarisk's bundles record it).
    pub data_hash: String,
    /// Program and version that wrote the file.
    pub created_by: String,
}

/// A whole dataset file.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub info: Info,
    pub train: Split,
    pub val: Split,
}

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not an avarisk dataset file: {detail} (write one with `avarisk dataset export`)")]
    Format { path: PathBuf, detail: String },
    #[error("{path}: tensor `{name}`: {detail}")]
    Tensor { path: PathBuf, name: String, detail: String },
    #[error("dataset for {path}: {detail}")]
    Inconsistent { path: PathBuf, detail: String },
}

/// One tensor to write: name, dtype, shape, little-endian bytes.
struct Entry {
    name: String,
    dtype: &'static str,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

fn f32_entry(name: &str, shape: Vec<usize>, v: &[f32]) -> Entry {
    Entry { name: name.into(), dtype: "F32", shape, bytes: v.iter().flat_map(|f| f.to_le_bytes()).collect() }
}

impl Dataset {
    /// Every inconsistency between the arrays and the metadata (empty when the dataset can be written and used).
    pub fn problems(&self) -> Vec<String> {
        let i = &self.info;
        let (c, pp) = (i.channels.len(), i.patch * i.patch);
        let mut out = Vec::new();
        if c == 0 {
            out.push("no channel".to_string());
        }
        if i.patch == 0 || i.patch % 4 != 0 {
            out.push(format!("patch must be a positive multiple of 4 (found {})", i.patch));
        }
        if i.norm_mean.len() != c || i.norm_std.len() != c {
            out.push(format!("{} means and {} deviations for {c} channels", i.norm_mean.len(), i.norm_std.len()));
        }
        if i.channels.iter().any(|n| n.is_empty() || n.contains(',')) {
            out.push(format!("channel names must be non-empty and without commas: {:?}", i.channels));
        }
        for (name, s) in [("train", &self.train), ("val", &self.val)] {
            let n = s.len();
            for (what, len, want) in
                [("x", s.x.len(), n * c * pp), ("y", s.y.len(), n * pp), ("mask", s.mask.len(), n * pp)]
            {
                if len != want {
                    out.push(format!("{name}.{what} has {len} values, {n} patches need {want}"));
                }
            }
            if s.event.len() != n {
                out.push(format!("{name}.event has {} values for {n} patches", s.event.len()));
            }
        }
        out
    }

    /// Writes the dataset to `path` (safetensors), atomically: a temporary file in the same directory, renamed.
    pub fn write(&self, path: &Path) -> Result<(), DataError> {
        let problems = self.problems();
        if !problems.is_empty() {
            return Err(DataError::Inconsistent { path: path.into(), detail: problems.join("; ") });
        }
        let (c, p) = (self.info.channels.len(), self.info.patch);
        let mut entries = Vec::new();
        for (prefix, s) in [("train", &self.train), ("val", &self.val)] {
            let n = s.len();
            entries.push(f32_entry(&format!("{prefix}.x"), vec![n, c, p, p], &s.x));
            entries.push(f32_entry(&format!("{prefix}.y"), vec![n, 1, p, p], &s.y));
            entries.push(f32_entry(&format!("{prefix}.mask"), vec![n, 1, p, p], &s.mask));
            entries.push(Entry {
                name: format!("{prefix}.winter"),
                dtype: "I32",
                shape: vec![n],
                bytes: s.winter.iter().flat_map(|v| v.to_le_bytes()).collect(),
            });
            entries.push(Entry {
                name: format!("{prefix}.event"),
                dtype: "I64",
                shape: vec![n],
                bytes: s.event.iter().flat_map(|v| v.to_le_bytes()).collect(),
            });
        }
        entries.push(f32_entry("norm.mean", vec![c], &self.info.norm_mean));
        entries.push(f32_entry("norm.std", vec![c], &self.info.norm_std));

        let i = &self.info;
        let mut header = serde_json::Map::new();
        header.insert(
            "__metadata__".into(),
            json!({
                "format": FORMAT,
                "channels": i.channels.join(","),
                "patch": i.patch.to_string(),
                "context": i.context.to_string(),
                "resolution_m": i.resolution_m.to_string(),
                "sites": i.sites.join(","),
                "held_back_from": i.held_back_from.to_string(),
                "data_hash": i.data_hash,
                "created_by": i.created_by,
            }),
        );
        let mut offset = 0;
        for e in &entries {
            let end = offset + e.bytes.len();
            header.insert(e.name.clone(), json!({ "dtype": e.dtype, "shape": e.shape, "data_offsets": [offset, end] }));
            offset = end;
        }
        let mut head = serde_json::to_vec(&Value::Object(header)).expect("a JSON map serialises");
        // The data starts 8-byte aligned: pad the header with spaces, as the safetensors writers do.
        head.resize(head.len().div_ceil(8) * 8, b' ');

        let io = |source| DataError::Io { path: path.into(), source };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut builder = tempfile::Builder::new();
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644)); // not the temp file's 0600
        let mut tmp = builder.prefix(".dataset.").suffix(".tmp").tempfile_in(dir).map_err(io)?;
        {
            let mut w = std::io::BufWriter::new(tmp.as_file_mut());
            w.write_all(&(head.len() as u64).to_le_bytes()).map_err(io)?;
            w.write_all(&head).map_err(io)?;
            for e in &entries {
                w.write_all(&e.bytes).map_err(io)?;
            }
            w.flush().map_err(io)?;
        }
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(path).map_err(|e| io(e.error))?;
        Ok(())
    }

    /// The split's tensors on `device`: x normalised with the training statistics (NaN set to 0, the mean), y, mask.
    pub fn tensors(&self, split: &Split, device: Device) -> Result<(Tensor, Tensor, Tensor), tch::TchError> {
        let (n, p, c) = (split.len() as i64, self.info.patch as i64, self.info.channels.len() as i64);
        let x = Tensor::f_from_slice(&split.x)?.f_view([n, c, p, p])?;
        let m = Tensor::f_from_slice(&self.info.norm_mean)?.f_view([1, c, 1, 1])?;
        let s = Tensor::f_from_slice(&self.info.norm_std)?.f_view([1, c, 1, 1])?;
        let x = ((x - m) / s).f_nan_to_num(0.0, 0.0, 0.0)?.to_kind(Kind::Float).to_device(device);
        let y = Tensor::f_from_slice(&split.y)?.f_view([n, 1, p, p])?.to_device(device);
        let mask = Tensor::f_from_slice(&split.mask)?.f_view([n, 1, p, p])?.to_device(device);
        Ok((x, y, mask))
    }
}

/// Reads a dataset file written by [`Dataset::write`], checking every tensor's dtype and shape.
pub fn read(path: &Path) -> Result<Dataset, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Io { path: path.into(), source })?;
    let format = |detail: String| DataError::Format { path: path.into(), detail };
    if bytes.len() < 8 {
        return Err(format(format!("{} bytes, shorter than a safetensors header", bytes.len())));
    }
    let head_len = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let data_start = 8usize.checked_add(head_len).filter(|e| *e <= bytes.len());
    let data_start = data_start.ok_or_else(|| format(format!("header length {head_len} past the end of the file")))?;
    let header: BTreeMap<String, Value> =
        serde_json::from_slice(&bytes[8..data_start]).map_err(|e| format(format!("header is not JSON: {e}")))?;
    let data = &bytes[data_start..];
    let meta = header.get("__metadata__").and_then(Value::as_object).ok_or_else(|| format("no metadata".into()))?;
    let key = |k: &str| meta.get(k).and_then(Value::as_str).ok_or_else(|| format(format!("metadata `{k}` missing")));
    if key("format")? != FORMAT {
        return Err(format(format!("format {:?}, this build reads {FORMAT:?}", key("format")?)));
    }
    let number = |k: &str| -> Result<f64, DataError> {
        key(k)?.parse().map_err(|e| format(format!("metadata `{k}` is not a number: {e}")))
    };
    let list = |k: &str| -> Result<Vec<String>, DataError> {
        Ok(key(k)?.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect())
    };

    // (dtype, shape, bytes) of a named tensor, its shape checked against `want` (None = any length).
    let raw = |name: &str, dtype: &str, want: &[Option<usize>]| -> Result<(Vec<usize>, &[u8]), DataError> {
        let err = |detail: String| DataError::Tensor { path: path.into(), name: name.into(), detail };
        let t = header.get(name).ok_or_else(|| err("missing".into()))?;
        let found = t["dtype"].as_str().unwrap_or("?");
        if found != dtype {
            return Err(err(format!("dtype {found}, expected {dtype}")));
        }
        let shape: Vec<usize> = serde_json::from_value(t["shape"].clone()).map_err(|e| err(format!("shape: {e}")))?;
        let fits = shape.len() == want.len() && shape.iter().zip(want).all(|(s, w)| w.is_none_or(|w| w == *s));
        if !fits {
            return Err(err(format!("shape {shape:?}, expected {want:?} (None = any)")));
        }
        let [a, b]: [usize; 2] =
            serde_json::from_value(t["data_offsets"].clone()).map_err(|e| err(format!("data_offsets: {e}")))?;
        let size = if dtype == "I64" { 8 } else { 4 };
        if b < a || b > data.len() || b - a != shape.iter().product::<usize>() * size {
            return Err(err(format!(
                "data_offsets [{a}, {b}] do not fit shape {shape:?} in {} data bytes",
                data.len()
            )));
        }
        Ok((shape, &data[a..b]))
    };
    let f32s = |b: &[u8]| b.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect::<Vec<_>>();

    let channels = list("channels")?;
    let patch = number("patch")? as usize;
    // Files written before windows had a context margin have none.
    let context = number("context").map(|v| v as usize).unwrap_or(0);
    let c = channels.len();
    let split = |prefix: &str| -> Result<Split, DataError> {
        let (shape, x) = raw(&format!("{prefix}.x"), "F32", &[None, Some(c), Some(patch), Some(patch)])?;
        let n = Some(shape[0]);
        let plane = [n, Some(1), Some(patch), Some(patch)];
        let (_, y) = raw(&format!("{prefix}.y"), "F32", &plane)?;
        let (_, mask) = raw(&format!("{prefix}.mask"), "F32", &plane)?;
        let (_, winter) = raw(&format!("{prefix}.winter"), "I32", &[n])?;
        let (_, event) = raw(&format!("{prefix}.event"), "I64", &[n])?;
        Ok(Split {
            x: f32s(x),
            y: f32s(y),
            mask: f32s(mask),
            winter: winter.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap())).collect(),
            event: event.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect(),
        })
    };
    let info = Info {
        norm_mean: f32s(raw("norm.mean", "F32", &[Some(c)])?.1),
        norm_std: f32s(raw("norm.std", "F32", &[Some(c)])?.1),
        channels,
        patch,
        context,
        resolution_m: number("resolution_m")?,
        sites: list("sites")?,
        held_back_from: number("held_back_from")? as i32,
        data_hash: key("data_hash")?.to_string(),
        created_by: key("created_by")?.to_string(),
    };
    Ok(Dataset { info, train: split("train")?, val: split("val")? })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small random dataset: `n_train` + `n_val` patches of `c` channels, 8 x 8, a few labelled pixels each, whose
    /// label depends on channel 0 (so a network can learn it).
    pub fn synthetic(n_train: usize, n_val: usize, c: usize) -> Dataset {
        let p = 8;
        let mut state = 12345u64;
        let mut rnd = move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 33) as f32) / (1u64 << 31) as f32
        };
        let mut split = |n: usize, winter: i32| {
            let mut s = Split::default();
            for i in 0..n {
                let x: Vec<f32> = (0..c * p * p).map(|_| rnd() * 2.0 - 1.0).collect();
                let mut y = vec![0f32; p * p];
                let mut mask = vec![0f32; p * p];
                for k in [3, 17, 30, 41, 55] {
                    mask[k] = 1.0;
                    y[k] = f32::from(x[k] > 0.0);
                }
                s.x.extend(x);
                s.y.extend(y);
                s.mask.extend(mask);
                s.winter.push(winter);
                s.event.push(i as i64);
            }
            s
        };
        let (train, val) = (split(n_train, 2015), split(n_val, 2019));
        Dataset {
            info: Info {
                channels: (0..c).map(|i| format!("ch{i}")).collect(),
                patch: p,
                context: 0,
                norm_mean: vec![0.0; c],
                norm_std: vec![0.58; c],
                resolution_m: 90.0,
                sites: vec!["a".into(), "b".into()],
                held_back_from: 2018,
                data_hash: "abc".into(),
                created_by: "test".into(),
            },
            train,
            val,
        }
    }

    #[test]
    fn round_trips_and_tch_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.safetensors");
        let mut d = synthetic(5, 0, 3);
        d.train.x[7] = f32::NAN;
        d.write(&path).unwrap();
        let back = read(&path).unwrap();
        assert_eq!(back.info, d.info);
        assert_eq!((back.train.y, back.train.winter, back.val.len()), (d.train.y.clone(), d.train.winter.clone(), 0));
        assert!(back.train.x[7].is_nan() && back.train.x[8] == d.train.x[8]);
        // Any safetensors reader sees the same tensors (libtorch's, here).
        let named: BTreeMap<String, Tensor> = Tensor::read_safetensors(&path).unwrap().into_iter().collect();
        assert_eq!(named["train.x"].size(), [5, 3, 8, 8]);
        assert_eq!(named["train.event"].kind(), Kind::Int64);
        assert_eq!(named["val.mask"].size(), [0, 1, 8, 8]);
    }

    #[test]
    fn bad_files_name_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.safetensors");
        let mut d = synthetic(2, 1, 2);
        d.train.mask.pop();
        let e = d.write(&path).unwrap_err().to_string();
        assert!(e.contains("train.mask has 127 values") && !path.exists(), "{e}");

        // A safetensors file that is not a dataset (weights, say) names the missing metadata.
        Tensor::write_safetensors(&[("w", &Tensor::zeros([2], (Kind::Float, Device::Cpu)))], &path).unwrap();
        let e = read(&path).unwrap_err().to_string();
        assert!(e.contains("not an avarisk dataset file") && e.contains("d.safetensors"), "{e}");

        synthetic(2, 1, 2).write(&path).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.windows(5).position(|w| w == b"\"F32\"").unwrap();
        bytes[at + 1..at + 4].copy_from_slice(b"F16");
        std::fs::write(&path, &bytes).unwrap();
        let e = read(&path).unwrap_err().to_string();
        assert!(e.contains("dtype F16, expected F32"), "{e}");
        std::fs::write(&path, b"short").unwrap();
        assert!(read(&path).unwrap_err().to_string().contains("shorter than a safetensors header"));
    }
}
