//! The Markdown report for a pull-request comment: whole ([`markdown`]), sized to a comment's
//! limit ([`markdown_limited`]) or split into numbered parts ([`markdown_parts`]).
//!
//! `templates/diff.md.j2` holds the report's pieces as macros: the marker and heading, the
//! summary with its table (one row per app), one `<details>` per object (or piece of an
//! object's diff) and the footer saying what was left out. Each piece is rendered once, its
//! characters counted (`chars()`, as GitHub counts), and the report is put together from them,
//! so sizing a plan of thousands of objects costs one render per object.

use crate::github::comments::Marker;
use crate::plan::{Action, Counts, ObjectChange, Plan};
use minijinja::value::Serde;
use minijinja::{State, Value};
use serde::Serialize;
use std::borrow::Cow;

/// A `max_chars` below this is taken as this: the summary, the footer and a few objects need
/// room, and no real comment limit is smaller.
pub const MIN_CHARS: usize = 1_000;

/// The whole report: summary table per app, then one `<details>` per changed object.
pub fn markdown(plan: &Plan) -> String {
    with_pieces(plan, |pieces| {
        let mut head = pieces.marker(None);
        head.push_str(&pieces.summary_of(&apps(plan)));
        let sections = sections(pieces, plan);
        whole(&head, &sections)
    })
}

/// The report within `max_chars` characters (at least [`MIN_CHARS`]).
///
/// When the whole report fits, it is [`markdown`]'s. Otherwise:
/// - the summary comes whole when it fits; if not, the rows of apps with no changes are left
///   out of its table, then the last rows, with a line saying how many apps are not listed;
/// - the objects are chosen in this order, each group in the plan's order: the objects that
///   could not be checked, those with a note, then the other diffs. An object whose section
///   does not fit in the room left is skipped (a smaller one further on may still fit), except
///   that an error or a note is never skipped for its diff: its diff is cut at a line boundary,
///   closed, and followed by "… N more lines of this diff left out". The objects chosen are
///   shown in the plan's order;
/// - a footer says how many object diffs were left out (and cut short) and where the full diff
///   is: `full_report`, Markdown put in as is (e.g. "`diff-full.md`" or "the artifacts of
///   https://…"), else a hint to run `berth diff --channel C`.
pub fn markdown_limited(plan: &Plan, max_chars: usize, full_report: Option<&str>) -> String {
    with_pieces(plan, |pieces| {
        let apps = apps(plan);
        let mut head = pieces.marker(None);
        let summary = pieces.summary_of(&apps);
        let sections = sections(pieces, plan);
        let max = max_chars.max(MIN_CHARS);
        let total =
            chars(&head) + chars(&summary) + sections.iter().map(|s| s.chars).sum::<usize>();
        if total <= max {
            head.push_str(&summary);
            return whole(&head, &sections);
        }
        let n = sections.len();
        let footer_room = chars(&pieces.footer(n, n, n, full_report));
        let room = max.saturating_sub(footer_room + chars(&head));
        if chars(&summary) <= room {
            head.push_str(&summary);
        } else {
            head.push_str(&pieces.summary_within(&apps, room));
        }
        let mut room = max.saturating_sub(footer_room + chars(&head));
        let mut chosen: Vec<Option<Cow<str>>> = vec![None; n];
        // Errors and notes too big to fit whole: first with no diff lines, then, once the other
        // objects have had their turn, with as many lines as the room left holds.
        let mut cut = Vec::new();
        for i in priority_order(&sections) {
            let section = &sections[i];
            if section.chars <= room {
                chosen[i] = Some(Cow::Borrowed(&section.text));
                room -= section.chars;
            } else if section.is_priority()
                && let Some(text) = pieces.cut_short(section, room, max, 0)
            {
                room -= chars(&text);
                chosen[i] = Some(Cow::Owned(text));
                cut.push(i);
            }
        }
        for &i in &cut {
            let shown = chosen[i].as_deref().map(chars).unwrap_or(0);
            if let Some(text) = pieces.cut_short(&sections[i], room + shown, max, usize::MAX) {
                room = room + shown - chars(&text);
                chosen[i] = Some(Cow::Owned(text));
            }
        }
        let cut_short = cut.len();
        let left_out = chosen.iter().filter(|c| c.is_none()).count();
        let mut out = head;
        for text in chosen.iter().flatten() {
            out.push_str(text);
        }
        out.push_str(&pieces.footer(n, left_out, cut_short, full_report));
        debug_assert!(chars(&out) <= max, "{} > {max}", chars(&out));
        out
    })
}

