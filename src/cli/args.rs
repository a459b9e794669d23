//! The command line's flags (clap derives live here only), and their conversion into the
//! library's option types.

use crate::cluster::ClusterOptions;
use crate::render::values::SetValue;
use crate::report;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

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
    /// Post a Markdown report made earlier (`diff -o markdown --out F`) as the pull request's
    /// comment for the channel, replacing berth's earlier one.
    Comment(CommentArgs),
    /// What runs where: per channel, the release, what the cluster last applied, drift,
    /// images per app, and how far the next channel is behind.
    Status(StatusArgs),
    /// A channel's releases, newest first: when each was applied, by whom, and how it went.
    History(HistoryArgs),
    /// Compare the channel's release with the live cluster: objects changed by someone else,
    /// and objects labelled for the channel that are in no release. Exit 0 none, 1 drift, 2 error.
    Drift(DriftArgs),
    /// Roll a channel back: a new commit on its release branch holding an earlier release's
    /// tree (history only moves forward), then apply it with --apply or `berth apply`.
    Rollback(RollbackArgs),
    /// Make the next channel's candidate from the source commit the channel last applied
    /// successfully (read from its release record, never from a branch tip).
    Promote(PromoteArgs),
    /// Pin images for a channel (NAME=TAG or NAME@DIGEST) in its pins file
    /// `.berth/images/<channel>.yaml`, committed on the current branch.
    SetImage(SetImageArgs),
    /// List the channels (with --changed-since, those whose rendered tree changed); `-o json`
    /// prints a GitHub Actions `strategy.matrix`.
    Channels(ChannelsArgs),
    /// Print the JSON Schema of berth.yaml (for editors).
    Schema,
}

#[derive(Debug, clap::Args)]
pub struct SetImageArgs {
    /// The channel whose pins change.
    #[arg(short = 'c', long = "channel", value_name = "CHANNEL")]
    pub channel: String,
    /// NAME=TAG or NAME@DIGEST (e.g. ghcr.io/example/web=1.8.1).
    #[arg(value_name = "PIN", required = true)]
    pub pins: Vec<String>,
    /// The branch to commit on (default: the current branch, or GITHUB_HEAD_REF / GITHUB_REF_NAME).
    #[arg(long)]
    pub branch: Option<String>,
    /// Push the branch to REMOTE (a fast-forward, never forced).
    #[arg(long, value_name = "REMOTE", num_args = 0..=1, default_missing_value = "origin")]
    pub push: Option<String>,
    /// Then build the channel's candidate from the new commit (pushed too with --push).
    #[arg(long)]
    pub candidate: bool,
    #[arg(short = 'o', long, value_enum, default_value_t = OutcomeFormat::Text)]
    pub output: OutcomeFormat,
}

#[derive(Debug, clap::Args)]
pub struct ChannelsArgs {
    /// Only the channels whose rendered tree at HEAD differs from the one at REV (e.g. the
    /// push's `github.event.before`).
    #[arg(long, value_name = "REV")]
    pub changed_since: Option<String>,
    /// `json`: `{"include":[{"channel":…,"releaseBranch":…}]}` on one line, for
    /// `strategy.matrix: ${{ fromJSON(…) }}`.
    #[arg(short = 'o', long, value_enum, default_value_t = OutcomeFormat::Text)]
    pub output: OutcomeFormat,
}

#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    /// The channel to roll back.
    #[arg(short = 'c', long = "channel", value_name = "CHANNEL")]
    pub channel: String,
    /// The earlier release to go back to (a commit of the release branch's history).
    #[arg(long = "to", value_name = "REV", conflicts_with = "steps")]
    pub to: Option<String>,
    /// Go back N releases along the release branch (default: 1, the release before).
    #[arg(long, value_name = "N")]
    pub steps: Option<usize>,
    /// Push the release branch to REMOTE (a fast-forward, never forced).
    #[arg(long, value_name = "REMOTE", num_args = 0..=1, default_missing_value = "origin")]
    pub push: Option<String>,
    /// Apply the rollback at once, as `berth apply -c CHANNEL` would (lock, prune, record).
    #[arg(long)]
    pub apply: bool,
    /// With --apply: wait until the applied objects are ready.
    #[arg(long, requires = "apply")]
    pub wait: bool,
    /// How long --wait waits (e.g. 5m, 90s).
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
    #[arg(short = 'o', long, value_enum, default_value_t = OutcomeFormat::Text)]
    pub output: OutcomeFormat,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

