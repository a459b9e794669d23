//! berth: render Kubernetes manifests per channel, commit them to git, diff them against the
//! live cluster and apply them. The modules follow the pipeline; each imports only those
//! before it (`tests/architecture.rs` keeps it so):
//!
//! - vocabulary: `error`, `yaml`, `object` (keys, names, labels), `plan` (changes), `ci` (the
//!   CI run, read once);
//! - formats and rules: `source` (files of a directory or commit), `tree` (the rendered-tree
//!   format), `ignore` (ignore rules), `secret` (masking, external secret sources);
//! - the pipeline: `config` → `render` → `git` → `release` (resolution, record, notes,
//!   outcomes) → `github` (REST client, pull-request comments) → `notify` (chat messages) → `candidate` → `diff` → `cluster` (connect, dry-run plan, live diff) →
//!   `report` (one printer per format) → `apply`;
//! - `cli` on top: parse, dispatch, print.

pub mod error;
pub mod yaml;

pub mod ci;
pub mod object;
pub mod plan;

pub mod ignore;
pub mod secret;
pub mod source;
pub mod tree;

pub mod config;
pub mod render;

pub mod git;
pub mod release;

pub mod github;
pub mod notify;

pub mod candidate;
pub mod diff;

pub mod cluster;
pub mod report;
pub mod status;

pub mod apply;
pub mod cli;

pub use error::{Location, Problem, Problems};
