//! The command line: parse arguments, run a stage of the library, print, pick the exit code.

mod args;
mod comment;

pub use args::*;

use crate::apply;
use crate::candidate::{self, DiffTree};
use crate::ci::CiEnv;
use crate::cluster::ClusterOptions;
use crate::config::{self, Config};
use crate::error::{Problem, Problems, exit};
use crate::render;
use crate::report::{self, apply::Stderr};
use crate::source::DirSource;
use crate::tree::{RenderedTree, short_id};
use clap::Parser;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn use_color(choice: ColorChoice, terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => terminal && std::env::var_os("NO_COLOR").is_none(),
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let color = use_color(cli.color, std::io::stderr().is_terminal());
    match run(cli, &CiEnv::from_env()) {
        Ok(code) => ExitCode::from(code),
        Err(problems) => {
            let text = problems.to_string();
            let text = if color {
                text.replace("error:", "\x1b[1;31merror:\x1b[0m")
                    .replace("  hint:", "  \x1b[36mhint:\x1b[0m")
            } else {
                text
            };
            eprintln!("{text}");
            ExitCode::from(exit::ERROR)
        }
    }
}

/// Run a parsed command line in the CI environment `ci`; `Ok` holds the exit code.
pub fn run(cli: Cli, ci: &CiEnv) -> Result<u8, Problems> {
    if let Some(dir) = &cli.directory {
        std::env::set_current_dir(dir).map_err(|e| {
            Problem::new(format!("cannot change to directory: {e}"))
                .in_file(dir)
                .hint("-C takes the directory of berth.yaml (or one below it)")
        })?;
    }
    match &cli.command {
        Command::Schema => {
            let schema = schemars::schema_for!(config::raw::RawConfig);
            print(&format!(
                "{}\n",
                serde_json::to_string_pretty(&schema).expect("schemas serialize")
            ))?;
            Ok(exit::OK)
        }
        Command::Render(args) => {
            let (config, source) = load_config(&cli)?;
            render_command(&config, &source, args, ci)
        }
        Command::Candidate(args) => candidate_command(&cli, args, ci),
        Command::Apply(args) => {
            let (config, _) = load_config(&cli)?;
            apply_command(&config, args, ci)
        }
        Command::Comment(args) => comment::comment_command(args, ci),
        Command::Status(args) => {
            let (config, _) = load_config(&cli)?;
            status_command(&config, args)
        }
        Command::History(args) => {
            let (config, _) = load_config(&cli)?;
            history_command(&config, args)
        }
        Command::Drift(args) => {
            let (config, _) = load_config(&cli)?;
            drift_command(&config, args)
        }
        Command::Rollback(args) => {
            let (config, _) = load_config(&cli)?;
            rollback_command(&config, args, ci)
        }
        Command::SetImage(args) => set_image_command(&cli, args, ci),
        Command::Promote(args) => {
            let (config, _) = load_config(&cli)?;
            promote_command(&cli, &config, args, ci)
        }
        Command::Channels(args) => {
            let (config, _) = load_config(&cli)?;
            channels_command(&config, args)
        }
        Command::Diff(args) => {
            if args.split && args.out.is_none() && !args.github.comment {
                return Err(Problem::new("--split writes numbered parts: where to?")
                    .hint("add --out FILE, or --comment")
                    .into());
            }
            if args.split && args.out.is_some() && args.output != ReportFormat::Markdown {
                return Err(Problem::new("--split writes Markdown parts")
                    .hint("add -o markdown")
                    .into());
            }
            // Before anything can fail: a failure must replace the comment's earlier verdict.
            let commenter = match args.github.comment {
                true => Some(comment::Commenter::new(ci, args.github.pr)?),
                false => None,
            };
            let color = args.out.is_none() && use_color(cli.color, std::io::stdout().is_terminal());
            if let Some(commenter) = &commenter {
                commenter.mark_outdated(&args.channel)?;
            }
            let run = || {
                let (config, source) = load_config(&cli)?;
                let (plan, tree) = diff_plan(&config, &source, args, ci)?;
                let reviewed = match tree {
                    Some(tree) => record_reviewed_plan(&config, &plan, &tree, args)?,
                    None => None,
                };
                Ok::<_, Problems>((plan, reviewed))
            };
            let (plan, reviewed) = match (run(), &commenter) {
                (Ok(done), _) => done,
                (Err(problems), Some(commenter)) => {
                    return Err(commenter.post_failure(&args.channel, problems));
                }
                (Err(problems), None) => return Err(problems),
            };
            write_report(&plan, args, color, ci)?;
            // In GitHub Actions the job summary shows the diff too (bytes bound it; chars are fewer).
            let summary = report::markdown_limited(&plan, crate::ci::STEP_SUMMARY_LIMIT / 4, None);
            step_summary(ci, &summary)?;
            if !(args.out.is_none() && args.output == ReportFormat::Json) {
                // Not into JSON on stdout: annotations are for the log.
                comment::annotate(ci, &plan)?;
            }
            if let Some(commenter) = &commenter {
                // Room for the reviewed plan's line.
                let max = comment::comment_chars(args.max_chars).saturating_sub(200);
                let mut bodies = match args.split {
                    true => report::markdown_parts(&plan, max),
                    false => vec![report::markdown_limited(
                        &plan,
                        max,
                        full_report(args, ci).as_deref(),
                    )],
                };
                if let (Some(line), Some(last)) = (&reviewed, bodies.last_mut()) {
                    last.push_str(&format!("\n{line}\n"));
                }
                commenter.post(&args.channel, &bodies)?;
            }
            Ok(plan.exit_code())
        }
    }
}