#[derive(Debug, clap::Args)]
pub struct PromoteArgs {
    /// The channel to promote from (its last successful apply is promoted).
    #[arg(value_name = "FROM")]
    pub from: String,
    /// The channel to promote to (default: FROM's `promotesTo`).
    #[arg(long = "to", value_name = "TO")]
    pub to: Option<String>,
    /// Push the candidate to REMOTE (with --force-with-lease).
    #[arg(long, value_name = "REMOTE", num_args = 0..=1, default_missing_value = "origin")]
    pub push: Option<String>,
    /// Fast-forward TO's release branch to the candidate at once (and push it with --push):
    /// only where TO says `autoPromote: true`.
    #[arg(long)]
    pub auto: bool,
    /// With --push: open or update the candidate's pull request, as `berth candidate --open-pr`.
    #[arg(long, requires = "push")]
    pub open_pr: bool,
    #[arg(short = 'o', long, value_enum, default_value_t = OutcomeFormat::Text)]
    pub output: OutcomeFormat,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Channel (repeatable; default: all).
    #[arg(short = 'c', long = "channel", value_name = "CHANNEL")]
    pub channels: Vec<String>,
    #[arg(short = 'o', long, value_enum, default_value_t = StatusFormat::Text)]
    pub output: StatusFormat,
    /// Write the report to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Do not compare each cluster with its release (fewer requests).
    #[arg(long)]
    pub no_drift_check: bool,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFormat {
    Text,
    Markdown,
    Json,
    /// One self-contained page (no scripts, no external assets).
    Html,
}

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// The channel.
    #[arg(short = 'c', long = "channel", value_name = "CHANNEL")]
    pub channel: String,
    /// At most N releases.
    #[arg(short = 'n', long, default_value_t = 20, value_name = "N")]
    pub limit: usize,
    #[arg(short = 'o', long, value_enum, default_value_t = OutcomeFormat::Text)]
    pub output: OutcomeFormat,
}

#[derive(Debug, clap::Args)]
pub struct DriftArgs {
    /// The channel.
    #[arg(short = 'c', long = "channel", value_name = "CHANNEL")]
    pub channel: String,
    /// Markdown is an issue body.
    #[arg(short = 'o', long, value_enum, default_value_t = ReportFormat::Text)]
    pub output: ReportFormat,
    /// Write the report to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Lines of context around each change, as `diff -U`.
    #[arg(short = 'U', long, default_value_t = crate::diff::DEFAULT_CONTEXT, value_name = "N")]
    pub unified: usize,
    /// Open, update or close (when there is no drift) the channel's GitHub issue, found by
    /// berth's hidden marker. Needs GITHUB_TOKEN (or BERTH_GITHUB_TOKEN) and GITHUB_REPOSITORY.
    #[arg(long)]
    pub issue: bool,
    #[command(flatten)]
    pub cluster: ClusterArgs,
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
    /// With --push: open or update each candidate's pull request into its release branch (a
    /// candidate changing no object opens none). With --prune-stale: close the pull requests
    /// of the branches deleted. Needs GITHUB_TOKEN (or BERTH_GITHUB_TOKEN) and
    /// GITHUB_REPOSITORY.
    #[arg(long)]
    pub open_pr: bool,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Text,
    Markdown,
    Json,
}

