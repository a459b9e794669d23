//! Rollback: a new commit on the channel's release branch whose tree is that of an earlier
//! release. History only moves forward: the branch is never reset, the ref moves by
//! compare-and-swap and is pushed as a fast-forward.

use super::Release;
use crate::config::Channel;
use crate::error::Problem;
use crate::git;
use crate::tree::short_id;
use git2::{Oid, Repository};
use serde::Serialize;
use std::path::Path;

/// The trailer naming the release a rollback commit rolled back from; `promote` refuses a
/// release that carries it.
pub const ROLLBACK_FROM: &str = "Berth-Rollback-From";
/// The trailer naming the earlier release whose tree a rollback commit holds.
pub const ROLLBACK_TO: &str = "Berth-Rollback-To";

/// Which earlier release to go back to.
#[derive(Debug, Clone)]
pub enum Target {
    /// A commit of the release branch's history.
    To(String),
    /// N releases back along the branch (first parents).
    Steps(usize),
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rollback {
    pub channel: String,
    /// The release branch, e.g. `releases/prod`.
    pub branch: String,
    /// The new release commit.
    pub commit: String,
    /// The release rolled back from (the branch's tip before).
    pub from: String,
    /// The earlier release whose tree the new commit holds.
    pub to: String,
    /// The source commit the earlier release was rendered from.
    pub source_commit: Option<String>,
    pub pushed: bool,
}

/// Commit the rollback of `channel` to `target` on top of its release tip (the remote's copy
/// first) and point the local release branch at it.
pub fn rollback(
    repo: &Repository,
    channel: &Channel,
    target: &Target,
    remote: &str,
) -> Result<Rollback, Problem> {
    let tip = super::resolve(repo, channel, None, remote)?;
    let past = past_releases(repo, &tip)?;
    let to = match target {
        Target::Steps(0) => {
            return Err(Problem::new("--steps 0 rolls back to the release itself")
                .hint("pass --steps 1 (the release before) or more"));
        }
        Target::Steps(n) => *past.get(n - 1).ok_or_else(|| {
            Problem::new(format!(
                "{} has {} earlier release{}, not {n}",
                channel.release_branch,
                past.len(),
                if past.len() == 1 { "" } else { "s" }
            ))
            .hint(format!("`berth history -c {}` lists them", channel.name))
        })?,
        Target::To(rev) => {
            let commit = git::resolve_commit(repo, rev)?;
            if !past.contains(&commit) {
                return Err(Problem::new(format!(
                    "{rev} ({}) is not a past release of channel {}",
                    short_id(&commit.to_string()),
                    channel.name
                ))
                .hint(format!(
                    "name a commit of {}'s history before its tip; `berth history -c {}` lists them",
                    channel.release_branch, channel.name
                )));
            }
            commit
        }
    };
    let earlier = Release {
        commit: to,
        name: channel.release_branch.clone(),
    };
    let source_commit = earlier.source_commit(repo)?;
    let fail =
        |e: git2::Error| Problem::new(format!("cannot commit the rollback: {}", e.message()));
    let tip_commit = repo.find_commit(tip.commit).map_err(fail)?;
    let to_commit = repo.find_commit(to).map_err(fail)?;
    if tip_commit.tree_id() == to_commit.tree_id() {
        return Err(Problem::new(format!(
            "{} ({}) already holds the tree of {}: nothing to roll back",
            channel.release_branch,
            short_id(&tip.commit.to_string()),
            short_id(&to.to_string())
        ))
        .hint("pass --steps N or --to REV to go further back"));
    }

    let branch_ref = format!("refs/heads/{}", channel.release_branch);
    let local = super::local_tip(repo, channel, Some(tip.commit), remote)?;
    let signature = repo
        .signature()
        .or_else(|_| git2::Signature::now("berth", "berth@localhost"))
        .map_err(fail)?;
    let message = message(channel, tip.commit, to, source_commit.as_deref());
    let tree = to_commit.tree().map_err(fail)?;
    let commit = repo
        .commit(
            None,
            &signature,
            &signature,
            &message,
            &tree,
            &[&tip_commit],
        )
        .map_err(fail)?;
    git::update_ref(
        repo,
        &branch_ref,
        commit,
        local,
        &format!("berth rollback: to {to}"),
    )?;
    Ok(Rollback {
        channel: channel.name.clone(),
        branch: channel.release_branch.clone(),
        commit: commit.to_string(),
        from: tip.commit.to_string(),
        to: to.to_string(),
        source_commit,
        pushed: false,
    })
}

/// The earlier releases of `tip`, newest first (first parents).
fn past_releases(repo: &Repository, tip: &Release) -> Result<Vec<Oid>, Problem> {
    let failed =
        |e: git2::Error| Problem::new(format!("cannot read {}: {}", tip.name, e.message()));
    let mut walk = repo.revwalk().map_err(failed)?;
    walk.push(tip.commit).map_err(failed)?;
    walk.simplify_first_parent().map_err(failed)?;
    walk.skip(1)
        .map(|id| id.map_err(failed))
        .collect::<Result<_, _>>()
}

fn message(channel: &Channel, from: Oid, to: Oid, source: Option<&str>) -> String {
    let (from, to) = (from.to_string(), to.to_string());
    let mut text = format!(
        "Roll back {} from {} to {}\n\n\
         The release {} is replaced by the tree of the earlier release {}.\n\n\
         Berth-Channel: {}\n{ROLLBACK_FROM}: {from}\n{ROLLBACK_TO}: {to}\n",
        channel.name,
        short_id(&from),
        short_id(&to),
        short_id(&from),
        short_id(&to),
        channel.name,
    );
    if let Some(source) = source {
        text.push_str(&format!("Source-Commit: {source}\n"));
    }
    text
}

/// The release `commit` rolled back from, if it is a rollback commit.
pub fn rolled_back_from(repo: &Repository, commit: Oid) -> Option<String> {
    trailer(repo, commit, ROLLBACK_FROM)
}

/// The earlier release whose tree `commit` holds, if it is a rollback commit.
pub fn rolled_back_to(repo: &Repository, commit: Oid) -> Option<String> {
    trailer(repo, commit, ROLLBACK_TO)
}

/// The release `commit` rolled back from and the one whose tree it holds, if it is a rollback
/// commit (both trailers are there).
pub fn rolled_back(repo: &Repository, commit: Oid) -> Option<(String, String)> {
    let commit = repo.find_commit(commit).ok()?;
    let message = commit.message().ok()?;
    Some((
        trailer_in(message, ROLLBACK_FROM)?,
        trailer_in(message, ROLLBACK_TO)?,
    ))
}

fn trailer(repo: &Repository, commit: Oid, name: &str) -> Option<String> {
    trailer_in(repo.find_commit(commit).ok()?.message().ok()?, name)
}

fn trailer_in(message: &str, name: &str) -> Option<String> {
    let prefix = format!("{name}: ");
    message
        .lines()
        .find_map(|line| line.strip_prefix(&prefix).map(str::to_string))
}

/// Push the rollback to `remote` as a fast-forward (never forced: a release someone else pushed
/// meanwhile makes it fail, losing nothing).
pub fn push(
    repo: &Repository,
    workdir: &Path,
    rollback: &mut Rollback,
    remote: &str,
) -> Result<(), Problem> {
    let commit = Oid::from_str(&rollback.commit).expect("berth wrote this id");
    git::push_branch(repo, workdir, &rollback.branch, commit, remote)?;
    rollback.pushed = true;
    Ok(())
}
