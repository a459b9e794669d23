//! `berth status`, `berth history` and `berth drift` as text, Markdown, JSON, and the status as
//! one self-contained HTML page (`templates/status.html.j2`).

use crate::plan::Plan;
use crate::release::history::Entry;
use crate::status::drift::Drift;
use crate::status::{ChannelStatus, ClusterState, DriftState, Pending, Status};
use crate::tree::short_id;
use serde_json::{Value, json};

fn pretty(value: &impl serde::Serialize) -> String {
    let mut out = serde_json::to_string_pretty(value).expect("statuses serialize");
    out.push('\n');
    out
}

pub fn status_json(status: &Status) -> String {
    pretty(status)
}

/// `abc123def456 (source 0011223344 on main)`.
fn release_line(commit: &str, source: &crate::tree::SourceInfo) -> String {
    let mut line = short_id(commit).to_string();
    if let Some(src) = source.short_commit() {
        line.push_str(&format!(" (source {src}"));
        if let Some(branch) = &source.branch {
            line.push_str(&format!(" on {branch}"));
        }
        line.push(')');
    }
    line
}

fn next_line(channel: &ChannelStatus) -> Option<String> {
    let next = channel.promotes_to.as_ref()?;
    let mut line = format!("promotes to {}", next.channel);
    if let Some(behind) = next.behind {
        line.push_str(&format!(
            ": {} is {behind} source commit{} behind",
            next.channel,
            plural(behind)
        ));
    }
    if let Some(url) = &next.compare_url {
        line.push_str(&format!(" ({url})"));
    }
    Some(line)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

pub fn status_text(status: &Status) -> String {
    let mut out = String::new();
    for channel in &status.channels {
        out.push_str(&format!("{}\n", channel.channel));
        match &channel.tip {
            Some(tip) => out.push_str(&format!(
                "  release:  {} {} [{}]\n",
                channel.release_branch,
                release_line(&tip.commit, &tip.source),
                channel.pending.as_str()
            )),
            None => out.push_str(&format!("  release:  no {}\n", channel.release_branch)),
        }
        match &channel.cluster {
            ClusterState::Unreachable { reason } => {
                out.push_str(&format!("  cluster:  unreachable: {}\n", one_line(reason)));
            }
            ClusterState::Reached { applied: None, .. } => {
                out.push_str("  applied:  never\n");
            }
            ClusterState::Reached {
                applied: Some(a), ..
            } => {
                out.push_str(&format!(
                    "  applied:  {} {}{} at {} by {}{}\n",
                    release_line(&a.release, &a.source),
                    a.result,
                    partial_words(&a.partial),
                    a.applied_at,
                    a.applied_by,
                    a.run
                        .as_ref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                ));
            }
        }
        out.push_str(&format!("  drift:    {}\n", channel.drift.label()));
        if let Some(line) = next_line(channel) {
            out.push_str(&format!("  {line}\n"));
        }
        for (app, state) in &channel.apps {
            let images = if state.images.is_empty() {
                "no images".to_string()
            } else {
                state.images.join(", ")
            };
            let promotion = match state.differs_from_next {
                Some(true) => "  [needs promotion]",
                _ => "",
            };
            out.push_str(&format!("  {}: {images}{promotion}\n", app_name(app)));
        }
    }
    out
}

/// ` (partial: web, api)` after the result of a partial apply; nothing after a whole one.
fn partial_words(apps: &[String]) -> String {
    if apps.is_empty() {
        String::new()
    } else {
        format!(" (partial: {})", apps.join(", "))
    }
}

fn app_name(app: &str) -> &str {
    if app.is_empty() { "(no app)" } else { app }
}

/// A problem's first line (the hint follows on the next).
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Markdown cells hold no `|` or newline.
fn cell(text: &str) -> String {
    one_line(text).replace('|', "\\|")
}

pub fn status_markdown(status: &Status) -> String {
    let mut out = format!("### berth status · `{}`\n\n", status.project);
    out.push_str("| channel | release | applied | drift | next |\n|:--|:--|:--|:--|:--|\n");
    for channel in &status.channels {
        let release = match &channel.tip {
            Some(tip) => format!("`{}` ({})", short_id(&tip.commit), channel.pending.as_str()),
            None => "no release branch".into(),
        };
        let applied = match &channel.cluster {
            ClusterState::Unreachable { reason } => format!("unreachable: {}", reason),
            ClusterState::Reached { applied: None, .. } => "never".into(),
            ClusterState::Reached {
                applied: Some(a), ..
            } => format!(
                "`{}` {}{} at {} by {}",
                short_id(&a.release),
                a.result,
                partial_words(&a.partial),
                a.applied_at,
                a.applied_by
            ),
        };
        let next = next_line(channel).unwrap_or_default();
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            channel.channel,
            cell(&release),
            cell(&applied),
            cell(&channel.drift.label()),
            cell(&next)
        ));
    }
    out.push_str("\n| app |");
    for channel in &status.channels {
        out.push_str(&format!(" {} |", channel.channel));
    }
    out.push_str("\n|:--|");
    out.push_str(&":--|".repeat(status.channels.len()));
    out.push('\n');
    for app in status.apps() {
        out.push_str(&format!("| {} |", app_name(&app)));
        for channel in &status.channels {
            let text = match channel.apps.get(&app) {
                Some(state) => {
                    let mut text = state
                        .images
                        .iter()
                        .map(|i| format!("`{i}`"))
                        .collect::<Vec<_>>()
                        .join("<br>");
                    if state.differs_from_next == Some(true) {
                        text.push_str(" (needs promotion)");
                    }
                    text
                }
                None => "—".into(),
            };
            out.push_str(&format!(" {} |", cell(&text)));
        }
        out.push('\n');
    }
    out
}

