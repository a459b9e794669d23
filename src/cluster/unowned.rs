//! Whether objects absent from berth's labelled LISTs exist at all: one unlabelled LIST per
//! (resource, namespace) instead of a GET per object before a first apply. Server-side apply
//! has no create-only precondition, so an object of that name that berth does not own
//! (another tool's, or another project's) must be seen before it is applied over. Only the
//! objects of the names asked about are kept from the answer: the rest (other tools' objects,
//! possibly big) are dropped as it is decoded.

use super::Cluster;
use crate::object::{ObjectKey, TreeObject};
use futures_util::StreamExt;
use kube::api::ListParams;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

/// One LIST: the objects of one apiVersion and kind in one namespace (none: cluster-scoped).
type Group = (String, String, Option<String>);

/// An object looked for: its apiVersion, and its key.
pub type Sought<'a> = (&'a str, &'a ObjectKey);

/// The live objects of one LIST among the names asked about, by name.
type LiveByName = HashMap<String, Value>;

/// One LIST's answer: the names asked about, and the live objects among them.
type Listing = (BTreeSet<String>, LiveByName);

/// What the unlabelled LISTs said of the objects asked about.
#[derive(Debug, Default)]
pub struct Unowned {
    /// The LISTs that answered: the names asked about, and the live objects among them.
    listed: HashMap<Group, Listing>,
    /// LISTs that failed or could not be decoded, and why: their objects are read with a GET
    /// each.
    failed: Vec<(Group, String)>,
    /// The failures among the groups of the absent objects, as warnings (see `complete`).
    pub warnings: Vec<String>,
}

/// What the unlabelled LISTs know of one object.
#[derive(Debug, Clone, Copy)]
pub enum Found<'a> {
    /// Not listed (alone in its group, not asked about, or its LIST failed): a GET tells.
    Unknown,
    /// Listed, and nothing of that name exists.
    Missing,
    /// The live object of that name, whoever's it is.
    Live(&'a Value),
}

impl Unowned {
    pub fn found(&self, object: &TreeObject) -> Found<'_> {
        match self
            .listed
            .get(&group_of((object.api_version(), &object.key)))
        {
            Some((asked, live)) if asked.contains(object.name()) => {
                live.get(object.name()).map_or(Found::Missing, Found::Live)
            }
            _ => Found::Unknown,
        }
    }

    /// These LISTs (asked before it was known which objects are absent), with the groups of
    /// `absent` not asked yet listed too; the warnings are the failures among `absent`'s.
    pub async fn complete(
        mut self,
        cluster: &Cluster,
        absent: &[&TreeObject],
        concurrency: usize,
    ) -> Unowned {
        let asked = |group: &Group| {
            self.listed.contains_key(group) || self.failed.iter().any(|(g, _)| g == group)
        };
        let absent: Vec<Sought> = absent.iter().map(|o| (o.api_version(), &o.key)).collect();
        let rest: Vec<Sought> = absent
            .iter()
            .copied()
            .filter(|&sought| !asked(&group_of(sought)))
            .collect();
        let more = list_unowned(cluster, &rest, concurrency).await;
        self.listed.extend(more.listed);
        self.failed.extend(more.failed);
        let groups: BTreeSet<Group> = absent.into_iter().map(group_of).collect();
        self.warnings = self
            .failed
            .iter()
            .filter(|(group, _)| groups.contains(group))
            .map(|(_, warning)| warning.clone())
            .collect();
        self.warnings.sort();
        self
    }
}

fn group_of((api_version, key): Sought) -> Group {
    (
        api_version.to_string(),
        key.kind().to_string(),
        key.namespace().map(str::to_string),
    )
}

