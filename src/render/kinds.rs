//! Which kinds are cluster-scoped. Built-in kinds come from the table below (kept in step with
//! kube-apiserver's discovery by a test against the recorded documents); custom kinds from the
//! CRDs in the same render, or from `defaults.clusterScoped` in berth.yaml.

use crate::object::group_of;
use serde_json::Value;
use std::collections::BTreeSet;

/// `(group, kind)` of every cluster-scoped built-in kind (core group is `""`).
pub const CLUSTER_SCOPED: &[(&str, &str)] = &[
    ("", "ComponentStatus"),
    ("", "Namespace"),
    ("", "Node"),
    ("", "PersistentVolume"),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "MutatingAdmissionPolicyBinding",
    ),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
    ),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicyBinding",
    ),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
    ),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("apiregistration.k8s.io", "APIService"),
    ("authentication.k8s.io", "SelfSubjectReview"),
    ("authentication.k8s.io", "TokenReview"),
    ("authorization.k8s.io", "SelfSubjectAccessReview"),
    ("authorization.k8s.io", "SelfSubjectRulesReview"),
    ("authorization.k8s.io", "SubjectAccessReview"),
    ("certificates.k8s.io", "CertificateSigningRequest"),
    ("certificates.k8s.io", "ClusterTrustBundle"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    ("internal.apiserver.k8s.io", "StorageVersion"),
    ("networking.k8s.io", "IPAddress"),
    ("networking.k8s.io", "IngressClass"),
    ("networking.k8s.io", "ServiceCIDR"),
    ("node.k8s.io", "RuntimeClass"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("resource.k8s.io", "DeviceClass"),
    ("resource.k8s.io", "ResourceSlice"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("storage.k8s.io", "CSIDriver"),
    ("storage.k8s.io", "CSINode"),
    ("storage.k8s.io", "StorageClass"),
    ("storage.k8s.io", "VolumeAttachment"),
    ("storage.k8s.io", "VolumeAttributesClass"),
    ("storagemigration.k8s.io", "StorageVersionMigration"),
];

/// `(apiVersion, kinds)` the API server serves for each built-in apiVersion, as discovery
/// lists them (kept in step with the recorded documents by a test). A kind these versions do
/// not serve (`kind: secret` in `v1`) is a typo that would otherwise reach git unchecked.
pub const BUILT_IN_KINDS: &[(&str, &[&str])] = &[
    (
        "admissionregistration.k8s.io/v1",
        &[
            "MutatingAdmissionPolicy",
            "MutatingAdmissionPolicyBinding",
            "MutatingWebhookConfiguration",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
            "ValidatingWebhookConfiguration",
        ],
    ),
    ("apiextensions.k8s.io/v1", &["CustomResourceDefinition"]),
    ("apiregistration.k8s.io/v1", &["APIService"]),
    (
        "apps/v1",
        &[
            "ControllerRevision",
            "DaemonSet",
            "Deployment",
            "ReplicaSet",
            "StatefulSet",
        ],
    ),
    (
        "authentication.k8s.io/v1",
        &["SelfSubjectReview", "TokenReview"],
    ),
    (
        "authorization.k8s.io/v1",
        &[
            "LocalSubjectAccessReview",
            "SelfSubjectAccessReview",
            "SelfSubjectRulesReview",
            "SubjectAccessReview",
        ],
    ),
    ("autoscaling/v1", &["HorizontalPodAutoscaler"]),
    ("autoscaling/v2", &["HorizontalPodAutoscaler"]),
    ("batch/v1", &["CronJob", "Job"]),
    ("certificates.k8s.io/v1", &["CertificateSigningRequest"]),
    ("coordination.k8s.io/v1", &["Lease"]),
    ("discovery.k8s.io/v1", &["EndpointSlice"]),
    ("events.k8s.io/v1", &["Event"]),
    (
        "flowcontrol.apiserver.k8s.io/v1",
        &["FlowSchema", "PriorityLevelConfiguration"],
    ),
    (
        "networking.k8s.io/v1",
        &[
            "IPAddress",
            "Ingress",
            "IngressClass",
            "NetworkPolicy",
            "ServiceCIDR",
        ],
    ),
    ("node.k8s.io/v1", &["RuntimeClass"]),
    ("policy/v1", &["PodDisruptionBudget"]),
    (
        "rbac.authorization.k8s.io/v1",
        &["ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"],
    ),
    (
        "resource.k8s.io/v1",
        &[
            "DeviceClass",
            "ResourceClaim",
            "ResourceClaimTemplate",
            "ResourceSlice",
        ],
    ),
    ("scheduling.k8s.io/v1", &["PriorityClass"]),
    (
        "storage.k8s.io/v1",
        &[
            "CSIDriver",
            "CSINode",
            "CSIStorageCapacity",
            "StorageClass",
            "VolumeAttachment",
            "VolumeAttributesClass",
        ],
    ),
    (
        "v1",
        &[
            "Binding",
            "ComponentStatus",
            "ConfigMap",
            "Endpoints",
            "Event",
            "LimitRange",
            "Namespace",
            "Node",
            "PersistentVolume",
            "PersistentVolumeClaim",
            "Pod",
            "PodTemplate",
            "ReplicationController",
            "ResourceQuota",
            "Secret",
            "Service",
            "ServiceAccount",
        ],
    ),
];

/// The kinds `api_version` serves, if it is a built-in apiVersion berth knows.
pub fn built_in_kinds(api_version: &str) -> Option<&'static [&'static str]> {
    BUILT_IN_KINDS
        .iter()
        .find(|(version, _)| *version == api_version)
        .map(|(_, kinds)| *kinds)
}

/// Knows the scope of every kind a render may hold.
#[derive(Debug, Default, Clone)]
pub struct Scopes {
    cluster: BTreeSet<(String, String)>,
    /// Custom kinds whose scope is known: declared by a CRD or in `defaults.clusterScoped`.
    custom: BTreeSet<(String, String)>,
}

impl Scopes {
    /// Built-in table, plus `extra` cluster-scoped kinds, plus those declared by the CRDs
    /// among `objects` (`spec.scope: Cluster`).
    pub fn new<'a>(
        extra: &BTreeSet<(String, String)>,
        objects: impl IntoIterator<Item = &'a Value>,
    ) -> Self {
        let mut cluster: BTreeSet<(String, String)> = CLUSTER_SCOPED
            .iter()
            .map(|(g, k)| (g.to_string(), k.to_string()))
            .collect();
        cluster.extend(extra.iter().cloned());
        let mut custom = extra.clone();
        for object in objects {
            let is_crd = object["kind"] == "CustomResourceDefinition"
                && object["apiVersion"]
                    .as_str()
                    .is_some_and(|v| group_of(v) == "apiextensions.k8s.io");
            if is_crd
                && let (Some(group), Some(kind)) = (
                    object["spec"]["group"].as_str(),
                    object["spec"]["names"]["kind"].as_str(),
                )
            {
                let key = (group.to_string(), kind.to_string());
                if object["spec"]["scope"] == "Cluster" {
                    cluster.insert(key.clone());
                }
                custom.insert(key);
            }
        }
        Scopes { cluster, custom }
    }

    /// Whether the scope of custom kind `(group, kind)` is known (else it is guessed).
    pub fn is_known(&self, group: &str, kind: &str) -> bool {
        self.custom.contains(&(group.to_string(), kind.to_string()))
    }

    /// Unknown kinds are taken as namespaced, as most custom resources are.
    pub fn is_cluster_scoped(&self, group: &str, kind: &str) -> bool {
        self.cluster
            .contains(&(group.to_string(), kind.to_string()))
    }
}
