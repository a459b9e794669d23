//! Releasing: `berth apply`, `rollback`, `promote` and `set-image`.

use super::*;
use crate::notify::Subject;

pub(super) fn apply_command(config: &Config, args: &ApplyArgs, ci: &CiEnv) -> Result<u8, Problems> {
    let channel = config.select_channels(std::slice::from_ref(&args.channel))?[0];
    let request = apply::Request {
        rev: args.release.clone(),
        remote: REMOTE.to_string(),
        push_notes: args.push_notes.clone(),
        cluster: ClusterOptions::from(&args.cluster),
        prune: args.prune,
        allow_mass_prune: args.allow_mass_prune,
        allow_cascading_prune: args.allow_cascading_prune,
        force_conflicts: args.force_conflicts,
        dry_run: args.dry_run,
        wait: args.wait.then_some(args.timeout),
        lock_wait: args.lock_timeout,
        ci: ci.clone(),
        accept_changed_plan: args.accept_changed_plan,
        require_reviewed_plan: args.require_reviewed_plan,
        apps: args.apps.clone(),
    };
    let progress = Stderr {
        progress: args.output == OutcomeFormat::Text,
        verbose: args.cluster.verbose,
    };
    let report = apply::apply_release(config, channel, &request, &progress)?;
    step_summary(ci, || report::apply::markdown(&report))?;
    print(&match args.output {
        OutcomeFormat::Json => report::apply::json(&report),
        OutcomeFormat::Text => report::apply::text(&report),
    })?;
    Ok(report.exit_code())
}

pub(super) fn rollback_command(
    config: &Config,
    args: &RollbackArgs,
    ci: &CiEnv,
) -> Result<u8, Problems> {
    use crate::release::rollback::{self, Target};
    let channel = config.select_channels(std::slice::from_ref(&args.channel))?[0];
    let repo = crate::git::open(&config.root)?;
    let target = match &args.to {
        Some(rev) => Target::To(rev.clone()),
        None => Target::Steps(args.steps.unwrap_or(1)),
    };
    let mut done = rollback::rollback(&repo, channel, &target, REMOTE)?;
    if let Some(remote) = &args.push {
        let workdir = repo.workdir().unwrap_or(&config.root).to_path_buf();
        rollback::push(&repo, &workdir, &mut done, remote)?;
    }
    let commit = git2::Oid::from_str(&done.commit).ok();
    tell(config, channel, Subject::Rollback(&done), commit, ci);
    let text = format!(
        "{}  {}  rolled back from {} to {}{}\n",
        done.branch,
        short_id(&done.commit),
        short_id(&done.from),
        short_id(&done.to),
        if done.pushed { "  [pushed]" } else { "" }
    );
    if !args.apply {
        print(&match args.output {
            OutcomeFormat::Json => json(&done),
            OutcomeFormat::Text => text,
        })?;
        return Ok(exit::OK);
    }
    // JSON stays one document (the apply report); the rollback itself goes to stderr.
    eprint!("{text}");
    let apply = ApplyArgs {
        channel: channel.name.clone(),
        // The local branch: without --push the remote's copy is still the release rolled back.
        release: Some(channel.release_branch.clone()),
        prune: false,
        allow_mass_prune: false,
        allow_cascading_prune: false,
        wait: args.wait,
        timeout: args.timeout,
        lock_timeout: std::time::Duration::from_secs(300),
        force_conflicts: false,
        dry_run: false,
        push_notes: None,
        // A rollback goes back to a tree reviewed long ago, against an older cluster: its
        // recorded plan is stale by design.
        accept_changed_plan: true,
        require_reviewed_plan: false,
        apps: Vec::new(),
        output: args.output,
        cluster: args.cluster.clone(),
    };
    apply_command(config, &apply, ci)
}

