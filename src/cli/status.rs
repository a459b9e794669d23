//! What runs where: `berth status`, `history`, `drift` and `channels`.

use super::*;

/// Write `text` to `out`, or print it.
pub(super) fn emit(out: Option<&Path>, text: &str) -> Result<(), Problems> {
    match out {
        Some(file) => std::fs::write(file, text).map_err(|e| {
            Problem::new(format!("cannot write the report: {e}"))
                .in_file(file)
                .into()
        }),
        None => print(text),
    }
}

pub(super) fn status_command(config: &Config, args: &StatusArgs) -> Result<u8, Problems> {
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

pub(super) fn history_command(config: &Config, args: &HistoryArgs) -> Result<u8, Problems> {
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

pub(super) fn drift_command(config: &Config, args: &DriftArgs, ci: &CiEnv) -> Result<u8, Problems> {
    let channel = config.select_channels(std::slice::from_ref(&args.channel))?[0];
    let repo = crate::git::open(&config.root)?;
    let tip = crate::release::resolve(&repo, channel, None, REMOTE)?;
    let cluster = ClusterOptions::from(&args.cluster);
    let checked =
        crate::status::drift::run(config, channel, repo.path(), &tip, &cluster, args.unified)?;
    let drift = checked.drift;
    // Told only when there is drift: a clean check, or one that could not look, is no news.
    if drift.found() {
        let subject = crate::notify::Subject::Drift {
            drifted: drift.drifted().map(|c| c.key.to_string()).collect(),
            orphans: drift.orphans.iter().map(ToString::to_string).collect(),
        };
        tell(config, channel, subject, Some(checked.release.commit), ci);
    }
    let plan = crate::plan::Plan {
        channel: channel.name.clone(),
        base: checked.cluster,
        target: format!(
            "{} ({})",
            checked.release.name,
            short_id(&checked.release.commit.to_string())
        ),
        source_commit: checked.source_commit,
        tree_commit: None,
        objects: drift.changed.clone(),
        requests: None,
    };
    emit(
        args.out.as_deref(),
        &report::status::drift(&plan, &drift, report::Format::from(args.output)),
    )?;
    if args.issue {
        drift_issue(config, &plan, &drift, ci)?;
    }
    Ok(if drift.errors() > 0 {
        exit::ERROR
    } else if drift.is_none() {
        exit::OK
    } else {
        exit::CHANGES
    })
}

/// `drift --issue`: the channel's issue says the drift report, or is closed when there is none.
fn drift_issue(
    config: &Config,
    plan: &crate::plan::Plan,
    drift: &crate::status::drift::Drift,
    ci: &CiEnv,
) -> Result<(), Problems> {
    let client = crate::github::Client::from_ci(ci)?;
    let marker = format!(
        "<!-- berth:drift project={} channel={} -->",
        config.project, plan.channel
    );
    if !drift.found() && drift.errors() > 0 {
        // Nothing found, but not everything could be looked at: neither news nor all clear.
        eprintln!(
            "channel {}: drift issue left as it is ({} object(s) could not be checked)",
            plan.channel,
            drift.errors()
        );
        return Ok(());
    }
    let report = drift.found().then(|| {
        let max = crate::github::COMMENT_LIMIT - marker.chars().count() - 1;
        format!(
            "{marker}\n{}",
            report::status::drift_markdown(plan, drift, max)
        )
    });
    let title = format!("Drift in channel {} ({})", plan.channel, config.project);
    let done = client.sync_issue(&marker, &title, report.as_deref())?;
    match done.number {
        Some(number) => eprintln!(
            "channel {}: drift issue #{number} {}",
            plan.channel,
            done.action.as_str()
        ),
        None => eprintln!("channel {}: no drift issue open", plan.channel),
    }
    Ok(())
}

pub(super) fn channels_command(config: &Config, args: &ChannelsArgs) -> Result<u8, Problems> {
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
