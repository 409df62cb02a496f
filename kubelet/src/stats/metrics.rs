//! `/metrics/resource`: upstream's resource metrics (what metrics-server
//! scrapes) in the Prometheus text format, from the Summary. Plain text
//! formatting: eight families with sample timestamps need no registry.

use std::fmt::Write;

use super::types::{CpuStats, MemoryStats, Summary};
use super::{StatsContext, summary_typed};
use crate::runtime::Runtime;

/// One family's HELP, TYPE and samples (`labels`, value, timestamp in ms).
struct Family {
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    samples: Vec<(String, f64, Option<i64>)>,
}

fn millis(time: &str) -> Option<i64> {
    time.parse::<jiff::Timestamp>().ok().map(|t| t.as_millisecond())
}

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn cpu_seconds(cpu: Option<&CpuStats>) -> Option<(f64, Option<i64>)> {
    let cpu = cpu?;
    Some((cpu.usage_core_nano_seconds? as f64 / 1e9, millis(&cpu.time)))
}

fn working_set(memory: Option<&MemoryStats>) -> Option<(f64, Option<i64>)> {
    let memory = memory?;
    Some((memory.working_set_bytes? as f64, millis(&memory.time)))
}

/// The families for a summary (`None`: the scrape failed).
fn families(summary: Option<&Summary>) -> Vec<Family> {
    let family = |name, help, kind| Family { name, help, kind, samples: Vec::new() };
    let mut container_cpu = family(
        "container_cpu_usage_seconds_total",
        "[STABLE] Cumulative cpu time consumed by the container in core-seconds",
        "counter",
    );
    let mut container_memory =
        family("container_memory_working_set_bytes", "[STABLE] Current working set of the container in bytes", "gauge");
    let mut container_start = family(
        "container_start_time_seconds",
        "[STABLE] Start time of the container since unix epoch in seconds",
        "gauge",
    );
    let mut node_cpu = family(
        "node_cpu_usage_seconds_total",
        "[STABLE] Cumulative cpu time consumed by the node in core-seconds",
        "counter",
    );
    let mut node_memory =
        family("node_memory_working_set_bytes", "[STABLE] Current working set of the node in bytes", "gauge");
    let mut pod_cpu = family(
        "pod_cpu_usage_seconds_total",
        "[STABLE] Cumulative cpu time consumed by the pod in core-seconds",
        "counter",
    );
    let mut pod_memory =
        family("pod_memory_working_set_bytes", "[STABLE] Current working set of the pod in bytes", "gauge");
    let mut scrape_error = family(
        "resource_scrape_error",
        "[STABLE] 1 if there was an error while getting container metrics, 0 otherwise",
        "gauge",
    );
    let Some(summary) = summary else {
        scrape_error.samples.push((String::new(), 1.0, None));
        return vec![scrape_error];
    };
    scrape_error.samples.push((String::new(), 0.0, None));
    if let Some((value, at)) = cpu_seconds(summary.node.cpu.as_ref()) {
        node_cpu.samples.push((String::new(), value, at));
    }
    if let Some((value, at)) = working_set(summary.node.memory.as_ref()) {
        node_memory.samples.push((String::new(), value, at));
    }
    for pod in &summary.pods {
        let (name, namespace) = (escape(&pod.pod_ref.name), escape(&pod.pod_ref.namespace));
        let pod_labels = format!("{{namespace=\"{namespace}\",pod=\"{name}\"}}");
        if let Some((value, at)) = cpu_seconds(pod.cpu.as_ref()) {
            pod_cpu.samples.push((pod_labels.clone(), value, at));
        }
        if let Some((value, at)) = working_set(pod.memory.as_ref()) {
            pod_memory.samples.push((pod_labels, value, at));
        }
        for container in &pod.containers {
            let labels =
                format!("{{container=\"{}\",namespace=\"{namespace}\",pod=\"{name}\"}}", escape(&container.name));
            if let Some((value, at)) = cpu_seconds(container.cpu.as_ref()) {
                container_cpu.samples.push((labels.clone(), value, at));
            }
            if let Some((value, at)) = working_set(container.memory.as_ref()) {
                container_memory.samples.push((labels.clone(), value, at));
            }
            if let Some(start) = millis(&container.start_time) {
                let at = container.cpu.as_ref().and_then(|c| millis(&c.time));
                container_start.samples.push((labels, start as f64 / 1000.0, at));
            }
        }
    }
    // Sorted by name as Prometheus registries gather them.
    vec![container_cpu, container_memory, container_start, node_cpu, node_memory, pod_cpu, pod_memory, scrape_error]
}

/// Renders the families in the text exposition format.
fn render(families: Vec<Family>) -> String {
    let mut out = String::new();
    for mut family in families.into_iter().filter(|f| !f.samples.is_empty()) {
        family.samples.sort_by(|a, b| a.0.cmp(&b.0));
        let _ = writeln!(out, "# HELP {} {}", family.name, family.help);
        let _ = writeln!(out, "# TYPE {} {}", family.name, family.kind);
        for (labels, value, at) in family.samples {
            match at {
                Some(at) => {
                    let _ = writeln!(out, "{}{labels} {value} {at}", family.name);
                }
                None => {
                    let _ = writeln!(out, "{}{labels} {value}", family.name);
                }
            }
        }
    }
    out
}

/// `/metrics/resource` as upstream's kubelet serves it.
pub async fn resource_metrics(runtime: &dyn Runtime, context: &StatsContext) -> String {
    match summary_typed(runtime, context).await {
        Ok(summary) => render(families(Some(&summary))),
        Err(error) => {
            tracing::warn!(%error, "collecting resource metrics failed");
            render(families(None))
        }
    }
}

#[cfg(test)]
pub(super) fn render_summary(summary: &Summary) -> String {
    render(families(Some(summary)))
}
