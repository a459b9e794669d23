//! The command line: parse arguments, run a stage of the library, print, pick the exit code.

use crate::candidate;
use crate::config::{self, Config};
use crate::error::{Problem, Problems, exit};
use crate::render::{self, values::SetValue};
use crate::report;
use crate::source::DirSource;
use crate::tree::{self, RenderedTree};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "berth",
    version,
    about = "Render, diff and apply Kubernetes manifests through git release branches"
)]
pub struct Cli {
    /// Run as if berth was started in DIR.
    #[arg(short = 'C', value_name = "DIR", global = true)]
    pub directory: Option<PathBuf>,
    /// berth.yaml to use (default: found from the current directory upward).
    #[arg(long, value_name = "FILE", global = true, env = "BERTH_CONFIG")]
    pub config: Option<PathBuf>,
    /// When to colour output.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true, env = "BERTH_COLOR")]
    pub color: ColorChoice,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render channels to objects: a YAML stream on stdout, or the rendered tree with --out.
    Render(RenderArgs),
    /// Render a commit and commit each channel's tree on candidates/<channel>/<branch>.
    Candidate(CandidateArgs),
    /// Compare a channel's rendered objects with the live cluster (or, with --against, a release).
    Diff(DiffArgs),
    /// Apply a channel's release branch to its cluster: ordered, pruned, waited for, recorded.
    Apply(ApplyArgs),
    /// Print the JSON Schema of berth.yaml (for editors).
    Schema,
}

