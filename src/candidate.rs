//! Candidates: render a source commit for each channel and commit the rendered tree on
//! `candidates/<channel>/<branch>`, on top of the tip of the channel's release branch, so that a
//! pull request into the release branch shows exactly the rendered change and merges as a
//! fast-forward.

use crate::ci::CiEnv;
use crate::config::{self, Channel};
use crate::error::{Problem, Problems};
use crate::git::{self, CommitSource};
use crate::github::Client;
use crate::github::pulls::{PullOutcome, PullSpec};
use crate::object::ObjectKey;
use crate::plan::{Action, Counts};
use crate::render::{self, RenderedSet};
use crate::source::Source;
use crate::tree::{AppSource, SourceInfo};
use crate::tree::{NamedTree, RELEASE_FILE, RenderedTree, short_id};
use git2::{Delta, Oid, Repository};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

pub const CANDIDATE_PREFIX: &str = "candidates";

#[derive(Debug, Clone)]
pub struct Options {
    pub channels: Vec<String>,
    /// Source branch name; default: the current branch (or GitHub's).
    pub branch: Option<String>,
    /// The commit to render; default `HEAD`.
    pub source: String,
    /// `source` was hand-picked (`--source REV`): its release is a manual deploy.
    pub manual: bool,
    /// Remote whose release branches are the base, and where `push` pushes.
    pub remote: String,
    pub push: bool,
    pub ci: CiEnv,
}

/// What happened to one channel's candidate.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub channel: String,
    /// Full ref name, e.g. `refs/heads/candidates/test/feature/x`.
    #[serde(rename = "ref")]
    pub ref_name: String,
    pub commit: String,
    /// The release tip it is built on (`None`: the release branch does not exist yet).
    pub base: Option<String>,
    #[serde(flatten)]
    pub state: CandidateState,
    /// Objects added/changed/removed/unchanged against the release tip.
    pub changes: Counts,
    pub apps: BTreeMap<String, Counts>,
    /// The commit rendered and its branch.
    pub source: SourceInfo,
    /// The branch it is a candidate for (the pull request's base).
    #[serde(skip)]
    pub release_branch: String,
    /// Its pull request, with `--open-pr`.
    #[serde(rename = "pullRequest", skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<PullOutcome>,
}

/// Which rendered tree a diff compares.
#[derive(Debug, Clone, Copy)]
pub enum DiffTree<'a> {
    /// A commit holding a rendered tree (e.g. the pull request's candidate).
    Rev(&'a str),
    /// A fresh render of the working tree.
    Render,
    /// The channel's candidate for the current branch.
    Candidate,
}

/// The rendered tree a diff of `channel` compares. On a candidate branch itself (a pull request
/// from it), that branch is the tree; on a source branch, its candidate, local first, then
/// `remote`'s copy.
pub fn diff_tree(
    config: &config::Config,
    source: &dyn crate::source::Source,
    channel: &Channel,
    choice: DiffTree<'_>,
    repo: Option<&Repository>,
    ci: &CiEnv,
    remote: &str,
) -> Result<NamedTree, Problems> {
    let need_repo = || {
        repo.ok_or_else(|| {
            Problems::from(
                Problem::new("not in a git repository")
                    .hint("pass --render to diff a fresh render of the working tree"),
            )
        })
    };
    let branch = match choice {
        DiffTree::Rev(rev) => {
            let repo = need_repo()?;
            let mut tree = git::named_tree(repo, rev)?;
            tree.commit = Some(git::resolve_commit(repo, rev)?.to_string());
            return Ok(tree);
        }
        DiffTree::Render => {
            let options = render::Options {
                source: git::source_info(&config.root, ci),
                remotes: git::fetch_sources(repo, config, &[channel], &[]),
                ..Default::default()
            };
            let set = render::render(config, &[channel], source, &options)?.remove(0);
            // Say exactly what was rendered: HEAD's commit only when the files are HEAD's.
            let (name, source_commit) = match (repo, options.source.commit) {
                (Some(repo), Some(head)) if !git::has_uncommitted_changes(repo) => (
                    format!("the working tree at {}", short_id(&head)),
                    Some(head),
                ),
                (Some(_), _) => ("the working tree (uncommitted changes)".to_string(), None),
                (None, _) => ("the working tree".to_string(), None),
            };
            let tree = set.tree();
            return Ok(NamedTree {
                apps: tree.apps_of()?,
                tree,
                name,
                source_commit,
                tree_id: None,
                commit: None,
            });
        }
        DiffTree::Candidate => git::current_branch(need_repo()?, ci).ok_or_else(|| {
            Problem::new("cannot tell which branch this is (HEAD is detached)")
                .hint("pass --tree REV (e.g. the pull request's candidate) or --render")
        })?,
    };
    let repo = need_repo()?;
    let own_prefix = format!("{CANDIDATE_PREFIX}/{}/", channel.name);
    let candidate = if branch.starts_with(&own_prefix) {
        branch
    } else {
        format!("{own_prefix}{branch}")
    };
    for rev in [candidate.clone(), format!("{remote}/{candidate}")] {
        if git::resolve_commit(repo, &rev).is_ok() {
            return Ok(git::named_tree(repo, &rev)?);
        }
    }
    Err(Problem::new(format!("no candidate {candidate} to compare"))
        .hint("run `berth candidate` first, or pass --tree REV or --render")
        .into())
}