/// berth.yaml (`--config`, or found from here upward) and its directory.
fn config_location(cli: &Cli) -> Result<(PathBuf, PathBuf), Problems> {
    let file = match &cli.config {
        Some(file) => file.clone(),
        None => config::find(Path::new("."))?,
    };
    let root = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    Ok((file, root))
}

fn load_config(cli: &Cli) -> Result<(Config, DirSource), Problems> {
    let (file, root) = config_location(cli)?;
    let source = DirSource::new(shown_path(&root));
    let config = config::load(&shown_path(&file), &source)?;
    Ok((config, source))
}

/// Show paths relative to the current directory where they are below it.
fn shown_path(path: &Path) -> PathBuf {
    let (Ok(cwd), Ok(full)) = (std::env::current_dir(), path.canonicalize()) else {
        return path.to_path_buf();
    };
    match full.strip_prefix(&cwd) {
        Ok(rel) if rel.as_os_str().is_empty() => PathBuf::from("."),
        Ok(rel) => rel.to_path_buf(),
        Err(_) => full,
    }
}

fn render_command(
    config: &Config,
    source: &DirSource,
    args: &RenderArgs,
    ci: &CiEnv,
) -> Result<u8, Problems> {
    let mut channels = config.select_channels(&args.channels)?;
    // `-a web` alone: every channel releasing web, not every channel.
    let skip_unreleased = args.channels.is_empty() && !args.apps.is_empty();
    if skip_unreleased {
        config.check_apps(&args.apps)?;
        channels.retain(|c| args.apps.iter().any(|a| c.apps.contains(a)));
        if channels.is_empty() {
            return Err(
                Problem::new(format!("no channel releases {}", args.apps.join(" or ")))
                    .in_file(&config.file)
                    .hint("add the app to a channel's `apps:`")
                    .into(),
            );
        }
    }
    let options = render::Options {
        apps: args.apps.clone(),
        skip_unreleased,
        sets: args.sets.clone(),
        source: crate::git::source_info(&config.root, ci),
    };
    let sets = render::render(config, &channels, source, &options)?;
    eprint!("{}", render::warnings(&sets));
    let Some(dir) = &args.out else {
        return match args.output {
            RenderFormat::Yaml => print(&render::yaml_stream(&sets)),
            RenderFormat::Json => print(&render::json_list(&sets)),
        }
        .map(|()| exit::OK);
    };
    let cannot_write = |target: &Path, e: std::io::Error| {
        Problem::new(format!("cannot write the rendered tree: {e}"))
            .in_file(target)
            .hint("--out takes a directory berth may write, e.g. out or rendered")
    };
    // Every channel's directory is checked before any is written: all or nothing.
    let problems: Vec<Problem> = sets
        .iter()
        .map(|set| dir.join(&set.channel))
        .filter_map(|target| {
            crate::tree::check_replaceable(&target)
                .err()
                .map(|e| cannot_write(&target, e))
        })
        .collect();
    Problems::check(problems)?;
    for set in &sets {
        let target = dir.join(&set.channel);
        set.tree()
            .write_to(&target)
            .map_err(|e| cannot_write(&target, e))?;
        eprintln!(
            "channel {}: {} objects written to {}",
            set.channel,
            set.objects.len(),
            target.display()
        );
    }
    Ok(exit::OK)
}

/// Print to stdout; a closed pipe (`berth render | head`) is not an error.
fn print(text: &str) -> Result<(), Problems> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Problem::new(format!("cannot write to stdout: {e}")).into()),
    }
}

