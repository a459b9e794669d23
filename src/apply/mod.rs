//! Apply: make the cluster hold a channel's release, carefully first and fast second.
//!
//! Plan with the diff machinery (unchanged objects are never written), take the channel's lock,
//! apply by stages (namespaces and CRDs first) with server-side apply, prune what left the
//! release, record the release, and wait until it is healthy.

pub mod lock;
pub mod order;
pub mod record;
pub mod wait;

use crate::cluster::plan::{self, TreeObject};
use crate::cluster::{Cluster, FIELD_MANAGER, explain, inspect};
use crate::diff::{IgnoreRule, desired_for_apply, is_ignored_anywhere};
use crate::error::{Problem, exit};
use crate::plan::{Action, ObjectChange};
use crate::render::kinds::group_of;
use futures_util::StreamExt;
use kube::api::{DeleteParams, Patch, PatchParams, PropagationPolicy};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use wait::Readiness;

pub struct Options {
    pub channel: String,
    /// The release commit applied.
    pub release: String,
    pub source_commit: Option<String>,
    pub source_branch: Option<String>,
    /// berth's namespace: lock and release records.
    pub namespace: String,
    pub prune: bool,
    pub allow_mass_prune: bool,
    /// Prune Namespaces and CRDs too (deleting them deletes everything in them).
    pub allow_cascading_prune: bool,
    pub max_prune_share: f64,
    pub force_conflicts: bool,
    pub dry_run: bool,
    /// Wait for readiness, at most this long.
    pub wait: Option<Duration>,
    pub lock_wait: Duration,
    pub lease: Duration,
    pub concurrency: usize,
    pub ignore: Vec<IgnoreRule>,
}

