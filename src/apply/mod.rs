//! Apply: make the cluster hold a channel's release, carefully first and fast second.
//!
//! Plan with the diff machinery (unchanged objects are never written), take the channel's lock,
//! apply by stages (namespaces and CRDs first) with server-side apply, prune what left the
//! release, record the release, and wait until it is healthy.

pub mod checks;
pub mod hooks;
pub mod lock;
pub mod order;
pub mod wait;

use crate::ci::CiEnv;
use crate::cluster::inspect::{self, Listed};
use crate::cluster::unowned::{self, Sought, Unowned};
use crate::cluster::{Cluster, ClusterOptions, adopt, explain, plan};
use crate::config::{Channel, Config};
use crate::error::{Problem, Problems, kube_error};
use crate::git;
use crate::ignore::{IgnoreRule, desired_for_apply, is_ignored_anywhere};
use crate::notify;
use crate::object::{
    FIELD_MANAGER, LABEL_CHANNEL, LABEL_PROJECT, ObjectKey, PRUNE_ANNOTATION, TreeObject,
};
use crate::plan::{Action, KeptReason, ObjectChange};
use crate::release::outcome::{
    self, ApplyResult, CheckOutcome, Event, NotReady, ObjectResult, Outcome, Report, Reporter,
    Review, Summary,
};
use crate::release::reviewed::{self, PlanDigest};
use crate::release::{self, notes, record};
use crate::secret::scrub;
use futures_util::StreamExt;
use kube::api::{DeleteParams, Patch, PatchParams, PropagationPolicy};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wait::Readiness;

pub struct Options {
    /// The project applying (berth.yaml `project:`): its records, lock and objects are its own.
    pub project: String,
    pub channel: String,
    /// The release commit applied.
    pub release: String,
    pub source_commit: Option<String>,
    pub source_branch: Option<String>,
    /// How the release was chosen (a release, a manual deploy, a rollback), for the record.
    pub deploy: record::Deploy,
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
    /// The CI run (or person) applying: the lock's holder and the record's author.
    pub ci: CiEnv,
    /// Run after a successful apply (and its wait), with `check_env` in their environment.
    pub checks: Vec<crate::config::Check>,
    pub check_env: Vec<(String, String)>,
    /// The Jobs of the release that checks run, by check name: kept out of the apply (and of
    /// pruning) since their check recreates them; listed in the record's inventory.
    pub check_jobs: BTreeMap<String, TreeObject>,
    /// The release's Helm hooks: run by their phase around their app's apply (hooks.rs), kept
    /// out of the plan and of pruning; listed in the record's inventory.
    pub hooks: Vec<hooks::HookObject>,
    /// The plan reviewed for the release's tree (`berth diff`), if one was recorded.
    pub reviewed: Option<PlanDigest>,
    /// Apply even when the plan is not the reviewed one.
    pub accept_changed_plan: bool,
    /// Only some apps (`--app`); `None`: the whole release.
    pub partial: Option<Partial>,
    /// How long to wait for each app with its own `timeout:` (others: `wait`).
    pub app_timeouts: BTreeMap<String, Duration>,
    /// Apps with `prune: false`: the plan keeps what leaves them.
    pub unpruned_apps: BTreeSet<String>,
}

/// A partial apply: the apps applied, and the other apps' objects of the release, which it
/// neither applies nor takes for objects that left the release.
#[derive(Debug, Clone, Default)]
pub struct Partial {
    /// Sorted, each once.
    pub apps: Vec<String>,
    pub others: BTreeSet<ObjectKey>,
}

impl Options {
    /// How long to wait for `object`: its app's `timeout:`, else `wait`.
    fn timeout_of(&self, object: &TreeObject, wait: Duration) -> Duration {
        object
            .app
            .as_ref()
            .and_then(|app| self.app_timeouts.get(app))
            .copied()
            .unwrap_or(wait)
    }

    /// Whether `key` is a check's Job or a hook: applied by its check or phase, never by the
    /// plan, and never pruned while the release holds it.
    fn held_apart(&self, key: &ObjectKey) -> bool {
        self.check_jobs.values().any(|job| &job.key == key)
            || self.hooks.iter().any(|hook| &hook.object.key == key)
    }

    fn partial_apps(&self) -> Vec<String> {
        self.partial
            .as_ref()
            .map(|p| p.apps.clone())
            .unwrap_or_default()
    }
}

/// How long the channel's lock lives without renewal (it is renewed every third of it).
pub const LEASE: Duration = Duration::from_secs(30);

/// What `berth apply` asks for, beyond the channel.
#[derive(Debug, Clone)]
pub struct Request {
    /// The release to apply; default: the tip of the channel's release branch.
    pub rev: Option<String>,
    /// Whose release branch is the shared truth (and where notes are pushed).
    pub remote: String,
    /// Push the release note to this remote.
    pub push_notes: Option<String>,
    pub cluster: ClusterOptions,
    /// `--prune` (the channel's `prune` counts too).
    pub prune: bool,
    pub allow_mass_prune: bool,
    pub allow_cascading_prune: bool,
    pub force_conflicts: bool,
    pub dry_run: bool,
    pub wait: Option<Duration>,
    pub lock_wait: Duration,
    pub ci: CiEnv,
    /// Apply even when the plan differs from the reviewed one.
    pub accept_changed_plan: bool,
    /// Refuse a release whose tree has no reviewed plan.
    pub require_reviewed_plan: bool,
    /// Only these apps (`--app`; all when empty): applied, and pruned only among their own.
    pub apps: Vec<String>,
}

