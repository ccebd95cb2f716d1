//! Training, fine-tuning, adaptation and evaluation of avarisk's networks.
pub mod days;
pub mod experiment;
pub mod fit;
pub mod metrics;
pub mod report;
pub mod run;