impl From<ReportFormat> for report::Format {
    fn from(format: ReportFormat) -> Self {
        match format {
            ReportFormat::Text => report::Format::Text,
            ReportFormat::Markdown => report::Format::Markdown,
            ReportFormat::Json => report::Format::Json,
        }
    }
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
    /// channel's candidate for the current branch, with or without --against.
    #[arg(long, value_name = "REV", conflicts_with = "render")]
    pub tree: Option<String>,
    /// Render the working tree instead of reading a rendered tree from git.
    #[arg(long)]
    pub render: bool,
    /// Only this app's objects (repeatable; default: all): the others are left out of the
    /// report, their prune candidates too.
    #[arg(short = 'a', long = "app", value_name = "APP")]
    pub apps: Vec<String>,
    /// Dry-run every object on the server, instead of only those the labelled LISTs cannot
    /// prove unchanged (slower; the report is the same).
    #[arg(long, conflicts_with = "against")]
    pub exact: bool,
    #[arg(short = 'o', long, value_enum, default_value_t = ReportFormat::Text)]
    pub output: ReportFormat,
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
    /// Markdown: write numbered parts, each within --max-chars, instead of leaving diffs out
    /// (needs --out or --comment).
    #[arg(long)]
    pub split: bool,
    /// Also write the full report, never shortened, to FILE (e.g. a CI artifact).
    #[arg(long, value_name = "FILE")]
    pub full_out: Option<PathBuf>,
    /// Push the reviewed plan (refs/notes/berth-plan/<channel>, on the tree compared) to
    /// REMOTE, for `apply` to check.
    #[arg(long, value_name = "REMOTE", num_args = 0..=1, default_missing_value = "origin")]
    pub push_notes: Option<String>,
    #[command(flatten)]
    pub github: PullRequestArgs,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Which pull request to comment on.
#[derive(Debug, Clone, clap::Args)]
pub struct PullRequestArgs {
    /// Also post the Markdown report as the pull request's comment for the channel (made or
    /// updated in place, found by berth's hidden marker; with --split, one comment a part).
    /// Needs GITHUB_TOKEN (or BERTH_GITHUB_TOKEN) with `pull-requests: write`.
    #[arg(long)]
    pub comment: bool,
    /// The pull request (default: the one of GITHUB_EVENT_PATH's pull_request event).
    #[arg(long, value_name = "NUMBER")]
    pub pr: Option<u64>,
}

#[derive(Debug, clap::Args)]
pub struct CommentArgs {
    /// The channel the report is of.
    #[arg(short = 'c', long = "channel", value_name = "CHANNEL")]
    pub channel: String,
    /// The report (repeat for the parts of a --split report, in order).
    #[arg(long = "file", value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// The pull request (default: the one of GITHUB_EVENT_PATH's pull_request event).
    #[arg(long, value_name = "NUMBER")]
    pub pr: Option<u64>,
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
    /// Push the release note (refs/notes/berth/<channel>) to REMOTE; the reviewed plans
    /// (refs/notes/berth-plan/<channel>) are fetched from it.
    #[arg(long, value_name = "REMOTE", num_args = 0..=1, default_missing_value = "origin")]
    pub push_notes: Option<String>,
    /// Apply even when the plan differs from the one reviewed (`berth diff` of the release's
    /// tree, e.g. the pull request's comment): the cluster changed since, or another release
    /// landed first.
    #[arg(long)]
    pub accept_changed_plan: bool,
    /// Refuse to apply a release whose tree has no reviewed plan.
    #[arg(long)]
    pub require_reviewed_plan: bool,
    /// Apply only this app's objects (repeatable; default: all), and prune only objects
    /// labelled with these apps; the release record says the apply was partial.
    #[arg(short = 'a', long = "app", value_name = "APP")]
    pub apps: Vec<String>,
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
    /// Requests to the API server at once, per step (LISTs, dry runs, writes); a few steps
    /// overlap.
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub concurrency: usize,
    /// Say on stderr how many requests were made to the API server.
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// How long to wait for a connection to the API server (0: no limit).
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub connect_timeout: std::time::Duration,
    /// How long to wait for the API server to answer a request, as kubectl's (0: no limit).
    #[arg(long, default_value = "60s", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub request_timeout: std::time::Duration,
    /// How long a kubeconfig exec credential plugin may run before it is stopped (0: no limit).
    #[arg(long, default_value = "60s", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub exec_timeout: std::time::Duration,
}

impl From<&ClusterArgs> for ClusterOptions {
    fn from(args: &ClusterArgs) -> Self {
        ClusterOptions {
            kubeconfig: args.kubeconfig.clone(),
            context: args.kube_context.clone(),
            concurrency: args.concurrency,
            timeouts: crate::cluster::connect::Timeouts {
                connect: args.connect_timeout,
                request: args.request_timeout,
                exec: args.exec_timeout,
            },
        }
    }
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
