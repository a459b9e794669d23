//! The reviewed plan: what `berth diff` showed for a rendered tree, as a digest `apply` checks
//! before it writes. It is a git note on the tree (not the commit) under
//! `refs/notes/berth-plan/<channel>`, so it survives merge commits and squash merges, which
//! keep the tree and change the commit.
//!
//! Per changed object: its key, its action and a hash of its diff's changed lines. The tree id
//! pins what is desired; the digest pins what the cluster held when someone looked. Unchanged
//! objects are left out (a release of thousands stays a short note): one that changes after
//! the review appears as a new entry. Creates carry no hash: apply does not dry-run them, and
//! what they create is the tree's.

use super::notes;
use crate::error::Problem;
use crate::object::ObjectKey;
use crate::plan::{Action, Plan};
use git2::{Oid, Repository};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

pub fn notes_ref(channel: &str) -> String {
    format!("refs/notes/berth-plan/{channel}")
}

/// One changed object of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub action: Action,
    /// SHA-256 of the diff's `+`/`-` lines (context and hunk headers left out, so the
    /// diff's `-U` does not matter); `None` for creates.
    pub diff: Option<String>,
}

/// The changed objects of a plan of a channel's tree.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PlanDigest {
    pub objects: BTreeMap<ObjectKey, Entry>,
}

const HEADER: &str = "berth reviewed plan ";

impl PlanDigest {
    pub fn of(plan: &Plan) -> PlanDigest {
        Self::of_changes(&plan.objects)
    }

    pub fn of_changes(changes: &[crate::plan::ObjectChange]) -> PlanDigest {
        let objects = changes
            .iter()
            .filter(|c| matches!(c.action, Action::Create | Action::Update | Action::Delete))
            .map(|c| {
                let diff = match c.action {
                    Action::Create => None,
                    _ => Some(changed_lines_hash(c.diff.as_deref().unwrap_or(""))),
                };
                (
                    c.key.clone(),
                    Entry {
                        action: c.action,
                        diff,
                    },
                )
            })
            .collect();
        PlanDigest { objects }
    }

    /// The lines of the note after its header: `<action> <key> [<hash>]`, sorted by key.
    fn body(&self) -> String {
        let mut body = String::new();
        for (key, entry) in &self.objects {
            let _ = write!(body, "{} {key}", entry.action.verb());
            if let Some(hash) = &entry.diff {
                let _ = write!(body, " {hash}");
            }
            body.push('\n');
        }
        body
    }

    /// `sha256:…` of the whole plan: the one value a reviewer sees in the comment.
    pub fn id(&self) -> String {
        format!("sha256:{}", hex(&Sha256::digest(self.body().as_bytes())))
    }

    /// The note: a header naming the channel, tree and digest, then one line an object.
    pub fn note(&self, channel: &str, tree: Oid) -> String {
        format!(
            "{HEADER}{}\nchannel: {channel}\ntree: {tree}\n\n{}",
            self.id(),
            self.body()
        )
    }

    /// Read a note written by [`PlanDigest::note`]; `None` when it is not one.
    pub fn parse(text: &str) -> Option<PlanDigest> {
        let mut lines = text.lines();
        lines.next()?.strip_prefix(HEADER)?;
        let mut objects = BTreeMap::new();
        for line in lines.skip_while(|l| !l.is_empty()).skip(1) {
            let mut words = line.split(' ');
            let action = match words.next()? {
                "create" => Action::Create,
                "update" => Action::Update,
                "delete" => Action::Delete,
                _ => return None,
            };
            let key = ObjectKey::parse(words.next()?)?;
            let diff = words.next().map(str::to_string);
            objects.insert(key, Entry { action, diff });
        }
        Some(PlanDigest { objects })
    }

    /// How `now` differs from this reviewed plan, one line an object, sorted by key.
    pub fn differences(&self, now: &PlanDigest) -> Vec<(ObjectKey, String)> {
        let keys: std::collections::BTreeSet<&ObjectKey> =
            self.objects.keys().chain(now.objects.keys()).collect();
        let describe = |entry: Option<&Entry>| match entry {
            None => "unchanged".to_string(),
            Some(entry) => entry.action.verb().to_string(),
        };
        keys.into_iter()
            .filter_map(|key| {
                let (before, after) = (self.objects.get(key), now.objects.get(key));
                if before == after {
                    return None;
                }
                let what = match (before, after) {
                    (Some(b), Some(a)) if b.action == a.action => {
                        format!("{}, but its diff is not the one reviewed", a.action.verb())
                    }
                    _ => format!("reviewed: {}, now: {}", describe(before), describe(after)),
                };
                Some((key.clone(), what))
            })
            .collect()
    }
}