/// Apply the channel's release: resolve it (the remote's release branch first), read its tree
/// (never re-rendered), apply it, and note the outcome on the release commit.
pub fn apply_release(
    config: &Config,
    channel: &Channel,
    request: &Request,
    reporter: &dyn Reporter,
) -> Result<Report, Problems> {
    config.check_apps(&request.apps)?;
    if !request.apps.is_empty() {
        config.check_released(channel, &request.apps)?;
    }
    let repo = git::open(&config.root)?;
    let release = release::resolve(&repo, channel, request.rev.as_deref(), &request.remote)?;
    let tree = Arc::new(git::read_tree(&repo, release.commit)?);
    // The objects but the Secrets (most of an apply's own work before its first write) are
    // parsed while the tree is checked, the Secrets filled, the cluster reached and the
    // channel's record read. Their apps are set once the tree is read (`set_apart`).
    let (parsed, parsing) = tokio::sync::oneshot::channel();
    let rest = tree.clone();
    std::thread::spawn(move || {
        parsed.send(rest.objects_of(&BTreeMap::new(), |key| !key.is_secret()))
    });
    let manifest = release.check(&tree)?;
    let apps = manifest.apps_of();
    let source = manifest.source;
    let files = tree.object_files()?;
    // The objects the apply looks for unlabelled, known from the files' paths (see `reach`).
    let keys: Vec<ObjectKey> = files
        .keys()
        .filter(|key| {
            request.apps.is_empty() || apps.get(key).is_some_and(|a| request.apps.contains(a))
        })
        .cloned()
        .collect();
    // The Secrets are filled before the cluster is reached: a secret source that fails stops
    // the apply having asked nothing.
    let secret_files = files.into_iter().filter(|(key, _)| key.is_secret());
    let mut secrets = crate::tree::parse_objects(secret_files, &apps)?;
    let filled = fill_secrets(config, channel, &request.apps, &mut secrets);
    let workdir = repo.workdir().unwrap_or(&config.root).to_path_buf();
    if let Some(remote) = &request.push_notes {
        reviewed::fetch(&workdir, remote, &channel.name)?;
    }
    let tree_id = reviewed::tree_of(&repo, release.commit)?;
    let reviewed_plan = reviewed::read(&repo, &channel.name, tree_id);
    if reviewed_plan.is_none() {
        if request.require_reviewed_plan {
            return Err(Problem::new(format!(
                "no reviewed plan for {} (tree {}): --require-reviewed-plan refuses to apply it",
                release.name,
                crate::tree::short_id(&tree_id.to_string())
            ))
            .hint(format!(
                "run `berth diff -c {} --tree <the release's commit> --push-notes` (the pull request's diff comment does), then apply again",
                channel.name
            ))
            .into());
        }
        reporter.report(&Event::Review(Review::NotRecorded {
            tree: &tree_id.to_string(),
        }));
    }
    let deploy = deploy_of(&repo, channel, &release, request, source.manual);
    let mut options = Options {
        project: config.project.clone(),
        channel: channel.name.clone(),
        release: release.commit.to_string(),
        source_commit: source.commit,
        source_branch: source.branch,
        deploy,
        namespace: config.apply.namespace.clone(),
        prune: request.prune || channel.prune,
        allow_mass_prune: request.allow_mass_prune,
        allow_cascading_prune: request.allow_cascading_prune,
        max_prune_share: config.apply.max_prune_share,
        force_conflicts: request.force_conflicts,
        dry_run: request.dry_run,
        wait: request.wait,
        lock_wait: request.lock_wait,
        lease: LEASE,
        concurrency: request.cluster.concurrency,
        ignore: config.ignore.clone(),
        ci: request.ci.clone(),
        checks: channel.checks.clone(),
        check_env: Vec::new(),
        // Set apart from the objects once they are parsed (`set_apart`).
        check_jobs: BTreeMap::new(),
        hooks: Vec::new(),
        reviewed: reviewed_plan,
        accept_changed_plan: request.accept_changed_plan,
        partial: None,
        app_timeouts: config
            .apps
            .iter()
            .filter_map(|app| Some((app.name.clone(), app.timeout?)))
            .collect(),
        unpruned_apps: config.unpruned_apps(),
    };

    let runtime = crate::cluster::runtime()?;
    let target = request.cluster.target(channel);
    let partial = !request.apps.is_empty();
    let (reached, parsed) = runtime.block_on(async {
        let reaching = async {
            filled.is_ok().then_some(())?;
            let reached = async {
                let mut reached = reach(&target, &options, &keys).await?;
                // Unless the release is settled (see `run`), the lock is tried while the tree is
                // still parsed; held by another apply, it is waited for once the tree is read.
                if !options.dry_run && !settled(reached.previous.as_ref(), &options, partial) {
                    reached.held = lock::try_acquire(
                        &reached.cluster.client,
                        &lock_options(&options),
                        &reached.identity,
                        reporter,
                    )
                    .await?;
                    if reached.held.is_some() {
                        reached.locked = Some(read_locked(&reached.cluster, &options, &keys).await);
                    }
                }
                Ok::<_, Problem>(reached)
            };
            Some(reached.await)
        };
        futures_util::future::join(reaching, parsing).await
    });
    let objects = parsed
        .map_err(|_| Problem::new("the release tree could not be read").into())
        .and_then(|parsed| Ok(parsed?))
        .and_then(|parsed| {
            set_apart(
                parsed,
                &apps,
                secrets,
                &release,
                channel,
                request,
                &mut options,
            )
        });
    let objects = match objects {
        Ok(objects) => objects,
        Err(unreadable) => {
            // Nothing was applied: the lock taken meanwhile is given back.
            if let Some(Ok(Reached {
                held: Some(held), ..
            })) = reached
            {
                runtime.block_on(held.release());
            }
            return Err(unreadable);
        }
    };
    let report = filled.and_then(|()| {
        runtime
            .block_on(async {
                let reached = reached.expect("reached once the values are read")?;
                options.check_env = check_env(&options, request, &reached.cluster);
                reporter.report(&Event::Started {
                    name: &release.name,
                    release: &options.release,
                    target: reached
                        .cluster
                        .context
                        .as_deref()
                        .unwrap_or(&reached.cluster.server),
                    objects: objects.len(),
                });
                run(reached, &objects, &options, reporter).await
            })
            .map_err(Problems::from)
    });
    // The images are read (from every object) only when a chat is told.
    let versions = if channel.notify.is_empty() {
        BTreeMap::new()
    } else {
        notify::versions_of(&objects)
    };
    // Thousands of parsed objects are freed meanwhile, and the runtime's threads left to end.
    crate::cluster::drop_later(objects);
    runtime.shutdown_background();
    let message = |outcome| notify::Message {
        channel: &channel.name,
        subject: notify::Subject::Apply(outcome),
        release: Some(&options.release),
        versions: &versions,
        ci: &request.ci,
    };
    let mut report = match report {
        Ok(report) => report,
        Err(problems) => {
            if !request.dry_run {
                let why = notify::summary_of(&problems);
                let told = message(Err(why.as_str()));
                notify::send(&channel.notify, &told, notify::Retry::default(), reporter);
            }
            return Err(problems);
        }
    };
    if notify::worth_telling(&report) {
        report.notifications = notify::send(
            &channel.notify,
            &message(Ok(&report)),
            notify::Retry::default(),
            reporter,
        );
    }
    if !report.dry_run && report.result != ApplyResult::NoChanges {
        if let Some(remote) = &request.push_notes {
            notes::fetch(&workdir, remote, &channel.name)?;
        }
        let applied = notes::Applied {
            by: &lock::person(&request.ci),
            at: &k8s_openapi::jiff::Timestamp::now().to_string(),
            run: request.ci.run_url.as_deref(),
        };
        notes::write(
            &repo,
            &channel.name,
            release.commit,
            &notes::text(&report, &applied),
        )?;
        if let Some(remote) = &request.push_notes {
            notes::push(&workdir, remote, &channel.name)?;
        }
    }
    Ok(report)
}

/// The partial apply `apps` asks for (`None` when empty; each one released by the channel),
/// keeping only their objects in `objects`.
fn partial_of(apps: &[String], objects: &mut Vec<TreeObject>) -> Option<Partial> {
    if apps.is_empty() {
        return None;
    }
    let mut apps = apps.to_vec();
    apps.sort();
    apps.dedup();
    let (mine, others): (Vec<TreeObject>, Vec<TreeObject>) = std::mem::take(objects)
        .into_iter()
        .partition(|o| o.app.as_ref().is_some_and(|app| apps.contains(app)));
    *objects = mine;
    Some(Partial {
        apps,
        others: others.into_iter().map(|o| o.key).collect(),
    })
}

