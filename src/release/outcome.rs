//! What applying a release did, as named types: each object's result, the release's result
//! (with its exit code), and the events diff and apply report while they work. The release record, the
//! reports and the coming status, rollback and notifications all read these.

use crate::error::exit;
use crate::object::ObjectKey;
use crate::plan::KeptReason;
use serde::{Serialize, Serializer};
use std::fmt;

/// What happened to one object (with a dry run: what would happen).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectResult {
    Created,
    Updated,
    Unchanged,
    Pruned,
    /// Left the release (or was to be pruned) and stays.
    Kept(KeptReason),
    /// Refused or not checked; the outcome's detail says why.
    Failed,
}

/// How applying a release went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum ApplyResult {
    #[serde(rename = "succeeded")]
    Succeeded,
    #[serde(rename = "failed")]
    Failed,
    #[serde(rename = "timed-out")]
    TimedOut,
    /// A release already applied, found unchanged: nothing was written.
    #[serde(rename = "no changes")]
    NoChanges,
    /// Applied, but a check after it failed (or timed out).
    #[serde(rename = "checks failed")]
    ChecksFailed,
}

impl ApplyResult {
    pub fn as_str(self) -> &'static str {
        match self {
            ApplyResult::Succeeded => "succeeded",
            ApplyResult::Failed => "failed",
            ApplyResult::TimedOut => "timed-out",
            ApplyResult::NoChanges => "no changes",
            ApplyResult::ChecksFailed => "checks failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            ApplyResult::Succeeded,
            ApplyResult::Failed,
            ApplyResult::TimedOut,
            ApplyResult::NoChanges,
            ApplyResult::ChecksFailed,
        ]
        .into_iter()
        .find(|r| r.as_str() == text)
    }

    /// 0 success, 2 failure, 3 timed out waiting, 4 a check failed.
    pub fn exit_code(self) -> u8 {
        match self {
            ApplyResult::Succeeded | ApplyResult::NoChanges => exit::OK,
            ApplyResult::Failed => exit::ERROR,
            ApplyResult::TimedOut => exit::TIMED_OUT,
            ApplyResult::ChecksFailed => exit::CHECKS_FAILED,
        }
    }
}

impl fmt::Display for ApplyResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to one object.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub key: ObjectKey,
    pub app: Option<String>,
    /// The apply stage it belongs to (`""` when none).
    pub stage: &'static str,
    pub result: ObjectResult,
    /// Planned only: `would create` rather than `created`.
    pub dry_run: bool,
    pub detail: Option<String>,
}

impl Outcome {
    /// The result as reports word it.
    pub fn label(&self) -> String {
        let verb = |done: &str, planned: &str| {
            if self.dry_run {
                format!("would {planned}")
            } else {
                done.to_string()
            }
        };
        match &self.result {
            ObjectResult::Created => verb("created", "create"),
            ObjectResult::Updated => verb("updated", "update"),
            ObjectResult::Pruned => verb("pruned", "prune"),
            ObjectResult::Unchanged => "unchanged".into(),
            ObjectResult::Failed => "failed".into(),
            ObjectResult::Kept(
                reason @ (KeptReason::PruneOff
                | KeptReason::AppPruneOff { .. }
                | KeptReason::ApplyFailed),
            ) => reason.sentence(),
            ObjectResult::Kept(_) => "kept".into(),
        }
    }
}

impl Serialize for Outcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Shape<'a> {
            key: &'a ObjectKey,
            #[serde(skip_serializing_if = "Option::is_none")]
            app: &'a Option<String>,
            stage: &'static str,
            result: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            detail: &'a Option<String>,
        }
        Shape {
            key: &self.key,
            app: &self.app,
            stage: self.stage,
            result: self.label(),
            detail: &self.detail,
        }
        .serialize(serializer)
    }
}

