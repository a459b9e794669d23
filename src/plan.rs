//! Plan: the vocabulary of what moving from one state of a channel to another changes, object
//! by object. The offline diff (tree against tree) and the cluster diff (tree against live
//! objects) both produce a [`Plan`]; apply carries it out; `report` prints it.

use crate::error::exit;
use crate::object::{ObjectKey, PRUNE_ANNOTATION};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    /// Removed from the release: pruned on apply.
    Delete,
    Unchanged,
    /// Could not be checked; `error` says why. Never counted as "no changes".
    Error,
}

impl Action {
    pub fn verb(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Unchanged => "unchanged",
            Action::Error => "error",
        }
    }
}

/// Why an object that left the release (or was to be pruned) stays in the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeptReason {
    /// The live object is annotated `berth.dev/prune: disabled`.
    PruneDisabled,
    /// Pruning is off for this apply (no `--prune`, channel `prune: false`).
    PruneOff,
    /// Its app says `prune: false` in berth.yaml: what leaves it is never deleted.
    AppPruneOff { app: String },
    /// The new release failed to apply: the old objects stay (a failed web-v2 keeps web-v1).
    ApplyFailed,
    /// A Namespace or CRD, whose deletion deletes everything in it.
    Cascading { kind: String },
    /// The live object no longer carries this channel's label: it is not berth's to delete.
    NotOwned,
    /// It changed between the check and the delete (the delete's preconditions failed).
    ChangedSinceChecked,
    /// The live object is labelled for another project (repository): never berth's to delete
    /// here, and dropped from this project's inventory.
    OtherProject { project: String },
}

impl KeptReason {
    /// Why, as a sentence for a report.
    pub fn sentence(&self) -> String {
        match self {
            KeptReason::PruneDisabled => format!("annotated {PRUNE_ANNOTATION}: disabled"),
            KeptReason::PruneOff => "left the release; kept (prune is off)".into(),
            KeptReason::AppPruneOff { app } => {
                format!("left the release; kept (app {app} has prune: false)")
            }
            KeptReason::ApplyFailed => "kept: not pruned, applying failed".into(),
            KeptReason::Cascading { kind } => format!(
                "deleting a {kind} deletes everything in it; delete it by hand, or pass --allow-cascading-prune"
            ),
            KeptReason::NotOwned => "no longer carries this channel's label".into(),
            KeptReason::ChangedSinceChecked => "changed since it was checked".into(),
            KeptReason::OtherProject { project } => {
                format!("it belongs to project {project}, not this one")
            }
        }
    }
}

/// One object's part of the plan.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectChange {
    /// `<namespace>/<Kind>.<group>/<name>`, as in the rendered tree.
    pub key: ObjectKey,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    pub action: Action,
    /// Unified diff of the canonical YAML, Secret values masked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// Something the reader should know, e.g. "not validated by the server".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Why the object could not be checked (with `Action::Error`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Left the release but stays (with `Action::Unchanged`); `note` says why.
    #[serde(skip)]
    pub kept: Option<KeptReason>,
    /// Taken over from client-side `kubectl apply`: apply hands that manager's fields to berth
    /// before it applies.
    #[serde(skip)]
    pub adopt: bool,
    /// A Helm hook, which apply runs in its phase rather than as planned:
    /// `pre-install (weight -5)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook: Option<String>,
}

impl ObjectChange {
    pub fn new(key: ObjectKey, app: Option<String>, action: Action) -> Self {
        ObjectChange {
            key,
            app,
            action,
            diff: None,
            note: None,
            error: None,
            kept: None,
            adopt: false,
            hook: None,
        }
    }

    /// An object that left the release but stays, and why.
    pub fn kept(key: ObjectKey, app: Option<String>, reason: KeptReason) -> Self {
        let mut change = ObjectChange::new(key, app, Action::Unchanged);
        change.note = Some(format!("kept: {}", reason.sentence()));
        change.kept = Some(reason);
        change
    }
}

/// How many objects of each action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    pub unchanged: usize,
    pub error: usize,
}

