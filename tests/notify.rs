//! Chat notifications after `berth apply`, received by a fake chat server on 127.0.0.1.

use crate::support::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// One request the fake chat received.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A chat server answering each request with the next of `statuses` (the last one repeated).
struct FakeChat {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl FakeChat {
    fn start(statuses: &[u16]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let (log, statuses) = (received.clone(), statuses.to_vec());
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let path = line.split(' ').nth(1).unwrap_or_default().to_string();
                let mut headers = Vec::new();
                loop {
                    let mut header = String::new();
                    reader.read_line(&mut header).unwrap();
                    let header = header.trim_end();
                    if header.is_empty() {
                        break;
                    }
                    let (name, value) = header.split_once(':').unwrap();
                    headers.push((name.to_string(), value.trim().to_string()));
                }
                let length: usize = headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                    .map_or(0, |(_, v)| v.parse().unwrap());
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                log.lock().unwrap().push(Received {
                    path,
                    headers,
                    body: String::from_utf8(body).unwrap(),
                });
                let status = statuses[n.min(statuses.len() - 1)];
                let answer = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                );
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        FakeChat { url, received }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

const BERTH_YAML: &str = "defaults:\n  namespace: demo\napps:\n  web:\n    driver: manifests\n    path: web\nchannels:\n  test:\n    notify:\n      - slack: {webhookEnv: TEST_SLACK_URL}\n      - zulip: {urlEnv: TEST_ZULIP_URL, emailEnv: TEST_ZULIP_EMAIL, apiKeyEnv: TEST_ZULIP_KEY, stream: deploys}\n";

fn setup() -> Release {
    released(BERTH_YAML)
}

/// The app `web` (a Namespace and a Deployment of nginx:1.27) released with `berth_yaml`.
fn released(berth_yaml: &str) -> Release {
    Release::new(GitRepos::with_files(&[
        ("berth.yaml", berth_yaml),
        ("web/ns.yaml", small::NAMESPACE),
        ("web/deployment.yaml", &small::deployment("nginx:1.27", 1)),
    ]))
}

fn form_field(body: &str, name: &str) -> String {
    let raw = body
        .split('&')
        .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in {body}"));
    let mut bytes = Vec::new();
    let mut chars = raw.bytes();
    while let Some(b) = chars.next() {
        match b {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hex: String = [chars.next().unwrap(), chars.next().unwrap()]
                    .iter()
                    .map(|b| *b as char)
                    .collect();
                bytes.push(u8::from_str_radix(&hex, 16).unwrap());
            }
            b => bytes.push(b),
        }
    }
    String::from_utf8(bytes).unwrap()
}

#[test]
fn an_apply_is_told_to_slack_and_zulip_in_their_payload_shapes() {
    let setup = setup();
    let (slack, zulip) = (FakeChat::start(&[200]), FakeChat::start(&[200]));
    let slack_url = format!("{}/services/T000/B000/hook-secret-part", slack.url);
    let source = setup.repos.git(&["rev-parse", "HEAD"]);
    let run = run(setup
        .apply_command(&["-o", "json"])
        .env("TEST_SLACK_URL", &slack_url)
        .env("TEST_ZULIP_URL", &zulip.url)
        .env("TEST_ZULIP_EMAIL", "bot@chat.example")
        .env("TEST_ZULIP_KEY", "zulip-KEY-123")
        .env("GITHUB_ACTOR", "ana")
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_REPOSITORY", "acme/shop")
        .env("GITHUB_RUN_ID", "42"));
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);

