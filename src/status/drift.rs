//! Drift: the live cluster against the channel's release. Each object of the release is planned
//! as the live diff plans it (same normalisation, ignore rules and Secret masking), the
//! unchanged ones known from one labelled LIST per kind; objects labelled for the channel that
//! are in no release are orphans. Nothing is written.

use crate::cluster::{Cluster, ClusterOptions, block_on, inspect, plan};
use crate::config::{Channel, Config};
use crate::error::Problem;
use crate::object::{ObjectKey, TreeObject};
use crate::plan::{Action, ObjectChange};
use crate::release::Release;
use crate::release::record::{self, Record};
use git2::{Oid, Repository};
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::Path;

/// What differs between the release and the cluster.
#[derive(Debug, Clone, Serialize)]
pub struct Drift {
    /// Objects of the release that the cluster no longer holds as released (changed, deleted
    /// or not checkable), with their diffs; unchanged ones are left out.
    pub changed: Vec<ObjectChange>,
    /// Live objects labelled for the channel that the release does not hold.
    pub orphans: Vec<ObjectKey>,
}

impl Drift {
    pub fn is_none(&self) -> bool {
        self.changed.is_empty() && self.orphans.is_empty()
    }

    /// The objects found to differ from the release (not those that could not be checked).
    pub fn drifted(&self) -> impl Iterator<Item = &ObjectChange> {
        self.changed.iter().filter(|c| c.action != Action::Error)
    }

    /// Whether anything was found: objects that differ, or orphans.
    pub fn found(&self) -> bool {
        self.drifted().next().is_some() || !self.orphans.is_empty()
    }

    /// Objects that could not be checked: the answer is incomplete.
    pub fn errors(&self) -> usize {
        self.changed
            .iter()
            .filter(|c| c.action == Action::Error)
            .count()
    }
}

/// A drift check's answer, and what it compared.
pub struct Checked {
    pub drift: Drift,
    /// The release compared: the one last applied, else the release branch's tip.
    pub release: Release,
    pub source_commit: Option<String>,
    /// The cluster, as reports name it.
    pub cluster: String,
}

/// Connect to the channel's cluster and check its drift against the release last applied there
/// (the record's), or `tip` before the first apply. The repository is opened at `git_dir`
/// afresh, so that channels can be checked on threads of their own.
pub fn run(
    config: &Config,
    channel: &Channel,
    git_dir: &Path,
    tip: &Release,
    options: &ClusterOptions,
    context_lines: usize,
) -> Result<Checked, Problem> {
    block_on(async {
        let cluster = Cluster::connect(&options.target(channel)).await?;
        let record = read_record(&cluster, config, channel).await?;
        let scope = Scope {
            config,
            channel,
            git_dir,
            concurrency: options.concurrency,
            context_lines,
        };
        scope.check_release(&cluster, tip, record.as_ref()).await
    })
}

/// The channel's release record on `cluster`.
pub async fn read_record(
    cluster: &Cluster,
    config: &Config,
    channel: &Channel,
) -> Result<Option<Record>, Problem> {
    record::read(
        &cluster.client,
        &config.apply.namespace,
        &config.project,
        &channel.name,
    )
    .await
}

/// What a drift check needs besides the cluster.
pub struct Scope<'a> {
    pub config: &'a Config,
    pub channel: &'a Channel,
    pub git_dir: &'a Path,
    pub concurrency: usize,
    pub context_lines: usize,
}

impl Scope<'_> {
    /// The drift of the release `record` says was applied (`tip` before the first apply).
    pub async fn check_release(
        &self,
        cluster: &Cluster,
        tip: &Release,
        record: Option<&Record>,
    ) -> Result<Checked, Problem> {
        let repo = crate::git::open(self.git_dir)?;
        let release = applied_release(&repo, record, tip);
        let (tree, manifest) = release.read(&repo)?;
        let objects = tree.objects_of(&manifest.apps_of(), |_| true)?;
        let source_commit = manifest.source.commit;
        // The repository is not shared across the awaits below.
        drop(repo);
        let drift = check(
            cluster,
            self.config,
            self.channel,
            &objects,
            record,
            self.concurrency,
            self.context_lines,
        )
        .await;
        Ok(Checked {
            drift,
            release,
            source_commit,
            cluster: cluster.describe(),
        })
    }
}

