//! The release record: what was applied to a channel, by whom, when, and how it went. Kept in
//! the cluster as a ConfigMap `berth-release-<project>.<channel>` (later applies read its
//! inventory to prune), and in git as a note on the release commit (`refs/notes/berth/<channel>`).
//!
//! Records written before projects (`berth-release-<channel>`) are read when the project has
//! none yet, and left in place: the first apply writes the project's own record, and another
//! project with a channel of that name can still read the old one once.

use super::outcome::ApplyResult;
use crate::error::{Problem, kube_error};
use crate::object::{
    FIELD_MANAGER, LABEL_CHANNEL, LABEL_MANAGED_BY, LABEL_PROJECT, ObjectKey, TreeObject,
};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// A release record.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The project (repository) applying; empty in a record written before projects.
    pub project: String,
    pub channel: String,
    /// The release commit applied.
    pub release: String,
    pub source_commit: Option<String>,
    pub source_branch: Option<String>,
    pub applied_at: String,
    pub applied_by: String,
    pub run: Option<String>,
    pub result: ApplyResult,
    /// The checks run after the apply: `<name> <result>` a line.
    pub checks: Option<String>,
    /// How the applied release was chosen: `promote` promotes only a release of the branch.
    pub deploy: Deploy,
    /// Tree key → apiVersion of every object berth manages in the channel.
    pub inventory: BTreeMap<ObjectKey, String>,
    /// A partial apply (`apply --app`): the apps applied; empty when the whole release was.
    pub partial: Vec<String>,
    /// The apps whose objects were not ready when the wait ended.
    pub timed_out: Vec<String>,
}

/// How the applied release was chosen. Records written before this mark read as `Release`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Deploy {
    /// A release of the channel's release branch.
    #[default]
    Release,
    /// A hand-picked ref (`apply --ref`), or a candidate of a hand-picked source
    /// (`candidate --source`): never promoted.
    Manual,
    /// A rollback commit (`berth rollback`): the tree of release `to`, replacing release `from`.
    Rollback { from: String, to: String },
}

impl Deploy {
    pub fn as_str(&self) -> &'static str {
        match self {
            Deploy::Release => "release",
            Deploy::Manual => "manual",
            Deploy::Rollback { .. } => "rollback",
        }
    }
}

/// `berth-release-<project>.<channel>`: channels are DNS labels, so the last `.` splits them.
pub fn name(project: &str, channel: &str) -> String {
    format!("berth-release-{project}.{channel}")
}

/// The name of a record written before projects.
fn legacy_name(channel: &str) -> String {
    format!("berth-release-{channel}")
}

impl Record {
    /// The inventory as objects to look up (enough for a GET or a DELETE).
    pub fn objects(&self) -> Vec<TreeObject> {
        self.inventory
            .iter()
            .map(|(key, api_version)| TreeObject::identity(key.clone(), api_version))
            .collect()
    }

    fn to_configmap(&self, namespace: &str) -> Value {
        let inventory: String = self
            .inventory
            .iter()
            .map(|(key, api_version)| format!("{key} {api_version}\n"))
            .collect();
        let mut data = json!({
            "project": self.project,
            "channel": self.channel,
            "release": self.release,
            "appliedAt": self.applied_at,
            "appliedBy": self.applied_by,
            "result": self.result.as_str(),
            "deploy": self.deploy.as_str(),
            "inventory": inventory,
        });
        if let Deploy::Rollback { from, to } = &self.deploy {
            data["rollbackFrom"] = json!(from);
            data["rollbackTo"] = json!(to);
        }
        for (field, apps) in [("partial", &self.partial), ("timedOut", &self.timed_out)] {
            if !apps.is_empty() {
                data[field] = json!(apps.join(","));
            }
        }
        for (field, value) in [
            ("sourceCommit", &self.source_commit),
            ("sourceBranch", &self.source_branch),
            ("run", &self.run),
            ("checks", &self.checks),
        ] {
            if let Some(value) = value {
                data[field] = json!(value);
            }
        }
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": name(&self.project, &self.channel),
                "namespace": namespace,
                "labels": {
                    LABEL_MANAGED_BY: "berth",
                    LABEL_PROJECT: self.project,
                    LABEL_CHANNEL: self.channel,
                },
            },
            "data": data,
        })
    }

    /// The record a ConfigMap holds; `Ok(None)` when it holds none, `Err` when it is damaged.
    fn from_configmap(map: &ConfigMap) -> Result<Option<Record>, String> {
        let Some(data) = map.data.as_ref() else {
            return Ok(None);
        };
        let get = |k: &str| data.get(k).cloned();
        let list = |k: &str| -> Vec<String> {
            data.get(k)
                .map(|apps| apps.split(',').map(str::to_string).collect())
                .unwrap_or_default()
        };
        let (Some(channel), Some(release)) = (get("channel"), get("release")) else {
            return Ok(None);
        };
        let mut inventory = BTreeMap::new();
        for line in data
            .get("inventory")
            .map(String::as_str)
            .unwrap_or("")
            .lines()
        {
            let (key, version) = line
                .split_once(' ')
                .and_then(|(key, version)| Some((ObjectKey::parse(key)?, version)))
                .ok_or_else(|| {
                    format!("its inventory has a line that names no object: `{line}`")
                })?;
            inventory.insert(key, version.to_string());
        }
        let result = get("result").unwrap_or_default();
        let result = ApplyResult::parse(&result)
            .ok_or_else(|| format!("its result `{result}` is not one berth writes"))?;
        let deploy = match (
            get("deploy").as_deref(),
            get("rollbackFrom"),
            get("rollbackTo"),
        ) {
            (None | Some("release"), _, _) => Deploy::Release,
            (Some("manual"), _, _) => Deploy::Manual,
            (Some("rollback"), Some(from), Some(to)) => Deploy::Rollback { from, to },
            (Some(other), _, _) => {
                return Err(format!(
                    "its deploy `{other}` is not one berth writes (a rollback names rollbackFrom and rollbackTo)"
                ));
            }
        };
        Ok(Some(Record {
            project: get("project").unwrap_or_default(),
            channel,
            release,
            source_commit: get("sourceCommit"),
            source_branch: get("sourceBranch"),
            applied_at: get("appliedAt").unwrap_or_default(),
            applied_by: get("appliedBy").unwrap_or_default(),
            run: get("run"),
            result,
            checks: get("checks"),
            deploy,
            inventory,
            partial: list("partial"),
            timed_out: list("timedOut"),
        }))
    }
}

