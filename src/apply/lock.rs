//! One apply per channel at a time: a Lease `berth-<project>.<channel>`, held and renewed for the whole
//! apply. A second apply waits, then fails naming the holder; a holder that stopped renewing
//! (a killed job) is taken over once its lease has run out. Every change is compare-and-swap on
//! the Lease's resourceVersion.

use crate::ci::CiEnv;
use crate::error::{Problem, kube_error};
use crate::object::{LABEL_CHANNEL, LABEL_PROJECT};
use crate::release::outcome::{Event, Reporter};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub struct LockOptions {
    pub namespace: String,
    pub project: String,
    pub channel: String,
    /// How long to wait for another holder.
    pub wait: Duration,
    /// How long the lease lasts without renewal.
    pub lease: Duration,
}

/// A held lock; renewed in the background until [`Lock::release`].
pub struct Lock {
    api: Api<Lease>,
    name: String,
    identity: String,
    renewer: tokio::task::JoinHandle<()>,
    lost: Arc<AtomicBool>,
}

/// Who holds the lock, as other appliers see it: the CI run, or user@host, and the process.
pub fn identity(ci: &CiEnv) -> String {
    let pid = std::process::id();
    // Jobs of one workflow run share the run URL, and containers reuse pids: a nonce keeps two
    // appliers from mistaking each other for themselves.
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    match &ci.run_url {
        Some(run) => format!(
            "{run} ({}, job {} attempt {}, pid {pid}, {nonce:08x})",
            ci.actor.as_deref().unwrap_or("github-actions"),
            ci.job.as_deref().unwrap_or_default(),
            ci.run_attempt.as_deref().unwrap_or("1")
        ),
        None => format!("{} (pid {pid}, {nonce:08x})", person(ci)),
    }
}

/// Who applies, for people: the CI run's actor, else user@host.
pub fn person(ci: &CiEnv) -> String {
    match (&ci.run_url, &ci.actor) {
        (Some(_), actor) => actor.as_deref().unwrap_or("github-actions").to_string(),
        (None, _) => format!(
            "{}@{}",
            ci.user.as_deref().unwrap_or("someone"),
            ci.host.as_deref().unwrap_or("localhost")
        ),
    }
}

fn now() -> MicroTime {
    MicroTime(Timestamp::now())
}

/// Take the lock, waiting for another holder up to `options.wait`.
pub async fn acquire(
    client: &Client,
    options: &LockOptions,
    identity: &str,
    reporter: &dyn Reporter,
) -> Result<Lock, Problem> {
    ensure_namespace(client, &options.namespace).await?;
    let api: Api<Lease> = Api::namespaced(client.clone(), &options.namespace);
    // Two projects' channels of one name are two channels: each has its own lock.
    let name = format!("berth-{}.{}", options.project, options.channel);
    let lease_seconds = options.lease.as_secs().max(1) as i32;
    let started = std::time::Instant::now();
    // The lease's resourceVersion as last seen, and since when (on the monotonic clock).
    let mut observed: Option<(String, std::time::Instant)> = None;
    let mut told = false;
    loop {
        let fail = |e: kube::Error| {
            Problem::new(format!(
                "cannot take the lock {}/{name}: {}",
                options.namespace,
                kube_error(&e)
            ))
            .hint("berth needs get, create and update on leases in that namespace")
        };
        let current = api.get_opt(&name).await.map_err(fail)?;
        let Some(mut lease) = current else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    labels: Some(
                        [
                            (LABEL_PROJECT.to_string(), options.project.clone()),
                            (LABEL_CHANNEL.to_string(), options.channel.clone()),
                        ]
                        .into(),
                    ),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(identity.to_string()),
                    lease_duration_seconds: Some(lease_seconds),
                    acquire_time: Some(now()),
                    renew_time: Some(now()),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            match api.create(&PostParams::default(), &lease).await {
                Ok(_) => break,
                Err(kube::Error::Api(s)) if s.code == 409 => continue, // someone else was quicker
                Err(e) => return Err(fail(e)),
            }
        };
        let spec = lease.spec.get_or_insert_with(Default::default);
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        // Expired once the lease has not moved for a whole lease duration, timed by this
        // machine's clock (as client-go does): another runner's clock never matters.
        let version = lease.metadata.resource_version.clone().unwrap_or_default();
        if observed.as_ref().is_none_or(|(seen, _)| *seen != version) {
            observed = Some((version, std::time::Instant::now()));
        }
        let duration = Duration::from_secs(spec.lease_duration_seconds.unwrap_or(0).max(0) as u64);
        let expired = observed
            .as_ref()
            .is_some_and(|(_, since)| since.elapsed() >= duration);
        if holder.is_none() || holder.as_deref() == Some(identity) || expired {
            if let (Some(previous), true) = (&holder, expired) {
                reporter.report(&Event::TakingOverLock { previous });
            }
            spec.holder_identity = Some(identity.to_string());
            spec.lease_duration_seconds = Some(lease_seconds);
            spec.acquire_time = Some(now());
            spec.renew_time = Some(now());
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
            // `replace` sends the resourceVersion we read: a concurrent change makes it fail.
            match api.replace(&name, &PostParams::default(), &lease).await {
                Ok(_) => break,
                Err(kube::Error::Api(s)) if s.code == 409 => continue,
                Err(e) => return Err(fail(e)),
            }
        }
        let holder = holder.unwrap_or_default();
        let since = spec
            .acquire_time
            .as_ref()
            .map(|t| t.0.to_string())
            .unwrap_or_else(|| "an unknown time".into());
        if started.elapsed() >= options.wait {
            return Err(Problem::new(format!(
                "channel {} is being applied by {holder} (since {since}); waited {}s for the lock {}/{name}",
                options.channel,
                options.wait.as_secs(),
                options.namespace
            ))
            .hint("wait for that apply to finish, or raise --lock-timeout; a holder that stops renewing is taken over after its lease runs out"));
        }
        if !told {
            reporter.report(&Event::WaitingForLock {
                holder: &holder,
                since: &since,
            });
            told = true;
        }
        let left = options.wait.saturating_sub(started.elapsed());
        tokio::time::sleep(left.min(Duration::from_millis(500))).await;
    }

    let lost = Arc::new(AtomicBool::new(false));
    let renewer = tokio::spawn(renew(
        api.clone(),
        name.clone(),
        identity.to_string(),
        options.lease,
        lost.clone(),
    ));
    Ok(Lock {
        api,
        name,
        identity: identity.to_string(),
        renewer,
        lost,
    })
}