/// Fill the release's Secrets (of the apps applied) from their sources: every value is read
/// before the cluster is reached, so a failing source writes nothing.
fn fill_secrets(
    config: &Config,
    channel: &Channel,
    apps: &[String],
    secrets: &mut Vec<TreeObject>,
) -> Result<(), Problems> {
    let applied = |app: &str| apps.is_empty() || apps.iter().any(|a| a == app);
    let mut sources = config.external_secrets(channel);
    let mut values = config.secret_values(channel);
    sources.retain(|s| applied(&s.app));
    values.retain(|s| applied(&s.app));
    let (mut filled, others): (Vec<TreeObject>, Vec<TreeObject>) = std::mem::take(secrets)
        .into_iter()
        .partition(|o| apps.is_empty() || o.app.as_deref().is_some_and(applied));
    let result = crate::secret::external::fill(&mut filled, &sources, &values);
    filled.extend(others);
    *secrets = filled;
    result
}

/// The release's objects as the apply takes them: the `secrets` back among the other `parsed`
/// objects, and set apart into `options` what is applied otherwise (check Jobs, Helm hooks)
/// or not at all (the other apps' objects of a partial apply).
fn set_apart(
    parsed: Vec<TreeObject>,
    apps: &BTreeMap<ObjectKey, String>,
    secrets: Vec<TreeObject>,
    release: &release::Release,
    channel: &Channel,
    request: &Request,
    options: &mut Options,
) -> Result<Vec<TreeObject>, Problems> {
    let mut objects = parsed;
    for object in &mut objects {
        object.app = apps.get(&object.key).cloned();
    }
    objects.extend(secrets);
    objects.sort_by(|a, b| a.key.cmp(&b.key));
    options.check_jobs = checks::take_jobs(&mut objects, channel, &release.commit.to_string())?;
    options.partial = partial_of(&request.apps, &mut objects);
    options.hooks = hooks::take(&mut objects);
    Ok(objects)
}

/// The unlabelled LISTs a real apply started before it planned (see [`reach`]).
type Prefetch = Option<tokio::task::JoinHandle<Unowned>>;

async fn unowned_of(prefetch: Prefetch) -> Unowned {
    match prefetch {
        // A LIST task that failed leaves the plan to ask what it needs.
        Some(task) => task.await.unwrap_or_default(),
        None => Unowned::default(),
    }
}

/// What an apply knows of the channel's cluster before it plans.
struct Reached {
    cluster: Cluster,
    /// The channel's last release record.
    previous: Option<record::Record>,
    unowned: Prefetch,
    /// Who applies, as the lock and the record name it.
    identity: String,
    /// The channel's lock, if it was taken while the tree was read.
    held: Option<lock::Lock>,
    /// What was read once it was.
    locked: Option<LockedReads>,
}

/// What is read under the lock before planning: the record again, and one labelled LIST per
/// kind the files' paths name (the kinds only the files tell are listed once they are parsed).
struct LockedReads {
    record: Result<Option<record::Record>, Problem>,
    listed: Listed,
}

async fn read_locked(cluster: &Cluster, options: &Options, keys: &[ObjectKey]) -> LockedReads {
    let record = record::read(
        &cluster.client,
        &options.namespace,
        &options.project,
        &options.channel,
    );
    let listing = inspect::list_kinds(
        cluster,
        inspect::kinds_named(cluster, keys),
        &options.project,
        &options.channel,
        options.concurrency,
    );
    let (record, listed) = futures_util::future::join(record, listing).await;
    LockedReads { record, listed }
}

/// Connect to the channel's cluster and read its last release record; then start the
/// unlabelled LISTs (see [`unowned`](crate::cluster::unowned)) of the objects of `keys` that
/// record does not hold, which a real apply's plan needs: they run while the tree is parsed and
/// the lock taken. Whether an object berth does not own exists does not depend on the lock,
/// which only keeps berth's other applies of the channel out.
async fn reach(
    target: &crate::cluster::Target<'_>,
    options: &Options,
    keys: &[ObjectKey],
) -> Result<Reached, Problem> {
    let cluster = Cluster::connect(target).await?;
    let previous = record::read(
        &cluster.client,
        &options.namespace,
        &options.project,
        &options.channel,
    )
    .await?;
    let mut unowned = None;
    if !options.dry_run {
        let known = previous.as_ref().map(|r| &r.inventory);
        // The version is the one the cluster serves for the path's group and kind; a kind
        // served at several versions is left to the plan.
        let sought: Vec<(String, ObjectKey)> = keys
            .iter()
            .filter(|key| known.is_none_or(|known| !known.contains_key(key)))
            .filter_map(|key| {
                let api_version = cluster.only_version(key.group(), key.kind())?;
                Some((api_version.to_string(), key.clone()))
            })
            .collect();
        let lister = cluster.clone();
        let concurrency = options.concurrency;
        unowned = Some(tokio::spawn(async move {
            let sought: Vec<Sought> = sought.iter().map(|(v, key)| (v.as_str(), key)).collect();
            unowned::list_unowned(&lister, &sought, concurrency).await
        }));
    }
    Ok(Reached {
        cluster,
        previous,
        unowned,
        identity: lock::identity(&options.ci),
        held: None,
        locked: None,
    })
}

/// Whether `previous` (the channel's last record) says this release was applied and
/// succeeded. After a partial apply, the whole release is not settled even when nothing is
/// to write: its record must say the release is whole.
fn settled(previous: Option<&record::Record>, options: &Options, partial: bool) -> bool {
    previous.is_some_and(|r| {
        r.release == options.release
            && r.result == ApplyResult::Succeeded
            && (r.partial.is_empty() || partial)
    })
}

/// The channel's lock, as `options` say.
fn lock_options(options: &Options) -> lock::LockOptions {
    lock::LockOptions {
        namespace: options.namespace.clone(),
        project: options.project.clone(),
        channel: options.channel.clone(),
        wait: options.lock_wait,
        lease: options.lease,
    }
}

/// How the release was chosen: a rollback commit is a rollback however it is named; a ref other
/// than the release branch (`apply --ref`) or a hand-picked source is a manual deploy.
fn deploy_of(
    repo: &git2::Repository,
    channel: &Channel,
    release: &release::Release,
    request: &Request,
    manual_source: bool,
) -> record::Deploy {
    let rollback = release::rollback::rolled_back(repo, release.commit);
    let picked = request
        .rev
        .as_deref()
        .is_some_and(|rev| rev != channel.release_branch);
    match rollback {
        Some((from, to)) => record::Deploy::Rollback { from, to },
        None if picked || manual_source => record::Deploy::Manual,
        None => record::Deploy::Release,
    }
}

