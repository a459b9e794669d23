//! What runs where: per channel, the release branch's tip, the release last applied (from the
//! cluster's record), whether the tip is applied yet, the images of each app, drift, and how far
//! the next channel of the `promotesTo` chain is behind. Reads only: git, and the clusters
//! through the release module and the live-diff machinery.

pub mod drift;

use crate::cluster::{Cluster, ClusterOptions, block_on};
use crate::config::{Channel, Config};
use crate::error::Problem;
use crate::object::TreeObject;
use crate::release::{self, outcome::ApplyResult, record::Record};
use crate::tree::{RenderedTree, SourceInfo};
use drift::Drift;
use git2::{Oid, Repository};
use serde::Serialize;
use std::collections::BTreeMap;

/// What `berth status` asks for.
pub struct Options<'a> {
    pub config: &'a Config,
    pub channels: Vec<&'a Channel>,
    pub cluster: &'a ClusterOptions,
    /// Whose release branches are the shared truth, and whose URL the compare links use.
    pub remote: &'a str,
    /// Check each cluster for drift (one LIST per kind, and a dry run per changed object).
    pub drift_check: bool,
}

/// Every channel asked for, in berth.yaml's order.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub project: String,
    /// The remote's web address (GitHub-like remotes only), for commit and compare links.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository_url: Option<String>,
    pub channels: Vec<ChannelStatus>,
}

impl Status {
    /// 2 when a cluster could not be reached or checked; else 0.
    pub fn exit_code(&self) -> u8 {
        let failed = self.channels.iter().any(|c| {
            matches!(c.cluster, ClusterState::Unreachable { .. })
                || matches!(c.drift, DriftState::Error { .. })
        });
        if failed {
            crate::error::exit::ERROR
        } else {
            crate::error::exit::OK
        }
    }

    /// Every app of any channel, in order of first appearance.
    pub fn apps(&self) -> Vec<String> {
        let mut apps: Vec<String> = Vec::new();
        for channel in &self.channels {
            for app in channel.apps.keys() {
                if !apps.contains(app) {
                    apps.push(app.clone());
                }
            }
        }
        apps
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelStatus {
    pub channel: String,
    pub release_branch: String,
    /// The release branch's tip; `None` when the channel has no release branch yet.
    pub tip: Option<Tip>,
    pub cluster: ClusterState,
    pub pending: Pending,
    /// Per app (of the tip's release): its images and whether it differs from the next channel.
    pub apps: BTreeMap<String, AppStatus>,
    pub drift: DriftState,
    /// The next channel of the `promotesTo` chain, and how far it is behind this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promotes_to: Option<Promotion>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tip {
    pub commit: String,
    pub source: SourceInfo,
}

/// The release last applied, as the cluster's record says.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    pub release: String,
    pub source: SourceInfo,
    pub applied_at: String,
    pub applied_by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    pub result: ApplyResult,
    /// A partial apply (`apply --app`): the apps it applied.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub partial: Vec<String>,
}

impl From<&Record> for Applied {
    fn from(record: &Record) -> Self {
        Applied {
            release: record.release.clone(),
            source: SourceInfo {
                commit: record.source_commit.clone(),
                branch: record.source_branch.clone(),
                manual: false,
            },
            applied_at: record.applied_at.clone(),
            applied_by: record.applied_by.clone(),
            run: record.run.clone(),
            result: record.result,
            partial: record.partial.clone(),
        }
    }
}

/// What the channel's cluster said.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum ClusterState {
    /// Reached; `applied` is `None` before the channel's first apply.
    Reached {
        server: String,
        applied: Option<Applied>,
    },
    Unreachable {
        reason: String,
    },
}

impl ClusterState {
    pub fn applied(&self) -> Option<&Applied> {
        match self {
            ClusterState::Reached { applied, .. } => applied.as_ref(),
            ClusterState::Unreachable { .. } => None,
        }
    }
}

/// Whether the release branch's tip is what the cluster runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pending {
    /// The tip is applied.
    Applied,
    /// The tip is merged but not applied (or its apply did not succeed).
    Pending,
    /// No release branch yet.
    NoRelease,
    /// The cluster could not be asked.
    Unknown,
}

