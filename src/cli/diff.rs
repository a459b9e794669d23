//! `berth diff`: the plan against the cluster or a release, its reports, the reviewed plan it records.

use super::*;

/// Record the plan of a cluster diff of a committed tree as its reviewed plan (pushed with
/// `--push-notes`), unless some object could not be checked: such a plan was not all seen.
/// Returns the line the pull request's comment shows.
pub(super) fn record_reviewed_plan(
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
pub(super) fn diff_plan(
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
    // `--against` compares with a tree read from git: it needs the repository.
    let against = match (&args.against, &repo) {
        (Some(against), Some(repo)) => Some((against, repo)),
        (Some(against), None) => {
            return Err(
                Problem::new(format!("--against {against} needs a git repository"))
                    .in_file(&config.root)
                    .hint("run berth inside a clone of the configuration repository")
                    .into(),
            );
        }
        (None, _) => None,
    };
    let target = candidate::diff_tree(config, source, channel, choice, repo.as_ref(), ci, REMOTE)?;
    let tree_id = target.tree_id.clone();
    let plan = match against {
        Some((against, repo)) => {
            let base = crate::git::named_tree(repo, against)?;
            let plan = crate::diff::offline(&channel.name, &base, target, args.unified)?;
            return Ok((plan.only_apps(&args.apps), None));
        }
        None => {
            // The channel's current release: its objects that left the tree are prune candidates.
            let release = match &repo {
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
pub(super) fn full_report(args: &DiffArgs, ci: &CiEnv) -> Option<String> {
    args.full_out
        .as_ref()
        .map(|f| format!("`{}`", f.display()))
        .or_else(|| {
            ci.run_url
                .as_ref()
                .map(|run| format!("the artifacts of {run}"))
        })
}

/// Write the plan as the report `args` ask for: stdout or `--out`, Markdown sized to
/// `--max-chars` or split into parts, and the full report to `--full-out`.
pub(super) fn write_report(
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
pub(super) fn numbered(file: &Path, n: usize) -> PathBuf {
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
