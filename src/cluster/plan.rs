//! The plan against the live cluster: for each object of a rendered tree, a server-side apply
//! dry run compared with the live object; for each object that left the release, a prune
//! preview. Requests run in parallel, bounded.

use super::inspect::{self, Listed, Seen};
use super::unowned::{Found, Unowned};
use super::{Cluster, Refusal, adopt, explain};
use crate::diff::{normalize, unified};
use crate::ignore::{IgnoreRule, apply_ignore_rules, desired_for_apply};
use crate::object::hook::Hook;
use crate::object::{
    FIELD_MANAGER, LABEL_APP, LABEL_CHANNEL, LABEL_PROJECT, ObjectKey, PRUNE_ANNOTATION,
    TreeObject, group_of, label,
};
use crate::plan::{Action, KeptReason, ObjectChange};
use crate::release::outcome::{Event, Reporter};
use crate::secret::{mask_secret_pair, scrub};
use futures_util::StreamExt;
use kube::api::{DynamicObject, Patch, PatchParams};
use rayon::iter::{Either, IntoParallelRefIterator, ParallelIterator};
use serde_json::Value;
use std::collections::BTreeSet;

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
    let keys: BTreeSet<&ObjectKey> = target.iter().map(|o| &o.key).collect();
    let left: Vec<&TreeObject> = previous.iter().filter(|o| !keys.contains(&o.key)).collect();
    if left.is_empty() {
        return left;
    }
    let identities: std::collections::HashSet<_> =
        target.iter().filter_map(|o| identity(cluster, o)).collect();
    left.into_iter()
        .filter(|o| identity(cluster, o).is_none_or(|id| !identities.contains(&id)))
        .collect()
}

/// What the server knows an object by: group, resource, namespace (if namespaced) and name.
fn identity<'o>(
    cluster: &'o Cluster,
    object: &'o TreeObject,
) -> Option<(&'o str, &'o str, Option<&'o str>, &'o str)> {
    let (resource, caps) = cluster.resolve(object.api_version(), object.kind())?;
    let namespace = match caps.scope {
        kube::discovery::Scope::Namespaced => object.namespace(),
        kube::discovery::Scope::Cluster => None,
    };
    Some((&resource.group, &resource.plural, namespace, object.name()))
}

/// Helm hooks are run by apply in their phase (apply/hooks.rs), not applied as planned: each is
/// marked as a hook, and one not live (never run, or deleted under `hook-succeeded`) is not a
/// create, so it is neither drift nor a change.
pub fn mark_hooks(mut changes: Vec<ObjectChange>, desired: &[TreeObject]) -> Vec<ObjectChange> {
    let hooks: std::collections::HashMap<&ObjectKey, Hook> = desired
        .iter()
        .filter_map(|o| Some((&o.key, Hook::of(&o.body)?)))
        .collect();
    for change in &mut changes {
        let Some(hook) = hooks.get(&change.key) else {
            continue;
        };
        change.hook = Some(hook.describe());
        let immutable = change
            .error
            .as_deref()
            .is_some_and(|e| e.contains("field is immutable"));
        match change.action {
            Action::Create => {
                change.action = Action::Unchanged;
                change.diff = None;
                change.note = Some(if hook.phases.is_empty() {
                    "not live; berth runs none of its hooks".into()
                } else {
                    "not live; apply runs it in its phase".into()
                });
            }
            // A Job's template never changes in place; the hook's last run is deleted first.
            Action::Error if immutable && hook.delete_before_creation => {
                change.action = Action::Update;
                change.error = None;
                change.note = Some(
                    "changed where its last run cannot be updated: apply deletes that run (before-hook-creation) and creates it afresh in its phase"
                        .into(),
                );
            }
            _ => {}
        }
    }
    changes
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
    /// Apps with `prune: false`: what leaves them is kept, not deleted.
    pub unpruned_apps: &'a BTreeSet<String>,
}

/// Plan `target` against the cluster, asking the server about every object (`diff --exact`);
/// `previous` is the channel's current release, whose objects missing from `target` are shown
/// as deletions when berth still owns them live.
pub async fn plan(
    cluster: &Cluster,
    target: &[TreeObject],
    previous: &[TreeObject],
    options: &Options<'_>,
) -> Vec<ObjectChange> {
    let context = Context::new(cluster, target, options, None);
    let gone = left_release(cluster, target, previous);
    context.check(target.iter().collect(), gone).await
}

