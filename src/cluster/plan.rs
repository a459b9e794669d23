//! The plan against the live cluster: for each object of a rendered tree, a server-side apply
//! dry run compared with the live object; for each object that left the release, a prune
//! preview. Requests run in parallel, bounded.

use super::{Cluster, Refusal, adopt, explain, inspect};
use crate::diff::{normalize, unified};
use crate::ignore::{IgnoreRule, apply_ignore_rules, desired_for_apply};
use crate::object::{
    FIELD_MANAGER, LABEL_APP, LABEL_CHANNEL, LABEL_PROJECT, ObjectKey, PRUNE_ANNOTATION,
    TreeObject, group_of, label,
};
use crate::plan::{Action, KeptReason, ObjectChange};
use crate::secret::{mask_secret_pair, scrub};
use futures_util::StreamExt;
use kube::api::{Patch, PatchParams};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};

/// How a plan marks an object taken over from client-side `kubectl apply`.
pub const ADOPTED_NOTE: &str = "adopted from kubectl apply: its fields pass to berth, and those this release leaves out are removed";

/// The objects of `previous` that are not in `target`: compared as the server identifies them
/// (resource, effective namespace, name), so an object whose tree key changed (a custom kind
/// later known to be cluster-scoped) is not taken for one that left.
pub fn left_release<'a>(
    cluster: &Cluster,
    target: &[TreeObject],
    previous: &'a [TreeObject],
) -> Vec<&'a TreeObject> {
    let identity = |object: &TreeObject| {
        let (resource, caps) = cluster.resolve(object.api_version(), object.kind())?;
        let namespace = match caps.scope {
            kube::discovery::Scope::Namespaced => object.namespace().map(str::to_string),
            kube::discovery::Scope::Cluster => None,
        };
        Some((
            resource.group,
            resource.plural,
            namespace,
            object.name().to_string(),
        ))
    };
    let keys: BTreeSet<&ObjectKey> = target.iter().map(|o| &o.key).collect();
    let identities: std::collections::HashSet<_> = target.iter().filter_map(identity).collect();
    previous
        .iter()
        .filter(|o| !keys.contains(&o.key))
        .filter(|o| identity(o).is_none_or(|id| !identities.contains(&id)))
        .collect()
}

pub struct Options<'a> {
    /// The project applying: objects labelled for another one are never planned or pruned.
    pub project: &'a str,
    pub channel: &'a str,
    /// Dry-run with `force`, as `apply --force-conflicts` will apply.
    pub force: bool,
    /// Dry-run objects that do not exist yet too (the diff shows them with server defaults);
    /// apply creates them at once instead.
    pub dry_run_creates: bool,
    pub ignore: &'a [IgnoreRule],
    pub concurrency: usize,
    pub context_lines: usize,
}

/// Plan `target` against the cluster; `previous` is the channel's current release, whose
/// objects missing from `target` are shown as deletions when berth still owns them live.
pub async fn plan(
    cluster: &Cluster,
    target: &[TreeObject],
    previous: &[TreeObject],
    options: &Options<'_>,
) -> Vec<ObjectChange> {
    // What this same change creates, so that objects depending on it are not errors.
    let new_namespaces: BTreeSet<&str> = target
        .iter()
        .filter(|o| o.kind() == "Namespace" && o.api_version() == "v1")
        .map(|o| o.name())
        .collect();
    let new_kinds: BTreeSet<(&str, &str)> = target
        .iter()
        .filter(|o| o.kind() == "CustomResourceDefinition")
        .filter_map(|o| {
            Some((
                o.body["spec"]["group"].as_str()?,
                o.body["spec"]["names"]["kind"].as_str()?,
            ))
        })
        .collect();
    let context = Context {
        cluster,
        options,
        new_namespaces: &new_namespaces,
        new_kinds: &new_kinds,
    };

    let gone = left_release(cluster, target, previous);
    let checks = target
        .iter()
        .map(Check::Apply)
        .chain(gone.into_iter().map(Check::Prune));
    let mut changes: Vec<ObjectChange> = futures_util::stream::iter(checks)
        .map(|check| context.run(check))
        .buffer_unordered(options.concurrency.max(1))
        .filter_map(|c| async move { c })
        .collect()
        .await;
    changes.sort_by(|a, b| a.key.cmp(&b.key));
    changes
}

