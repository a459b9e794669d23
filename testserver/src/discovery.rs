//! The served resources (from the recorded aggregated discovery) and the discovery documents,
//! including groups added by established CustomResourceDefinitions.

use std::sync::OnceLock;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::recorded::recorded;

/// A served resource.
#[derive(Clone, Debug)]
pub struct Resource {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    pub verbs: Vec<String>,
    pub subresources: Vec<String>,
    /// Served from a CustomResourceDefinition.
    pub custom: bool,
}

impl Resource {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `deployments.apps`, `services` (as in NotFound messages).
    pub fn group_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `Deployment.apps`, `Service` (as in Invalid messages).
    pub fn group_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    pub fn has_status(&self) -> bool {
        self.subresources.iter().any(|s| s == "status")
    }
}

static BUILTINS: OnceLock<Vec<Resource>> = OnceLock::new();

/// Every built-in resource the recorded server serves.
pub fn builtins() -> &'static [Resource] {
    BUILTINS.get_or_init(|| {
        let mut out = Vec::new();
        let rec = recorded();
        for doc in [&rec.aggregated_api, &rec.aggregated_apis] {
            for item in doc["items"].as_array().into_iter().flatten() {
                let group = item
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                for ver in item["versions"].as_array().into_iter().flatten() {
                    let version = ver["version"].as_str().unwrap_or_default();
                    for r in ver["resources"].as_array().into_iter().flatten() {
                        out.push(Resource {
                            group: group.to_string(),
                            version: version.to_string(),
                            plural: r["resource"].as_str().unwrap_or_default().to_string(),
                            singular: r["singularResource"]
                                .as_str()
                                .unwrap_or_default()
                                .to_string(),
                            kind: r
                                .pointer("/responseKind/kind")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_string(),
                            namespaced: r["scope"].as_str() == Some("Namespaced"),
                            verbs: strings(&r["verbs"]),
                            subresources: r["subresources"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .filter_map(|s| s["subresource"].as_str().map(String::from))
                                .collect(),
                            custom: false,
                        });
                    }
                }
            }
        }
        out
    })
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(String::from))
        .collect()
}

/// Whether a CRD object has the Established condition.
pub fn crd_established(crd: &Value) -> bool {
    crd.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Established" && c["status"] == "True")
        })
        && crd.pointer("/metadata/deletionTimestamp").is_none()
}

/// The resources an (established) CRD serves.
pub fn crd_resources(crd: &Value) -> Vec<Resource> {
    let spec = &crd["spec"];
    let group = spec["group"].as_str().unwrap_or_default();
    let names = &spec["names"];
    spec["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["served"].as_bool() != Some(false))
        .map(|v| Resource {
            group: group.to_string(),
            version: v["name"].as_str().unwrap_or_default().to_string(),
            plural: names["plural"].as_str().unwrap_or_default().to_string(),
            singular: names["singular"]
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| names["kind"].as_str().unwrap_or_default().to_lowercase()),
            kind: names["kind"].as_str().unwrap_or_default().to_string(),
            namespaced: spec["scope"].as_str() != Some("Cluster"),
            verbs: [
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "create",
                "update",
                "watch",
            ]
            .map(String::from)
            .to_vec(),
            subresources: if v.pointer("/subresources/status").is_some() {
                vec!["status".into()]
            } else {
                vec![]
            },
            custom: true,
        })
        .collect()
}

fn storage_version_hash(r: &Resource) -> String {
    use base64::Engine;
    let digest = Sha256::digest(format!("{}/{}", r.api_version(), r.kind).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(&digest[..8])
}

fn group_versions(custom: &[Resource]) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for r in custom {
        match out.iter_mut().find(|(g, _)| *g == r.group) {
            Some((_, vs)) => {
                if !vs.contains(&r.version) {
                    vs.push(r.version.clone());
                }
            }
            None => out.push((r.group.clone(), vec![r.version.clone()])),
        }
    }
    out
}

fn is_builtin_group(g: &str) -> bool {
    builtins().iter().any(|r| r.group == g)
}

