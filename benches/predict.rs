//! Benchmark P2: tiled inference over large grids, avarisk against a PyTorch-Python script
//! (`benches/predict_pytorch.py`) that loads the same safetensors weights and does the same tiling and blending over
//! the same input rasters, in the same run.
//!
//! For each grid size (1024, 2048 and 4096 px square; 8192 too with `AVARISK_BENCH_LARGE=1`; or the sizes listed in
//! `AVARISK_BENCH_PREDICT_SIZES`, e.g. `512,1024`) the bench builds once, cached under target/bench-data/predict:
//!   - a DEM at 25 m in EPSG:2056, warped (bilinear) from the bundled Swiss SRTM tiles, centred on the Bernese Oberland
//!     (real terrain; 8192 px cover 205 km, nearly all of the tiles' Swiss extent),
//!   - its terrain stack (`avarisk::features::terrain::derive`, every feature),
//!   - the same DEM and stack bands as raw float32 files (row-major, NaN for nodata) for the PyTorch side, which has
//!     no GDAL in the torch venv,
//!
//! and a bundle of seeded random weights (throughput does not depend on what the network learnt). Then, each in its
//! own process so that peak RSS (wait4's rusage) belongs to one side only:
//!   - avarisk: `avarisk::predict::predict` (tile 256, overlap 64, batch 4, CPU, libtorch's default threads), reading
//!     GeoTIFF windows and writing a ZSTD GeoTIFF, exactly as `avarisk predict` does;
//!   - PyTorch: the same windows, channels (TPI per window from a widened DEM window), normalisation, ramp weights,
//!     blending strip, batch and validity mask, with as many torch threads
//!     as libtorch gives avarisk; it reads the raw files with pread and writes raw float32 rows, which is cheaper than
//!     GeoTIFF decoding and encoding (said in the output).
//!
//! px/s is grid cells over each side's own inference time (from loading the weights to the last row written, process
//! start-up and `import torch` excluded; process wall times are printed too). The two maps are compared cell by cell.
//! Prints the table (ratio target >= 1.0; peak RSS target: flat with size). Run with `make bench-predict`.
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use avarisk::dataset::channels::STACK_BANDS;
use avarisk::dataset::CHANNELS;
use avarisk::features::terrain::{derive, TerrainParams};
use avarisk::geo::raster;
use avarisk::model::bundle::{self, BundleMeta, Versions};
use avarisk::model::{UNet, UNetConfig};
use avarisk::predict::{predict, Inputs, PredictParams};
use gdal::Metadata;
use tch::{nn, Device};

