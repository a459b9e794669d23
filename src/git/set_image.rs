//! `berth set-image`: record image pins in the channel's pins file (`config::pins`) as a commit
//! on a source branch. The branch moves by compare-and-swap; the working tree follows only
//! when it is clean and checked out on that branch, and a dirty one on that branch is refused
//! (a commit under it would show as a staged revert of the pin).

use super::{Problem, ref_target, update_ref};
use crate::config::pins::{self, PinChange, PinTo};
use crate::tree::short_id;
use git2::{FileMode, Oid, Repository, Status, StatusOptions};
use serde::Serialize;
use std::path::Path;

/// The commit `set-image` made (or found unneeded).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PinCommit {
    pub channel: String,
    pub branch: String,
    /// The pins file, relative to the repository's top.
    pub file: String,
    /// The branch's commit after: the new commit, or the old tip when the pins were already so.
    pub commit: String,
    /// Whether a commit was made (`false`: the file already said this).
    pub committed: bool,
    /// Whether the working tree was brought up to the new commit.
    pub worktree_updated: bool,
    pub pushed: bool,
}

/// Commit `changes` to `channel`'s pins file on `branch` (the local branch, else `remote`'s).
/// `root` is berth.yaml's directory relative to the repository's top.
pub fn set_image(
    repo: &Repository,
    root: &str,
    channel: &str,
    branch: &str,
    changes: &[PinChange],
    remote: &str,
) -> Result<PinCommit, Problem> {
    let fail = |e: git2::Error| Problem::new(format!("cannot commit the pins: {}", e.message()));
    let file = match root {
        "" => pins::path(channel),
        root => format!("{root}/{}", pins::path(channel)),
    };
    let branch_ref = format!("refs/heads/{branch}");
    let local = ref_target(repo, &branch_ref)?;
    let base = match local {
        Some(local) => local,
        None => ref_target(repo, &format!("refs/remotes/{remote}/{branch}"))?.ok_or_else(|| {
            Problem::new(format!("no branch {branch} here or on {remote}"))
                .hint("pass --branch NAME of a branch that exists")
        })?,
    };
    let on_branch = repo
        .head()
        .ok()
        .and_then(|h| h.name().ok().map(str::to_string))
        .is_some_and(|head| head == branch_ref)
        && repo.head_detached().ok() == Some(false);
    if on_branch && !worktree_clean(repo)? {
        return Err(Problem::new(format!(
            "the working tree of {branch} has uncommitted changes; nothing was committed"
        ))
        .hint("commit or stash them first, or run berth set-image from another checkout"));
    }

    let base_commit = repo.find_commit(base).map_err(fail)?;
    let base_tree = base_commit.tree().map_err(fail)?;
    let current = match base_tree.get_path(Path::new(&file)) {
        Ok(entry) => {
            let blob = repo.find_blob(entry.id()).map_err(fail)?;
            let text = String::from_utf8_lossy(blob.content()).into_owned();
            pins::read(&text, Path::new(&file))?
        }
        Err(_) => Vec::new(),
    };
    let text = pins::updated(&current, changes);
    let blob = repo.blob(text.as_bytes()).map_err(fail)?;
    let unchanged = base_tree
        .get_path(Path::new(&file))
        .is_ok_and(|entry| entry.id() == blob);
    let mut outcome = PinCommit {
        channel: channel.to_string(),
        branch: branch.to_string(),
        file: file.clone(),
        commit: base.to_string(),
        committed: false,
        worktree_updated: false,
        pushed: false,
    };
    if unchanged {
        return Ok(outcome);
    }
    let mut builder = git2::build::TreeUpdateBuilder::new();
    builder.upsert(file.as_str(), blob, FileMode::Blob);
    let tree_id = builder.create_updated(repo, &base_tree).map_err(fail)?;
    let tree = repo.find_tree(tree_id).map_err(fail)?;
    let signature = repo
        .signature()
        .or_else(|_| git2::Signature::now("berth", "berth@localhost"))
        .map_err(fail)?;
    let commit = repo
        .commit(
            None,
            &signature,
            &signature,
            &message(channel, changes),
            &tree,
            &[&base_commit],
        )
        .map_err(fail)?;
    update_ref(
        repo,
        &branch_ref,
        commit,
        local,
        &format!("berth set-image: {channel}"),
    )?;
    outcome.commit = commit.to_string();
    outcome.committed = true;
    if on_branch {
        // Clean, so a forced checkout loses nothing (untracked files stay).
        repo.checkout_head(Some(git2::build::CheckoutBuilder::new().force()))
            .map_err(|e| {
                Problem::new(format!(
                    "committed {} on {branch}, but cannot update the working tree: {}",
                    short_id(&commit.to_string()),
                    e.message()
                ))
                .hint("run `git reset --hard` to bring it up to the branch")
            })?;
        outcome.worktree_updated = true;
    }
    Ok(outcome)
}

/// No staged or unstaged change to a tracked file (untracked files do not count).
fn worktree_clean(repo: &Repository) -> Result<bool, Problem> {
    let statuses = repo
        .statuses(Some(StatusOptions::new().include_untracked(false)))
        .map_err(|e| Problem::new(format!("cannot read git status: {}", e.message())))?;
    Ok(statuses
        .iter()
        .all(|s| s.status() == Status::CURRENT || s.status() == Status::IGNORED))
}

fn message(channel: &str, changes: &[PinChange]) -> String {
    let shown: Vec<String> = changes
        .iter()
        .map(|c| match &c.to {
            PinTo::Tag(tag) => format!("{}={tag}", c.name),
            PinTo::Digest(digest) => format!("{}@{digest}", c.name),
        })
        .collect();
    format!(
        "Pin images for {channel}: {}\n\nBerth-Channel: {channel}\n",
        shown.join(", ")
    )
}

/// Push `branch` to `remote` as a fast-forward of what we last saw there, with
/// `--force-with-lease` on it (a push someone else made meanwhile makes it fail, losing
/// nothing), and keep the remote-tracking ref in step.
pub fn push_branch(
    repo: &Repository,
    workdir: &Path,
    branch: &str,
    commit: Oid,
    remote: &str,
) -> Result<(), Problem> {
    let full = format!("refs/heads/{branch}");
    let tracking = format!("refs/remotes/{remote}/{branch}");
    // The remote must still hold what we last saw of it (nothing: the branch must not exist).
    let expected = super::ref_target(repo, &tracking)?;
    if let Some(expected) = expected
        && expected != commit
        && !repo.graph_descendant_of(commit, expected).unwrap_or(false)
    {
        return Err(Problem::new(format!(
            "cannot push {branch}: {remote}'s {branch} ({}) has commits {} lacks; nothing was pushed",
            crate::tree::short_id(&expected.to_string()),
            crate::tree::short_id(&commit.to_string())
        ))
        .hint(format!("fetch ({remote}), bring {branch} up to date and run berth again")));
    }
    let lease = format!(
        "--force-with-lease={full}:{}",
        expected.map(|e| e.to_string()).unwrap_or_default()
    );
    super::git_cli(
        workdir,
        &["push", "--quiet", &lease, remote, &format!("{full}:{full}")],
    )
    .map_err(|p| {
        p.hint(format!(
            "someone else may have pushed {branch}; fetch ({remote}) and run berth again"
        ))
    })?;
    repo.reference(&tracking, commit, true, "berth: pushed")
        .map_err(|e| Problem::new(format!("cannot update {tracking}: {}", e.message())))?;
    Ok(())
}