/// The report as numbered parts, each within `max_chars` characters (at least [`MIN_CHARS`]).
///
/// Every part starts with the marker `<!-- berth:diff channel=C part=I/N -->` and the heading
/// "berth diff · `C` (part I of N)" (no "part 1 of 1" in the heading of a single part); part 1
/// holds the summary (sized as in [`markdown_limited`] should its table alone be too long).
/// Objects follow in the plan's order, none left out: a section that does not fit in the rest
/// of a part starts the next part, and one larger than a whole part is split at line boundaries
/// into pieces, each in its own closed fence and `<details>`, marked "(continued)". A single
/// line longer than a part is cut at character boundaries. Notes and errors longer than an
/// eighth of `max_chars` are shortened in a split object.
pub fn markdown_parts(plan: &Plan, max_chars: usize) -> Vec<String> {
    with_pieces(plan, |pieces| {
        let max = max_chars.max(MIN_CHARS);
        let apps = apps(plan);
        let full_summary = pieces.summary_of(&apps);
        let sections = sections(pieces, plan);
        // The marker's length depends on the number of parts: reserve room for the widest
        // part numbers of `digits` digits, and try again with more if there are more parts.
        let mut digits = 1;
        loop {
            let widest = 10usize.pow(digits) - 1;
            let marker_room = chars(&pieces.marker(Some(PartNumber {
                index: widest,
                total: widest,
            })));
            let part_room = max.saturating_sub(marker_room);
            let summary = if chars(&full_summary) <= part_room {
                Cow::Borrowed(full_summary.as_str())
            } else {
                Cow::Owned(pieces.summary_within(&apps, part_room))
            };
            let first_room = part_room.saturating_sub(chars(&summary));
            let bodies = pieces.pack(&sections, first_room, part_room, max);
            if bodies.len() > widest {
                digits += 1;
                continue;
            }
            let total = bodies.len();
            return bodies
                .into_iter()
                .enumerate()
                .map(|(i, body)| {
                    let mut part = pieces.marker(Some(PartNumber {
                        index: i + 1,
                        total,
                    }));
                    if i == 0 {
                        part.push_str(&summary);
                    }
                    for text in body {
                        part.push_str(&text);
                    }
                    debug_assert!(chars(&part) <= max, "{} > {max}", chars(&part));
                    part
                })
                .collect();
        }
    })
}

/// The comment for a diff of `channel` that failed with `error` (describing `commit`, the
/// commit the diff was for, when known): the marker, the heading and the error, never a
/// verdict. The error is cut to fit `max_chars`.
pub fn markdown_failure(
    channel: &str,
    commit: Option<&str>,
    error: &str,
    max_chars: usize,
) -> String {
    let plan = Plan {
        channel: channel.to_string(),
        base: String::new(),
        target: String::new(),
        source_commit: commit.map(str::to_string),
        tree_commit: None,
        objects: Vec::new(),
        requests: None,
    };
    with_pieces(&plan, |pieces| {
        let mut out = pieces.marker(None);
        let commit = plan.source_commit.as_deref().map(crate::tree::short_id);
        let empty = pieces.failure(commit, "");
        let room = max_chars
            .max(MIN_CHARS)
            .saturating_sub(chars(&out) + chars(&empty));
        // A fence inside the error would end the block early.
        let error = error.replace("```", "'''");
        let error: String = error.chars().take(room).collect();
        out.push_str(&pieces.failure(commit, &error));
        out
    })
}

