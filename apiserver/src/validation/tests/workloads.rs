use serde_json::{Value, json};

use super::super::{invalid_message, validate_create, validate_update};
use super::{template, texts, with};

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "uid": "u-1"},
        "spec": {
            "replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": template(json!({"app": "web"})),
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
            "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600
        }
    })
}

#[test]
fn deployments_need_a_matching_selector_and_sane_strategy() {
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (deployment(), vec![]),
        (
            with(&deployment(), &[("/spec/selector", Value::Null)]),
            vec![
                "spec.selector: Required value",
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`",
            ],
        ),
        (
            with(&deployment(), &[("/spec/selector", json!({}))]),
            vec![
                "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment",
            ],
        ),
        (
            with(&deployment(), &[("/spec/selector", json!({"matchLabels": {"app": "api"}}))]),
            vec![
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`",
            ],
        ),
        (
            with(
                &deployment(),
                &[(
                    "/spec/selector",
                    json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]}]}),
                )],
            ),
            vec![],
        ),
        (
            with(
                &deployment(),
                &[("/spec/selector", json!({"matchExpressions": [{"key": "app", "operator": "Has"}]}))],
            ),
            vec![
                "spec.selector.matchExpressions[0].operator: Invalid value: \"Has\": not a valid selector operator",
                "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement{v1.LabelSelectorRequirement{Key:\"app\", Operator:\"Has\", Values:[]string(nil)}}}: invalid label selector",
            ],
        ),
        (
            with(&deployment(), &[("/spec/replicas", json!(-1))]),
            vec!["spec.replicas: Invalid value: -1: must be greater than or equal to 0"],
        ),
        (
            with(&deployment(), &[("/spec/strategy/rollingUpdate", json!({"maxUnavailable": 0, "maxSurge": "0%"}))]),
            vec![
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}: may not be 0 when `maxSurge` is 0",
            ],
        ),
        (
            with(
                &deployment(),
                &[("/spec/strategy/rollingUpdate", json!({"maxUnavailable": "120%", "maxSurge": "x"}))],
            ),
            vec![
                "spec.strategy.rollingUpdate.maxSurge: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:\"x\"}: a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:\"120%\"}: must not be greater than 100%",
            ],
        ),
        (
            with(&deployment(), &[("/spec/strategy", json!({"type": "BlueGreen"}))]),
            vec![
                "spec.strategy: Unsupported value: apps.DeploymentStrategy{Type:\"BlueGreen\", RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}: supported values: \"Recreate\", \"RollingUpdate\"",
            ],
        ),
        (
            with(&deployment(), &[("/spec/template/spec/restartPolicy", json!("Never"))]),
            vec!["spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\""],
        ),
        (
            with(&deployment(), &[("/spec/template/spec/containers/0/image", json!(""))]),
            vec!["spec.template.spec.containers[0].image: Required value"],
        ),
    ];
    for (object, expected) in cases {
        assert_eq!(texts(&validate_create("apps", "Deployment", &object)), expected, "{object}");
    }
}

#[test]
fn a_missing_selector_reads_like_kubectl_shows_it() {
    let errors = validate_create("apps", "Deployment", &with(&deployment(), &[("/spec/selector", Value::Null)]));
    assert_eq!(
        invalid_message("apps", "Deployment", "web", &errors),
        "Deployment.apps \"web\" is invalid: [spec.selector: Required value, spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`]"
    );
}

#[test]
fn apps_v1_selectors_are_immutable() {
    let old = deployment();
    let new = with(
        &old,
        &[
            ("/spec/selector", json!({"matchLabels": {"app": "web", "tier": "x"}})),
            ("/spec/template/metadata/labels", json!({"app": "web", "tier": "x"})),
        ],
    );
    for kind in ["Deployment", "ReplicaSet", "DaemonSet"] {
        let errors = texts(&validate_update("apps", kind, &new, &old));
        assert!(
            errors.contains(&"spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"web\", \"tier\":\"x\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable".to_string()),
            "{kind}: {errors:?}"
        );
    }
    assert_eq!(
        texts(&validate_update("apps", "Deployment", &with(&old, &[("/spec/replicas", json!(3))]), &old)),
        Vec::<String>::new()
    );
}

