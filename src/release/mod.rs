//! Releases: which commit a channel's release is (the release branch, the remote's copy
//! first), what was applied to it and how that went (the record in the cluster and the note in
//! git), as typed outcomes. diff, apply and the coming status, promote, rollback and drift use it.

pub mod notes;
pub mod outcome;
pub mod record;

use crate::config::Channel;
use crate::error::Problem;
use crate::git;
use crate::tree::RenderedTree;
use git2::{Oid, Repository};

/// A channel's release: a commit of its release branch (or one named).
#[derive(Debug, Clone)]
pub struct Release {
    pub commit: Oid,
    /// How it was named: the release branch or the `--ref` given.
    pub name: String,
}

impl Release {
    /// Its rendered tree, refused (naming the release) if berth did not render it.
    pub fn tree(&self, repo: &Repository) -> Result<RenderedTree, Problem> {
        let tree = git::read_tree(repo, self.commit)?;
        tree.check_rendered(&format!(
            "{} ({})",
            self.name,
            crate::tree::short_id(&self.commit.to_string())
        ))?;
        Ok(tree)
    }
}

/// The tip of the channel's release branch: `remote`'s copy when there is one (it is the
/// shared truth in CI), else the local branch; `None` when neither exists.
pub fn tip(repo: &Repository, channel: &Channel, remote: &str) -> Result<Option<Release>, Problem> {
    let remote_ref = format!("refs/remotes/{remote}/{}", channel.release_branch);
    let commit = match git::ref_target(repo, &remote_ref)? {
        Some(tip) => Some(tip),
        None => git::ref_target(repo, &format!("refs/heads/{}", channel.release_branch))?,
    };
    Ok(commit.map(|commit| Release {
        commit,
        name: channel.release_branch.clone(),
    }))
}

/// The release to apply: `rev` when given, else the tip of the release branch.
pub fn resolve(
    repo: &Repository,
    channel: &Channel,
    rev: Option<&str>,
    remote: &str,
) -> Result<Release, Problem> {
    if let Some(rev) = rev {
        return Ok(Release {
            commit: git::resolve_commit(repo, rev)?,
            name: rev.to_string(),
        });
    }
    tip(repo, channel, remote)?.ok_or_else(|| {
        Problem::new(format!(
            "channel {} has no release branch {} (here or on {remote})",
            channel.name, channel.release_branch
        ))
        .hint("merge a candidate into it first, or pass --ref REV")
    })
}
