//! Promotion: the source commit a channel last applied successfully (read from its release
//! record and the release's manifest, never from a branch tip) becomes the next channel's
//! candidate, on `candidates/<to>/promote-<short sha>`.

use crate::candidate::{self, CandidateState};
use crate::ci::CiEnv;
use crate::cluster::{Cluster, ClusterOptions, block_on};
use crate::config::{Channel, Config};
use crate::error::{Problem, Problems};
use crate::git;
use crate::release::record::{Deploy, Record};
use crate::release::{self, Release, outcome::ApplyResult};
use crate::tree::short_id;
use git2::{Oid, Repository};
use serde::Serialize;
use std::path::Path;

pub struct Options<'a> {
    pub config: &'a Config,
    pub from: &'a Channel,
    pub to: &'a Channel,
    pub cluster: &'a ClusterOptions,
    pub remote: &'a str,
    pub push: bool,
    /// `--auto`: the release branch of `to` is fast-forwarded to the candidate afterwards; only
    /// where `to` says `autoPromote: true`.
    pub auto: bool,
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
    if options.auto && !to.auto_promote {
        return Err(Problem::new(format!(
            "cannot promote {} to {} with --auto: channel {} does not say `autoPromote: true`",
            from.name, to.name, to.name
        ))
        .hint(format!(
            "promote without --auto (its candidate goes through review), or set `autoPromote: true` on channel {} in berth.yaml",
            to.name
        ))
        .into());
    }
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
    let tip = release::tip(repo, from, options.remote)?;
    let applied = promotable(repo, record.as_ref(), tip.as_ref())
        .map_err(|refusal| refusal.problem(from, to))?;
    let release = Release {
        commit: applied,
        name: from.release_branch.clone(),
    };
    let source = release.source_commit(repo)?.ok_or_else(|| {
        Problem::new(format!(
            "cannot promote {} to {}: its release {} names no source commit",
            from.name,
            to.name,
            short_id(&applied.to_string())
        ))
        .hint("berth renders every release with one: re-release the channel from its source")
    })?;
    let candidate_options = candidate::Options {
        channels: vec![to.name.clone()],
        branch: Some(format!("{BRANCH_PREFIX}{}", short_id(&source))),
        source,
        manual: false,
        remote: options.remote.to_string(),
        push: options.push,
        ci: options.ci.clone(),
    };
    candidate::run(repo, config_dir, &candidate_options)?
        .single()?
        .ok_or_else(|| Problem::new("no candidate was made").into())
}

/// Why a channel's last apply may not be promoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Its cluster has no release record.
    NeverApplied,
    /// The apply failed, timed out or its checks failed.
    Unsuccessful {
        release: String,
        result: ApplyResult,
    },
    /// A rollback is never promoted onward.
    Rollback {
        release: String,
        from: String,
        to: String,
    },
    /// A hand-picked ref or source (`apply --ref`, `candidate --source`).
    Manual { release: String },
    /// A partial apply (`apply --app`): the whole release is not applied.
    Partial { release: String, apps: Vec<String> },
    /// The release branch moved past what was applied (merged but not applied), or does not
    /// exist.
    Behind { release: String, tip: Option<Oid> },
}

/// The release commit the last apply (its `record`) applied, when it may be promoted; else the
/// first reason it may not. `tip` is the tip of the channel's release branch.
fn promotable(
    repo: &Repository,
    record: Option<&Record>,
    tip: Option<&Release>,
) -> Result<Oid, Refusal> {
    let Some(record) = record else {
        return Err(Refusal::NeverApplied);
    };
    let release = record.release.clone();
    if !matches!(
        record.result,
        ApplyResult::Succeeded | ApplyResult::NoChanges
    ) {
        return Err(Refusal::Unsuccessful {
            release,
            result: record.result,
        });
    }
    // A record written before deploy marks: a rollback commit still says so itself.
    let commit = Oid::from_str(&release).ok();
    let trailers = commit.and_then(|c| release::rollback::rolled_back(repo, c));
    match (&record.deploy, trailers) {
        (Deploy::Rollback { from, to }, _) => {
            return Err(Refusal::Rollback {
                release,
                from: from.clone(),
                to: to.clone(),
            });
        }
        (Deploy::Release, Some((from, to))) => {
            return Err(Refusal::Rollback { release, from, to });
        }
        (Deploy::Manual, _) => return Err(Refusal::Manual { release }),
        (Deploy::Release, None) => {}
    }
    if !record.partial.is_empty() {
        return Err(Refusal::Partial {
            release,
            apps: record.partial.clone(),
        });
    }
    let tip = tip.map(|t| t.commit);
    match commit {
        Some(commit) if tip == Some(commit) => Ok(commit),
        _ => Err(Refusal::Behind { release, tip }),
    }
}

