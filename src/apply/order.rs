//! The order objects are applied in: what others need comes first. Deletions run in reverse.

/// Stages, in order.
pub const STAGES: &[&str] = &[
    "namespaces and CRDs",
    "cluster configuration",
    "namespaced configuration",
    "services",
    "workloads",
    "everything else",
];

/// The stage of an object of `kind` in API `group`.
pub fn stage(group: &str, kind: &str, cluster_scoped: bool) -> usize {
    match (group, kind) {
        ("", "Namespace") | ("apiextensions.k8s.io", "CustomResourceDefinition") => 0,
        _ if cluster_scoped => 1,
        (
            "",
            "ServiceAccount"
            | "ConfigMap"
            | "Secret"
            | "PersistentVolumeClaim"
            | "LimitRange"
            | "ResourceQuota",
        )
        | ("rbac.authorization.k8s.io", "Role" | "RoleBinding")
        | ("networking.k8s.io", "NetworkPolicy") => 2,
        ("", "Service") => 3,
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet")
        | ("batch", "Job" | "CronJob")
        | ("", "Pod" | "ReplicationController") => 4,
        _ => 5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_come_first() {
        let order = [
            stage("", "Namespace", true),
            stage("apiextensions.k8s.io", "CustomResourceDefinition", true),
            stage("rbac.authorization.k8s.io", "ClusterRole", true),
            stage("", "ConfigMap", false),
            stage("rbac.authorization.k8s.io", "RoleBinding", false),
            stage("", "Service", false),
            stage("apps", "Deployment", false),
            stage("networking.k8s.io", "Ingress", false),
            stage("ops.example.com", "Backup", false),
        ];
        assert_eq!(order, [0, 0, 1, 2, 2, 3, 4, 5, 5]);
    }
}
