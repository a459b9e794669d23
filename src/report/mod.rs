//! Report: one printer per output format. A [`Plan`] as text (coloured like `kubectl diff` on a
//! terminal), as Markdown for a pull-request comment (from `templates/diff.md.j2`; whole, sized
//! to a comment's limit or split into parts: see [`markdown`]), or as JSON; the apply report
//! and apply's progress in [`apply`].

pub mod apply;
mod markdown;
pub mod status;

pub use markdown::{MIN_CHARS, markdown, markdown_failure, markdown_limited, markdown_parts};

use crate::plan::{Action, Plan};
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Markdown,
    Json,
}

/// The most characters a GitHub comment may hold.
pub use crate::github::COMMENT_LIMIT as GITHUB_COMMENT_LIMIT;

pub fn render(plan: &Plan, format: Format, color: bool) -> String {
    match format {
        Format::Text => text(plan, color),
        Format::Markdown => markdown(plan),
        Format::Json => json(plan),
    }
}

/// Every changed object's unified diff, then a summary per app and in total.
pub fn text(plan: &Plan, color: bool) -> String {
    let paint = |code: &str, line: &str| {
        if color {
            format!("\x1b[{code}m{line}\x1b[0m")
        } else {
            line.to_string()
        }
    };
    let mut out = String::new();
    for object in plan
        .objects
        .iter()
        .filter(|o| o.action != Action::Unchanged)
    {
        if let Some(diff) = &object.diff {
            for line in diff.lines() {
                let painted = if line.starts_with("+++") || line.starts_with("---") {
                    paint("1", line)
                } else if line.starts_with('+') {
                    paint("32", line)
                } else if line.starts_with('-') {
                    paint("31", line)
                } else if line.starts_with("@@") {
                    paint("36", line)
                } else {
                    line.to_string()
                };
                out.push_str(&painted);
                out.push('\n');
            }
        }
        if let Some(note) = &object.note {
            out.push_str(&format!("# {}: {note}\n", object.key));
        }
        if let Some(error) = &object.error {
            out.push_str(&paint("1;31", &format!("error: {}: {error}", object.key)));
            out.push('\n');
        }
    }
    // Helm hooks apart: apply runs them in their phase, whatever their plan.
    for object in plan.objects.iter().filter(|o| o.hook.is_some()) {
        let hook = object.hook.as_deref().unwrap_or_default();
        let state = match (object.action, &object.note) {
            (Action::Unchanged, Some(note)) => format!(" ({note})"),
            (action, _) => format!(" ({})", action.verb()),
        };
        out.push_str(&format!("hook {hook}: {}{state}\n", object.key));
    }
    out.push_str(&format!(
        "{}: {} against {}\n",
        plan.channel, plan.target, plan.base
    ));
    for (app, counts) in plan.counts_by_app() {
        let app = if app.is_empty() {
            "(no app)".to_string()
        } else {
            app
        };
        out.push_str(&format!("  {app}: {}\n", counts.summary()));
    }
    out.push_str(&format!("  total: {}\n", plan.counts().summary()));
    out
}

/// The plan and its counts, for machines.
pub fn json(plan: &Plan) -> String {
    let mut value = json!({
        "channel": plan.channel,
        "base": plan.base,
        "target": plan.target,
        "sourceCommit": plan.source_commit,
        "counts": plan.counts(),
        "apps": plan.counts_by_app(),
        "objects": plan.objects,
    });
    if let Some(requests) = plan.requests {
        value["requests"] = json!(requests);
    }
    let mut out = serde_json::to_string_pretty(&value).expect("plans serialize");
    out.push('\n');
    out
}