/// Plan as [`plan`] does, asking about fewer objects: one labelled LIST per kind proves most
/// objects unchanged (see [`inspect`]) and gives the live object of the rest, so only what may
/// have changed is dry-run. An object its LIST did not return is a create without a GET when
/// the server's dry run says it did not exist, or without any request when its namespace is
/// created by this same change. Reports what [`plan`] reports (tests/cluster_diff.rs proves it).
pub async fn plan_listed(
    cluster: &Cluster,
    target: &[TreeObject],
    previous: &[TreeObject],
    lists: Lists,
    options: &Options<'_>,
    reporter: &dyn Reporter,
) -> Vec<ObjectChange> {
    let Lists { listed, unowned } = lists;
    let changes = plan_with(
        cluster, target, previous, &listed, unowned, options, reporter,
    )
    .await;
    super::drop_later(listed);
    changes
}

/// The LISTs [`plan_listed`] plans from.
pub struct Lists {
    /// One labelled LIST per kind of the target.
    pub listed: Listed,
    /// The unlabelled LISTs of the objects expected new (see [`unowned`]).
    pub unowned: Unowned,
}

/// Ask the LISTs [`plan_listed`] needs for `target`: one labelled LIST per kind, while
/// `unowned` (unlabelled LISTs asked before it is known which objects are absent: see
/// [`Unowned::complete`]) is awaited.
pub async fn list_for_plan(
    cluster: &Cluster,
    target: &[TreeObject],
    unowned: impl std::future::Future<Output = Unowned>,
    options: &Options<'_>,
) -> Lists {
    let listing = inspect::list_live(
        cluster,
        target,
        options.project,
        options.channel,
        options.concurrency,
    );
    let (listed, unowned) = futures_util::future::join(listing, unowned).await;
    Lists { listed, unowned }
}

/// [`plan_listed`] with the LISTs' answer already at hand (drift lists more kinds, for orphans);
/// `unowned`: unlabelled LISTs asked already (the others the plan needs are asked here).
pub async fn plan_with(
    cluster: &Cluster,
    target: &[TreeObject],
    previous: &[TreeObject],
    listed: &Listed,
    unowned: Unowned,
    options: &Options<'_>,
    reporter: &dyn Reporter,
) -> Vec<ObjectChange> {
    for warning in &listed.warnings {
        reporter.report(&Event::Warning(warning.clone()));
    }
    // Compared on every core: thousands of objects, and no request.
    let (known, ask): (Vec<ObjectChange>, Vec<&TreeObject>) =
        target.par_iter().partition_map(|object| {
            if let Seen::Live(current) = listed.seen(object) {
                let desired = desired_for_apply(&object.body, Some(current), options.ignore);
                // A take-over from kubectl apply is a change even when no value changes.
                if !adopt::adoptable(current) && inspect::unchanged(&desired, current) {
                    return Either::Left(ObjectChange::new(
                        object.key.clone(),
                        object.app.clone(),
                        Action::Unchanged,
                    ));
                }
            }
            Either::Right(object)
        });
    let mut context = Context::new(cluster, target, options, Some(listed));
    // Namespaces first: what lives in one that does not exist yet needs no request at all.
    let (namespaces, rest): (Vec<&TreeObject>, Vec<&TreeObject>) =
        ask.into_iter().partition(|o| is_namespace(o));
    let mut changes = context.check(namespaces, Vec::new()).await;
    context.created_namespaces = changes
        .iter()
        .filter(|c| c.action == Action::Create && c.note.is_none())
        .map(|c| c.key.name().to_string())
        .collect();
    if !options.dry_run_creates {
        let absent: Vec<&TreeObject> = rest
            .iter()
            .copied()
            .filter(|o| matches!(listed.seen(o), Seen::Absent))
            .filter(|o| {
                o.namespace()
                    .is_none_or(|ns| !context.created_namespaces.contains(ns))
            })
            .collect();
        context.unowned = unowned
            .complete(cluster, &absent, options.concurrency)
            .await;
        for warning in &context.unowned.warnings {
            reporter.report(&Event::Warning(warning.clone()));
        }
    }
    let gone = left_release(cluster, target, previous);
    changes.extend(context.check(rest, gone).await);
    changes.extend(known);
    changes.sort_by(|a, b| a.key.cmp(&b.key));
    changes
}

fn is_namespace(object: &TreeObject) -> bool {
    object.kind() == "Namespace" && object.api_version() == "v1"
}

enum Check<'a> {
    Apply(&'a TreeObject),
    Prune(&'a TreeObject),
}

struct Context<'a> {
    cluster: &'a Cluster,
    options: &'a Options<'a>,
    /// What this same change creates, so that objects depending on it are not errors.
    new_namespaces: BTreeSet<&'a str>,
    new_kinds: BTreeSet<(&'a str, &'a str)>,
    /// The labelled LISTs' answer, when planning from them.
    listed: Option<&'a Listed>,
    /// Namespaces the server said do not exist (planned as creates): nothing lives in them.
    created_namespaces: BTreeSet<String>,
    /// What the unlabelled LISTs said of objects absent from the labelled ones (apply only).
    unowned: Unowned,
}