impl Refusal {
    fn problem(&self, from: &Channel, to: &Channel) -> Problem {
        let (why, hint) = match self {
            Refusal::NeverApplied => (
                format!(
                    "{} was never applied (its cluster has no release record)",
                    from.name
                ),
                format!(
                    "apply a release of {0} successfully first (berth apply -c {0})",
                    from.name
                ),
            ),
            Refusal::Unsuccessful { release, result } => (
                format!("its last apply ({}) {result}", short_id(release)),
                format!(
                    "fix it and apply a release of {0} successfully first (berth apply -c {0})",
                    from.name
                ),
            ),
            Refusal::Rollback {
                release,
                from: rolled,
                to: back,
            } => (
                format!(
                    "its last apply ({}) is a rollback from {} to {}, never promoted onward",
                    short_id(release),
                    short_id(rolled),
                    short_id(back)
                ),
                format!("fix the source and release it to {} first", from.name),
            ),
            Refusal::Manual { release } => (
                format!(
                    "its last apply ({}) was a manual deploy, not a release of {}",
                    short_id(release),
                    from.release_branch
                ),
                format!(
                    "merge a candidate into {} and apply it; manual deploys are never promoted",
                    from.release_branch
                ),
            ),
            Refusal::Partial { release, apps } => (
                format!(
                    "its last apply ({}) was partial (only {}): the whole release is not applied",
                    short_id(release),
                    apps.join(", ")
                ),
                format!(
                    "apply the whole release of {0} (berth apply -c {0}), then promote",
                    from.name
                ),
            ),
            Refusal::Behind {
                release,
                tip: Some(tip),
            } => (
                format!(
                    "{} is behind its release branch: {} is at {}, but {} was last applied (merged but not applied)",
                    from.name,
                    from.release_branch,
                    short_id(&tip.to_string()),
                    short_id(release)
                ),
                format!(
                    "apply it first (berth apply -c {}), then promote",
                    from.name
                ),
            ),
            Refusal::Behind { release, tip: None } => (
                format!(
                    "its last apply ({}) is not a release of {}: the branch does not exist here",
                    short_id(release),
                    from.release_branch,
                ),
                format!(
                    "fetch {0}, or merge a candidate into {0} and apply it",
                    from.release_branch
                ),
            ),
        };
        Problem::new(format!(
            "cannot promote {} to {}: {why}",
            from.name, to.name
        ))
        .hint(hint)
    }
}

/// What `promote --auto` did to the target's release branch.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FastForward {
    /// The release branch, e.g. `releases/prod`.
    pub branch: String,
    /// Its tip before.
    pub from: Option<String>,
    /// Its tip now: the candidate commit (or the tip, when it already held the candidate's tree).
    pub commit: String,
    #[serde(flatten)]
    pub state: CandidateState,
}

/// `--auto`: fast-forward `to`'s release branch to `candidate` (made on top of its tip) by
/// compare-and-swap, and push it with `--force-with-lease`; nothing moves if either raced.
pub fn fast_forward(
    repo: &Repository,
    workdir: &Path,
    to: &Channel,
    candidate: &candidate::Outcome,
    remote: &str,
    push: bool,
) -> Result<FastForward, Problem> {
    let commit = Oid::from_str(&candidate.commit).expect("berth wrote this id");
    let base = candidate
        .base
        .as_deref()
        .map(|b| Oid::from_str(b).expect("berth wrote this id"));
    let branch_ref = format!("refs/heads/{}", to.release_branch);
    let local = release::local_tip(repo, to, base, remote)?;
    let tree = |id: Oid| repo.find_commit(id).map(|c| c.tree_id()).ok();
    if let Some(base) = base
        && tree(base) == tree(commit)
    {
        // Already promoted (by someone else, say): an empty release would only add noise.
        return Ok(FastForward {
            branch: to.release_branch.clone(),
            from: Some(base.to_string()),
            commit: base.to_string(),
            state: CandidateState::Unchanged,
        });
    }
    let log = format!("berth promote --auto: {}", candidate.ref_name);
    git::update_ref(repo, &branch_ref, commit, local, &log)?;
    let mut done = FastForward {
        branch: to.release_branch.clone(),
        from: base.map(|b| b.to_string()),
        commit: candidate.commit.clone(),
        state: CandidateState::Committed,
    };
    if push {
        if let Err(problem) = git::push_branch(repo, workdir, &to.release_branch, commit, remote) {
            // Nothing half-done: the local branch goes back to where it was (unless someone
            // moved it meanwhile, by compare-and-swap).
            match local {
                Some(local) => {
                    let _ = git::update_ref(repo, &branch_ref, local, Some(commit), &log);
                }
                None => {
                    let _ = repo.find_reference(&branch_ref).and_then(|mut r| {
                        match r.target() == Some(commit) {
                            true => r.delete(),
                            false => Ok(()),
                        }
                    });
                }
            }
            return Err(problem);
        }
        done.state = CandidateState::Pushed { committed: true };
    }
    Ok(done)
}