/// What happened to one object.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    pub stage: &'static str,
    /// created, updated, unchanged, pruned, kept, failed; with --dry-run: would create, …
    pub result: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Summary {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub pruned: usize,
    pub failed: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct NotReady {
    pub key: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub channel: String,
    pub release: String,
    pub dry_run: bool,
    /// succeeded, failed, timed-out; `no changes` when nothing had to be written.
    pub result: String,
    pub summary: Summary,
    pub objects: Vec<Outcome>,
    pub not_ready: Vec<NotReady>,
}

impl Report {
    /// 0 success, 2 failure, 3 timed out waiting.
    pub fn exit_code(&self) -> u8 {
        match self.result.as_str() {
            "failed" => exit::ERROR,
            "timed-out" => 3,
            _ => exit::OK,
        }
    }
}

/// Apply `objects` (the release tree) to the channel.
pub async fn run(
    cluster: &mut Cluster,
    objects: &[TreeObject],
    options: &Options,
    progress: &dyn Fn(&str),
) -> Result<Report, Problem> {
    let client = cluster.client.clone();
    let (previous, inventory) = last_release(&client, options).await?;
    let settled = previous.as_ref().is_some_and(|r| {
        r.release == options.release && r.result == record::Result::Succeeded.as_str()
    });
    // A release already applied is checked without the lock: unchanged, it ends here having
    // written nothing. A dry run never takes the lock either.
    if settled || options.dry_run {
        let changes = plan_changes(cluster, objects, &inventory, options).await;
        check_prune_guard(&changes, objects, &inventory, options)?;
        let nothing_to_write = changes.iter().all(|c| match c.action {
            Action::Unchanged => true,
            Action::Delete => !options.prune,
            _ => false,
        });
        if options.dry_run || nothing_to_write {
            let mut report = planned_report(objects, &changes, options);
            if !options.dry_run {
                report.result = "no changes".into();
                if let Some(timeout) = options.wait {
                    report.not_ready =
                        wait_ready(cluster, objects, timeout, options.concurrency, progress).await;
                    if !report.not_ready.is_empty() {
                        report.result = record::Result::TimedOut.as_str().into();
                    }
                }
            }
            return Ok(report);
        }
    }

    let identity = lock::identity();
    let lock_options = lock::LockOptions {
        namespace: options.namespace.clone(),
        channel: options.channel.clone(),
        wait: options.lock_wait,
        lease: options.lease,
    };
    let held = lock::acquire(&client, &lock_options, &identity, progress).await?;
    let report = apply_locked(cluster, objects, options, &held, identity, progress).await;
    held.release().await;
    report
}

/// The channel's last release record, and its inventory as objects to look up.
async fn last_release(
    client: &kube::Client,
    options: &Options,
) -> Result<(Option<record::Record>, Vec<TreeObject>), Problem> {
    let previous = record::read(client, &options.namespace, &options.channel).await?;
    let inventory = previous
        .as_ref()
        .map(record::Record::objects)
        .unwrap_or_default();
    Ok((previous, inventory))
}

/// Everything that happens while the channel's lock is held.
async fn apply_locked(
    cluster: &mut Cluster,
    objects: &[TreeObject],
    options: &Options,
    held: &lock::Lock,
    identity: String,
    progress: &dyn Fn(&str),
) -> Result<Report, Problem> {
    let client = cluster.client.clone();
    // Plan under the lock: another apply may have changed things before we held it.
    let (previous, inventory) = last_release(&client, options).await?;
    let changes = plan_changes(cluster, objects, &inventory, options).await;
    check_prune_guard(&changes, objects, &inventory, options)?;

    let mut outcomes = apply_stages(cluster, objects, &changes, options, progress).await;
    // A prune check that failed (e.g. a forbidden GET) fails the release too.
    let in_release: BTreeSet<&str> = objects.iter().map(|o| o.key.as_str()).collect();
    outcomes.extend(
        changes
            .iter()
            .filter(|c| c.action == Action::Error && !in_release.contains(c.key.as_str()))
            .map(|c| outcome_of(c, "failed")),
    );
    let applied_cleanly = !outcomes.iter().any(|o| o.result == "failed");
    let mut pruned = BTreeSet::new();
    let deletions = changes.iter().filter(|c| c.action == Action::Delete);
    if options.prune && applied_cleanly {
        held.confirm().await?;
        for outcome in prune(cluster, &inventory, &changes, options, progress).await {
            if outcome.result == "pruned" {
                pruned.insert(outcome.key.clone());
            }
            outcomes.push(outcome);
        }
    } else if options.prune {
        // Never remove the old while the new did not apply (a failed web-v2 keeps web-v1).
        outcomes.extend(deletions.map(|c| outcome_of(c, "kept: not pruned, applying failed")));
    } else {
        outcomes.extend(deletions.map(|c| outcome_of(c, "left the release; kept (prune is off)")));
    }
    outcomes.sort_by(|a, b| a.key.cmp(&b.key));

    let failed = outcomes.iter().any(|o| o.result == "failed");
    let mut result = if failed {
        record::Result::Failed
    } else {
        record::Result::Succeeded
    };
    // The inventory keeps what left the release but was not pruned, so a later apply still can.
    let mut kept: BTreeMap<String, String> = previous
        .as_ref()
        .map(|r| r.inventory.clone())
        .unwrap_or_default();
    kept.retain(|key, _| !pruned.contains(key));
    kept.extend(
        objects
            .iter()
            .map(|o| (o.key.clone(), o.api_version().to_string())),
    );
    let mut release_record = record::Record {
        channel: options.channel.clone(),
        release: options.release.clone(),
        source_commit: options.source_commit.clone(),
        source_branch: options.source_branch.clone(),
        applied_at: k8s_openapi::jiff::Timestamp::now().to_string(),
        applied_by: identity,
        run: crate::github::run_url(),
        result: result.as_str().into(),
        inventory: kept,
    };
    held.confirm().await?;
    record::write(&client, &options.namespace, &release_record).await?;

    let mut not_ready = Vec::new();
    if let Some(timeout) = options.wait.filter(|_| !failed) {
        not_ready = wait_ready(cluster, objects, timeout, options.concurrency, progress).await;
        if !not_ready.is_empty() {
            result = record::Result::TimedOut;
            release_record.result = result.as_str().into();
            record::write(&client, &options.namespace, &release_record).await?;
        }
    }
    Ok(Report {
        channel: options.channel.clone(),
        release: options.release.clone(),
        dry_run: false,
        result: result.as_str().into(),
        summary: summarize(&outcomes),
        objects: outcomes,
        not_ready,
    })
}

/// The channel's objects against the cluster (and what left the release against its record).
/// Objects whose live state already matches are known without asking: one LIST per kind
/// replaces a GET and a dry run each, so an unchanged re-apply costs a handful of requests.
async fn plan_changes(
    cluster: &Cluster,
    objects: &[TreeObject],
    inventory: &[TreeObject],
    options: &Options,
) -> Vec<ObjectChange> {
    let live = inspect::list_live(cluster, objects, &options.channel, options.concurrency).await;
    let mut known = Vec::new();
    let mut ask = Vec::new();
    for object in objects {
        let current = live.get(&object.key);
        let desired = desired_for_apply(&object.body, current, &options.ignore);
        match current {
            Some(current) if inspect::unchanged(&desired, current) => {
                known.push(ObjectChange::new(
                    &object.key,
                    object.app.clone(),
                    Action::Unchanged,
                ));
            }
            _ => ask.push(object.clone()),
        }
    }
    let gone: Vec<TreeObject> = plan::left_release(cluster, objects, inventory)
        .into_iter()
        .cloned()
        .collect();
    let plan_options = plan::Options {
        channel: &options.channel,
        force: options.force_conflicts,
        // A dry run shows what creates would look like; a real apply just creates.
        dry_run_creates: options.dry_run,
        ignore: &options.ignore,
        concurrency: options.concurrency,
        context_lines: 0,
    };
    let mut changes = plan::plan(cluster, &ask, &gone, &plan_options).await;
    changes.extend(known);
    changes.sort_by(|a, b| a.key.cmp(&b.key));
    changes
}

/// Refuse to prune more than the configured share of the last release, or all of it. The share
/// counts what the last release still holds (objects kept from it plus those to delete), so old
/// inventory entries of objects long gone cannot water the guard down.
fn check_prune_guard(
    changes: &[ObjectChange],
    objects: &[TreeObject],
    inventory: &[TreeObject],
    options: &Options,
) -> Result<(), Problem> {
    if !options.prune || options.allow_mass_prune {
        return Ok(());
    }
    let deletions = changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .count();
    let in_release: BTreeSet<&str> = objects.iter().map(|o| o.key.as_str()).collect();
    let staying = inventory
        .iter()
        .filter(|o| in_release.contains(o.key.as_str()))
        .count();
    let total = deletions + staying;
    let share = deletions as f64 / total.max(1) as f64;
    if deletions > 0 && (staying == 0 || share > options.max_prune_share) {
        return Err(Problem::new(format!(
            "refusing to prune {deletions} of the {total} objects of channel {}'s last release ({:.0}%, more than {:.0}%)",
            options.channel,
            share * 100.0,
            options.max_prune_share * 100.0
        ))
        .hint("check that the release is complete; if this is intended, pass --allow-mass-prune"));
    }
    Ok(())
}

fn stage_of(object: &TreeObject) -> usize {
    let cluster_scoped = object.namespace().is_none();
    order::stage(
        group_of(object.api_version()),
        object.kind(),
        cluster_scoped,
    )
}

fn stage_name(stage: usize) -> &'static str {
    order::STAGES[stage]
}

