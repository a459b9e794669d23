//! Markdown report sizing: within GitHub's comment limit, or split into parts.

use berth::plan::{Action, ObjectChange, Plan};
use berth::report::{GITHUB_COMMENT_LIMIT, MIN_CHARS, markdown, markdown_limited, markdown_parts};
use std::collections::BTreeMap;

fn chars(text: &str) -> usize {
    text.chars().count()
}

fn plan(objects: Vec<ObjectChange>) -> Plan {
    Plan {
        channel: "test".into(),
        base: "releases/test (1a2b3c4d5e6f)".into(),
        target: "candidates/test/feature/x (5d6e7f8a9b0c)".into(),
        source_commit: Some("5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e".into()),
        tree_commit: None,
        objects,
        requests: None,
    }
}

fn object(key: &str, app: &str, action: Action, diff: Option<String>) -> ObjectChange {
    let key = berth::object::ObjectKey::parse(key).expect("a tree key");
    let mut object = ObjectChange::new(key, Some(app.to_string()), action);
    object.diff = diff;
    object
}

/// An update of a Deployment: a new image tag, and `extra` more environment variables.
fn deployment_update(ns: &str, name: &str, tag: usize, extra: usize) -> String {
    let mut diff = format!(
        "--- a/{ns}/Deployment.apps/{name}.yaml\n+++ b/{ns}/Deployment.apps/{name}.yaml\n\
         @@ -18,9 +18,{} @@\n       containers:\n       - name: {name}\n\
         -        image: ghcr.io/example/{name}:1.{}.0\n+        image: ghcr.io/example/{name}:1.{tag}.0\n\
         \x20        env:\n         - name: LOG_LEVEL\n           value: info\n",
        9 + 2 * extra,
        tag.saturating_sub(1),
    );
    for i in 0..extra {
        diff.push_str(&format!(
            "+        - name: FEATURE_{i}\n+          value: \"{}\"\n",
            i % 2 == 0
        ));
    }
    diff.push_str("         ports:\n         - containerPort: 8080\n");
    diff
}

/// A new ConfigMap of `entries` keys.
fn configmap_create(ns: &str, name: &str, app: &str, entries: usize) -> String {
    let mut diff = format!(
        "--- /dev/null\n+++ b/{ns}/ConfigMap/{name}.yaml\n@@ -0,0 +1,{} @@\n+apiVersion: v1\n\
         +kind: ConfigMap\n+metadata:\n+  name: {name}\n+  namespace: {ns}\n+  labels:\n\
         +    berth.dev/app: {app}\n+data:\n",
        8 + entries
    );
    for i in 0..entries {
        diff.push_str(&format!("+  key-{i:04}: value for {name} number {i}\n"));
    }
    diff
}

/// A deleted Deployment.
fn deployment_delete(ns: &str, name: &str) -> String {
    format!(
        "--- a/{ns}/Deployment.apps/{name}.yaml\n+++ /dev/null\n@@ -1,8 +0,0 @@\n\
         -apiVersion: apps/v1\n-kind: Deployment\n-metadata:\n-  name: {name}\n\
         -  namespace: {ns}\n-spec:\n-  replicas: 2\n-  revisionHistoryLimit: 3\n"
    )
}

/// A small plan: one object of each kind of change, and some unchanged.
fn small_plan() -> Plan {
    let mut objects = vec![
        object(
            "shop/ConfigMap/web-flags",
            "web",
            Action::Create,
            Some(configmap_create("shop", "web-flags", "web", 2)),
        ),
        object(
            "shop/Deployment.apps/api",
            "api",
            Action::Delete,
            Some(deployment_delete("shop", "api")),
        ),
        object(
            "shop/Deployment.apps/web",
            "web",
            Action::Update,
            Some(deployment_update("shop", "web", 4, 1)),
        ),
        object("shop/Service/web", "web", Action::Unchanged, None),
        object("shop/Service/api", "api", Action::Unchanged, None),
    ];
    objects[2].note = Some("not validated by the server".into());
    plan(objects)
}