/// Hash of a unified diff's changed lines: the same whatever its context radius.
fn changed_lines_hash(diff: &str) -> String {
    let mut hasher = Sha256::new();
    for line in diff.lines() {
        let header = line.starts_with("+++ ") || line.starts_with("--- ");
        if (line.starts_with('+') || line.starts_with('-')) && !header {
            hasher.update(line.as_bytes());
            hasher.update(b"\n");
        }
    }
    hex(&hasher.finalize())[..16].to_string()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The root tree of `commit`: what a reviewed plan is keyed by.
pub fn tree_of(repo: &Repository, commit: Oid) -> Result<Oid, Problem> {
    repo.find_commit(commit)
        .map(|c| c.tree_id())
        .map_err(|e| Problem::new(format!("cannot read commit {commit}: {}", e.message())))
}

/// Record `digest` as the reviewed plan of `tree`.
pub fn write(
    repo: &Repository,
    channel: &str,
    tree: Oid,
    digest: &PlanDigest,
) -> Result<(), Problem> {
    notes::write_ref(repo, &notes_ref(channel), tree, &digest.note(channel, tree))
}

/// The reviewed plan recorded for `tree`, if any.
pub fn read(repo: &Repository, channel: &str, tree: Oid) -> Option<PlanDigest> {
    let note = repo.find_note(Some(&notes_ref(channel)), tree).ok()?;
    PlanDigest::parse(note.message().ok()?)
}

/// Fetch the channel's reviewed plans from `remote`, when it has any.
pub fn fetch(workdir: &Path, remote: &str, channel: &str) -> Result<(), Problem> {
    notes::fetch_ref(workdir, remote, &notes_ref(channel))
}

/// Push the channel's reviewed plans to `remote`.
pub fn push(workdir: &Path, remote: &str, channel: &str) -> Result<(), Problem> {
    notes::push_ref(workdir, remote, &notes_ref(channel))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ObjectChange;

    fn change(key: &str, action: Action, diff: &str) -> ObjectChange {
        let mut change = ObjectChange::new(ObjectKey::parse(key).unwrap(), None, action);
        change.diff = Some(diff.to_string());
        change
    }

    #[test]
    fn a_digest_survives_its_note_and_ignores_context_and_unchanged_objects() {
        let three = "--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n a\n-b: 1\n+b: 2\n c\n";
        let zero = "--- a/x\n+++ b/x\n@@ -2 +2 @@\n-b: 1\n+b: 2\n";
        let reviewed = PlanDigest::of_changes(&[
            change("ns/ConfigMap/a", Action::Update, three),
            change("ns/ConfigMap/b", Action::Create, "+whatever"),
            change("ns/ConfigMap/c", Action::Unchanged, ""),
        ]);
        let now = PlanDigest::of_changes(&[
            change("ns/ConfigMap/a", Action::Update, zero),
            change("ns/ConfigMap/b", Action::Create, ""),
        ]);
        assert_eq!(reviewed, now);
        let tree = Oid::ZERO_SHA1;
        assert_eq!(
            PlanDigest::parse(&reviewed.note("test", tree)),
            Some(reviewed.clone())
        );
        assert_eq!(PlanDigest::parse("someone's note"), None);

        let edited = PlanDigest::of_changes(&[
            change("ns/ConfigMap/a", Action::Update, "-b: 7\n+b: 2\n"),
            change("ns/ConfigMap/b", Action::Create, ""),
            change("ns/ConfigMap/c", Action::Update, "-x\n+y\n"),
        ]);
        let differences = reviewed.differences(&edited);
        let shown: Vec<String> = differences
            .iter()
            .map(|(k, what)| format!("{k}: {what}"))
            .collect();
        assert_eq!(
            shown,
            [
                "ns/ConfigMap/a: update, but its diff is not the one reviewed",
                "ns/ConfigMap/c: reviewed: unchanged, now: update"
            ]
        );
        assert_ne!(reviewed.id(), edited.id());
    }
}
