use serde_json::{Value, json};

use super::{Case, check_defaults, defaulted_container, defaulted_template_spec};
use crate::defaults::apply_defaults;

fn template() -> Value {
    json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "nginx"}]}})
}

fn defaulted_template() -> Value {
    json!({
        "metadata": {"labels": {"app": "web"}, "creationTimestamp": null},
        "spec": defaulted_template_spec(json!({"containers": [defaulted_container(json!({"name": "app", "image": "nginx"}), "Always")]}))
    })
}

#[test]
fn apps_workloads_get_their_defaults_and_template_pod_defaults() {
    let selector = json!({"matchLabels": {"app": "web"}});
    check_defaults(vec![
        Case {
            name: "Deployment",
            gvk: ("apps", "v1", "Deployment"),
            input: json!({"metadata": {"name": "d"}, "spec": {"selector": selector, "template": template()}}),
            want: json!({"metadata": {"name": "d"}, "spec": {
                "selector": selector,
                "template": defaulted_template(),
                "replicas": 1,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                "revisionHistoryLimit": 10,
                "progressDeadlineSeconds": 600
            }}),
        },
        Case {
            name: "Deployment with Recreate gets no rollingUpdate",
            gvk: ("apps", "v1", "Deployment"),
            input: json!({"spec": {"replicas": 0, "strategy": {"type": "Recreate"}, "revisionHistoryLimit": 2, "progressDeadlineSeconds": 60}}),
            want: json!({"spec": {"replicas": 0, "strategy": {"type": "Recreate"}, "revisionHistoryLimit": 2, "progressDeadlineSeconds": 60}}),
        },
        Case {
            name: "ReplicaSet",
            gvk: ("apps", "v1", "ReplicaSet"),
            input: json!({"spec": {"selector": selector, "template": template()}}),
            want: json!({"spec": {"selector": selector, "template": defaulted_template(), "replicas": 1}}),
        },
        Case {
            name: "DaemonSet",
            gvk: ("apps", "v1", "DaemonSet"),
            input: json!({"spec": {"selector": selector, "template": template()}}),
            want: json!({"spec": {
                "selector": selector,
                "template": defaulted_template(),
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
                "revisionHistoryLimit": 10
            }}),
        },
        Case {
            name: "StatefulSet",
            gvk: ("apps", "v1", "StatefulSet"),
            input: json!({"spec": {"selector": selector, "serviceName": "web", "template": template(),
                "volumeClaimTemplates": [{"metadata": {"name": "www"}, "spec": {"accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}}}}]}}),
            want: json!({"spec": {
                "selector": selector,
                "serviceName": "web",
                "template": defaulted_template(),
                "podManagementPolicy": "OrderedReady",
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
                "replicas": 1,
                "revisionHistoryLimit": 10,
                "volumeClaimTemplates": [{
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "metadata": {"name": "www", "creationTimestamp": null},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, "volumeMode": "Filesystem"},
                    "status": {"phase": "Pending"}
                }]
            }}),
        },
        Case {
            name: "StatefulSet with an explicit RollingUpdate type keeps rollingUpdate unset",
            gvk: ("apps", "v1", "StatefulSet"),
            input: json!({"spec": {"updateStrategy": {"type": "RollingUpdate"}, "podManagementPolicy": "Parallel",
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete"}}}),
            want: json!({"spec": {
                "updateStrategy": {"type": "RollingUpdate"},
                "podManagementPolicy": "Parallel",
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Retain"},
                "replicas": 1,
                "revisionHistoryLimit": 10
            }}),
        },
    ]);
}

#[test]
fn replication_controllers_take_selector_and_labels_from_the_template() {
    check_defaults(vec![
        Case {
            name: "RC without selector or labels",
            gvk: ("", "v1", "ReplicationController"),
            input: json!({"metadata": {"name": "rc"}, "spec": {"template": template()}}),
            want: json!({"metadata": {"name": "rc", "labels": {"app": "web"}}, "spec": {
                "replicas": 1, "selector": {"app": "web"}, "template": defaulted_template()
            }}),
        },
        Case {
            name: "RC with its own selector and labels",
            gvk: ("", "v1", "ReplicationController"),
            input: json!({"metadata": {"labels": {"tier": "x"}}, "spec": {"replicas": 3, "selector": {"app": "other"}}}),
            want: json!({"metadata": {"labels": {"tier": "x"}}, "spec": {"replicas": 3, "selector": {"app": "other"}}}),
        },
    ]);
}

#[test]
fn jobs_and_cron_jobs_get_batch_defaults() {
    let job_spec_defaults = |extra: Value| {
        let mut spec = json!({
            "completions": 1, "parallelism": 1, "backoffLimit": 6, "completionMode": "NonIndexed",
            "suspend": false, "podReplacementPolicy": "TerminatingOrFailed", "manualSelector": false
        });
        for (key, value) in extra.as_object().unwrap() {
            spec[key] = value.clone();
        }
        spec
    };
    let never_template = json!({"spec": {"restartPolicy": "Never", "containers": [{"name": "app", "image": "nginx"}]}});
    let defaulted_never_template = json!({
        "metadata": {"creationTimestamp": null},
        "spec": defaulted_template_spec(json!({"restartPolicy": "Never", "containers": [defaulted_container(json!({"name": "app", "image": "nginx"}), "Always")]}))
    });
    check_defaults(vec![
        Case {
            name: "Job",
            gvk: ("batch", "v1", "Job"),
            input: json!({"metadata": {"name": "j"}, "spec": {"template": never_template}}),
            want: json!({"metadata": {"name": "j"}, "spec": job_spec_defaults(json!({"template": defaulted_never_template}))}),
        },
        Case {
            name: "Job labels come from template labels",
            gvk: ("batch", "v1", "Job"),
            input: json!({"metadata": {"name": "j"}, "spec": {"template": template()}}),
            want: json!({"metadata": {"name": "j", "labels": {"app": "web"}}, "spec": job_spec_defaults(json!({"template": defaulted_template()}))}),
        },
        Case {
            name: "Job with parallelism only leaves completions unset",
            gvk: ("batch", "v1", "Job"),
            input: json!({"spec": {"parallelism": 3}}),
            want: json!({"spec": {"parallelism": 3, "backoffLimit": 6, "completionMode": "NonIndexed", "suspend": false,
                "podReplacementPolicy": "TerminatingOrFailed", "manualSelector": false}}),
        },
        Case {
            name: "Job with a pod failure policy and per-index backoff",
            gvk: ("batch", "v1", "Job"),
            input: json!({"spec": {"completions": 4, "completionMode": "Indexed", "backoffLimitPerIndex": 1,
                "podFailurePolicy": {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]}}}),
            want: json!({"spec": {"completions": 4, "parallelism": 1, "completionMode": "Indexed", "backoffLimitPerIndex": 1,
                "backoffLimit": 2147483647, "suspend": false, "podReplacementPolicy": "Failed", "manualSelector": false,
                "podFailurePolicy": {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]}}}),
        },
        Case {
            name: "CronJob",
            gvk: ("batch", "v1", "CronJob"),
            input: json!({"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": never_template}}}}),
            want: json!({"spec": {
                "schedule": "* * * * *",
                "concurrencyPolicy": "Allow",
                "suspend": false,
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 1,
                "jobTemplate": {"metadata": {"creationTimestamp": null}, "spec": {"template": defaulted_never_template}}
            }}),
        },
    ]);
}

#[test]
fn explicit_workload_values_are_never_overwritten() {
    let deployment = json!({"spec": {"replicas": 5, "revisionHistoryLimit": 0, "progressDeadlineSeconds": 30,
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 2}}}});
    let job = json!({"metadata": {"labels": {"mine": "x"}}, "spec": {"completions": 2, "parallelism": 2, "backoffLimit": 0,
        "completionMode": "Indexed", "suspend": true, "podReplacementPolicy": "Failed", "manualSelector": true}});
    let cron = json!({"spec": {"concurrencyPolicy": "Forbid", "suspend": true, "successfulJobsHistoryLimit": 0, "failedJobsHistoryLimit": 0}});
    for ((group, kind), input) in
        [(("apps", "Deployment"), deployment), (("batch", "Job"), job), (("batch", "CronJob"), cron)]
    {
        let mut object = input.clone();
        apply_defaults(group, "v1", kind, &mut object);
        assert_eq!(object, input, "{kind}");
    }
}