#[derive(Debug, clap::Args)]
pub struct CandidateArgs {
    /// Channel (repeatable; default: all).
    #[arg(short = 'c', long = "channel", value_name = "CHANNEL")]
    pub channels: Vec<String>,
    /// Source branch name (default: the current branch, or GITHUB_HEAD_REF / GITHUB_REF_NAME).
    #[arg(long)]
    pub branch: Option<String>,
    /// The commit to render (default: HEAD). Uncommitted changes are never rendered.
    #[arg(long, default_value = "HEAD", value_name = "REV")]
    pub source: String,
    /// Push the candidates to REMOTE (with --force-with-lease).
    #[arg(long, value_name = "REMOTE", num_args = 0..=1, default_missing_value = "origin")]
    pub push: Option<String>,
    /// Delete candidate branches on REMOTE whose source branch is gone, and do nothing else.
    #[arg(long, value_name = "REMOTE", num_args = 0..=1, default_missing_value = "origin", conflicts_with_all = ["push", "source", "branch"])]
    pub prune_stale: Option<String>,
    /// Remote whose release branches are the base (when it has them).
    #[arg(long, default_value = "origin")]
    pub remote: String,
    #[arg(short = 'o', long, value_enum, default_value_t = OutcomeFormat::Text)]
    pub output: OutcomeFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutcomeFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The channel to compare.
    #[arg(short = 'c', long = "channel", value_name = "CHANNEL")]
    pub channel: String,
    /// Compare offline with the rendered tree at REF (e.g. origin/releases/test) instead of
    /// the live cluster.
    #[arg(long, value_name = "REF")]
    pub against: Option<String>,
    /// The rendered tree to compare (e.g. the pull request's candidate commit). Default: the
    /// channel's candidate for the current branch; with --against, a fresh render.
    #[arg(long, value_name = "REV", conflicts_with = "render")]
    pub tree: Option<String>,
    /// Render the working tree instead of reading a rendered tree from git.
    #[arg(long)]
    pub render: bool,
    #[arg(short = 'o', long, value_enum, default_value_t = report::Format::Text)]
    pub output: report::Format,
    /// Write the report to FILE instead of stdout (with --split: FILE's numbered parts).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Lines of context around each change, as `diff -U`.
    #[arg(short = 'U', long, default_value_t = crate::diff::DEFAULT_CONTEXT, value_name = "N")]
    pub unified: usize,
    /// Markdown: at most N characters (a GitHub comment holds 65,536; values below 1,000 are
    /// taken as 1,000); object diffs that do not fit are left out, and the report says so and
    /// where the full diff is.
    #[arg(long, default_value_t = report::GITHUB_COMMENT_LIMIT, value_name = "N")]
    pub max_chars: usize,
    /// Markdown: write numbered parts, each within --max-chars, instead of leaving diffs out.
    #[arg(long, requires = "out")]
    pub split: bool,
    /// Also write the full report, never shortened, to FILE (e.g. a CI artifact).
    #[arg(long, value_name = "FILE")]
    pub full_out: Option<PathBuf>,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// The channel to apply.
    #[arg(short = 'c', long = "channel", value_name = "CHANNEL")]
    pub channel: String,
    /// The release to apply (default: the channel's release branch, the remote's copy first).
    #[arg(long = "ref", value_name = "REV")]
    pub release: Option<String>,
    /// Delete objects that left the release (default: the channel's `prune` in berth.yaml).
    #[arg(long)]
    pub prune: bool,
    /// Prune even more than apply.maxPruneShare of the last release, or all of it.
    #[arg(long)]
    pub allow_mass_prune: bool,
    /// Prune Namespaces and CRDs too: deleting them deletes everything in them.
    #[arg(long)]
    pub allow_cascading_prune: bool,
    /// Wait until the applied objects are ready.
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits (e.g. 5m, 90s).
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
    /// How long to wait for another apply of the channel to finish.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub lock_timeout: std::time::Duration,
    /// Take over fields another field manager owns instead of failing on them.
    #[arg(long)]
    pub force_conflicts: bool,
    /// Show what would be done; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Push the release note (refs/notes/berth/<channel>) to REMOTE.
    #[arg(long, value_name = "REMOTE", num_args = 0..=1, default_missing_value = "origin")]
    pub push_notes: Option<String>,
    #[arg(short = 'o', long, value_enum, default_value_t = OutcomeFormat::Text)]
    pub output: OutcomeFormat,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// How to reach the cluster, as kubectl does.
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterArgs {
    /// kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// kubeconfig context (default: the channel's `context`, then the current context).
    #[arg(long = "context", value_name = "NAME")]
    pub kube_context: Option<String>,
    /// Requests to the API server at once.
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub concurrency: usize,
}

#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// Channel to render (repeatable; default: all).
    #[arg(short = 'c', long = "channel", value_name = "CHANNEL")]
    pub channels: Vec<String>,
    /// Only this app (repeatable; default: all of the channel's).
    #[arg(short = 'a', long = "app", value_name = "APP")]
    pub apps: Vec<String>,
    /// Override a value: key.path=value (repeatable; layered last).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<SetValue>,
    /// Write the rendered tree of each channel to DIR/<channel>/ instead of printing.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Format of the objects printed to stdout.
    #[arg(short = 'o', long, value_enum, default_value_t = RenderFormat::Yaml)]
    pub output: RenderFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RenderFormat {
    Yaml,
    Json,
}

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
    match run(cli) {
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

/// Run a parsed command line; `Ok` holds the exit code.
pub fn run(cli: Cli) -> Result<u8, Problems> {
    if let Some(dir) = &cli.directory {
        std::env::set_current_dir(dir)
            .map_err(|e| Problem::new(format!("cannot change to directory: {e}")).in_file(dir))?;
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
            render_command(&config, &source, args)
        }
        Command::Candidate(args) => candidate_command(&cli, args),
        Command::Apply(args) => {
            let (config, _) = load_config(&cli)?;
            apply_command(&config, args)
        }
        Command::Diff(args) => {
            let (config, source) = load_config(&cli)?;
            let color = args.out.is_none() && use_color(cli.color, std::io::stdout().is_terminal());
            diff_command(&config, &source, args, color)
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
    let shown = shown_path(&file);
    let source = DirSource::new(shown_path(&root));
    let config = config::load(&shown, &source)?;
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

fn render_command(config: &Config, source: &DirSource, args: &RenderArgs) -> Result<u8, Problems> {
    let channels = config.select_channels(&args.channels)?;
    let options = render::Options {
        apps: args.apps.clone(),
        sets: args.sets.clone(),
        source: crate::git::source_info(&config.root),
    };
    let sets = render::render(config, &channels, source, &options)?;
    match &args.out {
        Some(dir) => {
            for set in &sets {
                let target = dir.join(&set.channel);
                RenderedTree::build(set).write_to(&target).map_err(|e| {
                    Problem::new(format!("cannot write the rendered tree: {e}")).in_file(&target)
                })?;
                eprintln!(
                    "channel {}: {} objects written to {}",
                    set.channel,
                    set.objects.len(),
                    target.display()
                );
            }
        }
        None => match args.output {
            RenderFormat::Yaml => print(&tree::yaml_stream(&sets))?,
            RenderFormat::Json => print(&tree::json_list(&sets))?,
        },
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

fn candidate_command(cli: &Cli, args: &CandidateArgs) -> Result<u8, Problems> {
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
    };
    let outcomes = candidate::run(&repo, &root, &options)?;
    if outcomes.is_empty() {
        eprintln!("this is a candidate or release branch, not a source: no candidates made");
    }
    match args.output {
        OutcomeFormat::Json => print(&format!(
            "{}\n",
            serde_json::to_string_pretty(&outcomes).expect("outcomes serialize")
        ))?,
        OutcomeFormat::Text => {
            let mut text = String::new();
            for o in &outcomes {
                let state = match (o.updated, o.pushed) {
                    (_, true) => "pushed",
                    (true, false) => "committed",
                    (false, false) => "unchanged",
                };
                text.push_str(&format!(
                    "{}  {}  {}  {}  [{state}]\n",
                    o.channel,
                    o.ref_name.trim_start_matches("refs/heads/"),
                    &o.commit[..12],
                    o.changes.summary()
                ));
            }
            print(&text)?;
        }
    }
    Ok(exit::OK)
}

fn diff_command(
    config: &Config,
    source: &DirSource,
    args: &DiffArgs,
    color: bool,
) -> Result<u8, Problems> {
    let channel = config.select_channels(std::slice::from_ref(&args.channel))?[0];
    let repo = crate::git::open(&config.root);
    let target = diff_target(config, source, channel, args, repo.as_ref().ok())?;
    let plan = match &args.against {
        Some(against) => {
            let repo = repo?;
            let base_commit = crate::git::resolve_commit(&repo, against)?;
            let base = crate::git::read_tree(&repo, base_commit)?;
            crate::plan::Plan {
                channel: channel.name.clone(),
                base: format!("{against} ({})", short(&base_commit.to_string())),
                target: target.name,
                source_commit: target.source_commit,
                objects: crate::diff::compare_trees(&base, &target.tree, args.unified),
            }
        }
        None => {
            // The channel's current release: its objects that left the tree are prune candidates.
            let previous = match &repo {
                Ok(repo) => match candidate::release_tip(repo, channel, "origin")? {
                    Some(tip) => crate::git::read_tree(repo, tip)?,
                    None => RenderedTree::default(),
                },
                Err(_) => RenderedTree::default(),
            };
            cluster_plan(
                config,
                channel,
                &args.cluster,
                args.unified,
                target,
                &previous,
            )?
        }
    };
    write_report(&plan, args, color)?;
    // In GitHub Actions the job summary shows the diff too (bytes bound it; chars are fewer).
    crate::github::append_step_summary(&report::markdown_limited(
        &plan,
        crate::github::STEP_SUMMARY_LIMIT / 4,
        None,
    ))
    .map_err(|e| {
        Problem::new(format!(
            "cannot write the job summary ($GITHUB_STEP_SUMMARY): {e}"
        ))
    })?;
    Ok(plan.exit_code())
}

/// The rendered tree a diff compares, and how to name it.
struct DiffTarget {
    tree: RenderedTree,
    name: String,
    source_commit: Option<String>,
}

/// `--tree REV`; `--render` (or, offline, nothing) renders the working tree; otherwise the
/// channel's candidate for the current branch.
fn diff_target(
    config: &Config,
    source: &DirSource,
    channel: &config::Channel,
    args: &DiffArgs,
    repo: Option<&git2::Repository>,
) -> Result<DiffTarget, Problems> {
    let from_git = |repo: &git2::Repository, rev: &str| -> Result<DiffTarget, Problems> {
        let commit = crate::git::resolve_commit(repo, rev)?;
        let tree = crate::git::read_tree(repo, commit)?;
        Ok(DiffTarget {
            source_commit: crate::tree::release_info(&tree).commit,
            tree,
            name: format!("{rev} ({})", short(&commit.to_string())),
        })
    };
    let need_repo = || {
        repo.ok_or_else(|| {
            Problems::from(
                Problem::new("not in a git repository")
                    .hint("pass --render to diff a fresh render of the working tree"),
            )
        })
    };
    if let Some(rev) = &args.tree {
        return from_git(need_repo()?, rev);
    }
    if args.render || args.against.is_some() {
        let options = render::Options {
            source: crate::git::source_info(&config.root),
            ..Default::default()
        };
        let set = render::render(config, &[channel], source, &options)?.remove(0);
        return Ok(DiffTarget {
            tree: RenderedTree::build(&set),
            name: "the working tree".to_string(),
            source_commit: options.source.commit,
        });
    }
    let repo = need_repo()?;
    let branch = crate::git::current_branch(repo).ok_or_else(|| {
        Problem::new("cannot tell which branch this is (HEAD is detached)")
            .hint("pass --tree REV (e.g. the pull request's candidate) or --render")
    })?;
    // On a candidate branch itself (a pull request from it), that is the tree.
    let own_prefix = format!("{}/{}/", candidate::CANDIDATE_PREFIX, channel.name);
    let candidate_branch = if branch.starts_with(&own_prefix) {
        branch
    } else {
        format!("{own_prefix}{branch}")
    };
    for rev in [
        candidate_branch.clone(),
        format!("origin/{candidate_branch}"),
    ] {
        if crate::git::resolve_commit(repo, &rev).is_ok() {
            return from_git(repo, &rev);
        }
    }
    Err(
        Problem::new(format!("no candidate {candidate_branch} to compare"))
            .hint("run `berth candidate` first, or pass --tree REV or --render")
            .into(),
    )
}

/// Plan `target` against the live cluster of `channel`.
fn cluster_plan(
    config: &Config,
    channel: &config::Channel,
    cluster: &ClusterArgs,
    unified: usize,
    target: DiffTarget,
    previous: &RenderedTree,
) -> Result<crate::plan::Plan, Problems> {
    use crate::cluster::plan;
    let desired = plan::tree_objects(&target.tree)?;
    let release_tree = plan::tree_objects(previous)?;
    with_cluster(cluster, channel, async |cluster_handle| {
        // What the channel holds: the release record apply keeps, else the release branch.
        let record = crate::apply::record::read(
            &cluster_handle.client,
            &config.apply.namespace,
            &channel.name,
        )
        .await;
        let previous = match record {
            Ok(Some(record)) => {
                let apps: std::collections::HashMap<&str, Option<String>> = release_tree
                    .iter()
                    .map(|o| (o.key.as_str(), o.app.clone()))
                    .collect();
                let mut objects = record.objects();
                for object in &mut objects {
                    object.app = apps.get(object.key.as_str()).cloned().flatten();
                }
                objects
            }
            Ok(None) => release_tree,
            Err(problem) => {
                eprintln!(
                    "warning: {problem}; the prune preview uses {}",
                    channel.release_branch
                );
                release_tree
            }
        };
        if std::io::stderr().is_terminal() {
            eprintln!(
                "checking {} objects against {} …",
                desired.len(),
                cluster_handle.server
            );
        }
        let options = plan::Options {
            channel: &channel.name,
            force: false,
            dry_run_creates: true,
            ignore: &config.ignore,
            concurrency: cluster.concurrency,
            context_lines: unified,
        };
        let objects = plan::plan(&cluster_handle, &desired, &previous, &options).await;
        let base = match &cluster_handle.context {
            Some(context) => format!("the cluster ({context})"),
            None => format!("the cluster at {}", cluster_handle.server),
        };
        Ok(crate::plan::Plan {
            channel: channel.name.clone(),
            base,
            target: target.name,
            source_commit: target.source_commit,
            objects,
        })
    })
}

/// Run `work` with the channel's cluster: `--kubeconfig`/`--context` first, then the channel's
/// context, then the kubeconfig's current context or the in-cluster account.
fn with_cluster<T>(
    args: &ClusterArgs,
    channel: &config::Channel,
    work: impl AsyncFnOnce(crate::cluster::Cluster) -> Result<T, Problems>,
) -> Result<T, Problems> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Problem::new(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let cluster = crate::cluster::Cluster::connect(&crate::cluster::Target {
            kubeconfig: args.kubeconfig.as_deref(),
            context: args.kube_context.as_deref().or(channel.context.as_deref()),
        })
        .await?;
        work(cluster).await
    })
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// Write the plan as the report `args` ask for: stdout or `--out`, Markdown sized to
/// `--max-chars` or split into parts, and the full report to `--full-out`.
fn write_report(plan: &crate::plan::Plan, args: &DiffArgs, color: bool) -> Result<(), Problems> {
    let write = |file: &Path, text: &str| {
        std::fs::write(file, text)
            .map_err(|e| Problem::new(format!("cannot write the report: {e}")).in_file(file))
    };
    if let Some(full) = &args.full_out {
        write(full, &report::render(plan, args.output, false))?;
    }
    if args.split && args.output != report::Format::Markdown {
        return Err(Problem::new("--split writes Markdown parts")
            .hint("add -o markdown")
            .into());
    }
    if args.split {
        let out = args.out.as_ref().expect("clap requires --out with --split");
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
    let text = match args.output {
        report::Format::Markdown => {
            let full = args
                .full_out
                .as_ref()
                .map(|f| format!("`{}`", f.display()))
                .or_else(|| crate::github::run_url().map(|run| format!("the artifacts of {run}")));
            report::markdown_limited(plan, args.max_chars, full.as_deref())
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

fn apply_command(config: &Config, args: &ApplyArgs) -> Result<u8, Problems> {
    let channel = config.select_channels(std::slice::from_ref(&args.channel))?[0];
    let repo = crate::git::open(&config.root)?;
    let (release, release_name) = match &args.release {
        Some(rev) => (crate::git::resolve_commit(&repo, rev)?, rev.clone()),
        None => match candidate::release_tip(&repo, channel, "origin")? {
            Some(tip) => (tip, channel.release_branch.clone()),
            None => {
                return Err(Problem::new(format!(
                    "channel {} has no release branch {} (here or on origin)",
                    channel.name, channel.release_branch
                ))
                .hint("merge a candidate into it first, or pass --ref REV")
                .into());
            }
        },
    };
    let tree = crate::git::read_tree(&repo, release)?;
    let objects = crate::cluster::plan::tree_objects(&tree)?;
    let release_info = crate::tree::release_info(&tree);
    let options = crate::apply::Options {
        channel: channel.name.clone(),
        release: release.to_string(),
        source_commit: release_info.commit,
        source_branch: release_info.branch,
        namespace: config.apply.namespace.clone(),
        prune: args.prune || channel.prune,
        allow_mass_prune: args.allow_mass_prune,
        allow_cascading_prune: args.allow_cascading_prune,
        max_prune_share: config.apply.max_prune_share,
        force_conflicts: args.force_conflicts,
        dry_run: args.dry_run,
        wait: args.wait.then_some(args.timeout),
        lock_wait: args.lock_timeout,
        lease: std::time::Duration::from_secs(30),
        concurrency: args.cluster.concurrency,
        ignore: config.ignore.clone(),
    };
    let progress = |line: &str| eprintln!("{line}");
    let report = with_cluster(&args.cluster, channel, async |mut cluster| {
        progress(&format!(
            "applying {release_name} ({}) to {}: {} objects",
            short(&release.to_string()),
            cluster.context.as_deref().unwrap_or(&cluster.server),
            objects.len()
        ));
        Ok(crate::apply::run(&mut cluster, &objects, &options, &progress).await?)
    })?;

    if !report.dry_run && report.result != "no changes" {
        let counts = apply_summary(&report);
        let note = format!(
            "berth apply {}: {}\n\n{counts}\n",
            report.channel, report.result
        );
        let workdir = repo.workdir().unwrap_or(&config.root).to_path_buf();
        let notes = crate::apply::record::notes_ref(&channel.name);
        if let Some(remote) = &args.push_notes {
            // Build on the remote's notes (CI clones do not fetch them): pushing must add a
            // note, never replace the channel's history. A remote without notes yet is fine.
            let _ = crate::git::git_cli(
                &workdir,
                &["fetch", "--quiet", remote, &format!("+{notes}:{notes}")],
            );
        }
        crate::apply::record::write_note(&repo, &channel.name, release, &note)?;
        if let Some(remote) = &args.push_notes {
            crate::git::git_cli(
                &workdir,
                &["push", "--quiet", remote, &format!("{notes}:{notes}")],
            )?;
        }
    }
    crate::github::append_step_summary(&apply_step_summary(&report)).map_err(|e| {
        Problem::new(format!(
            "cannot write the job summary ($GITHUB_STEP_SUMMARY): {e}"
        ))
    })?;
    match args.output {
        OutcomeFormat::Json => print(&format!(
            "{}\n",
            serde_json::to_string_pretty(&report).expect("reports serialize")
        ))?,
        OutcomeFormat::Text => {
            let mut text = format!(
                "{}{} {}: {}\n  {}\n",
                if report.dry_run { "dry run: " } else { "" },
                report.channel,
                short(&report.release),
                report.result,
                apply_summary(&report)
            );
            for object in report.objects.iter().filter(|o| o.result != "unchanged") {
                text.push_str(&format!("  {:<10} {}", object.result, object.key));
                if let Some(detail) = &object.detail {
                    text.push_str(&format!(": {detail}"));
                }
                text.push('\n');
            }
            for pending in &report.not_ready {
                text.push_str(&format!(
                    "  not ready  {}: {}\n",
                    pending.key, pending.reason
                ));
            }
            print(&text)?;
        }
    }
    Ok(report.exit_code())
}

/// The apply's outcome for GitHub's job summary: the result, the counts, what did not go well.
fn apply_step_summary(report: &crate::apply::Report) -> String {
    let mut text = format!(
        "### berth apply · `{}`{}\n\n`{}`: **{}** — {}\n",
        report.channel,
        if report.dry_run { " (dry run)" } else { "" },
        short(&report.release),
        report.result,
        apply_summary(report)
    );
    for object in report.objects.iter().filter(|o| o.result == "failed") {
        let detail = object.detail.as_deref().unwrap_or("");
        text.push_str(&format!("- failed `{}`: {detail}\n", object.key));
    }
    for pending in &report.not_ready {
        text.push_str(&format!(
            "- not ready `{}`: {}\n",
            pending.key, pending.reason
        ));
    }
    text
}

fn apply_summary(report: &crate::apply::Report) -> String {
    let s = &report.summary;
    format!(
        "{} created, {} updated, {} unchanged, {} pruned, {} failed",
        s.created, s.updated, s.unchanged, s.pruned, s.failed
    )
}
