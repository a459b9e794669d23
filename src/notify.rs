//! Notifications (`notify:` of a channel) after an apply, a rollback, a promotion to the channel
//! and drift found in it: Slack incoming webhooks, Zulip streams, Microsoft Teams Workflows
//! webhooks and a generic JSON webhook. The text is `templates/notify.md.j2`. Addresses and
//! keys are read from the environment when a message is sent and are never shown: a
//! notification names its target by kind and variable. A message that cannot be delivered is
//! retried with backoff, then reported as a warning; it never fails the command.

use crate::ci::CiEnv;
use crate::config::Notify;
use crate::error::Problems;
use crate::object::TreeObject;
use crate::release::outcome::{ApplyResult, Delivery, Event, Notification, Report, Reporter};
use crate::release::rollback::Rollback;
use crate::tree::short_id;
use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::Bytes;
use hyper::header::HeaderValue;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// How hard to try one chat: attempts, and the first wait (doubled after each failure).
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub attempts: u32,
    pub backoff: Duration,
    /// The longest one request may take.
    pub timeout: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 3,
            backoff: Duration::from_millis(500),
            timeout: Duration::from_secs(10),
        }
    }
}

/// What a message is about.
pub enum Subject<'a> {
    /// An apply: its report, or why it stopped before it had one.
    Apply(Result<&'a Report, &'a str>),
    /// A rollback committed on the channel's release branch.
    Rollback(&'a Rollback),
    /// A promotion to the channel: the channel promoted from, and the candidate made.
    Promote {
        from: &'a str,
        branch: &'a str,
        commit: &'a str,
    },
    /// Objects of the channel's release that the cluster no longer holds as released, and live
    /// objects labelled for the channel that the release does not hold.
    Drift {
        drifted: Vec<String>,
        orphans: Vec<String>,
    },
}

/// What happened, as a message says it.
pub struct Message<'a> {
    pub channel: &'a str,
    pub subject: Subject<'a>,
    /// The release commit the message is about (for a promotion: none yet).
    pub release: Option<&'a str>,
    /// Per app, the images it runs (its versions).
    pub versions: &'a BTreeMap<String, Vec<String>>,
    pub ci: &'a CiEnv,
}

/// The kind of event a message tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Apply,
    Rollback,
    Promote,
    Drift,
}

/// A message's fields: the generic webhook's JSON body and the template's context (the same
/// names). Absent fields are left out.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fields {
    pub event: EventKind,
    pub channel: String,
    /// `succeeded`, `failed`, `timed-out`, `checks failed` (an apply), `rolled back`,
    /// `promoted`, `drifted`.
    pub result: &'static str,
    /// An apply's counts (e.g. `2 created, 1 updated`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Why an apply stopped before it had a report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release_commit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_commit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_source_commit: Option<String>,
    /// GitHub's compare view of the source commits this apply brought.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compare_url: Option<String>,
    /// Per app, the images it runs.
    pub apps: BTreeMap<String, Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// A rollback: the release rolled back from, and the earlier one whose tree it restores.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rolled_back_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rolled_back_to: Option<String>,
    /// A promotion: the channel promoted from and the candidate branch made for this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promoted_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate_branch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate_commit: Option<String>,
    /// Drift: the objects (`Kind/namespace/name`) that differ from the release, and the
    /// orphans.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drifted: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub orphans: Vec<String>,
}