fn chars(text: &str) -> usize {
    text.chars().count()
}

fn whole(summary: &str, sections: &[Section]) -> String {
    let mut out =
        String::with_capacity(summary.len() + sections.iter().map(|s| s.text.len()).sum::<usize>());
    out.push_str(summary);
    for section in sections {
        out.push_str(&section.text);
    }
    out
}

fn apps(plan: &Plan) -> Vec<(String, Counts)> {
    plan.counts_by_app().into_iter().collect()
}

/// One changed object, rendered whole.
struct Section<'p> {
    object: &'p ObjectChange,
    /// The diff, ending with a newline so the closing fence is on its own line.
    diff: Option<Cow<'p, str>>,
    fence: String,
    text: String,
    chars: usize,
}

impl Section<'_> {
    /// Errors and notes are shown before any plain diff, and never left out for their diff.
    fn is_priority(&self) -> bool {
        self.is_error() || self.object.note.is_some()
    }

    fn is_error(&self) -> bool {
        self.object.action == Action::Error || self.object.error.is_some()
    }
}

fn sections<'p>(pieces: &mut Pieces, plan: &'p Plan) -> Vec<Section<'p>> {
    plan.objects
        .iter()
        .filter(|o| o.action != Action::Unchanged)
        .map(|object| {
            let diff = object.diff.as_deref().map(|diff| {
                if diff.is_empty() || diff.ends_with('\n') {
                    Cow::Borrowed(diff)
                } else {
                    Cow::Owned(format!("{diff}\n"))
                }
            });
            let fence = fence_for(diff.as_deref().unwrap_or(""));
            let text = pieces.object(object, diff.as_deref(), &fence, Piece::default(), None);
            Section {
                object,
                chars: chars(&text),
                diff,
                fence,
                text,
            }
        })
        .collect()
}

/// Indexes of `sections`: errors, then notes, then the rest, each in the plan's order.
fn priority_order(sections: &[Section]) -> Vec<usize> {
    let rank = |s: &Section| {
        if s.is_error() {
            0
        } else if s.object.note.is_some() {
            1
        } else {
            2
        }
    };
    let mut order: Vec<usize> = (0..sections.len()).collect();
    order.sort_by_key(|&i| rank(&sections[i]));
    order
}

/// A code fence longer than any run of backticks in the diff, so it cannot be closed early.
pub(crate) fn fence_for(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

/// The diff's lines (with their newlines), any line longer than `cap` characters cut into
/// pieces of `cap` characters.
fn units(diff: &str, cap: usize) -> Vec<&str> {
    let cap = cap.max(1);
    let mut units = Vec::new();
    for line in diff.split_inclusive('\n') {
        let mut rest = line;
        while chars(rest) > cap {
            let (at, _) = rest.char_indices().nth(cap).expect("longer than cap");
            units.push(&rest[..at]);
            rest = &rest[at..];
        }
        units.push(rest);
    }
    units
}

/// `units` as one text ending with a newline.
fn joined(units: &[&str]) -> String {
    let mut text = units.concat();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

fn shorten(text: &str, max: usize) -> Cow<'_, str> {
    let count = chars(text);
    if count <= max {
        return Cow::Borrowed(text);
    }
    let keep = max.saturating_sub(30);
    let cut: String = text.chars().take(keep).collect();
    Cow::Owned(format!("{cut}… ({} more characters)", count - keep))
}

#[derive(Serialize)]
struct PlanView<'a> {
    channel: &'a str,
    target: Cow<'a, str>,
    base: Cow<'a, str>,
    short_commit: Option<&'a str>,
}

