//! `--comment` and `berth comment`: the pull request's comment for a channel, and workflow
//! annotations for the objects the server refused.

use super::{CommentArgs, print};
use crate::ci::CiEnv;
use crate::error::{Problem, Problems, exit};
use crate::github::comments::{CommentAction, Marker, OUTDATED_ROOM, PullRequest};
use crate::github::{COMMENT_LIMIT, Client, error_annotation};
use crate::plan::Plan;

/// The pull request berth comments on, and its client.
pub(super) struct Commenter {
    client: Client,
    number: u64,
    head_sha: Option<String>,
}

impl Commenter {
    /// The pull request `--pr` names, else the event's; the client of `ci`.
    pub(super) fn new(ci: &CiEnv, pr: Option<u64>) -> Result<Commenter, Problem> {
        let event = ci.pull_request.as_ref();
        let number = match (pr, event) {
            (Some(number), _) => number,
            (None, Some(event)) => event.number,
            (None, None) => {
                let why = ci
                    .event_error
                    .as_ref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default();
                return Err(Problem::new(format!(
                    "no pull request to comment on: this is not a pull_request event{why}"
                ))
                .hint("pass --pr NUMBER, or run on: pull_request"));
            }
        };
        // The event's head is the pull request's only when it is the same pull request.
        let head_sha = event
            .filter(|e| e.number == number)
            .and_then(|e| e.head_sha.clone());
        Ok(Commenter {
            client: Client::from_ci(ci)?,
            number,
            head_sha,
        })
    }

    fn pull_request(&self) -> PullRequest<'_> {
        PullRequest {
            client: &self.client,
            number: self.number,
            head_sha: self.head_sha.clone(),
        }
    }

    /// Make the channel's comments `bodies`, and say what was done on stderr.
    pub(super) fn post(&self, channel: &str, bodies: &[String]) -> Result<(), Problem> {
        let done = self.pull_request().sync(channel, bodies)?;
        self.tell(channel, &done);
        Ok(())
    }

    /// Flag the channel's comments of earlier commits before a new diff replaces them.
    pub(super) fn mark_outdated(&self, channel: &str) -> Result<(), Problem> {
        let done = self.pull_request().mark_outdated(channel)?;
        self.tell(channel, &done);
        Ok(())
    }

    /// After a failed diff: the error in the comment, so it shows no stale verdict.
    pub(super) fn post_failure(&self, channel: &str, problems: Problems) -> Problems {
        let body = crate::report::markdown_failure(
            channel,
            self.head_sha.as_deref(),
            &problems.to_string(),
            comment_chars(COMMENT_LIMIT),
        );
        match self.post(channel, &[body]) {
            Ok(()) => problems,
            Err(e) => {
                let mut all = problems.0;
                all.push(e);
                Problems(all)
            }
        }
    }

    fn tell(&self, channel: &str, done: &[(usize, CommentAction)]) {
        let parts = done.len() > 1 || done.iter().any(|(part, _)| *part > 1);
        for (part, action) in done {
            let which = if parts {
                format!("comment part {part}")
            } else {
                "comment".to_string()
            };
            eprintln!(
                "pull request #{}, channel {channel}: {which} {}",
                self.number,
                action.as_str()
            );
        }
    }
}

/// The characters a report meant for a comment may take: within `max_chars` and a comment's
/// limit, with room for an outdated note.
pub(super) fn comment_chars(max_chars: usize) -> usize {
    max_chars.min(COMMENT_LIMIT).saturating_sub(OUTDATED_ROOM)
}

/// In GitHub Actions, each object the server refused as an `::error` annotation on stdout.
pub(super) fn annotate(ci: &CiEnv, plan: &Plan) -> Result<(), Problems> {
    if !ci.github_actions {
        return Ok(());
    }
    let title = format!("berth diff {}", plan.channel);
    let lines: String = plan
        .objects
        .iter()
        .filter_map(|o| {
            let error = o.error.as_deref()?;
            Some(
                error_annotation(&o.key.tree_path(), &title, &format!("{}: {error}", o.key)) + "\n",
            )
        })
        .collect();
    print(&lines)
}

/// `berth comment -c C --file F…`: reports made earlier, as the channel's comments.
pub(super) fn comment_command(args: &CommentArgs, ci: &CiEnv) -> Result<u8, Problems> {
    let mut bodies = Vec::new();
    for file in &args.files {
        let body = std::fs::read_to_string(file).map_err(|e| Problem::io(file, &e))?;
        let marker = Marker::parse(&body).filter(|m| m.channel == args.channel);
        if marker.is_none() {
            return Err(Problem::new(format!(
                "not berth's Markdown report of channel {}: its first line is not `<!-- berth:diff channel={} … -->`",
                args.channel, args.channel
            ))
            .in_file(file)
            .hint(format!(
                "make it with `berth diff -c {} -o markdown --out FILE`",
                args.channel
            ))
            .into());
        }
        let chars = body.chars().count();
        if chars > COMMENT_LIMIT {
            return Err(Problem::new(format!(
                "{chars} characters: a GitHub comment holds {COMMENT_LIMIT}"
            ))
            .in_file(file)
            .hint(
                "make the report with the default --max-chars, or with --split and pass each part",
            )
            .into());
        }
        bodies.push(body);
    }
    let commenter = Commenter::new(ci, args.pr)?;
    commenter.post(&args.channel, &bodies)?;
    Ok(exit::OK)
}
