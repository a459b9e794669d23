//! Release notes: a git note on each applied release commit, under
//! `refs/notes/berth/<channel>`, so `git log --notes=berth/<channel>` shows the deployment history.

use super::outcome::{ApplyResult, Report};
use crate::error::Problem;
use crate::git;
use git2::{Oid, Repository};
use std::path::Path;

pub fn notes_ref(channel: &str) -> String {
    format!("refs/notes/berth/{channel}")
}

/// Who applied, when, and from which CI run: the note's trailers, which `berth history` reads.
pub struct Applied<'a> {
    pub by: &'a str,
    pub at: &'a str,
    pub run: Option<&'a str>,
}

const APPLIED_BY: &str = "Applied-By: ";
const APPLIED_AT: &str = "Applied-At: ";
const RUN: &str = "Run: ";
const PARTIAL: &str = "Partial: ";

/// The note of an apply: its result and counts, then who applied it and when.
pub fn text(report: &Report, applied: &Applied<'_>) -> String {
    let mut text = format!(
        "berth apply {}: {}\n\n{}\n\n{APPLIED_BY}{}\n{APPLIED_AT}{}\n",
        report.channel, report.result, report.summary, applied.by, applied.at
    );
    if let Some(run) = applied.run {
        text.push_str(&format!("{RUN}{run}\n"));
    }
    if !report.partial.is_empty() {
        text.push_str(&format!("{PARTIAL}{}\n", report.partial.join(", ")));
    }
    // Recorded with the release, so a chat that missed it is known later.
    for notification in &report.notifications {
        text.push_str(&format!("{notification}\n"));
    }
    text
}

/// What a note says of an apply; notes written before the trailers know only the result.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Note {
    /// `None` when the note's first line is not one berth writes.
    pub result: Option<ApplyResult>,
    pub applied_by: Option<String>,
    pub applied_at: Option<String>,
    pub run: Option<String>,
    /// A partial apply (`apply --app`): the apps it applied.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub partial: Vec<String>,
}

impl Note {
    pub fn parse(text: &str) -> Note {
        let result = text
            .lines()
            .next()
            .and_then(|first| first.strip_prefix("berth apply "))
            .and_then(|rest| rest.split_once(": "))
            .and_then(|(_, result)| ApplyResult::parse(result.trim()));
        let trailer = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(name))
                .map(|value| value.trim().to_string())
        };
        Note {
            result,
            applied_by: trailer(APPLIED_BY),
            applied_at: trailer(APPLIED_AT),
            run: trailer(RUN),
            partial: trailer(PARTIAL)
                .map(|apps| apps.split(", ").map(str::to_string).collect())
                .unwrap_or_default(),
        }
    }
}

/// The note of `commit` under the channel's notes ref, if it has one.
pub fn read(repo: &Repository, channel: &str, commit: Oid) -> Option<Note> {
    let note = repo.find_note(Some(&notes_ref(channel)), commit).ok()?;
    Some(Note::parse(note.message().ok()?))
}

/// Add (or replace) the note of `commit` under `refs/notes/berth/<channel>`.
pub fn write(repo: &Repository, channel: &str, commit: Oid, text: &str) -> Result<(), Problem> {
    write_ref(repo, &notes_ref(channel), commit, text)
}

/// Add (or replace) the note of `object` (a commit or a tree) under `notes`.
pub(crate) fn write_ref(
    repo: &Repository,
    notes: &str,
    object: Oid,
    text: &str,
) -> Result<(), Problem> {
    let signature = repo
        .signature()
        .or_else(|_| git2::Signature::now("berth", "berth@localhost"))
        .map_err(|e| Problem::new(format!("cannot sign the git note: {}", e.message())))?;
    repo.note(&signature, &signature, Some(notes), object, text, true)
        .map_err(|e| Problem::new(format!("cannot write the git note: {}", e.message())))?;
    Ok(())
}

/// Fetch the channel's notes from `remote`, when it has any (CI clones do not fetch notes):
/// a pushed note must add to the channel's history, never replace it.
pub fn fetch(workdir: &Path, remote: &str, channel: &str) -> Result<(), Problem> {
    fetch_ref(workdir, remote, &notes_ref(channel))
}

/// Fetch the notes ref `notes` from `remote`, when it has it.
pub(crate) fn fetch_ref(workdir: &Path, remote: &str, notes: &str) -> Result<(), Problem> {
    let listed = git::git_cli(workdir, &["ls-remote", remote, notes])?;
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
    push_ref(workdir, remote, &notes_ref(channel))
}

/// Push the notes ref `notes` to `remote`, without force.
pub(crate) fn push_ref(workdir: &Path, remote: &str, notes: &str) -> Result<(), Problem> {
    git::git_cli(
        workdir,
        &["push", "--quiet", remote, &format!("{notes}:{notes}")],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::outcome::Summary;

    #[test]
    fn a_note_says_its_result_who_and_when_and_old_notes_their_result() {
        let report = Report {
            channel: "test".into(),
            release: "abc".into(),
            dry_run: false,
            result: ApplyResult::TimedOut,
            summary: Summary::default(),
            objects: Vec::new(),
            not_ready: Vec::new(),
            partial: vec!["web".into(), "api".into()],
            requests: 0,
            source_commit: None,
            previous_source_commit: None,
            notifications: Vec::new(),
            checks: Vec::new(),
        };
        let applied = Applied {
            by: "me@host",
            at: "2026-11-29T22:00:00Z",
            run: Some("https://ci/run/1"),
        };
        let note = Note::parse(&text(&report, &applied));
        assert_eq!(
            note,
            Note {
                result: Some(ApplyResult::TimedOut),
                applied_by: Some("me@host".into()),
                applied_at: Some("2026-11-29T22:00:00Z".into()),
                run: Some("https://ci/run/1".into()),
                partial: vec!["web".into(), "api".into()],
            }
        );
        let old = Note::parse("berth apply test: succeeded\n\n1 created\n");
        assert_eq!(old.result, Some(ApplyResult::Succeeded));
        assert_eq!(old.applied_by, None);
        assert_eq!(Note::parse("hand-written").result, None);
    }
}
