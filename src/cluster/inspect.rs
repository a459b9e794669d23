//! Knowing without asking: whether applying an object would change nothing, judged from the
//! live object alone. One labelled LIST per kind replaces a GET and a dry run per object, which
//! makes an unchanged re-apply cheap. The judgement is conservative: whatever is uncertain is
//! left to the server's dry run.

use super::Cluster;
use crate::object::{FIELD_MANAGER, LABEL_CHANNEL, LABEL_PROJECT, ObjectKey, TreeObject};
use futures_util::StreamExt;
use kube::api::ListParams;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What the labelled LISTs said: the live objects of the project's channel, and which kinds
/// were listed in full (so an object of such a kind missing from the answer is not berth's).
#[derive(Debug, Default)]
pub struct Listed {
    live: HashMap<ObjectKey, Value>,
    /// Kinds listed, by (apiVersion, kind): whether they are namespaced.
    kinds: HashMap<(String, String), bool>,
    /// Kinds asked, whether their LIST answered or not.
    asked: BTreeSet<(String, String)>,
    /// LISTs that failed or could not be decoded: their objects are checked one by one.
    pub warnings: Vec<String>,
}

/// What the LISTs know of one object of the tree.
#[derive(Debug, Clone, Copy)]
pub enum Seen<'a> {
    /// Listed, labelled for the project's channel.
    Live(&'a Value),
    /// Its kind was listed and it was not among the answer: it does not exist with berth's
    /// labels (it may still exist without them).
    Absent,
    /// Its kind was not listed (not served, or the LIST failed), or its tree key cannot be
    /// matched with the answer (a namespaced object without a namespace).
    Unknown,
}

impl Listed {
    /// Add what more LISTs said (of other kinds, or another version of a kind).
    pub fn extend(&mut self, more: Listed) {
        self.live.extend(more.live);
        self.kinds.extend(more.kinds);
        self.asked.extend(more.asked);
        self.warnings.extend(more.warnings);
        self.warnings.sort();
    }

    /// Every object the LISTs returned.
    pub fn keys(&self) -> impl Iterator<Item = &ObjectKey> {
        self.live.keys()
    }

    pub fn seen(&self, object: &TreeObject) -> Seen<'_> {
        if let Some(live) = self.live.get(&object.key) {
            // Listed at another version than the tree's: its fields are not comparable.
            return match live["apiVersion"].as_str() == Some(object.api_version()) {
                true => Seen::Live(live),
                false => Seen::Unknown,
            };
        }
        let kind = (object.api_version().to_string(), object.kind().to_string());
        match self.kinds.get(&kind) {
            Some(namespaced) if *namespaced == object.namespace().is_some() => Seen::Absent,
            _ => Seen::Unknown,
        }
    }
}

/// The live objects of `project`'s `channel` among the kinds of `objects`: one labelled LIST
/// per kind, across all namespaces. Other managers' field sets are dropped as the answers come
/// in (only the entries' names are kept, which the take-over from kubectl apply looks at).
pub async fn list_live(
    cluster: &Cluster,
    objects: &[TreeObject],
    project: &str,
    channel: &str,
    concurrency: usize,
) -> Listed {
    list_kinds(cluster, kinds_of(objects), project, channel, concurrency).await
}

/// How many of `objects` there are of each (apiVersion, kind).
pub fn kinds_of(objects: &[TreeObject]) -> BTreeMap<(&str, &str), usize> {
    let mut kinds = BTreeMap::new();
    for object in objects {
        *kinds
            .entry((object.api_version(), object.kind()))
            .or_default() += 1;
    }
    kinds
}

