//! Research runs and reports on top of the pipeline: the transfer experiment ([`transfer`], `avarisk experiment`), the
//! day-level study of the weather models ([`days`]), and the reports a person reads ([`report`]: `avarisk eval
//! --report`, `avarisk verify --report`, the experiment's figures).
pub mod days;
pub mod report;
pub mod transfer;