impl Counts {
    pub fn add(&mut self, action: Action) {
        match action {
            Action::Create => self.create += 1,
            Action::Update => self.update += 1,
            Action::Delete => self.delete += 1,
            Action::Unchanged => self.unchanged += 1,
            Action::Error => self.error += 1,
        }
    }

    pub fn changed(&self) -> usize {
        self.create + self.update + self.delete
    }

    /// `2 to create, 1 to update, 0 to delete, 12 unchanged` (and errors, if any).
    pub fn summary(&self) -> String {
        let mut text = format!(
            "{} to create, {} to update, {} to delete, {} unchanged",
            self.create, self.update, self.delete, self.unchanged
        );
        if self.error > 0 {
            text.push_str(&format!(", {} could not be checked", self.error));
        }
        text
    }
}

/// What changes in `channel` going from `base` to `target`.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub channel: String,
    /// What the target is compared with, e.g. `releases/test (1a2b3c4)` or `cluster kind-test`.
    pub base: String,
    /// What is compared, e.g. `candidates/test/feature (5d6e7f8)`.
    pub target: String,
    /// The commit the target tree was rendered from, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_commit: Option<String>,
    /// The commit holding the target tree, when one was named (`diff --tree REV`): a candidate
    /// pull request's head.
    #[serde(skip)]
    pub tree_commit: Option<String>,
    /// Every object of either side, sorted by key; unchanged ones carry no diff.
    pub objects: Vec<ObjectChange>,
    /// Requests made to the API server (a live diff only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests: Option<usize>,
}

impl Plan {
    /// Keep only the objects of `apps` (all when empty), and say so in `target`: a partial
    /// diff (`--app`) shows nothing of other apps, their prune candidates included.
    pub fn only_apps(mut self, apps: &[String]) -> Plan {
        if apps.is_empty() {
            return self;
        }
        self.objects
            .retain(|o| o.app.as_ref().is_some_and(|app| apps.contains(app)));
        let mut names: Vec<&str> = apps.iter().map(String::as_str).collect();
        names.sort_unstable();
        names.dedup();
        self.target = format!("{} (only {})", self.target, names.join(", "));
        self
    }

    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for object in &self.objects {
            counts.add(object.action);
        }
        counts
    }

    /// Counts per app; objects of no known app are under `""`.
    pub fn counts_by_app(&self) -> BTreeMap<String, Counts> {
        let mut by_app: BTreeMap<String, Counts> = BTreeMap::new();
        for object in &self.objects {
            by_app
                .entry(object.app.clone().unwrap_or_default())
                .or_default()
                .add(object.action);
        }
        by_app
    }

    /// `kubectl diff`'s convention: 0 no changes, 1 changes, 2 something could not be checked.
    pub fn exit_code(&self) -> u8 {
        let counts = self.counts();
        if counts.error > 0 {
            exit::ERROR
        } else if counts.changed() > 0 {
            exit::CHANGES
        } else {
            exit::OK
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(actions: &[(&str, Action)]) -> Plan {
        Plan {
            channel: "test".into(),
            base: "a".into(),
            target: "b".into(),
            source_commit: None,
            tree_commit: None,
            objects: actions
                .iter()
                .map(|(app, action)| {
                    let key = ObjectKey::parse("ns/ConfigMap/k").unwrap();
                    ObjectChange::new(key, Some(app.to_string()), *action)
                })
                .collect(),
            requests: None,
        }
    }

    #[test]
    fn exit_codes_follow_kubectl_diff() {
        assert_eq!(plan(&[("a", Action::Unchanged)]).exit_code(), 0);
        assert_eq!(
            plan(&[("a", Action::Unchanged), ("a", Action::Delete)]).exit_code(),
            1
        );
        assert_eq!(
            plan(&[("a", Action::Create), ("b", Action::Error)]).exit_code(),
            2
        );
        assert_eq!(plan(&[]).exit_code(), 0);
    }

    #[test]
    fn counts_by_app() {
        let by_app = plan(&[
            ("a", Action::Create),
            ("a", Action::Unchanged),
            ("b", Action::Update),
        ])
        .counts_by_app();
        assert_eq!(by_app["a"].create, 1);
        assert_eq!(by_app["a"].unchanged, 1);
        assert_eq!(by_app["b"].update, 1);
    }
}