/// The kinds `keys` (from the files' paths, `<ns>/<Kind>.<group>/<name>`) name, with how many
/// objects of each, at the version the cluster serves for each group and kind: they can be
/// listed before the files are parsed. A kind served at several versions is left to its files.
pub fn kinds_named<'a>(
    cluster: &'a Cluster,
    keys: impl IntoIterator<Item = &'a ObjectKey>,
) -> BTreeMap<(&'a str, &'a str), usize> {
    let mut named: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for key in keys {
        *named.entry((key.group(), key.kind())).or_default() += 1;
    }
    named
        .into_iter()
        .filter_map(|((group, kind), count)| {
            Some(((cluster.only_version(group, kind)?, kind), count))
        })
        .collect()
}

/// List the kinds of `objects` that `listed` did not ask (at the versions the files name),
/// once they are parsed: those their paths did not tell (see [`kinds_named`]).
pub async fn list_rest(
    cluster: &Cluster,
    listed: &mut Listed,
    objects: &[TreeObject],
    project: &str,
    channel: &str,
    concurrency: usize,
) {
    let mut more = kinds_of(objects);
    more.retain(|(api_version, kind), _| {
        !listed
            .asked
            .contains(&(api_version.to_string(), kind.to_string()))
    });
    if !more.is_empty() {
        listed.extend(list_kinds(cluster, more, project, channel, concurrency).await);
    }
}

/// [`list_live`] of the kinds named, by (apiVersion, kind), with how many objects of each the
/// tree holds.
pub async fn list_kinds(
    cluster: &Cluster,
    kinds: BTreeMap<(&str, &str), usize>,
    project: &str,
    channel: &str,
    concurrency: usize,
) -> Listed {
    let selector = format!("{LABEL_PROJECT}={project},{LABEL_CHANNEL}={channel}");
    let lists: Vec<_> = futures_util::stream::iter(kinds)
        .map(|((api_version, kind), count)| {
            let selector = selector.clone();
            async move {
                let (resource, caps) = cluster.resolve(api_version, kind)?;
                let namespaced = matches!(caps.scope, kube::discovery::Scope::Namespaced);
                // Across all namespaces (or cluster-wide): one request per kind.
                let params = ListParams::default().labels(&selector);
                let answer = match cluster.list_as::<Items>(resource, None, &params).await {
                    Ok(list) => Ok(list
                        .items
                        .into_iter()
                        .map(|item| {
                            let mut value = super::listed_object(item, resource);
                            drop_other_field_sets(&mut value);
                            value
                        })
                        .collect::<Vec<_>>()),
                    Err(err) => Err(format!(
                        "warning: cannot list {kind} ({api_version}) of channel {channel}: {}; its {count} object(s) are checked one by one (a GET and a dry run each)",
                        crate::error::kube_error(&err)
                    )),
                };
                Some(((api_version, kind, namespaced), answer))
            }
        })
        .buffer_unordered(concurrency.max(1))
        .filter_map(|answer| async move { answer })
        .collect()
        .await;
    let mut listed = Listed::default();
    for ((api_version, kind, namespaced), answer) in lists {
        listed
            .asked
            .insert((api_version.to_string(), kind.to_string()));
        match answer {
            Ok(items) => {
                listed
                    .kinds
                    .insert((api_version.to_string(), kind.to_string()), namespaced);
                for item in items {
                    listed.live.insert(ObjectKey::of(&item), item);
                }
            }
            Err(warning) => listed.warnings.push(warning),
        }
    }
    listed.warnings.sort();
    listed
}

/// A LIST's items, kept as the server sent them.
#[derive(serde::Deserialize)]
struct Items {
    items: Vec<Value>,
}

/// Other managers' field sets are the bulk of a listed object and are never read: drop them.
fn drop_other_field_sets(object: &mut Value) {
    if let Some(Value::Array(entries)) = object.pointer_mut("/metadata/managedFields") {
        for entry in entries {
            if entry["manager"] != FIELD_MANAGER
                && let Value::Object(entry) = entry
            {
                entry.shift_remove("fieldsV1");
            }
        }
    }
}