/// [`plan`], with the objects whose live state (`live`, from [`super::inspect::list_live`])
/// already matches known without asking: one LIST per kind replaces a GET and a dry run each,
/// so an unchanged release costs a handful of requests.
pub async fn plan_listed(
    cluster: &Cluster,
    target: &[TreeObject],
    previous: &[TreeObject],
    live: &HashMap<ObjectKey, Value>,
    options: &Options<'_>,
) -> Vec<ObjectChange> {
    let mut known = Vec::new();
    let mut ask = Vec::new();
    for object in target {
        let current = live.get(&object.key);
        let desired = desired_for_apply(&object.body, current, options.ignore);
        match current {
            Some(current) if inspect::unchanged(&desired, current) => {
                known.push(ObjectChange::new(
                    object.key.clone(),
                    object.app.clone(),
                    Action::Unchanged,
                ));
            }
            _ => ask.push(object.clone()),
        }
    }
    let gone: Vec<TreeObject> = left_release(cluster, target, previous)
        .into_iter()
        .cloned()
        .collect();
    let mut changes = plan(cluster, &ask, &gone, options).await;
    changes.extend(known);
    changes.sort_by(|a, b| a.key.cmp(&b.key));
    changes
}

enum Check<'a> {
    Apply(&'a TreeObject),
    Prune(&'a TreeObject),
}

struct Context<'a> {
    cluster: &'a Cluster,
    options: &'a Options<'a>,
    new_namespaces: &'a BTreeSet<&'a str>,
    new_kinds: &'a BTreeSet<(&'a str, &'a str)>,
}

impl Context<'_> {
    async fn run(&self, check: Check<'_>) -> Option<ObjectChange> {
        match check {
            Check::Apply(object) => Some(self.apply(object).await),
            Check::Prune(object) => self.prune(object).await,
        }
    }

    /// Dry-run apply `object` and compare the result with the live object.
    async fn apply(&self, object: &TreeObject) -> ObjectChange {
        let fail = |message: String| {
            let mut change =
                ObjectChange::new(object.key.clone(), object.app.clone(), Action::Error);
            change.error = Some(scrub(&message, &object.body));
            change
        };
        let group = group_of(object.api_version());
        let Some((resource, caps)) = self.cluster.resolve(object.api_version(), object.kind())
        else {
            if self.new_kinds.contains(&(group, object.kind())) {
                return self.unvalidated_create(
                    object,
                    "its CustomResourceDefinition is created by this same change",
                );
            }
            return fail(format!(
                "the cluster does not serve {} {}: install its CustomResourceDefinition first, or add it to this release",
                object.api_version(),
                object.kind()
            ));
        };
        if let Some(mismatch) = scope_mismatch(object, &caps.scope) {
            return fail(mismatch);
        }
        let api = self.cluster.api(&resource, &caps, object.namespace());
        let live = match api.get_opt(object.name()).await {
            Ok(live) => live,
            Err(err) => return fail(self.describe(&err, "get", object)),
        };
        if let Some(other) = live
            .as_ref()
            .and_then(|l| l.metadata.labels.as_ref()?.get(LABEL_PROJECT))
            .filter(|other| *other != self.options.project)
        {
            return fail(other_project(other, self.options.project));
        }
        if live.is_none() && !self.options.dry_run_creates {
            return ObjectChange::new(object.key.clone(), object.app.clone(), Action::Create);
        }
        let live_value = live.as_ref().map(to_value);
        let desired = desired_for_apply(&object.body, live_value.as_ref(), self.options.ignore);
        // Taken over from client-side `kubectl apply`, berth will own that manager's fields:
        // as apply hands them over first, the dry run does not stop at them.
        let adopt = live_value.as_ref().is_some_and(adopt::adoptable);
        let mut params = PatchParams::apply(FIELD_MANAGER).dry_run();
        params.force = self.options.force || adopt;
        let dry_run = match api
            .patch(object.name(), &params, &Patch::Apply(&desired))
            .await
        {
            Ok(result) => result,
            Err(err) => {
                return match explain(&err, "apply", &object.file()) {
                    Refusal::MissingNamespace(ns) if self.new_namespaces.contains(ns.as_str()) => {
                        self.unvalidated_create(
                            object,
                            &format!("its namespace `{ns}` is created by this same change"),
                        )
                    }
                    Refusal::MissingNamespace(ns) => fail(format!(
                        "namespace `{ns}` does not exist, and this release does not create it: add a Namespace object or create it first"
                    )),
                    Refusal::Other(message) => fail(message),
                };
            }
        };
        let mut after = to_value(&dry_run);
        let mut before = live_value;
        for side in before.iter_mut().chain([&mut after]) {
            normalize(side);
            apply_ignore_rules(side, self.options.ignore);
        }
        if object.is_secret() {
            mask_secret_pair(before.as_mut(), Some(&mut after));
        }
        let new = crate::yaml::to_string(&after);
        let old = before.as_ref().map(crate::yaml::to_string);
        let action = match &old {
            None => Action::Create,
            // Handing over ownership is a change even when no value changes.
            Some(old) if *old == new && !adopt => Action::Unchanged,
            Some(_) => Action::Update,
        };
        let mut change = ObjectChange::new(object.key.clone(), object.app.clone(), action);
        if adopt {
            change.adopt = true;
            change.note = Some(ADOPTED_NOTE.to_string());
        }
        if action != Action::Unchanged {
            change.diff = Some(unified(
                &object.file(),
                old.as_deref(),
                Some(&new),
                self.options.context_lines,
            ));
        }
        change
    }

    /// A create the server cannot check yet, computed from the rendered object.
    fn unvalidated_create(&self, object: &TreeObject, why: &str) -> ObjectChange {
        let mut body = object.body.clone();
        apply_ignore_rules(&mut body, self.options.ignore);
        if object.is_secret() {
            mask_secret_pair(None, Some(&mut body));
        }
        let mut change = ObjectChange::new(object.key.clone(), object.app.clone(), Action::Create);
        change.diff = Some(unified(
            &object.file(),
            None,
            Some(&crate::yaml::to_string(&body)),
            self.options.context_lines,
        ));
        change.note = Some(format!("not validated by the server: {why}"));
        change
    }

    /// An object of the previous release that is no longer rendered: a deletion if it still
    /// exists and still carries this channel's label (berth never deletes what it does not own).
    async fn prune(&self, object: &TreeObject) -> Option<ObjectChange> {
        let (resource, caps) = self.cluster.resolve(object.api_version(), object.kind())?;
        let api = self.cluster.api(&resource, &caps, object.namespace());
        let live = match api.get_opt(object.name()).await {
            Ok(live) => live?,
            Err(err) => {
                let mut change =
                    ObjectChange::new(object.key.clone(), object.app.clone(), Action::Error);
                change.error = Some(scrub(
                    &format!(
                        "cannot check whether it is to be pruned: {}",
                        self.describe(&err, "get", object)
                    ),
                    &object.body,
                ));
                return Some(change);
            }
        };
        let mut before = to_value(&live);
        if label(&before, LABEL_CHANNEL) != Some(self.options.channel) {
            return None;
        }
        // An object left over from an earlier release is in no tree berth has: its label
        // says which app it came from.
        let app = object
            .app
            .clone()
            .or_else(|| label(&before, LABEL_APP).map(str::to_string));
        if let Some(other) = label(&before, LABEL_PROJECT).filter(|p| *p != self.options.project) {
            return Some(ObjectChange::kept(
                object.key.clone(),
                app.clone(),
                KeptReason::OtherProject {
                    project: other.to_string(),
                },
            ));
        }
        if before["metadata"]["annotations"][PRUNE_ANNOTATION] == "disabled" {
            return Some(ObjectChange::kept(
                object.key.clone(),
                app.clone(),
                KeptReason::PruneDisabled,
            ));
        }
        normalize(&mut before);
        if object.is_secret() {
            mask_secret_pair(Some(&mut before), None);
        }
        let mut change = ObjectChange::new(object.key.clone(), app.clone(), Action::Delete);
        change.diff = Some(unified(
            &object.file(),
            Some(&crate::yaml::to_string(&before)),
            None,
            self.options.context_lines,
        ));
        Some(change)
    }

    fn describe(&self, err: &kube::Error, verb: &str, object: &TreeObject) -> String {
        explain(err, verb, &object.file()).message()
    }
}

