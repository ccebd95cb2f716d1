//! Training, fine-tuning, adaptation and evaluation of avarisk's networks.
pub mod days;
pub mod experiment;
pub mod export;
pub mod fit;
pub mod metrics;
pub mod onboard;
pub mod report;
pub mod run;