    let received = slack.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0].path, "/services/T000/B000/hook-secret-part");
    assert_eq!(received[0].header("content-type"), Some("application/json"));
    let payload: serde_json::Value = serde_json::from_str(&received[0].body).unwrap();
    let text = payload["text"].as_str().unwrap();
    assert!(text.contains("berth apply test"), "{text}");
    assert!(text.contains("succeeded"), "{text}");
    assert!(text.contains("web: nginx:1.27"), "{text}");
    assert!(text.contains(&source[..7]), "{text}");
    assert!(
        text.contains("https://github.com/acme/shop/actions/runs/42 (by ana)"),
        "{text}"
    );
    assert_eq!(payload["blocks"][0]["type"], "section");
    assert_eq!(payload["blocks"][0]["text"]["text"], text);

    let received = zulip.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0].path, "/api/v1/messages");
    assert_eq!(
        received[0].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode("bot@chat.example:zulip-KEY-123");
    assert_eq!(
        received[0].header("authorization"),
        Some(format!("Basic {basic}").as_str())
    );
    let body = &received[0].body;
    assert_eq!(form_field(body, "type"), "stream");
    assert_eq!(form_field(body, "to"), "deploys");
    assert_eq!(form_field(body, "topic"), "test");
    assert_eq!(form_field(body, "content"), text);

    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["notifications"][0]["delivery"]["state"], "sent");
    assert_eq!(
        report["notifications"][0]["target"],
        "slack (TEST_SLACK_URL)"
    );
    for output in [&run.stdout, &run.stderr] {
        assert!(!output.contains("hook-secret-part"), "{output}");
        assert!(!output.contains("zulip-KEY-123"), "{output}");
        assert!(!output.contains(&zulip.url), "{output}");
    }

    // The next apply of the same release changes nothing: no message.
    let again = setup
        .apply_command(&[])
        .env("TEST_SLACK_URL", &slack_url)
        .output()
        .unwrap();
    assert!(again.status.success());
    assert_eq!(slack.received().len(), 1);

    // A new release: the message links the source changes since the last one.
    setup.change(|repos| {
        repos.edit("web/deployment.yaml", "nginx:1.27", "nginx:1.28");
    });
    let next = setup.repos.git(&["rev-parse", "HEAD"]);
    let run = crate::support::run(
        setup
            .apply_command(&[])
            .env("TEST_SLACK_URL", &slack_url)
            .env("GITHUB_SERVER_URL", "https://github.com")
            .env("GITHUB_REPOSITORY", "acme/shop"),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let received = slack.received();
    let payload: serde_json::Value = serde_json::from_str(&received[1].body).unwrap();
    let text = payload["text"].as_str().unwrap();
    assert!(text.contains("web: nginx:1.28"), "{text}");
    let link = format!(
        "compare: https://github.com/acme/shop/compare/{}...{}",
        source.trim(),
        next.trim()
    );
    assert!(text.contains(&link), "{text}");
}

#[test]
fn a_failing_webhook_is_retried_then_reported_and_the_apply_succeeds() {
    let setup = setup();
    let slack = FakeChat::start(&[500]);
    let slack_url = format!("{}/services/hook-secret-part", slack.url);
    let run = run(setup
        .apply_command(&["-o", "json"])
        .env("TEST_SLACK_URL", &slack_url));
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(slack.received().len(), 3, "tried three times");
    assert!(
        run.stderr.contains(
            "warning: notifying slack (TEST_SLACK_URL) failed after 3 tries: the chat answered 500"
        ),
        "{}",
        run.stderr
    );
    // Zulip's variables are unset: reported, not tried.
    assert!(
        run.stderr.contains("TEST_ZULIP_URL is not set"),
        "{}",
        run.stderr
    );
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["result"], "succeeded");
    assert_eq!(report["notifications"][0]["delivery"]["state"], "failed");
    assert_eq!(report["notifications"][0]["attempts"], 3);
    // Recorded with the release, in its note.
    let note = setup
        .repos
        .git(&["notes", "--ref", "berth/test", "show", "releases/test"]);
    assert!(
        note.contains("notifying slack (TEST_SLACK_URL) failed"),
        "{note}"
    );
    for output in [&run.stdout, &run.stderr, &note] {
        assert!(!output.contains("hook-secret-part"), "{output}");
        assert!(!output.contains(&slack.url), "{output}");
    }

    // A server that is gone: still a warning, never a failed apply, never its address.
    drop(slack);
    let dead = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/hook-secret-part", listener.local_addr().unwrap())
    };
    setup.change(|repos| {
        repos.edit("web/deployment.yaml", "replicas: 1", "replicas: 2");
    });
    let gone = crate::support::run(setup.apply_command(&[]).env("TEST_SLACK_URL", &dead));
    assert_eq!(gone.code, 0, "{}", gone.stderr);
    assert!(
        gone.stderr
            .contains("notifying slack (TEST_SLACK_URL) failed"),
        "{}",
        gone.stderr
    );
    assert!(!gone.stderr.contains("hook-secret-part"), "{}", gone.stderr);
    assert!(
        !gone.stderr.contains(&dead[..dead.len() - 17]),
        "{}",
        gone.stderr
    );
}

