//! The run ledger: one SQLite row per unit of work (pipeline, stage, site, date) with its status, attempts, times,
//! input and output hashes and last error. It lives in the output root (`<root>/ledger.sqlite`, one per shard when
//! sharded) and is written in WAL mode, one short autocommit statement per change, so a killed run leaves it
//! consistent: at worst a row says `running`, which the next run (holding the lock) turns into `interrupted` and redoes.
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde::Serialize;

use super::StageError;

/// Date key of units that do not depend on the run date (DEM, terrain, observations, model).
pub const UNDATED: &str = "-";

#[derive(Debug, thiserror::Error)]
#[error("run ledger {path}: {source} (remove the file to start a fresh ledger; outputs are kept)")]
pub struct LedgerError {
    pub path: PathBuf,
    #[source]
    pub source: rusqlite::Error,
}

/// Identity of a unit of work.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct UnitKey {
    pub pipeline: String,
    pub stage: String,
    pub site: String,
    /// `YYYY-MM-DD`, or [`UNDATED`].
    pub date: String,
}

/// A ledger row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    #[serde(flatten)]
    pub key: UnitKey,
    /// `running`, `done`, `failed` or `interrupted`.
    pub status: String,
    pub attempts: i64,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub input_hash: Option<String>,
    pub output_hash: Option<String>,
    pub message: Option<String>,
    pub error: Option<String>,
    /// `input` (fix the input named in `error`) or `internal` (avarisk or its machine), for failed units.
    pub error_kind: Option<String>,
    pub run_id: Option<String>,
    /// The ledger file the row came from (several are read together for shards).
    pub ledger: String,
}

