//! The command line: parse arguments, run a stage of the library, print, pick the exit code.

mod args;
mod comment;
mod diff;
mod release;
mod status;

pub use args::*;
use diff::*;
use release::*;
use status::*;

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
            drift_command(&config, args, ci)
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
            step_summary(ci, || {
                report::markdown_limited(&plan, crate::ci::STEP_SUMMARY_LIMIT / 4, None)
            })?;
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
    // Only apps from other repositories need it (they are fetched into it).
    let repo = crate::git::open_if_any(&config.root).ok().flatten();
    let options = render::Options {
        apps: args.apps.clone(),
        skip_unreleased,
        sets: args.sets.clone(),
        source: crate::git::source_info(&config.root, ci),
        remotes: crate::git::fetch_sources(repo.as_ref(), config, &channels, &args.apps),
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
    let github = match (args.open_pr, &args.push, &args.prune_stale) {
        (false, ..) => None,
        (true, None, None) => {
            return Err(Problem::new("--open-pr needs --push (or --prune-stale)")
                .hint("a pull request's branch must be on GitHub first: add --push")
                .into());
        }
        (true, ..) => github_client(true, ci)?,
    };
    if let Some(remote) = &args.prune_stale {
        let (config, _) = load_config(cli)?;
        let workdir = repo.workdir().unwrap_or(&config.root).to_path_buf();
        let channels = config.select_channels(&args.channels)?;
        let deleted = candidate::prune_stale(&workdir, remote, &channels)?;
        for name in &deleted {
            println!("deleted {remote}/{name}");
            if let Some(github) = &github {
                for closed in github.close_pulls_from(name)? {
                    println!("closed pull request #{}", closed.number);
                }
            }
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
        // Anything but the branch's own HEAD is hand-picked.
        manual: args.source != "HEAD",
        remote: args.push.clone().unwrap_or_else(|| args.remote.clone()),
        push: args.push.is_some(),
        ci: ci.clone(),
    };
    let candidate::Candidates {
        mut outcomes,
        failed,
        warnings,
    } = candidate::run(&repo, &root, &options)?;
    eprint!("{warnings}");
    open_pull_requests(github.as_ref(), &mut outcomes, ci)?;
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
/// With `--open-pr`, the GitHub client (made before anything is pushed: a missing token fails
/// the run while nothing changed).
fn github_client(open_pr: bool, ci: &CiEnv) -> Result<Option<crate::github::Client>, Problems> {
    Ok(match open_pr {
        true => Some(crate::github::Client::from_ci(ci)?),
        false => None,
    })
}
/// With a client (`--open-pr`): each candidate's pull request, and what became of it on stderr.
fn open_pull_requests(
    github: Option<&crate::github::Client>,
    outcomes: &mut [candidate::Outcome],
    ci: &CiEnv,
) -> Result<(), Problems> {
    let Some(github) = github else {
        return Ok(());
    };
    let source_pr = ci.pull_request.as_ref().map(|pr| pr.number);
    candidate::open_pull_requests(github, outcomes, source_pr)?;
    for outcome in outcomes.iter() {
        match &outcome.pull_request {
            Some(pr) => eprintln!(
                "channel {}: pull request #{} {}{}",
                outcome.channel,
                pr.number,
                pr.action.as_str(),
                pr.url
                    .as_deref()
                    .map(|u| format!(" ({u})"))
                    .unwrap_or_default()
            ),
            None => eprintln!(
                "channel {}: no object changes, no pull request opened",
                outcome.channel
            ),
        }
    }
    Ok(())
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
/// The remote whose branches are the shared truth.
const REMOTE: &str = "origin";
fn step_summary(ci: &CiEnv, markdown: impl FnOnce() -> String) -> Result<(), Problems> {
    ci.append_step_summary(markdown).map_err(|e| {
        Problem::new(format!(
            "cannot write the job summary ($GITHUB_STEP_SUMMARY): {e}"
        ))
        .into()
    })
}

/// Tell `channel`'s `notify:` targets about `subject` (of the release `release`, whose apps'
/// versions the message lists). A failed message is a warning on stderr, never a failed command.
fn tell(
    config: &Config,
    channel: &config::Channel,
    subject: crate::notify::Subject<'_>,
    release: Option<git2::Oid>,
    ci: &CiEnv,
) {
    if channel.notify.is_empty() {
        return;
    }
    // The versions are a courtesy: a tree that cannot be read leaves them out of the message.
    let versions = release
        .and_then(|commit| {
            let repo = crate::git::open(&config.root).ok()?;
            let release = crate::release::Release {
                commit,
                name: channel.release_branch.clone(),
            };
            release.tree(&repo).ok()?.objects().ok()
        })
        .map(|objects| crate::notify::versions_of(&objects))
        .unwrap_or_default();
    let release = release.map(|commit| commit.to_string());
    let message = crate::notify::Message {
        channel: &channel.name,
        subject,
        release: release.as_deref(),
        versions: &versions,
        ci,
    };
    let warnings = Stderr {
        progress: false,
        verbose: false,
    };
    crate::notify::send(
        &channel.notify,
        &message,
        crate::notify::Retry::default(),
        &warnings,
    );
}