impl Pending {
    pub fn as_str(self) -> &'static str {
        match self {
            Pending::Applied => "applied",
            Pending::Pending => "pending",
            Pending::NoRelease => "no release",
            Pending::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum DriftState {
    /// `--no-drift-check`, an unreachable cluster, or no release to compare.
    NotChecked,
    None,
    Drifted {
        changed: usize,
        orphans: usize,
    },
    Error {
        reason: String,
    },
}

impl DriftState {
    fn of(drift: &Drift) -> DriftState {
        if drift.errors() > 0 {
            DriftState::Error {
                reason: format!("{} objects could not be checked", drift.errors()),
            }
        } else if drift.is_none() {
            DriftState::None
        } else {
            DriftState::Drifted {
                changed: drift.changed.len(),
                orphans: drift.orphans.len(),
            }
        }
    }

    pub fn label(&self) -> String {
        match self {
            DriftState::NotChecked => "not checked".into(),
            DriftState::None => "none".into(),
            DriftState::Drifted { changed, orphans } => {
                format!("{changed} changed, {orphans} orphaned")
            }
            DriftState::Error { reason } => format!("error: {reason}"),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppStatus {
    /// Every image its objects run (`name:tag`, `name@digest`), sorted, once each.
    pub images: Vec<String>,
    /// Its rendered objects differ from the next channel's (`None`: no next channel, or it
    /// has no release): it needs promotion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub differs_from_next: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Promotion {
    pub channel: String,
    /// Source commits this channel runs that the next does not (`None`: a source commit is
    /// unknown or not in this repository).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub behind: Option<usize>,
    /// The remote's compare page from the next channel's source to this one's (GitHub-like
    /// remotes only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compare_url: Option<String>,
}

/// What git says of a channel, read before the clusters are asked.
struct Local {
    release: Option<release::Release>,
    tip: Option<Tip>,
    objects: Vec<TreeObject>,
    tree: RenderedTree,
}

/// The status of every channel of `options`: git first, then every cluster at once.
pub fn status(repo: &Repository, options: &Options<'_>) -> Result<Status, Problem> {
    let mut locals = Vec::new();
    for channel in &options.channels {
        let release = release::tip(repo, channel, options.remote)?;
        let (tip, tree) = match &release {
            Some(release) => {
                let (tree, manifest) = release.read(repo)?;
                let source = manifest.source;
                let tip = Tip {
                    commit: release.commit.to_string(),
                    source,
                };
                (Some(tip), tree)
            }
            None => (None, RenderedTree::default()),
        };
        let objects = tree.objects()?;
        locals.push(Local {
            release,
            tip,
            objects,
            tree,
        });
    }
    let repo_path = repo.path();
    // Each cluster on a thread of its own: one slow or unreachable cluster delays no other.
    let remote: Vec<(ClusterState, DriftState)> = std::thread::scope(|scope| {
        let handles: Vec<_> = options
            .channels
            .iter()
            .zip(&locals)
            .map(|(channel, local)| {
                scope.spawn(move || ask_cluster(options, channel, repo_path, local))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    let reason = "the cluster check stopped unexpectedly".to_string();
                    (ClusterState::Unreachable { reason }, DriftState::NotChecked)
                })
            })
            .collect()
    });
    let web = remote_web_url(repo, options.remote);
    let mut channels = Vec::new();
    for ((channel, local), (cluster, drift)) in options.channels.iter().zip(&locals).zip(remote) {
        let pending = match (&local.tip, &cluster) {
            (None, _) => Pending::NoRelease,
            (Some(_), ClusterState::Unreachable { .. }) => Pending::Unknown,
            (Some(tip), ClusterState::Reached { applied, .. }) => match applied {
                Some(a)
                    if a.release == tip.commit
                        && matches!(a.result, ApplyResult::Succeeded | ApplyResult::NoChanges) =>
                {
                    Pending::Applied
                }
                _ => Pending::Pending,
            },
        };
        channels.push(ChannelStatus {
            channel: channel.name.clone(),
            release_branch: channel.release_branch.clone(),
            tip: local.tip.clone(),
            cluster,
            pending,
            apps: BTreeMap::new(),
            drift,
            promotes_to: None,
        });
    }
    // The promotesTo chain: needs every channel's local and cluster answers.
    for i in 0..channels.len() {
        let Some(next_name) = options.channels[i].promotes_to.clone() else {
            continue;
        };
        let next = options.channels.iter().position(|c| c.name == next_name);
        // A next channel not asked for (`-c`) is not compared: nothing is known of it.
        let next_local = next.map(|n| &locals[n]);
        let mut apps = apps_of(&locals[i]);
        if let Some(next_local) = next_local.filter(|l| l.tip.is_some()) {
            let theirs = files_by_app(&next_local.tree, &next_local.objects);
            let ours = files_by_app(&locals[i].tree, &locals[i].objects);
            for (app, status) in apps.iter_mut() {
                status.differs_from_next = Some(ours.get(app) != theirs.get(app));
            }
        }
        let running = |c: &ChannelStatus| {
            c.cluster
                .applied()
                .and_then(|a| a.source.commit.clone())
                .or_else(|| c.tip.as_ref().and_then(|t| t.source.commit.clone()))
        };
        let (ours, theirs) = (
            running(&channels[i]),
            next.and_then(|n| running(&channels[n])),
        );
        let behind = match (&ours, &theirs) {
            (Some(ours), Some(theirs)) => count_behind(repo, ours, theirs),
            _ => None,
        };
        let compare_url = match (&web, &ours, &theirs) {
            (Some(web), Some(ours), Some(theirs)) if ours != theirs => {
                Some(format!("{web}/compare/{theirs}...{ours}"))
            }
            _ => None,
        };
        channels[i].apps = apps;
        channels[i].promotes_to = Some(Promotion {
            channel: next_name,
            behind,
            compare_url,
        });
    }
    for (channel, local) in channels.iter_mut().zip(&locals) {
        if channel.apps.is_empty() {
            channel.apps = apps_of(local);
        }
    }
    Ok(Status {
        project: options.config.project.clone(),
        repository_url: web,
        channels,
    })
}

/// Connect to the channel's cluster, read its record and (unless told not to) its drift.
fn ask_cluster(
    options: &Options<'_>,
    channel: &Channel,
    git_dir: &std::path::Path,
    local: &Local,
) -> (ClusterState, DriftState) {
    let asked = block_on(async {
        let cluster = Cluster::connect(&options.cluster.target(channel)).await?;
        let record = drift::read_record(&cluster, options.config, channel).await?;
        let drift = match (options.drift_check, &local.release) {
            (true, Some(tip)) => {
                let scope = drift::Scope {
                    config: options.config,
                    channel,
                    git_dir,
                    concurrency: options.cluster.concurrency,
                    context_lines: 0,
                };
                match scope.check_release(&cluster, tip, record.as_ref()).await {
                    Ok(checked) => DriftState::of(&checked.drift),
                    Err(problem) => DriftState::Error {
                        reason: problem.to_string(),
                    },
                }
            }
            _ => DriftState::NotChecked,
        };
        Ok((cluster.server.clone(), record, drift))
    });
    match asked {
        Ok((server, record, drift)) => (
            ClusterState::Reached {
                server,
                applied: record.as_ref().map(Applied::from),
            },
            drift,
        ),
        Err(problem) => (
            ClusterState::Unreachable {
                reason: problem.to_string(),
            },
            DriftState::NotChecked,
        ),
    }
}

/// The apps of a channel's release and their images.
fn apps_of(local: &Local) -> BTreeMap<String, AppStatus> {
    let mut apps: BTreeMap<String, AppStatus> = BTreeMap::new();
    for object in &local.objects {
        let app = apps
            .entry(object.app.clone().unwrap_or_default())
            .or_insert_with(|| AppStatus {
                images: Vec::new(),
                differs_from_next: None,
            });
        crate::object::image::collect(&object.body, &mut app.images);
    }
    for app in apps.values_mut() {
        app.images.sort();
        app.images.dedup();
    }
    apps
}

/// Each app's object files, to compare channels' releases app by app.
fn files_by_app<'a>(
    tree: &'a RenderedTree,
    objects: &[TreeObject],
) -> BTreeMap<String, BTreeMap<String, &'a [u8]>> {
    let mut apps: BTreeMap<String, BTreeMap<String, &[u8]>> = BTreeMap::new();
    for object in objects {
        let file = object.file();
        if let Some(bytes) = tree.files.get(&file) {
            apps.entry(object.app.clone().unwrap_or_default())
                .or_default()
                .insert(file, bytes);
        }
    }
    apps
}

/// Commits reachable from `ours` that `theirs` lacks; `None` when either is not here.
fn count_behind(repo: &Repository, ours: &str, theirs: &str) -> Option<usize> {
    let (ours, theirs) = (Oid::from_str(ours).ok()?, Oid::from_str(theirs).ok()?);
    let (ahead, _) = repo.graph_ahead_behind(ours, theirs).ok()?;
    Some(ahead)
}

/// The web address of `remote` when it is GitHub-like (github.com or GitHub Enterprise).
fn remote_web_url(repo: &Repository, remote: &str) -> Option<String> {
    let remote = repo.find_remote(remote).ok()?;
    web_url(remote.url().ok()?)
}

/// `https://github.com/o/r(.git)`, `git@github.com:o/r.git`, `ssh://git@github.com/o/r` →
/// `https://github.com/o/r`; `None` for anything not GitHub-like.
pub fn web_url(url: &str) -> Option<String> {
    let url = url.trim_end_matches('/');
    let url = url.strip_suffix(".git").unwrap_or(url);
    let (host, path) = if let Some(rest) = url.split_once("://").map(|(_, r)| r) {
        let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
        rest.split_once('/')?
    } else {
        let (user_host, path) = url.split_once(':')?;
        (
            user_host.rsplit_once('@').map_or(user_host, |(_, h)| h),
            path,
        )
    };
    let host = host.split(':').next()?;
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    (host.contains("github") && segments.len() == 2)
        .then(|| format!("https://{host}/{}/{}", segments[0], segments[1]))
}

#[cfg(test)]
mod tests {
    use super::web_url;

    #[test]
    fn github_like_remotes_have_a_web_address_and_others_none() {
        for url in [
            "https://github.com/acme/shop.git",
            "https://token@github.com/acme/shop",
            "git@github.com:acme/shop.git",
            "ssh://git@github.com:22/acme/shop.git",
        ] {
            assert_eq!(
                web_url(url).as_deref(),
                Some("https://github.com/acme/shop"),
                "{url}"
            );
        }
        assert_eq!(web_url("/tmp/acme/shop.git"), None);
        assert_eq!(web_url("https://gitlab.com/acme/shop.git"), None);
        assert_eq!(web_url("https://github.com/acme"), None);
    }
}
