use serde_json::json;

use super::{Case, check_defaults};

#[test]
fn services_get_type_affinity_ports_and_traffic_policies() {
    let svc = ("", "v1", "Service");
    check_defaults(vec![
        Case {
            name: "ClusterIP service",
            gvk: svc,
            input: json!({"spec": {"selector": {"app": "web"}, "ports": [{"port": 80}, {"port": 53, "protocol": "UDP", "targetPort": "dns"}]}}),
            want: json!({"spec": {
                "selector": {"app": "web"},
                "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}, {"port": 53, "protocol": "UDP", "targetPort": "dns"}],
                "type": "ClusterIP",
                "sessionAffinity": "None",
                "internalTrafficPolicy": "Cluster",
                "ipFamilyPolicy": "SingleStack",
                "ipFamilies": ["IPv4"]
            }}),
        },
        Case {
            name: "NodePort service with a zero targetPort",
            gvk: svc,
            input: json!({"spec": {"type": "NodePort", "ports": [{"port": 8080, "targetPort": 0}]}}),
            want: json!({"spec": {
                "type": "NodePort",
                "ports": [{"port": 8080, "protocol": "TCP", "targetPort": 8080}],
                "sessionAffinity": "None",
                "externalTrafficPolicy": "Cluster",
                "internalTrafficPolicy": "Cluster",
                "ipFamilyPolicy": "SingleStack",
                "ipFamilies": ["IPv4"]
            }}),
        },
        Case {
            name: "LoadBalancer service with ClientIP affinity and an ingress IP",
            gvk: svc,
            input: json!({"spec": {"type": "LoadBalancer", "sessionAffinity": "ClientIP", "ports": [{"port": 443, "targetPort": ""}]},
                "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}, {"hostname": "lb.example"}]}}}),
            want: json!({"spec": {
                "type": "LoadBalancer",
                "sessionAffinity": "ClientIP",
                "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}},
                "ports": [{"port": 443, "protocol": "TCP", "targetPort": 443}],
                "externalTrafficPolicy": "Cluster",
                "internalTrafficPolicy": "Cluster",
                "allocateLoadBalancerNodePorts": true,
                "ipFamilyPolicy": "SingleStack",
                "ipFamilies": ["IPv4"]
            }, "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4", "ipMode": "VIP"}, {"hostname": "lb.example"}]}}}),
        },
        Case {
            name: "ExternalName service gets no IP families or traffic policies",
            gvk: svc,
            input: json!({"spec": {"type": "ExternalName", "externalName": "db.example", "sessionAffinityConfig": {"clientIP": {}}}}),
            want: json!({"spec": {"type": "ExternalName", "externalName": "db.example", "sessionAffinity": "None"}}),
        },
        Case {
            name: "headless selectorless service requires dual stack",
            gvk: svc,
            input: json!({"spec": {"clusterIP": "None"}}),
            want: json!({"spec": {"clusterIP": "None", "type": "ClusterIP", "sessionAffinity": "None",
                "internalTrafficPolicy": "Cluster", "ipFamilyPolicy": "RequireDualStack", "ipFamilies": ["IPv4", "IPv6"]}}),
        },
        Case {
            name: "ClusterIP with externalIPs is externally accessible; families follow clusterIPs",
            gvk: svc,
            input: json!({"spec": {"externalIPs": ["5.6.7.8"], "clusterIPs": ["fd00::10"], "ipFamilyPolicy": "SingleStack"}}),
            want: json!({"spec": {"externalIPs": ["5.6.7.8"], "clusterIPs": ["fd00::10"], "ipFamilyPolicy": "SingleStack",
                "type": "ClusterIP", "sessionAffinity": "None", "externalTrafficPolicy": "Cluster",
                "internalTrafficPolicy": "Cluster", "ipFamilies": ["IPv6"]}}),
        },
    ]);
}