pub struct Ledger {
    path: PathBuf,
    conn: Mutex<Connection>,
    /// The columns a row is read from: `COLUMNS` and `error_kind`, or `NULL` in its place in a ledger written before
    /// failures had a kind and opened read-only (decided once, at open).
    select: String,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS units (
    pipeline    TEXT NOT NULL,
    stage       TEXT NOT NULL,
    site        TEXT NOT NULL,
    date        TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'interrupted')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    started_at  TEXT,
    finished_at TEXT,
    input_hash  TEXT,
    output_hash TEXT,
    message     TEXT,
    error       TEXT,
    error_kind  TEXT CHECK (error_kind IN ('input', 'internal')),
    run_id      TEXT,
    PRIMARY KEY (pipeline, stage, site, date)
);
CREATE TABLE IF NOT EXISTS runs (
    run_id      TEXT PRIMARY KEY,
    pipeline    TEXT NOT NULL,
    args        TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    exit_code   INTEGER
);";

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Ledger {
    /// Opens (creating) the ledger for writing.
    pub fn open(path: &Path) -> Result<Ledger, LedgerError> {
        let err = |source| LedgerError { path: path.to_owned(), source };
        if let Some(dir) = path.parent() {
            let _ = fs_err::create_dir_all(dir);
        }
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(30)).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(err)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        if !has_error_kind(&conn).map_err(err)? {
            // A ledger written before failures had a kind.
            conn.execute_batch("ALTER TABLE units ADD COLUMN error_kind TEXT").map_err(err)?;
        }
        Ok(Ledger::with_conn(path, conn, true))
    }

    /// Opens an existing ledger read-only (`status`, `--dry-run`).
    pub fn open_read_only(path: &Path) -> Result<Ledger, LedgerError> {
        let err = |source| LedgerError { path: path.to_owned(), source };
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(err)?;
        let kinds = has_error_kind(&conn).map_err(err)?;
        Ok(Ledger::with_conn(path, conn, kinds))
    }

    fn with_conn(path: &Path, conn: Connection, has_error_kind: bool) -> Ledger {
        let kind = if has_error_kind { "error_kind" } else { "NULL" };
        Ledger { path: path.to_owned(), conn: Mutex::new(conn), select: format!("SELECT {COLUMNS}, {kind} FROM units") }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, LedgerError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&conn).map_err(|source| LedgerError { path: self.path.clone(), source })
    }

    /// Marks the rows a killed run left `running` as `interrupted`. Call only while holding the run lock.
    pub fn recover(&self) -> Result<usize, LedgerError> {
        self.with(|c| {
            c.execute(
                "UPDATE units SET status = 'interrupted', finished_at = ?1,
                 error = 'the run was killed while this unit ran' WHERE status = 'running'",
                params![now()],
            )
        })
    }

    pub fn begin_run(&self, run_id: &str, pipeline: &str, args: &str) -> Result<(), LedgerError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO runs (run_id, pipeline, args, pid, started_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![run_id, pipeline, args, std::process::id(), now()],
            )
        })
        .map(drop)
    }

    pub fn end_run(&self, run_id: &str, exit_code: u8) -> Result<(), LedgerError> {
        self.with(|c| {
            c.execute(
                "UPDATE runs SET finished_at = ?2, exit_code = ?3 WHERE run_id = ?1",
                params![run_id, now(), exit_code],
            )
        })
        .map(drop)
    }

    pub fn get(&self, key: &UnitKey) -> Result<Option<Row>, LedgerError> {
        let ledger = self.path.display().to_string();
        self.with(|c| {
            c.query_row(
                &format!("{} WHERE pipeline = ?1 AND stage = ?2 AND site = ?3 AND date = ?4", self.select),
                params![key.pipeline, key.stage, key.site, key.date],
                |r| row(r, &ledger),
            )
            .optional()
        })
    }

    /// Records that `key` starts with `input_hash`; attempts count up while the inputs stay the same and the unit
    /// has not succeeded, and restart at 1 otherwise.
    pub fn start(&self, key: &UnitKey, input_hash: &str, run_id: &str) -> Result<i64, LedgerError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO units (pipeline, stage, site, date, status, attempts, started_at, input_hash, run_id)
                 VALUES (?1, ?2, ?3, ?4, 'running', 1, ?5, ?6, ?7)
                 ON CONFLICT (pipeline, stage, site, date) DO UPDATE SET
                   attempts = CASE WHEN units.input_hash = excluded.input_hash AND units.status != 'done'
                                   THEN units.attempts + 1 ELSE 1 END,
                   status = 'running', started_at = excluded.started_at, finished_at = NULL,
                   input_hash = excluded.input_hash, output_hash = NULL, error = NULL, error_kind = NULL, message = NULL,
                   run_id = excluded.run_id",
                params![key.pipeline, key.stage, key.site, key.date, now(), input_hash, run_id],
            )?;
            c.query_row(
                "SELECT attempts FROM units WHERE pipeline = ?1 AND stage = ?2 AND site = ?3 AND date = ?4",
                params![key.pipeline, key.stage, key.site, key.date],
                |r| r.get(0),
            )
        })
    }

    pub fn done(&self, key: &UnitKey, output_hash: &str, message: &str) -> Result<(), LedgerError> {
        self.with(|c| {
            c.execute(
                "UPDATE units SET status = 'done', finished_at = ?5, output_hash = ?6, message = ?7, error = NULL, error_kind = NULL
                 WHERE pipeline = ?1 AND stage = ?2 AND site = ?3 AND date = ?4",
                params![key.pipeline, key.stage, key.site, key.date, now(), output_hash, message],
            )
        })
        .map(drop)
    }

    pub fn failed(&self, key: &UnitKey, error: &StageError) -> Result<(), LedgerError> {
        self.with(|c| {
            c.execute(
                "UPDATE units SET status = 'failed', finished_at = ?5, error = ?6, error_kind = ?7
                 WHERE pipeline = ?1 AND stage = ?2 AND site = ?3 AND date = ?4",
                params![key.pipeline, key.stage, key.site, key.date, now(), error.message, error.kind.as_str()],
            )
        })
        .map(drop)
    }

    /// Every row, optionally of one date (undated units are always included) and one pipeline.
    pub fn rows(&self, date: Option<&str>, pipeline: Option<&str>) -> Result<Vec<Row>, LedgerError> {
        let ledger = self.path.display().to_string();
        self.with(|c| {
            let mut q = c.prepare(&format!(
                "{} WHERE (?1 IS NULL OR date = ?1 OR date = '{UNDATED}') AND (?2 IS NULL OR pipeline = ?2)
                 ORDER BY date, pipeline, site, stage",
                self.select
            ))?;
            let rows = q.query_map(params![date, pipeline], |r| row(r, &ledger))?;
            rows.collect()
        })
    }
}