impl<'a> Context<'a> {
    fn new(
        cluster: &'a Cluster,
        target: &'a [TreeObject],
        options: &'a Options<'a>,
        listed: Option<&'a Listed>,
    ) -> Self {
        let new_namespaces = target
            .iter()
            .filter(|o| is_namespace(o))
            .map(|o| o.name())
            .collect();
        let new_kinds = target
            .iter()
            .filter(|o| o.kind() == "CustomResourceDefinition")
            .filter_map(|o| {
                Some((
                    o.body["spec"]["group"].as_str()?,
                    o.body["spec"]["names"]["kind"].as_str()?,
                ))
            })
            .collect();
        Context {
            cluster,
            options,
            new_namespaces,
            new_kinds,
            listed,
            created_namespaces: BTreeSet::new(),
            unowned: Unowned::default(),
        }
    }

    /// Check `apply` and `prune` in parallel, bounded; sorted by key.
    async fn check(&self, apply: Vec<&TreeObject>, prune: Vec<&TreeObject>) -> Vec<ObjectChange> {
        let checks = apply
            .into_iter()
            .map(Check::Apply)
            .chain(prune.into_iter().map(Check::Prune));
        let mut changes: Vec<ObjectChange> = futures_util::stream::iter(checks)
            .map(|check| self.run(check))
            .buffer_unordered(self.options.concurrency.max(1))
            .filter_map(|c| async move { c })
            .collect()
            .await;
        changes.sort_by(|a, b| a.key.cmp(&b.key));
        changes
    }

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
        // Built only for the objects that need a request: most creates are decided without one.
        let api = || self.cluster.api(resource, caps, object.namespace());
        let seen = self.listed.map_or(Seen::Unknown, |l| l.seen(object));
        let live = match seen {
            Seen::Live(live) => Some(live.clone()),
            Seen::Absent => {
                if let Some(ns) = object
                    .namespace()
                    .filter(|ns| self.created_namespaces.contains(*ns))
                {
                    return if self.options.dry_run_creates {
                        self.unvalidated_create(
                            object,
                            &format!("its namespace `{ns}` is created by this same change"),
                        )
                    } else {
                        ObjectChange::new(object.key.clone(), object.app.clone(), Action::Create)
                    };
                }
                match self.unowned.found(object) {
                    // Nothing of that name exists: a create, without a GET. Should someone
                    // create it between the LIST and the apply, it is applied over, as it
                    // would have been between a GET and the apply.
                    Found::Missing => {
                        return ObjectChange::new(
                            object.key.clone(),
                            object.app.clone(),
                            Action::Create,
                        );
                    }
                    Found::Live(live) => Some(live.clone()),
                    Found::Unknown => {
                        if self.options.dry_run_creates {
                            // Not berth's: most likely it does not exist, which the dry run
                            // tells (no resourceVersion); if it does exist, it is read and
                            // asked about again.
                            match self.dry_run(&api(), object, None).await {
                                Ok(after) if after.metadata.resource_version.is_none() => {
                                    return self.compare(object, None, &after, false);
                                }
                                Ok(_) => {}
                                Err(err) => return self.refused(&err, object),
                            }
                        }
                        match self.get(&api(), object).await {
                            Ok(live) => live,
                            Err(change) => return *change,
                        }
                    }
                }
            }
            Seen::Unknown => match self.get(&api(), object).await {
                Ok(live) => live,
                Err(change) => return *change,
            },
        };
        if let Some(other) = live
            .as_ref()
            .and_then(|l| label(l, LABEL_PROJECT))
            .filter(|other| *other != self.options.project)
        {
            return fail(other_project(other, self.options.project));
        }
        if live.is_none() && !self.options.dry_run_creates {
            return ObjectChange::new(object.key.clone(), object.app.clone(), Action::Create);
        }
        // Taken over from client-side `kubectl apply`, berth will own that manager's fields:
        // as apply hands them over first, the dry run does not stop at them.
        let adopt = live.as_ref().is_some_and(adopt::adoptable);
        match self.dry_run(&api(), object, live.as_ref()).await {
            Ok(after) => self.compare(object, live, &after, adopt),
            Err(err) => self.refused(&err, object),
        }
    }

    /// The live object, or the change saying why it could not be read.
    async fn get(
        &self,
        api: &kube::Api<DynamicObject>,
        object: &TreeObject,
    ) -> Result<Option<Value>, Box<ObjectChange>> {
        match api.get_opt(object.name()).await {
            Ok(live) => Ok(live.as_ref().map(to_value)),
            Err(err) => {
                let mut change =
                    ObjectChange::new(object.key.clone(), object.app.clone(), Action::Error);
                change.error = Some(scrub(&self.describe(&err, "get", object), &object.body));
                Err(Box::new(change))
            }
        }
    }

    /// The server's dry run of applying `object` over `live`.
    async fn dry_run(
        &self,
        api: &kube::Api<DynamicObject>,
        object: &TreeObject,
        live: Option<&Value>,
    ) -> Result<DynamicObject, kube::Error> {
        let desired = desired_for_apply(&object.body, live, self.options.ignore);
        let mut params = PatchParams::apply(FIELD_MANAGER).dry_run();
        params.force = self.options.force || live.is_some_and(adopt::adoptable);
        api.patch(object.name(), &params, &Patch::Apply(&desired))
            .await
    }

    /// The change a refused dry run means.
    fn refused(&self, err: &kube::Error, object: &TreeObject) -> ObjectChange {
        let fail = |message: String| {
            let mut change =
                ObjectChange::new(object.key.clone(), object.app.clone(), Action::Error);
            change.error = Some(scrub(&message, &object.body));
            change
        };
        match explain(err, "apply", &object.file()) {
            Refusal::MissingNamespace(ns) if self.new_namespaces.contains(ns.as_str()) => self
                .unvalidated_create(
                    object,
                    &format!("its namespace `{ns}` is created by this same change"),
                ),
            Refusal::MissingNamespace(ns) => fail(format!(
                "namespace `{ns}` does not exist, and this release does not create it: add a Namespace object or create it first"
            )),
            Refusal::Other(message) => fail(message),
        }
    }

    /// The dry run's result against the live object.
    fn compare(
        &self,
        object: &TreeObject,
        mut before: Option<Value>,
        dry_run: &DynamicObject,
        adopt: bool,
    ) -> ObjectChange {
        let mut after = to_value(dry_run);
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
        let api = self.cluster.api(resource, caps, object.namespace());
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
        if let Some(app) = app
            .as_ref()
            .filter(|app| self.options.unpruned_apps.contains(*app))
        {
            return Some(ObjectChange::kept(
                object.key.clone(),
                Some(app.clone()),
                KeptReason::AppPruneOff { app: app.clone() },
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(name: &str, annotations: Value) -> TreeObject {
        TreeObject {
            key: ObjectKey::parse(&format!("shop/Job.batch/{name}")).unwrap(),
            app: Some("shop".into()),
            body: json!({"apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": name, "namespace": "shop", "annotations": annotations}}),
        }
    }

    #[test]
    fn hooks_are_marked_and_one_not_live_is_no_create() {
        let desired = [
            job(
                "seed",
                json!({"helm.sh/hook": "post-install", "helm.sh/hook-delete-policy": "hook-succeeded"}),
            ),
            job(
                "migrate",
                json!({"helm.sh/hook": "pre-upgrade", "helm.sh/hook-weight": "2"}),
            ),
            job(
                "kept",
                json!({"helm.sh/hook": "pre-upgrade", "helm.sh/hook-delete-policy": "hook-succeeded"}),
            ),
            job("plain", json!({})),
        ];
        let immutable =
            "Job.batch \"x\" is invalid: spec.template: Invalid value: …: field is immutable";
        let changes: Vec<ObjectChange> = desired
            .iter()
            .map(|o| {
                let action = if o.name() == "seed" || o.name() == "plain" {
                    Action::Create
                } else {
                    Action::Error
                };
                let mut change = ObjectChange::new(o.key.clone(), o.app.clone(), action);
                if action == Action::Error {
                    change.error = Some(immutable.into());
                }
                change
            })
            .collect();
        let marked = mark_hooks(changes, &desired);
        let seen: Vec<(Option<&str>, Action)> = marked
            .iter()
            .map(|c| (c.hook.as_deref(), c.action))
            .collect();
        assert_eq!(
            seen,
            [
                (Some("post-install (weight 0)"), Action::Unchanged),
                // Deleted before it is created again: an update, whatever the server says of one.
                (Some("pre-upgrade (weight 2)"), Action::Update),
                // Not deleted first: the server's refusal stands.
                (Some("pre-upgrade (weight 0)"), Action::Error),
                (None, Action::Create),
            ]
        );
        assert_eq!(
            marked[0].note.as_deref(),
            Some("not live; apply runs it in its phase")
        );
        assert_eq!(marked[1].error, None);
    }
}