/// Whether applying `desired` as berth would certainly change nothing in `live`: every field of
/// `desired` holds that value live, and berth owns no field that `desired` leaves out (those
/// would be removed). `false` means "ask the server", not "changed".
pub fn unchanged(desired: &Value, live: &Value) -> bool {
    let Some(owned) = berth_fields(live, desired["apiVersion"].as_str().unwrap_or("")) else {
        return false;
    };
    within(desired, live) && owned_within(owned, desired) && sent_still_owned(desired, owned)
}

/// Every field berth sends is still in its field set: nobody took one over (e.g. edited an
/// atomic map like a Service selector, which moves the whole map to the editor). `apiVersion`,
/// `kind` and the object's name and namespace are never in a field set.
fn sent_still_owned(desired: &Value, owned: &Map<String, Value>) -> bool {
    let Value::Object(fields) = desired else {
        return false;
    };
    fields.iter().all(|(key, value)| match key.as_str() {
        "apiVersion" | "kind" => true,
        "metadata" => {
            let mut rest = value.clone();
            if let Value::Object(meta) = &mut rest {
                meta.remove("name");
                meta.remove("namespace");
            }
            covered(&rest, owned.get("f:metadata"))
        }
        _ => covered(value, owned.get(&format!("f:{key}"))),
    })
}

/// `value` lies within the field-set entry `owned` (an empty entry is a leaf, or an atomic
/// field owned whole).
fn covered(value: &Value, owned: Option<&Value>) -> bool {
    let Some(owned) = owned.and_then(Value::as_object) else {
        // Nothing of it is owned: fine only for an empty map (nothing to send).
        return matches!(value, Value::Object(m) if m.is_empty());
    };
    if owned.keys().all(|k| k == ".") {
        return true;
    }
    match value {
        Value::Object(fields) => fields
            .iter()
            .all(|(key, child)| covered(child, owned.get(&format!("f:{key}")))),
        Value::Array(items) => items.iter().all(|item| {
            owned.iter().any(|(entry, child)| {
                entry_matches(entry, item)
                    && (entry.starts_with("v:") || covered(item, Some(child)))
            })
        }),
        _ => true,
    }
}

/// Whether a list entry of a field set (`k:{…}` or `v:…`) stands for `item`.
fn entry_matches(entry: &str, item: &Value) -> bool {
    if let Some(key) = entry.strip_prefix("k:") {
        matches!(serde_json::from_str::<Value>(key), Ok(Value::Object(key))
            if key.iter().all(|(k, v)| item.get(k).is_none_or(|iv| iv == v)))
    } else if let Some(value) = entry.strip_prefix("v:") {
        serde_json::from_str::<Value>(value).is_ok_and(|v| &v == item)
    } else {
        false
    }
}

/// berth's field set from the live object's managedFields (its Apply entry, recorded for the
/// same apiVersion: another version's field set may name fields differently).
fn berth_fields<'a>(live: &'a Value, api_version: &str) -> Option<&'a Map<String, Value>> {
    live["metadata"]["managedFields"]
        .as_array()?
        .iter()
        .find(|entry| {
            entry["manager"] == FIELD_MANAGER
                && entry["operation"] == "Apply"
                && entry["subresource"].is_null()
                && entry["apiVersion"] == api_version
        })?["fieldsV1"]
        .as_object()
}

/// Every field of `desired` is in `live` with the same value (lists item by item).
fn within(desired: &Value, live: &Value) -> bool {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => d
            .iter()
            .all(|(k, v)| l.get(k).is_some_and(|lv| within(v, lv))),
        (Value::Array(d), Value::Array(l)) => {
            d.len() == l.len() && d.iter().zip(l).all(|(a, b)| within(a, b))
        }
        (Value::Number(d), Value::Number(l)) => d.as_f64() == l.as_f64(),
        (d, l) => d == l,
    }
}