const COLUMNS: &str = "pipeline, stage, site, date, status, attempts, started_at, finished_at, input_hash,
    output_hash, message, error, run_id";

/// Whether the `units` table has the `error_kind` column (ledgers written before it do not).
fn has_error_kind(c: &Connection) -> rusqlite::Result<bool> {
    let mut q = c.prepare("SELECT 1 FROM pragma_table_info('units') WHERE name = 'error_kind'")?;
    q.exists([])
}

fn row(r: &rusqlite::Row, ledger: &str) -> rusqlite::Result<Row> {
    Ok(Row {
        key: UnitKey { pipeline: r.get(0)?, stage: r.get(1)?, site: r.get(2)?, date: r.get(3)? },
        status: r.get(4)?,
        attempts: r.get(5)?,
        started_at: r.get(6)?,
        finished_at: r.get(7)?,
        input_hash: r.get(8)?,
        output_hash: r.get(9)?,
        message: r.get(10)?,
        error: r.get(11)?,
        run_id: r.get(12)?,
        error_kind: r.get(13)?,
        ledger: ledger.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> UnitKey {
        UnitKey { pipeline: "daily".into(), stage: "terrain".into(), site: "a".into(), date: UNDATED.into() }
    }

    #[test]
    fn attempts_count_failures_on_the_same_inputs_and_a_killed_unit_is_recovered() {
        let d = tempfile::tempdir().unwrap();
        let l = Ledger::open(&d.path().join("ledger.sqlite")).unwrap();
        assert_eq!(l.start(&key(), "h1", "r1").unwrap(), 1);
        l.failed(&key(), &StageError::input("boom")).unwrap();
        assert_eq!(l.start(&key(), "h1", "r2").unwrap(), 2);
        l.failed(&key(), &StageError::input("boom")).unwrap();
        assert_eq!(l.start(&key(), "h2", "r3").unwrap(), 1, "new inputs start over");
        // r3 is killed here: the row stays `running` until the next run recovers it.
        assert_eq!(l.get(&key()).unwrap().unwrap().status, "running");
        assert_eq!(l.recover().unwrap(), 1);
        let r = l.get(&key()).unwrap().unwrap();
        assert_eq!((r.status.as_str(), r.attempts), ("interrupted", 1));
        assert_eq!(l.start(&key(), "h2", "r4").unwrap(), 2);
        l.done(&key(), "out", "ok").unwrap();
        assert_eq!(l.start(&key(), "h2", "r5").unwrap(), 1, "after success, attempts start over");
        assert_eq!(l.rows(Some("2021-02-15"), None).unwrap().len(), 1, "undated rows belong to every date");
    }

    #[test]
    fn a_failure_keeps_its_kind_and_a_ledger_from_before_kinds_is_upgraded_in_place() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("ledger.sqlite");
        {
            // The schema before `error_kind`, with one failed unit.
            let c = Connection::open(&path).unwrap();
            c.execute_batch(&SCHEMA.replace("error_kind  TEXT CHECK (error_kind IN ('input', 'internal')),", ""))
                .unwrap();
            c.execute(
                "INSERT INTO units (pipeline, stage, site, date, status, attempts, error) \
                 VALUES ('daily', 'terrain', 'a', '-', 'failed', 1, 'old')",
                [],
            )
            .unwrap();
        }
        let old = Ledger::open_read_only(&path).unwrap().get(&key()).unwrap().unwrap();
        assert_eq!((old.error.as_deref(), old.error_kind), (Some("old"), None), "read-only: read as it is");
        let l = Ledger::open(&path).unwrap();
        l.start(&key(), "h1", "r1").unwrap();
        l.failed(&key(), &StageError::internal("disk full")).unwrap();
        let r = l.get(&key()).unwrap().unwrap();
        assert_eq!((r.error.as_deref(), r.error_kind.as_deref()), (Some("disk full"), Some("internal")));
        l.start(&key(), "h1", "r2").unwrap();
        l.done(&key(), "out", "ok").unwrap();
        assert_eq!(l.get(&key()).unwrap().unwrap().error_kind, None, "success clears the kind");
    }
}