#[test]
fn an_apply_stopped_by_a_failing_secret_source_is_told_as_failed() {
    let setup = Release::new(GitRepos::with_files(&[
        (
            "berth.yaml",
            &BERTH_YAML.replace(
                "path: web\n",
                "path: web\n    secrets:\n      db:\n        keys:\n          password: {env: TEST_UNSET_PASSWORD}\n",
            ),
        ),
        ("web/ns.yaml", small::NAMESPACE),
    ]));
    let slack = FakeChat::start(&[200]);
    let failed = crate::support::run(
        setup
            .apply_command(&[])
            .env("TEST_SLACK_URL", format!("{}/hook", slack.url)),
    );
    failed.fails_with(&["key `password` from env TEST_UNSET_PASSWORD"]);
    let received = slack.received();
    assert_eq!(received.len(), 1, "{received:?}");
    let payload: serde_json::Value = serde_json::from_str(&received[0].body).unwrap();
    let text = payload["text"].as_str().unwrap();
    assert!(text.contains("berth apply test"), "{text}");
    assert!(
        text.contains("failed: Secret demo/db: key `password` from env TEST_UNSET_PASSWORD"),
        "{text}"
    );
}

/// Teams and the generic webhook on `test`, which promotes to `prod` (told by its own webhook).
const TEAMS_AND_WEBHOOK: &str = "defaults:\n  namespace: demo\napps:\n  web:\n    driver: manifests\n    path: web\nchannels:\n  test:\n    promotesTo: prod\n    notify:\n      - teams: {webhookEnv: TEST_TEAMS_URL}\n      - webhook: {urlEnv: TEST_HOOK_URL}\n  prod:\n    notify:\n      - webhook: {urlEnv: PROD_HOOK_URL}\n";

fn teams_and_webhook() -> Release {
    released(TEAMS_AND_WEBHOOK)
}

fn json_body(received: &Received) -> serde_json::Value {
    assert_eq!(received.header("content-type"), Some("application/json"));
    serde_json::from_str(&received.body).unwrap()
}

#[test]
fn teams_gets_an_adaptive_card_and_the_webhook_the_fields_and_the_same_text() {
    let setup = teams_and_webhook();
    let (teams, hook) = (FakeChat::start(&[200]), FakeChat::start(&[202]));
    let teams_url = format!("{}/workflows/teams-secret-sig", teams.url);
    let hook_url = format!("{}/deploys?token=hook-secret-token", hook.url);
    let source = setup.repos.git(&["rev-parse", "HEAD"]);
    let run = run(setup
        .apply_command(&["-o", "json"])
        .env("TEST_TEAMS_URL", &teams_url)
        .env("TEST_HOOK_URL", &hook_url)
        .env("GITHUB_ACTOR", "ana")
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_REPOSITORY", "acme/shop")
        .env("GITHUB_RUN_ID", "42"));
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let release = setup.repos.git(&["rev-parse", "releases/test"]);

    let received = teams.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0].path, "/workflows/teams-secret-sig");
    let card = json_body(&received[0]);
    assert_eq!(card["type"], "message");
    let attachment = &card["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(attachment["content"]["type"], "AdaptiveCard");
    let block = &attachment["content"]["body"][0];
    assert_eq!(block["type"], "TextBlock");
    assert_eq!(block["wrap"], true);
    let text = block["text"].as_str().unwrap();
    assert!(
        text.starts_with(&format!(
            "berth apply test `{}`: succeeded (",
            &release[..12]
        )),
        "{text}"
    );
    assert!(text.contains("• web: nginx:1.27"), "{text}");

    let received = hook.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0].path, "/deploys?token=hook-secret-token");
    let fields = json_body(&received[0]);
    assert_eq!(fields["version"], 1);
    assert_eq!(fields["event"], "apply");
    assert_eq!(fields["channel"], "test");
    assert_eq!(fields["result"], "succeeded");
    assert_eq!(fields["releaseCommit"], release.as_str());
    assert_eq!(fields["sourceCommit"], source.as_str());
    assert_eq!(fields["apps"], serde_json::json!({"web": ["nginx:1.27"]}));
    assert_eq!(
        fields["runUrl"],
        "https://github.com/acme/shop/actions/runs/42"
    );
    assert_eq!(fields["actor"], "ana");
    assert!(fields["summary"].as_str().unwrap().contains("created"));
    // A first release has nothing to compare with.
    assert!(fields.get("compareUrl").is_none(), "{fields:#}");
    assert_eq!(fields["text"], text, "one template for every chat");

    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let targets: Vec<&str> = report["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["target"].as_str().unwrap())
        .collect();
    assert_eq!(
        targets,
        ["teams (TEST_TEAMS_URL)", "webhook (TEST_HOOK_URL)"]
    );
    for output in [&run.stdout, &run.stderr] {
        assert!(!output.contains("teams-secret-sig"), "{output}");
        assert!(!output.contains("hook-secret-token"), "{output}");
        assert!(!output.contains(&hook.url), "{output}");
    }
}

