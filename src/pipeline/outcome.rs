//! What one unit of work returns: a [`StageReport`] when it ran, a [`StageError`] when it failed, with the kind of
//! failure (the user's input, or avarisk and its machine) that the ledger records and the exit code tells.
use std::fmt;

/// Exit code of a command whose work failed on its input (a missing prerequisite, a bad file, data not recorded):
/// fix what the message names and run again; the rest of the work was done.
pub const EXIT_INPUT: u8 = 1;
/// Exit code when avarisk itself failed (a panic, a write refused by the machine: permissions, a full disk), after
/// doing the rest of the work (sysexits' EX_SOFTWARE).
pub const EXIT_INTERNAL: u8 = 70;

/// What a unit did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageReport {
    /// It wrote its outputs: what, in a line or a few.
    Done(String),
    /// Nothing to do for this site (no records, no model, no weather source); its outputs are left as they are.
    NotApplicable(&'static str),
}

impl fmt::Display for StageReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StageReport::Done(m) => f.write_str(m),
            StageReport::NotApplicable(why) => write!(f, "skipped: {why}"),
        }
    }
}

/// Who is to act on a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The user: the input or the configuration is at fault, the message says what to do.
    Input,
    /// avarisk or its machine: a bug (panic) or an environment failure (permissions, disk space).
    Internal,
}

impl ErrorKind {
    /// As stored in the ledger's `error_kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Input => "input",
            ErrorKind::Internal => "internal",
        }
    }

    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Input => EXIT_INPUT,
            ErrorKind::Internal => EXIT_INTERNAL,
        }
    }
}

/// Why a unit failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StageError {
    pub kind: ErrorKind,
    pub message: String,
}

impl StageError {
    pub fn input(message: impl Into<String>) -> StageError {
        StageError { kind: ErrorKind::Input, message: message.into() }
    }

    pub fn internal(message: impl Into<String>) -> StageError {
        StageError { kind: ErrorKind::Internal, message: message.into() }
    }

    /// A stage's error, classified by its causes: an I/O error other than a missing file (permissions, a full disk,
    /// a read-only file system) is the machine's; everything else (a missing or malformed input, a prerequisite not
    /// run, data not recorded) is the input's.
    pub fn of(e: &(dyn std::error::Error + 'static)) -> StageError {
        let mut cause = Some(e);
        while let Some(c) = cause {
            if let Some(io) = c.downcast_ref::<std::io::Error>() {
                if io.kind() != std::io::ErrorKind::NotFound {
                    return StageError::internal(e.to_string());
                }
            }
            cause = c.source();
        }
        StageError::input(e.to_string())
    }

    /// A panic inside a stage: always avarisk's.
    pub fn panic(payload: &(dyn std::any::Any + Send)) -> StageError {
        let text = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        StageError::internal(format!("internal error (panic): {text}"))
    }
}

/// [`StageError::of`] for `map_err`.
pub fn classify<E: std::error::Error + 'static>(e: E) -> StageError {
    StageError::of(&e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("writing {0}")]
    struct Write(&'static str, #[source] std::io::Error);

    #[test]
    fn io_failures_of_the_machine_are_internal_missing_files_are_input() {
        let denied = Write("map.tif", std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        assert_eq!(classify(denied).kind, ErrorKind::Internal);
        let missing = Write("dem.tif", std::io::Error::from(std::io::ErrorKind::NotFound));
        let e = classify(missing);
        assert_eq!((e.kind, e.message.as_str()), (ErrorKind::Input, "writing dem.tif"));
        assert_eq!(classify(std::fmt::Error).kind, ErrorKind::Input);
    }

    #[test]
    fn reports_and_panics_read_as_the_ledger_shows_them() {
        assert_eq!(StageReport::NotApplicable("no [model]").to_string(), "skipped: no [model]");
        let p = std::panic::catch_unwind(|| panic!("boom")).unwrap_err();
        let e = StageError::panic(p.as_ref());
        assert_eq!((e.kind, e.message.as_str()), (ErrorKind::Internal, "internal error (panic): boom"));
        assert_eq!((ErrorKind::Input.exit_code(), ErrorKind::Internal.exit_code()), (1, 70));
    }
}