/// How many objects ended how.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub pruned: usize,
    pub failed: usize,
    /// Objects that left the release and stay.
    #[serde(skip_serializing_if = "is_zero")]
    pub kept: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Summary {
    pub fn of(outcomes: &[Outcome]) -> Summary {
        let mut summary = Summary::default();
        for outcome in outcomes {
            let count = match outcome.result {
                ObjectResult::Created => &mut summary.created,
                ObjectResult::Updated => &mut summary.updated,
                ObjectResult::Unchanged => &mut summary.unchanged,
                ObjectResult::Pruned => &mut summary.pruned,
                ObjectResult::Kept(_) => &mut summary.kept,
                ObjectResult::Failed => &mut summary.failed,
            };
            *count += 1;
        }
        summary
    }
}

/// `2 created, 0 updated, 5 unchanged, 0 pruned, 0 failed` (and kept, when any).
impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} created, {} updated, {} unchanged, {} pruned, {} failed",
            self.created, self.updated, self.unchanged, self.pruned, self.failed
        )?;
        if self.kept > 0 {
            write!(f, ", {} kept", self.kept)?;
        }
        Ok(())
    }
}

/// An object that did not become ready, and why.
#[derive(Debug, Clone, Serialize)]
pub struct NotReady {
    pub key: ObjectKey,
    /// The app of the object: an app with its own `timeout:` is named when it runs out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    pub reason: String,
}

/// How a check after the apply went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "result")]
pub enum CheckOutcome {
    Passed,
    /// Exited non-zero (`code`: `None` when a signal ended it), or could not start.
    Failed {
        code: Option<i32>,
    },
    TimedOut,
}

impl CheckOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckOutcome::Passed => "passed",
            CheckOutcome::Failed { .. } => "failed",
            CheckOutcome::TimedOut => "timed-out",
        }
    }
}

/// One check's result, with what it printed (stdout and stderr, the last 16 KiB).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckResult {
    pub name: String,
    #[serde(flatten)]
    pub outcome: CheckOutcome,
    pub seconds: f64,
    pub output: String,
}

/// What applying a release to a channel did.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub channel: String,
    /// The release commit.
    pub release: String,
    pub dry_run: bool,
    pub result: ApplyResult,
    pub summary: Summary,
    pub objects: Vec<Outcome>,
    pub not_ready: Vec<NotReady>,
    /// A partial apply (`--app`): only these apps were applied and pruned (empty: all).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub partial: Vec<String>,
    /// Requests made to the API server.
    pub requests: usize,
    /// The checks run after the apply, in order (left out of JSON when none ran).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckResult>,
    /// The source commit of the release, and of the release before it: a compare link's ends
    /// (for messages; the record holds the source commit).
    #[serde(skip)]
    pub source_commit: Option<String>,
    #[serde(skip)]
    pub previous_source_commit: Option<String>,
    /// The chats told about this apply, and how that went.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notifications: Vec<Notification>,
}

/// One chat message sent (or not) about an apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    /// The kind of chat and the variable naming its address, e.g. `slack (SLACK_WEBHOOK_URL)`:
    /// never the address itself.
    pub target: String,
    pub attempts: u32,
    pub delivery: Delivery,
}

/// Whether a chat took the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "state", content = "reason")]
pub enum Delivery {
    Sent,
    /// Why not, in words that hold no address or key.
    Failed(String),
}

impl fmt::Display for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.delivery {
            Delivery::Sent => write!(f, "notified {}", self.target),
            Delivery::Failed(why) if self.attempts == 0 => {
                write!(f, "notifying {} failed: {why}", self.target)
            }
            Delivery::Failed(why) => write!(
                f,
                "notifying {} failed after {} {}: {why}",
                self.target,
                self.attempts,
                if self.attempts == 1 { "try" } else { "tries" }
            ),
        }
    }
}

impl Report {
    pub fn exit_code(&self) -> u8 {
        self.result.exit_code()
    }

    /// The apps with an object not ready when the wait ended, each once, sorted.
    pub fn apps_not_ready(&self) -> Vec<String> {
        apps_of(&self.not_ready)
    }
}