fn outcome_of(change: &ObjectChange, result: &str) -> Outcome {
    Outcome {
        key: change.key.clone(),
        app: change.app.clone(),
        stage: "",
        result: result.to_string(),
        detail: change.error.clone().or_else(|| change.note.clone()),
    }
}

/// What `--dry-run` (or an apply with nothing to do) reports: the plan, in apply's words.
fn planned_report(objects: &[TreeObject], changes: &[ObjectChange], options: &Options) -> Report {
    let stages: BTreeMap<&str, usize> = objects
        .iter()
        .map(|o| (o.key.as_str(), stage_of(o)))
        .collect();
    let prefix = if options.dry_run { "would " } else { "" };
    let outcomes: Vec<Outcome> = changes
        .iter()
        .map(|c| {
            let result = match c.action {
                Action::Create => format!("{prefix}create"),
                Action::Update => format!("{prefix}update"),
                Action::Delete if options.prune => format!("{prefix}prune"),
                Action::Delete => "left the release; kept (prune is off)".into(),
                Action::Unchanged => "unchanged".into(),
                Action::Error => "failed".into(),
            };
            let mut outcome = outcome_of(c, &result);
            outcome.stage = stages.get(c.key.as_str()).map_or("", |s| stage_name(*s));
            outcome
        })
        .collect();
    let failed = outcomes.iter().any(|o| o.result == "failed");
    Report {
        channel: options.channel.clone(),
        release: options.release.clone(),
        dry_run: options.dry_run,
        result: if failed { "failed" } else { "succeeded" }.into(),
        summary: summarize(&outcomes),
        objects: outcomes,
        not_ready: Vec::new(),
    }
}