fn json(value: &impl serde::Serialize) -> String {
    format!(
        "{}\n",
        serde_json::to_string_pretty(value).expect("outcomes serialize")
    )
}

fn candidate_command(cli: &Cli, args: &CandidateArgs, ci: &CiEnv) -> Result<u8, Problems> {
    // Candidates read berth.yaml, like everything else, from the source commit: only its
    // location comes from the working tree.
    let (_, root) = config_location(cli)?;
    let repo = crate::git::open(&root)?;
    if let Some(remote) = &args.prune_stale {
        let (config, _) = load_config(cli)?;
        let workdir = repo.workdir().unwrap_or(&config.root).to_path_buf();
        let channels = config.select_channels(&args.channels)?;
        let deleted = candidate::prune_stale(&workdir, remote, &channels)?;
        for name in &deleted {
            println!("deleted {remote}/{name}");
        }
        if deleted.is_empty() {
            eprintln!("no stale candidates on {remote}");
        }
        return Ok(exit::OK);
    }
    let options = candidate::Options {
        channels: args.channels.clone(),
        branch: args.branch.clone(),
        source: args.source.clone(),
        remote: args.push.clone().unwrap_or_else(|| args.remote.clone()),
        push: args.push.is_some(),
        ci: ci.clone(),
    };
    let candidate::Candidates {
        outcomes,
        failed,
        warnings,
    } = candidate::run(&repo, &root, &options)?;
    eprint!("{warnings}");
    if outcomes.is_empty() && failed.is_none() {
        eprintln!("this is a candidate or release branch, not a source: no candidates made");
    }
    print(&match args.output {
        OutcomeFormat::Json => json(&outcomes),
        OutcomeFormat::Text => outcomes.iter().map(candidate_line).collect(),
    })?;
    match failed {
        Some(problems) => Err(problems),
        None => Ok(exit::OK),
    }
}

fn candidate_line(o: &candidate::Outcome) -> String {
    format!(
        "{}  {}  {}  {}  [{}]\n",
        o.channel,
        o.ref_name.trim_start_matches("refs/heads/"),
        short_id(&o.commit),
        o.changes.summary(),
        o.state.as_str()
    )
}

/// Record the plan of a cluster diff of a committed tree as its reviewed plan (pushed with
/// `--push-notes`), unless some object could not be checked: such a plan was not all seen.
/// Returns the line the pull request's comment shows.
fn record_reviewed_plan(
    config: &Config,
    plan: &crate::plan::Plan,
    tree: &str,
    args: &DiffArgs,
) -> Result<Option<String>, Problems> {
    use crate::release::reviewed;
    if plan.counts().error > 0 {
        return Ok(None);
    }
    let repo = crate::git::open(&config.root)?;
    let tree = git2::Oid::from_str(tree)
        .map_err(|e| Problem::new(format!("bad tree id {tree}: {}", e.message())))?;
    let workdir = repo.workdir().unwrap_or(&config.root).to_path_buf();
    let digest = reviewed::PlanDigest::of(plan);
    if let Some(remote) = &args.push_notes {
        reviewed::fetch(&workdir, remote, &plan.channel)?;
    }
    reviewed::write(&repo, &plan.channel, tree, &digest)?;
    if let Some(remote) = &args.push_notes {
        reviewed::push(&workdir, remote, &plan.channel)?;
    }
    Ok(Some(format!(
        "<sub>Reviewed plan `{}` of tree `{}`: `berth apply` checks its own plan against it ({}).</sub>",
        digest.id(),
        short_id(&tree.to_string()),
        reviewed::notes_ref(&plan.channel)
    )))
}

