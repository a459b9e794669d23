//! A channel's releases, newest first: the release branch's log (each commit a release, with the
//! source it was rendered from) and the git notes apply leaves on the releases it applied.

use super::Release;
use super::notes::{self, Note};
use crate::error::Problem;
use crate::tree::SourceInfo;
use git2::Repository;
use serde::Serialize;

/// One release of the channel, and what applying it did (if it was applied here or the notes
/// were fetched).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// The release commit.
    pub release: String,
    /// When the release was committed (merged), RFC 3339.
    pub committed_at: String,
    pub source: SourceInfo,
    /// The note of its apply; `None`: never applied (or its note is not here).
    pub applied: Option<Note>,
    /// For a rollback (`berth rollback`), the release it rolled back from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback_from: Option<String>,
    /// For a rollback, the earlier release whose tree it holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback_to: Option<String>,
}

/// The last `limit` releases of `tip`, newest first (first parents only: merges into the
/// release branch are its releases, not what was merged).
pub fn history(
    repo: &Repository,
    channel: &str,
    tip: &Release,
    limit: usize,
) -> Result<Vec<Entry>, Problem> {
    let failed =
        |e: git2::Error| Problem::new(format!("cannot read {}: {}", tip.name, e.message()));
    let mut walk = repo.revwalk().map_err(failed)?;
    walk.push(tip.commit).map_err(failed)?;
    walk.simplify_first_parent().map_err(failed)?;
    let mut entries = Vec::new();
    for id in walk.take(limit) {
        let id = id.map_err(failed)?;
        let commit = repo.find_commit(id).map_err(failed)?;
        let release = Release {
            commit: id,
            name: format!("{} ({})", tip.name, crate::tree::short_id(&id.to_string())),
        };
        // A commit berth did not render (the branch's first, hand-made one) has no source.
        let source = release
            .tree(repo)
            .ok()
            .and_then(|tree| tree.manifest().ok().flatten())
            .map(|manifest| manifest.source)
            .unwrap_or_default();
        let committed_at = k8s_openapi::jiff::Timestamp::from_second(commit.time().seconds())
            .map(|t| t.to_string())
            .unwrap_or_default();
        entries.push(Entry {
            release: id.to_string(),
            committed_at,
            source,
            applied: notes::read(repo, channel, id),
            rollback_from: super::rollback::rolled_back_from(repo, id),
            rollback_to: super::rollback::rolled_back_to(repo, id),
        });
    }
    Ok(entries)
}