/// What a check finds in its environment: the release, and how to reach its cluster.
fn check_env(options: &Options, request: &Request, cluster: &Cluster) -> Vec<(String, String)> {
    let mut env = vec![
        ("BERTH_CHANNEL".to_string(), options.channel.clone()),
        ("BERTH_RELEASE_COMMIT".to_string(), options.release.clone()),
        (
            "BERTH_SOURCE_COMMIT".to_string(),
            options.source_commit.clone().unwrap_or_default(),
        ),
    ];
    if let Some(context) = &cluster.context {
        env.push(("BERTH_CONTEXT".to_string(), context.clone()));
    }
    if let Some(kubeconfig) = &request.cluster.kubeconfig {
        let path = kubeconfig
            .canonicalize()
            .unwrap_or_else(|_| kubeconfig.clone());
        env.push(("KUBECONFIG".to_string(), path.display().to_string()));
    }
    env
}

/// Apply `objects` (the release tree) to the channel `reached`.
async fn run(
    mut reached: Reached,
    objects: &[TreeObject],
    options: &Options,
    reporter: &dyn Reporter,
) -> Result<Report, Problem> {
    let previous_source = reached
        .previous
        .as_ref()
        .and_then(|r| r.source_commit.clone());
    let mut report = run_with(&mut reached, objects, options, reporter).await?;
    report.previous_source_commit = previous_source;
    report.requests = reached.cluster.requests();
    reporter.report(&Event::Requests {
        count: report.requests,
        server: &reached.cluster.server,
    });
    Ok(report)
}

async fn run_with(
    reached: &mut Reached,
    objects: &[TreeObject],
    options: &Options,
    reporter: &dyn Reporter,
) -> Result<Report, Problem> {
    let cluster = &mut reached.cluster;
    let client = cluster.client.clone();
    let previous = reached.previous.take();
    let mut unowned = reached.unowned.take();
    let inventory = inventory_of(previous.as_ref(), options);
    let settled = settled(previous.as_ref(), options, options.partial.is_some());
    // A release already applied is checked without the lock: unchanged, it ends here having
    // written nothing. A dry run never takes the lock either.
    if settled || options.dry_run {
        let lists = list_for_plan(cluster, objects, unowned.take(), options).await;
        let changes = plan_changes(cluster, objects, &inventory, lists, options, reporter).await;
        check_prune_guard(&changes, objects, &inventory, options)?;
        if options.dry_run && !settled {
            check_reviewed(&changes, options, reporter)?;
        }
        let nothing_to_write = changes.iter().all(|c| match c.action {
            Action::Unchanged => true,
            Action::Delete => !options.prune,
            _ => false,
        });
        if options.dry_run || nothing_to_write {
            let mut report = planned_report(objects, &changes, options);
            if !options.dry_run {
                report.result = ApplyResult::NoChanges;
                if let Some(timeout) = options.wait {
                    let deadline = |o: &TreeObject| options.timeout_of(o, timeout);
                    announce_wait(reporter, objects, &deadline);
                    report.not_ready =
                        wait_ready(cluster, objects, &deadline, options.concurrency, reporter)
                            .await;
                    if !report.not_ready.is_empty() {
                        report.result = ApplyResult::TimedOut;
                    }
                }
            }
            return Ok(report);
        }
    }

    let identity = reached.identity.clone();
    let held = match reached.held.take() {
        Some(held) => held,
        None => lock::acquire(&client, &lock_options(options), &identity, reporter).await?,
    };
    let prefetched = Prefetched {
        unowned,
        locked: reached.locked.take(),
    };
    let report = apply_locked(
        cluster, objects, prefetched, options, &held, identity, reporter,
    )
    .await;
    held.release().await;
    report
}

/// The channel's last release record, and its inventory as objects to look up.
async fn last_release(
    client: &kube::Client,
    options: &Options,
) -> Result<(Option<record::Record>, Vec<TreeObject>), Problem> {
    let previous = record::read(
        client,
        &options.namespace,
        &options.project,
        &options.channel,
    )
    .await?;
    let inventory = inventory_of(previous.as_ref(), options);
    Ok((previous, inventory))
}

/// The objects `previous` (the last release record) holds, as objects to look up. A check's
/// Job is the check's to recreate, a hook its phase's: never pruned while the release holds
/// them.
fn inventory_of(previous: Option<&record::Record>, options: &Options) -> Vec<TreeObject> {
    previous
        .map(record::Record::objects)
        .unwrap_or_default()
        .into_iter()
        .filter(|o| !options.held_apart(&o.key))
        .collect()
}

/// What was asked before the plan: the unlabelled LISTs, and what was read under the lock
/// while the tree was parsed.
struct Prefetched {
    unowned: Prefetch,
    locked: Option<LockedReads>,
}

