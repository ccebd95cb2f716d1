//! Benchmark P1: avarisk's terrain features against gdaldem on a large real DEM, in the same run.
//!
//! Builds (once, cached under target/bench-data) a DEM from the bundled Swiss SRTM tiles warped to 30 m in EPSG:2056
//! (about 10,700 x 7,700 px), then times
//!   - avarisk: slope + aspect + TRI + roughness in one streamed pass (one multi-band tiled ZSTD GeoTIFF), and
//!   - gdaldem slope, aspect, TRI and roughness (four runs, default GeoTIFF output),
//!
//! each as a separate process so peak RSS (from wait4's rusage) belongs to one side only. Prints wall times, the
//! ratio (target <= 0.5) and peak RSS (target < 1 GiB). Run with `make bench-terrain`.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use avarisk::features::terrain::{derive, Feature, TerrainParams};

fn main() {
    // `cargo bench` passes --bench; a child invocation runs only the avarisk side.
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--baseline-child") {
        return; // the process alone: what loading the binary (GDAL, libtorch with CUDA) costs in RSS
    }
    if let Some(i) = args.iter().position(|a| a == "--avarisk-child") {
        avarisk::geo::init();
        let (dem, out) = (PathBuf::from(&args[i + 1]), PathBuf::from(&args[i + 2]));
        let params = TerrainParams {
            features: vec![Feature::Slope, Feature::Aspect, Feature::Tri, Feature::Roughness],
            ..Default::default()
        };
        derive(&dem, &out, &params).expect("terrain derive");
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target/bench-data");
    std::fs::create_dir_all(&dir).unwrap();
    let dem = dir.join("swiss_30m_2056.tif");
    if !dem.exists() {
        build_dem(&root, &dem);
    }
    let (w, h) = gdal::Dataset::open(&dem).unwrap().raster_size();
    println!("P1 terrain benchmark: DEM {} ({w} x {h} = {:.1} Mpx)", dem.display(), (w * h) as f64 / 1e6);

    let me = std::env::current_exe().unwrap();
    let (_, base_rss) = timed(Command::new(&me).arg("--baseline-child"));
    let ours_out = dir.join("avarisk_features.tif");
    let (ours_s, ours_rss) = timed(Command::new(&me).arg("--avarisk-child").arg(&dem).arg(&ours_out));

    let mut gdal_s = 0.0;
    let mut gdal_rss = 0u64;
    for (op, extra) in [
        ("slope", vec!["-alg", "Horn"]),
        ("aspect", vec!["-alg", "Horn"]),
        ("TRI", vec!["-alg", "Riley"]),
        ("roughness", vec![]),
    ] {
        let out = dir.join(format!("gdaldem_{op}.tif"));
        let mut cmd = Command::new("gdaldem");
        cmd.arg(op).arg(&dem).arg(&out).args(&extra).arg("-q");
        let (s, rss) = timed(&mut cmd);
        println!("  gdaldem {op:<10} {s:>7.2} s  peak RSS {:>6.0} MiB", rss as f64 / 1024.0);
        gdal_s += s;
        gdal_rss = gdal_rss.max(rss);
    }
    println!("  avarisk (4 features) {ours_s:>7.2} s  peak RSS {:>6.0} MiB", ours_rss as f64 / 1024.0);
    println!("    of which loading the binary (GDAL, libtorch with CUDA) {:>4.0} MiB", base_rss as f64 / 1024.0);
    println!(
        "  gdaldem (sum of 4)   {gdal_s:>7.2} s  peak RSS {:>6.0} MiB (largest of the 4)",
        gdal_rss as f64 / 1024.0
    );
    let ratio = ours_s / gdal_s;
    println!(
        "  ratio avarisk/gdaldem = {ratio:.3} (target <= 0.5: {}); avarisk peak RSS {} 1 GiB",
        if ratio <= 0.5 { "met" } else { "NOT met" },
        if ours_rss < 1024 * 1024 { "<" } else { ">=" }
    );
}

/// Runs `cmd`, returning wall seconds and the child's peak RSS in KiB.
#[allow(clippy::zombie_processes)] // the child is reaped by wait4 in wait_rusage
fn timed(cmd: &mut Command) -> (f64, u64) {
    let t = Instant::now();
    let child = cmd.spawn().expect("spawn");
    let pid = child.id() as libc_pid;
    let (status, rss) = wait_rusage(pid);
    let s = t.elapsed().as_secs_f64();
    assert!(status == 0, "{cmd:?} failed with status {status}");
    (s, rss)
}

#[allow(non_camel_case_types)]
type libc_pid = i32;

/// wait4(2) for `pid`: (exit status, ru_maxrss in KiB).
fn wait_rusage(pid: libc_pid) -> (i32, u64) {
    #[repr(C)]
    struct Timeval {
        sec: i64,
        usec: i64,
    }
    #[repr(C)]
    struct Rusage {
        utime: Timeval,
        stime: Timeval,
        maxrss: i64,
        rest: [i64; 13],
    }
    extern "C" {
        fn wait4(pid: i32, status: *mut i32, options: i32, rusage: *mut Rusage) -> i32;
    }
    let mut status = 0;
    let mut ru: Rusage = unsafe { std::mem::zeroed() };
    // SAFETY: plain syscall wrapper with valid out-pointers.
    let r = unsafe { wait4(pid, &mut status, 0, &mut ru) };
    assert_eq!(r, pid, "wait4");
    ((status >> 8) & 0xff, ru.maxrss as u64)
}

fn build_dem(root: &Path, dem: &Path) {
    let tiles = ["N45E007", "N46E006", "N46E007", "N46E008", "N46E009", "N46E010", "N47E007", "N47E008", "N47E009"];
    let srcs: Vec<String> = tiles
        .iter()
        .map(|t| format!("/vsizip/{}/sites/_shared/srtm3/{t}.SRTMGL3.hgt.zip/{t}.hgt", root.display()))
        .collect();
    println!("building the benchmark DEM from {} SRTM tiles (once)...", srcs.len());
    // 2,520,000..2,841,000 x 1,075,000..1,306,000 at 30 m = 10,700 x 7,700 px.
    let status = Command::new("gdalwarp")
        .args(["-q", "-t_srs", "EPSG:2056", "-te", "2520000", "1075000", "2841000", "1306000", "-tr", "30", "30"])
        .args(["-r", "bilinear", "-ot", "Float32", "-dstnodata", "-9999", "-multi", "-wo", "NUM_THREADS=ALL_CPUS"])
        .args(["-co", "TILED=YES", "-co", "COMPRESS=ZSTD", "-co", "PREDICTOR=3", "-co", "BIGTIFF=YES"])
        .args(&srcs)
        .arg(dem)
        .status()
        .expect("gdalwarp (gdal-bin)");
    assert!(status.success());
}