#[test]
fn rollback_promote_and_drift_are_told() {
    let setup = teams_and_webhook();
    let (test_hook, prod_hook) = (FakeChat::start(&[200]), FakeChat::start(&[200]));
    let hooks = |command: &mut std::process::Command| {
        command
            .env("TEST_HOOK_URL", &test_hook.url)
            .env("PROD_HOOK_URL", &prod_hook.url)
            .env("GITHUB_ACTOR", "ana");
    };
    let berth = |args: &[&str]| {
        let mut command = setup.cluster.berth_command(&setup.repos.work(), args, &[]);
        hooks(&mut command);
        run(&mut command)
    };
    let apply = || {
        let mut command = setup.apply_command(&[]);
        hooks(&mut command);
        run(&mut command).succeeds();
    };
    apply();
    let first = setup.repos.git(&["rev-parse", "releases/test"]);
    setup.change(|repos| repos.edit("web/deployment.yaml", "nginx:1.27", "nginx:1.28"));
    apply();
    let second = setup.repos.git(&["rev-parse", "releases/test"]);
    assert_eq!(test_hook.received().len(), 2);

    // Rollback: told once the release branch holds the rollback, with the restored versions.
    berth(&["rollback", "-c", "test"]).succeeds();
    let rollback = setup.repos.git(&["rev-parse", "releases/test"]);
    let received = test_hook.received();
    assert_eq!(received.len(), 3, "{received:?}");
    let fields = json_body(&received[2]);
    assert_eq!(fields["event"], "rollback");
    assert_eq!(fields["result"], "rolled back");
    assert_eq!(fields["releaseCommit"], rollback.as_str());
    assert_eq!(fields["rolledBackFrom"], second.as_str());
    assert_eq!(fields["rolledBackTo"], first.as_str());
    assert_eq!(fields["apps"], serde_json::json!({"web": ["nginx:1.27"]}));
    assert_eq!(
        fields["text"],
        format!(
            "berth rollback test `{}`: rolled back from `{}` to `{}`\nsource {}\n• web: nginx:1.27\nby ana",
            &rollback[..12],
            &second[..12],
            &first[..12],
            &fields["sourceCommit"].as_str().unwrap()[..12]
        )
    );

    // Promote (of a fixed release, never of a rollback): told to the channel promoted to,
    // naming its new candidate.
    setup.change(|repos| repos.edit("web/deployment.yaml", "replicas: 1", "replicas: 2"));
    apply();
    let applied_source = setup.repos.git(&["rev-parse", "HEAD"]);
    berth(&["promote", "test"]).succeeds();
    let received = prod_hook.received();
    assert_eq!(received.len(), 1, "{received:?}");
    let fields = json_body(&received[0]);
    assert_eq!(fields["event"], "promote");
    assert_eq!(fields["channel"], "prod");
    assert_eq!(fields["promotedFrom"], "test");
    let branch = format!("candidates/prod/promote-{}", &applied_source[..12]);
    assert_eq!(fields["candidateBranch"], branch.as_str());
    let candidate = setup.repos.git(&["rev-parse", &branch]);
    assert_eq!(fields["candidateCommit"], candidate.as_str());
    assert_eq!(fields["apps"], serde_json::json!({"web": ["nginx:1.28"]}));
    assert!(
        fields["text"]
            .as_str()
            .unwrap()
            .starts_with(&format!("berth promote test → prod: candidate `{branch}`")),
        "{fields:#}"
    );
    // The same candidate again is no news.
    berth(&["promote", "test"]).succeeds();
    assert_eq!(prod_hook.received().len(), 1);

    // Drift: nothing to tell while the cluster holds the release; told once it does not.
    let told = test_hook.received().len();
    assert_eq!(berth(&["drift", "-c", "test"]).code, 0);
    assert_eq!(test_hook.received().len(), told);
    setup
        .cluster
        .kubectl(&["scale", "deployment/web", "-n", "demo", "--replicas=4"]);
    assert_eq!(berth(&["drift", "-c", "test"]).code, 1);
    let received = test_hook.received();
    assert_eq!(received.len(), told + 1, "{received:?}");
    let fields = json_body(&received[told]);
    assert_eq!(fields["event"], "drift");
    assert_eq!(fields["result"], "drifted");
    let drifted = fields["drifted"].as_array().unwrap();
    assert_eq!(drifted.len(), 1, "{fields:#}");
    let object = drifted[0].as_str().unwrap();
    assert!(
        object.contains("Deployment") && object.contains("web"),
        "{object}"
    );
    let text = fields["text"].as_str().unwrap();
    assert!(
        text.contains("1 object drifted") && text.contains(&format!("• {object}")),
        "{text}"
    );
}