impl Message<'_> {
    pub fn fields(&self) -> Fields {
        let report = match &self.subject {
            Subject::Apply(Ok(report)) => Some(*report),
            _ => None,
        };
        let (event, result) = match &self.subject {
            Subject::Apply(Ok(report)) => (EventKind::Apply, report.result.as_str()),
            Subject::Apply(Err(_)) => (EventKind::Apply, ApplyResult::Failed.as_str()),
            Subject::Rollback(_) => (EventKind::Rollback, "rolled back"),
            Subject::Promote { .. } => (EventKind::Promote, "promoted"),
            Subject::Drift { .. } => (EventKind::Drift, "drifted"),
        };
        let source_commit = match &self.subject {
            Subject::Rollback(rollback) => rollback.source_commit.clone(),
            _ => report.and_then(|r| r.source_commit.clone()),
        };
        let mut fields = Fields {
            event,
            channel: self.channel.to_string(),
            result,
            summary: report.map(|r| r.summary.to_string()),
            error: None,
            release_commit: self.release.map(str::to_string),
            source_commit,
            previous_source_commit: report.and_then(|r| r.previous_source_commit.clone()),
            compare_url: report.and_then(|r| self.compare_link(r)),
            apps: self.versions.clone(),
            run_url: self.ci.run_url.clone(),
            actor: self.ci.actor.clone().or_else(|| self.ci.user.clone()),
            rolled_back_from: None,
            rolled_back_to: None,
            promoted_from: None,
            candidate_branch: None,
            candidate_commit: None,
            drifted: Vec::new(),
            orphans: Vec::new(),
        };
        match &self.subject {
            Subject::Apply(Ok(_)) => {}
            Subject::Apply(Err(why)) => fields.error = Some(why.to_string()),
            Subject::Rollback(rollback) => {
                fields.rolled_back_from = Some(rollback.from.clone());
                fields.rolled_back_to = Some(rollback.to.clone());
            }
            Subject::Promote {
                from,
                branch,
                commit,
            } => {
                fields.promoted_from = Some(from.to_string());
                fields.candidate_branch = Some(branch.to_string());
                fields.candidate_commit = Some(commit.to_string());
            }
            Subject::Drift { drifted, orphans } => {
                fields.drifted = drifted.clone();
                fields.orphans = orphans.clone();
            }
        }
        fields
    }

    /// The source changes this apply brought: GitHub's compare view of the two source commits.
    fn compare_link(&self, report: &Report) -> Option<String> {
        let (old, new) = (
            report.previous_source_commit.as_deref()?,
            report.source_commit.as_deref()?,
        );
        let server = self.ci.server_url.as_deref()?.trim_end_matches('/');
        let repository = self.ci.repository.as_deref()?;
        (old != new).then(|| format!("{server}/{repository}/compare/{old}...{new}"))
    }
}

impl Fields {
    /// The message's text, from `templates/notify.md.j2` (Markdown as Slack, Zulip and Teams
    /// all read it).
    pub fn text(&self) -> String {
        let mut env = minijinja::Environment::new();
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build();
        env.set_syntax(syntax.expect("the default delimiters are valid"));
        env.add_filter("short", |id: String| short_id(&id).to_string());
        env.add_template("notify.md.j2", include_str!("../templates/notify.md.j2"))
            .expect("berth's own template parses");
        let text = env
            .get_template("notify.md.j2")
            .and_then(|t| t.render(minijinja::Value::from(minijinja::value::Serde(self))))
            .expect("berth's own template renders");
        text.trim_end().to_string()
    }
}

/// Whether an apply is worth a message: a dry run and an apply that changed nothing are not.
pub fn worth_telling(report: &Report) -> bool {
    !report.dry_run && report.result != ApplyResult::NoChanges
}

/// Per app, the images its objects run: the versions a message names.
pub fn versions_of(objects: &[TreeObject]) -> BTreeMap<String, Vec<String>> {
    let mut versions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for object in objects {
        let Some(app) = &object.app else { continue };
        let mut body = object.body.clone();
        crate::object::image::visit_images(&mut body, &mut |image| {
            versions
                .entry(app.clone())
                .or_default()
                .insert(image.clone());
        });
    }
    versions
        .into_iter()
        .map(|(app, images)| (app, images.into_iter().collect()))
        .collect()
}

