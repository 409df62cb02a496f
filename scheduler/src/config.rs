//! KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1) files: the
//! profiles a scheduler runs, with plugins enabled, disabled and weighted
//! per extension point, and plugin arguments.

use std::sync::Arc;

use k8s_openapi::api::core::v1::TopologySpreadConstraint;
use serde::Deserialize;
use serde_json::Value;

use crate::framework::Plugin;
use crate::plugins::node_resources::{NodeResourcesFit, ScoringStrategy};
use crate::plugins::pod_topology_spread::{self, DO_NOT_SCHEDULE, PodTopologySpread, SCHEDULE_ANYWAY};
use crate::profile::{Enabled, Profile};

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("decoding the scheduler configuration: {0}")]
    Decode(#[from] serde_yaml::Error),
    #[error(
        "no kind \"{kind}\" is registered for version \"{api_version}\" (expected KubeSchedulerConfiguration in kubescheduler.config.k8s.io/v1)"
    )]
    Kind { kind: String, api_version: String },
    #[error("plugin \"{0}\" does not exist")]
    UnknownPlugin(String),
    #[error("invalid arguments for plugin {plugin}: {why}")]
    Args { plugin: String, why: String },
    #[error("profiles[{0}].schedulerName: Duplicate value")]
    DuplicateProfile(usize),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct File {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    percentage_of_nodes_to_score: Option<u32>,
    #[serde(default)]
    profiles: Vec<ProfileFile>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ProfileFile {
    scheduler_name: Option<String>,
    #[serde(default)]
    plugins: Plugins,
    #[serde(default)]
    plugin_config: Vec<PluginConfig>,
    percentage_of_nodes_to_score: Option<u32>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Plugins {
    #[serde(default)]
    multi_point: PluginSet,
    #[serde(default)]
    filter: PluginSet,
    #[serde(default)]
    score: PluginSet,
    #[serde(default)]
    post_filter: PluginSet,
}

#[derive(Debug, Deserialize, Default)]
struct PluginSet {
    #[serde(default)]
    enabled: Vec<PluginRef>,
    #[serde(default)]
    disabled: Vec<PluginRef>,
}

#[derive(Debug, Deserialize)]
struct PluginRef {
    name: String,
    weight: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct PluginConfig {
    name: String,
    #[serde(default)]
    args: Value,
}

/// Reads a configuration file.
pub fn load(path: &std::path::Path) -> Result<Vec<Profile>, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
    parse(&text)
}

/// Parses a configuration; no profiles means the default profile.
pub fn parse(text: &str) -> Result<Vec<Profile>, ConfigError> {
    let file: File = serde_yaml::from_str(text)?;
    if file.api_version != "kubescheduler.config.k8s.io/v1" || file.kind != "KubeSchedulerConfiguration" {
        return Err(ConfigError::Kind { kind: file.kind, api_version: file.api_version });
    }
    let profiles = if file.profiles.is_empty() { vec![ProfileFile::default()] } else { file.profiles };
    let mut out: Vec<Profile> = Vec::new();
    for (index, spec) in profiles.into_iter().enumerate() {
        let mut profile = build(spec)?;
        if profile.percentage_of_nodes_to_score == 0 {
            profile.percentage_of_nodes_to_score = file.percentage_of_nodes_to_score.unwrap_or(0);
        }
        if out.iter().any(|p| p.scheduler_name == profile.scheduler_name) {
            return Err(ConfigError::DuplicateProfile(index));
        }
        out.push(profile);
    }
    Ok(out)
}

/// Which extension points a plugin serves: (filter, score, default weight).
fn points(name: &str) -> Option<(bool, bool, i64)> {
    Some(match name {
        "NodeUnschedulable" | "NodeName" | "NodePorts" => (true, false, 0),
        "TaintToleration" => (true, true, 3),
        "NodeAffinity" | "PodTopologySpread" | "InterPodAffinity" => (true, true, 2),
        "NodeResourcesFit" => (true, true, 1),
        "NodeResourcesBalancedAllocation" | "ImageLocality" => (false, true, 1),
        "DefaultPreemption" | "PrioritySort" | "DefaultBinder" | "VolumeBinding" | "VolumeRestrictions"
        | "VolumeZone" | "NodeVolumeLimits" | "SchedulingGates" => (false, false, 0),
        _ => return None,
    })
}

fn build(spec: ProfileFile) -> Result<Profile, ConfigError> {
    let defaults = Profile::default_profile();
    let args = |name: &str| spec.plugin_config.iter().find(|c| c.name == name).map(|c| &c.args);
    let instance = |name: &str| -> Result<Option<Arc<dyn Plugin>>, ConfigError> {
        if points(name).is_none() {
            return Err(ConfigError::UnknownPlugin(name.to_owned()));
        }
        if name == "NodeResourcesFit"
            && let Some(args) = args(name)
        {
            return Ok(Some(Arc::new(fit_with(args)?)));
        }
        if name == pod_topology_spread::NAME
            && let Some(args) = args(name)
        {
            return Ok(Some(Arc::new(spread_with(args)?)));
        }
        Ok(defaults
            .filters
            .iter()
            .chain(defaults.scorers.iter().map(|e| &e.plugin))
            .find(|p| p.name() == name)
            .cloned())
    };
    let all_off = |set: &PluginSet| set.disabled.iter().any(|p| p.name == "*");
    let off = |set: &PluginSet, name: &str| set.disabled.iter().any(|p| p.name == name);
    let plugins = &spec.plugins;

    let mut filters: Vec<Arc<dyn Plugin>> = Vec::new();
    let mut scorers: Vec<Enabled> = Vec::new();
    // Defaults first (in upstream's order), unless disabled at multiPoint or at the point itself.
    if !all_off(&plugins.multi_point) {
        for plugin in &defaults.filters {
            let name = plugin.name();
            if !off(&plugins.multi_point, name) && !all_off(&plugins.filter) && !off(&plugins.filter, name) {
                filters.extend(instance(name)?);
            }
        }
        for enabled in &defaults.scorers {
            let name = enabled.plugin.name();
            if !off(&plugins.multi_point, name) && !all_off(&plugins.score) && !off(&plugins.score, name) {
                scorers.extend(instance(name)?.map(|plugin| Enabled { plugin, weight: enabled.weight }));
            }
        }
    }
    let mut enable = |reference: &PluginRef, filter: bool, score: bool| -> Result<(), ConfigError> {
        let (can_filter, can_score, weight) =
            points(&reference.name).ok_or_else(|| ConfigError::UnknownPlugin(reference.name.clone()))?;
        let Some(plugin) = instance(&reference.name)? else { return Ok(()) };
        if filter && can_filter && !filters.iter().any(|p| p.name() == reference.name) {
            filters.push(Arc::clone(&plugin));
        }
        if score && can_score {
            let weight = reference.weight.unwrap_or(weight);
            match scorers.iter_mut().find(|e| e.plugin.name() == reference.name) {
                Some(existing) => existing.weight = weight,
                None => scorers.push(Enabled { plugin, weight }),
            }
        }
        Ok(())
    };
    for reference in &plugins.multi_point.enabled {
        enable(reference, true, true)?;
    }
    for reference in &plugins.filter.enabled {
        enable(reference, true, false)?;
    }
    for reference in &plugins.score.enabled {
        enable(reference, false, true)?;
    }
    let preemption = !(all_off(&plugins.multi_point)
        || off(&plugins.multi_point, "DefaultPreemption")
        || all_off(&plugins.post_filter)
        || off(&plugins.post_filter, "DefaultPreemption"))
        || plugins.post_filter.enabled.iter().any(|p| p.name == "DefaultPreemption");
    Ok(Profile {
        scheduler_name: spec.scheduler_name.unwrap_or(defaults.scheduler_name),
        filters,
        scorers,
        preemption,
        percentage_of_nodes_to_score: spec.percentage_of_nodes_to_score.unwrap_or(0),
    })
}

/// NodeResourcesFit from its args (scoringStrategy type and resources).
fn fit_with(args: &Value) -> Result<NodeResourcesFit, ConfigError> {
    let bad = |why: String| ConfigError::Args { plugin: "NodeResourcesFit".into(), why };
    let mut fit = NodeResourcesFit::default();
    let Some(strategy) = args.get("scoringStrategy") else { return Ok(fit) };
    fit.strategy = match strategy.get("type").and_then(Value::as_str).unwrap_or("LeastAllocated") {
        "LeastAllocated" => ScoringStrategy::LeastAllocated,
        "MostAllocated" => ScoringStrategy::MostAllocated,
        other => {
            return Err(bad(format!(
                "scoringStrategy.type: Unsupported value: \"{other}\": supported values: \"LeastAllocated\", \"MostAllocated\""
            )));
        }
    };
    if let Some(resources) = strategy.get("resources").and_then(Value::as_array) {
        fit.resources = resources
            .iter()
            .map(|r| {
                let name = r
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad("scoringStrategy.resources[].name: Required value".into()))?;
                Ok((name.to_owned(), r.get("weight").and_then(Value::as_i64).unwrap_or(1)))
            })
            .collect::<Result<_, ConfigError>>()?;
    }
    Ok(fit)
}

/// PodTopologySpread from its args: `defaultingType` System (upstream's
/// defaults) or List (`defaultConstraints`, which may be empty).
fn spread_with(args: &Value) -> Result<PodTopologySpread, ConfigError> {
    let bad = |why: String| ConfigError::Args { plugin: pod_topology_spread::NAME.into(), why };
    let constraints: Vec<TopologySpreadConstraint> = match args.get("defaultConstraints") {
        Some(list) => serde_json::from_value(list.clone()).map_err(|e| bad(format!("defaultConstraints: {e}")))?,
        None => Vec::new(),
    };
    match args.get("defaultingType").and_then(Value::as_str).unwrap_or("System") {
        "System" if constraints.is_empty() => return Ok(PodTopologySpread::with_system_defaults()),
        "System" => {
            return Err(
                bad("defaultingType: Invalid value: \"System\": when .defaultConstraints are not empty".into()),
            );
        }
        "List" => {}
        other => {
            return Err(bad(format!(
                "defaultingType: Unsupported value: \"{other}\": supported values: \"List\", \"System\""
            )));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (i, c) in constraints.iter().enumerate() {
        let at = |field: &str| format!("defaultConstraints[{i}].{field}");
        if c.max_skew <= 0 {
            return Err(bad(format!("{}: Invalid value: {}: must be greater than zero", at("maxSkew"), c.max_skew)));
        }
        if c.topology_key.is_empty() {
            return Err(bad(format!("{}: Required value: can not be empty", at("topologyKey"))));
        }
        if c.when_unsatisfiable != DO_NOT_SCHEDULE && c.when_unsatisfiable != SCHEDULE_ANYWAY {
            return Err(bad(format!(
                "{}: Unsupported value: \"{}\": supported values: \"{DO_NOT_SCHEDULE}\", \"{SCHEDULE_ANYWAY}\"",
                at("whenUnsatisfiable"),
                c.when_unsatisfiable
            )));
        }
        if c.label_selector.is_some() {
            return Err(bad(format!(
                "{}: Forbidden: constraint must not define a selector, as they deduced for each pod",
                at("labelSelector")
            )));
        }
        if !seen.insert((c.topology_key.clone(), c.when_unsatisfiable.clone())) {
            return Err(bad(format!(
                "{}: Duplicate value: \"{{{}, {}}}\"",
                at("{topologyKey, whenUnsatisfiable}"),
                c.topology_key,
                c.when_unsatisfiable
            )));
        }
    }
    Ok(PodTopologySpread { default_constraints: constraints, system_defaulted: false })
}

#[cfg(test)]
mod tests;
