//! Sharding a run over the tasks of an array (Slurm, a Kubernetes Indexed Job): which sites and dates shard `I/N`
//! runs ([`ShardBy`]), its ledger and lock files, and reading the ledgers of all shards together (`avarisk status`).
use std::path::PathBuf;

use chrono::NaiveDate;

use super::ledger::{Ledger, LedgerError, Row};
use super::runner::RunOptions;
use crate::config::{Plan, Site};
use crate::store::Store;

/// How `--shard I/N` splits a run's work between the N tasks of an array (Slurm, an Indexed Job).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ShardBy {
    /// Sites by a stable hash (SHA-256) of their id: a site stays in its shard when others are added or removed, but
    /// with few sites some shards may get none. For many sites.
    Hash,
    /// Sites sorted by id and dealt in turn (the k-th to shard k mod N): every shard gets work when there are at least
    /// N sites, but adding or removing a site moves the sites after it.
    #[default]
    RoundRobin,
    /// Every site, but only the run's dates whose index k (in date order) has k mod N == I: a backfill of one site
    /// spreads over the array. Only for pipelines of dated stages (undated units would run in every shard).
    Date,
}

/// A deterministic share of a run's work: shard `index` of `count` (0-based), split as `by` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
    pub by: ShardBy,
}

impl std::str::FromStr for Shard {
    type Err = String;
    /// Parses `INDEX/COUNT`, split the default way ([`ShardBy::default`]).
    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("`{s}` is not a shard: write INDEX/COUNT with 0 <= INDEX < COUNT, e.g. 0/4");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (u32, u32) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count, by: ShardBy::default() })
    }
}

impl Shard {
    /// Whether this shard runs the site `id`, one of the run's sites `ids` (in any order, each once).
    pub fn has_site(&self, id: &str, ids: &[&str]) -> bool {
        let slot = match self.by {
            ShardBy::Hash => {
                use sha2::Digest;
                let h = sha2::Sha256::digest(id.as_bytes());
                u64::from_be_bytes(h[..8].try_into().expect("8 bytes"))
            }
            ShardBy::RoundRobin => ids.iter().filter(|other| **other < id).count() as u64,
            ShardBy::Date => return true,
        };
        slot % u64::from(self.count) == u64::from(self.index)
    }
    /// Whether this shard runs the run's `k`-th date (0-based, in the order of the run's dates).
    pub fn has_date(&self, k: usize) -> bool {
        self.by != ShardBy::Date || k as u64 % u64::from(self.count) == u64::from(self.index)
    }
    /// Suffix of this shard's ledger and lock files. The split is not part of it: ledger rows are per unit, so
    /// shards of another split sharing a file (and its lock, one run at a time) still read true records.
    pub fn suffix(&self) -> String {
        format!("shard-{}-of-{}", self.index, self.count)
    }
}

/// The ledger file of a run: `<root>/ledger.sqlite`, or `<root>/ledger.shard-I-of-N.sqlite` for a shard.
pub fn ledger_path(store: &Store, shard: Option<Shard>) -> PathBuf {
    match shard {
        None => store.ledger(),
        Some(s) => store.root().join(format!("ledger.{}.sqlite", s.suffix())),
    }
}

/// The lock file of a run (per shard, so shards on shared storage run side by side).
pub fn lock_path(store: &Store, shard: Option<Shard>) -> PathBuf {
    match shard {
        None => store.lock(),
        Some(s) => store.root().join(format!("avarisk.{}.lock", s.suffix())),
    }
}

/// Sites of `plan` selected by `opts` (names, then shard among the named), in plan order.
pub fn select_sites<'a>(plan: &'a Plan, opts: &RunOptions) -> Vec<&'a Site> {
    let named: Vec<&Site> = plan.sites.iter().filter(|s| opts.sites.is_empty() || opts.sites.contains(&s.id)).collect();
    let Some(shard) = opts.shard else { return named };
    let ids: Vec<&str> = named.iter().map(|s| s.id.as_str()).collect();
    named.iter().copied().filter(|s| shard.has_site(&s.id, &ids)).collect()
}