/// Why the tree's scope of `object` is not the cluster's: the reviewed tree would show a
/// namespace the object does not have (a custom kind berth took for namespaced), or none.
fn scope_mismatch(object: &TreeObject, scope: &kube::discovery::Scope) -> Option<String> {
    let kind = match object.key.group() {
        "" => object.kind().to_string(),
        group => format!("{}.{group}", object.kind()),
    };
    match (scope, object.namespace()) {
        (kube::discovery::Scope::Cluster, Some(namespace)) => Some(format!(
            "{kind} is cluster-scoped on the cluster: add it to defaults.clusterScoped \
             (the rendered tree places it in namespace `{namespace}`)"
        )),
        (kube::discovery::Scope::Namespaced, None) => Some(format!(
            "{kind} is namespaced on the cluster, but the rendered tree has it cluster-scoped: \
             remove it from defaults.clusterScoped"
        )),
        _ => None,
    }
}

/// Why an object of another project is not applied: two repositories render the same object.
pub fn other_project(other: &str, project: &str) -> String {
    format!(
        "the live object belongs to project {other} ({LABEL_PROJECT}), and this is project {project}: \
         two repositories render the same object; remove it from one of them (or set the same \
         `project:` in both berth.yaml if they are one project)"
    )
}

fn to_value(object: &kube::api::DynamicObject) -> Value {
    serde_json::to_value(object).expect("objects the API server sent serialize")
}