/// Cell size of the benchmark grids (m): finer than SRTM's 90 m, so every size is real terrain.
const RES_M: f64 = 25.0;
/// Centre of the grids in EPSG:2056 (the middle of the Swiss SRTM tiles' extent).
const CENTRE: (f64, f64) = (2_680_500.0, 1_190_500.0);
const PARAMS: PredictParams = PredictParams { tile: 256, overlap: 64, batch: 4, mc_passes: 0 };

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--baseline-child") {
        return; // the process alone: what loading the binary (GDAL, libtorch) costs in RSS
    }
    if let Some(i) = args.iter().position(|a| a == "--avarisk-child") {
        avarisk_child(&args[i + 1..]);
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target/bench-data/predict");
    std::fs::create_dir_all(&dir).unwrap();
    avarisk::geo::init();
    let sizes = sizes();
    let threads = tch::get_num_threads();
    println!(
        "P2 inference benchmark: grids of {} px at {RES_M} m from the Swiss SRTM tiles; U-Net with {} input channels \
         and seeded random weights; tile {}, overlap {}, batch {}, CPU, {threads} threads each side",
        sizes.iter().map(|n| format!("{n}^2")).collect::<Vec<_>>().join(", "),
        CHANNELS.len(),
        PARAMS.tile,
        PARAMS.overlap,
        PARAMS.batch,
    );
    println!("  machine load before: {}", load_average());
    let bundle_dir = dir.join("bundle");
    make_bundle(&bundle_dir);

    let me = std::env::current_exe().unwrap();
    let script = root.join("benches/predict_pytorch.py");
    let (_, base_rss, _) = run_child(Command::new(&me).arg("--baseline-child"));
    let (_, torch_base_rss, _) = run_child(Command::new("python3").arg(&script).arg("--baseline"));

    let mut rows = Vec::new();
    for &n in &sizes {
        let data = prepare(&root, &dir, n);
        let ours_out = dir.join(format!("out_avarisk_{n}.tif"));
        let (ours_wall, ours_rss, ours_text) = run_child(
            Command::new(&me)
                .arg("--avarisk-child")
                .args([&data.dem, &data.terrain, &bundle_dir, &ours_out])
                .env("RUST_LOG", "warn"),
        );
        let ours_s = field(&ours_text, "seconds");
        let theirs_out = dir.join(format!("out_pytorch_{n}.f32"));
        let (theirs_wall, theirs_rss, theirs_text) = run_child(
            Command::new("python3")
                .arg(&script)
                .arg(&data.manifest)
                .arg(&bundle_dir)
                .arg(&theirs_out)
                .args([PARAMS.tile, PARAMS.overlap, PARAMS.batch, threads as usize].map(|v| v.to_string())),
        );
        let theirs_s = field(&theirs_text, "seconds");
        let cmp = compare(&ours_out, &theirs_out, n);
        let _ = std::fs::remove_file(&ours_out);
        let _ = std::fs::remove_file(&theirs_out);
        let px = (n * n) as f64;
        println!(
            "  {n:>5}^2: avarisk {ours_s:.2} s ({ours_wall:.2} s process, {} windows, {} torch threads), PyTorch \
             {theirs_s:.2} s ({theirs_wall:.2} s process, {} windows, {} torch threads); {} valid cells, {} where \
             only one side has a value; {:.0} vs {:.0} px/s, peak RSS {:.0} vs {:.0} MiB (load {})",
            field(&ours_text, "windows"),
            field(&ours_text, "threads"),
            field(&theirs_text, "windows"),
            field(&theirs_text, "threads"),
            cmp.both,
            cmp.one_sided,
            px / ours_s,
            px / theirs_s,
            mib(ours_rss),
            mib(theirs_rss),
            load_average()
        );
        rows.push(Row {
            n,
            ours: px / ours_s,
            theirs: px / theirs_s,
            ours_rss,
            theirs_rss,
            diff: cmp.max_abs,
            one_sided: cmp.one_sided,
        });
    }

    println!("  machine load after: {}", load_average());
    println!();
    println!("   size   Mpx   avarisk px/s   PyTorch px/s   ratio   peak RSS avarisk / PyTorch (MiB)   max |diff|");
    for r in &rows {
        let ratio = r.ours / r.theirs;
        println!(
            "  {:>5}  {:>4.1}  {:>13.0}  {:>13.0}  {:>6.3}   {:>15.0} / {:<15.0}   {:.2e}",
            r.n,
            (r.n * r.n) as f64 / 1e6,
            r.ours,
            r.theirs,
            ratio,
            mib(r.ours_rss),
            mib(r.theirs_rss),
            r.diff
        );
    }
    println!(
        "  baseline RSS: the avarisk bench binary alone (GDAL, libtorch) {:.0} MiB; python3 + import torch {:.0} MiB",
        mib(base_rss),
        mib(torch_base_rss)
    );
    println!(
        "  note: the PyTorch side reads raw float32 rasters with pread and writes raw float32 rows; avarisk reads \
         GeoTIFF (ZSTD) windows and writes a ZSTD GeoTIFF, so the PyTorch side's I/O is the cheaper one"
    );
    let (first, last) = (rows.first().unwrap(), rows.last().unwrap());
    let worst = rows.iter().map(|r| r.ours / r.theirs).fold(f64::INFINITY, f64::min);
    println!(
        "  ratio avarisk/PyTorch: lowest {worst:.3} (target >= 1.0: {})",
        if worst >= 1.0 { "met" } else { "NOT met" }
    );
    println!(
        "  peak RSS from {}^2 to {}^2 ({:.0}x the cells): avarisk {:+.0} MiB, PyTorch {:+.0} MiB (target: flat)",
        first.n,
        last.n,
        (last.n * last.n) as f64 / (first.n * first.n) as f64,
        mib(last.ours_rss) - mib(first.ours_rss),
        mib(last.theirs_rss) - mib(first.theirs_rss)
    );
    let max_diff = rows.iter().map(|r| r.diff).fold(0.0, f32::max);
    let one_sided: usize = rows.iter().map(|r| r.one_sided).sum();
    println!(
        "  the two maps agree: max |difference| {max_diff:.2e} over valid cells, {one_sided} cells valid on one side \
         only ({})",
        if max_diff < 1e-3 && one_sided == 0 { "ok" } else { "NOT ok" }
    );
}