/// The plan `berth diff` reports: the channel's rendered tree against the cluster or `--against`,
/// and, for a cluster diff of a committed tree, that tree's id.
fn diff_plan(
    config: &Config,
    source: &DirSource,
    args: &DiffArgs,
    ci: &CiEnv,
) -> Result<(crate::plan::Plan, Option<String>), Problems> {
    let channel = config.select_channels(std::slice::from_ref(&args.channel))?[0];
    config.check_apps(&args.apps)?;
    let repo = crate::git::open_if_any(&config.root)?;
    // The same tree whether compared with the cluster or, offline, with `--against`.
    let choice = match (&args.tree, args.render) {
        (Some(rev), _) => DiffTree::Rev(rev),
        (None, true) => DiffTree::Render,
        (None, false) => DiffTree::Candidate,
    };
    if let (Some(against), None) = (&args.against, &repo) {
        return Err(
            Problem::new(format!("--against {against} needs a git repository"))
                .in_file(&config.root)
                .hint("run berth inside a clone of the configuration repository")
                .into(),
        );
    }
    let target = candidate::diff_tree(config, source, channel, choice, repo.as_ref(), ci, REMOTE)?;
    let tree_id = target.tree_id.clone();
    let plan = match (&args.against, &repo) {
        (Some(against), Some(repo)) => {
            let base = crate::git::named_tree(repo, against)?;
            let plan = crate::diff::offline(&channel.name, &base, target, args.unified)?;
            return Ok((plan.only_apps(&args.apps), None));
        }
        (Some(_), None) => unreachable!("refused above"),
        (None, repo) => {
            // The channel's current release: its objects that left the tree are prune candidates.
            let release = match repo {
                Some(repo) => match crate::release::tip(repo, channel, REMOTE)? {
                    Some(release) => release.tree(repo)?,
                    None => RenderedTree::default(),
                },
                None => RenderedTree::default(),
            };
            let options = crate::cluster::diff::Options {
                config,
                channel,
                cluster: &ClusterOptions::from(&args.cluster),
                context_lines: args.unified,
                exact: args.exact,
            };
            let progress = Stderr {
                progress: std::io::stderr().is_terminal(),
                verbose: args.cluster.verbose,
            };
            crate::cluster::diff::diff(&options, target, &release, &progress)?
        }
    };
    // A partial diff is no review of the whole release: it records no plan.
    let tree_id = tree_id.filter(|_| args.apps.is_empty());
    Ok((plan.only_apps(&args.apps), tree_id))
}

/// Where the full diff is, for a shortened Markdown report: `--full-out`, else the run's
/// artifacts.
fn full_report(args: &DiffArgs, ci: &CiEnv) -> Option<String> {
    args.full_out
        .as_ref()
        .map(|f| format!("`{}`", f.display()))
        .or_else(|| {
            ci.run_url
                .as_ref()
                .map(|run| format!("the artifacts of {run}"))
        })
}

/// The remote whose branches are the shared truth.
const REMOTE: &str = "origin";

fn step_summary(ci: &CiEnv, markdown: &str) -> Result<(), Problems> {
    ci.append_step_summary(markdown).map_err(|e| {
        Problem::new(format!(
            "cannot write the job summary ($GITHUB_STEP_SUMMARY): {e}"
        ))
        .into()
    })
}

/// Write the plan as the report `args` ask for: stdout or `--out`, Markdown sized to
/// `--max-chars` or split into parts, and the full report to `--full-out`.
fn write_report(
    plan: &crate::plan::Plan,
    args: &DiffArgs,
    color: bool,
    ci: &CiEnv,
) -> Result<(), Problems> {
    let write = |file: &Path, text: &str| {
        std::fs::write(file, text)
            .map_err(|e| Problem::new(format!("cannot write the report: {e}")).in_file(file))
    };
    let format = report::Format::from(args.output);
    if let Some(full) = &args.full_out {
        write(full, &report::render(plan, format, false))?;
    }
    if let (true, Some(out)) = (args.split, &args.out) {
        let parts = report::markdown_parts(plan, args.max_chars);
        for (i, part) in parts.iter().enumerate() {
            write(&numbered(out, i + 1), part)?;
        }
        eprintln!(
            "{} parts written: {} …",
            parts.len(),
            numbered(out, 1).display()
        );
        return Ok(());
    }
    let text = match format {
        report::Format::Markdown => {
            report::markdown_limited(plan, args.max_chars, full_report(args, ci).as_deref())
        }
        format => report::render(plan, format, color),
    };
    match &args.out {
        Some(file) => write(file, &text)?,
        None => print(&text)?,
    }
    Ok(())
}

/// `diff.md` → `diff-1.md`, `diff-2.md`, …
fn numbered(file: &Path, n: usize) -> PathBuf {
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match file.extension() {
        Some(ext) => format!("{stem}-{n}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{n}"),
    };
    file.with_file_name(name)
}

fn apply_command(config: &Config, args: &ApplyArgs, ci: &CiEnv) -> Result<u8, Problems> {
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
    };
    let progress = Stderr {
        progress: args.output == OutcomeFormat::Text,
        verbose: args.cluster.verbose,
    };
    let report = apply::apply_release(config, channel, &request, &progress)?;
    step_summary(ci, &report::apply::markdown(&report))?;
    print(&match args.output {
        OutcomeFormat::Json => report::apply::json(&report),
        OutcomeFormat::Text => report::apply::text(&report),
    })?;
    Ok(report.exit_code())
}

fn rollback_command(config: &Config, args: &RollbackArgs, ci: &CiEnv) -> Result<u8, Problems> {
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
        output: args.output,
        cluster: args.cluster.clone(),
    };
    apply_command(config, &apply, ci)
}