/// Legacy `/apis`.
pub fn apis(custom: &[Resource]) -> Value {
    let mut doc = recorded().discovery["/apis"].clone();
    if let Some(groups) = doc["groups"].as_array_mut() {
        for (g, vs) in group_versions(custom) {
            if is_builtin_group(&g) {
                continue;
            }
            groups.push(api_group(&g, &vs));
        }
    }
    doc
}

fn api_group(g: &str, vs: &[String]) -> Value {
    let versions: Vec<Value> = vs
        .iter()
        .map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
        .collect();
    json!({"name": g, "versions": versions.clone(), "preferredVersion": versions[0]})
}

/// Legacy `/apis/<group>`.
pub fn group(g: &str, custom: &[Resource]) -> Option<Value> {
    if let Some(found) = recorded().discovery["/apis"]["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|x| x["name"] == g)
    {
        let mut v = found.clone();
        let m = v.as_object_mut()?;
        let mut out = serde_json::Map::new();
        out.insert("kind".into(), json!("APIGroup"));
        out.insert("apiVersion".into(), json!("v1"));
        out.extend(std::mem::take(m));
        return Some(Value::Object(out));
    }
    let (_, vs) = group_versions(custom).into_iter().find(|(x, _)| x == g)?;
    let mut v = api_group(g, &vs);
    let m = v.as_object_mut()?;
    let mut out = serde_json::Map::new();
    out.insert("kind".into(), json!("APIGroup"));
    out.insert("apiVersion".into(), json!("v1"));
    out.extend(std::mem::take(m));
    Some(Value::Object(out))
}

/// Legacy `/api/v1` or `/apis/<group>/<version>`.
pub fn group_version(g: &str, v: &str, custom: &[Resource]) -> Option<Value> {
    let path = if g.is_empty() {
        format!("/api/{v}")
    } else {
        format!("/apis/{g}/{v}")
    };
    if let Some(doc) = recorded().discovery.get(&path) {
        return Some(doc.clone());
    }
    let rs: Vec<&Resource> = builtins()
        .iter()
        .chain(custom.iter())
        .filter(|r| r.group == g && r.version == v)
        .collect();
    if rs.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for r in rs {
        resources.push(json!({
            "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind,
            "verbs": r.verbs, "storageVersionHash": storage_version_hash(r),
        }));
        for s in &r.subresources {
            resources.push(json!({
                "name": format!("{}/{s}", r.plural), "singularName": "", "namespaced": r.namespaced,
                "kind": r.kind, "verbs": ["get", "patch", "update"],
            }));
        }
    }
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": if g.is_empty() { v.to_string() } else { format!("{g}/{v}") }, "resources": resources}),
    )
}

/// Aggregated `/api`.
pub fn aggregated_api() -> Value {
    recorded().aggregated_api.clone()
}

/// Aggregated `/apis`, with CRD groups.
pub fn aggregated_apis(custom: &[Resource]) -> Value {
    let mut doc = recorded().aggregated_apis.clone();
    if let Some(items) = doc["items"].as_array_mut() {
        for (g, vs) in group_versions(custom) {
            if is_builtin_group(&g) {
                continue;
            }
            let versions: Vec<Value> = vs
                .iter()
                .map(|v| {
                    let resources: Vec<Value> = custom
                        .iter()
                        .filter(|r| r.group == g && &r.version == v)
                        .map(|r| {
                            let mut e = json!({
                                "resource": r.plural,
                                "responseKind": {"group": "", "version": "", "kind": r.kind},
                                "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
                                "singularResource": r.singular,
                                "verbs": r.verbs,
                            });
                            if r.has_status() {
                                e["subresources"] = json!([{"subresource": "status", "responseKind": {"group": "", "version": "", "kind": r.kind}, "verbs": ["get", "patch", "update"]}]);
                            }
                            e
                        })
                        .collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            items.push(json!({"metadata": {"name": g}, "versions": versions}));
        }
    }
    doc
}