#[derive(Serialize)]
struct ObjectView<'a> {
    key: &'a str,
    app: Option<&'a str>,
    action: Action,
    note: Option<Cow<'a, str>>,
    error: Option<Cow<'a, str>>,
}

#[derive(Serialize, Default, Clone, Copy)]
struct Piece {
    continued: bool,
    continues: bool,
    left_out: usize,
}

#[derive(Serialize)]
struct PartNumber {
    index: usize,
    total: usize,
}

#[derive(Serialize)]
struct Hidden {
    apps: usize,
    changed: usize,
}

/// The template's macros, ready to call.
struct Pieces<'a, 's> {
    state: &'a mut State<'s, 's>,
    plan: &'a Plan,
    view: Value,
    counts: Counts,
}

fn with_pieces<R>(plan: &Plan, f: impl FnOnce(&mut Pieces<'_, '_>) -> R) -> R {
    let env = report_environment();
    let template = env
        .get_template("diff.md.j2")
        .expect("berth's own template parses");
    let mut captured = template
        .render_captured(())
        .expect("berth's own template renders");
    let view = plan_view(plan, usize::MAX);
    captured.with_state_mut(|state| {
        f(&mut Pieces {
            state,
            plan,
            view,
            counts: plan.counts(),
        })
    })
}

fn plan_view(plan: &Plan, max: usize) -> Value {
    Value::from(Serde(PlanView {
        channel: &plan.channel,
        target: shorten(&plan.target, max),
        base: shorten(&plan.base, max),
        short_commit: plan.source_commit.as_deref().map(crate::tree::short_id),
    }))
}

fn report_environment() -> minijinja::Environment<'static> {
    // berth's own template, written like the users' (trimmed blocks, kept final newline); its
    // optional plan fields are absent, not null, in the context.
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .keep_trailing_newline(true)
        .trim_blocks(true)
        .lstrip_blocks(true)
        .build();
    env.set_syntax(syntax.expect("the default delimiters are valid"));
    env.add_template("diff.md.j2", include_str!("../../templates/diff.md.j2"))
        .expect("berth's own template parses");
    env
}

impl Pieces<'_, '_> {
    fn call(&mut self, name: &str, args: &[Value]) -> String {
        self.state
            .call_macro(name, args)
            .expect("berth's own template renders")
    }

    fn marker(&mut self, part: Option<PartNumber>) -> String {
        let line = Marker {
            channel: self.plan.channel.clone(),
            part: part.as_ref().map(|p| (p.index, p.total)),
            // What a pull request's head is: the candidate commit diffed, else the source.
            commit: self
                .plan
                .tree_commit
                .clone()
                .or_else(|| self.plan.source_commit.clone()),
        }
        .line();
        let args = [
            self.view.clone(),
            Value::from(Serde(part)),
            Value::from(line),
        ];
        self.call("marker", &args)
    }

    fn failure(&mut self, commit: Option<&str>, error: &str) -> String {
        let args = [self.view.clone(), Value::from(commit), Value::from(error)];
        self.call("failure", &args)
    }

    fn row(&mut self, name: &str, counts: &Counts) -> String {
        let args = [
            Value::from(name),
            Value::from(Serde(counts)),
            Value::from(self.counts.error > 0),
        ];
        self.call("row", &args)
    }

    fn summary(&mut self, rows: &str, hidden: Option<Hidden>) -> String {
        let args = [
            self.view.clone(),
            Value::from(Serde(self.counts)),
            Value::from(self.counts.changed()),
            Value::from(rows),
            Value::from(Serde(hidden)),
        ];
        self.call("summary", &args)
    }

    /// The summary with every app's row.
    fn summary_of(&mut self, apps: &[(String, Counts)]) -> String {
        let rows: String = apps.iter().map(|(name, c)| self.row(name, c)).collect();
        self.summary(&rows, None)
    }

