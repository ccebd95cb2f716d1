//! `avarisk validate | site add | info | serve`: the project's configuration, a new site, the machine, the server.
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::Ctx;
use crate::config::Plan;
use crate::pipeline::scaffold;

#[derive(Debug, Args)]
pub struct Validate {
    /// Also print the resolved plan (grids, sources, stage parameters).
    #[arg(long)]
    show: bool,
}

impl Validate {
    pub fn run(&self, ctx: &Ctx) -> anyhow::Result<ExitCode> {
        let plan = ctx.plan()?;
        if self.show {
            print_plan(&plan);
        }
        println!("ok: {} site(s), {} pipeline(s) valid", plan.sites.len(), plan.pipelines.len());
        Ok(ExitCode::SUCCESS)
    }
}

fn print_plan(plan: &Plan) {
    for s in &plan.sites {
        let b = s.grid.bounds();
        println!("site {} ({})", s.id, s.name);
        println!("  file       {}", s.file.display());
        println!("  grid       {} x {} cells at {} m in {}", s.grid.width, s.grid.height, s.grid.res_x(), s.grid.crs);
        println!("  bounds     {} {} {} {}", b.xmin, b.ymin, b.xmax, b.ymax);
        println!("  timezone   {}", s.timezone);
        for d in &s.dem {
            let crs = d.crs.as_ref().map(|c| format!(" (assumed {c})")).unwrap_or_default();
            println!("  dem        {}{crs}", d.path);
        }
        for o in &s.observations {
            println!("  records    {} ({:?}, {})", o.path.display(), o.format, o.crs);
        }
        for r in &s.reference {
            println!("  reference  {} ({})", r.path.display(), r.kind);
        }
    }
    for p in plan.pipelines.values() {
        println!("pipeline {}: {}", p.name, p.description);
        for s in &p.stages {
            println!("  stage {s:?}");
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum SiteCommand {
    /// Scaffold `sites/ID/site.toml` from a DEM (CRS, bounds, resolution read from it) and validate it; then
    /// `avarisk run onboard --sites ID` takes the site to its first outputs.
    Add {
        /// Site id: lower-case letters, digits, `-`.
        id: String,
        /// The DEM (any GDAL raster; `/vsizip/ARCHIVE/MEMBER` for a zipped one).
        #[arg(long)]
        dem: String,
        /// Avalanche records (CSV with date and x/y or lon/lat columns, or GeoJSON).
        #[arg(long)]
        events: Option<PathBuf>,
        /// CRS of the records' coordinates.
        #[arg(long, default_value = "EPSG:4326")]
        events_crs: String,
        /// Site CRS (projected, metres), also assumed for a DEM without one. Default: the DEM's.
        #[arg(long)]
        crs: Option<String>,
        /// Cell size in metres. Default: the DEM's.
        #[arg(long)]
        resolution: Option<f64>,
        #[arg(long)]
        name: Option<String>,
        /// IANA time zone of the site (a day of weather and risk is a local day).
        #[arg(long, default_value = "UTC")]
        timezone: String,
    },
}

impl SiteCommand {
    pub fn run(&self, ctx: &Ctx) -> anyhow::Result<ExitCode> {
        let SiteCommand::Add { id, dem, events, events_crs, crs, resolution, name, timezone } = self;
        let spec = scaffold::SiteSpec {
            id: id.clone(),
            dem: dem.clone(),
            events: events.clone(),
            events_crs: Some(events_crs.clone()),
            crs: crs.clone(),
            resolution_m: *resolution,
            name: name.clone(),
            timezone: Some(timezone.clone()),
        };
        match scaffold::add(&ctx.project, &spec) {
            Ok(s) => {
                print!("{}", s.text);
                println!(
                    "wrote {} ({} x {} cells at {} m in {}); next: avarisk run onboard --sites {id}",
                    s.file.display(),
                    s.grid.width,
                    s.grid.height,
                    s.grid.res_x(),
                    s.grid.crs
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("error: {e}");
                Ok(ExitCode::from(2))
            }
        }
    }
}

/// Prints the versions and compute devices avarisk runs with.
pub fn info() -> anyhow::Result<ExitCode> {
    println!("avarisk  {}", env!("CARGO_PKG_VERSION"));
    println!("gdal     {}", gdal::version::version_info("RELEASE_NAME"));
    let device = tch::Device::cuda_if_available();
    let cuda =
        if tch::Cuda::is_available() { format!("yes, {} device(s)", tch::Cuda::device_count()) } else { "no".into() };
    println!("libtorch device {device:?} (CUDA available: {cuda}; cuDNN: {})", tch::Cuda::cudnn_is_available());
    println!("threads  {} (rayon), {} (libtorch intra-op)", rayon::current_num_threads(), tch::get_num_threads());
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub struct Serve {
    /// Address to listen on (port 0: any free port; the URL is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: std::net::SocketAddr,
    /// Browser origin allowed to call the API (repeatable; `*` for any). Default: no CORS headers.
    #[arg(long)]
    cors_origin: Vec<String>,
    /// Seconds before a request is answered 408.
    #[arg(long, default_value_t = 30)]
    timeout_s: u64,
    /// Tiles rendered at once (default: the number of CPUs).
    #[arg(long)]
    tile_concurrency: Option<usize>,
    /// Serve the maps the pipeline uploaded to this bucket (`s3://bucket/prefix`, reached with the AWS_*
    /// environment) instead of the output root.
    #[arg(long, value_name = "S3_URL", value_parser = crate::publish::bucket::Target::parse)]
    from: Option<crate::publish::bucket::Target>,
}

impl Serve {
    pub fn run(&self, ctx: &Ctx) -> anyhow::Result<ExitCode> {
        let opts = crate::serve::Options {
            root: ctx.store.root().to_owned(),
            from: self.from.as_ref().map(crate::publish::bucket::Connection::from_env),
            addr: self.addr,
            cors_origins: self.cors_origin.clone(),
            timeout: std::time::Duration::from_secs(self.timeout_s),
            tile_concurrency: self
                .tile_concurrency
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
        };
        crate::serve::run(&opts)?;
        Ok(ExitCode::SUCCESS)
    }
}
