//! Helm hooks applied in phases, as Argo CD maps them to sync phases: `helm template` prints
//! hook objects among the others, so berth takes them out of the release's objects and runs
//! each app's `pre-install`/`pre-upgrade` hooks before its other objects are applied (after
//! the release's Namespaces and CRDs, which Helm too installs before any hook) and its
//! `post-install`/`post-upgrade` hooks once they are applied and ready. An app none of whose
//! objects is live is installed, else upgraded. Within a phase hooks run one at a time by
//! `helm.sh/hook-weight`, then kind and name; each is applied (after its last run is deleted,
//! under `before-hook-creation`) and waited for as a Job check is (checks.rs), and deleted once
//! it succeeded under `hook-succeeded`. A hook that fails stops its app.

use super::{Options, api_of, apply_stages, checks, stage_of, wait_ready};
use crate::cluster::Cluster;
use crate::error::kube_error;
use crate::object::hook::{Hook, Phase};
use crate::object::{ObjectKey, TreeObject};
use crate::plan::{Action, ObjectChange};
use crate::release::outcome::{Event, ObjectResult, Outcome, Reporter};
use crate::secret::scrub;
use kube::api::{DeleteParams, PropagationPolicy};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// How long a hook (or the wait before a post hook) may take when neither the app's `timeout:`
/// nor `--wait` says: Helm's default `--timeout`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// A hook object of the release.
#[derive(Debug, Clone)]
pub struct HookObject {
    pub object: TreeObject,
    pub hook: Hook,
}

impl HookObject {
    /// `pre-install hook (weight -5)`.
    fn describe(&self, phase: Phase) -> String {
        format!("{} hook (weight {})", phase.as_str(), self.hook.weight)
    }
}

/// The release's hook objects, taken out of `objects`: they are applied by their phase, never
/// as ordinary objects (nor planned or pruned as such while the release holds them).
pub fn take(objects: &mut Vec<TreeObject>) -> Vec<HookObject> {
    let mut hooks = Vec::new();
    objects.retain(|object| {
        let Some(hook) = Hook::of(&object.body) else {
            return true;
        };
        hooks.push(HookObject {
            object: object.clone(),
            hook,
        });
        false
    });
    hooks
}

/// Apply the release's `changes` with its hooks: the Namespaces and CRDs, then each app's
/// pre-install or pre-upgrade hooks, the other stages (without the apps a failed hook stopped),
/// then each app's post-install or post-upgrade hooks.
pub async fn apply_in_phases(
    cluster: &mut Cluster,
    objects: &[TreeObject],
    changes: &[ObjectChange],
    options: &Options,
    reporter: &dyn Reporter,
) -> Vec<Outcome> {
    if options.hooks.is_empty() {
        return apply_stages(cluster, objects, changes, options, reporter).await;
    }
    let first_stage: BTreeSet<&ObjectKey> = objects
        .iter()
        .filter(|o| stage_of(o) == 0)
        .map(|o| &o.key)
        .collect();
    let (first, rest): (Vec<ObjectChange>, Vec<ObjectChange>) = changes
        .iter()
        .cloned()
        .partition(|c| first_stage.contains(&c.key));
    let mut outcomes = apply_stages(cluster, objects, &first, options, reporter).await;
    let before = before(cluster, changes, options, reporter).await;
    let rest: Vec<ObjectChange> = rest.into_iter().filter(|c| !before.stops(c)).collect();
    outcomes.extend(apply_stages(cluster, objects, &rest, options, reporter).await);
    let after = after(cluster, objects, &outcomes, &before, options, reporter).await;
    outcomes.extend(before.outcomes);
    outcomes.extend(after);
    outcomes
}

/// What the hooks before the apply decided.
#[derive(Debug, Default)]
struct Before {
    outcomes: Vec<Outcome>,
    /// Apps installed (none of their objects live) rather than upgraded.
    installs: BTreeSet<String>,
    /// Apps whose hook failed: none of their other objects is applied.
    stopped: BTreeSet<String>,
}

impl Before {
    /// Whether `change` belongs to an app a failed hook stopped.
    fn stops(&self, change: &ObjectChange) -> bool {
        change
            .app
            .as_ref()
            .is_some_and(|a| self.stopped.contains(a))
    }
}

/// Run the `pre-install` or `pre-upgrade` hooks of every app with hooks, before anything of
/// the apps is applied; `changes` (the plan of the other objects) tells install from upgrade.
async fn before(
    cluster: &Cluster,
    changes: &[ObjectChange],
    options: &Options,
    reporter: &dyn Reporter,
) -> Before {
    let mut before = Before::default();
    for app in apps(options) {
        let mut of_app = changes.iter().filter(|c| c.app.as_ref() == Some(&app));
        // An app with hooks and no other object counts as an install, every time it is
        // applied: its pre-install hooks run (there is nothing to upgrade).
        if of_app.all(|c| c.action == Action::Create) {
            before.installs.insert(app.clone());
        }
        let phase = Phase::of(before.installs.contains(&app), true);
        if !run_phase(
            cluster,
            &app,
            phase,
            options,
            reporter,
            &mut before.outcomes,
        )
        .await
        {
            before.stopped.insert(app);
        }
    }
    before
}