#[test]
fn a_failing_webhook_is_retried_then_reported_while_a_rollback_succeeds() {
    let setup = teams_and_webhook();
    setup.apply(&[]).succeeds();
    setup.change(|repos| repos.edit("web/deployment.yaml", "replicas: 1", "replicas: 2"));
    setup.apply(&[]).succeeds();
    let hook = FakeChat::start(&[503]);
    let hook_url = format!("{}/hook-secret-part", hook.url);
    let rollback = run(setup
        .cluster
        .berth_command(&setup.repos.work(), &["rollback", "-c", "test"], &[])
        .env("TEST_HOOK_URL", &hook_url));
    assert_eq!(rollback.code, 0, "{}", rollback.stderr);
    assert_eq!(hook.received().len(), 3, "tried three times");
    assert!(
        rollback.stderr.contains(
            "warning: notifying webhook (TEST_HOOK_URL) failed after 3 tries: the chat answered 503"
        ),
        "{}",
        rollback.stderr
    );
    assert!(rollback.stderr.contains("TEST_TEAMS_URL is not set"));
    for output in [&rollback.stdout, &rollback.stderr] {
        assert!(!output.contains("hook-secret-part"), "{output}");
        assert!(!output.contains(&hook.url), "{output}");
    }
}

#[test]
fn the_schema_has_the_new_targets_and_secret_values() {
    let run = crate::support::berth(std::path::Path::new("."), &["schema"]);
    let schema: serde_json::Value = serde_json::from_str(&run.succeeds().stdout).unwrap();
    let targets = schema["$defs"]["RawNotify"].to_string();
    for target in ["slack", "zulip", "teams", "webhook"] {
        assert!(targets.contains(&format!("\"{target}\"")), "{targets}");
    }
    assert!(
        schema["$defs"]["RawWebhook"]["properties"]["urlEnv"].is_object(),
        "{schema:#}"
    );
    let app = &schema["$defs"]["RawApp"]["properties"];
    assert!(app["secretValues"].is_object(), "{app:#}");
}