/// Dates of `opts` its shard runs, in order.
pub fn select_dates(opts: &RunOptions) -> Vec<NaiveDate> {
    opts.dates
        .iter()
        .enumerate()
        .filter(|(k, _)| opts.shard.is_none_or(|sh| sh.has_date(*k)))
        .map(|(_, d)| *d)
        .collect()
}

/// The ledgers to read for `status`: the ones given, or every ledger of the root (whole-root and per shard).
pub fn ledgers_in(store: &Store, given: &[PathBuf]) -> Vec<PathBuf> {
    if !given.is_empty() {
        return given.to_vec();
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(store.root())
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    let n = p.file_name().unwrap_or_default().to_string_lossy();
                    n.starts_with("ledger.") && n.ends_with(".sqlite")
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// The rows of several ledgers read together (`status` over the shards of an array), oldest date first, then by
/// pipeline, site and start time; `date` and `pipeline` filter as [`Ledger::rows`] does.
pub fn read_ledgers(files: &[PathBuf], date: Option<&str>, pipeline: Option<&str>) -> Result<Vec<Row>, LedgerError> {
    let mut rows = Vec::new();
    for f in files {
        rows.extend(Ledger::open_read_only(f)?.rows(date, pipeline)?);
    }
    rows.sort_by(|a, b| {
        let k = |r: &Row| (r.key.date.clone(), r.key.pipeline.clone(), r.key.site.clone(), r.started_at.clone());
        k(a).cmp(&k(b))
    });
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shards(count: u32, by: ShardBy) -> Vec<Shard> {
        (0..count).map(|index| Shard { index, count, by }).collect()
    }

    #[test]
    fn hash_shards_split_every_site_exactly_once_and_bad_specs_are_refused() {
        let ids: Vec<String> = (0..40).map(|i| format!("site-{i}")).collect();
        let all: Vec<&str> = ids.iter().map(String::as_str).collect();
        let shards = shards(4, ShardBy::Hash);
        for id in &all {
            assert_eq!(shards.iter().filter(|s| s.has_site(id, &all)).count(), 1, "{id}");
        }
        for s in &shards {
            let n = all.iter().filter(|id| s.has_site(id, &all)).count();
            assert!((3..=18).contains(&n), "shard {s:?} has {n} of 40 sites");
        }
        // A site keeps its hash shard when others are added or removed.
        for s in &shards {
            assert_eq!(s.has_site("site-7", &all), s.has_site("site-7", &["site-7"]), "{s:?}");
        }
        for bad in ["4/4", "1", "a/b", "0/0"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        assert_eq!("1/2".parse::<Shard>().unwrap(), Shard { index: 1, count: 2, by: ShardBy::RoundRobin });
    }

    #[test]
    fn round_robin_gives_both_shards_of_three_sites_work_and_every_site_once() {
        // The bundled sites (here not in id order), which all hash to shard 0 of 2: one task of `--array=0-1` idled.
        let ids = ["tyrol-west", "avawog", "swiss-alps"];
        assert!(ids.iter().all(|id| shards(2, ShardBy::Hash)[0].has_site(id, &ids)));
        let shards = shards(2, ShardBy::RoundRobin);
        let taken: Vec<Vec<&str>> =
            shards.iter().map(|s| ids.iter().copied().filter(|id| s.has_site(id, &ids)).collect()).collect();
        assert_eq!(taken, [vec!["tyrol-west", "avawog"], vec!["swiss-alps"]], "dealt in id order");
        for s in &shards {
            assert!((0..151).all(|k| s.has_date(k)), "site shards run every date");
        }
    }

    #[test]
    fn date_shards_split_151_dates_near_equally_and_every_date_once() {
        for count in [2, 3, 4, 7] {
            let shards = shards(count, ShardBy::Date);
            for k in 0..151 {
                assert_eq!(shards.iter().filter(|s| s.has_date(k)).count(), 1, "date {k} of {count} shards");
            }
            let sizes: Vec<usize> = shards.iter().map(|s| (0..151).filter(|&k| s.has_date(k)).count()).collect();
            let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
            assert!(max - min <= 1, "{count} shards: {sizes:?}");
            assert!(shards.iter().all(|s| s.has_site("alpha", &["alpha"])), "date shards run every site");
        }
    }
}
