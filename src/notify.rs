//! Chat notifications after an apply (`notify:` of a channel): Slack incoming webhooks and Zulip
//! streams. Addresses and keys are read from the environment when a message is sent and are
//! never shown: a notification names its chat by kind and variable. A message that cannot be
//! delivered is retried with backoff, then reported as a warning; it never fails the apply.

use crate::ci::CiEnv;
use crate::config::Notify;
use crate::error::Problems;
use crate::release::outcome::{ApplyResult, Delivery, Event, Notification, Report, Reporter};
use crate::tree::short_id;
use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::Bytes;
use hyper::header::HeaderValue;
use std::collections::BTreeMap;
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

/// What happened, as a message says it.
pub struct Message<'a> {
    pub channel: &'a str,
    /// The report, or why the apply stopped before it had one.
    pub outcome: Result<&'a Report, &'a str>,
    pub release: &'a str,
    /// Per app, the images it runs (its versions).
    pub versions: &'a BTreeMap<String, Vec<String>>,
    pub ci: &'a CiEnv,
}

impl Message<'_> {
    /// The message as plain text (Markdown-ish, as Slack and Zulip both read it).
    pub fn text(&self) -> String {
        let result = match self.outcome {
            Ok(report) => format!("{} ({})", report.result, report.summary),
            Err(why) => format!("failed: {why}"),
        };
        let mut text = format!(
            "berth apply {} `{}`: {result}",
            self.channel,
            short_id(self.release)
        );
        let report = self.outcome.ok();
        if let Some(source) = report.and_then(|r| r.source_commit.as_deref()) {
            text.push_str(&format!("\nsource {}", short_id(source)));
        }
        for (app, images) in self.versions {
            text.push_str(&format!("\n• {app}: {}", images.join(", ")));
        }
        if let Some(link) = report.and_then(|r| self.compare_link(r)) {
            text.push_str(&format!("\ncompare: {link}"));
        }
        let by = self.ci.actor.as_deref().or(self.ci.user.as_deref());
        match (&self.ci.run_url, by) {
            (Some(run), Some(by)) => text.push_str(&format!("\nrun: {run} (by {by})")),
            (Some(run), None) => text.push_str(&format!("\nrun: {run}")),
            (None, Some(by)) => text.push_str(&format!("\nby {by}")),
            (None, None) => {}
        }
        text
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

/// Whether an apply is worth a message: a dry run and an apply that changed nothing are not.
pub fn worth_telling(report: &Report) -> bool {
    !report.dry_run && report.result != ApplyResult::NoChanges
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
    let text = message.text();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let client = crate::github::http_client();
    let notifications: Vec<Notification> = targets
        .iter()
        .map(|target| {
            let delivered = match (&runtime, &client) {
                (Ok(runtime), Ok(client)) => {
                    deliver(runtime, client, target, &text, message.channel, retry)
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
    }
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

fn post_of(target: &Notify, text: &str, channel: &str) -> Result<Post, String> {
    match target {
        Notify::Slack { webhook_env } => {
            let url = env(webhook_env)?;
            // Slack's documented shape: `text` for notifications, `blocks` for the layout.
            let body = serde_json::json!({
                "text": text,
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
            });
            Ok(Post {
                hidden: vec![url.clone()],
                url,
                content_type: "application/json",
                body: serde_json::to_vec(&body).expect("JSON values serialize"),
                authorization: None,
            })
        }
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
            let topic = topic.replace("{channel}", channel);
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
    text: &str,
    channel: &str,
    retry: Retry,
) -> (u32, Result<(), String>) {
    let post = match post_of(target, text, channel) {
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

    #[test]
    fn forms_are_encoded_as_browsers_do() {
        assert_eq!(
            form(&[("to", "deploys"), ("content", "a b&c=d\n✓")]),
            "to=deploys&content=a+b%26c%3Dd%0A%E2%9C%93"
        );
    }
}