fn summarize(outcomes: &[Outcome]) -> Summary {
    let mut summary = Summary::default();
    for outcome in outcomes {
        match outcome.result.trim_start_matches("would ") {
            "create" | "created" => summary.created += 1,
            "update" | "updated" => summary.updated += 1,
            "prune" | "pruned" => summary.pruned += 1,
            "failed" => summary.failed += 1,
            _ => summary.unchanged += 1,
        }
    }
    summary
}

/// Apply every created or changed object, stage by stage; within a stage, in parallel.
async fn apply_stages(
    cluster: &mut Cluster,
    objects: &[TreeObject],
    changes: &[ObjectChange],
    options: &Options,
    progress: &dyn Fn(&str),
) -> Vec<Outcome> {
    let by_key: BTreeMap<&str, &TreeObject> = objects.iter().map(|o| (o.key.as_str(), o)).collect();
    let mut outcomes = Vec::new();
    for stage in 0..order::STAGES.len() {
        let in_stage: Vec<(&ObjectChange, &TreeObject)> = changes
            .iter()
            .filter_map(|c| by_key.get(c.key.as_str()).map(|o| (c, *o)))
            .filter(|(_, o)| stage_of(o) == stage)
            .collect();
        if in_stage.is_empty() {
            continue;
        }
        let writes = in_stage
            .iter()
            .filter(|(c, _)| matches!(c.action, Action::Create | Action::Update))
            .count();
        if writes > 0 {
            progress(&format!(
                "{}: applying {writes} of {} objects",
                stage_name(stage),
                in_stage.len()
            ));
        }
        let cluster_ref: &Cluster = cluster;
        let results: Vec<Outcome> = futures_util::stream::iter(in_stage)
            .map(|(change, object)| async move {
                let mut outcome = match change.action {
                    Action::Unchanged => outcome_of(change, "unchanged"),
                    Action::Error => outcome_of(change, "failed"),
                    _ => apply_one(cluster_ref, object, change, options).await,
                };
                outcome.stage = stage_name(stage);
                outcome
            })
            .buffer_unordered(options.concurrency.max(1))
            .collect()
            .await;
        let failed = results.iter().filter(|o| o.result == "failed").count();
        if failed > 0 {
            progress(&format!("{}: {failed} failed", stage_name(stage)));
        }
        outcomes.extend(results);
        if stage == 0 {
            // Custom resources need their CRDs established and discovered first.
            let crds: Vec<&TreeObject> = objects
                .iter()
                .filter(|o| o.kind() == "CustomResourceDefinition")
                .collect();
            if !crds.is_empty() {
                let not_ready = wait_ready(
                    cluster,
                    &crds.into_iter().cloned().collect::<Vec<_>>(),
                    Duration::from_secs(60),
                    options.concurrency,
                    progress,
                )
                .await;
                for pending in not_ready {
                    progress(&format!("{}: {}", pending.key, pending.reason));
                }
                if let Err(problem) = cluster.refresh().await {
                    progress(&problem.to_string());
                }
            }
        }
    }
    outcomes
}

