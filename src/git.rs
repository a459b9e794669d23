//! Git: what commit and branch a render comes from. (Candidate commits build on this.)

use crate::render::SourceInfo;
use std::path::Path;

/// The commit checked out at `dir` and its branch. In GitHub Actions, where the checkout is
/// a detached merge commit, the branch is the pull request's head (`GITHUB_HEAD_REF`) or the
/// pushed ref (`GITHUB_REF_NAME`). Outside a repository, nothing is known.
pub fn source_info(dir: &Path) -> SourceInfo {
    let Ok(repo) = git2::Repository::discover(dir) else {
        return SourceInfo::default();
    };
    let head = repo.head().ok();
    let commit = head
        .as_ref()
        .and_then(|h| h.peel_to_commit().ok())
        .map(|c| c.id().to_string());
    let branch = head
        .as_ref()
        .filter(|h| h.is_branch())
        .and_then(|h| h.shorthand().ok().map(str::to_string))
        .or_else(|| env_branch("GITHUB_HEAD_REF"))
        .or_else(|| env_branch("GITHUB_REF_NAME"));
    SourceInfo { commit, branch }
}

fn env_branch(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}
