//! Diff: compare two states of an object as canonical YAML, Secret values masked.

use crate::plan::{Action, ObjectChange};
use crate::tree::{RELEASE_FILE, RenderedTree};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Default lines of context around a change, as `diff -u`.
pub const DEFAULT_CONTEXT: usize = 3;

/// A unified diff from `old` to `new` (`None` for a side that does not exist).
pub fn unified(path: &str, old: Option<&str>, new: Option<&str>, context: usize) -> String {
    let old_name = if old.is_some() {
        format!("a/{path}")
    } else {
        "/dev/null".into()
    };
    let new_name = if new.is_some() {
        format!("b/{path}")
    } else {
        "/dev/null".into()
    };
    similar::TextDiff::from_lines(old.unwrap_or(""), new.unwrap_or(""))
        .unified_diff()
        .context_radius(context)
        .header(&old_name, &new_name)
        .to_string()
}

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

/// A core-group Secret.
pub fn is_secret(object: &Value) -> bool {
    object["kind"] == "Secret" && object["apiVersion"] == "v1"
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
        let group = crate::render::kinds::group_of(api_version);
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
pub fn desired_for_apply(desired: &Value, live: Option<&Value>, rules: &[IgnoreRule]) -> Value {
    let mut object = desired.clone();
    let secret = is_secret(desired);
    for path in ignored_paths(desired, rules) {
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
    object
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

/// The annotation `kubectl apply` leaves behind: it repeats the whole object, Secrets included.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// What the API server adds that says nothing about the desired state: dropped before comparing.
pub fn normalize(object: &mut Value) {
    if let Some(Value::Object(meta)) = object.get_mut("metadata") {
        for field in [
            "managedFields",
            "resourceVersion",
            "uid",
            "generation",
            "creationTimestamp",
            "selfLink",
        ] {
            meta.shift_remove(field);
        }
        if let Some(Value::Object(annotations)) = meta.get_mut("annotations") {
            annotations.shift_remove(LAST_APPLIED);
            if annotations.is_empty() {
                meta.shift_remove("annotations");
            }
        }
    }
    if let Value::Object(map) = object {
        map.shift_remove("status");
    }
    crate::yaml::canonicalize_object(object);
}

/// Compare the objects of two rendered trees (`base` → `target`), file by file.
pub fn compare_trees(
    base: &RenderedTree,
    target: &RenderedTree,
    context: usize,
) -> Vec<ObjectChange> {
    let base_apps = apps_of(base);
    let target_apps = apps_of(target);
    let paths: BTreeSet<&String> = base
        .files
        .keys()
        .chain(target.files.keys())
        .filter(|p| !p.starts_with(".berth/"))
        .collect();
    let mut changes = Vec::with_capacity(paths.len());
    for path in paths {
        let key = path.strip_suffix(".yaml").unwrap_or(path).to_string();
        let app = target_apps
            .get(&key)
            .or_else(|| base_apps.get(&key))
            .cloned();
        let old = base
            .files
            .get(path)
            .map(|b| String::from_utf8_lossy(b).into_owned());
        let new = target
            .files
            .get(path)
            .map(|b| String::from_utf8_lossy(b).into_owned());
        let action = match (&old, &new) {
            (Some(o), Some(n)) if o == n => Action::Unchanged,
            (Some(_), Some(_)) => Action::Update,
            (None, Some(_)) => Action::Create,
            (Some(_), None) => Action::Delete,
            (None, None) => unreachable!("the path came from one of the trees"),
        };
        let mut change = ObjectChange::new(key, app, action);
        if action != Action::Unchanged {
            let (old, new) = if is_secret_path(path) {
                masked_texts(old.as_deref(), new.as_deref())
            } else {
                (old, new)
            };
            change.diff = Some(unified(path, old.as_deref(), new.as_deref(), context));
        }
        changes.push(change);
    }
    changes
}

/// `<namespace>/Secret/<name>.yaml`: a core-group Secret.
fn is_secret_path(path: &str) -> bool {
    path.split('/').nth(1) == Some("Secret")
}

/// Both sides of a Secret as YAML with their values masked.
fn masked_texts(old: Option<&str>, new: Option<&str>) -> (Option<String>, Option<String>) {
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

/// Object key → app, from a tree's `.berth/release.yaml`.
pub fn apps_of(tree: &RenderedTree) -> BTreeMap<String, String> {
    let mut apps = BTreeMap::new();
    let Some(bytes) = tree.files.get(RELEASE_FILE) else {
        return apps;
    };
    let Ok(release) = crate::yaml::from_str::<Value>(&String::from_utf8_lossy(bytes)) else {
        return apps;
    };
    if let Some(map) = release["apps"].as_object() {
        for (app, entry) in map {
            for key in entry["objects"].as_array().into_iter().flatten() {
                if let Some(key) = key.as_str() {
                    apps.insert(key.to_string(), app.clone());
                }
            }
        }
    }
    apps
}

#[cfg(test)]
mod tests {
    use super::*;
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

    #[test]
    fn normalize_drops_server_bookkeeping() {
        let mut live = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "uid": "u",
            "resourceVersion": "1", "generation": 2, "creationTimestamp": "t", "managedFields": [],
            "annotations": {LAST_APPLIED: "{}"}}, "data": {"k": "v"}, "status": {}});
        normalize(&mut live);
        assert_eq!(
            live,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}})
        );
    }

    #[test]
    fn unified_diffs_name_both_sides() {
        let text = unified(
            "ns/ConfigMap/a.yaml",
            Some("a: 1\nb: 2\n"),
            Some("a: 1\nb: 3\n"),
            3,
        );
        assert!(
            text.starts_with("--- a/ns/ConfigMap/a.yaml\n+++ b/ns/ConfigMap/a.yaml\n"),
            "{text}"
        );
        assert!(text.contains("-b: 2\n+b: 3\n"), "{text}");
        let created = unified("x.yaml", None, Some("a: 1\n"), 3);
        assert!(
            created.starts_with("--- /dev/null\n+++ b/x.yaml\n"),
            "{created}"
        );
    }

    #[test]
    fn trees_compare_object_by_object() {
        let tree = |files: &[(&str, &str)]| RenderedTree {
            files: files
                .iter()
                .map(|(p, c)| (p.to_string(), c.as_bytes().to_vec()))
                .collect(),
        };
        let base = tree(&[
            (
                ".berth/release.yaml",
                "apps:\n  web:\n    objects: [ns/ConfigMap/a, ns/ConfigMap/gone]\n",
            ),
            ("ns/ConfigMap/a.yaml", "data: 1\n"),
            ("ns/ConfigMap/same.yaml", "data: 1\n"),
            ("ns/ConfigMap/gone.yaml", "data: 1\n"),
            ("ns/Secret/s.yaml", "kind: Secret\ndata:\n  k: YQ==\n"),
        ]);
        let target = tree(&[
            (
                ".berth/release.yaml",
                "apps:\n  web:\n    objects: [ns/ConfigMap/a, ns/ConfigMap/new]\n",
            ),
            ("ns/ConfigMap/a.yaml", "data: 2\n"),
            ("ns/ConfigMap/same.yaml", "data: 1\n"),
            ("ns/ConfigMap/new.yaml", "data: 1\n"),
            ("ns/Secret/s.yaml", "kind: Secret\ndata:\n  k: Yg==\n"),
        ]);
        let changes = compare_trees(&base, &target, 3);
        let summary: Vec<(&str, Action, Option<&str>)> = changes
            .iter()
            .map(|c| (c.key.as_str(), c.action, c.app.as_deref()))
            .collect();
        assert_eq!(
            summary,
            [
                ("ns/ConfigMap/a", Action::Update, Some("web")),
                ("ns/ConfigMap/gone", Action::Delete, Some("web")),
                ("ns/ConfigMap/new", Action::Create, Some("web")),
                ("ns/ConfigMap/same", Action::Unchanged, None),
                ("ns/Secret/s", Action::Update, None),
            ]
        );
        let secret_diff = changes[4].diff.as_deref().unwrap();
        assert!(
            secret_diff.contains("-  k: '*** (before)'")
                || secret_diff.contains("-  k: \"*** (before)\""),
            "{secret_diff}"
        );
        assert!(
            !secret_diff.contains("YQ==") && !secret_diff.contains("Yg=="),
            "{secret_diff}"
        );
    }
}
