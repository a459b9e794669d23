//! Diff: compare two states of an object as canonical YAML (Secret values masked), and two
//! rendered trees object by object. It knows nothing of config or of the cluster.

use crate::error::Problem;
use crate::object::{LAST_APPLIED, ObjectKey};
use crate::plan::{Action, ObjectChange, Plan};
use crate::secret::masked_texts;
use crate::tree::{NamedTree, RenderedTree};
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

/// The offline diff: `target` against the rendered tree `base` (e.g. the release branch).
pub fn offline(
    channel: &str,
    base: &NamedTree,
    target: NamedTree,
    context: usize,
) -> Result<Plan, Problem> {
    Ok(Plan {
        channel: channel.to_string(),
        base: base.name.clone(),
        objects: compare_trees(&base.tree, &target.tree, context)?,
        requests: None,
        target: target.name,
        source_commit: target.source_commit,
        tree_commit: target.commit,
    })
}

/// Compare the objects of two rendered trees (`base` → `target`), file by file.
pub fn compare_trees(
    base: &RenderedTree,
    target: &RenderedTree,
    context: usize,
) -> Result<Vec<ObjectChange>, Problem> {
    let (base_apps, target_apps) = (base.apps_of()?, target.apps_of()?);
    let (old_files, new_files) = (base.object_files()?, target.object_files()?);
    let keys: BTreeSet<&ObjectKey> = old_files.keys().chain(new_files.keys()).collect();
    let text = |files: &BTreeMap<ObjectKey, &[u8]>, key: &ObjectKey| {
        files
            .get(key)
            .map(|b| String::from_utf8_lossy(b).into_owned())
    };
    let mut changes = Vec::with_capacity(keys.len());
    for key in keys {
        let app = target_apps.get(key).or_else(|| base_apps.get(key)).cloned();
        let (old, new) = (text(&old_files, key), text(&new_files, key));
        let action = match (&old, &new) {
            (Some(o), Some(n)) if o == n => Action::Unchanged,
            (Some(_), Some(_)) => Action::Update,
            (None, Some(_)) => Action::Create,
            (Some(_), None) => Action::Delete,
            (None, None) => unreachable!("the key came from one of the trees"),
        };
        let mut change = ObjectChange::new(key.clone(), app, action);
        if action != Action::Unchanged {
            let (old, new) = if key.is_secret() {
                masked_texts(old.as_deref(), new.as_deref())
            } else {
                (old, new)
            };
            change.diff = Some(unified(
                &key.tree_path(),
                old.as_deref(),
                new.as_deref(),
                context,
            ));
        }
        changes.push(change);
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        let changes = compare_trees(&base, &target, 3).unwrap();
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