/// Run the `post-install` or `post-upgrade` hooks of every app with hooks that applied
/// cleanly, once its objects (`objects`) are ready.
async fn after(
    cluster: &Cluster,
    objects: &[TreeObject],
    applied: &[Outcome],
    before: &Before,
    options: &Options,
    reporter: &dyn Reporter,
) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    for app in apps(options) {
        let failed = applied
            .iter()
            .any(|o| o.app.as_ref() == Some(&app) && o.result == ObjectResult::Failed);
        let phase = Phase::of(before.installs.contains(&app), false);
        let hooks = in_phase(options, &app, phase);
        if failed || before.stopped.contains(&app) || hooks.is_empty() {
            continue;
        }
        let of_app: Vec<TreeObject> = objects
            .iter()
            .filter(|o| o.app.as_ref() == Some(&app))
            .cloned()
            .collect();
        let deadline = |o: &TreeObject| timeout_of(options, o);
        let not_ready =
            wait_ready(cluster, &of_app, &deadline, options.concurrency, reporter).await;
        if let Some(first) = not_ready.first() {
            let hook = hooks[0];
            outcomes.push(outcome(
                hook,
                phase,
                ObjectResult::Failed,
                format!(
                    "{} not run: {} of app {app} is not ready ({}); nothing after it ran",
                    hook.describe(phase),
                    first.key,
                    first.reason
                ),
            ));
            continue;
        }
        run_phase(cluster, &app, phase, options, reporter, &mut outcomes).await;
    }
    outcomes
}

/// The apps of the release's hooks, each once.
fn apps(options: &Options) -> BTreeSet<String> {
    options
        .hooks
        .iter()
        .filter_map(|h| h.object.app.clone())
        .collect()
}

/// The hooks of `app` in `phase`, in the order they run: by weight, then kind and name.
fn in_phase<'a>(options: &'a Options, app: &str, phase: Phase) -> Vec<&'a HookObject> {
    let mut hooks: Vec<&HookObject> = options
        .hooks
        .iter()
        .filter(|h| h.object.app.as_deref() == Some(app) && h.hook.phases.contains(&phase))
        .collect();
    hooks.sort_by(|a, b| {
        (a.hook.weight, a.object.kind(), a.object.name()).cmp(&(
            b.hook.weight,
            b.object.kind(),
            b.object.name(),
        ))
    });
    hooks
}

fn timeout_of(options: &Options, object: &TreeObject) -> Duration {
    options.timeout_of(object, options.wait.unwrap_or(DEFAULT_TIMEOUT))
}

/// Run `app`'s hooks of `phase` in order, adding their outcomes; false when one failed (the
/// rest are not run).
async fn run_phase(
    cluster: &Cluster,
    app: &str,
    phase: Phase,
    options: &Options,
    reporter: &dyn Reporter,
    outcomes: &mut Vec<Outcome>,
) -> bool {
    let hooks = in_phase(options, app, phase);
    if !hooks.is_empty() {
        reporter.report(&Event::Applying {
            stage: stage(phase),
            writes: hooks.len(),
            objects: hooks.len(),
        });
    }
    for hook in hooks {
        let done = run_one(cluster, hook, phase, options).await;
        let failed = done.result == ObjectResult::Failed;
        outcomes.push(done);
        if failed {
            return false;
        }
    }
    true
}

/// Apply one hook and wait for it to succeed, within its app's timeout.
async fn run_one(cluster: &Cluster, hook: &HookObject, phase: Phase, options: &Options) -> Outcome {
    let object = &hook.object;
    let described = hook.describe(phase);
    let failed = |why: String| {
        let stops = format!(
            "nothing after it of app {} ran",
            object.app.as_deref().unwrap_or("?")
        );
        outcome(
            hook,
            phase,
            ObjectResult::Failed,
            scrub(&format!("{described} failed: {why}; {stops}"), &object.body),
        )
    };
    let api = match api_of(cluster, object) {
        Ok(api) => api,
        Err(why) => return failed(why),
    };
    let timeout = timeout_of(options, object);
    let ran = tokio::time::timeout(
        timeout,
        checks::recreate_and_wait(&api, object, hook.hook.delete_before_creation),
    )
    .await;
    let mut detail = match ran {
        Ok(Ok(live)) => format!("{described}: {}", checks::completion_reason(&live)),
        Ok(Err(why)) => return failed(why),
        Err(_) => {
            return failed(format!(
                "not done after {}",
                humantime::format_duration(timeout)
            ));
        }
    };
    if hook.hook.delete_when_succeeded {
        let delete = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..DeleteParams::default()
        };
        match api.delete(object.name(), &delete).await {
            Ok(_) => detail.push_str("; deleted (hook-succeeded)"),
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return failed(format!("deleting it failed: {}", kube_error(&e))),
        }
    }
    outcome(hook, phase, ObjectResult::Created, detail)
}

fn stage(phase: Phase) -> &'static str {
    match phase {
        Phase::PreInstall => "pre-install hooks",
        Phase::PreUpgrade => "pre-upgrade hooks",
        Phase::PostInstall => "post-install hooks",
        Phase::PostUpgrade => "post-upgrade hooks",
    }
}

fn outcome(hook: &HookObject, phase: Phase, result: ObjectResult, detail: String) -> Outcome {
    Outcome {
        key: hook.object.key.clone(),
        app: hook.object.app.clone(),
        stage: stage(phase),
        result,
        dry_run: false,
        detail: Some(detail),
    }
}

/// The hooks' keys and apiVersions, for the release record's inventory.
pub fn keys(hooks: &[HookObject]) -> BTreeMap<ObjectKey, String> {
    hooks
        .iter()
        .map(|h| (h.object.key.clone(), h.object.api_version().to_string()))
        .collect()
}