/// The release the record says was applied, when this repository has its commit; else `tip`.
fn applied_release(repo: &Repository, record: Option<&Record>, tip: &Release) -> Release {
    record
        .and_then(|r| Oid::from_str(&r.release).ok())
        .filter(|id| *id != tip.commit && repo.find_commit(*id).is_ok())
        .map(|commit| Release {
            commit,
            name: "the release applied last".to_string(),
        })
        .unwrap_or_else(|| tip.clone())
}

/// `release` with the values of the Secrets berth fills only at diff and apply time (external
/// Secrets' stubs, Helm Secrets holding secret-value placeholders) taken from their live
/// Secrets: a drift check reads no secret source, so it compares everything of them but their
/// values, rather than reporting every such Secret as drifted.
fn with_live_secret_values(
    release: &[TreeObject],
    live: &inspect::Listed,
    config: &Config,
    channel: &Channel,
) -> Vec<TreeObject> {
    let placeholders: Vec<String> = config
        .secret_values(channel)
        .iter()
        .map(|v| v.placeholder())
        .collect();
    release
        .iter()
        .map(|object| {
            let filled_later = crate::secret::external::stub_keys(object).is_some()
                || (object.key.is_secret()
                    && crate::secret::placeholder::used(&object.body, &placeholders)
                        .contains(&true));
            let mut object = object.clone();
            if let (true, inspect::Seen::Live(live)) = (filled_later, live.seen(&object))
                && let Some(body) = object.body.as_object_mut()
            {
                body.remove("stringData");
                match live.get("data") {
                    Some(data) => body.insert("data".into(), data.clone()),
                    None => body.remove("data"),
                };
            }
            object
        })
        .collect()
}

/// The drift of `release` (the objects of the channel's release) on `cluster`. `record` is
/// the channel's release record: its inventory widens the kinds searched for orphans.
pub async fn check(
    cluster: &Cluster,
    config: &Config,
    channel: &Channel,
    release: &[TreeObject],
    record: Option<&Record>,
    concurrency: usize,
    context_lines: usize,
) -> Drift {
    let mut searched = release.to_vec();
    searched.extend(record.map(Record::objects).unwrap_or_default());
    let live = inspect::list_live(
        cluster,
        &searched,
        &config.project,
        &channel.name,
        concurrency,
    )
    .await;
    let release = &with_live_secret_values(release, &live, config, channel);
    let options = plan::Options {
        project: &config.project,
        channel: &channel.name,
        // What someone else changed shows as a change, not as their field conflicting.
        force: true,
        // A released object someone deleted shows as a create.
        dry_run_creates: true,
        ignore: &config.ignore,
        concurrency,
        context_lines,
        // Nothing left a release compared with itself.
        unpruned_apps: &BTreeSet::new(),
    };
    let planned = plan::plan_with(
        cluster,
        release,
        &[],
        &live,
        Default::default(),
        &options,
        &crate::release::outcome::Silent,
    )
    .await;
    // A hook not live (deleted once it succeeded) is no drift.
    let changed = plan::mark_hooks(planned, release)
        .into_iter()
        .filter(|c| c.action != Action::Unchanged)
        .collect();
    let released: BTreeSet<&ObjectKey> = release.iter().map(|o| &o.key).collect();
    // The release record carries the channel's labels too; it is berth's, not the release's.
    let record_name = record::name(&config.project, &channel.name);
    let mut orphans: Vec<ObjectKey> = live
        .keys()
        .filter(|key| !released.contains(key))
        .filter(|key| {
            !(key.kind() == "ConfigMap"
                && key.name() == record_name
                && key.namespace() == Some(config.apply.namespace.as_str()))
        })
        .cloned()
        .collect();
    orphans.sort();
    Drift { changed, orphans }
}
