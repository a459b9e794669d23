//! berth's pull-request comments, found by the hidden marker on their first line
//! (`<!-- berth:diff channel=test part=1/2 commit=SHA -->`), never by author or position: a
//! comment without berth's marker for the channel, another bot's say, is never touched.

use super::{Client, Permission};
use crate::error::Problem;
use serde_json::{Value, json};

/// The hidden first line of a berth comment: which channel's diff, which part, which commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    pub channel: String,
    /// `(index, total)`, counting from 1, for a report split into parts.
    pub part: Option<(usize, usize)>,
    /// The source commit the report describes (the pull request's head it was made for).
    pub commit: Option<String>,
}

const PREFIX: &str = "<!-- berth:diff ";
const SUFFIX: &str = " -->";
/// What an outdated comment carries, so it is marked once.
const OUTDATED: &str = "<!-- berth:outdated -->";
/// Room an outdated note takes; reports meant for comments leave it free.
pub const OUTDATED_ROOM: usize = 400;

impl Marker {
    /// The marker line (no newline).
    pub fn line(&self) -> String {
        let mut line = format!("{PREFIX}channel={}", self.channel);
        if let Some((index, total)) = self.part {
            line.push_str(&format!(" part={index}/{total}"));
        }
        if let Some(commit) = &self.commit {
            line.push_str(&format!(" commit={commit}"));
        }
        line.push_str(SUFFIX);
        line
    }

    /// The marker on `body`'s first line, if it is berth's (a quote of one, `> <!-- …`, is not).
    pub fn parse(body: &str) -> Option<Marker> {
        let first = body.lines().next()?.trim_end();
        let fields = first.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
        let mut marker = Marker {
            channel: String::new(),
            part: None,
            commit: None,
        };
        for field in fields.split(' ') {
            match field.split_once('=')? {
                ("channel", channel) => marker.channel = channel.to_string(),
                ("part", part) => {
                    let (index, total) = part.split_once('/')?;
                    marker.part = Some((index.parse().ok()?, total.parse().ok()?));
                }
                ("commit", commit) => marker.commit = Some(commit.to_string()),
                _ => {}
            }
        }
        (!marker.channel.is_empty()).then_some(marker)
    }
}

/// A comment berth made, found on the pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub id: u64,
    pub body: String,
}

/// What happened to one comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommentAction {
    Created,
    Updated,
    /// Already said the same.
    Unchanged,
    Deleted,
    /// Marked outdated: it describes an earlier commit than the pull request's head.
    MarkedOutdated,
}

impl CommentAction {
    pub fn as_str(self) -> &'static str {
        match self {
            CommentAction::Created => "created",
            CommentAction::Updated => "updated",
            CommentAction::Unchanged => "unchanged",
            CommentAction::Deleted => "deleted",
            CommentAction::MarkedOutdated => "marked outdated",
        }
    }
}

/// A pull request of the client's repository.
pub struct PullRequest<'c> {
    pub client: &'c Client,
    pub number: u64,
    /// The pull request's head commit the run is for, when the event says.
    pub head_sha: Option<String>,
}