/// Everything that happens while the channel's lock is held.
async fn apply_locked(
    cluster: &mut Cluster,
    objects: &[TreeObject],
    prefetched: Prefetched,
    options: &Options,
    held: &lock::Lock,
    identity: String,
    reporter: &dyn Reporter,
) -> Result<Report, Problem> {
    // Plan under the lock: another apply may have changed things before we held it. The
    // record is read again meanwhile.
    let client = cluster.client.clone();
    let (last, lists) = match prefetched.locked {
        None => {
            futures_util::future::join(
                last_release(&client, options),
                list_for_plan(cluster, objects, prefetched.unowned, options),
            )
            .await
        }
        Some(LockedReads { record, mut listed }) => {
            let rest = inspect::list_rest(
                cluster,
                &mut listed,
                objects,
                &options.project,
                &options.channel,
                options.concurrency,
            );
            let (_, unowned) =
                futures_util::future::join(rest, unowned_of(prefetched.unowned)).await;
            let last = record.map(|previous| {
                let inventory = inventory_of(previous.as_ref(), options);
                (previous, inventory)
            });
            (last, plan::Lists { listed, unowned })
        }
    };
    let (previous, inventory) = last?;
    let changes = plan_changes(cluster, objects, &inventory, lists, options, reporter).await;
    check_prune_guard(&changes, objects, &inventory, options)?;
    check_reviewed(&changes, options, reporter)?;

    let mut outcomes = hooks::apply_in_phases(cluster, objects, &changes, options, reporter).await;
    // A prune check that failed (e.g. a forbidden GET) fails the release too.
    let in_release: BTreeSet<&ObjectKey> = objects.iter().map(|o| &o.key).collect();
    outcomes.extend(
        changes
            .iter()
            .filter(|c| c.action == Action::Error && !in_release.contains(&c.key))
            .map(|c| outcome_of(c, ObjectResult::Failed)),
    );
    let failed = |outcomes: &[Outcome]| outcomes.iter().any(|o| o.result == ObjectResult::Failed);
    let applied_cleanly = !failed(&outcomes);
    let mut pruned = BTreeSet::new();
    let deletions = changes.iter().filter(|c| c.action == Action::Delete);
    if options.prune && applied_cleanly {
        held.confirm().await?;
        for outcome in prune(cluster, &inventory, &changes, options, reporter).await {
            if outcome.result == ObjectResult::Pruned {
                pruned.insert(outcome.key.clone());
            }
            outcomes.push(outcome);
        }
    } else {
        // Never remove the old while the new did not apply (a failed web-v2 keeps web-v1).
        let reason = if options.prune {
            KeptReason::ApplyFailed
        } else {
            KeptReason::PruneOff
        };
        outcomes.extend(deletions.map(|c| outcome_of(c, ObjectResult::Kept(reason.clone()))));
    }
    outcomes.sort_by(|a, b| a.key.cmp(&b.key));

    let failed = failed(&outcomes);
    let mut result = if failed {
        ApplyResult::Failed
    } else {
        ApplyResult::Succeeded
    };
    // The inventory keeps what left the release but was not pruned, so a later apply still can.
    let mut kept: BTreeMap<ObjectKey, String> = previous
        .as_ref()
        .map(|r| r.inventory.clone())
        .unwrap_or_default();
    // Another project's objects (read from a record written before projects) are not ours.
    let others: BTreeSet<&ObjectKey> = changes
        .iter()
        .filter(|c| matches!(c.kept, Some(KeptReason::OtherProject { .. })))
        .map(|c| &c.key)
        .collect();
    kept.retain(|key, _| !pruned.contains(key) && !others.contains(key));
    kept.extend(
        objects
            .iter()
            .map(|o| (o.key.clone(), o.api_version().to_string())),
    );
    kept.extend(
        checks::job_keys(&options.check_jobs)
            .map(|(key, api_version)| (key.clone(), api_version.to_string())),
    );
    kept.extend(hooks::keys(&options.hooks));
    let mut release_record = record::Record {
        project: options.project.clone(),
        channel: options.channel.clone(),
        release: options.release.clone(),
        source_commit: options.source_commit.clone(),
        source_branch: options.source_branch.clone(),
        applied_at: k8s_openapi::jiff::Timestamp::now().to_string(),
        applied_by: identity,
        run: options.ci.run_url.clone(),
        result,
        checks: None,
        deploy: options.deploy.clone(),
        inventory: kept,
        partial: options.partial_apps(),
        timed_out: Vec::new(),
    };
    held.confirm().await?;
    record::write(&client, &options.namespace, &release_record).await?;

    let mut not_ready = Vec::new();
    if let Some(timeout) = options.wait.filter(|_| !failed) {
        let deadline = |o: &TreeObject| options.timeout_of(o, timeout);
        announce_wait(reporter, objects, &deadline);
        not_ready = wait_ready(cluster, objects, &deadline, options.concurrency, reporter).await;
        if !not_ready.is_empty() {
            result = ApplyResult::TimedOut;
            release_record.result = result;
            release_record.timed_out = outcome::apps_of(&not_ready);
            record::write(&client, &options.namespace, &release_record).await?;
        }
    }
    let mut check_results = Vec::new();
    if result == ApplyResult::Succeeded && !options.checks.is_empty() {
        check_results = checks::run(
            &options.checks,
            &options.check_env,
            &client,
            &options.check_jobs,
        )
        .await;
        release_record.checks = Some(
            check_results
                .iter()
                .map(|c| format!("{} {}\n", c.name, c.outcome.as_str()))
                .collect(),
        );
        if check_results
            .iter()
            .any(|c| c.outcome != CheckOutcome::Passed)
        {
            result = ApplyResult::ChecksFailed;
            release_record.result = result;
        }
        record::write(&client, &options.namespace, &release_record).await?;
    }
    Ok(Report {
        channel: options.channel.clone(),
        release: options.release.clone(),
        dry_run: false,
        result,
        summary: Summary::of(&outcomes),
        objects: outcomes,
        not_ready,
        partial: options.partial_apps(),
        source_commit: options.source_commit.clone(),
        previous_source_commit: None,
        notifications: Vec::new(),
        requests: 0,
        checks: check_results,
    })
}

/// How apply plans.
fn plan_options(options: &Options) -> plan::Options<'_> {
    plan::Options {
        project: &options.project,
        channel: &options.channel,
        force: options.force_conflicts,
        // A dry run shows what creates would look like; a real apply just creates.
        dry_run_creates: options.dry_run,
        ignore: &options.ignore,
        concurrency: options.concurrency,
        context_lines: 0,
        unpruned_apps: &options.unpruned_apps,
    }
}

/// The LISTs the plan of `objects` needs, with the unlabelled ones started before.
async fn list_for_plan(
    cluster: &Cluster,
    objects: &[TreeObject],
    unowned: Prefetch,
    options: &Options,
) -> plan::Lists {
    plan::list_for_plan(
        cluster,
        objects,
        unowned_of(unowned),
        &plan_options(options),
    )
    .await
}

/// The channel's objects against the cluster (and what left the release against its record),
/// the unchanged ones known from one labelled LIST per kind (`lists`).
async fn plan_changes(
    cluster: &Cluster,
    objects: &[TreeObject],
    inventory: &[TreeObject],
    lists: plan::Lists,
    options: &Options,
    reporter: &dyn Reporter,
) -> Vec<ObjectChange> {
    let plan_options = plan_options(options);
    let Some(partial) = &options.partial else {
        return plan::plan_listed(cluster, objects, inventory, lists, &plan_options, reporter)
            .await;
    };
    // The other apps' objects did not leave the release; and of what did, only the objects
    // labelled with the apps applied are this apply's to prune.
    let inventory: Vec<TreeObject> = inventory
        .iter()
        .filter(|o| !partial.others.contains(&o.key))
        .cloned()
        .collect();
    let mut changes =
        plan::plan_listed(cluster, objects, &inventory, lists, &plan_options, reporter).await;
    changes.retain(|c| c.app.as_ref().is_some_and(|app| partial.apps.contains(app)));
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
    let in_release: BTreeSet<&ObjectKey> = objects.iter().map(|o| &o.key).collect();
    let staying = inventory
        .iter()
        .filter(|o| in_release.contains(&o.key))
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

/// Refuse a plan that is not the reviewed one (the cluster changed since the review, or another
/// release landed first), naming each object that differs, unless `--accept-changed-plan`.
fn check_reviewed(
    changes: &[ObjectChange],
    options: &Options,
    reporter: &dyn Reporter,
) -> Result<(), Problem> {
    let Some(reviewed) = &options.reviewed else {
        return Ok(());
    };
    let now = PlanDigest::of_changes(changes);
    let mut differences = reviewed.differences(&now);
    if options.partial.is_some() {
        // A partial apply checks the reviewed plan of its own objects: those it plans (the
        // digest does not say which app an object that left the release was of).
        let planned: BTreeSet<&ObjectKey> = changes.iter().map(|c| &c.key).collect();
        differences.retain(|(key, _)| planned.contains(key));
    }
    // The review saw the checks' Jobs and the hooks as objects of the release; the apply
    // leaves them to their checks and phases.
    differences.retain(|(key, _)| !options.held_apart(key));
    if differences.is_empty() {
        reporter.report(&Event::Review(Review::Matches {
            digest: &reviewed.id(),
        }));
        return Ok(());
    }
    if options.accept_changed_plan {
        reporter.report(&Event::Review(Review::ChangedAccepted {
            differences: &differences,
        }));
        return Ok(());
    }
    let listed: String = differences
        .iter()
        .map(|(key, what)| format!("\n  {key}: {what}"))
        .collect();
    let mut problem = Problem::new(format!(
        "the plan of channel {} is not the one reviewed ({}); nothing was applied:{listed}",
        options.channel,
        reviewed.id()
    ))
    .hint("someone changed the cluster since the review, or another release landed first: run `berth diff` again to review the plan as it is now, or pass --accept-changed-plan");
    if let [(key, _)] = differences.as_slice() {
        problem = problem.object(key.to_string());
    }
    Err(problem)
}

/// The object's stage, from its key (its path names group, kind and namespace).
fn stage_of(object: &TreeObject) -> usize {
    let key = &object.key;
    order::stage(key.group(), key.kind(), key.namespace().is_none())
}

fn stage_name(stage: usize) -> &'static str {
    order::STAGES[stage]
}

