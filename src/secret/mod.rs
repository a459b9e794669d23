//! Secrets: their values never reach a report, a message or a request berth did not need.
//! Masking for diffs (`***`, `*** (before)`, `*** (after)`, as kubectl does) and scrubbing of
//! messages. External secret sources are in [`external`].

pub mod external;
pub mod placeholder;

use crate::object::{
    LABEL_APP, LABEL_CHANNEL, LABEL_MANAGED_BY, LABEL_PROJECT, PRUNE_ANNOTATION, is_secret,
};
use serde_json::Value;

/// The labels and annotations of a Secret whose values a diff shows: berth's own, the
/// recommended `app.kubernetes.io/` labels, and the service account a token Secret is for.
/// Every other value is masked: a label or annotation may hold a copy of a value, an older value
/// or a value of its own (a controller's, a hand-written manifest's), and none of it is known
/// to be safe to show.
pub const SHOWN_SECRET_METADATA: &[&str] = &[
    LABEL_MANAGED_BY,
    LABEL_PROJECT,
    LABEL_CHANNEL,
    LABEL_APP,
    PRUNE_ANNOTATION,
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "kubernetes.io/service-account.name",
];

/// Replace the values of a Secret pair as kubectl does: `***` where a key is on one side or
/// unchanged, `*** (before)` / `*** (after)` where it changed, so that a change still shows.
/// Label and annotation values are masked the same way, except those of
/// [`SHOWN_SECRET_METADATA`] that repeat no value (as it is, decoded from base64, or
/// JSON-escaped).
pub fn mask_secret_pair(mut before: Option<&mut Value>, mut after: Option<&mut Value>) {
    let mut secrets = secret_values(before.as_deref());
    secrets.extend(secret_values(after.as_deref()));
    for field in ["labels", "annotations"] {
        mask_metadata(before.as_deref_mut(), after.as_deref_mut(), field, &secrets);
    }
    for field in ["data", "stringData"] {
        let values = |side: &Option<&mut Value>| {
            side.as_deref()
                .and_then(|v| v.get(field))
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default()
        };
        let (old, new) = (values(&before), values(&after));
        let changed =
            |key: &str| matches!((old.get(key), new.get(key)), (Some(a), Some(b)) if a != b);
        mask_side(before.as_deref_mut(), field, "*** (before)", &changed);
        mask_side(after.as_deref_mut(), field, "*** (after)", &changed);
    }
}

/// A message about `object` fit for any report: on one line, and, for a Secret, with every
/// value of it (as in `data`, decoded, or escaped) replaced by `***`.
pub fn scrub(message: &str, object: &Value) -> String {
    let mut text = message.split_whitespace().collect::<Vec<_>>().join(" ");
    if is_secret(object) {
        for value in secret_values(Some(object)) {
            text = text.replace(&value, "***");
        }
    }
    text
}

/// Words that mark a values key (`db.password`, `apiToken`) as holding a secret.
const SECRET_KEY_WORDS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "credential",
    "apikey",
    "api_key",
    "privatekey",
    "private_key",
    "auth",
    "dsn",
];

/// The values of `values` (a tree of chart values) held under a key that names a secret, as
/// text: what a tool's error must not repeat.
pub fn secret_like_values(values: &Value) -> Vec<String> {
    fn walk(value: &Value, secret: bool, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let key = key.to_lowercase();
                    let named = SECRET_KEY_WORDS.iter().any(|w| key.contains(w));
                    walk(child, secret || named, out);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, secret, out)),
            Value::String(text) if secret => out.push(text.clone()),
            Value::Number(_) | Value::Bool(_) if secret => out.push(value.to_string()),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(values, false, &mut out);
    out
}

/// A tool's output with every one of `secrets` replaced by `***`, longest first (so a value
/// that contains another is masked whole). Values shorter than 4 characters are left: masking
/// every `1` or `on` would garble the message, and such a value is no secret worth the name.
pub fn scrub_values(text: &str, secrets: &[String]) -> String {
    let mut secrets: Vec<&String> = secrets.iter().filter(|s| s.trim().len() >= 4).collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut text = text.to_string();
    for secret in secrets {
        text = text.replace(secret.as_str(), "***");
    }
    text
}

/// The `user:password` of `scheme://user:password@host/…`, if any.
pub fn userinfo(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    authority.rfind('@').map(|at| &authority[..at])
}