impl PullRequest<'_> {
    /// berth's comments for `channel`, oldest first.
    pub fn comments(&self, channel: &str) -> Result<Vec<Comment>, Problem> {
        let all = self.client.list(
            &format!("/issues/{}/comments", self.number),
            Permission::PullRequestsRead,
        )?;
        let mut ours: Vec<Comment> = all
            .iter()
            .filter_map(|c| {
                let body = c["body"].as_str()?;
                let marker = Marker::parse(body)?;
                (marker.channel == channel).then(|| Comment {
                    id: c["id"].as_u64().unwrap_or_default(),
                    body: body.to_string(),
                })
            })
            .collect();
        ours.sort_by_key(|c| c.id);
        Ok(ours)
    }

    /// Make berth's comments for `channel` exactly `bodies`, in order: the existing ones are
    /// updated in place (oldest first), missing ones created, extra ones deleted. Each body
    /// starts with its marker; one describing another commit than the head is marked outdated.
    pub fn sync(
        &self,
        channel: &str,
        bodies: &[String],
    ) -> Result<Vec<(usize, CommentAction)>, Problem> {
        let existing = self.comments(channel)?;
        let mut done = Vec::new();
        for (i, body) in bodies.iter().enumerate() {
            let body = self.outdated(body).unwrap_or_else(|| body.clone());
            let action = match existing.get(i) {
                Some(comment) if comment.body == body => CommentAction::Unchanged,
                Some(comment) => {
                    self.update(comment.id, &body)?;
                    CommentAction::Updated
                }
                None => {
                    self.client.post(
                        &format!("/issues/{}/comments", self.number),
                        &json!({ "body": body }),
                        Permission::PullRequestsWrite,
                    )?;
                    CommentAction::Created
                }
            };
            done.push((i + 1, action));
        }
        for (i, comment) in existing.iter().enumerate().skip(bodies.len()) {
            self.client.delete(
                &format!("/issues/comments/{}", comment.id),
                Permission::PullRequestsWrite,
            )?;
            done.push((i + 1, CommentAction::Deleted));
        }
        Ok(done)
    }

    /// Mark berth's comments for `channel` that describe an earlier commit outdated (before a
    /// new diff replaces them, so a run that fails early leaves no stale verdict unflagged).
    pub fn mark_outdated(&self, channel: &str) -> Result<Vec<(usize, CommentAction)>, Problem> {
        let mut done = Vec::new();
        for (i, comment) in self.comments(channel)?.iter().enumerate() {
            if let Some(body) = self.outdated(&comment.body) {
                self.update(comment.id, &body)?;
                done.push((i + 1, CommentAction::MarkedOutdated));
            }
        }
        Ok(done)
    }

    fn update(&self, id: u64, body: &str) -> Result<Value, Problem> {
        self.client.patch(
            &format!("/issues/comments/{id}"),
            &json!({ "body": body }),
            Permission::PullRequestsWrite,
        )
    }

    /// `body` marked outdated, if it names a commit other than the head and is not marked yet.
    fn outdated(&self, body: &str) -> Option<String> {
        let head = self.head_sha.as_deref()?;
        let commit = Marker::parse(body)?.commit?;
        if commit == head || body.contains(OUTDATED) {
            return None;
        }
        Some(mark_outdated(body, &commit, head))
    }
}

/// `body` with a note after its marker and heading saying it describes `commit`, not `head`.
/// A body too long to take the note loses its end (it is outdated anyway).
pub fn mark_outdated(body: &str, commit: &str, head: &str) -> String {
    let short = |s: &str| s.chars().take(7).collect::<String>();
    let note = format!(
        "\n> [!WARNING]\n> **Outdated**: this describes `{}`; the pull request's head is now `{}`. {OUTDATED}\n",
        short(commit),
        short(head)
    );
    // After the marker and the heading line.
    let split = body
        .match_indices('\n')
        .nth(1)
        .map(|(at, _)| at + 1)
        .unwrap_or(body.len());
    let (head_lines, rest) = body.split_at(split);
    let limit = crate::github::COMMENT_LIMIT;
    let room = limit.saturating_sub(head_lines.chars().count() + note.chars().count());
    let rest = if rest.chars().count() <= room {
        rest.to_string()
    } else {
        let cut = "\n*(the rest was removed to make room for this note)*\n";
        let keep = room.saturating_sub(cut.chars().count());
        let mut kept: String = rest.chars().take(keep).collect();
        if let Some(at) = kept.rfind('\n') {
            kept.truncate(at + 1);
        }
        kept + cut
    };
    format!("{head_lines}{note}{rest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip_and_other_texts_are_not_markers() {
        let marker = Marker {
            channel: "test".into(),
            part: Some((2, 3)),
            commit: Some("abc".into()),
        };
        assert_eq!(
            marker.line(),
            "<!-- berth:diff channel=test part=2/3 commit=abc -->"
        );
        assert_eq!(
            Marker::parse(&format!("{}\n### x", marker.line())),
            Some(marker)
        );
        assert_eq!(
            Marker::parse("<!-- berth:diff channel=test -->").map(|m| m.part),
            Some(None)
        );
        assert_eq!(Marker::parse("> <!-- berth:diff channel=test -->"), None);
        assert_eq!(
            Marker::parse("hello <!-- berth:diff channel=test -->"),
            None
        );
        assert_eq!(Marker::parse("<!-- berth:diff part=1/2 -->"), None);
    }

    #[test]
    fn an_outdated_note_keeps_the_marker_first_and_the_body_within_the_limit() {
        let body = format!(
            "<!-- berth:diff channel=test commit=aaaaaaaaaa -->\n### berth diff\n{}",
            "line\n".repeat(20_000)
        );
        let marked = mark_outdated(&body, "aaaaaaaaaa", "bbbbbbbbbb");
        assert!(marked.starts_with("<!-- berth:diff channel=test commit=aaaaaaaaaa -->\n### berth diff\n\n> [!WARNING]\n> **Outdated**: this describes `aaaaaaa`; the pull request's head is now `bbbbbbb`."));
        assert!(marked.chars().count() <= crate::github::COMMENT_LIMIT);
        assert!(marked.ends_with("make room for this note)*\n"));
    }
}