/// The apps of `not_ready`, each once, sorted.
pub fn apps_of(not_ready: &[NotReady]) -> Vec<String> {
    let apps: std::collections::BTreeSet<&String> =
        not_ready.iter().filter_map(|n| n.app.as_ref()).collect();
    apps.into_iter().cloned().collect()
}

/// What apply tells while it works; a [`Reporter`] shows it (or not).
#[derive(Debug, Clone)]
pub enum Event<'a> {
    /// Apply starts: `objects` objects of `release` (named `name`) onto `target`.
    Started {
        name: &'a str,
        release: &'a str,
        target: &'a str,
        objects: usize,
    },
    /// Another apply holds the channel's lock.
    WaitingForLock { holder: &'a str, since: &'a str },
    /// A holder stopped renewing the lock; it is taken over.
    TakingOverLock { previous: &'a str },
    /// A stage starts writing `writes` of its `objects` objects.
    Applying {
        stage: &'static str,
        writes: usize,
        objects: usize,
    },
    /// Objects of a stage failed.
    StageFailed { stage: &'static str, failed: usize },
    /// A stage starts deleting what left the release.
    Pruning { stage: &'static str, objects: usize },
    /// Waiting starts for `objects` objects to be ready, at most `timeout`.
    WaitStarted {
        objects: usize,
        timeout: std::time::Duration,
    },
    /// Still waiting for `pending` objects to be ready; one of them, and why.
    Waiting {
        pending: usize,
        example: &'a ObjectKey,
        reason: &'a str,
    },
    /// An object that must be ready before the next stage (a CRD) is not.
    NotReady { key: &'a ObjectKey, reason: &'a str },
    /// The live diff starts checking `objects` objects against `server`.
    Checking { objects: usize, server: &'a str },
    /// Something went wrong that does not stop the work.
    Warning(String),
    /// The work is done, having sent `count` requests to `server` (shown with `-v`).
    Requests { count: usize, server: &'a str },
    /// How the plan compares with the reviewed one.
    Review(Review<'a>),
}

/// How apply's plan compares with the plan reviewed for the release's tree.
#[derive(Debug, Clone, Copy)]
pub enum Review<'a> {
    /// The same plan: what was reviewed is what is applied.
    Matches { digest: &'a str },
    /// `berth diff` recorded no plan for the tree.
    NotRecorded { tree: &'a str },
    /// It differs, and `--accept-changed-plan` applies it anyway.
    ChangedAccepted {
        differences: &'a [(ObjectKey, String)],
    },
}

impl Event<'_> {
    /// Progress, as opposed to a warning the user must see whatever the output mode.
    pub fn is_progress(&self) -> bool {
        !matches!(
            self,
            Event::Warning(_)
                | Event::Review(Review::NotRecorded { .. } | Review::ChangedAccepted { .. })
        )
    }

    /// Detail shown only when asked for (`-v`), whatever the output mode.
    pub fn is_detail(&self) -> bool {
        matches!(self, Event::Requests { .. })
    }
}

impl fmt::Display for Event<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Started {
                name,
                release,
                target,
                objects,
            } => write!(
                f,
                "applying {name} ({}) to {target}: {objects} objects",
                crate::tree::short_id(release)
            ),
            Event::WaitingForLock { holder, since } => {
                write!(f, "waiting for the lock: {holder} holds it since {since}")
            }
            Event::TakingOverLock { previous } => {
                write!(
                    f,
                    "taking over the lock from {previous}: it stopped renewing"
                )
            }
            Event::Applying {
                stage,
                writes,
                objects,
            } => write!(f, "{stage}: applying {writes} of {objects} objects"),
            Event::StageFailed { stage, failed } => write!(f, "{stage}: {failed} failed"),
            Event::Pruning { stage, objects } => write!(f, "{stage}: pruning {objects} objects"),
            Event::WaitStarted { objects, timeout } => write!(
                f,
                "waiting for {objects} objects to be ready (at most {})",
                humantime::format_duration(*timeout)
            ),
            Event::Waiting {
                pending,
                example,
                reason,
            } => write!(f, "waiting for {pending} objects, e.g. {example}: {reason}"),
            Event::NotReady { key, reason } => write!(f, "{key}: {reason}"),
            Event::Checking { objects, server } => {
                write!(f, "checking {objects} objects against {server} …")
            }
            Event::Warning(text) => f.write_str(text),
            Event::Requests { count, server } => {
                write!(f, "{count} requests to the API server at {server}")
            }
            Event::Review(Review::Matches { digest }) => {
                write!(f, "the plan is the one reviewed ({digest})")
            }
            Event::Review(Review::NotRecorded { tree }) => write!(
                f,
                "warning: no reviewed plan for tree {}: nobody ran `berth diff` of this release against the cluster (--require-reviewed-plan refuses)",
                crate::tree::short_id(tree)
            ),
            Event::Review(Review::ChangedAccepted { differences }) => {
                write!(
                    f,
                    "warning: the plan differs from the one reviewed (--accept-changed-plan):"
                )?;
                for (key, what) in *differences {
                    write!(f, "\n  {key}: {what}")?;
                }
                Ok(())
            }
        }
    }
}

/// Shows apply's events: text on stderr, nothing in JSON mode, later a PR comment or a chat.
pub trait Reporter: Sync {
    fn report(&self, event: &Event<'_>);
}

/// Shows nothing.
pub struct Silent;

impl Reporter for Silent {
    fn report(&self, _: &Event<'_>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(result: ObjectResult, dry_run: bool) -> Outcome {
        Outcome {
            key: ObjectKey::parse("ns/ConfigMap/a").unwrap(),
            app: None,
            stage: "",
            result,
            dry_run,
            detail: None,
        }
    }

    #[test]
    fn labels_keep_the_words_reports_have_always_used() {
        assert_eq!(outcome(ObjectResult::Created, true).label(), "would create");
        assert_eq!(outcome(ObjectResult::Created, false).label(), "created");
        assert_eq!(outcome(ObjectResult::Pruned, true).label(), "would prune");
        assert_eq!(
            outcome(ObjectResult::Kept(KeptReason::PruneOff), true).label(),
            "left the release; kept (prune is off)"
        );
        assert_eq!(
            outcome(ObjectResult::Kept(KeptReason::ApplyFailed), false).label(),
            "kept: not pruned, applying failed"
        );
        assert_eq!(
            outcome(ObjectResult::Kept(KeptReason::NotOwned), false).label(),
            "kept"
        );
    }

    #[test]
    fn kept_objects_are_counted_as_kept_not_unchanged() {
        let summary = Summary::of(&[
            outcome(ObjectResult::Kept(KeptReason::PruneDisabled), false),
            outcome(ObjectResult::Unchanged, false),
            outcome(ObjectResult::Created, true),
            outcome(ObjectResult::Failed, false),
        ]);
        assert_eq!(
            (
                summary.kept,
                summary.unchanged,
                summary.created,
                summary.failed
            ),
            (1, 1, 1, 1)
        );
        assert_eq!(
            summary.to_string(),
            "1 created, 0 updated, 1 unchanged, 0 pruned, 1 failed, 1 kept"
        );
        assert!(
            !serde_json::to_string(&Summary::default())
                .unwrap()
                .contains("kept")
        );
    }

    #[test]
    fn results_round_trip_their_words_and_map_to_exit_codes() {
        for result in [
            ApplyResult::Succeeded,
            ApplyResult::Failed,
            ApplyResult::TimedOut,
            ApplyResult::NoChanges,
            ApplyResult::ChecksFailed,
        ] {
            assert_eq!(ApplyResult::parse(result.as_str()), Some(result));
            assert_eq!(
                serde_json::to_value(result).unwrap(),
                serde_json::json!(result.as_str())
            );
        }
        assert_eq!(ApplyResult::TimedOut.exit_code(), 3);
        assert_eq!(ApplyResult::Failed.exit_code(), 2);
        assert_eq!(ApplyResult::NoChanges.exit_code(), 0);
    }
}