/// The project's last release record of the channel, if there is one; before the project's
/// first apply, the record of the channel written before projects.
pub async fn read(
    client: &Client,
    namespace: &str,
    project: &str,
    channel: &str,
) -> Result<Option<Record>, Problem> {
    for name in [name(project, channel), legacy_name(channel)] {
        if let Some(record) = read_named(client, namespace, &name).await? {
            return Ok(Some(record));
        }
    }
    Ok(None)
}

async fn read_named(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Option<Record>, Problem> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let found = api.get_opt(name).await.map_err(|e| {
        Problem::new(format!(
            "cannot read the release record {namespace}/{name}: {}",
            kube_error(&e)
        ))
    })?;
    let Some(map) = found else {
        return Ok(None);
    };
    Record::from_configmap(&map).map_err(|why| {
        Problem::new(format!(
            "the release record {namespace}/{name} is damaged: {why}"
        ))
        .hint("berth writes it on every apply; delete it to start the channel's record afresh")
    })
}

/// Write (server-side apply) the release record.
pub async fn write(client: &Client, namespace: &str, record: &Record) -> Result<(), Problem> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let name = name(&record.project, &record.channel);
    api.patch(
        &name,
        &params,
        &Patch::Apply(&record.to_configmap(namespace)),
    )
    .await
    .map_err(|e| {
        Problem::new(format!(
            "cannot write the release record {namespace}/{name}: {}",
            kube_error(&e)
        ))
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_their_configmap() {
        let record = Record {
            project: "acme.shop".into(),
            channel: "test".into(),
            release: "abc".into(),
            source_commit: Some("def".into()),
            source_branch: None,
            applied_at: "2026-11-22T02:00:00Z".into(),
            applied_by: "me".into(),
            run: None,
            result: ApplyResult::ChecksFailed,
            checks: Some("smoke passed\nlogin failed\n".into()),
            deploy: Deploy::Rollback {
                from: "abc".into(),
                to: "012".into(),
            },
            inventory: [
                (
                    ObjectKey::parse("shop/Deployment.apps/web").unwrap(),
                    "apps/v1".to_string(),
                ),
                (
                    ObjectKey::parse("_cluster/Namespace/shop").unwrap(),
                    "v1".to_string(),
                ),
            ]
            .into(),
            partial: vec!["web".into(), "api".into()],
            timed_out: vec!["web".into()],
        };
        let map: ConfigMap = serde_json::from_value(record.to_configmap("berth-system")).unwrap();
        assert_eq!(Record::from_configmap(&map).unwrap().unwrap(), record);
        let objects = record.objects();
        assert_eq!(
            objects[0].body,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
        );
        assert_eq!(objects[1].namespace(), Some("shop"));
        assert_eq!(objects[1].kind(), "Deployment");
    }

    #[test]
    fn a_damaged_record_is_an_error_not_an_empty_inventory() {
        let map = |inventory: &str, result: &str| -> ConfigMap {
            serde_json::from_value(json!({"metadata": {"name": "x"}, "data": {
                "channel": "test", "release": "abc", "result": result, "inventory": inventory}}))
            .unwrap()
        };
        assert!(Record::from_configmap(&map("not-a-key v1\n", "succeeded")).is_err());
        assert!(Record::from_configmap(&map("", "exploded")).is_err());
        let mut rollback = map("", "succeeded");
        rollback
            .data
            .as_mut()
            .unwrap()
            .insert("deploy".into(), "rollback".into());
        // A rollback that does not say what it rolled back is damaged, not a release.
        assert!(Record::from_configmap(&rollback).is_err());
        assert_eq!(
            Record::from_configmap(&map("ns/ConfigMap/a v1\n", "timed-out"))
                .unwrap()
                .unwrap()
                .result,
            ApplyResult::TimedOut
        );
    }
}