async fn apply_one(
    cluster: &Cluster,
    object: &TreeObject,
    change: &ObjectChange,
    options: &Options,
) -> Outcome {
    let fail = |detail: String| Outcome {
        key: object.key.clone(),
        app: object.app.clone(),
        stage: "",
        result: "failed".into(),
        detail: Some(crate::diff::scrub(&detail, &object.body)),
    };
    let Some((resource, caps)) = cluster.resolve(object.api_version(), object.kind()) else {
        return fail(format!(
            "the cluster does not serve {} {}",
            object.api_version(),
            object.kind()
        ));
    };
    let api = cluster.api(&resource, &caps, object.namespace());
    // Ignored fields are sent with their live value: read it (only for objects a rule covers).
    let live = if is_ignored_anywhere(&object.body, &options.ignore) {
        match api.get_opt(object.name()).await {
            Ok(live) => live.and_then(|l| serde_json::to_value(l).ok()),
            Err(err) => return fail(format!("get failed: {}", crate::cluster::short_error(&err))),
        }
    } else {
        None
    };
    let body = desired_for_apply(&object.body, live.as_ref(), &options.ignore);
    let mut params = PatchParams::apply(FIELD_MANAGER);
    params.force = options.force_conflicts;
    match api
        .patch(object.name(), &params, &Patch::Apply(&body))
        .await
    {
        Ok(_) => Outcome {
            key: object.key.clone(),
            app: object.app.clone(),
            stage: "",
            result: if change.action == Action::Create {
                "created"
            } else {
                "updated"
            }
            .into(),
            detail: None,
        },
        Err(err) => fail(explain(&err, "apply", &object.file()).message()),
    }
}

/// Delete what left the release, last stage first; objects annotated to be kept stay.
async fn prune(
    cluster: &Cluster,
    inventory: &[TreeObject],
    changes: &[ObjectChange],
    options: &Options,
    progress: &dyn Fn(&str),
) -> Vec<Outcome> {
    let by_key: BTreeMap<&str, &TreeObject> =
        inventory.iter().map(|o| (o.key.as_str(), o)).collect();
    let mut outcomes: Vec<Outcome> = changes
        .iter()
        .filter(|c| c.action == Action::Unchanged && c.note.as_deref() == Some(plan::KEPT_NOTE))
        .map(|c| outcome_of(c, "kept"))
        .collect();
    let deletions: Vec<(&ObjectChange, &TreeObject)> = changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .filter_map(|c| by_key.get(c.key.as_str()).map(|o| (c, *o)))
        .collect();
    for stage in (0..order::STAGES.len()).rev() {
        let in_stage: Vec<_> = deletions
            .iter()
            .filter(|(_, o)| stage_of(o) == stage)
            .collect();
        if in_stage.is_empty() {
            continue;
        }
        progress(&format!(
            "{}: pruning {} objects",
            stage_name(stage),
            in_stage.len()
        ));
        let results: Vec<Outcome> = futures_util::stream::iter(in_stage)
            .map(|(change, object)| async move {
                let mut outcome = outcome_of(change, "pruned");
                outcome.stage = stage_name(stage);
                outcome.detail = None;
                match prune_one(cluster, object, options).await {
                    Ok(None) => {}
                    Ok(Some(kept)) => {
                        outcome.result = "kept".into();
                        outcome.detail = Some(kept);
                    }
                    Err(failure) => {
                        outcome.result = "failed".into();
                        outcome.detail = Some(failure);
                    }
                }
                outcome
            })
            .buffer_unordered(options.concurrency.max(1))
            .collect()
            .await;
        outcomes.extend(results);
    }
    outcomes
}

