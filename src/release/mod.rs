//! Releases: which commit a channel's release is (the release branch, the remote's copy
//! first), what was applied to it and how that went (the record in the cluster and the note in
//! git), as typed outcomes. diff, apply and the coming status, promote, rollback and drift use it.

pub mod history;
pub mod notes;
pub mod outcome;
pub mod record;
pub mod reviewed;
pub mod rollback;

use crate::config::Channel;
use crate::error::Problem;
use crate::git;
use crate::tree::{ReleaseManifest, RenderedTree};
use git2::{Oid, Repository};

/// A channel's release: a commit of its release branch (or one named).
#[derive(Debug, Clone)]
pub struct Release {
    pub commit: Oid,
    /// How it was named: the release branch or the `--ref` given.
    pub name: String,
}

impl Release {
    /// Its rendered tree and release manifest, refused (naming the release) if berth did not
    /// render it.
    pub fn read(&self, repo: &Repository) -> Result<(RenderedTree, ReleaseManifest), Problem> {
        let tree = git::read_tree(repo, self.commit)?;
        let manifest = self.check(&tree)?;
        Ok((tree, manifest))
    }

    /// `tree` (its files, as `git::read_tree` reads them) refused, naming the release, if berth
    /// did not render it; else its release manifest.
    pub fn check(&self, tree: &RenderedTree) -> Result<ReleaseManifest, Problem> {
        tree.check_rendered(&format!(
            "{} ({})",
            self.name,
            crate::tree::short_id(&self.commit.to_string())
        ))
    }

    /// Its rendered tree, as [`read`](Self::read) checks it.
    pub fn tree(&self, repo: &Repository) -> Result<RenderedTree, Problem> {
        Ok(self.read(repo)?.0)
    }

    /// The source commit its manifest says it was rendered from.
    pub fn source_commit(&self, repo: &Repository) -> Result<Option<String>, Problem> {
        Ok(self.read(repo)?.1.source.commit)
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

/// The local release branch's commit, when it may move to a release built on `base` (the tip
/// `tip` gave, the remote's copy first): it may lag `base`, never hold releases `base` lacks.
pub fn local_tip(
    repo: &Repository,
    channel: &Channel,
    base: Option<Oid>,
    remote: &str,
) -> Result<Option<Oid>, Problem> {
    let local = git::ref_target(repo, &format!("refs/heads/{}", channel.release_branch))?;
    if let Some(local) = local
        && Some(local) != base
        && !base.is_some_and(|base| repo.graph_descendant_of(base, local).unwrap_or(false))
    {
        return Err(Problem::new(format!(
            "the local {} ({}) has releases {remote}'s lacks; nothing was changed",
            channel.release_branch,
            crate::tree::short_id(&local.to_string())
        ))
        .hint(format!(
            "push or drop them first (git push {remote} {0}, or git branch -f {0} {remote}/{0})",
            channel.release_branch
        )));
    }
    Ok(local)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn channel() -> Channel {
        Channel {
            name: "test".into(),
            context: None,
            release_branch: "releases/test".into(),
            apps: Vec::new(),
            values: Vec::new(),
            images: Vec::new(),
            promotes_to: None,
            auto_promote: false,
            prune: false,
            notify: Vec::new(),
            checks: Vec::new(),
        }
    }

    fn commit(repo: &Repository, message: &str) -> Oid {
        let tree = repo.treebuilder(None).unwrap().write().unwrap();
        let tree = repo.find_tree(tree).unwrap();
        let me = git2::Signature::now("t", "t@example.com").unwrap();
        repo.commit(None, &me, &me, message, &tree, &[]).unwrap()
    }

    #[test]
    fn the_remotes_release_branch_wins_then_the_local_one_then_a_named_ref() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let (local, remote) = (commit(&repo, "local"), commit(&repo, "remote"));
        let err = resolve(&repo, &channel(), None, "upstream").unwrap_err();
        assert!(
            err.to_string()
                .contains("no release branch releases/test (here or on upstream)"),
            "{err}"
        );
        repo.reference("refs/heads/releases/test", local, true, "t")
            .unwrap();
        assert_eq!(
            tip(&repo, &channel(), "upstream").unwrap().unwrap().commit,
            local
        );
        repo.reference("refs/remotes/upstream/releases/test", remote, true, "t")
            .unwrap();
        let release = resolve(&repo, &channel(), None, "upstream").unwrap();
        assert_eq!(
            (release.commit, release.name.as_str()),
            (remote, "releases/test")
        );
        // Another remote's copy is not this one's.
        assert_eq!(
            tip(&repo, &channel(), "origin").unwrap().unwrap().commit,
            local
        );
        let named = resolve(&repo, &channel(), Some(&local.to_string()), "upstream").unwrap();
        assert_eq!(named.commit, local);
    }
}
