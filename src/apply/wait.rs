//! Readiness, as kstatus judges it: an object is ready when its controller says it has caught
//! up with the latest spec; kinds without a status are ready once applied.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// Not yet; why.
    InProgress(String),
    /// Will not become ready (a failed Job).
    Failed(String),
}

fn int(value: &Value) -> i64 {
    value.as_i64().unwrap_or(0)
}

fn condition<'a>(object: &'a Value, kind: &str) -> Option<&'a Value> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

fn condition_text(object: &Value) -> String {
    let conditions: Vec<String> = object["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let mut text = format!(
                "{}={}",
                c["type"].as_str().unwrap_or("?"),
                c["status"].as_str().unwrap_or("?")
            );
            // The message says why, but only where something is wrong: a healthy
            // condition's message ("has successfully progressed") is noise.
            let message = c["message"]
                .as_str()
                .filter(|_| condition_is_trouble(c))
                .map(shorten);
            match (c["reason"].as_str(), message) {
                (Some(reason), Some(message)) => text.push_str(&format!(" ({reason}: {message})")),
                (Some(reason), None) => text.push_str(&format!(" ({reason})")),
                (None, Some(message)) => text.push_str(&format!(" ({message})")),
                (None, None) => {}
            }
            text
        })
        .collect();
    if conditions.is_empty() {
        String::new()
    } else {
        format!("; conditions: {}", conditions.join(", "))
    }
}

/// A condition reporting a failure (`ReplicaFailure=True`, `Failed=True`) or the lack of
/// what it names (`Available=False`).
fn condition_is_trouble(condition: &Value) -> bool {
    let kind = condition["type"].as_str().unwrap_or("");
    match condition["status"].as_str() {
        Some("True") => kind.ends_with("Failure") || kind == "Failed",
        Some("False") => !(kind.ends_with("Failure") || kind == "Failed"),
        _ => false,
    }
}

/// The first line of a controller's message, at most [`MESSAGE_CHARS`] characters.
fn shorten(message: &str) -> String {
    let line = message.lines().next().unwrap_or("").trim();
    match line.char_indices().nth(MESSAGE_CHARS) {
        Some((end, _)) => format!("{}…", &line[..end]),
        None => line.to_string(),
    }
}

const MESSAGE_CHARS: usize = 160;