fn outcome_of(change: &ObjectChange, result: ObjectResult) -> Outcome {
    Outcome {
        key: change.key.clone(),
        app: change.app.clone(),
        stage: "",
        result,
        dry_run: false,
        detail: change.error.clone().or_else(|| change.note.clone()),
    }
}

/// What `--dry-run` (or an apply with nothing to do) reports: the plan, in apply's words.
fn planned_report(objects: &[TreeObject], changes: &[ObjectChange], options: &Options) -> Report {
    let stages: BTreeMap<&ObjectKey, usize> =
        objects.iter().map(|o| (&o.key, stage_of(o))).collect();
    let outcomes: Vec<Outcome> = changes
        .iter()
        .map(|c| {
            let result = match (c.action, &c.kept) {
                (Action::Create, _) => ObjectResult::Created,
                (Action::Update, _) => ObjectResult::Updated,
                (Action::Delete, _) if options.prune => ObjectResult::Pruned,
                (Action::Delete, _) => ObjectResult::Kept(KeptReason::PruneOff),
                (Action::Unchanged, Some(reason)) => ObjectResult::Kept(reason.clone()),
                (Action::Unchanged, None) => ObjectResult::Unchanged,
                (Action::Error, _) => ObjectResult::Failed,
            };
            let mut outcome = outcome_of(c, result);
            outcome.dry_run = options.dry_run;
            outcome.stage = stages.get(&c.key).map_or("", |s| stage_name(*s));
            outcome
        })
        .collect();
    let failed = outcomes.iter().any(|o| o.result == ObjectResult::Failed);
    Report {
        channel: options.channel.clone(),
        release: options.release.clone(),
        dry_run: options.dry_run,
        result: if failed {
            ApplyResult::Failed
        } else {
            ApplyResult::Succeeded
        },
        summary: Summary::of(&outcomes),
        objects: outcomes,
        not_ready: Vec::new(),
        partial: options.partial_apps(),
        source_commit: options.source_commit.clone(),
        previous_source_commit: None,
        notifications: Vec::new(),
        requests: 0,
        checks: Vec::new(),
    }
}

/// Apply every created or changed object, stage by stage; within a stage, in parallel.
async fn apply_stages(
    cluster: &mut Cluster,
    objects: &[TreeObject],
    changes: &[ObjectChange],
    options: &Options,
    reporter: &dyn Reporter,
) -> Vec<Outcome> {
    let by_key: BTreeMap<&ObjectKey, &TreeObject> = objects.iter().map(|o| (&o.key, o)).collect();
    let mut stages: Vec<Vec<(&ObjectChange, &TreeObject)>> = vec![Vec::new(); order::STAGES.len()];
    for change in changes {
        if let Some(object) = by_key.get(&change.key) {
            stages[stage_of(object)].push((change, *object));
        }
    }
    let mut outcomes = Vec::new();
    for (stage, in_stage) in stages.into_iter().enumerate() {
        if in_stage.is_empty() {
            continue;
        }
        let writes = in_stage
            .iter()
            .filter(|(c, _)| matches!(c.action, Action::Create | Action::Update))
            .count();
        if writes > 0 {
            reporter.report(&Event::Applying {
                stage: stage_name(stage),
                writes,
                objects: in_stage.len(),
            });
        }
        let cluster_ref: &Cluster = cluster;
        let results: Vec<Outcome> = futures_util::stream::iter(in_stage)
            .map(|(change, object)| async move {
                let mut outcome = match change.action {
                    Action::Unchanged => outcome_of(change, ObjectResult::Unchanged),
                    Action::Error => outcome_of(change, ObjectResult::Failed),
                    _ => apply_one(cluster_ref, object, change, options).await,
                };
                outcome.stage = stage_name(stage);
                outcome
            })
            .buffer_unordered(options.concurrency.max(1))
            .collect()
            .await;
        let failed = results
            .iter()
            .filter(|o| o.result == ObjectResult::Failed)
            .count();
        if failed > 0 {
            reporter.report(&Event::StageFailed {
                stage: stage_name(stage),
                failed,
            });
        }
        outcomes.extend(results);
        if stage == 0 {
            // Custom resources need their CRDs established and discovered first; CRDs left
            // unchanged are served already (no second discovery).
            let written: BTreeSet<&ObjectKey> = changes
                .iter()
                .filter(|c| matches!(c.action, Action::Create | Action::Update))
                .map(|c| &c.key)
                .collect();
            let crds: Vec<&TreeObject> = objects
                .iter()
                .filter(|o| o.kind() == "CustomResourceDefinition" && written.contains(&o.key))
                .collect();
            if !crds.is_empty() {
                let not_ready = wait_ready(
                    cluster,
                    &crds.into_iter().cloned().collect::<Vec<_>>(),
                    &|_| Duration::from_secs(60),
                    options.concurrency,
                    reporter,
                )
                .await;
                for pending in &not_ready {
                    reporter.report(&Event::NotReady {
                        key: &pending.key,
                        reason: &pending.reason,
                    });
                }
                if let Err(problem) = cluster.refresh().await {
                    reporter.report(&Event::Warning(problem.to_string()));
                }
            }
        }
    }
    outcomes
}

/// The API of `object`'s kind, or why there is none.
fn api_of(
    cluster: &Cluster,
    object: &TreeObject,
) -> Result<kube::Api<kube::api::DynamicObject>, String> {
    let Some((resource, caps)) = cluster.resolve(object.api_version(), object.kind()) else {
        return Err(format!(
            "the cluster does not serve {} {}",
            object.api_version(),
            object.kind()
        ));
    };
    Ok(cluster.api(resource, caps, object.namespace()))
}