fn stateful_set() -> Value {
    json!({
        "metadata": {"name": "db", "namespace": "default"},
        "spec": {
            "replicas": 1, "selector": {"matchLabels": {"app": "db"}}, "serviceName": "db",
            "template": template(json!({"app": "db"})), "podManagementPolicy": "OrderedReady",
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
        }
    })
}

#[test]
fn stateful_sets_check_policies_and_restrict_updates() {
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (stateful_set(), vec![]),
        (
            with(
                &stateful_set(),
                &[("/spec/podManagementPolicy", json!("Random")), ("/spec/updateStrategy", json!({"type": "Later"}))],
            ),
            vec![
                "spec.podManagementPolicy: Invalid value: \"Random\": must be 'OrderedReady' or 'Parallel'",
                "spec.updateStrategy: Invalid value: \"Later\": must be 'RollingUpdate' or 'OnDelete'",
            ],
        ),
        (
            with(&stateful_set(), &[("/spec/selector", json!({}))]),
            vec![
                "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for statefulset",
            ],
        ),
        (
            with(&stateful_set(), &[("/metadata/name", json!("db.v1"))]),
            vec!["metadata.name: Invalid value: \"db.v1\": must not contain dots"],
        ),
    ];
    for (object, expected) in cases {
        assert_eq!(texts(&validate_create("apps", "StatefulSet", &object)), expected, "{object}");
    }
    let old = stateful_set();
    assert_eq!(
        texts(&validate_update("apps", "StatefulSet", &with(&old, &[("/spec/replicas", json!(5))]), &old)),
        Vec::<String>::new()
    );
    assert_eq!(
        texts(&validate_update("apps", "StatefulSet", &with(&old, &[("/spec/serviceName", json!("other"))]), &old)),
        vec![
            "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
        ]
    );
}

#[test]
fn daemon_sets_need_exactly_one_of_surge_and_unavailable() {
    let ds = json!({
        "metadata": {"name": "agent", "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}}, "template": template(json!({"app": "agent"})),
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
            "revisionHistoryLimit": 10
        }
    });
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (ds.clone(), vec![]),
        (
            with(&ds, &[("/spec/updateStrategy/rollingUpdate", json!({"maxUnavailable": 0, "maxSurge": 0}))]),
            vec!["spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0"],
        ),
        (
            with(&ds, &[("/spec/updateStrategy/rollingUpdate", json!({"maxUnavailable": 1, "maxSurge": 1}))]),
            vec![
                "spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: intstr.IntOrString{Type:0, IntVal:1, StrVal:\"\"}: may not be set when maxUnavailable is non-zero",
            ],
        ),
    ];
    for (object, expected) in cases {
        assert_eq!(texts(&validate_create("apps", "DaemonSet", &object)), expected, "{object}");
    }
}

fn job() -> Value {
    let labels = json!({"controller-uid": "u-1", "job-name": "pi", "batch.kubernetes.io/controller-uid": "u-1", "batch.kubernetes.io/job-name": "pi"});
    json!({
        "metadata": {"name": "pi", "namespace": "default", "uid": "u-1"},
        "spec": {
            "parallelism": 1, "completions": 1, "backoffLimit": 6, "completionMode": "NonIndexed", "suspend": false,
            "podReplacementPolicy": "TerminatingOrFailed", "manualSelector": false,
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}},
            "template": with(&template(labels), &[("/spec/restartPolicy", json!("Never"))])
        }
    })
}