/// Tell every chat of `targets`; failures are reported to `reporter` as warnings.
pub fn send(
    targets: &[Notify],
    message: &Message<'_>,
    retry: Retry,
    reporter: &dyn Reporter,
) -> Vec<Notification> {
    if targets.is_empty() {
        return Vec::new();
    }
    let fields = message.fields();
    let text = fields.text();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let client = crate::github::http_client();
    let notifications: Vec<Notification> = targets
        .iter()
        .map(|target| {
            let delivered = match (&runtime, &client) {
                (Ok(runtime), Ok(client)) => {
                    deliver(runtime, client, target, &fields, &text, retry)
                }
                (Err(e), _) => (0, Err(format!("cannot start the HTTP client: {e}"))),
                (_, Err(problem)) => (0, Err(problem.message.clone())),
            };
            let (attempts, result) = delivered;
            Notification {
                target: describe(target),
                attempts,
                delivery: match result {
                    Ok(()) => Delivery::Sent,
                    Err(why) => Delivery::Failed(why),
                },
            }
        })
        .collect();
    for notification in &notifications {
        if matches!(notification.delivery, Delivery::Failed(_)) {
            reporter.report(&Event::Warning(format!("warning: {notification}")));
        }
    }
    notifications
}

/// `slack (SLACK_WEBHOOK_URL)`, `zulip (ZULIP_URL)`: the chat without its address.
fn describe(target: &Notify) -> String {
    match target {
        Notify::Slack { webhook_env } => format!("slack ({webhook_env})"),
        Notify::Zulip {
            url_env, stream, ..
        } => format!("zulip ({url_env}, stream {stream})"),
        Notify::Teams { webhook_env } => format!("teams ({webhook_env})"),
        Notify::Webhook { url_env } => format!("webhook ({url_env})"),
    }
}

/// The generic webhook's body: the message's fields, and its text as the template renders it.
#[derive(Serialize)]
struct WebhookBody<'a> {
    /// The body's shape: raised when a field changes meaning or goes.
    version: u32,
    #[serde(flatten)]
    fields: &'a Fields,
    text: &'a str,
}

/// A request to make: URL, content type, body and the credentials of `Authorization`.
struct Post {
    url: String,
    content_type: &'static str,
    body: Vec<u8>,
    authorization: Option<String>,
    /// What no message may show: the URL, the key.
    hidden: Vec<String>,
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map(|v| v.trim().to_string())
        .ok_or_else(|| format!("{name} is not set"))
}

/// A JSON POST to the URL in the variable `url_env`, which holds the only credential.
fn json_post(url_env: &str, body: &impl Serialize) -> Result<Post, String> {
    let url = env(url_env)?;
    Ok(Post {
        hidden: vec![url.clone()],
        url,
        content_type: "application/json",
        body: serde_json::to_vec(body).expect("JSON values serialize"),
        authorization: None,
    })
}

fn post_of(target: &Notify, fields: &Fields, text: &str) -> Result<Post, String> {
    match target {
        // Slack's documented shape: `text` for notifications, `blocks` for the layout.
        Notify::Slack { webhook_env } => json_post(
            webhook_env,
            &serde_json::json!({
                "text": text,
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
            }),
        ),
        // The Workflows webhook's documented shape: a message with one Adaptive Card.
        Notify::Teams { webhook_env } => json_post(
            webhook_env,
            &serde_json::json!({
                "type": "message",
                "attachments": [{
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "contentUrl": null,
                    "content": {
                        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                        "type": "AdaptiveCard",
                        "version": "1.4",
                        "body": [{"type": "TextBlock", "text": text, "wrap": true}],
                    },
                }],
            }),
        ),
        Notify::Webhook { url_env } => json_post(
            url_env,
            &WebhookBody {
                fields,
                text,
                version: 1,
            },
        ),
        Notify::Zulip {
            url_env,
            email_env,
            api_key_env,
            stream,
            topic,
        } => {
            let site = env(url_env)?;
            let email = env(email_env)?;
            let key = env(api_key_env)?;
            let topic = topic.replace("{channel}", &fields.channel);
            let body = form(&[
                ("type", "stream"),
                ("to", stream),
                ("topic", &topic),
                ("content", text),
            ]);
            let credentials =
                base64::engine::general_purpose::STANDARD.encode(format!("{email}:{key}"));
            Ok(Post {
                url: format!("{}/api/v1/messages", site.trim_end_matches('/')),
                content_type: "application/x-www-form-urlencoded",
                body: body.into_bytes(),
                authorization: Some(format!("Basic {credentials}")),
                hidden: vec![site, key, credentials],
            })
        }
    }
}