/// A tiny deterministic random number generator, so the big plan is the same on every run.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// `changed` changed objects (Deployments updated or deleted, ConfigMaps created, a few of
/// them large) and some unchanged, over 40 apps, sorted by key.
fn big_plan(changed: usize) -> Plan {
    let mut random = Lcg(7);
    let mut objects = Vec::new();
    for i in 0..changed {
        let app = format!("app-{:02}", i % 37);
        let ns = format!("team-{}", i % 11);
        let name = format!("svc-{i:04}");
        let (key, action, diff) = match random.below(10) {
            0..=5 => {
                let extra = if random.below(50) == 0 {
                    300 + random.below(900)
                } else {
                    random.below(6)
                };
                (
                    format!("{ns}/Deployment.apps/{name}"),
                    Action::Update,
                    deployment_update(&ns, &name, 1 + random.below(40), extra),
                )
            }
            6..=8 => {
                let entries = if random.below(40) == 0 {
                    500 + random.below(2000)
                } else {
                    1 + random.below(12)
                };
                (
                    format!("{ns}/ConfigMap/{name}-config"),
                    Action::Create,
                    configmap_create(&ns, &format!("{name}-config"), &app, entries),
                )
            }
            _ => (
                format!("{ns}/Deployment.apps/{name}"),
                Action::Delete,
                deployment_delete(&ns, &name),
            ),
        };
        objects.push(object(&key, &app, action, Some(diff)));
    }
    for i in 0..200 {
        let app = format!("app-{:02}", 37 + i % 3);
        objects.push(object(
            &format!("team-{}/Service/svc-{i:04}", i % 11),
            &app,
            Action::Unchanged,
            None,
        ));
    }
    objects.sort_by(|a, b| a.key.cmp(&b.key));
    plan(objects)
}

/// Code fences and `<details>` are closed, and `<details>` is never inside a fence.
#[track_caller]
fn assert_balanced(markdown: &str) {
    let mut fence: Option<usize> = None;
    let mut depth = 0i32;
    for (n, line) in markdown.lines().enumerate() {
        let ticks = line.chars().take_while(|&c| c == '`').count();
        match fence {
            Some(open) => {
                if ticks >= open && line.trim_end().chars().all(|c| c == '`') {
                    fence = None;
                }
            }
            None if ticks >= 3 => fence = Some(ticks),
            None => {
                depth += line.matches("<details>").count() as i32;
                depth -= line.matches("</details>").count() as i32;
                assert!(depth >= 0, "line {n}: </details> without <details>");
                assert!(depth <= 1, "line {n}: nested <details>");
            }
        }
    }
    assert_eq!(fence, None, "a code fence is not closed");
    assert_eq!(depth, 0, "a <details> is not closed");
}

/// Per object key, the text of the code fences of its `<details>`, in order.
fn fenced_diffs(markdown: &str, into: &mut BTreeMap<String, String>) {
    let mut key: Option<String> = None;
    let mut fence: Option<usize> = None;
    for line in markdown.lines() {
        let ticks = line.chars().take_while(|&c| c == '`').count();
        match fence {
            Some(open) if ticks >= open && line.chars().all(|c| c == '`') => fence = None,
            Some(_) => {
                let text = into
                    .entry(key.clone().expect("a fence in a <details>"))
                    .or_default();
                text.push_str(line);
                text.push('\n');
            }
            None if ticks >= 3 => fence = Some(ticks),
            None => {
                if let Some(rest) = line.strip_prefix("<details><summary>") {
                    let start = rest.find("<code>").unwrap() + "<code>".len();
                    let end = rest.find("</code>").unwrap();
                    key = Some(rest[start..end].to_string());
                }
            }
        }
    }
}

/// The number in the footer: "**N of M object diffs left out**".
fn left_out(markdown: &str) -> usize {
    let at = markdown.rfind(" object diff").expect("a footer");
    let head = &markdown[..at];
    let of = head.rfind(" of ").unwrap();
    let start = head[..of].rfind("**").unwrap() + 2;
    head[start..of].parse().unwrap()
}

fn sections_shown(markdown: &str) -> usize {
    markdown.matches("<details><summary>").count()
}

#[test]
fn a_small_plan_fits_whole() {
    let plan = small_plan();
    let report = markdown_limited(&plan, GITHUB_COMMENT_LIMIT, Some("`diff-full.md`"));
    assert_eq!(report, markdown(&plan));
    assert!(!report.contains("left out"));
    assert_balanced(&report);
    insta::assert_snapshot!("small_plan", report);

    let parts = markdown_parts(&plan, GITHUB_COMMENT_LIMIT);
    assert_eq!(parts.len(), 1);
    assert!(
        parts[0]
            .starts_with("<!-- berth:diff channel=test part=1/1 commit=5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e -->\n### berth diff · `test`\n")
    );
    assert_eq!(
        parts[0].split_once('\n').unwrap().1,
        report.split_once('\n').unwrap().1,
        "a single part is the whole report but for its marker"
    );
}