#[test]
fn jobs_check_counts_restart_policy_and_immutability() {
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (job(), vec![]),
        (
            with(&job(), &[("/spec/parallelism", json!(-1)), ("/spec/backoffLimit", json!(-2))]),
            vec![
                "spec.parallelism: Invalid value: -1: must be greater than or equal to 0",
                "spec.backoffLimit: Invalid value: -2: must be greater than or equal to 0",
            ],
        ),
        (
            with(&job(), &[("/spec/template/spec/restartPolicy", json!("Always"))]),
            vec!["spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\""],
        ),
    ];
    for (object, expected) in cases {
        assert_eq!(texts(&validate_create("batch", "Job", &object)), expected, "{object}");
    }
    let old = job();
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (with(&old, &[("/spec/parallelism", json!(3))]), vec![]),
        (
            with(&old, &[("/spec/completions", json!(3))]),
            vec!["spec.completions: Invalid value: 3: field is immutable"],
        ),
        (
            with(
                &old,
                &[("/spec/selector/matchLabels/x", json!("y")), ("/spec/template/metadata/labels/x", json!("y"))],
            ),
            vec![
                "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"batch.kubernetes.io/controller-uid\":\"u-1\", \"x\":\"y\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable",
            ],
        ),
    ];
    for (new, expected) in cases {
        let errors: Vec<String> = texts(&validate_update("batch", "Job", &new, &old))
            .into_iter()
            .filter(|e| !e.starts_with("spec.template:"))
            .collect();
        assert_eq!(errors, expected, "{new}");
    }
}

fn cron_job() -> Value {
    json!({
        "metadata": {"name": "tick", "namespace": "default"},
        "spec": {
            "schedule": "*/5 * * * *", "concurrencyPolicy": "Allow", "suspend": false,
            "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
            "jobTemplate": {"spec": {"backoffLimit": 6, "template": with(&template(json!({})), &[("/spec/restartPolicy", json!("OnFailure"))])}}
        }
    })
}

#[test]
fn cron_jobs_check_schedule_time_zone_and_policy() {
    let schedule = |s: &str| with(&cron_job(), &[("/spec/schedule", json!(s))]);
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (cron_job(), vec![]),
        (schedule("@hourly"), vec![]),
        (schedule("0 0 * JAN-MAR MON-FRI"), vec![]),
        (with(&cron_job(), &[("/spec/schedule", json!(""))]), vec!["spec.schedule: Required value"]),
        (
            schedule("* * * *"),
            vec!["spec.schedule: Invalid value: \"* * * *\": expected exactly 5 fields, found 4: [* * * *]"],
        ),
        (
            schedule("61 * * * *"),
            vec!["spec.schedule: Invalid value: \"61 * * * *\": end of range (61) above maximum (59): 61"],
        ),
        (
            schedule("x * * * *"),
            vec![
                "spec.schedule: Invalid value: \"x * * * *\": failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax",
            ],
        ),
        (
            schedule("@sometimes"),
            vec!["spec.schedule: Invalid value: \"@sometimes\": unrecognized descriptor: @sometimes"],
        ),
        (
            schedule("TZ=UTC 0 * * * *"),
            vec![
                "spec.schedule: Invalid value: \"TZ=UTC 0 * * * *\": cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
            ],
        ),
        (with(&cron_job(), &[("/spec/timeZone", json!("Etc/UTC"))]), vec![]),
        (
            with(&cron_job(), &[("/spec/timeZone", json!(""))]),
            vec!["spec.timeZone: Invalid value: \"\": timeZone must be nil or non-empty string"],
        ),
        (
            with(&cron_job(), &[("/spec/timeZone", json!("Mars/Olympus_Mons_Base"))]),
            vec!["spec.timeZone: Invalid value: \"Mars/Olympus_Mons_Base\": unknown time zone Mars/Olympus_Mons_Base"],
        ),
        (
            with(&cron_job(), &[("/spec/concurrencyPolicy", json!("Sometimes"))]),
            vec![
                "spec.concurrencyPolicy: Unsupported value: \"Sometimes\": supported values: \"Allow\", \"Forbid\", \"Replace\"",
            ],
        ),
        (
            with(&cron_job(), &[("/metadata/name", json!("a".repeat(53)))]),
            vec![
                "metadata.name: Invalid value: \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\": must be no more than 52 characters",
            ],
        ),
    ];
    for (object, expected) in cases {
        assert_eq!(texts(&validate_create("batch", "CronJob", &object)), expected, "{object}");
    }
}