async fn apply_one(
    cluster: &Cluster,
    object: &TreeObject,
    change: &ObjectChange,
    options: &Options,
) -> Outcome {
    let outcome = |result: ObjectResult, detail: Option<String>| Outcome {
        key: object.key.clone(),
        app: object.app.clone(),
        stage: "",
        result,
        dry_run: false,
        detail,
    };
    let fail = |detail: String| outcome(ObjectResult::Failed, Some(scrub(&detail, &object.body)));
    let api = match api_of(cluster, object) {
        Ok(api) => api,
        Err(why) => return fail(why),
    };
    // Ignored fields are sent with their live value, and a take-over from client-side
    // `kubectl apply` starts from the live managers: read it (only for those objects).
    let live = if change.adopt || is_ignored_anywhere(&object.body, &options.ignore) {
        match api.get_opt(object.name()).await {
            Ok(live) => live.and_then(|l| serde_json::to_value(l).ok()),
            Err(err) => return fail(format!("get failed: {}", kube_error(&err))),
        }
    } else {
        None
    };
    let adoption = live
        .as_ref()
        .filter(|_| change.adopt)
        .and_then(|live| adopt::upgrade_patch(live, object.api_version()));
    if let Some(patch) = adoption {
        let patch: json_patch::Patch =
            serde_json::from_value(patch).expect("berth's JSON patch is well-formed");
        let handed_over = api
            .patch(
                object.name(),
                &PatchParams::default(),
                &Patch::<()>::Json(patch),
            )
            .await;
        match handed_over {
            Ok(_) => {}
            // The resourceVersion test failed: someone changed it since it was read.
            Err(kube::Error::Api(s)) if s.code == 422 || s.code == 409 => {
                return fail(
                    "it changed while berth took it over from kubectl apply; run apply again"
                        .into(),
                );
            }
            Err(err) => {
                return fail(format!(
                    "taking it over from kubectl apply failed: {}",
                    kube_error(&err)
                ));
            }
        }
    }
    let body = desired_for_apply(&object.body, live.as_ref(), &options.ignore);
    let mut params = PatchParams::apply(FIELD_MANAGER);
    params.force = options.force_conflicts;
    match cluster
        .apply_unread(&api, object.name(), &params, &body)
        .await
    {
        Ok(_) if change.action == Action::Create => outcome(ObjectResult::Created, None),
        Ok(_) => outcome(ObjectResult::Updated, change.note.clone()),
        Err(err) => fail(explain(&err, "apply", &object.file()).message()),
    }
}