    /// The summary within `room`: the rows of apps with no changes left out, then as
    /// many of the others as fit, with a line saying how many are not listed.
    fn summary_within(&mut self, apps: &[(String, Counts)], room: usize) -> String {
        let changed: Vec<usize> = (0..apps.len())
            .filter(|&i| apps[i].1.changed() + apps[i].1.error > 0)
            .collect();
        let widest = Hidden {
            apps: apps.len(),
            changed: apps.len(),
        };
        let mut fixed = chars(&self.summary("", Some(widest)));
        if fixed > room {
            // Absurdly long target or base names (or a tiny room): shorten them.
            self.view = plan_view(self.plan, 100);
            let widest = Hidden {
                apps: apps.len(),
                changed: apps.len(),
            };
            fixed = chars(&self.summary("", Some(widest)));
        }
        let mut left = room.saturating_sub(fixed);
        let mut rows = String::new();
        let mut listed = 0;
        for &i in &changed {
            let row = self.row(&apps[i].0, &apps[i].1);
            let len = chars(&row);
            if len > left {
                break;
            }
            left -= len;
            rows.push_str(&row);
            listed += 1;
        }
        let hidden = Hidden {
            apps: apps.len() - listed,
            changed: changed.len() - listed,
        };
        self.summary(&rows, Some(hidden))
    }

