//! Pull requests of the client's repository, found by head and base branch (never by title):
//! opened when there is none, updated in place when there is, closed when their branch is gone.

use super::{Client, Permission};
use crate::error::Problem;
use serde_json::{Value, json};

/// The pull request berth wants open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullSpec {
    /// The branch whose commits it proposes (of this repository).
    pub head: String,
    /// The branch it merges into.
    pub base: String,
    pub title: String,
    pub body: String,
}

/// What happened to a pull request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PullAction {
    Opened,
    Updated,
    /// Already had this title and body.
    Unchanged,
    Closed,
}

impl PullAction {
    pub fn as_str(self) -> &'static str {
        match self {
            PullAction::Opened => "opened",
            PullAction::Updated => "updated",
            PullAction::Unchanged => "unchanged",
            PullAction::Closed => "closed",
        }
    }
}

/// A pull request berth opened, updated or closed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PullOutcome {
    pub number: u64,
    /// Its page (`html_url`), when GitHub gave it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub action: PullAction,
}

impl PullOutcome {
    fn of(pull: &Value, action: PullAction) -> Result<PullOutcome, Problem> {
        let number = pull["number"].as_u64().ok_or_else(|| {
            Problem::new("GitHub answered with a pull request that has no number")
        })?;
        Ok(PullOutcome {
            number,
            url: pull["html_url"].as_str().map(str::to_string),
            action,
        })
    }
}

impl Client {
    /// The open pull requests from `head` (into `base`, if given), newest first.
    fn open_pulls(&self, head: &str, base: Option<&str>) -> Result<Vec<Value>, Problem> {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("state", "open");
        query.append_pair("head", &format!("{}:{head}", self.owner()));
        if let Some(base) = base {
            query.append_pair("base", base);
        }
        self.list(
            &format!("/pulls?{}", query.finish()),
            Permission::PullRequestsRead,
        )
    }

    /// Make the open pull request from `spec.head` into `spec.base` say `spec`: update the one
    /// there is (the oldest, should there be several), or, if `open`, open one.
    pub fn sync_pull(&self, spec: &PullSpec, open: bool) -> Result<Option<PullOutcome>, Problem> {
        let pulls = self.open_pulls(&spec.head, Some(&spec.base))?;
        let Some(pull) = pulls.last() else {
            if !open {
                return Ok(None);
            }
            let created = self.post(
                "/pulls",
                &json!({"title": spec.title, "head": spec.head, "base": spec.base, "body": spec.body}),
                Permission::PullRequestsWrite,
            )?;
            return PullOutcome::of(&created, PullAction::Opened).map(Some);
        };
        if pull["title"].as_str() == Some(&spec.title) && pull["body"].as_str() == Some(&spec.body)
        {
            return PullOutcome::of(pull, PullAction::Unchanged).map(Some);
        }
        let number = PullOutcome::of(pull, PullAction::Updated)?.number;
        let updated = self.patch(
            &format!("/pulls/{number}"),
            &json!({"title": spec.title, "body": spec.body}),
            Permission::PullRequestsWrite,
        )?;
        PullOutcome::of(&updated, PullAction::Updated).map(Some)
    }

    /// Close every open pull request from `head` (into any base).
    pub fn close_pulls_from(&self, head: &str) -> Result<Vec<PullOutcome>, Problem> {
        let mut closed = Vec::new();
        for pull in self.open_pulls(head, None)? {
            let number = PullOutcome::of(&pull, PullAction::Closed)?.number;
            let answer = self.patch(
                &format!("/pulls/{number}"),
                &json!({"state": "closed"}),
                Permission::PullRequestsWrite,
            )?;
            closed.push(PullOutcome::of(&answer, PullAction::Closed)?);
        }
        Ok(closed)
    }
}
