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