#[test]
fn core_kinds_get_their_defaults() {
    check_defaults(vec![
        Case {
            name: "Secret",
            gvk: ("", "v1", "Secret"),
            input: json!({"metadata": {"name": "s"}, "data": {}}),
            want: json!({"metadata": {"name": "s"}, "data": {}, "type": "Opaque"}),
        },
        Case {
            name: "Namespace",
            gvk: ("", "v1", "Namespace"),
            input: json!({"metadata": {"name": "team", "labels": {"kubernetes.io/metadata.name": "wrong", "a": "b"}}}),
            want: json!({"metadata": {"name": "team", "labels": {"kubernetes.io/metadata.name": "team", "a": "b"}},
                "status": {"phase": "Active"}}),
        },
        Case {
            name: "PersistentVolume",
            gvk: ("", "v1", "PersistentVolume"),
            input: json!({"spec": {"capacity": {"storage": "1Gi"}, "hostPath": {"path": "/d"}}}),
            want: json!({"spec": {"capacity": {"storage": "1Gi"}, "hostPath": {"path": "/d", "type": ""},
                "persistentVolumeReclaimPolicy": "Retain", "volumeMode": "Filesystem"}, "status": {"phase": "Pending"}}),
        },
        Case {
            name: "PersistentVolumeClaim",
            gvk: ("", "v1", "PersistentVolumeClaim"),
            input: json!({"spec": {"accessModes": ["ReadWriteOnce"]}}),
            want: json!({"spec": {"accessModes": ["ReadWriteOnce"], "volumeMode": "Filesystem"}, "status": {"phase": "Pending"}}),
        },
        Case {
            name: "Endpoints",
            gvk: ("", "v1", "Endpoints"),
            input: json!({"subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}]}),
            want: json!({"subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80, "protocol": "TCP"}]}]}),
        },
        Case {
            name: "LimitRange",
            gvk: ("", "v1", "LimitRange"),
            input: json!({"spec": {"limits": [
                {"type": "Container", "max": {"cpu": "2"}, "min": {"memory": "64Mi"}},
                {"type": "Pod", "max": {"cpu": "4"}}
            ]}}),
            want: json!({"spec": {"limits": [
                {"type": "Container", "max": {"cpu": "2"}, "min": {"memory": "64Mi"},
                    "default": {"cpu": "2"}, "defaultRequest": {"cpu": "2", "memory": "64Mi"}},
                {"type": "Pod", "max": {"cpu": "4"}}
            ]}}),
        },
        Case {
            name: "Node",
            gvk: ("", "v1", "Node"),
            input: json!({"status": {"capacity": {"cpu": "4"}}}),
            want: json!({"status": {"capacity": {"cpu": "4"}, "allocatable": {"cpu": "4"}}}),
        },
        Case {
            name: "ConfigMap has nothing visible",
            gvk: ("", "v1", "ConfigMap"),
            input: json!({"metadata": {"name": "c"}}),
            want: json!({"metadata": {"name": "c"}}),
        },
    ]);
}

#[test]
fn other_groups_get_their_defaults() {
    check_defaults(vec![
        Case {
            name: "NetworkPolicy with egress",
            gvk: ("networking.k8s.io", "v1", "NetworkPolicy"),
            input: json!({"spec": {"podSelector": {}, "ingress": [{"ports": [{"port": 80}]}], "egress": [{"ports": [{"port": 53, "protocol": "UDP"}]}]}}),
            want: json!({"spec": {"podSelector": {}, "ingress": [{"ports": [{"port": 80, "protocol": "TCP"}]}],
                "egress": [{"ports": [{"port": 53, "protocol": "UDP"}]}], "policyTypes": ["Ingress", "Egress"]}}),
        },
        Case {
            name: "NetworkPolicy without rules",
            gvk: ("networking.k8s.io", "v1", "NetworkPolicy"),
            input: json!({"spec": {"podSelector": {}}}),
            want: json!({"spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}),
        },
        Case {
            name: "Ingress has no defaults",
            gvk: ("networking.k8s.io", "v1", "Ingress"),
            input: json!({"spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix"}]}}]}}),
            want: json!({"spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix"}]}}]}}),
        },
        Case {
            name: "IngressClass parameters",
            gvk: ("networking.k8s.io", "v1", "IngressClass"),
            input: json!({"spec": {"controller": "x/y", "parameters": {"kind": "K", "name": "n"}}}),
            want: json!({"spec": {"controller": "x/y", "parameters": {"kind": "K", "name": "n", "scope": "Cluster"}}}),
        },
        Case {
            name: "StorageClass",
            gvk: ("storage.k8s.io", "v1", "StorageClass"),
            input: json!({"provisioner": "p"}),
            want: json!({"provisioner": "p", "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"}),
        },
        Case {
            name: "CSIDriver",
            gvk: ("storage.k8s.io", "v1", "CSIDriver"),
            input: json!({"spec": {}}),
            want: json!({"spec": {"attachRequired": true, "podInfoOnMount": false, "storageCapacity": false,
                "fsGroupPolicy": "ReadWriteOnceWithFSType", "volumeLifecycleModes": ["Persistent"],
                "requiresRepublish": false, "seLinuxMount": false}}),
        },
        Case {
            name: "PriorityClass",
            gvk: ("scheduling.k8s.io", "v1", "PriorityClass"),
            input: json!({"value": 1000}),
            want: json!({"value": 1000, "preemptionPolicy": "PreemptLowerPriority"}),
        },
        Case {
            name: "EndpointSlice",
            gvk: ("discovery.k8s.io", "v1", "EndpointSlice"),
            input: json!({"addressType": "IPv4", "endpoints": [], "ports": [{"port": 80}, {"name": "dns", "protocol": "UDP", "port": 53}]}),
            want: json!({"addressType": "IPv4", "endpoints": [],
                "ports": [{"port": 80, "name": "", "protocol": "TCP"}, {"name": "dns", "protocol": "UDP", "port": 53}]}),
        },
        Case {
            name: "RoleBinding",
            gvk: ("rbac.authorization.k8s.io", "v1", "RoleBinding"),
            input: json!({"roleRef": {"kind": "Role", "name": "r"}, "subjects": [
                {"kind": "User", "name": "u"}, {"kind": "Group", "name": "g"},
                {"kind": "ServiceAccount", "name": "s", "namespace": "n"}, {"kind": "User", "name": "v", "apiGroup": "custom"}
            ]}),
            want: json!({"roleRef": {"kind": "Role", "name": "r", "apiGroup": "rbac.authorization.k8s.io"}, "subjects": [
                {"kind": "User", "name": "u", "apiGroup": "rbac.authorization.k8s.io"},
                {"kind": "Group", "name": "g", "apiGroup": "rbac.authorization.k8s.io"},
                {"kind": "ServiceAccount", "name": "s", "namespace": "n"},
                {"kind": "User", "name": "v", "apiGroup": "custom"}
            ]}),
        },
        Case {
            name: "ClusterRoleBinding",
            gvk: ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding"),
            input: json!({"roleRef": {"kind": "ClusterRole", "name": "r"}}),
            want: json!({"roleRef": {"kind": "ClusterRole", "name": "r", "apiGroup": "rbac.authorization.k8s.io"}}),
        },
        Case {
            name: "HPA v2 without behavior",
            gvk: ("autoscaling", "v2", "HorizontalPodAutoscaler"),
            input: json!({"spec": {"maxReplicas": 5, "scaleTargetRef": {"kind": "Deployment", "name": "d", "apiVersion": "apps/v1"}}}),
            want: json!({"spec": {"maxReplicas": 5, "scaleTargetRef": {"kind": "Deployment", "name": "d", "apiVersion": "apps/v1"},
                "minReplicas": 1,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]}}),
        },
        Case {
            name: "HPA v2 with partial behavior",
            gvk: ("autoscaling", "v2", "HorizontalPodAutoscaler"),
            input: json!({"spec": {"minReplicas": 2, "maxReplicas": 5, "metrics": [{"type": "Pods"}],
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}}}),
            want: json!({"spec": {"minReplicas": 2, "maxReplicas": 5, "metrics": [{"type": "Pods"}], "behavior": {
                "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
                    {"type": "Pods", "value": 4, "periodSeconds": 15}, {"type": "Percent", "value": 100, "periodSeconds": 15}]},
                "scaleDown": {"stabilizationWindowSeconds": 60, "selectPolicy": "Max", "policies": [
                    {"type": "Percent", "value": 100, "periodSeconds": 15}]}
            }}}),
        },
        Case {
            name: "HPA v1",
            gvk: ("autoscaling", "v1", "HorizontalPodAutoscaler"),
            input: json!({"spec": {"maxReplicas": 3}}),
            want: json!({"spec": {"maxReplicas": 3, "minReplicas": 1}}),
        },
        Case {
            name: "Lease has no defaults",
            gvk: ("coordination.k8s.io", "v1", "Lease"),
            input: json!({"spec": {"holderIdentity": "h"}}),
            want: json!({"spec": {"holderIdentity": "h"}}),
        },
        Case {
            name: "PodDisruptionBudget has no scheme defaults",
            gvk: ("policy", "v1", "PodDisruptionBudget"),
            input: json!({"spec": {"minAvailable": 1}}),
            want: json!({"spec": {"minAvailable": 1}}),
        },
    ]);
}