/// List, without a label selector, each (apiVersion, kind, namespace) of `objects` that holds
/// two objects or more: for a single one its GET is as cheap.
pub async fn list_unowned(
    cluster: &Cluster,
    objects: &[Sought<'_>],
    concurrency: usize,
) -> Unowned {
    let mut groups: BTreeMap<Group, BTreeSet<String>> = BTreeMap::new();
    for &(api_version, key) in objects {
        groups
            .entry(group_of((api_version, key)))
            .or_default()
            .insert(key.name().to_string());
    }
    let answers: Vec<Option<(Group, Result<Listing, String>)>> =
        futures_util::stream::iter(groups.into_iter().filter(|(_, names)| names.len() > 1))
            .map(|(group, names)| async move {
                let (api_version, kind, namespace) = &group;
                let (resource, _) = cluster.resolve(api_version, kind)?;
                let answer = list(cluster, resource, namespace.as_deref(), &names)
                    .await
                    .map(|live| (names.clone(), live))
                    .map_err(|why| {
                        let place = namespace
                            .as_deref()
                            .map_or("cluster-wide".to_string(), |ns| format!("in namespace {ns}"));
                        format!(
                            "warning: cannot list {kind} ({api_version}) {place}: {why}; its {} object(s) not labelled for this channel are read with a GET each",
                            names.len()
                        )
                    });
                Some((group, answer))
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
    let mut unowned = Unowned::default();
    for (group, answer) in answers.into_iter().flatten() {
        match answer {
            Ok(listing) => {
                unowned.listed.insert(group, listing);
            }
            // Said as warnings by `complete`, for the groups that turn out to matter.
            Err(warning) => unowned.failed.push((group, warning)),
        }
    }
    unowned
}

/// One LIST, keeping the objects named `names` (as a GET returns them).
async fn list(
    cluster: &Cluster,
    resource: &kube::api::ApiResource,
    namespace: Option<&str>,
    names: &BTreeSet<String>,
) -> Result<LiveByName, String> {
    let request = super::list_request(resource, namespace, &ListParams::default())
        .map_err(|e| crate::error::kube_error(&e))?;
    let text = cluster
        .client
        .request_text(request)
        .await
        .map_err(|e| crate::error::kube_error(&e))?;
    let items = Named { names, resource }
        .deserialize(&mut serde_json::Deserializer::from_str(&text))
        .map_err(|e| format!("cannot decode its answer: {e}"))?;
    Ok(items)
}

/// Decodes a LIST's answer keeping only the items named in `names`, one item at a time.
#[derive(Clone, Copy)]
struct Named<'a> {
    names: &'a BTreeSet<String>,
    resource: &'a kube::api::ApiResource,
}

impl<'de> DeserializeSeed<'de> for Named<'_> {
    type Value = LiveByName;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Named<'_> {
    type Value = LiveByName;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of objects")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut kept = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "items" {
                kept = Some(map.next_value_seed(Items(self))?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        // Without its items, the answer says nothing: not "none exists".
        kept.ok_or_else(|| serde::de::Error::missing_field("items"))
    }
}

struct Items<'a>(Named<'a>);

impl<'de> DeserializeSeed<'de> for Items<'_> {
    type Value = LiveByName;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Items<'_> {
    type Value = LiveByName;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the list's items")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Self::Value, A::Error> {
        let Named { names, resource } = self.0;
        let mut kept = HashMap::new();
        while let Some(item) = items.next_element::<Value>()? {
            let Some(name) = item["metadata"]["name"]
                .as_str()
                .filter(|n| names.contains(*n))
                .map(str::to_string)
            else {
                continue;
            };
            kept.insert(name, super::listed_object(item, resource));
        }
        Ok(kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::api::{ApiResource, GroupVersionKind};
    use serde_json::json;

    #[test]
    fn only_the_objects_asked_about_are_kept_as_their_get_returns_them() {
        let resource = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("", "v1", "ConfigMap"),
            "configmaps",
        );
        let item = |name: &str| {
            json!({"metadata": {"name": name, "namespace": "demo", "resourceVersion": "7",
                "labels": {"app": "x"}}, "data": {"big": "…"}})
        };
        let answer = json!({"kind": "ConfigMapList", "apiVersion": "v1",
            "metadata": {"resourceVersion": "9"},
            "items": [item("theirs"), item("web-config"), item("dashboard")]})
        .to_string();
        let names: BTreeSet<String> = ["web-config".into(), "web-flags".into()].into();
        let kept = Named {
            names: &names,
            resource: &resource,
        }
        .deserialize(&mut serde_json::Deserializer::from_str(&answer))
        .unwrap();
        assert_eq!(kept.keys().collect::<Vec<_>>(), ["web-config"]);
        let live = &kept["web-config"];
        assert_eq!(
            (&live["apiVersion"], &live["kind"]),
            (&json!("v1"), &json!("ConfigMap"))
        );
        assert_eq!(live["metadata"]["labels"], json!({"app": "x"}));
        assert_eq!(live["data"], json!({"big": "…"}));
        // An answer that is not a list is an error, not an empty answer.
        for wrong in ["[1]", r#"{"kind": "Status"}"#] {
            let decoded = Named {
                names: &names,
                resource: &resource,
            }
            .deserialize(&mut serde_json::Deserializer::from_str(wrong));
            assert!(decoded.is_err(), "{wrong}");
        }
    }
}