pub(super) fn set_image_command(
    cli: &Cli,
    args: &SetImageArgs,
    ci: &CiEnv,
) -> Result<u8, Problems> {
    let (config, _) = load_config(cli)?;
    let channel = config.select_channels(std::slice::from_ref(&args.channel))?[0];
    let changes = args
        .pins
        .iter()
        .map(|pin| config::pins::PinChange::parse(pin))
        .collect::<Result<Vec<_>, _>>()?;
    let (_, root) = config_location(cli)?;
    let repo = crate::git::open(&root)?;
    let workdir = repo
        .workdir()
        .ok_or_else(|| {
            Problem::new("the repository is bare").hint("run berth in a clone with a working tree")
        })?
        .to_path_buf();
    let branch = match &args.branch {
        Some(branch) => branch.clone(),
        None => crate::git::current_branch(&repo, ci).ok_or_else(|| {
            Problem::new("cannot tell which branch this is (HEAD is detached)")
                .hint("pass --branch NAME")
        })?,
    };
    let remote = args.push.as_deref().unwrap_or(REMOTE);
    let relative = crate::git::relative_root(&workdir, &root)?;
    let mut done =
        crate::git::set_image(&repo, &relative, &channel.name, &branch, &changes, remote)?;
    if args.push.is_some() && done.committed {
        let commit = git2::Oid::from_str(&done.commit).expect("berth wrote this id");
        crate::git::push_branch(&repo, &workdir, &branch, commit, remote)?;
        done.pushed = true;
    }
    let candidate = match args.candidate {
        true => candidate::run(
            &repo,
            &root,
            &candidate::Options {
                channels: vec![channel.name.clone()],
                branch: Some(branch.clone()),
                source: done.commit.clone(),
                manual: false,
                remote: remote.to_string(),
                push: args.push.is_some(),
                ci: ci.clone(),
            },
        )?
        .single()?,
        false => None,
    };
    print(&match args.output {
        OutcomeFormat::Json => json(&serde_json::json!({ "pins": done, "candidate": candidate })),
        OutcomeFormat::Text => {
            let state = match (done.committed, done.pushed) {
                (false, _) => "unchanged",
                (true, false) => "committed",
                (true, true) => "pushed",
            };
            format!(
                "{}  {}  {}  {}  [{state}]\n{}",
                done.channel,
                done.branch,
                short_id(&done.commit),
                done.file,
                candidate.as_ref().map(candidate_line).unwrap_or_default()
            )
        }
    })?;
    Ok(exit::OK)
}

pub(super) fn promote_command(
    cli: &Cli,
    config: &Config,
    args: &PromoteArgs,
    ci: &CiEnv,
) -> Result<u8, Problems> {
    let from = config.select_channels(std::slice::from_ref(&args.from))?[0];
    let to_name = match (&args.to, &from.promotes_to) {
        (Some(to), _) | (None, Some(to)) => to.clone(),
        (None, None) => {
            return Err(
                Problem::new(format!("channel {} promotes to no channel", from.name))
                    .hint(format!(
                        "pass --to CHANNEL, or set `promotesTo` on channel {} in berth.yaml",
                        from.name
                    ))
                    .into(),
            );
        }
    };
    let to = config.select_channels(std::slice::from_ref(&to_name))?[0];
    let (_, root) = config_location(cli)?;
    let repo = crate::git::open(&root)?;
    let cluster = ClusterOptions::from(&args.cluster);
    let options = crate::promote::Options {
        config,
        from,
        to,
        cluster: &cluster,
        remote: args.push.as_deref().unwrap_or(REMOTE),
        push: args.push.is_some(),
        auto: args.auto,
        ci: ci.clone(),
    };
    let github = github_client(args.open_pr, ci)?;
    let mut outcome = crate::promote::promote(&repo, &root, &options)?;
    open_pull_requests(github.as_ref(), std::slice::from_mut(&mut outcome), ci)?;
    let released = match args.auto {
        true => {
            let workdir = repo.workdir().unwrap_or(&root).to_path_buf();
            Some(crate::promote::fast_forward(
                &repo,
                &workdir,
                to,
                &outcome,
                options.remote,
                options.push,
            )?)
        }
        false => None,
    };
    if outcome.state != candidate::CandidateState::Unchanged {
        let promoted = Subject::Promote {
            from: &from.name,
            branch: outcome.ref_name.trim_start_matches("refs/heads/"),
            commit: &outcome.commit,
        };
        let commit = git2::Oid::from_str(&outcome.commit).ok();
        tell(config, to, promoted, commit, ci);
    }
    /// The candidate, and with --auto the release branch moved to it.
    #[derive(serde::Serialize)]
    struct Promotion<'a> {
        #[serde(flatten)]
        candidate: &'a candidate::Outcome,
        #[serde(skip_serializing_if = "Option::is_none")]
        released: Option<&'a crate::promote::FastForward>,
    }
    print(&match args.output {
        OutcomeFormat::Json => json(&Promotion {
            candidate: &outcome,
            released: released.as_ref(),
        }),
        OutcomeFormat::Text => {
            let mut text = candidate_line(&outcome);
            if let Some(done) = &released {
                text.push_str(&format!(
                    "{}  {} -> {}  [{}]\n",
                    done.branch,
                    done.from.as_deref().map_or("(new)", short_id),
                    short_id(&done.commit),
                    done.state.as_str()
                ));
            }
            text
        }
    })?;
    Ok(exit::OK)
}
