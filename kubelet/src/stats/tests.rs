use super::types::{ContainerStats, PodReference, PodStats};
use super::*;

#[test]
fn cpu_rates_come_from_two_samples() {
    let sample = |at: i64, usage: u64| CpuSample { at, usage };
    let cases = [
        (None, sample(1_000_000_000, 5), None),
        (Some(sample(0, 0)), sample(1_000_000_000, 500_000_000), Some(500_000_000)),
        (Some(sample(0, 0)), sample(2_000_000_000, 4_000_000_000), Some(2_000_000_000)),
        (Some(sample(5, 10)), sample(5, 20), None),
        (Some(sample(0, 10)), sample(1_000, 5), None),
    ];
    for (previous, now, want) in cases {
        assert_eq!(nano_cores(previous, now), want, "{previous:?} → {now:?}");
    }
}

#[test]
fn times_are_whole_seconds_in_utc() {
    assert_eq!(time(1_700_000_000_999_999_999), "2023-11-14T22:13:20Z");
    assert_eq!(time(0), "1970-01-01T00:00:00Z");
}

#[test]
fn resource_metrics_render_as_upstreams_families() {
    let cpu = |usage: u64| {
        Some(CpuStats {
            time: "2023-11-14T22:13:20Z".into(),
            usage_nano_cores: Some(1),
            usage_core_nano_seconds: Some(usage),
        })
    };
    let memory = |bytes: u64| {
        Some(MemoryStats { time: "2023-11-14T22:13:20Z".into(), working_set_bytes: Some(bytes), ..Default::default() })
    };
    let summary = Summary {
        node: NodeStats { node_name: "n".into(), cpu: cpu(2_500_000_000), memory: memory(1024), ..Default::default() },
        pods: vec![PodStats {
            pod_ref: PodReference { name: "web".into(), namespace: "default".into(), uid: "u".into() },
            start_time: "2023-11-14T22:13:00Z".into(),
            containers: vec![ContainerStats {
                name: "c\"1".into(),
                start_time: "2023-11-14T22:13:10Z".into(),
                cpu: cpu(500_000_000),
                memory: memory(2048),
                ..Default::default()
            }],
            cpu: cpu(500_000_000),
            memory: memory(2048),
            ..Default::default()
        }],
    };
    let text = metrics::render_summary(&summary);
    let expected = [
        "# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container in core-seconds",
        "# TYPE container_cpu_usage_seconds_total counter",
        "container_cpu_usage_seconds_total{container=\"c\\\"1\",namespace=\"default\",pod=\"web\"} 0.5 1700000000000",
        "container_memory_working_set_bytes{container=\"c\\\"1\",namespace=\"default\",pod=\"web\"} 2048 1700000000000",
        "container_start_time_seconds{container=\"c\\\"1\",namespace=\"default\",pod=\"web\"} 1699999990 1700000000000",
        "# TYPE node_cpu_usage_seconds_total counter",
        "node_cpu_usage_seconds_total 2.5 1700000000000",
        "node_memory_working_set_bytes 1024 1700000000000",
        "pod_cpu_usage_seconds_total{namespace=\"default\",pod=\"web\"} 0.5 1700000000000",
        "pod_memory_working_set_bytes{namespace=\"default\",pod=\"web\"} 2048 1700000000000",
        "# TYPE resource_scrape_error gauge",
        "resource_scrape_error 0",
    ];
    let mut rest = text.as_str();
    for line in expected {
        let at = rest.find(line).unwrap_or_else(|| panic!("missing or out of order: {line}\n{text}"));
        rest = &rest[at + line.len()..];
    }
}