/// Every field in berth's field set (`f:`, `k:`, `v:` entries) is present in `desired`.
fn owned_within(owned: &Map<String, Value>, desired: &Value) -> bool {
    owned.iter().all(|(entry, children)| {
        if entry == "." {
            return true;
        }
        let children = children.as_object();
        let deeper = |value: &Value| children.is_none_or(|c| owned_within(c, value));
        if let Some(name) = entry.strip_prefix("f:") {
            desired.get(name).is_some_and(deeper)
        } else if entry.starts_with("k:") || entry.starts_with("v:") {
            // A key field the item leaves out was defaulted by the server (a port's
            // `protocol: TCP`): it matches, as long as exactly one item does.
            desired.as_array().is_some_and(|items| {
                let mut matching = items.iter().filter(|item| entry_matches(entry, item));
                match (matching.next(), matching.next()) {
                    (Some(item), None) => deeper(item),
                    _ => false,
                }
            })
        } else {
            false
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn live(fields: Value) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "labels": {"a": "1"}, "uid": "u",
                "managedFields": [{"manager": "berth", "operation": "Apply", "apiVersion": "apps/v1", "fieldsV1": fields}]},
            "spec": {"replicas": 2, "strategy": {"type": "RollingUpdate"},
                "template": {"spec": {"containers": [{"name": "web", "image": "x:1", "imagePullPolicy": "IfNotPresent"}]}}}
        })
    }

    fn desired() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "labels": {"a": "1"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "web", "image": "x:1"}]}}}})
    }

    fn owned() -> Value {
        json!({"f:metadata": {"f:labels": {"f:a": {}}}, "f:spec": {"f:replicas": {},
            "f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:name": {}, "f:image": {}}}}}}})
    }

    #[test]
    fn the_same_object_with_server_defaults_is_unchanged() {
        assert!(unchanged(&desired(), &live(owned())));
    }

    #[test]
    fn a_changed_value_is_not() {
        let mut changed = desired();
        changed["spec"]["replicas"] = json!(3);
        assert!(!unchanged(&changed, &live(owned())));
    }

    #[test]
    fn a_field_berth_owns_but_no_longer_sets_is_not() {
        let mut fields = owned();
        fields["f:metadata"]["f:labels"]["f:b"] = json!({});
        assert!(!unchanged(&desired(), &live(fields)));
    }

    #[test]
    fn without_berths_managed_fields_the_server_must_be_asked() {
        let mut object = live(owned());
        object["metadata"]["managedFields"][0]["manager"] = json!("kubectl");
        assert!(!unchanged(&desired(), &object));
    }

    #[test]
    fn a_list_key_with_a_defaulted_field_matches_one_item_only() {
        let mut fields = owned();
        fields["f:spec"]["f:template"]["f:spec"]["f:containers"] = json!({"k:{\"name\":\"web\",\"protocol\":\"TCP\"}": {".": {}, "f:name": {}, "f:image": {}}});
        assert!(unchanged(&desired(), &live(fields.clone())));
        // Two items that both fit the key: uncertain.
        let mut two = desired();
        two["spec"]["template"]["spec"]["containers"] = json!([{"image": "x:1"}, {"image": "x:1"}]);
        let mut object = live(fields);
        object["spec"]["template"]["spec"]["containers"] =
            json!([{"image": "x:1"}, {"image": "x:1"}]);
        assert!(!unchanged(&two, &object));
    }

    #[test]
    fn a_field_taken_over_by_another_manager_is_not_judged() {
        // `kubectl edit` of an atomic map moves the whole map to the editor: berth then owns
        // nothing of it.
        let mut fields = owned();
        fields.as_object_mut().unwrap().remove("f:metadata");
        assert!(!unchanged(&desired(), &live(fields)));
    }

    #[test]
    fn a_field_set_of_another_api_version_is_not_used() {
        let mut object = live(owned());
        object["metadata"]["managedFields"][0]["apiVersion"] = json!("apps/v1beta1");
        assert!(!unchanged(&desired(), &object));
    }

    #[test]
    fn an_extra_item_added_by_someone_else_is_not_judged() {
        let mut object = live(owned());
        object["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "sidecar", "image": "s"}));
        assert!(!unchanged(&desired(), &object));
    }
}
