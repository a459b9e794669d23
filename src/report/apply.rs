//! The apply report: what applying a release did, as text, as Markdown (GitHub's job summary)
//! and as JSON; and apply's progress on stderr.

use crate::release::outcome::{Event, ObjectResult, Report, Reporter};
use crate::tree::short_id;

/// The result, the counts, then every object that did not stay unchanged.
pub fn text(report: &Report) -> String {
    let mut text = format!(
        "{}{} {}{}: {}\n  {}\n",
        if report.dry_run { "dry run: " } else { "" },
        report.channel,
        short_id(&report.release),
        only_apps(report),
        report.result,
        report.summary
    );
    for object in report
        .objects
        .iter()
        .filter(|o| o.result != ObjectResult::Unchanged)
    {
        text.push_str(&format!("  {:<10} {}", object.label(), object.key));
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
    let apps = report.apps_not_ready();
    if !apps.is_empty() {
        text.push_str(&format!("  apps not ready: {}\n", apps.join(", ")));
    }
    for check in &report.checks {
        text.push_str(&format!(
            "  check {:<9} {} ({:.1}s)\n",
            check.outcome.as_str(),
            check.name,
            check.seconds
        ));
        for line in check.output.lines() {
            text.push_str(&format!("    | {line}\n"));
        }
    }
    text
}

/// The result, the counts, what did not go well: for GitHub's job summary.
pub fn markdown(report: &Report) -> String {
    let mut text = format!(
        "### berth apply · `{}`{}\n\n`{}`{}: **{}** — {}\n",
        report.channel,
        if report.dry_run { " (dry run)" } else { "" },
        short_id(&report.release),
        only_apps(report),
        report.result,
        report.summary
    );
    for object in report
        .objects
        .iter()
        .filter(|o| o.result == ObjectResult::Failed)
    {
        let detail = object.detail.as_deref().unwrap_or("");
        text.push_str(&format!("- failed `{}`: {detail}\n", object.key));
    }
    for pending in &report.not_ready {
        text.push_str(&format!(
            "- not ready `{}`: {}\n",
            pending.key, pending.reason
        ));
    }
    let apps = report.apps_not_ready();
    if !apps.is_empty() {
        text.push_str(&format!("- apps not ready: {}\n", apps.join(", ")));
    }
    for check in &report.checks {
        text.push_str(&format!(
            "- check `{}`: {}\n",
            check.name,
            check.outcome.as_str()
        ));
    }
    text
}

/// ` (only web, api)` after the release of a partial apply.
fn only_apps(report: &Report) -> String {
    if report.partial.is_empty() {
        String::new()
    } else {
        format!(" (only {})", report.partial.join(", "))
    }
}

pub fn json(report: &Report) -> String {
    format!(
        "{}\n",
        serde_json::to_string_pretty(report).expect("reports serialize")
    )
}

/// Events as lines on stderr: every one with `progress`, else only warnings; details (the
/// request count) only with `verbose`.
pub struct Stderr {
    pub progress: bool,
    pub verbose: bool,
}

impl Reporter for Stderr {
    fn report(&self, event: &Event<'_>) {
        if event.is_detail() {
            if self.verbose {
                eprintln!("{event}");
            }
        } else if self.progress || !event.is_progress() {
            eprintln!("{event}");
        }
    }
}
