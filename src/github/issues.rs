//! An issue berth keeps per purpose (e.g. a channel's drift), found by the hidden marker on
//! its body's first line, never by title: opened when needed, updated in place, closed when
//! resolved. Issues of anyone else, and pull requests (which the issues list holds too), are
//! never touched.

use super::{Client, Permission};
use crate::error::Problem;
use serde_json::{Value, json};

/// What happened to the issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueAction {
    Opened,
    Updated,
    /// Already said the same.
    Unchanged,
    Closed,
    /// Nothing to report and no issue open: nothing done.
    NoneOpen,
}

impl IssueAction {
    pub fn as_str(self) -> &'static str {
        match self {
            IssueAction::Opened => "opened",
            IssueAction::Updated => "updated",
            IssueAction::Unchanged => "unchanged",
            IssueAction::Closed => "closed",
            IssueAction::NoneOpen => "none open",
        }
    }
}

/// What was done, and to which issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueOutcome {
    pub action: IssueAction,
    pub number: Option<u64>,
    pub url: Option<String>,
}

impl IssueOutcome {
    fn of(issue: &Value, action: IssueAction) -> IssueOutcome {
        IssueOutcome {
            action,
            number: issue["number"].as_u64(),
            url: issue["html_url"].as_str().map(str::to_string),
        }
    }
}

impl Client {
    /// The open issues whose body starts with the line `marker`, oldest first (not pull
    /// requests: the issues list holds those too, marked by `pull_request`).
    fn marked_issues(&self, marker: &str) -> Result<Vec<Value>, Problem> {
        let mut found: Vec<Value> = self
            .list("/issues?state=open", Permission::IssuesRead)?
            .into_iter()
            .filter(|issue| issue.get("pull_request").is_none_or(Value::is_null))
            .filter(|issue| {
                issue["body"]
                    .as_str()
                    .and_then(|body| body.lines().next())
                    .is_some_and(|first| first.trim_end() == marker)
            })
            .collect();
        found.sort_by_key(|issue| issue["number"].as_u64());
        Ok(found)
    }

    /// Make berth's issue marked `marker` say `report` (its body starts with the marker line):
    /// update the open one, or open one titled `title`; with no report, close the open one.
    pub fn sync_issue(
        &self,
        marker: &str,
        title: &str,
        report: Option<&str>,
    ) -> Result<IssueOutcome, Problem> {
        let open = self.marked_issues(marker)?;
        let issue = open.first();
        let number = |issue: &Value| issue["number"].as_u64().unwrap_or_default();
        match (report, issue) {
            (Some(report), None) => {
                let created = self.post(
                    "/issues",
                    &json!({"title": title, "body": report}),
                    Permission::IssuesWrite,
                )?;
                Ok(IssueOutcome::of(&created, IssueAction::Opened))
            }
            (Some(report), Some(issue)) if issue["body"].as_str() == Some(report) => {
                Ok(IssueOutcome::of(issue, IssueAction::Unchanged))
            }
            (Some(report), Some(issue)) => {
                let updated = self.patch(
                    &format!("/issues/{}", number(issue)),
                    &json!({"body": report}),
                    Permission::IssuesWrite,
                )?;
                Ok(IssueOutcome::of(&updated, IssueAction::Updated))
            }
            (None, Some(issue)) => {
                let closed = self.patch(
                    &format!("/issues/{}", number(issue)),
                    &json!({"state": "closed", "state_reason": "completed"}),
                    Permission::IssuesWrite,
                )?;
                Ok(IssueOutcome::of(&closed, IssueAction::Closed))
            }
            (None, None) => Ok(IssueOutcome {
                action: IssueAction::NoneOpen,
                number: None,
                url: None,
            }),
        }
    }
}
