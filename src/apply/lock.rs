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
    /// The lease as this holder last wrote it, and when: renewing and giving it back start
    /// from it.
    written: Arc<tokio::sync::Mutex<Written>>,
    /// How long the lease lasts without renewal.
    lease: Duration,
}

/// The lease as its holder last wrote it, and when (on the monotonic clock).
struct Written {
    lease: Lease,
    at: std::time::Instant,
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
    take(client, options, identity, reporter, options.wait).await?
}

/// Take the lock unless another holder has it (whom nothing waits for): `None` then.
pub async fn try_acquire(
    client: &Client,
    options: &LockOptions,
    identity: &str,
    reporter: &dyn Reporter,
) -> Result<Option<Lock>, Problem> {
    Ok(take(client, options, identity, reporter, Duration::ZERO)
        .await?
        .ok())
}

/// Take the lock, waiting for another holder up to `wait`: the inner error says it is still
/// held by another.
async fn take(
    client: &Client,
    options: &LockOptions,
    identity: &str,
    reporter: &dyn Reporter,
    wait: Duration,
) -> Result<Result<Lock, Problem>, Problem> {
    let api: Api<Lease> = Api::namespaced(client.clone(), &options.namespace);
    // Two projects' channels of one name are two channels: each has its own lock.
    let name = format!("berth-{}.{}", options.project, options.channel);
    let lease_seconds = options.lease.as_secs().max(1) as i32;
    let started = std::time::Instant::now();
    // The lease's resourceVersion as last seen, and since when (on the monotonic clock).
    let mut observed: Option<(String, std::time::Instant)> = None;
    let mut told = false;
    let fail = |e: kube::Error| {
        Problem::new(format!(
            "cannot take the lock {}/{name}: {}",
            options.namespace,
            kube_error(&e)
        ))
        .hint("berth needs get, create and update on leases in that namespace")
    };
    // The namespace and the lease are read at once (before a first apply, neither exists).
    let (namespace, lease) = futures_util::future::join(
        ensure_namespace(client, &options.namespace),
        api.get_opt(&name),
    )
    .await;
    namespace?;
    let mut current = lease.map_err(fail)?;
    let held = loop {
        let Some(mut lease) = current.take() else {
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
                Ok(created) => break created,
                // Someone else was quicker.
                Err(kube::Error::Api(s)) if s.code == 409 => {
                    current = api.get_opt(&name).await.map_err(fail)?;
                    continue;
                }
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
                Ok(taken) => break taken,
                Err(kube::Error::Api(s)) if s.code == 409 => {
                    current = api.get_opt(&name).await.map_err(fail)?;
                    continue;
                }
                Err(e) => return Err(fail(e)),
            }
        }
        let holder = holder.unwrap_or_default();
        let since = spec
            .acquire_time
            .as_ref()
            .map(|t| t.0.to_string())
            .unwrap_or_else(|| "an unknown time".into());
        if started.elapsed() >= wait {
            return Ok(Err(Problem::new(format!(
                "channel {} is being applied by {holder} (since {since}); waited {}s for the lock {}/{name}",
                options.channel,
                wait.as_secs(),
                options.namespace
            ))
            .hint("wait for that apply to finish, or raise --lock-timeout; a holder that stops renewing is taken over after its lease runs out")));
        }
        if !told {
            reporter.report(&Event::WaitingForLock {
                holder: &holder,
                since: &since,
            });
            told = true;
        }
        let left = wait.saturating_sub(started.elapsed());
        tokio::time::sleep(left.min(Duration::from_millis(500))).await;
        current = api.get_opt(&name).await.map_err(fail)?;
    };

    let lost = Arc::new(AtomicBool::new(false));
    let written = Arc::new(tokio::sync::Mutex::new(Written {
        lease: held,
        at: std::time::Instant::now(),
    }));
    let renewer = tokio::spawn(renew(
        api.clone(),
        name.clone(),
        identity.to_string(),
        options.lease,
        lost.clone(),
        written.clone(),
    ));
    Ok(Ok(Lock {
        api,
        name,
        identity: identity.to_string(),
        renewer,
        lost,
        written,
        lease: options.lease,
    }))
}

/// Renew every third of the lease; give up (and say so) if someone else took it, or if the
/// lease ran out before a renewal got through.
async fn renew(
    api: Api<Lease>,
    name: String,
    identity: String,
    lease: Duration,
    lost: Arc<AtomicBool>,
    written: Arc<tokio::sync::Mutex<Written>>,
) {
    let mut renewed = std::time::Instant::now();
    loop {
        tokio::time::sleep(lease / 3).await;
        if renew_once(&api, &name, &identity, &written).await.is_ok() {
            renewed = std::time::Instant::now();
        } else if renewed.elapsed() >= lease || holder_is_other(&api, &name, &identity).await {
            lost.store(true, Ordering::SeqCst);
            return;
        }
    }
}

/// Move the lease's renewTime on, if the lease is still ours (compare-and-swap).
async fn renew_once(
    api: &Api<Lease>,
    name: &str,
    identity: &str,
    written: &tokio::sync::Mutex<Written>,
) -> Result<(), ()> {
    rewrite(api, name, identity, written, |spec| {
        spec.renew_time = Some(now());
    })
    .await
}

/// Change the lease with `change` while it is ours, by compare-and-swap from the lease as this
/// holder last wrote it: one request, unless someone else wrote it since (then it is read
/// again, and changed only if it is still ours).
async fn rewrite(
    api: &Api<Lease>,
    name: &str,
    identity: &str,
    written: &tokio::sync::Mutex<Written>,
    change: impl Fn(&mut LeaseSpec),
) -> Result<(), ()> {
    let mut written = written.lock().await;
    let mut lease = written.lease.clone();
    for read_again in [false, true] {
        if read_again {
            lease = api.get(name).await.map_err(|_| ())?;
        }
        let spec = lease.spec.get_or_insert_with(Default::default);
        if spec.holder_identity.as_deref() != Some(identity) {
            return Err(());
        }
        change(spec);
        match api.replace(name, &PostParams::default(), &lease).await {
            Ok(now_written) => {
                *written = Written {
                    lease: now_written,
                    at: std::time::Instant::now(),
                };
                return Ok(());
            }
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(_) => return Err(()),
        }
    }
    Err(())
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
    /// A lease written less than a third of its duration ago needs no request: another
    /// applier takes it over only once it has seen it unchanged for a whole duration.
    pub async fn confirm(&self) -> Result<(), Problem> {
        if !self.lost.load(Ordering::SeqCst)
            && (self.written.lock().await.at.elapsed() < self.lease / 3
                || renew_once(&self.api, &self.name, &self.identity, &self.written)
                    .await
                    .is_ok())
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
        let _ = rewrite(
            &self.api,
            &self.name,
            &self.identity,
            &self.written,
            |spec| {
                spec.holder_identity = None;
                spec.renew_time = None;
            },
        )
        .await;
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
