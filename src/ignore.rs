//! Ignore rules: fields berth leaves alone in the objects a rule matches (`ignore:` in
//! berth.yaml), and the field paths and JSON pointers that name them.

use crate::object::{group_of, is_secret};
use serde_json::Value;
use std::borrow::Cow;

/// Fields berth leaves alone in the objects a rule matches: never shown in a diff, never applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IgnoreRule {
    pub kind: Option<String>,
    pub group: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    /// Each path as its segments (`["spec", "replicas"]`).
    pub paths: Vec<Vec<String>>,
}

impl IgnoreRule {
    fn matches(&self, object: &Value) -> bool {
        let api_version = object["apiVersion"].as_str().unwrap_or("");
        let group = group_of(api_version);
        let meta = &object["metadata"];
        let field = |v: &Value| v.as_str().unwrap_or("").to_string();
        let name_matches = |pattern: &str, name: &str| match pattern.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => pattern == name,
        };
        self.kind
            .as_deref()
            .is_none_or(|k| k == field(&object["kind"]))
            && self.group.as_deref().is_none_or(|g| g == group)
            && self
                .namespace
                .as_deref()
                .is_none_or(|n| n == field(&meta["namespace"]))
            && self
                .name
                .as_deref()
                .is_none_or(|n| name_matches(n, &field(&meta["name"])))
    }
}

/// Remove from `object` every field the matching `rules` name (for comparing).
pub fn apply_ignore_rules(object: &mut Value, rules: &[IgnoreRule]) {
    for path in ignored_paths(object, rules) {
        remove_path(object, &path);
    }
}

/// Whether any of `rules` applies to `object`.
pub fn is_ignored_anywhere(object: &Value, rules: &[IgnoreRule]) -> bool {
    rules.iter().any(|r| r.matches(object))
}

fn ignored_paths(object: &Value, rules: &[IgnoreRule]) -> Vec<Vec<String>> {
    rules
        .iter()
        .filter(|r| r.matches(object))
        .flat_map(|r| r.paths.iter().cloned())
        .collect()
}

/// What to send to the API server for `desired`: ignored fields carry their live value, or are
/// left out when there is none. Sending the live value keeps berth's ownership and changes
/// nothing; leaving out a field berth owned would let the server reset it (replicas to 1).
/// Borrowed when no rule touches `desired` (most objects: no copy of each).
pub fn desired_for_apply<'a>(
    desired: &'a Value,
    live: Option<&Value>,
    rules: &[IgnoreRule],
) -> Cow<'a, Value> {
    let paths = ignored_paths(desired, rules);
    if paths.is_empty() {
        return Cow::Borrowed(desired);
    }
    let mut object = desired.clone();
    let secret = is_secret(desired);
    for path in paths {
        // A Secret's values never travel in berth's requests, not even copied back.
        let secret_value = secret
            && matches!(
                path.first().map(String::as_str),
                Some("data" | "stringData")
            );
        match live
            .and_then(|l| get_path(l, &path))
            .filter(|_| !secret_value)
        {
            Some(value) => set_path(&mut object, &path, value.clone()),
            None => remove_path(&mut object, &path),
        }
    }
    Cow::Owned(object)
}

fn get_path<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter()
        .try_fold(value, |current, segment| match current {
            Value::Object(map) => map.get(segment),
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?),
            _ => None,
        })
}

fn set_path(value: &mut Value, path: &[String], new: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    match parent_mut(value, parents, true) {
        Some(Value::Object(map)) => {
            map.insert(last.clone(), new);
        }
        Some(Value::Array(items)) => {
            if let Some(slot) = last.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                *slot = new;
            }
        }
        _ => {}
    }
}

/// The value at `parents` below `value`; with `create`, missing map entries are added.
fn parent_mut<'a>(value: &'a mut Value, parents: &[String], create: bool) -> Option<&'a mut Value> {
    parents
        .iter()
        .try_fold(value, |current, segment| match current {
            Value::Object(map) => {
                if create && !map.contains_key(segment) {
                    map.insert(segment.clone(), Value::Object(Default::default()));
                }
                map.get_mut(segment)
            }
            Value::Array(items) => items.get_mut(segment.parse::<usize>().ok()?),
            _ => None,
        })
}

