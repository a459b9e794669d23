//! Promotion: the source commit a channel last applied successfully (read from its release
//! record and the release's manifest, never from a branch tip) becomes the next channel's
//! candidate, on `candidates/<to>/promote-<short sha>`.

use crate::candidate;
use crate::ci::CiEnv;
use crate::cluster::{Cluster, ClusterOptions, block_on};
use crate::config::{Channel, Config};
use crate::error::{Problem, Problems};
use crate::release::{self, Release, outcome::ApplyResult, rollback};
use crate::tree::short_id;
use git2::{Oid, Repository};
use std::path::Path;

pub struct Options<'a> {
    pub config: &'a Config,
    pub from: &'a Channel,
    pub to: &'a Channel,
    pub cluster: &'a ClusterOptions,
    pub remote: &'a str,
    pub push: bool,
    pub ci: CiEnv,
}

/// The prefix of a promotion's candidate branch: `candidates/<to>/promote-<short sha>`.
pub const BRANCH_PREFIX: &str = "promote-";

/// Check that `options.from`'s last apply may be promoted and make `options.to`'s candidate
/// from its source commit.
pub fn promote(
    repo: &Repository,
    config_dir: &Path,
    options: &Options<'_>,
) -> Result<candidate::Outcome, Problems> {
    let (from, to) = (options.from, options.to);
    if from.promotes_to.as_deref() != Some(to.name.as_str()) {
        return Err(Problem::new(format!(
            "channel {} does not promote to {}{}",
            from.name,
            to.name,
            from.promotes_to
                .as_ref()
                .map_or(String::new(), |t| format!(" (its promotesTo is {t})"))
        ))
        .hint(format!(
            "set `promotesTo: {}` on channel {} in berth.yaml, or promote along the chain",
            to.name, from.name
        ))
        .into());
    }
    let record = block_on(async {
        let cluster = Cluster::connect(&options.cluster.target(from)).await?;
        crate::status::drift::read_record(&cluster, options.config, from).await
    })?;
    let refuse = |why: String| -> Problems {
        Problem::new(format!(
            "cannot promote {} to {}: {why}",
            from.name, to.name
        ))
        .hint(format!(
            "apply a release of {0} successfully first (berth apply -c {0})",
            from.name
        ))
        .into()
    };
    let Some(record) = record else {
        return Err(refuse(format!(
            "{} was never applied (its cluster has no release record)",
            from.name
        )));
    };
    if !matches!(
        record.result,
        ApplyResult::Succeeded | ApplyResult::NoChanges
    ) {
        return Err(refuse(format!(
            "its last apply ({}) {}",
            short_id(&record.release),
            record.result
        )));
    }
    if !record.partial.is_empty() {
        return Err(refuse(format!(
            "its last apply ({}) was partial (only {}): the whole release is not applied",
            short_id(&record.release),
            record.partial.join(", ")
        )));
    }
    let applied = Oid::from_str(&record.release)
        .ok()
        .filter(|id| repo.find_commit(*id).is_ok())
        .ok_or_else(|| {
            Problem::new(format!(
                "the release {} last applied to {} is not in this repository",
                record.release, from.name
            ))
            .hint(format!("fetch it first (git fetch {})", options.remote))
        })?;
    if let Some(rolled_back) = rollback::rolled_back_from(repo, applied) {
        return Err(Problem::new(format!(
            "cannot promote {} to {}: its last apply ({}) is a rollback from {}, never promoted onward",
            from.name,
            to.name,
            short_id(&record.release),
            short_id(&rolled_back)
        ))
        .hint(format!(
            "fix the source and release it to {} first",
            from.name
        ))
        .into());
    }
    // A release applied from a hand-picked ref (`apply --ref`) is not on the release branch.
    let on_branch = release::tip(repo, from, options.remote)?.is_some_and(|tip| {
        tip.commit == applied
            || repo
                .graph_descendant_of(tip.commit, applied)
                .unwrap_or(false)
    });
    if !on_branch {
        return Err(Problem::new(format!(
            "cannot promote {} to {}: its last apply ({}) was a manual deploy, not a release of {}",
            from.name,
            to.name,
            short_id(&record.release),
            from.release_branch
        ))
        .hint(format!(
            "merge a candidate into {} and apply it; manual deploys are never promoted",
            from.release_branch
        ))
        .into());
    }
    let release = Release {
        commit: applied,
        name: from.release_branch.clone(),
    };
    let source = release.source_commit(repo)?.ok_or_else(|| {
        refuse(format!(
            "its release {} names no source commit",
            short_id(&record.release)
        ))
    })?;
    let candidate_options = candidate::Options {
        channels: vec![to.name.clone()],
        branch: Some(format!("{BRANCH_PREFIX}{}", short_id(&source))),
        source,
        remote: options.remote.to_string(),
        push: options.push,
        ci: options.ci.clone(),
    };
    candidate::run(repo, config_dir, &candidate_options)?
        .single()?
        .ok_or_else(|| Problem::new("no candidate was made").into())
}