/// How ready `object` (as read from the API server) is.
pub fn readiness(object: &Value) -> Readiness {
    let kind = object["kind"].as_str().unwrap_or("");
    let status = &object["status"];
    let observed_current = || {
        let generation = int(&object["metadata"]["generation"]);
        int(&status["observedGeneration"]) >= generation
    };
    let in_progress =
        |why: String| Readiness::InProgress(format!("{why}{}", condition_text(object)));
    match kind {
        "Deployment" | "StatefulSet" | "ReplicaSet" => {
            let wanted = object["spec"]["replicas"].as_i64().unwrap_or(1);
            if !observed_current() {
                return in_progress("the controller has not seen the latest spec yet".into());
            }
            let deadline_exceeded = condition(object, "Progressing")
                .is_some_and(|c| c["reason"] == "ProgressDeadlineExceeded");
            if kind == "Deployment" && deadline_exceeded {
                return Readiness::Failed(format!(
                    "progress deadline exceeded{}",
                    condition_text(object)
                ));
            }
            let updated = if kind == "ReplicaSet" {
                int(&status["replicas"])
            } else {
                int(&status["updatedReplicas"])
            };
            let ready = int(&status["readyReplicas"]);
            let available = if kind == "StatefulSet" {
                ready
            } else {
                int(&status["availableReplicas"])
            };
            if kind == "StatefulSet"
                && status["updateRevision"] != status["currentRevision"]
                && status["updateRevision"].is_string()
                && wanted > 0
                && updated < wanted
            {
                return in_progress(format!("{updated} of {wanted} pods updated"));
            }
            if updated < wanted || available < wanted || ready < wanted {
                return in_progress(format!(
                    "{updated} updated, {ready} ready, {available} available of {wanted}"
                ));
            }
            if int(&status["replicas"]) > wanted {
                return in_progress(format!(
                    "{} old pods still terminating",
                    int(&status["replicas"]) - wanted
                ));
            }
            Readiness::Ready
        }
        "DaemonSet" => {
            if !observed_current() {
                return in_progress("the controller has not seen the latest spec yet".into());
            }
            let desired = int(&status["desiredNumberScheduled"]);
            let updated = int(&status["updatedNumberScheduled"]);
            let ready = int(&status["numberReady"]);
            if updated < desired || ready < desired {
                in_progress(format!("{updated} updated, {ready} ready of {desired}"))
            } else {
                Readiness::Ready
            }
        }
        "Job" => {
            // Without conditions yet, the counts against the spec tell (Kubernetes' defaults:
            // 1 completion, a backoffLimit of 6).
            let completions = object["spec"]["completions"].as_i64().unwrap_or(1);
            let backoff_limit = object["spec"]["backoffLimit"].as_i64().unwrap_or(6);
            let (succeeded, failed) = (int(&status["succeeded"]), int(&status["failed"]));
            if condition(object, "Failed").is_some_and(|c| c["status"] == "True") {
                Readiness::Failed(format!("the job failed{}", condition_text(object)))
            } else if condition(object, "Complete").is_some_and(|c| c["status"] == "True") {
                Readiness::Ready
            } else if failed > backoff_limit {
                Readiness::Failed(format!(
                    "the job failed: {failed} failed pods, more than its backoffLimit {backoff_limit}"
                ))
            } else if succeeded >= completions {
                Readiness::Ready
            } else {
                in_progress("the job has not completed".into())
            }
        }
        "CustomResourceDefinition" => {
            if condition(object, "Established").is_some_and(|c| c["status"] == "True") {
                Readiness::Ready
            } else {
                in_progress("not established yet".into())
            }
        }
        "Namespace" => match status["phase"].as_str() {
            Some("Active") | None => Readiness::Ready,
            Some(phase) => in_progress(format!("phase {phase}")),
        },
        "PersistentVolumeClaim" => match status["phase"].as_str() {
            Some("Bound") => Readiness::Ready,
            Some(phase) => in_progress(format!("phase {phase}")),
            None => in_progress("not bound yet".into()),
        },
        _ => Readiness::Ready,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deployments_are_ready_when_caught_up() {
        let mut deployment = json!({"kind": "Deployment", "metadata": {"generation": 2}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 1, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2, "replicas": 2}});
        assert!(matches!(readiness(&deployment), Readiness::InProgress(_)));
        deployment["status"]["observedGeneration"] = json!(2);
        assert_eq!(readiness(&deployment), Readiness::Ready);
        deployment["status"]["availableReplicas"] = json!(1);
        assert!(
            matches!(readiness(&deployment), Readiness::InProgress(why) if why.contains("1 available of 2"))
        );
    }

    #[test]
    fn failing_conditions_say_why_shortened() {
        let long = format!(
            "pods \"web-1\" is forbidden: {}\nsecond line",
            "x".repeat(300)
        );
        let deployment = json!({"kind": "Deployment", "metadata": {"generation": 1}, "spec": {"replicas": 1},
            "status": {"observedGeneration": 1, "conditions": [
                {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated", "message": "is progressing"},
                {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": long}]}});
        let Readiness::InProgress(why) = readiness(&deployment) else {
            panic!("not in progress")
        };
        assert!(
            why.contains("Progressing=True (ReplicaSetUpdated)"),
            "{why}"
        );
        assert!(
            why.contains("ReplicaFailure=True (FailedCreate: pods \"web-1\" is forbidden: xxx"),
            "{why}"
        );
        assert!(
            why.ends_with("x…)") && !why.contains("second line"),
            "{why}"
        );
    }

    #[test]
    fn jobs_crds_namespaces_and_claims() {
        let job = |t: &str| json!({"kind": "Job", "status": {"conditions": [{"type": t, "status": "True"}]}});
        assert_eq!(readiness(&job("Complete")), Readiness::Ready);
        assert!(matches!(readiness(&job("Failed")), Readiness::Failed(_)));
        // Before the controller sets conditions: the counts against the spec (or its defaults).
        let counts = |spec: serde_json::Value, status: serde_json::Value| {
            readiness(&json!({"kind": "Job", "spec": spec, "status": status}))
        };
        assert_eq!(
            counts(json!({"completions": 2}), json!({"succeeded": 2})),
            Readiness::Ready
        );
        assert!(matches!(
            counts(json!({"completions": 2}), json!({"succeeded": 1})),
            Readiness::InProgress(_)
        ));
        assert_eq!(
            counts(json!({"backoffLimit": 0}), json!({"failed": 1})),
            Readiness::Failed("the job failed: 1 failed pods, more than its backoffLimit 0".into())
        );
        assert!(matches!(
            counts(json!({}), json!({"failed": 6})),
            Readiness::InProgress(_)
        ));
        assert!(matches!(
            counts(json!({}), json!({"failed": 7})),
            Readiness::Failed(_)
        ));
        let crd = json!({"kind": "CustomResourceDefinition", "status": {"conditions": [{"type": "Established", "status": "True"}]}});
        assert_eq!(readiness(&crd), Readiness::Ready);
        assert!(matches!(
            readiness(&json!({"kind": "Namespace", "status": {"phase": "Terminating"}})),
            Readiness::InProgress(_)
        ));
        assert!(matches!(
            readiness(&json!({"kind": "PersistentVolumeClaim", "status": {"phase": "Pending"}})),
            Readiness::InProgress(_)
        ));
        assert_eq!(readiness(&json!({"kind": "ConfigMap"})), Readiness::Ready);
    }
}
