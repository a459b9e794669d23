//! Checks after apply: each channel's `checks:` commands, run in order with the release in their
//! environment, each bounded by its timeout, their output kept for the report.

use crate::config::Check;
use crate::release::outcome::{CheckOutcome, CheckResult};
use std::process::Stdio;
use std::time::Instant;

/// The output a check result keeps (its end: where failures are told).
const OUTPUT_LIMIT: usize = 16 * 1024;

/// Variables never passed to a check: the credentials CI gives berth.
const WITHHELD: &[&str] = &[
    "GITHUB_TOKEN",
    "BERTH_GITHUB_TOKEN",
    "GH_TOKEN",
    "ACTIONS_RUNTIME_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
];

/// Run `checks` one after the other with `env` added to berth's environment (less its
/// credentials). All run, even after one fails: the record shows each.
pub async fn run(checks: &[Check], env: &[(String, String)]) -> Vec<CheckResult> {
    let mut results = Vec::new();
    for check in checks {
        results.push(run_one(check, env).await);
    }
    results
}

async fn run_one(check: &Check, env: &[(String, String)]) -> CheckResult {
    let started = Instant::now();
    let mut command = tokio::process::Command::new("sh");
    command
        .arg("-c")
        .arg(&check.run)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A group of its own, so a timeout stops what the command started too.
        .process_group(0)
        .kill_on_drop(true);
    for name in WITHHELD {
        command.env_remove(name);
    }
    let result = |outcome, output: String| CheckResult {
        name: check.name.clone(),
        outcome,
        seconds: started.elapsed().as_secs_f64(),
        output: tail(&output),
    };
    let child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            return result(
                CheckOutcome::Failed { code: None },
                format!("cannot run sh: {e}"),
            );
        }
    };
    let group = child.id();
    match tokio::time::timeout(check.timeout, child.wait_with_output()).await {
        Ok(Ok(output)) => {
            let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&output.stderr));
            let outcome = match output.status.code() {
                Some(0) => CheckOutcome::Passed,
                code => CheckOutcome::Failed { code },
            };
            result(outcome, text)
        }
        Ok(Err(e)) => result(
            CheckOutcome::Failed { code: None },
            format!("cannot wait for the check: {e}"),
        ),
        Err(_) => {
            if let Some(group) = group {
                // The child is dropped (and killed) with the future; its group goes too.
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", "--", &format!("-{group}")])
                    .stderr(Stdio::null())
                    .status();
            }
            result(
                CheckOutcome::TimedOut,
                format!(
                    "stopped after {}",
                    humantime::format_duration(check.timeout)
                ),
            )
        }
    }
}

/// The last [`OUTPUT_LIMIT`] bytes of `text`, on a character boundary.
fn tail(text: &str) -> String {
    if text.len() <= OUTPUT_LIMIT {
        return text.to_string();
    }
    let mut start = text.len() - OUTPUT_LIMIT;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}