/// The release page: one HTML file, no scripts, no external assets.
pub fn status_html(status: &Status) -> String {
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.add_template(
        "status.html.j2",
        include_str!("../../templates/status.html.j2"),
    )
    .expect("berth's own template parses");
    let link = |commit: &str| {
        status
            .repository_url
            .as_ref()
            .map(|web| format!("{web}/commit/{commit}"))
    };
    let result_class = |result: crate::release::outcome::ApplyResult| match result.exit_code() {
        0 => "ok",
        _ => "bad",
    };
    let channels: Vec<Value> = status
        .channels
        .iter()
        .map(|c| {
            let applied = c.cluster.applied();
            let source = applied
                .map(|a| &a.source)
                .or(c.tip.as_ref().map(|t| &t.source));
            let source_commit = source.and_then(|s| s.commit.as_deref());
            json!({
                "name": c.channel,
                "tip": c.tip.as_ref().map(|t| short_id(&t.commit)),
                "pending": c.pending.as_str(),
                "pending_class": match c.pending {
                    Pending::Applied => "ok",
                    Pending::Pending | Pending::NoRelease => "warn",
                    Pending::Unknown => "bad",
                },
                "unreachable": match &c.cluster {
                    ClusterState::Unreachable { reason } => Some(one_line(reason)),
                    ClusterState::Reached { .. } => None,
                },
                "applied": applied.map(|a| json!({
                    "release": short_id(&a.release),
                    "result": format!("{}{}", a.result, partial_words(&a.partial)),
                    "result_class": result_class(a.result),
                    "at": a.applied_at,
                    "by": a.applied_by,
                    // A record anyone could write: only web addresses become links.
                    "run": a.run.as_deref().filter(|r| is_web_address(r)),
                    "run_text": a.run.as_deref().filter(|r| !is_web_address(r)),
                })),
                "source": source_commit.map(short_id),
                "source_url": source_commit.and_then(link),
                "branch": source.and_then(|s| s.branch.as_deref()),
                "drift": c.drift.label(),
                "drift_class": match c.drift {
                    DriftState::None => "ok",
                    DriftState::NotChecked => "",
                    DriftState::Drifted { .. } => "warn",
                    DriftState::Error { .. } => "bad",
                },
                "next": c.promotes_to,
            })
        })
        .collect();
    let apps: Vec<Value> = status
        .apps()
        .into_iter()
        .map(|app| {
            let cells: Vec<Value> = status
                .channels
                .iter()
                .map(|c| match c.apps.get(&app) {
                    Some(state) => json!({
                        "present": true,
                        "images": state.images,
                        "needs_promotion": state.differs_from_next == Some(true),
                    }),
                    None => json!({"present": false}),
                })
                .collect();
            json!({"name": app_name(&app), "cells": cells})
        })
        .collect();
    let context = json!({
        "project": status.project,
        "channels": channels,
        "apps": apps,
    });
    env.get_template("status.html.j2")
        .and_then(|t| t.render(minijinja::Value::from(minijinja::value::Serde(&context))))
        .expect("berth's own template renders")
}

