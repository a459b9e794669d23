//! Report: a [`Plan`] as text (coloured like `kubectl diff` on a terminal), as Markdown for a
//! pull-request comment (from `templates/diff.md.j2`), or as JSON.

use crate::plan::{Action, Plan};
use serde::Serialize;
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Markdown,
    Json,
}

/// The most characters a GitHub comment may hold.
pub const GITHUB_COMMENT_LIMIT: usize = 65_536;

/// The Markdown report within `max_chars` characters: the whole summary first, then as many
/// object diffs as fit, then a line saying how many were left out and where the full report is
/// (`full_report`, e.g. a file or an artifact link).
pub fn markdown_limited(plan: &Plan, max_chars: usize, full_report: Option<&str>) -> String {
    let _ = (max_chars, full_report);
    markdown(plan)
}

/// The Markdown report as numbered parts, each within `max_chars`, every part with its code
/// fences and `<details>` closed.
pub fn markdown_parts(plan: &Plan, max_chars: usize) -> Vec<String> {
    let _ = max_chars;
    vec![markdown(plan)]
}

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
    let value = json!({
        "channel": plan.channel,
        "base": plan.base,
        "target": plan.target,
        "sourceCommit": plan.source_commit,
        "counts": plan.counts(),
        "apps": plan.counts_by_app(),
        "objects": plan.objects,
    });
    let mut out = serde_json::to_string_pretty(&value).expect("plans serialize");
    out.push('\n');
    out
}

#[derive(Serialize)]
struct AppRow {
    name: String,
    counts: crate::plan::Counts,
}

#[derive(Serialize)]
struct MarkdownObject<'a> {
    #[serde(flatten)]
    object: &'a crate::plan::ObjectChange,
    /// A code fence longer than any run of backticks in the diff, so it cannot be closed early.
    fence: String,
}

/// A pull-request comment: summary table per app, then one `<details>` per changed object.
pub fn markdown(plan: &Plan) -> String {
    let objects: Vec<MarkdownObject> = plan
        .objects
        .iter()
        .filter(|o| o.action != Action::Unchanged)
        .map(|object| MarkdownObject {
            object,
            fence: fence_for(object.diff.as_deref().unwrap_or("")),
        })
        .collect();
    let apps: Vec<AppRow> = plan
        .counts_by_app()
        .into_iter()
        .map(|(name, counts)| AppRow { name, counts })
        .collect();
    let counts = plan.counts();
    let context = json!({
        "plan": plan,
        "short_commit": plan.source_commit.as_deref().map(|c| &c[..c.len().min(12)]),
        "counts": counts,
        "changed": counts.changed(),
        "apps": apps,
        "objects": objects,
    });
    let env = report_environment();
    env.get_template("diff.md.j2")
        .and_then(|t| t.render(minijinja::value::Serde(&context)))
        .expect("berth's own template renders")
}

fn report_environment() -> minijinja::Environment<'static> {
    let mut env = crate::render::template::environment();
    // Optional plan fields are absent, not null, in the context.
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
    env.add_template("diff.md.j2", include_str!("../../templates/diff.md.j2"))
        .expect("berth's own template parses");
    env
}

fn fence_for(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}