/// Renew every third of the lease; give up (and say so) if someone else took it, or if the
/// lease ran out before a renewal got through.
async fn renew(
    api: Api<Lease>,
    name: String,
    identity: String,
    lease: Duration,
    lost: Arc<AtomicBool>,
) {
    let mut renewed = std::time::Instant::now();
    loop {
        tokio::time::sleep(lease / 3).await;
        if renew_once(&api, &name, &identity).await.is_ok() {
            renewed = std::time::Instant::now();
        } else if renewed.elapsed() >= lease || holder_is_other(&api, &name, &identity).await {
            lost.store(true, Ordering::SeqCst);
            return;
        }
    }
}

/// Move the lease's renewTime on, if the lease is still ours (compare-and-swap).
async fn renew_once(api: &Api<Lease>, name: &str, identity: &str) -> Result<(), ()> {
    let mut current = api.get(name).await.map_err(|_| ())?;
    let spec = current.spec.get_or_insert_with(Default::default);
    if spec.holder_identity.as_deref() != Some(identity) {
        return Err(());
    }
    spec.renew_time = Some(now());
    api.replace(name, &PostParams::default(), &current)
        .await
        .map(|_| ())
        .map_err(|_| ())
}

async fn holder_is_other(api: &Api<Lease>, name: &str, identity: &str) -> bool {
    match api.get(name).await {
        Ok(lease) => lease.spec.and_then(|s| s.holder_identity).as_deref() != Some(identity),
        Err(_) => false,
    }
}

impl Lock {
    /// Make sure the lock is still ours, renewing it, before a step that cannot be undone
    /// (pruning, recording the release).
    pub async fn confirm(&self) -> Result<(), Problem> {
        if !self.lost.load(Ordering::SeqCst)
            && renew_once(&self.api, &self.name, &self.identity)
                .await
                .is_ok()
        {
            return Ok(());
        }
        self.lost.store(true, Ordering::SeqCst);
        Err(Problem::new(format!(
            "the lock {} is no longer held by this apply (it was taken over, or could not be renewed)",
            self.name
        ))
        .hint("another apply may be running; nothing more was changed; run berth apply again to converge"))
    }

    /// Give the lock back, if it is still ours.
    pub async fn release(self) {
        self.renewer.abort();
        if let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await {
            let spec = lease.spec.get_or_insert_with(Default::default);
            if spec.holder_identity.as_deref() == Some(self.identity.as_str()) {
                spec.holder_identity = None;
                spec.renew_time = None;
                let _ = self
                    .api
                    .replace(&self.name, &PostParams::default(), &lease)
                    .await;
            }
        }
    }
}

/// Create berth's namespace when it is missing.
pub async fn ensure_namespace(client: &Client, namespace: &str) -> Result<(), Problem> {
    let api: Api<Namespace> = Api::all(client.clone());
    let fail = |e: kube::Error| {
        Problem::new(format!(
            "cannot create namespace {namespace} for berth's lock and records: {}",
            kube_error(&e)
        ))
        .hint("create it, or set apply.namespace in berth.yaml to one berth may use")
    };
    if api.get_opt(namespace).await.map_err(fail)?.is_some() {
        return Ok(());
    }
    let object = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}});
    api.patch(
        namespace,
        &PatchParams::apply(crate::object::FIELD_MANAGER),
        &Patch::Apply(&object),
    )
    .await
    .map_err(fail)?;
    Ok(())
}