fn is_web_address(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

pub fn history_json(entries: &[Entry]) -> String {
    pretty(&entries)
}

pub fn history_text(channel: &str, entries: &[Entry]) -> String {
    let mut out = String::new();
    for entry in entries {
        let applied = match &entry.applied {
            None => "not applied".to_string(),
            Some(note) => {
                let mut text = note.result.map_or("applied", |r| r.as_str()).to_string();
                text.push_str(&partial_words(&note.partial));
                if let Some(at) = &note.applied_at {
                    text.push_str(&format!(" at {at}"));
                }
                if let Some(by) = &note.applied_by {
                    text.push_str(&format!(" by {by}"));
                }
                if let Some(run) = &note.run {
                    text.push_str(&format!(" ({run})"));
                }
                text
            }
        };
        let rollback = match (&entry.rollback_from, &entry.rollback_to) {
            (Some(from), Some(to)) => {
                format!("  rollback from {} to {}", short_id(from), short_id(to))
            }
            (Some(from), None) => format!("  rollback from {}", short_id(from)),
            _ => String::new(),
        };
        out.push_str(&format!(
            "{}  released {}{rollback}  {applied}\n",
            release_line(&entry.release, &entry.source),
            entry.committed_at
        ));
    }
    if entries.is_empty() {
        out.push_str(&format!("channel {channel} has no releases\n"));
    }
    out
}

/// The drift as a plan of the release against the cluster, and its orphans.
pub fn drift(plan: &Plan, drift: &Drift, format: super::Format) -> String {
    match format {
        super::Format::Json => pretty(&json!({
            "channel": plan.channel,
            "release": plan.target,
            "against": plan.base,
            "drift": !drift.is_none(),
            "changed": drift.changed,
            "orphans": drift.orphans,
        })),
        super::Format::Text => {
            let mut out = if drift.changed.is_empty() {
                format!(
                    "{}: the cluster holds {} as released\n",
                    plan.channel, plan.target
                )
            } else {
                super::text(plan, false)
            };
            for orphan in &drift.orphans {
                out.push_str(&format!(
                    "orphan: {orphan} (labelled for {}, in no release)\n",
                    plan.channel
                ));
            }
            out
        }
        super::Format::Markdown => drift_markdown(plan, drift, usize::MAX),
    }
}

/// The Markdown drift report (an issue body) within `max_chars` characters: the heading, then
/// as many table rows, orphans and object diffs as fit, in that order of importance, each part
/// saying how many of its items were left out.
pub fn drift_markdown(plan: &Plan, drift: &Drift, max_chars: usize) -> String {
    let chars = |s: &str| s.chars().count();
    let mut out = format!(
        "### berth drift · `{}`\n\n{} against {}\n\n",
        plan.channel, plan.target, plan.base
    );
    if drift.is_none() {
        out.push_str("**No drift.**\n");
    }
    let rows: Vec<String> = drift
        .changed
        .iter()
        .map(|change| format!("| `{}` | {} |\n", change.key, change.action.verb()))
        .collect();
    let orphans: Vec<String> = drift
        .orphans
        .iter()
        .map(|orphan| format!("- `{orphan}`\n"))
        .collect();
    let details: Vec<String> = drift
        .changed
        .iter()
        .filter_map(|change| {
            change.diff.as_ref().map(|diff| {
                format!(
                    "\n<details><summary><code>{}</code></summary>\n\n```diff\n{}```\n\n</details>\n",
                    change.key, diff
                )
            })
        })
        .collect();
    const TABLE_HEAD: &str = "| object | change |\n|:--|:--|\n";
    const ORPHANS_HEAD: &str = "\n**Orphans** (labelled for the channel, in no release):\n\n";
    // Room for the heads and a "left out" note after each part.
    const NOTE_ROOM: usize = 120;
    let mut room = max_chars
        .saturating_sub(chars(&out) + chars(TABLE_HEAD) + chars(ORPHANS_HEAD) + 3 * NOTE_ROOM);
    let mut fit = |items: &[String]| -> usize {
        let mut taken = 0;
        for item in items {
            if chars(item) > room {
                break;
            }
            room -= chars(item);
            taken += 1;
        }
        taken
    };
    let (rows_shown, orphans_shown, details_shown) = (fit(&rows), fit(&orphans), fit(&details));
    let left_out = |shown: usize, all: usize, what: &str| match all - shown {
        0 => String::new(),
        n => format!(
            "\n*{n} more {what} left out to fit; run `berth drift -c {}` for the whole report.*\n",
            plan.channel
        ),
    };
    if !rows.is_empty() {
        out.push_str(TABLE_HEAD);
        out.extend(rows[..rows_shown].iter().cloned());
        out.push_str(&left_out(rows_shown, rows.len(), "objects"));
        out.extend(details[..details_shown].iter().cloned());
        out.push_str(&left_out(details_shown, details.len(), "diffs"));
    }
    if !orphans.is_empty() {
        out.push_str(ORPHANS_HEAD);
        out.extend(orphans[..orphans_shown].iter().cloned());
        out.push_str(&left_out(orphans_shown, orphans.len(), "orphans"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::outcome::ApplyResult;
    use crate::status::{AppStatus, Applied, ChannelStatus, Promotion};
    use crate::tree::SourceInfo;

    #[test]
    fn a_drift_report_too_long_for_an_issue_keeps_its_table_first_and_says_what_it_left_out() {
        use crate::object::ObjectKey;
        use crate::plan::{Action, ObjectChange};
        let changed: Vec<ObjectChange> = (0..400)
            .map(|i| {
                let key = ObjectKey::new("", "ConfigMap", Some("shop"), &format!("cm-{i}"));
                let mut change = ObjectChange::new(key, None, Action::Update);
                change.diff = Some(format!("-  n: \"{i}\"\n+  n: \"x\"\n").repeat(20));
                change
            })
            .collect();
        let drift = Drift {
            changed: changed.clone(),
            orphans: vec![ObjectKey::new("", "ConfigMap", Some("shop"), "left-over")],
        };
        let plan = Plan {
            channel: "test".into(),
            base: "the cluster".into(),
            target: "releases/test".into(),
            source_commit: None,
            tree_commit: None,
            objects: changed,
            requests: None,
        };
        let whole = drift_markdown(&plan, &drift, usize::MAX);
        assert!(whole.chars().count() > 65_536);
        assert!(!whole.contains("left out"));
        let cut = drift_markdown(&plan, &drift, 65_000);
        assert!(cut.chars().count() <= 65_000);
        // Every row and the orphan fit; the diffs that do not are counted.
        assert!(
            cut.contains("| `shop/ConfigMap/cm-399` | update |"),
            "{cut}"
        );
        assert!(cut.contains("- `shop/ConfigMap/left-over`"), "{cut}");
        let shown = cut.matches("<details>").count();
        assert!(shown > 0 && shown < 400, "{shown}");
        assert!(
            cut.contains(&format!(
                "*{} more diffs left out to fit; run `berth drift -c test` for the whole report.*",
                400 - shown
            )),
            "{cut}"
        );
        // A tiny limit still gives the heading, and counts every row left out.
        let tiny = drift_markdown(&plan, &drift, 500);
        assert!(tiny.contains("more objects left out"), "{tiny}");
        assert!(tiny.contains("more orphans left out"), "{tiny}");
    }

    fn hostile() -> Status {
        let evil = "<script>alert(1)</script>\"'&";
        Status {
            project: "acme.shop".into(),
            repository_url: Some("https://github.com/acme/shop".into()),
            channels: vec![ChannelStatus {
                channel: "test".into(),
                release_branch: "releases/test".into(),
                tip: None,
                cluster: ClusterState::Reached {
                    server: "https://k8s".into(),
                    applied: Some(Applied {
                        release: "0123456789abcdef".into(),
                        source: SourceInfo {
                            commit: Some("fedcba9876543210".into()),
                            branch: Some(evil.into()),
                            manual: false,
                        },
                        applied_at: "2026-11-29T22:00:00Z".into(),
                        applied_by: evil.into(),
                        run: Some(format!("javascript:{evil}")),
                        result: ApplyResult::Succeeded,
                        partial: Vec::new(),
                    }),
                },
                pending: Pending::NoRelease,
                apps: [(
                    evil.to_string(),
                    AppStatus {
                        images: vec![evil.into()],
                        differs_from_next: Some(true),
                    },
                )]
                .into(),
                drift: DriftState::Error {
                    reason: evil.into(),
                },
                promotes_to: Some(Promotion {
                    channel: "prod".into(),
                    behind: Some(2),
                    compare_url: None,
                }),
            }],
        }
    }

    #[test]
    fn the_release_page_escapes_every_value_and_loads_nothing() {
        let html = status_html(&hostile());
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("alert(1)</"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
            "{html}"
        );
        for external in ["<link", " src=", "@import", "url("] {
            assert!(!html.contains(external), "{external}: {html}");
        }
        assert!(html.contains("needs promotion"));
        // `/` is escaped too; the browser reads the entity back.
        assert!(
            html.contains("href=\"https:&#x2f;&#x2f;github.com&#x2f;acme&#x2f;shop&#x2f;commit&#x2f;fedcba9876543210\""),
            "{html}"
        );
        assert!(!html.contains("href=\"javascript"), "{html}");
    }

    #[test]
    fn markdown_cells_hold_no_pipes_or_newlines() {
        let mut status = hostile();
        status.channels[0].drift = DriftState::Error {
            reason: "a | b\n  hint: c".into(),
        };
        let markdown = status_markdown(&status);
        assert!(markdown.contains("error: a \\| b; hint: c"), "{markdown}");
    }
}
