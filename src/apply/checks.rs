//! Checks after apply: each channel's `checks:`, run in order, each bounded by its timeout, their
//! output kept for the report. A command runs with the release in its environment; a Job of the
//! release is kept out of the apply and recreated here: its last run deleted, applied afresh and
//! waited for until it completes or fails.

use super::wait::{self, Readiness};
use crate::config::{Channel, Check, CheckRun};
use crate::error::{Problem, kube_error};
use crate::object::{FIELD_MANAGER, ObjectKey, TreeObject, group_of};
use crate::release::outcome::{CheckOutcome, CheckResult};
use k8s_openapi::api::batch::v1::Job;
use kube::api::{ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PropagationPolicy};
use kube::{Api, Client};
use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// How often a Job check looks at its Job.
const JOB_POLL: Duration = Duration::from_millis(250);

/// The Jobs of the release that `checks` name, by check name, taken out of `objects` (they are
/// applied by their check, never by the apply). A check naming no Job of the release (or one of
/// several, without `namespace`) is refused before anything is applied.
pub fn take_jobs(
    objects: &mut Vec<TreeObject>,
    channel: &Channel,
    release: &str,
) -> Result<BTreeMap<String, TreeObject>, Problem> {
    let mut jobs = BTreeMap::new();
    for check in &channel.checks {
        let CheckRun::Job { name, namespace } = &check.run else {
            continue;
        };
        let found: Vec<usize> = objects
            .iter()
            .enumerate()
            .filter(|(_, o)| {
                o.kind() == "Job"
                    && group_of(o.api_version()) == "batch"
                    && o.name() == name
                    && namespace
                        .as_deref()
                        .is_none_or(|ns| o.namespace() == Some(ns))
            })
            .map(|(i, _)| i)
            .collect();
        let in_ns = namespace
            .as_ref()
            .map_or(String::new(), |ns| format!(" in namespace {ns}"));
        match found.as_slice() {
            [index] => {
                jobs.insert(check.name.clone(), objects.remove(*index));
            }
            [] => {
                return Err(Problem::new(format!(
                    "check `{}` of channel {} names Job {name}{in_ns}, which release {} does not hold; nothing was applied",
                    check.name,
                    channel.name,
                    crate::tree::short_id(release)
                ))
                .hint("add the Job to an app of the channel, or fix the check's `job:` (and `namespace:`) in berth.yaml"));
            }
            several => {
                let keys: Vec<String> = several
                    .iter()
                    .map(|i| objects[*i].key.to_string())
                    .collect();
                return Err(Problem::new(format!(
                    "check `{}` of channel {} names Job {name}, which release {} holds {} times ({}); nothing was applied",
                    check.name,
                    channel.name,
                    crate::tree::short_id(release),
                    several.len(),
                    keys.join(", ")
                ))
                .hint("set the check's `namespace:` in berth.yaml"));
            }
        }
    }
    Ok(jobs)
}

/// The output a check result keeps (its end: where failures are told).
const OUTPUT_LIMIT: usize = 16 * 1024;

/// Variables never passed to a check: the credentials CI gives berth.
const WITHHELD: &[&str] = &[
    "GITHUB_TOKEN",
    "BERTH_GITHUB_TOKEN",
    "GH_TOKEN",
    "ACTIONS_RUNTIME_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
];

/// Run `checks` one after the other: commands with `env` added to berth's environment (less its
/// credentials), Jobs (from `jobs`, by check name) through `client`. All run, even after one
/// fails: the record shows each.
pub async fn run(
    checks: &[Check],
    env: &[(String, String)],
    client: &Client,
    jobs: &BTreeMap<String, TreeObject>,
) -> Vec<CheckResult> {
    let mut results = Vec::new();
    for check in checks {
        results.push(match (&check.run, jobs.get(&check.name)) {
            (CheckRun::Command(command), _) => run_command(check, command, env).await,
            (CheckRun::Job { .. }, Some(job)) => run_job(check, job, client).await,
            (CheckRun::Job { name, .. }, None) => CheckResult {
                name: check.name.clone(),
                outcome: CheckOutcome::Failed { code: None },
                seconds: 0.0,
                output: format!("the release holds no Job {name}"),
            },
        });
    }
    results
}

/// Recreate the Job `job` (delete its last run, in the background; apply it afresh) and wait
/// for it to complete or fail, all within the check's timeout.
async fn run_job(check: &Check, job: &TreeObject, client: &Client) -> CheckResult {
    let started = Instant::now();
    let namespace = job.namespace().unwrap_or("default");
    let key = &job.key;
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &ApiResource::erase::<Job>(&()));
    let outcome = tokio::time::timeout(check.timeout, recreate_and_wait(&api, job, true)).await;
    let (outcome, output) = match outcome {
        Ok(Ok(live)) => (
            CheckOutcome::Passed,
            format!("Job {key}: {}", completion_reason(&live)),
        ),
        Ok(Err(why)) => (
            CheckOutcome::Failed { code: None },
            format!("Job {key}: {why}"),
        ),
        Err(_) => {
            // Where it was when time ran out says why.
            let state = match api.get_opt(job.name()).await {
                Ok(Some(live)) => {
                    match wait::readiness(&serde_json::to_value(&live).unwrap_or_default()) {
                        Readiness::InProgress(why) | Readiness::Failed(why) => format!(": {why}"),
                        Readiness::Ready => String::new(),
                    }
                }
                _ => String::new(),
            };
            (
                CheckOutcome::TimedOut,
                format!(
                    "Job {key}: stopped waiting after {}{state}",
                    humantime::format_duration(check.timeout)
                ),
            )
        }
    };
    CheckResult {
        name: check.name.clone(),
        outcome,
        seconds: started.elapsed().as_secs_f64(),
        output,
    }
}