struct Row {
    n: usize,
    ours: f64,
    theirs: f64,
    ours_rss: u64,
    theirs_rss: u64,
    diff: f32,
    one_sided: usize,
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The grid sides to run.
fn sizes() -> Vec<usize> {
    if let Ok(list) = std::env::var("AVARISK_BENCH_PREDICT_SIZES") {
        let parsed: Result<Vec<usize>, _> = list.split(',').map(|s| s.trim().parse::<usize>()).collect();
        match parsed {
            Ok(v) if !v.is_empty() && v.iter().all(|n| (256..=8192).contains(n)) => return v,
            _ => panic!("AVARISK_BENCH_PREDICT_SIZES={list}: give grid sides between 256 and 8192, e.g. 1024,2048"),
        }
    }
    let mut v = vec![1024, 2048, 4096];
    if std::env::var("AVARISK_BENCH_LARGE").is_ok_and(|v| v == "1") {
        v.push(8192);
    }
    v
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The avarisk side: `DEM TERRAIN BUNDLE OUT`; prints `threads T windows W seconds S`.
fn avarisk_child(args: &[String]) {
    avarisk::geo::init();
    let inputs = Inputs { dem: PathBuf::from(&args[0]), terrain: PathBuf::from(&args[1]), weather: None };
    let date = chrono::NaiveDate::from_ymd_opt(2021, 2, 15).unwrap();
    let p = predict(&inputs, Path::new(&args[2]), date, &PARAMS, Path::new(&args[3]), Device::Cpu).expect("predict");
    eprintln!("    avarisk: {p}");
    println!("threads {} windows {} seconds {}", tch::get_num_threads(), p.windows, p.seconds);
}

/// The value after `key` in a child's `key value ...` output line.
fn field(text: &str, key: &str) -> f64 {
    let words: Vec<&str> = text.split_whitespace().collect();
    let i = words.iter().position(|w| *w == key).unwrap_or_else(|| panic!("no `{key}` in the child's output: {text}"));
    words[i + 1].parse().unwrap_or_else(|_| panic!("`{key}` is not a number in the child's output: {text}"))
}

/// A bundle of seeded random weights for all [`CHANNELS`] at [`RES_M`], with rough per-channel scales so the
/// network sees inputs of order one.
fn make_bundle(dir: &Path) {
    tch::manual_seed(11);
    let vs = nn::VarStore::new(Device::Cpu);
    let cfg = UNetConfig::with_channels(CHANNELS.len() as i64);
    let _unet = UNet::new(&vs.root(), &cfg);
    let (norm_mean, norm_std): (Vec<f32>, Vec<f32>) = CHANNELS
        .iter()
        .map(|c| match *c {
            "elevation" => (1500.0, 700.0),
            "slope" => (25.0, 15.0),
            "tpi_1km" | "tpi_4km" => (0.0, 100.0),
            "t_mean_c" => (-5.0, 5.0),
            "snow_depth_cm" => (80.0, 60.0),
            "wind_speed_ms" => (4.0, 3.0),
            _ => (0.0, 1.0),
        })
        .unzip();
    let meta = BundleMeta {
        name: "bench-random".into(),
        created: "2021-02-15T00:00:00+00:00".into(),
        features: CHANNELS.iter().map(|c| c.to_string()).collect(),
        norm_mean,
        norm_std,
        resolution_m: RES_M,
        patch: 32,
        context: 0,
        unet: cfg,
        metrics: serde_json::Value::Null,
        parent: None,
        data_hash: "bench".into(),
        versions: Versions::current(),
    };
    bundle::save(dir, &vs, &meta).expect("save the benchmark bundle");
}

/// The inputs of one grid size.
struct Data {
    dem: PathBuf,
    terrain: PathBuf,
    manifest: PathBuf,
}

/// Builds (once) the DEM, terrain stack and raw exports of an `n` x `n` grid.
fn prepare(root: &Path, dir: &Path, n: usize) -> Data {
    let dem = dir.join(format!("dem_{n}.tif"));
    let terrain = dir.join(format!("terrain_{n}.tif"));
    let manifest = dir.join(format!("raw_{n}.json"));
    if !dem.exists() {
        build_dem(root, &dem, n);
    }
    if !terrain.exists() {
        let t = Instant::now();
        derive(&dem, &terrain, &TerrainParams::default()).expect("terrain stack of the benchmark DEM");
        println!(
            "  derived the terrain stack of the {n}^2 grid in {:.1} s (once, not timed)",
            t.elapsed().as_secs_f64()
        );
    }
    if !manifest.exists() {
        export_raw(&dem, &terrain, dir, n, &manifest);
    }
    Data { dem, terrain, manifest }
}

fn build_dem(root: &Path, dem: &Path, n: usize) {
    let tiles = ["N45E007", "N46E006", "N46E007", "N46E008", "N46E009", "N46E010", "N47E007", "N47E008", "N47E009"];
    let srcs: Vec<String> = tiles
        .iter()
        .map(|t| format!("/vsizip/{}/sites/_shared/srtm3/{t}.SRTMGL3.hgt.zip/{t}.hgt", root.display()))
        .collect();
    let half = n as f64 * RES_M / 2.0;
    let te = [CENTRE.0 - half, CENTRE.1 - half, CENTRE.0 + half, CENTRE.1 + half].map(|v| format!("{v:.0}"));
    println!("  building the {n}^2 benchmark DEM from {} SRTM tiles (once)...", srcs.len());
    let res = format!("{RES_M}");
    let status = Command::new("gdalwarp")
        .args(["-q", "-t_srs", "EPSG:2056", "-te"])
        .args(&te)
        .args(["-tr", &res, &res, "-r", "bilinear", "-ot", "Float32", "-dstnodata", "-9999"])
        .args(["-multi", "-wo", "NUM_THREADS=ALL_CPUS"])
        .args(["-co", "TILED=YES", "-co", "COMPRESS=ZSTD", "-co", "PREDICTOR=3", "-co", "BIGTIFF=IF_SAFER"])
        .args(&srcs)
        .arg(dem)
        .status()
        .expect("gdalwarp (gdal-bin)");
    assert!(status.success(), "gdalwarp failed building {}", dem.display());
}

/// Writes the DEM and the stack bands the network reads as raw float32 files (NaN for nodata) and a JSON manifest
/// naming them, for the PyTorch side.
fn export_raw(dem: &Path, terrain: &Path, dir: &Path, n: usize, manifest: &Path) {
    let mut bands = serde_json::Map::new();
    let dem_raw = dir.join(format!("raw_{n}_elevation.f32"));
    export_band(dem, 1, &dem_raw, n);
    let stack = raster::open(&terrain.display().to_string()).unwrap();
    let names: Vec<String> = (1..=stack.raster_count())
        .map(|i| stack.rasterband(i).and_then(|b| b.description()).unwrap_or_default())
        .collect();
    for name in STACK_BANDS {
        let band = names.iter().position(|b| b == name).expect("stack band") + 1;
        let raw = dir.join(format!("raw_{n}_{name}.f32"));
        export_band(terrain, band, &raw, n);
        bands.insert(name.into(), raw.display().to_string().into());
    }
    let json = serde_json::json!({
        "width": n, "height": n, "resolution_m": RES_M,
        "dem": dem_raw.display().to_string(), "bands": bands,
    });
    let tmp = manifest.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
    std::fs::rename(&tmp, manifest).unwrap();
}

fn export_band(src: &Path, band: usize, dest: &Path, n: usize) {
    let ds = raster::open(&src.display().to_string()).unwrap();
    assert_eq!(ds.raster_size(), (n, n), "{}", src.display());
    let mut out = BufWriter::new(File::create(dest).unwrap());
    let strip = 256;
    let mut buf = vec![0f32; strip * n];
    for row0 in (0..n).step_by(strip) {
        let rows = strip.min(n - row0);
        raster::read_rows(&ds, band, row0, rows, &mut buf[..rows * n]).unwrap();
        for v in &buf[..rows * n] {
            out.write_all(&v.to_le_bytes()).unwrap();
        }
    }
    out.flush().unwrap();
}

struct Comparison {
    both: usize,
    one_sided: usize,
    max_abs: f32,
}

/// Compares avarisk's GeoTIFF with the PyTorch side's raw float32 map (NaN for nodata), strip by strip.
fn compare(ours: &Path, theirs: &Path, n: usize) -> Comparison {
    let ds = raster::open(&ours.display().to_string()).unwrap();
    let mut f = File::open(theirs).unwrap();
    let strip = 256;
    let (mut a, mut bytes) = (vec![0f32; strip * n], vec![0u8; strip * n * 4]);
    let mut c = Comparison { both: 0, one_sided: 0, max_abs: 0.0 };
    for row0 in (0..n).step_by(strip) {
        let rows = strip.min(n - row0);
        raster::read_rows(&ds, 1, row0, rows, &mut a[..rows * n]).unwrap();
        f.read_exact(&mut bytes[..rows * n * 4]).unwrap();
        for (x, b) in a[..rows * n].iter().zip(bytes.chunks_exact(4)) {
            let y = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            match (x.is_nan(), y.is_nan()) {
                (false, false) => {
                    c.both += 1;
                    c.max_abs = c.max_abs.max((x - y).abs());
                }
                (true, true) => {}
                _ => c.one_sided += 1,
            }
        }
    }
    c
}

/// Runs `cmd` with its stdout captured: wall seconds, the child's peak RSS in KiB, and its stdout.
#[allow(clippy::zombie_processes)] // the child is reaped by wait4 in wait_rusage
fn run_child(cmd: &mut Command) -> (f64, u64, String) {
    let t = Instant::now();
    let mut child = cmd.stdout(Stdio::piped()).spawn().expect("spawn");
    let mut stdout = child.stdout.take().unwrap();
    let mut text = String::new();
    // The children print one short line: reading to the end before wait4 cannot block on a full pipe.
    stdout.read_to_string(&mut text).unwrap();
    let (status, rss) = wait_rusage(child.id() as i32);
    let s = t.elapsed().as_secs_f64();
    assert!(status == 0, "{cmd:?} failed with status {status}: {text}");
    (s, rss, text)
}

/// wait4(2) for `pid`: (exit status, ru_maxrss in KiB).
fn wait_rusage(pid: i32) -> (i32, u64) {
    let mut status = 0;
    // SAFETY: rusage is plain old data; wait4 is given valid out-pointers.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    assert_eq!(r, pid, "wait4");
    (libc::WEXITSTATUS(status), ru.ru_maxrss as u64)
}
