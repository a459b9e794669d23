//! Helm hooks as `helm template` leaves them: ordinary objects carrying `helm.sh/hook`,
//! `helm.sh/hook-weight` and `helm.sh/hook-delete-policy` annotations. Read here; the apply
//! runs them in phases (apply/hooks.rs).

use serde_json::Value;

pub const HOOK_ANNOTATION: &str = "helm.sh/hook";
pub const WEIGHT_ANNOTATION: &str = "helm.sh/hook-weight";
pub const DELETE_POLICY_ANNOTATION: &str = "helm.sh/hook-delete-policy";

/// When a hook runs, relative to its app's other objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    PreInstall,
    PreUpgrade,
    PostInstall,
    PostUpgrade,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::PreInstall => "pre-install",
            Phase::PreUpgrade => "pre-upgrade",
            Phase::PostInstall => "post-install",
            Phase::PostUpgrade => "post-upgrade",
        }
    }

    /// The phase of an install (`install`) or an upgrade, before or after the app's objects.
    pub fn of(install: bool, before: bool) -> Phase {
        match (install, before) {
            (true, true) => Phase::PreInstall,
            (false, true) => Phase::PreUpgrade,
            (true, false) => Phase::PostInstall,
            (false, false) => Phase::PostUpgrade,
        }
    }
}

/// A hook's annotations, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// `helm.sh/hook`'s entries, as written (`pre-install`, `pre-delete`, …).
    pub names: Vec<String>,
    /// The phases it runs in that berth supports (a hook may name several); none: berth never
    /// runs it.
    pub phases: Vec<Phase>,
    /// `helm.sh/hook-weight` (0 when absent or not a number, as Helm reads it).
    pub weight: i64,
    /// Deleted (and gone) before it is applied again: `before-hook-creation`, Helm 3's default.
    pub delete_before_creation: bool,
    /// Deleted once it succeeded: `hook-succeeded`.
    pub delete_when_succeeded: bool,
}

impl Hook {
    /// The hook annotations of `object`; `None` when it is not a hook.
    pub fn of(object: &Value) -> Option<Hook> {
        let annotation = |name: &str| object["metadata"]["annotations"][name].as_str();
        let names = list(annotation(HOOK_ANNOTATION)?);
        let phases = names
            .iter()
            .filter_map(|name| match *name {
                "pre-install" => Some(Phase::PreInstall),
                "pre-upgrade" => Some(Phase::PreUpgrade),
                "post-install" => Some(Phase::PostInstall),
                "post-upgrade" => Some(Phase::PostUpgrade),
                _ => None,
            })
            .collect();
        let policies = annotation(DELETE_POLICY_ANNOTATION).map(list);
        let has = |policy: &str| policies.as_ref().is_some_and(|p| p.contains(&policy));
        Some(Hook {
            names: names.iter().map(|n| n.to_string()).collect(),
            phases,
            weight: annotation(WEIGHT_ANNOTATION)
                .and_then(|w| w.trim().parse().ok())
                .unwrap_or(0),
            delete_before_creation: policies.is_none() || has("before-hook-creation"),
            delete_when_succeeded: has("hook-succeeded"),
        })
    }

    /// `pre-install, pre-upgrade (weight -5)`, as the diff lists it.
    pub fn describe(&self) -> String {
        format!("{} (weight {})", self.names.join(", "), self.weight)
    }

    /// `helm test` hooks (`test`, and Helm 2's `test-success`): not part of a release.
    pub fn is_test(object: &Value) -> bool {
        object["metadata"]["annotations"][HOOK_ANNOTATION]
            .as_str()
            .is_some_and(|hook| {
                list(hook)
                    .iter()
                    .any(|h| matches!(*h, "test" | "test-success"))
            })
    }
}

fn list(text: &str) -> Vec<&str> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn annotated(annotations: Value) -> Value {
        json!({"kind": "Job", "metadata": {"name": "j", "annotations": annotations}})
    }

    #[test]
    fn hooks_are_read_as_helm_reads_them() {
        assert_eq!(Hook::of(&annotated(json!({}))), None);
        let hook = Hook::of(&annotated(json!({
            "helm.sh/hook": "pre-install, pre-upgrade,pre-delete",
            "helm.sh/hook-weight": "-5",
        })))
        .unwrap();
        assert_eq!(hook.phases, [Phase::PreInstall, Phase::PreUpgrade]);
        assert_eq!(hook.weight, -5);
        assert_eq!(
            hook.describe(),
            "pre-install, pre-upgrade, pre-delete (weight -5)"
        );
        // No policy: before-hook-creation, Helm 3's default.
        assert!(hook.delete_before_creation && !hook.delete_when_succeeded);
        let hook = Hook::of(&annotated(json!({
            "helm.sh/hook": "post-install",
            "helm.sh/hook-delete-policy": "hook-succeeded",
            "helm.sh/hook-weight": "heavy",
        })))
        .unwrap();
        assert_eq!((hook.weight, hook.delete_before_creation), (0, false));
        assert!(hook.delete_when_succeeded);
        assert!(Hook::is_test(&annotated(json!({"helm.sh/hook": "test"}))));
        assert!(!Hook::is_test(&annotated(
            json!({"helm.sh/hook": "post-install"})
        )));
    }
}
