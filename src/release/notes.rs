//! Release notes: a git note on each applied release commit, under
//! `refs/notes/berth/<channel>`, so `git log --notes=berth/<channel>` shows the deployment history.

use super::outcome::Report;
use crate::error::Problem;
use crate::git;
use git2::{Oid, Repository};
use std::path::Path;

pub fn notes_ref(channel: &str) -> String {
    format!("refs/notes/berth/{channel}")
}

/// The note of an apply: its result and counts.
pub fn text(report: &Report) -> String {
    let mut text = format!(
        "berth apply {}: {}\n\n{}\n",
        report.channel, report.result, report.summary
    );
    // Recorded with the release, so a chat that missed it is known later.
    for notification in &report.notifications {
        text.push_str(&format!("{notification}\n"));
    }
    text
}

/// Add (or replace) the note of `commit` under `refs/notes/berth/<channel>`.
pub fn write(repo: &Repository, channel: &str, commit: Oid, text: &str) -> Result<(), Problem> {
    let signature = repo
        .signature()
        .or_else(|_| git2::Signature::now("berth", "berth@localhost"))
        .map_err(|e| Problem::new(format!("cannot sign the release note: {}", e.message())))?;
    repo.note(
        &signature,
        &signature,
        Some(&notes_ref(channel)),
        commit,
        text,
        true,
    )
    .map_err(|e| Problem::new(format!("cannot write the release note: {}", e.message())))?;
    Ok(())
}

/// Fetch the channel's notes from `remote`, when it has any (CI clones do not fetch notes):
/// a pushed note must add to the channel's history, never replace it.
pub fn fetch(workdir: &Path, remote: &str, channel: &str) -> Result<(), Problem> {
    let notes = notes_ref(channel);
    let listed = git::git_cli(workdir, &["ls-remote", remote, &notes])?;
    if listed.trim().is_empty() {
        return Ok(()); // the remote has no notes for the channel yet
    }
    git::git_cli(
        workdir,
        &["fetch", "--quiet", remote, &format!("+{notes}:{notes}")],
    )?;
    Ok(())
}

/// Push the channel's notes to `remote`, without force.
pub fn push(workdir: &Path, remote: &str, channel: &str) -> Result<(), Problem> {
    let notes = notes_ref(channel);
    git::git_cli(
        workdir,
        &["push", "--quiet", remote, &format!("{notes}:{notes}")],
    )?;
    Ok(())
}