    fn object<'o>(
        &mut self,
        object: &'o ObjectChange,
        diff: Option<&str>,
        fence: &str,
        piece: Piece,
        message_max: Option<usize>,
    ) -> String {
        let max = message_max.unwrap_or(usize::MAX);
        let message = |m: Option<&'o str>| m.map(|m| shorten(m, max));
        let view = ObjectView {
            key: object.key.as_str(),
            app: object.app.as_deref(),
            action: object.action,
            note: message(object.note.as_deref()),
            error: message(object.error.as_deref()),
        };
        let args = [
            Value::from(Serde(view)),
            Value::from(Serde(diff)),
            Value::from(fence),
            Value::from(Serde(piece)),
        ];
        self.call("object", &args)
    }

    fn footer(
        &mut self,
        total: usize,
        left_out: usize,
        cut_short: usize,
        full_report: Option<&str>,
    ) -> String {
        let args = [
            self.view.clone(),
            Value::from(total),
            Value::from(left_out),
            Value::from(cut_short),
            Value::from(Serde(full_report)),
        ];
        self.call("footer", &args)
    }

    /// The characters a piece of `section` takes besides its diff lines.
    fn overhead(&mut self, section: &Section, piece: Piece, message_max: usize) -> usize {
        let sample = self.object(
            section.object,
            Some("x\n"),
            &section.fence,
            piece,
            Some(message_max),
        );
        chars(&sample) - 2
    }

    /// `section` within `room`: its note and error (shortened to an eighth of `max`), then as
    /// many lines of its diff as fit (at most `max_lines`), and how many lines are left out.
    fn cut_short(
        &mut self,
        section: &Section,
        room: usize,
        max: usize,
        max_lines: usize,
    ) -> Option<String> {
        let message_max = max / 8;
        let diff = section.diff.as_deref().unwrap_or("");
        let lines: Vec<&str> = diff.split_inclusive('\n').collect();
        let piece = Piece {
            left_out: lines.len(),
            ..Piece::default()
        };
        let mut used = self.overhead(section, piece, message_max);
        let mut shown = 0;
        while shown < lines.len().min(max_lines) && used + chars(lines[shown]) <= room {
            used += chars(lines[shown]);
            shown += 1;
        }
        let piece = Piece {
            left_out: lines.len() - shown,
            ..Piece::default()
        };
        let shown_diff = (shown > 0).then(|| lines[..shown].concat());
        let text = self.object(
            section.object,
            shown_diff.as_deref(),
            &section.fence,
            piece,
            Some(message_max),
        );
        (chars(&text) <= room).then_some(text)
    }

    /// `sections` in parts: the first with `first_room` characters, the others `part_room`.
    fn pack<'t>(
        &mut self,
        sections: &'t [Section],
        first_room: usize,
        part_room: usize,
        max: usize,
    ) -> Vec<Vec<Cow<'t, str>>> {
        let mut parts: Vec<Vec<Cow<str>>> = vec![Vec::new()];
        let mut room = first_room;
        for section in sections {
            if section.chars <= room {
                parts
                    .last_mut()
                    .expect("a part")
                    .push(Cow::Borrowed(&section.text));
                room -= section.chars;
            } else if section.chars <= part_room {
                parts.push(vec![Cow::Borrowed(&section.text)]);
                room = part_room - section.chars;
            } else {
                self.split(section, &mut parts, &mut room, part_room, max);
            }
        }
        parts
    }

    /// A section larger than a whole part, in pieces: the first in what is left of the current
    /// part (if a line fits), the others each starting a part.
    fn split<'t>(
        &mut self,
        section: &Section,
        parts: &mut Vec<Vec<Cow<'t, str>>>,
        room: &mut usize,
        part_room: usize,
        max: usize,
    ) {
        let message_max = max / 8;
        let first = self.overhead(section, Piece::default(), message_max);
        let first_continues = self.overhead(
            section,
            Piece {
                continues: true,
                ..Piece::default()
            },
            message_max,
        );
        let middle = self.overhead(
            section,
            Piece {
                continued: true,
                continues: true,
                ..Piece::default()
            },
            message_max,
        );
        let last = self.overhead(
            section,
            Piece {
                continued: true,
                ..Piece::default()
            },
            message_max,
        );
        let Some(diff) = section.diff.as_deref().filter(|d| !d.is_empty()) else {
            // Only a note or an error, too long: shortened, it fits in a part.
            let text = self.object(
                section.object,
                None,
                &section.fence,
                Piece::default(),
                Some(message_max),
            );
            let len = chars(&text);
            if len > *room {
                parts.push(Vec::new());
                *room = part_room;
            }
            *room = room.saturating_sub(len);
            parts.last_mut().expect("a part").push(Cow::Owned(text));
            return;
        };
        // One more character for the newline closing a line cut in two.
        let units = units(
            diff,
            part_room.saturating_sub(middle.max(first_continues) + 1),
        );
        let lens: Vec<usize> = units.iter().map(|u| chars(u)).collect();
        let mut rest: usize = lens.iter().sum();
        let mut start = 0;
        let mut continued = false;
        while start < units.len() {
            let (ends, goes_on) = if continued {
                (last, middle)
            } else {
                (first, first_continues)
            };
            let extra = usize::from(!units[units.len() - 1].ends_with('\n'));
            if ends + rest + extra <= *room {
                let text = self.object(
                    section.object,
                    Some(&joined(&units[start..])),
                    &section.fence,
                    Piece {
                        continued,
                        ..Piece::default()
                    },
                    Some(message_max),
                );
                *room -= chars(&text);
                parts.last_mut().expect("a part").push(Cow::Owned(text));
                return;
            }
            let mut end = start;
            let mut used = goes_on + 1;
            while end < units.len() && used + lens[end] <= *room {
                used += lens[end];
                end += 1;
            }
            if end == start {
                assert!(*room < part_room, "a line's piece fits in an empty part");
                parts.push(Vec::new());
                *room = part_room;
                continue;
            }
            let text = self.object(
                section.object,
                Some(&joined(&units[start..end])),
                &section.fence,
                Piece {
                    continued,
                    continues: true,
                    left_out: 0,
                },
                Some(message_max),
            );
            parts.last_mut().expect("a part").push(Cow::Owned(text));
            parts.push(Vec::new());
            *room = part_room;
            rest -= lens[start..end].iter().sum::<usize>();
            start = end;
            continued = true;
        }
    }
}