fn remove_path(value: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    match parent_mut(value, parents, false) {
        Some(Value::Object(map)) => {
            map.shift_remove(last);
        }
        Some(Value::Array(items)) => {
            if let Some(i) = last.parse::<usize>().ok().filter(|i| *i < items.len()) {
                items.remove(i);
            }
        }
        _ => {}
    }
}

/// Parse a JSON pointer (`/metadata/annotations/a~1b`) or a field path
/// (`.spec.replicas`, `spec.containers[0].image`, `.metadata.annotations["a/b"]`).
pub fn parse_field_path(path: &str) -> Result<Vec<String>, String> {
    if let Some(pointer) = path.strip_prefix('/') {
        return Ok(pointer
            .split('/')
            .map(|s| s.replace("~1", "/").replace("~0", "~"))
            .collect());
    }
    let mut segments = Vec::new();
    let mut rest = path.strip_prefix('.').unwrap_or(path);
    while !rest.is_empty() {
        if let Some(bracketed) = rest.strip_prefix('[') {
            let end = bracketed.find(']').ok_or("a `[` is not closed")?;
            let inner = &bracketed[..end];
            let key = inner
                .strip_prefix('"')
                .and_then(|k| k.strip_suffix('"'))
                .unwrap_or(inner);
            segments.push(key.to_string());
            rest = &bracketed[end + 1..];
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            if end == 0 {
                return Err("it has an empty part".into());
            }
            segments.push(rest[..end].to_string());
            rest = &rest[end..];
        }
        rest = rest.strip_prefix('.').unwrap_or(rest);
    }
    if segments.is_empty() {
        return Err("it is empty".into());
    }
    Ok(segments)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_paths_and_pointers() {
        assert_eq!(
            parse_field_path(".spec.replicas").unwrap(),
            ["spec", "replicas"]
        );
        assert_eq!(
            parse_field_path("/metadata/annotations/a~1b").unwrap(),
            ["metadata", "annotations", "a/b"]
        );
        assert_eq!(
            parse_field_path(".metadata.annotations[\"example.com/x\"]").unwrap(),
            ["metadata", "annotations", "example.com/x"]
        );
        assert_eq!(
            parse_field_path("spec.containers[0].image").unwrap(),
            ["spec", "containers", "0", "image"]
        );
        assert!(parse_field_path(".a..b").is_err());
        assert!(parse_field_path(".a[0").is_err());
    }

    #[test]
    fn ignore_rules_remove_fields_of_matching_objects_only() {
        let rule = IgnoreRule {
            kind: Some("Deployment".into()),
            name: Some("web*".into()),
            paths: vec![
                parse_field_path(".spec.replicas").unwrap(),
                parse_field_path(".spec.template.spec.containers[0].image").unwrap(),
            ],
            ..Default::default()
        };
        let mut web = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web-1"},
            "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}});
        apply_ignore_rules(&mut web, std::slice::from_ref(&rule));
        assert_eq!(
            web["spec"],
            json!({"template": {"spec": {"containers": [{"name": "a"}]}}})
        );
        let mut api = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"}, "spec": {"replicas": 3}});
        apply_ignore_rules(&mut api, &[rule]);
        assert_eq!(api["spec"]["replicas"], 3);
    }

    #[test]
    fn ignored_fields_are_sent_with_their_live_value() {
        let rule = IgnoreRule {
            kind: Some("Deployment".into()),
            paths: vec![
                parse_field_path(".spec.replicas").unwrap(),
                parse_field_path(".metadata.annotations.x").unwrap(),
            ],
            ..Default::default()
        };
        let desired = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 1, "paused": false}});
        let live = json!({"metadata": {"name": "web", "annotations": {"x": "from-live"}}, "spec": {"replicas": 7}});
        let sent = desired_for_apply(&desired, Some(&live), std::slice::from_ref(&rule));
        assert_eq!(sent["spec"], json!({"replicas": 7, "paused": false}));
        assert_eq!(sent["metadata"]["annotations"], json!({"x": "from-live"}));
        let created = desired_for_apply(&desired, None, &[rule]);
        assert_eq!(created["spec"], json!({"paused": false}));
    }
}
