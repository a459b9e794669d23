//! berth: render Kubernetes manifests per channel, commit them to git, diff them against the
//! live cluster and apply them. The modules follow the pipeline:
//! `config` → `render` → `tree` → `git`/`candidate` → `diff` → `plan` → `report` (apply: coming),
//! with `cli` on top.

pub mod apply;
pub mod candidate;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod diff;
pub mod error;
pub mod git;
pub mod github;
pub mod plan;
pub mod render;
pub mod report;
pub mod source;
pub mod tree;
pub mod yaml;

pub use error::{Location, Problem, Problems};
