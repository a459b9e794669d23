//! Secrets: their values never reach a report, a message or a request berth did not need.
//! Masking for diffs (`***`, `*** (before)`, `*** (after)`, as kubectl does) and scrubbing of
//! messages. External secret sources will live beside this.

use crate::object::is_secret;
use serde_json::Value;

/// Replace the values of a Secret pair as kubectl does: `***` where a key is on one side or
/// unchanged, `*** (before)` / `*** (after)` where it changed, so that a change still shows.
/// Annotations that repeat a value (as it is, decoded from base64, or JSON-escaped), e.g. a copy
/// a controller or a hand-written manifest keeps, are masked the same way.
pub fn mask_secret_pair(mut before: Option<&mut Value>, mut after: Option<&mut Value>) {
    let mut secrets = secret_values(before.as_deref());
    secrets.extend(secret_values(after.as_deref()));
    mask_annotations(before.as_deref_mut(), after.as_deref_mut(), &secrets);
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

/// Mask the annotations of a Secret pair that contain one of `secrets`.
fn mask_annotations(before: Option<&mut Value>, after: Option<&mut Value>, secrets: &[String]) {
    let annotations = |side: &Option<&mut Value>| {
        side.as_deref()
            .and_then(|v| v.pointer("/metadata/annotations"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let (old, new) = (annotations(&before), annotations(&after));
    let embeds = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .is_some_and(|t| secrets.iter().any(|s| t.contains(s.as_str())))
    };
    let masked = |key: &str| embeds(old.get(key)) || embeds(new.get(key));
    let changed = |key: &str| matches!((old.get(key), new.get(key)), (Some(a), Some(b)) if a != b);
    for (side, label) in [(before, "*** (before)"), (after, "*** (after)")] {
        let map = side
            .and_then(|v| v.pointer_mut("/metadata/annotations"))
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
