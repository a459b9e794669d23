//! Apps from other repositories (`source:` in berth.yaml). Their pinned commits are fetched
//! with the `git` CLI (so CI credentials and credential helpers work) into this repository's
//! object database, under `refs/berth/sources/<hash of the URL>/`: a tag or commit fetched once
//! renders offline, and a branch (allowed only with `allowFloating`) is fetched every time.

use super::CommitSource;
use crate::config::{Channel, Config, RemoteSource};
use crate::error::Problem;
use crate::render::{Fetched, RemoteSources, indent};
use crate::tree::short_id;
use git2::{ObjectType, Oid, Repository};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

/// Where fetched commits are kept: berth's own ref namespace, never a branch or tag.
const SOURCES_NAMESPACE: &str = "refs/berth/sources";

/// Fetch what the apps of `channels` (only `apps`, when given) take from other repositories,
/// into `repo`; each fetch that fails holds its problem, for the apps that need it.
pub fn fetch_sources(
    repo: Option<&Repository>,
    config: &Config,
    channels: &[&Channel],
    apps: &[String],
) -> RemoteSources {
    let mut wanted: BTreeMap<(String, String), &RemoteSource> = BTreeMap::new();
    for channel in channels {
        let selected = config.apps.iter().filter(|app| {
            channel.apps.contains(&app.name) && (apps.is_empty() || apps.contains(&app.name))
        });
        for app in selected {
            let remote = app
                .variants
                .get(&channel.name)
                .and_then(|v| v.source.as_ref());
            if let Some(remote) = remote {
                wanted.entry(RemoteSources::key(remote)).or_insert(remote);
            }
        }
    }
    RemoteSources(
        wanted
            .into_iter()
            .map(|(key, remote)| (key, fetch(repo, remote).map(Arc::new)))
            .collect(),
    )
}

/// The commit `remote` pins, fetched unless present, and its files.
fn fetch(repo: Option<&Repository>, remote: &RemoteSource) -> Result<Fetched, Problem> {
    let shown = remote.shown_repo();
    let Some(repo) = repo else {
        return Err(Problem::new(format!(
            "cannot fetch {shown}: not in a git repository"
        ))
        .hint("berth fetches other repositories into the repository of berth.yaml: run it in a clone"));
    };
    let commit = resolve(repo, remote)?;
    let shown_root = PathBuf::from(format!("{shown}@{}", short_id(&commit.to_string())));
    let files = CommitSource::load(repo, commit, "", &shown_root).map_err(|e| {
        Problem::new(format!(
            "cannot read commit {commit} of {shown}: {}",
            e.message()
        ))
        .hint("delete berth's copy (`git update-ref -d` of its ref under refs/berth/sources/) and run again")
    })?;
    Ok(Fetched {
        repo: shown,
        commit: commit.to_string(),
        files: Box::new(files),
    })
}