#[test]
fn a_cut_report_says_how_many_diffs_are_left_out_and_where_they_are() {
    let mut objects: Vec<ObjectChange> = (0..12)
        .map(|i| {
            let name = format!("web-{i:02}");
            object(
                &format!("shop/Deployment.apps/{name}"),
                if i < 6 { "web" } else { "api" },
                Action::Update,
                Some(deployment_update("shop", &name, 10 + i, i)),
            )
        })
        .collect();
    objects.push(object("shop/Service/web", "web", Action::Unchanged, None));
    let plan = plan(objects);
    let report = markdown_limited(&plan, 3_000, Some("`diff-full.md`"));
    assert!(chars(&report) <= 3_000, "{}", chars(&report));
    assert_balanced(&report);
    assert_eq!(left_out(&report), 12 - sections_shown(&report));
    assert!(report.contains("The full diff is in `diff-full.md`."));
    insta::assert_snapshot!("cut_to_3000", report);

    let report = markdown_limited(&plan, 3_000, None);
    assert!(chars(&report) <= 3_000);
    assert!(
        report.contains("Run `berth diff --channel test` locally for the full diff."),
        "{report}"
    );
}

#[test]
fn an_error_and_a_note_survive_the_cut() {
    let mut objects: Vec<ObjectChange> = (0..20)
        .map(|i| {
            let name = format!("cfg-{i:02}");
            object(
                &format!("shop/ConfigMap/{name}"),
                "web",
                Action::Create,
                Some(configmap_create("shop", &name, "web", 40)),
            )
        })
        .collect();
    // Last in the plan's order, behind all the big diffs.
    let mut failed = object("zz/Secret/db", "db", Action::Error, None);
    failed.error = Some("the server rejected the dry run: admission webhook denied it".into());
    objects.push(failed);
    let mut noted = object(
        "zz/Deployment.apps/db",
        "db",
        Action::Update,
        Some(deployment_update("zz", "db", 3, 200)),
    );
    noted.note = Some("not validated by the server".into());
    objects.push(noted);
    let plan = plan(objects);
    let report = markdown_limited(
        &plan,
        6_000,
        Some("the artifacts of https://github.com/o/r/actions/runs/1"),
    );
    assert!(chars(&report) <= 6_000, "{}", chars(&report));
    assert_balanced(&report);
    assert!(report.contains("> [!CAUTION]\n> 1 object could not be checked"));
    assert!(report.contains("> [!WARNING]\n> the server rejected the dry run"));
    assert!(report.contains("> not validated by the server"));
    assert!(
        report.contains("more lines of this diff left out"),
        "the note's big diff is cut short"
    );
    assert!(report.contains("and 1 cut short"));
    // Shown in the plan's order: the error and the note come last, as in the plan.
    assert!(report.find("zz/Secret/db").unwrap() > report.find("shop/ConfigMap/cfg-00").unwrap());
    insta::assert_snapshot!("error_survives", report);
}

#[test]
fn three_thousand_objects_fit_in_a_comment() {
    let plan = big_plan(3_000);
    let whole = markdown(&plan);
    assert!(
        chars(&whole) > 10 * GITHUB_COMMENT_LIMIT,
        "{}",
        chars(&whole)
    );

    // How long sizing takes is measured by `cargo bench --bench comment`, not asserted here.
    let report = markdown_limited(&plan, GITHUB_COMMENT_LIMIT, Some("`diff-full.md`"));

    assert!(chars(&report) <= GITHUB_COMMENT_LIMIT, "{}", chars(&report));
    assert_balanced(&report);
    // The whole summary table: a row per app.
    for (app, counts) in plan.counts_by_app() {
        let row = format!(
            "| {app} | {} | {} | {} | {} |\n",
            counts.create, counts.update, counts.delete, counts.unchanged
        );
        assert!(report.contains(&row), "{row}");
    }
    assert!(report.contains("| **total** | "));
    let shown = sections_shown(&report);
    assert!(shown > 50, "{shown}");
    assert_eq!(left_out(&report), 3_000 - shown);
    assert!(report.contains(&format!(
        "**{} of 3000 object diffs left out**",
        3_000 - shown
    )));
    // Every diff shown is whole.
    let mut diffs = BTreeMap::new();
    fenced_diffs(&report, &mut diffs);
    for object in &plan.objects {
        if let Some(shown) = diffs.get(object.key.as_str()) {
            assert_eq!(Some(shown), object.diff.as_ref(), "{}", object.key);
        }
    }
    let head = &report[..report.find("<details>").unwrap()];
    let tail = &report[report.rfind("</details>").unwrap()..];
    insta::assert_snapshot!("big_plan_head_and_tail", format!("{head}[…]\n{tail}"));
}