fn set_image_command(cli: &Cli, args: &SetImageArgs, ci: &CiEnv) -> Result<u8, Problems> {
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

fn promote_command(
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
        ci: ci.clone(),
    };
    let outcome = crate::promote::promote(&repo, &root, &options)?;
    print(&match args.output {
        OutcomeFormat::Json => json(&outcome),
        OutcomeFormat::Text => candidate_line(&outcome),
    })?;
    Ok(exit::OK)
}

/// Write `text` to `out`, or print it.
fn emit(out: Option<&Path>, text: &str) -> Result<(), Problems> {
    match out {
        Some(file) => std::fs::write(file, text).map_err(|e| {
            Problem::new(format!("cannot write the report: {e}"))
                .in_file(file)
                .into()
        }),
        None => print(text),
    }
}

fn status_command(config: &Config, args: &StatusArgs) -> Result<u8, Problems> {
    let repo = crate::git::open(&config.root)?;
    let cluster = ClusterOptions::from(&args.cluster);
    let options = crate::status::Options {
        config,
        channels: config.select_channels(&args.channels)?,
        cluster: &cluster,
        remote: REMOTE,
        drift_check: !args.no_drift_check,
    };
    let status = crate::status::status(&repo, &options)?;
    let text = match args.output {
        StatusFormat::Text => report::status::status_text(&status),
        StatusFormat::Markdown => report::status::status_markdown(&status),
        StatusFormat::Json => report::status::status_json(&status),
        StatusFormat::Html => report::status::status_html(&status),
    };
    emit(args.out.as_deref(), &text)?;
    Ok(status.exit_code())
}

fn history_command(config: &Config, args: &HistoryArgs) -> Result<u8, Problems> {
    let channel = config.select_channels(std::slice::from_ref(&args.channel))?[0];
    let repo = crate::git::open(&config.root)?;
    let entries = match crate::release::tip(&repo, channel, REMOTE)? {
        Some(tip) => crate::release::history::history(&repo, &channel.name, &tip, args.limit)?,
        None => Vec::new(),
    };
    print(&match args.output {
        OutcomeFormat::Json => report::status::history_json(&entries),
        OutcomeFormat::Text => report::status::history_text(&channel.name, &entries),
    })?;
    Ok(exit::OK)
}

fn drift_command(config: &Config, args: &DriftArgs) -> Result<u8, Problems> {
    let channel = config.select_channels(std::slice::from_ref(&args.channel))?[0];
    let repo = crate::git::open(&config.root)?;
    let tip = crate::release::resolve(&repo, channel, None, REMOTE)?;
    let cluster = ClusterOptions::from(&args.cluster);
    let checked =
        crate::status::drift::run(config, channel, repo.path(), &tip, &cluster, args.unified)?;
    let drift = checked.drift;
    let plan = crate::plan::Plan {
        channel: channel.name.clone(),
        base: checked.cluster,
        target: format!(
            "{} ({})",
            checked.release.name,
            short_id(&checked.release.commit.to_string())
        ),
        source_commit: checked.source_commit,
        objects: drift.changed.clone(),
        requests: None,
    };
    emit(
        args.out.as_deref(),
        &report::status::drift(&plan, &drift, report::Format::from(args.output)),
    )?;
    Ok(if drift.errors() > 0 {
        exit::ERROR
    } else if drift.is_none() {
        exit::OK
    } else {
        exit::CHANGES
    })
}

fn channels_command(config: &Config, args: &ChannelsArgs) -> Result<u8, Problems> {
    let names: Vec<String> = match &args.changed_since {
        Some(since) => {
            let repo = crate::git::open(&config.root)?;
            candidate::changed_channels(&repo, &config.root, since, "HEAD")?
        }
        None => config.channels.iter().map(|c| c.name.clone()).collect(),
    };
    let channels: Vec<&config::Channel> = config
        .channels
        .iter()
        .filter(|c| names.contains(&c.name))
        .collect();
    print(&match args.output {
        OutcomeFormat::Json => {
            let include: Vec<serde_json::Value> = channels
                .iter()
                .map(|c| serde_json::json!({"channel": c.name, "releaseBranch": c.release_branch}))
                .collect();
            // One line: it goes into $GITHUB_OUTPUT as `matrix=…`.
            format!("{}\n", serde_json::json!({ "include": include }))
        }
        OutcomeFormat::Text => channels.iter().map(|c| format!("{}\n", c.name)).collect(),
    })?;
    Ok(exit::OK)
}