/// `application/x-www-form-urlencoded`.
fn form(fields: &[(&str, &str)]) -> String {
    let encode = |text: &str| {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Send to one chat, retrying failures that may pass (no answer, 5xx, 429); the attempts made
/// and how it ended.
fn deliver(
    runtime: &tokio::runtime::Runtime,
    client: &crate::github::HttpClient,
    target: &Notify,
    fields: &Fields,
    text: &str,
    retry: Retry,
) -> (u32, Result<(), String>) {
    let post = match post_of(target, fields, text) {
        Ok(post) => post,
        Err(why) => return (0, Err(why)),
    };
    let mut backoff = retry.backoff;
    let mut attempt = 1;
    loop {
        let result = runtime.block_on(once(client, &post, retry.timeout));
        let again = match &result {
            Ok(status) if status.is_success() => return (attempt, Ok(())),
            Ok(status) => status.is_server_error() || status.as_u16() == 429,
            Err(_) => true,
        };
        if !again || attempt >= retry.attempts {
            let why = match result {
                Ok(status) => format!("the chat answered {status}"),
                Err(why) => why,
            };
            return (
                attempt,
                Err(crate::secret::scrub_values(&why, &post.hidden)),
            );
        }
        std::thread::sleep(backoff);
        backoff *= 2;
        attempt += 1;
    }
}

async fn once(
    client: &crate::github::HttpClient,
    post: &Post,
    timeout: Duration,
) -> Result<hyper::StatusCode, String> {
    let mut request = Request::post(&post.url)
        .header("content-type", post.content_type)
        .header("user-agent", concat!("berth/", env!("CARGO_PKG_VERSION")));
    if let Some(authorization) = &post.authorization {
        let mut value = HeaderValue::from_str(authorization)
            .map_err(|_| "the credentials hold characters a header cannot".to_string())?;
        value.set_sensitive(true);
        request = request.header("authorization", value);
    }
    let request = request
        .body(Full::new(Bytes::from(post.body.clone())))
        .map_err(|_| "the URL is not a valid http(s) URL".to_string())?;
    let work = async {
        let response = client
            .request(request)
            .await
            .map_err(|e| format!("no answer: {}", error_chain(&e)))?;
        let status = response.status();
        // Read the answer to its end so the connection is reused; its text is not needed.
        let _ = response.into_body().collect().await;
        Ok(status)
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| format!("no answer within {}", humantime::format_duration(timeout)))?
}

/// An error and its causes, on one line (hyper's own message is only "client error").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// Why an apply stopped, as one line fit for a chat message.
pub fn summary_of(problems: &Problems) -> String {
    let first = problems
        .0
        .first()
        .map(|p| p.message.lines().next().unwrap_or_default())
        .unwrap_or_default();
    match problems.0.len() {
        0 | 1 => first.to_string(),
        n => format!("{first} (and {} more)", n - 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A drift of orphans only: `drifted` is empty, so left out of the fields.
    #[test]
    fn a_drift_of_orphans_only_is_told() {
        let versions = BTreeMap::new();
        let ci = CiEnv::default();
        let message = Message {
            channel: "test",
            subject: Subject::Drift {
                drifted: Vec::new(),
                orphans: vec!["ConfigMap/shop/old".into()],
            },
            release: Some("0123456789abcdef0123456789abcdef01234567"),
            versions: &versions,
            ci: &ci,
        };
        let text = message.fields().text();
        assert!(
            text.starts_with(
                "berth drift test `0123456789ab`: 0 objects drifted, 1 not in the release"
            ),
            "{text}"
        );
    }

    #[test]
    fn forms_are_encoded_as_browsers_do() {
        assert_eq!(
            form(&[("to", "deploys"), ("content", "a b&c=d\n✓")]),
            "to=deploys&content=a+b%26c%3Dd%0A%E2%9C%93"
        );
    }
}
