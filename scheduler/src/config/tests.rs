use super::*;

fn names(profile: &Profile) -> (Vec<&'static str>, Vec<(&'static str, i64)>) {
    (
        profile.filters.iter().map(|p| p.name()).collect(),
        profile.scorers.iter().map(|e| (e.plugin.name(), e.weight)).collect(),
    )
}

#[test]
fn an_empty_configuration_is_the_default_profile() {
    let profiles =
        parse("apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n").expect("parse");
    assert_eq!(profiles.len(), 1);
    assert_eq!(names(&profiles[0]), names(&Profile::default_profile()));
    assert!(profiles[0].preemption);
}

#[test]
fn plugins_are_disabled_reweighted_and_configured_per_profile() {
    let text = r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: default-scheduler
- schedulerName: bin-packing
  percentageOfNodesToScore: 100
  plugins:
    score:
      disabled:
      - name: NodeResourcesBalancedAllocation
      enabled:
      - name: NodeResourcesFit
        weight: 5
    filter:
      disabled:
      - name: TaintToleration
    postFilter:
      disabled:
      - name: DefaultPreemption
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: MostAllocated
        resources:
        - name: cpu
          weight: 2
"#;
    let profiles = parse(text).expect("parse");
    assert_eq!(profiles.len(), 2);
    let packing = &profiles[1];
    assert_eq!(packing.scheduler_name, "bin-packing");
    assert_eq!(packing.percentage_of_nodes_to_score, 100);
    assert!(!packing.preemption);
    let (filters, scorers) = names(packing);
    assert!(!filters.contains(&"TaintToleration"));
    assert!(
        scorers.contains(&("NodeResourcesFit", 5))
            && !scorers.iter().any(|(n, _)| *n == "NodeResourcesBalancedAllocation")
    );
    assert!(scorers.contains(&("TaintToleration", 3)), "scoring keeps a plugin only its filter disabled");
}

#[test]
fn mistakes_are_named() {
    let wrong_kind = parse("apiVersion: v1\nkind: ConfigMap\n").expect_err("not a scheduler configuration");
    assert!(wrong_kind.to_string().starts_with("no kind \"ConfigMap\" is registered for version \"v1\""));
    let unknown = "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n- plugins:\n    score:\n      enabled:\n      - name: Foo\n";
    assert_eq!(parse(unknown).expect_err("unknown plugin").to_string(), "plugin \"Foo\" does not exist");
    let twice = "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n- schedulerName: a\n- schedulerName: a\n";
    assert_eq!(parse(twice).expect_err("duplicate").to_string(), "profiles[1].schedulerName: Duplicate value");
}

#[test]
fn pod_topology_spread_defaults_are_the_system_ones_or_a_list() {
    let system = spread_with(&serde_json::json!({})).expect("no args");
    assert!(system.system_defaulted);
    assert_eq!(system.default_constraints.len(), 2);
    let listed = serde_json::json!({ "defaultingType": "List", "defaultConstraints": [
        { "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule" }] });
    let listed = spread_with(&listed).expect("a list");
    assert!(!listed.system_defaulted);
    assert_eq!(listed.default_constraints[0].when_unsatisfiable, "DoNotSchedule");
    let none = spread_with(&serde_json::json!({ "defaultingType": "List" })).expect("an empty list");
    assert!(none.default_constraints.is_empty());

    let constraint = serde_json::json!({ "maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule" });
    let cases = [
        (
            serde_json::json!({ "defaultConstraints": [constraint.clone()] }),
            "defaultingType: Invalid value: \"System\": when .defaultConstraints are not empty",
        ),
        (
            serde_json::json!({ "defaultingType": "Sometimes" }),
            "defaultingType: Unsupported value: \"Sometimes\": supported values: \"List\", \"System\"",
        ),
        (
            serde_json::json!({ "defaultingType": "List", "defaultConstraints": [{ "maxSkew": 0, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule" }] }),
            "defaultConstraints[0].maxSkew: Invalid value: 0: must be greater than zero",
        ),
        (
            serde_json::json!({ "defaultingType": "List", "defaultConstraints": [{ "maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {} }] }),
            "defaultConstraints[0].labelSelector: Forbidden: constraint must not define a selector, as they deduced for each pod",
        ),
        (
            serde_json::json!({ "defaultingType": "List", "defaultConstraints": [constraint.clone(), constraint] }),
            "defaultConstraints[1].{topologyKey, whenUnsatisfiable}: Duplicate value: \"{zone, DoNotSchedule}\"",
        ),
    ];
    for (args, want) in cases {
        let got = spread_with(&args).expect_err(want).to_string();
        assert_eq!(got, format!("invalid arguments for plugin PodTopologySpread: {want}"));
    }
}