#[test]
fn three_thousand_objects_split_into_parts() {
    let plan = big_plan(3_000);
    let parts = markdown_parts(&plan, GITHUB_COMMENT_LIMIT);
    let n = parts.len();
    assert!(n > 5, "{n}");
    let mut diffs = BTreeMap::new();
    for (i, part) in parts.iter().enumerate() {
        assert!(
            chars(part) <= GITHUB_COMMENT_LIMIT,
            "part {}: {}",
            i + 1,
            chars(part)
        );
        assert_balanced(part);
        assert!(
            part.starts_with(&format!(
                "<!-- berth:diff channel=test part={}/{n} commit=5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e -->\n### berth diff · `test` (part {} of {n})\n",
                i + 1,
                i + 1
            )),
            "{}",
            &part[..200]
        );
        assert_eq!(
            part.contains("| **total** |"),
            i == 0,
            "the summary is in part 1 only"
        );
        fenced_diffs(part, &mut diffs);
    }
    // Every changed object's diff, whole, across the parts.
    let changed: Vec<&ObjectChange> = plan
        .objects
        .iter()
        .filter(|o| o.action != Action::Unchanged)
        .collect();
    assert_eq!(diffs.len(), changed.len());
    for object in changed {
        assert_eq!(
            diffs.get(object.key.as_str()),
            object.diff.as_ref(),
            "{}",
            object.key
        );
    }
    // The parts are well filled.
    let total: usize = parts.iter().map(|p| chars(p)).sum();
    assert!(
        total / n > GITHUB_COMMENT_LIMIT * 3 / 4,
        "{} parts of {total}",
        n
    );
}