/// Delete one object that left the release, checked again just before: `Ok(None)` deleted (or
/// already gone), `Ok(Some(why))` kept, `Err(why)` failed. The delete carries the uid and
/// resourceVersion just read, so an object changed since is never deleted.
async fn prune_one(
    cluster: &Cluster,
    object: &TreeObject,
    options: &Options,
) -> Result<Option<String>, String> {
    let cascading = matches!(object.kind(), "Namespace" | "CustomResourceDefinition");
    if cascading && !options.allow_cascading_prune {
        return Ok(Some(format!(
            "deleting a {} deletes everything in it; delete it by hand, or pass --allow-cascading-prune",
            object.kind()
        )));
    }
    let Some((resource, caps)) = cluster.resolve(object.api_version(), object.kind()) else {
        return Ok(None); // the kind is gone, and its objects with it
    };
    let api = cluster.api(&resource, &caps, object.namespace());
    let live = match api.get_opt(object.name()).await {
        Ok(Some(live)) => live,
        Ok(None) => return Ok(None),
        Err(err) => return Err(format!("get failed: {}", crate::cluster::short_error(&err))),
    };
    let labels = live.metadata.labels.as_ref();
    let annotations = live.metadata.annotations.as_ref();
    if labels.and_then(|l| l.get(crate::render::postprocess::LABEL_CHANNEL))
        != Some(&options.channel)
    {
        return Ok(Some("no longer carries this channel's label".into()));
    }
    if annotations
        .and_then(|a| a.get(plan::PRUNE_ANNOTATION))
        .map(String::as_str)
        == Some("disabled")
    {
        return Ok(Some(format!(
            "annotated {}: disabled",
            plan::PRUNE_ANNOTATION
        )));
    }
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        preconditions: Some(kube::api::Preconditions {
            uid: live.metadata.uid.clone(),
            resource_version: live.metadata.resource_version.clone(),
        }),
        ..Default::default()
    };
    match api.delete(object.name(), &params).await {
        Ok(_) => Ok(None),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
        Err(kube::Error::Api(s)) if s.code == 409 => {
            Ok(Some("changed since it was checked".into()))
        }
        Err(err) => Err(format!(
            "delete failed: {}",
            crate::cluster::short_error(&err)
        )),
    }
}

/// Poll until every object is ready, one has failed, or `timeout` passes; returns what is not
/// ready (empty when all are).
async fn wait_ready(
    cluster: &Cluster,
    objects: &[TreeObject],
    timeout: Duration,
    concurrency: usize,
    progress: &dyn Fn(&str),
) -> Vec<NotReady> {
    let started = Instant::now();
    let mut pending: Vec<&TreeObject> = objects.iter().collect();
    let mut last_report = Instant::now();
    loop {
        let checks: Vec<(&TreeObject, Readiness)> =
            futures_util::stream::iter(pending.iter().copied())
                .map(|object| async move { (object, readiness_of(cluster, object).await) })
                .buffer_unordered(concurrency.max(1))
                .collect()
                .await;
        let mut failed = Vec::new();
        let mut waiting = Vec::new();
        for (object, readiness) in checks {
            let entry = |reason: String| NotReady {
                key: object.key.clone(),
                reason,
            };
            match readiness {
                Readiness::Failed(why) => failed.push(entry(why)),
                Readiness::InProgress(why) => waiting.push(entry(why)),
                Readiness::Ready => {}
            }
        }
        if waiting.is_empty() || !failed.is_empty() || started.elapsed() >= timeout {
            let mut not_ready = failed;
            not_ready.extend(waiting);
            not_ready.sort_by(|a, b| a.key.cmp(&b.key));
            return not_ready;
        }
        if last_report.elapsed() >= Duration::from_secs(5) || pending.len() != waiting.len() {
            progress(&format!(
                "waiting for {} objects, e.g. {}: {}",
                waiting.len(),
                waiting[0].key,
                waiting[0].reason
            ));
            last_report = Instant::now();
        }
        pending.retain(|o| waiting.iter().any(|w| w.key == o.key));
        let left = timeout.saturating_sub(started.elapsed());
        tokio::time::sleep(left.min(Duration::from_secs(1))).await;
    }
}

async fn readiness_of(cluster: &Cluster, object: &TreeObject) -> Readiness {
    let Some((resource, caps)) = cluster.resolve(object.api_version(), object.kind()) else {
        return Readiness::InProgress("its kind is not served yet".into());
    };
    let api = cluster.api(&resource, &caps, object.namespace());
    match api.get_opt(object.name()).await {
        Ok(Some(live)) => wait::readiness(&serde_json::to_value(&live).unwrap_or_default()),
        Ok(None) => Readiness::InProgress("it does not exist".into()),
        Err(err) => Readiness::InProgress(format!(
            "cannot read it: {}",
            crate::cluster::short_error(&err)
        )),
    }
}