/// Apply `job` afresh (its last run deleted first when `delete_first`: a Job with finalizers
/// lingers a while, and applying to it would only patch the old run) and wait until it is ready
/// (a Job: complete): the live object then; why not, when it failed (as its status says) or the
/// API server refused. Helm hooks (hooks.rs) of any kind run through it too.
pub(super) async fn recreate_and_wait(
    api: &Api<DynamicObject>,
    job: &TreeObject,
    delete_first: bool,
) -> Result<serde_json::Value, String> {
    let name = job.name();
    let error = |what: &str, e: kube::Error| format!("{what} failed: {}", kube_error(&e));
    if delete_first {
        let delete = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..DeleteParams::default()
        };
        match api.delete(name, &delete).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(error("deleting its last run", e)),
        }
        while api
            .get_opt(name)
            .await
            .map_err(|e| error("get", e))?
            .is_some()
        {
            tokio::time::sleep(JOB_POLL).await;
        }
    }
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(name, &params, &Patch::Apply(&job.body))
        .await
        .map_err(|e| error("apply", e))?;
    loop {
        let live = api.get(name).await.map_err(|e| error("get", e))?;
        let live = serde_json::to_value(&live).unwrap_or_default();
        match done(&live) {
            Readiness::Ready => return Ok(live),
            Readiness::Failed(why) => return Err(why),
            Readiness::InProgress(_) => tokio::time::sleep(JOB_POLL).await,
        }
    }
}

/// Whether a run of `object` is over: a Pod when it has succeeded (as Helm waits for a Pod
/// hook), not when it is ready as `--wait` judges a Pod; anything else as `--wait` judges it.
fn done(object: &serde_json::Value) -> Readiness {
    if object["kind"] != "Pod" {
        return wait::readiness(object);
    }
    match object["status"]["phase"].as_str() {
        Some("Succeeded") => Readiness::Ready,
        Some("Failed") => Readiness::Failed(format!(
            "the pod failed{}",
            object["status"]["message"]
                .as_str()
                .map_or(String::new(), |m| format!(": {m}"))
        )),
        phase => Readiness::InProgress(format!("pod {}", phase.unwrap_or("pending"))),
    }
}

/// `completed (CompletionsReached)`, from a Job's Complete condition when it has one.
pub(super) fn completion_reason(job: &serde_json::Value) -> String {
    if job["kind"] != "Job" {
        return "ready".to_string();
    }
    let reason = job["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Complete" && c["status"] == "True")
        .and_then(|c| c["reason"].as_str());
    match reason {
        Some(reason) => format!("completed ({reason})"),
        None => format!(
            "completed ({} succeeded)",
            job["status"]["succeeded"].as_i64().unwrap_or(0)
        ),
    }
}

/// The keys of the Jobs checks run, for the inventory.
pub fn job_keys(jobs: &BTreeMap<String, TreeObject>) -> impl Iterator<Item = (&ObjectKey, &str)> {
    jobs.values().map(|job| (&job.key, job.api_version()))
}

async fn run_command(check: &Check, run: &str, env: &[(String, String)]) -> CheckResult {
    let started = Instant::now();
    let mut command = tokio::process::Command::new("sh");
    command
        .arg("-c")
        .arg(run)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A group of its own, so a timeout stops what the command started too.
        .process_group(0)
        .kill_on_drop(true);
    for name in WITHHELD {
        command.env_remove(name);
    }
    let result = |outcome, output: String| CheckResult {
        name: check.name.clone(),
        outcome,
        seconds: started.elapsed().as_secs_f64(),
        output: tail(&output),
    };
    let child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            return result(
                CheckOutcome::Failed { code: None },
                format!("cannot run sh: {e}"),
            );
        }
    };
    let group = child.id();
    match tokio::time::timeout(check.timeout, child.wait_with_output()).await {
        Ok(Ok(output)) => {
            let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&output.stderr));
            let outcome = match output.status.code() {
                Some(0) => CheckOutcome::Passed,
                code => CheckOutcome::Failed { code },
            };
            result(outcome, text)
        }
        Ok(Err(e)) => result(
            CheckOutcome::Failed { code: None },
            format!("cannot wait for the check: {e}"),
        ),
        Err(_) => {
            if let Some(group) = group {
                // The child is dropped (and killed) with the future; its group goes too.
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", "--", &format!("-{group}")])
                    .stderr(Stdio::null())
                    .status();
            }
            result(
                CheckOutcome::TimedOut,
                format!(
                    "stopped after {}",
                    humantime::format_duration(check.timeout)
                ),
            )
        }
    }
}

/// The last [`OUTPUT_LIMIT`] bytes of `text`, on a character boundary.
fn tail(text: &str) -> String {
    if text.len() <= OUTPUT_LIMIT {
        return text.to_string();
    }
    let mut start = text.len() - OUTPUT_LIMIT;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_pod_run_is_done_when_it_succeeded_not_when_it_is_ready() {
        let pod = |phase: &str| {
            json!({"kind": "Pod", "status": {"phase": phase, "message": "exit 3",
                "conditions": [{"type": "Ready", "status": "True"}]}})
        };
        assert!(matches!(done(&pod("Running")), Readiness::InProgress(_)));
        assert!(matches!(done(&pod("Succeeded")), Readiness::Ready));
        assert!(
            matches!(done(&pod("Failed")), Readiness::Failed(why) if why == "the pod failed: exit 3")
        );
        let job = json!({"kind": "Job", "spec": {"completions": 1},
            "status": {"conditions": [{"type": "Complete", "status": "True"}], "succeeded": 1}});
        assert!(matches!(done(&job), Readiness::Ready));
    }
}