/// The commit `remote.reference` names: a commit id already present, a tag fetched before, or
/// what the repository says now (fetched into berth's namespace).
fn resolve(repo: &Repository, remote: &RemoteSource) -> Result<Oid, Problem> {
    let reference = &remote.reference;
    let shown = remote.shown_repo();
    let hash = Oid::hash_object(ObjectType::Blob, shown.as_bytes())
        .map_err(|e| Problem::new(format!("cannot hash {shown}: {}", e.message())))?;
    let namespace = format!("{SOURCES_NAMESPACE}/{hash}");
    if reference.len() == 40 && reference.chars().all(|c| c.is_ascii_hexdigit()) {
        let id = Oid::from_str(reference).expect("40 hex digits are a commit id");
        if repo.find_commit(id).is_ok() {
            return Ok(id);
        }
        let local = format!("{namespace}/commits/{reference}");
        run_fetch(repo, remote, &format!("+{reference}:{local}")).map_err(|stderr| {
            Problem::new(format!(
                "cannot fetch commit {reference} from {shown}:\n{}",
                indent(&stderr)
            ))
            .hint(format!(
                "check that {shown} is reachable from here (`git ls-remote {shown}`; \
                 credentials come from git's credential helpers) and holds that commit"
            ))
        })?;
        return commit_of(repo, &local, remote);
    }
    let tag = format!("{namespace}/tags/{reference}");
    if let Some(commit) = super::ref_target(repo, &tag)? {
        return Ok(commit); // a tag is pinned: once fetched, it is not asked for again
    }
    let listed = run_git(
        repo,
        remote,
        &[
            "ls-remote",
            "--end-of-options",
            &remote.repo,
            &format!("refs/tags/{reference}"),
            &format!("refs/heads/{reference}"),
        ],
    )
    .map_err(|stderr| {
        Problem::new(format!("cannot reach {shown}:\n{}", indent(&stderr))).hint(format!(
            "check the URL and that `git ls-remote {shown}` works here (credentials come from \
             git's credential helpers, e.g. the CI's token); a tag or commit fetched once \
             renders offline"
        ))
    })?;
    let has = |full: &str| {
        listed
            .lines()
            .any(|line| line.split('\t').nth(1) == Some(full))
    };
    let (remote_ref, local) = if has(&format!("refs/tags/{reference}")) {
        (format!("refs/tags/{reference}"), tag)
    } else if has(&format!("refs/heads/{reference}")) {
        if !remote.allow_floating {
            return Err(Problem::new(format!(
                "`{reference}` is a branch of {shown}: it moves, so renders of the same commit \
                 would differ"
            ))
            .hint(
                "pin a tag or a full commit id, or set `allowFloating: true` to render whatever \
                 the branch holds (the commit is recorded in the release)",
            ));
        }
        (
            format!("refs/heads/{reference}"),
            format!("{namespace}/heads/{reference}"),
        )
    } else {
        let short_hex = reference.len() >= 4 && reference.chars().all(|c| c.is_ascii_hexdigit());
        return Err(
            Problem::new(format!("{shown} has no tag or branch `{reference}`")).hint(
                match short_hex {
                    true => "a commit id must be given in full (40 hex digits)".to_string(),
                    false => format!("`git ls-remote --tags {shown}` lists its tags"),
                },
            ),
        );
    };
    run_fetch(repo, remote, &format!("+{remote_ref}:{local}")).map_err(|stderr| {
        Problem::new(format!(
            "cannot fetch `{reference}` from {shown}:\n{}",
            indent(&stderr)
        ))
        .hint("check that git can fetch from it here, then run again")
    })?;
    commit_of(repo, &local, remote)
}

/// The commit the fetched ref `local` points to (a tag is peeled).
fn commit_of(repo: &Repository, local: &str, remote: &RemoteSource) -> Result<Oid, Problem> {
    super::ref_target(repo, local)?.ok_or_else(|| {
        Problem::new(format!(
            "`{}` of {} is not a commit",
            remote.reference,
            remote.shown_repo()
        ))
        .hint("pin a tag or commit id that names a commit")
    })
}

fn run_fetch(repo: &Repository, remote: &RemoteSource, refspec: &str) -> Result<String, String> {
    run_git(
        repo,
        remote,
        &[
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            "--end-of-options",
            &remote.repo,
            refspec,
        ],
    )
}

/// Run `git args…` on `repo`, never prompting (CI has no one to answer); its standard error
/// on failure, with any credential of `remote`'s URL removed.
fn run_git(repo: &Repository, remote: &RemoteSource, args: &[&str]) -> Result<String, String> {
    let dir: &Path = repo.workdir().unwrap_or_else(|| repo.path());
    let scrub = |text: &str| {
        crate::secret::redact_userinfo(&text.replace(&remote.repo, &remote.shown_repo()))
            .trim()
            .to_string()
    };
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !output.status.success() {
        return Err(scrub(&String::from_utf8_lossy(&output.stderr)));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