/// Every `scheme://user:password@host` in `text` as `scheme://***@host`.
pub fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let authority_end = tail
            .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace())
            .unwrap_or(tail.len());
        match tail[..authority_end].rfind('@') {
            Some(userinfo_end) => {
                out.push_str("***");
                rest = &tail[userinfo_end..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

/// `url` without its `user:password@`: how a repository URL is recorded and shown.
pub fn without_userinfo(url: &str) -> String {
    match userinfo(url) {
        Some(info) => url.replacen(&format!("{info}@"), "", 1),
        None => url.to_string(),
    }
}

/// Every value of a Secret side in the forms it can take in an annotation; never empty ones.
fn secret_values(side: Option<&Value>) -> Vec<String> {
    use base64::Engine;
    let mut values = Vec::new();
    for (field, encoded) in [("data", true), ("stringData", false)] {
        let map = side.and_then(|v| v.get(field)).and_then(Value::as_object);
        for text in map
            .into_iter()
            .flat_map(|m| m.values())
            .filter_map(Value::as_str)
        {
            let mut forms = vec![text.to_string()];
            if encoded && let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(text) {
                forms.push(String::from_utf8_lossy(&bytes).into_owned());
            }
            for form in forms {
                let escaped = serde_json::to_string(&form).expect("strings serialize");
                values.push(escaped[1..escaped.len() - 1].to_string());
                values.push(form);
            }
        }
    }
    values.retain(|v| !v.trim().is_empty());
    values
}

/// Mask the values of `metadata.<field>` (labels or annotations) of a Secret pair, but those
/// shown that contain none of `secrets`.
fn mask_metadata(
    before: Option<&mut Value>,
    after: Option<&mut Value>,
    field: &str,
    secrets: &[String],
) {
    let pointer = format!("/metadata/{field}");
    let values = |side: &Option<&mut Value>| {
        side.as_deref()
            .and_then(|v| v.pointer(&pointer))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let (old, new) = (values(&before), values(&after));
    let embeds = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .is_some_and(|t| secrets.iter().any(|s| t.contains(s.as_str())))
    };
    let masked = |key: &str| {
        !SHOWN_SECRET_METADATA.contains(&key) || embeds(old.get(key)) || embeds(new.get(key))
    };
    let changed = |key: &str| matches!((old.get(key), new.get(key)), (Some(a), Some(b)) if a != b);
    for (side, label) in [(before, "*** (before)"), (after, "*** (after)")] {
        let map = side
            .and_then(|v| v.pointer_mut(&pointer))
            .and_then(Value::as_object_mut);
        for (key, value) in map.into_iter().flatten() {
            if masked(key) {
                let text = if changed(key) { label } else { "***" };
                *value = Value::String(text.to_string());
            }
        }
    }
}

fn mask_side(side: Option<&mut Value>, field: &str, label: &str, changed: &dyn Fn(&str) -> bool) {
    let map = side
        .and_then(|v| v.get_mut(field))
        .and_then(Value::as_object_mut);
    for (key, value) in map.into_iter().flatten() {
        let masked = if changed(key) { label } else { "***" };
        *value = Value::String(masked.to_string());
    }
}

/// Both sides of a Secret as YAML with their values masked.
pub fn masked_texts(old: Option<&str>, new: Option<&str>) -> (Option<String>, Option<String>) {
    let parse = |t: Option<&str>| -> Option<Value> {
        t.map(|t| {
            crate::yaml::parse_documents(t)
                .ok()
                .and_then(|d| d.into_iter().next())
                .map(|d| d.value)
                .unwrap_or(Value::Null)
        })
    };
    let (mut old, mut new) = (parse(old), parse(new));
    mask_secret_pair(old.as_mut(), new.as_mut());
    (
        old.map(|v| crate::yaml::to_string(&v)),
        new.map(|v| crate::yaml::to_string(&v)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ignore::{IgnoreRule, desired_for_apply, parse_field_path};
    use serde_json::json;

    #[test]
    fn userinfo_is_redacted_wherever_a_url_appears() {
        assert_eq!(
            redact_userinfo("proxy http://me:pa@ss@proxy:3128/x failed; https://host/p"),
            "proxy http://***@proxy:3128/x failed; https://host/p"
        );
        assert_eq!(redact_userinfo("no url here"), "no url here");
        assert_eq!(userinfo("https://u:p@h:1/a@b"), Some("u:p"));
        assert_eq!(without_userinfo("https://u:p@h/r.git"), "https://h/r.git");
        assert_eq!(without_userinfo("git@h:r.git"), "git@h:r.git");
    }

    #[test]
    fn secrets_are_masked_and_changes_still_show() {
        let mut before =
            json!({"kind": "Secret", "data": {"same": "YQ==", "changed": "Yg==", "gone": "Yw=="}});
        let mut after =
            json!({"kind": "Secret", "data": {"same": "YQ==", "changed": "ZA==", "new": "ZQ=="}});
        mask_secret_pair(Some(&mut before), Some(&mut after));
        assert_eq!(
            before["data"],
            json!({"same": "***", "changed": "*** (before)", "gone": "***"})
        );
        assert_eq!(
            after["data"],
            json!({"same": "***", "changed": "*** (after)", "new": "***"})
        );
    }

    #[test]
    fn labels_and_annotations_of_secrets_are_masked_unless_shown() {
        // An annotation keeps an older value (not the current one), a label a value of its own.
        let secret = |password: &str, copy: &str, tier: &str| {
            json!({"kind": "Secret", "metadata": {
                "labels": {"berth.dev/app": "web", "app.kubernetes.io/name": "web", "token": tier},
                "annotations": {"example.com/previous": copy, "kubernetes.io/service-account.name": "builder"}},
                "data": {"password": password}})
        };
        let mut before = secret("bmV3", "b2xkZXI=", "s3cr3t-label");
        let mut after = secret("bmV3ZXI=", "b2xkZXI=", "an0ther-label");
        mask_secret_pair(Some(&mut before), Some(&mut after));
        for (side, changed) in [(&before, "*** (before)"), (&after, "*** (after)")] {
            let text = side.to_string();
            for value in ["b2xkZXI=", "older", "s3cr3t-label", "an0ther-label"] {
                assert!(!text.contains(value), "{value} shown: {text}");
            }
            assert_eq!(side["metadata"]["labels"]["token"], changed);
            assert_eq!(
                side["metadata"]["annotations"]["example.com/previous"],
                "***"
            );
            assert_eq!(side["metadata"]["labels"]["berth.dev/app"], "web");
            assert_eq!(side["metadata"]["labels"]["app.kubernetes.io/name"], "web");
            assert_eq!(
                side["metadata"]["annotations"]["kubernetes.io/service-account.name"],
                "builder"
            );
        }
        // A shown key that repeats a value is masked all the same.
        let mut leaky = json!({"kind": "Secret", "metadata": {"labels": {"app.kubernetes.io/name": "hunter2"}},
            "stringData": {"password": "hunter2"}});
        mask_secret_pair(Some(&mut leaky), None);
        assert_eq!(leaky["metadata"]["labels"]["app.kubernetes.io/name"], "***");
    }

    #[test]
    fn tool_output_is_scrubbed_of_values_under_secret_keys() {
        let values = json!({"db": {"password": "hunter22", "host": "db.svc"},
            "apiToken": "t0k3n-value", "auth": {"users": ["alice:pw1234"]}, "replicas": 2});
        let secrets = secret_like_values(&values);
        assert_eq!(secrets, ["hunter22", "t0k3n-value", "alice:pw1234"]);
        assert_eq!(
            scrub_values(
                "Error: bad password hunter22 for db.svc (alice:pw1234, 2)",
                &secrets
            ),
            "Error: bad password *** for db.svc (***, 2)"
        );
    }

    #[test]
    fn secret_values_are_never_copied_back_or_shown_in_messages() {
        let rule = IgnoreRule {
            kind: Some("Secret".into()),
            paths: vec![parse_field_path(".data").unwrap()],
            ..Default::default()
        };
        let desired = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}});
        let live = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "aHVudGVyMg=="}});
        let sent = desired_for_apply(&desired, Some(&live), &[rule]);
        assert!(sent.get("data").is_none(), "{sent}");
        let message = "invalid value \"aHVudGVyMg==\"\n(hunter2) for data.k";
        assert_eq!(
            scrub(message, &live),
            "invalid value \"***\" (***) for data.k"
        );
    }
}