#[test]
fn a_diff_larger_than_a_part_is_split_across_parts() {
    let mut big = object(
        "monitoring/ConfigMap/dashboards",
        "grafana",
        Action::Create,
        Some(configmap_create(
            "monitoring",
            "dashboards",
            "grafana",
            4_000,
        )),
    );
    big.note = Some("large".into());
    let small = object(
        "shop/Deployment.apps/web",
        "web",
        Action::Update,
        Some(deployment_update("shop", "web", 2, 1)),
    );
    let plan = plan(vec![big, small]);
    let parts = markdown_parts(&plan, 20_000);
    assert!(parts.len() >= 8, "{}", parts.len());
    let mut diffs = BTreeMap::new();
    for (i, part) in parts.iter().enumerate() {
        assert!(chars(part) <= 20_000);
        assert_balanced(part);
        assert!(part.contains(&format!("part={}/{}", i + 1, parts.len())));
        if i > 0 {
            assert!(part.contains(
                "<details><summary>create <code>monitoring/ConfigMap/dashboards</code> · grafana (continued)</summary>\n\n*(continued from the previous part)*\n"
            ));
        }
        if i + 1 < parts.len() {
            assert!(part.contains("*(continued in the next part)*"));
        }
        fenced_diffs(part, &mut diffs);
    }
    assert_eq!(parts[0].matches("> large").count(), 1);
    assert!(
        parts.iter().skip(1).all(|p| !p.contains("> large")),
        "the note once"
    );
    for object in &plan.objects {
        assert_eq!(diffs.get(object.key.as_str()), object.diff.as_ref());
    }
    // The last piece and the small object share the last part.
    assert!(parts.last().unwrap().contains("shop/Deployment.apps/web"));
    insta::assert_snapshot!(
        "split_object_second_part_head",
        parts[1].lines().take(8).collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn a_line_longer_than_a_part_is_cut_between_characters() {
    let json = format!("{{\"panels\": [{}]}}", "{\"title\": \"é\"},".repeat(3_000));
    let diff = format!(
        "--- /dev/null\n+++ b/monitoring/ConfigMap/dash.yaml\n@@ -0,0 +1,2 @@\n+data:\n+  dash.json: '{json}'\n"
    );
    let plan = plan(vec![object(
        "monitoring/ConfigMap/dash",
        "grafana",
        Action::Create,
        Some(diff.clone()),
    )]);
    let parts = markdown_parts(&plan, 10_000);
    assert!(parts.len() >= 5, "{}", parts.len());
    let mut diffs = BTreeMap::new();
    for part in &parts {
        assert!(chars(part) <= 10_000, "{}", chars(part));
        assert_balanced(part);
        fenced_diffs(part, &mut diffs);
    }
    // The cut line's pieces each end with a newline of their own.
    let joined = diffs["monitoring/ConfigMap/dash"].replace('\n', "");
    assert_eq!(joined, diff.replace('\n', ""));
}

#[test]
fn no_changes_fit_and_say_so() {
    for plan in [
        plan(vec![]),
        plan(vec![object(
            "shop/Service/web",
            "web",
            Action::Unchanged,
            None,
        )]),
    ] {
        let report = markdown_limited(&plan, GITHUB_COMMENT_LIMIT, None);
        assert_eq!(report, markdown(&plan));
        assert!(report.contains("**No changes**"), "{report}");
        assert_balanced(&report);
        let parts = markdown_parts(&plan, GITHUB_COMMENT_LIMIT);
        assert_eq!(parts.len(), 1);
        assert!(parts[0].contains("**No changes**"));
    }
    insta::assert_snapshot!("no_changes", markdown_limited(&plan(vec![]), 0, None));
}

#[test]
fn a_tiny_max_chars_is_clamped() {
    let plan = big_plan(40);
    for max in [0, 1, 200, MIN_CHARS - 1] {
        let report = markdown_limited(&plan, max, None);
        assert!(chars(&report) <= MIN_CHARS, "{max}: {}", chars(&report));
        assert_balanced(&report);
        assert!(report.starts_with(
            "<!-- berth:diff channel=test commit=5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e -->\n"
        ));
        assert!(report.contains("| **total** |"));
        assert!(report.contains(" object diffs left out**"));
        assert_eq!(left_out(&report), 40 - sections_shown(&report));

        let parts = markdown_parts(&plan, max);
        let mut diffs = BTreeMap::new();
        for part in &parts {
            assert!(chars(part) <= MIN_CHARS, "{max}: {}", chars(part));
            assert_balanced(part);
            fenced_diffs(part, &mut diffs);
        }
        assert_eq!(diffs.len(), 40);
    }
    insta::assert_snapshot!("tiny_max_chars", markdown_limited(&plan, 10, None));
}

#[test]
fn triple_backticks_in_a_diff_get_a_longer_fence() {
    let diff = "--- a/docs/ConfigMap/readme.yaml\n+++ b/docs/ConfigMap/readme.yaml\n@@ -3,3 +3,5 @@\n data:\n   README.md: |\n+    ```sh\n+    berth diff\n     ```\n"
        .repeat(60);
    let plan = plan(vec![object(
        "docs/ConfigMap/readme",
        "docs",
        Action::Update,
        Some(diff.clone()),
    )]);
    let report = markdown(&plan);
    assert!(report.contains("\n````diff\n--- a/docs"));
    assert_balanced(&report);
    insta::assert_snapshot!(
        "backticks",
        markdown(&self::plan(vec![object(
            "docs/ConfigMap/readme",
            "docs",
            Action::Update,
            Some(diff.lines().take(8).map(|l| format!("{l}\n")).collect()),
        )]))
    );
    let parts = markdown_parts(&plan, MIN_CHARS);
    assert!(parts.len() > 3);
    let mut diffs = BTreeMap::new();
    for part in &parts {
        assert!(chars(part) <= MIN_CHARS);
        assert_balanced(part);
        assert!(part.contains("````diff\n"));
        fenced_diffs(part, &mut diffs);
    }
    assert_eq!(diffs["docs/ConfigMap/readme"], diff);
}

#[test]
fn thousands_of_apps_shorten_the_table() {
    let mut objects = Vec::new();
    for i in 0..5_000 {
        let app = format!("app-{i:04}");
        let action = if i % 50 == 0 {
            Action::Update
        } else {
            Action::Unchanged
        };
        let diff = (action == Action::Update).then(|| deployment_update("ns", &app, 2, 0));
        objects.push(object(
            &format!("ns/Deployment.apps/{app}"),
            &app,
            action,
            diff,
        ));
    }
    let plan = plan(objects);
    let report = markdown_limited(&plan, GITHUB_COMMENT_LIMIT, None);
    assert!(chars(&report) <= GITHUB_COMMENT_LIMIT);
    assert_balanced(&report);
    assert!(report.contains("| app-0050 | 0 | 1 | 0 | 0 |"));
    assert!(
        !report.contains("| app-0001 |"),
        "apps with no changes are not listed"
    );
    assert!(report.contains("*4900 more apps not listed to fit in a comment, none with changes.*"));
    assert!(report.contains("| **total** | **0** | **100** | **0** | **4900** |"));

    let report = markdown_limited(&plan, 2_000, None);
    assert!(chars(&report) <= 2_000);
    assert_balanced(&report);
    assert!(report.contains("| app-0000 | 0 | 1 | 0 | 0 |"));
    assert!(report.contains(" of them with changes.*"), "{report}");
    insta::assert_snapshot!("thousands_of_apps_2000", report);
}