/// Delete what left the release, last stage first; objects annotated to be kept stay.
async fn prune(
    cluster: &Cluster,
    inventory: &[TreeObject],
    changes: &[ObjectChange],
    options: &Options,
    reporter: &dyn Reporter,
) -> Vec<Outcome> {
    let by_key: BTreeMap<&ObjectKey, &TreeObject> = inventory.iter().map(|o| (&o.key, o)).collect();
    let mut outcomes: Vec<Outcome> = changes
        .iter()
        .filter_map(|c| Some(outcome_of(c, ObjectResult::Kept(c.kept.clone()?))))
        .collect();
    let deletions: Vec<(&ObjectChange, &TreeObject)> = changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .filter_map(|c| by_key.get(&c.key).map(|o| (c, *o)))
        .collect();
    for stage in (0..order::STAGES.len()).rev() {
        let in_stage: Vec<_> = deletions
            .iter()
            .filter(|(_, o)| stage_of(o) == stage)
            .collect();
        if in_stage.is_empty() {
            continue;
        }
        reporter.report(&Event::Pruning {
            stage: stage_name(stage),
            objects: in_stage.len(),
        });
        let results: Vec<Outcome> = futures_util::stream::iter(in_stage)
            .map(|(change, object)| async move {
                let mut outcome = outcome_of(change, ObjectResult::Pruned);
                outcome.stage = stage_name(stage);
                outcome.detail = None;
                match prune_one(cluster, object, options).await {
                    Ok(None) => {}
                    Ok(Some(kept)) => {
                        outcome.detail = Some(kept.sentence());
                        outcome.result = ObjectResult::Kept(kept);
                    }
                    Err(failure) => {
                        outcome.result = ObjectResult::Failed;
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
/// already gone), `Ok(Some(reason))` kept, `Err(why)` failed. The delete carries the uid and
/// resourceVersion just read, so an object changed since is never deleted.
async fn prune_one(
    cluster: &Cluster,
    object: &TreeObject,
    options: &Options,
) -> Result<Option<KeptReason>, String> {
    let cascading = matches!(object.kind(), "Namespace" | "CustomResourceDefinition");
    if cascading && !options.allow_cascading_prune {
        return Ok(Some(KeptReason::Cascading {
            kind: object.kind().to_string(),
        }));
    }
    let Some((resource, caps)) = cluster.resolve(object.api_version(), object.kind()) else {
        return Ok(None); // the kind is gone, and its objects with it
    };
    let api = cluster.api(resource, caps, object.namespace());
    let live = match api.get_opt(object.name()).await {
        Ok(Some(live)) => live,
        Ok(None) => return Ok(None),
        Err(err) => return Err(format!("get failed: {}", kube_error(&err))),
    };
    let labels = live.metadata.labels.as_ref();
    let annotations = live.metadata.annotations.as_ref();
    if labels.and_then(|l| l.get(LABEL_CHANNEL)) != Some(&options.channel) {
        return Ok(Some(KeptReason::NotOwned));
    }
    if let Some(other) = labels
        .and_then(|l| l.get(LABEL_PROJECT))
        .filter(|p| **p != options.project)
    {
        return Ok(Some(KeptReason::OtherProject {
            project: other.clone(),
        }));
    }
    if annotations
        .and_then(|a| a.get(PRUNE_ANNOTATION))
        .map(String::as_str)
        == Some("disabled")
    {
        return Ok(Some(KeptReason::PruneDisabled));
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
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(Some(KeptReason::ChangedSinceChecked)),
        Err(err) => Err(format!("delete failed: {}", kube_error(&err))),
    }
}

/// `--wait` starts: said at once, so a user knows what berth is doing until it is done.
fn announce_wait(
    reporter: &dyn Reporter,
    objects: &[TreeObject],
    timeout: &dyn Fn(&TreeObject) -> Duration,
) {
    reporter.report(&Event::WaitStarted {
        objects: objects.len(),
        timeout: objects.iter().map(timeout).max().unwrap_or_default(),
    });
}

/// Poll until every object is ready, one has failed, or each not ready has had its `timeout`
/// (one app's may be shorter than another's); returns what is not ready (empty when all are).
async fn wait_ready(
    cluster: &Cluster,
    objects: &[TreeObject],
    timeout: &(dyn Fn(&TreeObject) -> Duration + Sync),
    concurrency: usize,
    reporter: &dyn Reporter,
) -> Vec<NotReady> {
    let started = Instant::now();
    let mut pending: Vec<&TreeObject> = objects.iter().collect();
    let mut timed_out = Vec::new();
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
                app: object.app.clone(),
                reason,
            };
            match readiness {
                Readiness::Failed(why) => failed.push(entry(why)),
                Readiness::InProgress(why) if started.elapsed() >= timeout(object) => {
                    timed_out.push(entry(why));
                }
                Readiness::InProgress(why) => waiting.push((entry(why), timeout(object))),
                Readiness::Ready => {}
            }
        }
        if waiting.is_empty() || !failed.is_empty() {
            let mut not_ready = failed;
            not_ready.append(&mut timed_out);
            not_ready.extend(waiting.into_iter().map(|(w, _)| w));
            not_ready.sort_by(|a, b| a.key.cmp(&b.key));
            return not_ready;
        }
        if last_report.elapsed() >= Duration::from_secs(5) || pending.len() != waiting.len() {
            reporter.report(&Event::Waiting {
                pending: waiting.len(),
                example: &waiting[0].0.key,
                reason: &waiting[0].0.reason,
            });
            last_report = Instant::now();
        }
        pending.retain(|o| waiting.iter().any(|(w, _)| w.key == o.key));
        let soonest = waiting.iter().map(|(_, t)| *t).min().unwrap_or_default();
        let left = soonest.saturating_sub(started.elapsed());
        tokio::time::sleep(left.min(Duration::from_secs(1))).await;
    }
}

async fn readiness_of(cluster: &Cluster, object: &TreeObject) -> Readiness {
    let Some((resource, caps)) = cluster.resolve(object.api_version(), object.kind()) else {
        return Readiness::InProgress("its kind is not served yet".into());
    };
    let api = cluster.api(resource, caps, object.namespace());
    match api.get_opt(object.name()).await {
        Ok(Some(live)) => wait::readiness(&serde_json::to_value(&live).unwrap_or_default()),
        Ok(None) => Readiness::InProgress("it does not exist".into()),
        Err(err) => Readiness::InProgress(format!("cannot read it: {}", kube_error(&err))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(prune: bool, dry_run: bool) -> Options {
        Options {
            channel: "test".into(),
            project: "acme.shop".into(),
            release: "r".into(),
            source_commit: None,
            source_branch: None,
            deploy: record::Deploy::Release,
            namespace: "berth-system".into(),
            prune,
            allow_mass_prune: false,
            allow_cascading_prune: false,
            max_prune_share: 0.5,
            force_conflicts: false,
            dry_run,
            wait: None,
            lock_wait: Duration::from_secs(1),
            lease: LEASE,
            concurrency: 1,
            ignore: Vec::new(),
            ci: CiEnv::default(),
            checks: Vec::new(),
            check_env: Vec::new(),
            check_jobs: BTreeMap::new(),
            hooks: Vec::new(),
            reviewed: None,
            accept_changed_plan: false,
            partial: None,
            app_timeouts: BTreeMap::new(),
            unpruned_apps: BTreeSet::new(),
        }
    }

    fn object(key: &str) -> TreeObject {
        TreeObject::identity(ObjectKey::parse(key).unwrap(), "v1")
    }

    fn change(key: &str, action: Action) -> ObjectChange {
        ObjectChange::new(ObjectKey::parse(key).unwrap(), None, action)
    }

    #[test]
    fn the_prune_guard_counts_what_the_last_release_still_holds() {
        let release: Vec<TreeObject> = (0..4)
            .map(|i| object(&format!("ns/ConfigMap/k{i}")))
            .collect();
        let mut inventory = release.clone();
        inventory.extend((0..3).map(|i| object(&format!("ns/ConfigMap/gone{i}"))));
        let deleting = |n: usize| -> Vec<ObjectChange> {
            (0..n)
                .map(|i| change(&format!("ns/ConfigMap/gone{i}"), Action::Delete))
                .collect()
        };
        // 3 of 7 (43%) is within half; 3 of 4 is not.
        assert!(
            check_prune_guard(&deleting(3), &release, &inventory, &options(true, false)).is_ok()
        );
        let err = check_prune_guard(
            &deleting(3),
            &release[..1],
            &inventory,
            &options(true, false),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("refusing to prune 3 of the 4 objects"),
            "{err}"
        );
        // All of it is refused whatever the share; without prune nothing is checked.
        assert!(
            check_prune_guard(&deleting(1), &[], &inventory[4..5], &options(true, false)).is_err()
        );
        assert!(check_prune_guard(&deleting(3), &[], &inventory, &options(false, false)).is_ok());
    }

    #[test]
    fn a_planned_report_words_the_plan_as_apply_would_do_it() {
        let objects = [object("_cluster/Namespace/ns"), object("ns/ConfigMap/a")];
        let mut kept = change("ns/ConfigMap/kept", Action::Unchanged);
        kept.kept = Some(KeptReason::PruneDisabled);
        let mut failed = change("ns/ConfigMap/bad", Action::Error);
        failed.error = Some("refused".into());
        let changes = [
            change("_cluster/Namespace/ns", Action::Create),
            change("ns/ConfigMap/a", Action::Update),
            change("ns/ConfigMap/old", Action::Delete),
            kept,
            failed,
        ];
        let report = planned_report(&objects, &changes, &options(false, true));
        let labels: Vec<String> = report.objects.iter().map(Outcome::label).collect();
        assert_eq!(
            labels,
            [
                "would create",
                "would update",
                "left the release; kept (prune is off)",
                "kept",
                "failed"
            ]
        );
        assert_eq!(report.objects[0].stage, "namespaces and CRDs");
        assert_eq!(report.result, ApplyResult::Failed);
        assert_eq!((report.summary.kept, report.summary.failed), (2, 1));
        let pruning = planned_report(&objects, &changes[..3], &options(true, true));
        assert_eq!(pruning.objects[2].label(), "would prune");
        assert_eq!(pruning.result, ApplyResult::Succeeded);
    }

    #[test]
    fn what_leaves_an_app_with_prune_off_is_kept_and_not_counted_by_the_prune_guard() {
        let options = options(true, true);
        let leaving = |app: &str, key: &str| {
            ObjectChange::new(
                ObjectKey::parse(key).unwrap(),
                Some(app.into()),
                Action::Delete,
            )
        };
        // As the plan has it when web says `prune: false`.
        let kept_web = ObjectChange::kept(
            ObjectKey::parse("ns/ConfigMap/web").unwrap(),
            Some("web".into()),
            KeptReason::AppPruneOff { app: "web".into() },
        );
        let changes = [leaving("api", "ns/ConfigMap/api"), kept_web];
        let report = planned_report(&[], &changes, &options);
        let labels: Vec<String> = report.objects.iter().map(Outcome::label).collect();
        assert_eq!(
            labels,
            [
                "would prune",
                "left the release; kept (app web has prune: false)"
            ]
        );
        // One of two deletions is 50%, within the guard; both would not be.
        let staying = [object("ns/ConfigMap/stays")];
        let inventory = [
            object("ns/ConfigMap/stays"),
            object("ns/ConfigMap/api"),
            object("ns/ConfigMap/web"),
        ];
        assert!(check_prune_guard(&changes, &staying, &inventory, &options).is_ok());
        let both = [
            leaving("api", "ns/ConfigMap/api"),
            leaving("web", "ns/ConfigMap/web"),
        ];
        assert!(check_prune_guard(&both, &staying, &inventory, &options).is_err());
    }
}