/// What became of a channel's candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CandidateState {
    /// The existing candidate already had this tree on this base.
    Unchanged,
    /// A new candidate commit was made here.
    Committed,
    /// The candidate was pushed; `committed` says whether this run made its commit.
    Pushed { committed: bool },
}

impl CandidateState {
    pub fn as_str(self) -> &'static str {
        match self {
            CandidateState::Unchanged => "unchanged",
            CandidateState::Committed => "committed",
            CandidateState::Pushed { .. } => "pushed",
        }
    }
}

/// In JSON as two flags, `updated` (a commit was made) and `pushed`.
impl Serialize for CandidateState {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Flags {
            updated: bool,
            pushed: bool,
        }
        let (updated, pushed) = match *self {
            CandidateState::Unchanged => (false, false),
            CandidateState::Committed => (true, false),
            CandidateState::Pushed { committed } => (committed, true),
        };
        Flags { updated, pushed }.serialize(serializer)
    }
}

/// The full ref of the candidate of `branch` in `channel`.
pub fn ref_name(channel: &str, branch: &str) -> String {
    format!("refs/heads/{CANDIDATE_PREFIX}/{channel}/{branch}")
}

/// Render `options.source` and commit each channel's candidate.
/// `config_dir` is the directory of berth.yaml in the working tree; the config itself is read
/// from the source commit, like everything else.
pub fn run(
    repo: &Repository,
    config_dir: &Path,
    options: &Options,
) -> Result<Candidates, Problems> {
    let workdir = repo.workdir().ok_or_else(|| {
        Problem::new("the repository is bare").hint("run berth in a clone with a working tree")
    })?;
    let root = git::relative_root(workdir, config_dir)?;
    let source_commit = git::resolve_commit(repo, &options.source)?;
    let branch = match &options.branch {
        Some(branch) => branch.clone(),
        None => git::current_branch(repo, &options.ci).ok_or_else(|| {
            Problem::new("cannot tell which branch this is (HEAD is detached)")
                .hint("pass --branch NAME")
        })?,
    };
    if !git2::Reference::is_valid_name(&ref_name("x", &branch)) {
        let from = match (&options.branch, &options.ci.head_ref) {
            (Some(_), _) => "--branch",
            (None, Some(_)) => "GITHUB_HEAD_REF",
            (None, None) => "the checked-out branch",
        };
        return Err(Problem::new(format!(
            "`{branch}` (from {from}) is not a valid branch name"
        ))
        .hint(format!(
            "the candidate is the branch {CANDIDATE_PREFIX}/<channel>/<branch>: git refuses \
             spaces, `..`, `~`, `^`, `:`, `?`, `*`, `[`, `\\`, a leading `-` and a trailing `.lock` or `/`"
        ))
        .into());
    }
    if options.push && repo.find_remote(&options.remote).is_err() {
        let remotes = repo.remotes().ok();
        let known: Vec<&str> = remotes
            .iter()
            .flat_map(|r| r.iter().flatten())
            .flatten()
            .collect();
        return Err(Problem::new(format!(
            "cannot push: this repository has no remote `{}`",
            options.remote
        ))
        .hint(match known.is_empty() {
            true => "add one (`git remote add origin URL`), or leave out --push".to_string(),
            false => format!("remotes: {}; name one with --push REMOTE", known.join(", ")),
        })
        .into());
    }

    let source = CommitSource::load(repo, source_commit, &root, Path::new(&root)).map_err(|e| {
        Problem::new(format!(
            "cannot read {} at commit {source_commit}: {}",
            if root.is_empty() {
                "the repository"
            } else {
                &root
            },
            e.message()
        ))
        .hint("is berth.yaml committed?")
    })?;
    let config_file = Path::new(&root).join(config::FILE_NAME);
    let text = match source.read(config::FILE_NAME) {
        Ok(bytes) => crate::source::utf8_text(bytes, &config_file)?,
        Err(_) => {
            let hint = match config_dir.join(config::FILE_NAME).is_file() {
                true => format!(
                    "berth.yaml is in the working tree but not in that commit: candidates are \
                     rendered from commits; `git add {}` and commit it",
                    config_file.display()
                ),
                false => {
                    "run berth candidate in the repository's configuration directory".to_string()
                }
            };
            return Err(
                Problem::new(format!("no berth.yaml in commit {source_commit}"))
                    .in_file(&config_file)
                    .hint(hint)
                    .into(),
            );
        }
    };
    let config = config::parse(&config_file, &text, &source)?;
    let channels = config.select_channels(&options.channels)?;
    // Pushing a candidate (or a release) triggers the same CI job again: it is no source.
    let generated = branch.starts_with(&format!("{CANDIDATE_PREFIX}/"))
        || config.channels.iter().any(|c| c.release_branch == branch);
    if generated {
        return Ok(Candidates {
            outcomes: Vec::new(),
            failed: None,
            warnings: String::new(),
        });
    }
    let render_options = render::Options {
        source: SourceInfo {
            commit: Some(source_commit.to_string()),
            branch: Some(branch.clone()),
            manual: options.manual,
        },
        remotes: git::fetch_sources(Some(repo), &config, &channels, &[]),
        ..Default::default()
    };
    // Every channel that renders gets its candidate, whichever others fail.
    let mut outcomes = Vec::new();
    let mut failed = Vec::new();
    let mut warnings = String::new();
    let rendered = render::render_each(&config, &channels, &source, &render_options);
    for (channel, (name, result)) in channels.iter().zip(rendered) {
        match result {
            Ok(set) => {
                warnings.push_str(&render::warnings(std::slice::from_ref(&set)));
                outcomes.push(commit_channel(
                    repo,
                    channel,
                    &set,
                    &branch,
                    source_commit,
                    options,
                )?)
            }
            Err(problems) => failed.extend(problems.0.into_iter().map(|p| (name.clone(), p))),
        }
    }
    if options.push {
        push(repo, workdir, &mut outcomes, &options.remote)?;
    }
    let failed = match failed.is_empty() {
        true => None,
        false => {
            let mut problems = Problems::merge_channels(failed);
            let names: Vec<&str> = channels
                .iter()
                .map(|c| c.name.as_str())
                .filter(|c| !outcomes.iter().any(|o| o.channel == *c))
                .collect();
            let made = match outcomes.is_empty() {
                true => "no channel rendered".to_string(),
                false => format!(
                    "the candidates of {} were made",
                    outcomes
                        .iter()
                        .map(|o| o.channel.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            problems.push(
                Problem::new(format!("no candidate for {}: {made}", names.join(", ")))
                    .hint("fix the problems above and run `berth candidate` again"),
            );
            Some(Problems(problems))
        }
    };
    Ok(Candidates {
        outcomes,
        failed,
        warnings,
    })
}

/// What `berth candidate` made, and the channels that failed to render.
#[derive(Debug)]
pub struct Candidates {
    pub outcomes: Vec<Outcome>,
    /// Why some channels have no candidate (the run still fails).
    pub failed: Option<Problems>,
    /// The renders' warnings, `warning: …` lines.
    pub warnings: String,
}

impl Candidates {
    /// The one candidate a single-channel run made; its channel's failure as the error.
    pub fn single(mut self) -> Result<Option<Outcome>, Problems> {
        match self.failed {
            Some(problems) => Err(problems),
            None => Ok(self.outcomes.pop()),
        }
    }
}

/// The files of `commit` below `root` and the berth.yaml committed there.
fn load_commit(
    repo: &Repository,
    commit: Oid,
    root: &str,
) -> Result<(CommitSource, config::Config), Problems> {
    let source = CommitSource::load(repo, commit, root, Path::new(root)).map_err(|e| {
        Problem::new(format!(
            "cannot read {} at commit {commit}: {}",
            if root.is_empty() {
                "the repository"
            } else {
                root
            },
            e.message()
        ))
        .hint("is berth.yaml committed?")
    })?;
    let config_file = Path::new(root).join(config::FILE_NAME);
    let text = source.text(config::FILE_NAME).ok_or_else(|| {
        Problem::new(format!("no berth.yaml in commit {commit}")).in_file(&config_file)
    })?;
    let config = config::parse(&config_file, &text, &source)?;
    Ok((source, config))
}

/// The channels of `head` whose rendered tree differs from the one `since` renders: a channel
/// new since then counts as changed, and so does every channel when `since` does not render
/// (a commit before berth.yaml, or one that fails): better a job too many than a change missed.
pub fn changed_channels(
    repo: &Repository,
    config_dir: &Path,
    since: &str,
    head: &str,
) -> Result<Vec<String>, Problems> {
    let (_, root) = relative_root(repo, config_dir)?;
    // In berth.yaml's order.
    let render_commit = |rev: &str| -> Result<Vec<(String, RenderedTree)>, Problems> {
        let commit = git::resolve_commit(repo, rev)?;
        let (source, config) = load_commit(repo, commit, &root)?;
        let channels: Vec<&Channel> = config.channels.iter().collect();
        let options = render::Options {
            remotes: git::fetch_sources(Some(repo), &config, &channels, &[]),
            ..Default::default()
        };
        let sets = render::render(&config, &channels, &source, &options)?;
        Ok(sets
            .into_iter()
            .map(|s| (s.channel.clone(), s.tree()))
            .collect())
    };
    let now = render_commit(head)?;
    // The base must exist (a typo is an error); only its rendering may fail.
    git::resolve_commit(repo, since)?;
    let before: BTreeMap<String, RenderedTree> = render_commit(since)
        .map(|sets| sets.into_iter().collect())
        .unwrap_or_default();
    Ok(now
        .into_iter()
        .filter(|(channel, tree)| before.get(channel) != Some(tree))
        .map(|(channel, _)| channel)
        .collect())
}

/// The repository's working tree, and `config_dir` relative to it, `/`-separated ("" at the
/// top).
fn relative_root<'r>(
    repo: &'r Repository,
    config_dir: &Path,
) -> Result<(&'r Path, String), Problem> {
    let workdir = repo.workdir().ok_or_else(|| {
        Problem::new("the repository is bare").hint("run berth in a clone with a working tree")
    })?;
    Ok((workdir, git::relative_root(workdir, config_dir)?))
}

fn commit_channel(
    repo: &Repository,
    channel: &Channel,
    set: &RenderedSet,
    branch: &str,
    source_commit: Oid,
    options: &Options,
) -> Result<Outcome, Problem> {
    let base = crate::release::tip(repo, channel, &options.remote)?.map(|r| r.commit);
    let tree = set.tree();
    let tree_id = git::write_tree(repo, &tree)?;
    let name = ref_name(&channel.name, branch);
    if let Some(other) = git::ref_conflict(repo, &name) {
        let short = |r: &str| r.trim_start_matches("refs/heads/").to_string();
        return Err(Problem::new(format!(
            "cannot make the candidate branch {}: the branch {} exists, and git cannot hold a \
             branch and another below it",
            short(&name),
            short(&other)
        ))
        .hint(format!(
            "rename the source branch {branch}, or delete {} if it is stale (`git branch -D {}`)",
            short(&other),
            short(&other)
        )));
    }
    let current = git::ref_target(repo, &name)?;
    // A fresh CI clone has only the remote's copy of the candidate: it counts too.
    let tracking = format!(
        "refs/remotes/{}/{}",
        options.remote,
        name.trim_start_matches("refs/heads/")
    );
    let existing = current.or(git::ref_target(repo, &tracking)?);
    let (changes, apps) = count_changes(repo, base, tree_id, &tree)?;

    let unchanged = existing
        .and_then(|c| repo.find_commit(c).ok())
        .is_some_and(|c| {
            c.tree_id() == tree_id
                && c.parent_ids().collect::<Vec<_>>() == base.into_iter().collect::<Vec<_>>()
        });
    let commit = if unchanged {
        let commit = existing.expect("an unchanged candidate exists");
        if current.is_none() {
            git::update_ref(
                repo,
                &name,
                commit,
                None,
                &format!("berth candidate: {branch}"),
            )?;
        }
        commit
    } else {
        let fail =
            |e: git2::Error| Problem::new(format!("cannot commit the candidate: {}", e.message()));
        let signature = repo
            .signature()
            .or_else(|_| git2::Signature::now("berth", "berth@localhost"))
            .map_err(fail)?;
        let git_tree = repo.find_tree(tree_id).map_err(fail)?;
        let parent = base
            .map(|b| repo.find_commit(b))
            .transpose()
            .map_err(fail)?;
        let parents: Vec<&git2::Commit> = parent.iter().collect();
        let message = message(
            channel,
            branch,
            source_commit,
            &changes,
            &apps,
            &set.sources,
        );
        let commit = repo
            .commit(None, &signature, &signature, &message, &git_tree, &parents)
            .map_err(fail)?;
        git::update_ref(
            repo,
            &name,
            commit,
            current,
            &format!("berth candidate: {branch}"),
        )?;
        commit
    };
    Ok(Outcome {
        channel: channel.name.clone(),
        ref_name: name,
        commit: commit.to_string(),
        base: base.map(|b| b.to_string()),
        state: if unchanged {
            CandidateState::Unchanged
        } else {
            CandidateState::Committed
        },
        changes,
        apps,
        source: SourceInfo {
            commit: Some(source_commit.to_string()),
            branch: Some(branch.to_string()),
            manual: options.manual,
        },
        release_branch: channel.release_branch.clone(),
        pull_request: None,
    })
}

/// Objects created, changed, deleted and unchanged from the release tip to `tree`, in total and
/// per app, from git's own tree diff (blob ids, no contents read).
fn count_changes(
    repo: &Repository,
    base: Option<Oid>,
    tree_id: Oid,
    tree: &RenderedTree,
) -> Result<(Counts, BTreeMap<String, Counts>), Problem> {
    let fail =
        |e: git2::Error| Problem::new(format!("cannot compare with the release: {}", e.message()));
    let new_tree = repo.find_tree(tree_id).map_err(fail)?;
    let old_tree = base
        .map(|b| repo.find_commit(b).and_then(|c| c.tree()))
        .transpose()
        .map_err(fail)?;
    let mut apps = tree.apps_of()?;
    let old_release = old_tree
        .as_ref()
        .and_then(|old| old.get_path(Path::new(RELEASE_FILE)).ok())
        .and_then(|entry| repo.find_blob(entry.id()).ok());
    if let Some(blob) = old_release {
        let old_release = RenderedTree {
            files: [(RELEASE_FILE.to_string(), blob.content().to_vec())].into(),
        };
        for (key, app) in old_release.apps_of()? {
            apps.entry(key).or_insert(app);
        }
    }
    let diff = repo
        .diff_tree_to_tree(old_tree.as_ref(), Some(&new_tree), None)
        .map_err(fail)?;
    let mut actions: BTreeMap<ObjectKey, Action> = tree
        .object_files()?
        .into_keys()
        .map(|key| (key, Action::Unchanged))
        .collect();
    for delta in diff.deltas() {
        let file = match delta.status() {
            Delta::Deleted => delta.old_file(),
            _ => delta.new_file(),
        };
        let Some(key) = file
            .path()
            .and_then(|p| p.to_str())
            .and_then(ObjectKey::from_path)
        else {
            continue; // berth's own files
        };
        let action = match delta.status() {
            Delta::Added => Action::Create,
            Delta::Deleted => Action::Delete,
            _ => Action::Update,
        };
        actions.insert(key, action);
    }
    let mut total = Counts::default();
    let mut per_app: BTreeMap<String, Counts> = BTreeMap::new();
    for (key, action) in actions {
        total.add(action);
        per_app
            .entry(apps.get(&key).cloned().unwrap_or_default())
            .or_default()
            .add(action);
    }
    Ok((total, per_app))
}

fn message(
    channel: &Channel,
    branch: &str,
    source_commit: Oid,
    changes: &Counts,
    apps: &BTreeMap<String, Counts>,
    sources: &BTreeMap<String, AppSource>,
) -> String {
    let source = source_commit.to_string();
    let short = short_id(&source);
    let mut text = format!(
        "Render {branch} ({short}) for {}: {}\n\n",
        channel.name,
        changes.summary()
    );
    for (app, counts) in apps {
        let app = if app.is_empty() {
            "(no app)"
        } else {
            app.as_str()
        };
        let objects = counts.create + counts.update + counts.unchanged;
        let plural = if objects == 1 { "" } else { "s" };
        text.push_str(&format!(
            "- {app}: {objects} object{plural}; {}\n",
            counts.summary()
        ));
    }
    text.push_str(&format!(
        "\nBerth-Channel: {}\nSource-Commit: {source_commit}\nSource-Branch: {branch}\n",
        channel.name
    ));
    // Apps from other repositories: the commit each was rendered from (URLs hold no credentials).
    for (app, source) in sources {
        text.push_str(&format!(
            "App-Source: {app} {} {} ({})\n",
            source.repo, source.commit, source.reference
        ));
    }
    text
}

/// Push each updated candidate with `--force-with-lease`, expecting the remote to hold what we
/// last fetched from it: a candidate someone else pushed meanwhile is never overwritten.
fn push(
    repo: &Repository,
    workdir: &Path,
    outcomes: &mut [Outcome],
    remote: &str,
) -> Result<(), Problem> {
    for outcome in outcomes.iter_mut() {
        let short = outcome.ref_name.trim_start_matches("refs/heads/");
        let tracking = format!("refs/remotes/{remote}/{short}");
        let expected = git::ref_target(repo, &tracking)?;
        if expected.map(|e| e.to_string()).as_deref() == Some(outcome.commit.as_str()) {
            continue; // the remote already has it
        }
        let lease = format!(
            "--force-with-lease={}:{}",
            outcome.ref_name,
            expected.map(|e| e.to_string()).unwrap_or_default()
        );
        let refspec = format!("{}:{}", outcome.ref_name, outcome.ref_name);
        git::git_cli(workdir, &["push", "--quiet", &lease, remote, &refspec]).map_err(|p| {
            // Only a refused lease means the branch moved; other failures speak for themselves.
            let refused = ["stale info", "rejected", "fetch first"]
                .iter()
                .any(|m| p.message.contains(m));
            match refused {
                true => p.hint(format!(
                    "someone else may have pushed {short}; fetch ({remote}) and run berth candidate again"
                )),
                false => p,
            }
        })?;
        // Keep the remote-tracking ref in step, as a fetch would.
        let commit = Oid::from_str(&outcome.commit).expect("berth wrote this id");
        repo.reference(&tracking, commit, true, "berth candidate: pushed")
            .map_err(|e| Problem::new(format!("cannot update {tracking}: {}", e.message())))?;
        outcome.state = CandidateState::Pushed {
            committed: outcome.state == CandidateState::Committed,
        };
    }
    Ok(())
}

/// Delete candidate branches on `remote` whose source branch no longer exists there.
/// Returns the deleted branch names.
pub fn prune_stale(
    workdir: &Path,
    remote: &str,
    channels: &[&Channel],
) -> Result<Vec<String>, Problem> {
    let listing = git::git_cli(workdir, &["ls-remote", "--heads", remote])?;
    let heads: BTreeMap<String, String> = listing
        .lines()
        .filter_map(|line| {
            let (id, name) = line.split_once('\t')?;
            Some((
                name.strip_prefix("refs/heads/")?.to_string(),
                id.to_string(),
            ))
        })
        .collect();
    let mut deleted = Vec::new();
    for (name, id) in &heads {
        let Some(rest) = name.strip_prefix(&format!("{CANDIDATE_PREFIX}/")) else {
            continue;
        };
        let Some((channel, branch)) = rest.split_once('/') else {
            continue;
        };
        if !channels.iter().any(|c| c.name == channel) || heads.contains_key(branch) {
            continue;
        }
        let full = format!("refs/heads/{name}");
        let lease = format!("--force-with-lease={full}:{id}");
        git::git_cli(
            workdir,
            &["push", "--quiet", &lease, remote, &format!(":{full}")],
        )?;
        deleted.push(name.clone());
    }
    Ok(deleted)
}

/// The hidden first line of a candidate pull request's body.
const PULL_MARKER: &str = "<!-- berth:candidate";

/// Open or update the pull request of each pushed candidate into its release branch (see
/// [`pull_spec`]); a candidate that changes no object opens none, but updates an open one.
/// `source_pr` is the pull request the source commit came from, if the event names one.
pub fn open_pull_requests(
    client: &Client,
    outcomes: &mut [Outcome],
    source_pr: Option<u64>,
) -> Result<(), Problem> {
    for outcome in outcomes.iter_mut() {
        let spec = pull_spec(outcome, source_pr);
        outcome.pull_request = client.sync_pull(&spec, outcome.changes.changed() > 0)?;
    }
    Ok(())
}

/// The pull request `candidates/<c>/<branch>` → the release branch: titled after the source
/// branch; its body names the source commit (and pull request), the candidate commit and the
/// objects changed per app.
fn pull_spec(outcome: &Outcome, source_pr: Option<u64>) -> PullSpec {
    let branch = outcome.source.branch.as_deref().unwrap_or("?");
    let source = outcome.source.commit.as_deref().unwrap_or("?");
    let from_pr = source_pr
        .map(|n| format!(" (pull request #{n})"))
        .unwrap_or_default();
    let mut body = format!(
        "{PULL_MARKER} channel={} branch={branch} -->\n\
         Candidate of channel **{}**, rendered from `{branch}` at {source}{from_pr}.\n\n\
         Merging it fast-forwards `{}` to `{}`.\n\n\
         **{}**\n\n",
        outcome.channel,
        outcome.channel,
        outcome.release_branch,
        short_id(&outcome.commit),
        outcome.changes.summary(),
    );
    body.push_str("| app | create | update | delete | unchanged |\n|:--|--:|--:|--:|--:|\n");
    for (app, counts) in &outcome.apps {
        let app = if app.is_empty() { "(no app)" } else { app };
        body.push_str(&format!(
            "| {app} | {} | {} | {} | {} |\n",
            counts.create, counts.update, counts.delete, counts.unchanged
        ));
    }
    PullSpec {
        head: outcome
            .ref_name
            .trim_start_matches("refs/heads/")
            .to_string(),
        base: outcome.release_branch.clone(),
        title: format!("Release {branch} to {}", outcome.channel),
        body,
    }
}
