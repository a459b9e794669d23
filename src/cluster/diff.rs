//! The live diff: a rendered tree against the channel's cluster, each object dry-run applied,
//! with the prune preview from the channel's release record (or, before the first apply, from
//! its release branch).

use super::{Cluster, ClusterOptions, block_on, inspect, plan};
use crate::config::{Channel, Config};
use crate::error::{Problem, Problems};
use crate::object::{ObjectKey, TreeObject};
use crate::plan::Plan;
use crate::release::outcome::{Event, Reporter};
use crate::release::record;
use crate::tree::{NamedTree, RenderedTree};

pub struct Options<'a> {
    pub config: &'a Config,
    pub channel: &'a Channel,
    pub cluster: &'a ClusterOptions,
    /// Lines of context around each change.
    pub context_lines: usize,
    /// Dry-run every object (`--exact`) instead of judging most from labelled LISTs.
    pub exact: bool,
}

/// Plan `target` against the live cluster of the channel. `release` is the tree of the
/// channel's release branch (empty when there is none).
pub fn diff(
    options: &Options<'_>,
    target: NamedTree,
    release: &RenderedTree,
    reporter: &dyn Reporter,
) -> Result<Plan, Problems> {
    let apps = target.apps;
    let files = target.tree.object_files()?;
    let keys: Vec<ObjectKey> = files.keys().cloned().collect();
    // The Secrets first, before the cluster is reached: a secret source that fails stops the
    // diff having asked nothing.
    let secret_files = files.into_iter().filter(|(key, _)| key.is_secret());
    let mut secrets = crate::tree::parse_objects(secret_files, &apps)?;
    crate::secret::external::fill(
        &mut secrets,
        &options.config.external_secrets(options.channel),
        &options.config.secret_values(options.channel),
    )?;
    // The rest (most of a diff's own work) is parsed while the cluster is reached and the
    // kinds the files' paths name are listed.
    let (parsed, parsing) = tokio::sync::oneshot::channel();
    let tree = target.tree;
    std::thread::spawn(move || parsed.send(tree.objects_of(&apps, |key| !key.is_secret())));
    let Options {
        config,
        channel,
        cluster,
        context_lines,
        exact,
    } = options;
    let plan = block_on(async {
        let live = match Cluster::connect(&cluster.target(channel)).await {
            Ok(live) => live,
            // A tree that cannot be read is named first, as when it was read before connecting.
            Err(problem) => match parsing.await {
                Ok(Err(unreadable)) => return Err(unreadable),
                _ => return Err(problem),
            },
        };
        // A path names the group and kind: listed before the files are parsed.
        let early = inspect::kinds_named(&live, keys.iter().filter(|_| !*exact));
        let listing = inspect::list_kinds(
            &live,
            early,
            &config.project,
            &channel.name,
            cluster.concurrency,
        );
        let previous = previous_objects(&live, config, channel, release, reporter);
        let (previous, mut listed) = futures_util::future::join(previous, listing).await;
        let previous = previous?;
        let mut desired = parsing
            .await
            .map_err(|_| Problem::new("the rendered tree could not be read"))??;
        desired.append(&mut secrets);
        desired.sort_by(|a, b| a.key.cmp(&b.key));
        reporter.report(&Event::Checking {
            objects: desired.len(),
            server: &live.server,
        });
        let unpruned_apps = config.unpruned_apps();
        let plan_options = plan::Options {
            project: &config.project,
            channel: &channel.name,
            force: false,
            dry_run_creates: true,
            ignore: &config.ignore,
            concurrency: cluster.concurrency,
            context_lines: *context_lines,
            unpruned_apps: &unpruned_apps,
        };
        let objects = if *exact {
            plan::plan(&live, &desired, &previous, &plan_options).await
        } else {
            inspect::list_rest(
                &live,
                &mut listed,
                &desired,
                &config.project,
                &channel.name,
                cluster.concurrency,
            )
            .await;
            let changes = plan::plan_with(
                &live,
                &desired,
                &previous,
                &listed,
                Default::default(),
                &plan_options,
                reporter,
            )
            .await;
            super::drop_later(listed);
            changes
        };
        let objects = plan::mark_hooks(objects, &desired);
        super::drop_later((desired, previous));
        let requests = live.requests();
        reporter.report(&Event::Requests {
            count: requests,
            server: &live.server,
        });
        let base = live.describe();
        Ok(Plan {
            channel: channel.name.clone(),
            base,
            target: target.name,
            source_commit: target.source_commit,
            tree_commit: target.commit,
            objects,
            requests: Some(requests),
        })
    })?;
    Ok(plan)
}

/// What the channel holds: the objects of the release record apply keeps (with their apps from
/// the release manifest: the release's files need not be read), else of the release branch.
async fn previous_objects(
    live: &Cluster,
    config: &Config,
    channel: &Channel,
    release: &RenderedTree,
    reporter: &dyn Reporter,
) -> Result<Vec<TreeObject>, Problem> {
    let record = record::read(
        &live.client,
        &config.apply.namespace,
        &config.project,
        &channel.name,
    )
    .await;
    Ok(match record {
        Ok(Some(record)) => {
            let apps = release.apps_of()?;
            let mut objects = record.objects();
            for object in &mut objects {
                object.app = apps.get(&object.key).cloned();
            }
            objects
        }
        Ok(None) => release.objects()?,
        Err(problem) => {
            reporter.report(&Event::Warning(format!(
                "warning: {problem}; the prune preview uses {}",
                channel.release_branch
            )));
            release.objects()?
        }
    })
}
