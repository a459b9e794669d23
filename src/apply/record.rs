//! The release record: what was applied to a channel, by whom, when, and how it went. Kept in
//! the cluster as a ConfigMap `berth-release-<channel>` (later applies read its inventory to
//! prune), and in git as a note on the release commit (`refs/notes/berth/<channel>`).

use crate::cluster::plan::TreeObject;
use crate::error::Problem;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Result {
    Succeeded,
    Failed,
    TimedOut,
}

impl Result {
    pub fn as_str(self) -> &'static str {
        match self {
            Result::Succeeded => "succeeded",
            Result::Failed => "failed",
            Result::TimedOut => "timed-out",
        }
    }
}

/// A release record.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub channel: String,
    /// The release commit applied.
    pub release: String,
    pub source_commit: Option<String>,
    pub source_branch: Option<String>,
    pub applied_at: String,
    pub applied_by: String,
    pub run: Option<String>,
    pub result: String,
    /// Tree key → apiVersion of every object berth manages in the channel.
    pub inventory: BTreeMap<String, String>,
}

pub fn name(channel: &str) -> String {
    format!("berth-release-{channel}")
}

impl Record {
    /// The inventory as objects to look up (enough for a GET or a DELETE).
    pub fn objects(&self) -> Vec<TreeObject> {
        self.inventory
            .iter()
            .filter_map(|(key, api_version)| {
                let mut parts = key.splitn(3, '/');
                let (namespace, kind_group, name) = (parts.next()?, parts.next()?, parts.next()?);
                let kind = kind_group.split('.').next()?;
                let mut metadata = json!({"name": name});
                if namespace != crate::render::CLUSTER_DIR {
                    metadata["namespace"] = json!(namespace);
                }
                Some(TreeObject {
                    key: key.clone(),
                    app: None,
                    body: json!({"apiVersion": api_version, "kind": kind, "metadata": metadata}),
                })
            })
            .collect()
    }

    fn to_configmap(&self, namespace: &str) -> Value {
        let inventory: String = self
            .inventory
            .iter()
            .map(|(key, api_version)| format!("{key} {api_version}\n"))
            .collect();
        let mut data = json!({
            "channel": self.channel,
            "release": self.release,
            "appliedAt": self.applied_at,
            "appliedBy": self.applied_by,
            "result": self.result,
            "inventory": inventory,
        });
        for (field, value) in [
            ("sourceCommit", &self.source_commit),
            ("sourceBranch", &self.source_branch),
            ("run", &self.run),
        ] {
            if let Some(value) = value {
                data[field] = json!(value);
            }
        }
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": name(&self.channel),
                "namespace": namespace,
                "labels": {
                    crate::render::postprocess::LABEL_MANAGED_BY: "berth",
                    crate::render::postprocess::LABEL_CHANNEL: self.channel,
                },
            },
            "data": data,
        })
    }

    fn from_configmap(map: &ConfigMap) -> Option<Record> {
        let data = map.data.as_ref()?;
        let get = |k: &str| data.get(k).cloned();
        let inventory = data
            .get("inventory")
            .map(|text| {
                text.lines()
                    .filter_map(|line| line.split_once(' '))
                    .map(|(key, version)| (key.to_string(), version.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        Some(Record {
            channel: get("channel")?,
            release: get("release")?,
            source_commit: get("sourceCommit"),
            source_branch: get("sourceBranch"),
            applied_at: get("appliedAt").unwrap_or_default(),
            applied_by: get("appliedBy").unwrap_or_default(),
            run: get("run"),
            result: get("result").unwrap_or_default(),
            inventory,
        })
    }

    /// A one-paragraph summary, for the git note.
    pub fn summary(&self, counts: &str) -> String {
        let mut text = format!(
            "berth apply {}: {}\n\nrelease: {}\n",
            self.channel, self.result, self.release
        );
        if let Some(source) = &self.source_commit {
            text.push_str(&format!("source: {source}\n"));
        }
        if let Some(branch) = &self.source_branch {
            text.push_str(&format!("branch: {branch}\n"));
        }
        text.push_str(&format!(
            "applied: {} by {}\n",
            self.applied_at, self.applied_by
        ));
        if let Some(run) = &self.run {
            text.push_str(&format!("run: {run}\n"));
        }
        text.push_str(&format!("objects: {}\n{counts}\n", self.inventory.len()));
        text
    }
}

/// The channel's last release record, if there is one.
pub async fn read(
    client: &Client,
    namespace: &str,
    channel: &str,
) -> std::result::Result<Option<Record>, Problem> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let found = api.get_opt(&name(channel)).await.map_err(|e| {
        Problem::new(format!(
            "cannot read the release record {namespace}/{}: {}",
            name(channel),
            crate::cluster::short_error(&e)
        ))
    })?;
    Ok(found.as_ref().and_then(Record::from_configmap))
}

/// Write (server-side apply) the release record.
pub async fn write(
    client: &Client,
    namespace: &str,
    record: &Record,
) -> std::result::Result<(), Problem> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let params = PatchParams::apply(crate::cluster::FIELD_MANAGER).force();
    api.patch(
        &name(&record.channel),
        &params,
        &Patch::Apply(&record.to_configmap(namespace)),
    )
    .await
    .map_err(|e| {
        Problem::new(format!(
            "cannot write the release record {namespace}/{}: {}",
            name(&record.channel),
            crate::cluster::short_error(&e)
        ))
    })?;
    Ok(())
}

/// Add (or replace) the note of `commit` under `refs/notes/berth/<channel>`.
pub fn write_note(
    repo: &git2::Repository,
    channel: &str,
    commit: git2::Oid,
    text: &str,
) -> std::result::Result<(), Problem> {
    let signature = repo
        .signature()
        .or_else(|_| git2::Signature::now("berth", "berth@localhost"))
        .map_err(|e| Problem::new(format!("cannot sign the release note: {}", e.message())))?;
    repo.note(
        &signature,
        &signature,
        Some(&notes_ref(channel)),
        commit,
        text,
        true,
    )
    .map_err(|e| Problem::new(format!("cannot write the release note: {}", e.message())))?;
    Ok(())
}

pub fn notes_ref(channel: &str) -> String {
    format!("refs/notes/berth/{channel}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_their_configmap() {
        let record = Record {
            channel: "test".into(),
            release: "abc".into(),
            source_commit: Some("def".into()),
            source_branch: None,
            applied_at: "2026-11-22T02:00:00Z".into(),
            applied_by: "me".into(),
            run: None,
            result: "succeeded".into(),
            inventory: [
                (
                    "shop/Deployment.apps/web".to_string(),
                    "apps/v1".to_string(),
                ),
                ("_cluster/Namespace/shop".to_string(), "v1".to_string()),
            ]
            .into(),
        };
        let map: ConfigMap = serde_json::from_value(record.to_configmap("berth-system")).unwrap();
        assert_eq!(Record::from_configmap(&map).unwrap(), record);
        let objects = record.objects();
        assert_eq!(
            objects[0].body,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
        );
        assert_eq!(objects[1].namespace(), Some("shop"));
        assert_eq!(objects[1].kind(), "Deployment");
    }
}
