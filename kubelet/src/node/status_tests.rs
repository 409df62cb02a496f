use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::*;

fn at(second: i64) -> Time {
    Time(jiff::Timestamp::from_second(1_700_000_000 + second).expect("time"))
}

fn runtime_status(runtime: bool, network: bool) -> api::RuntimeStatus {
    let condition = |kind: &str, status: bool| api::RuntimeCondition {
        r#type: kind.into(),
        status,
        reason: if status { String::new() } else { "Broken".into() },
        message: if status { String::new() } else { "it broke".into() },
    };
    api::RuntimeStatus { conditions: vec![condition("RuntimeReady", runtime), condition("NetworkReady", network)] }
}

#[test]
fn byte_quantities_take_the_largest_exact_binary_suffix() {
    let cases = [
        (0, "0"),
        (1000, "1000"),
        (1024, "1Ki"),
        (1536, "1536"),
        (100 * 1024 * 1024, "100Mi"),
        (16_315_692 * 1024, "16315692Ki"),
        (5 << 30, "5Gi"),
        (94_580_335_255, "94580335255"),
    ];
    for (bytes, want) in cases {
        assert_eq!(binary_quantity(bytes).0, want, "{bytes}");
    }
}

#[test]
fn allocatable_keeps_the_hard_eviction_thresholds_back() {
    let host = HostFacts {
        cpus: 4,
        memory: super::super::host::MemInfo { total: 8 << 30, ..Default::default() },
        root_fs: FsStats { capacity: 100 << 30, ..Default::default() },
        ..Default::default()
    };
    let (capacity, allocatable) = resources(&host, 110, &EvictionThresholds::default());
    assert_eq!(capacity["cpu"].0, "4");
    assert_eq!(capacity["memory"].0, "8Gi");
    assert_eq!(allocatable["memory"].0, "8092Mi");
    assert_eq!(capacity["ephemeral-storage"].0, "100Gi");
    assert_eq!(allocatable["ephemeral-storage"].0, "90Gi");
    assert_eq!(allocatable["pods"].0, "110");
}

#[test]
fn pressure_follows_the_default_thresholds() {
    let thresholds = EvictionThresholds::default();
    let mut host = HostFacts {
        memory: super::super::host::MemInfo { total: 8 << 30, free: 4 << 30, ..Default::default() },
        root_fs: FsStats { capacity: 100, available: 50, inodes: 100, inodes_free: 50, used: 50 },
        pid_max: 1000,
        processes: 999,
        ..Default::default()
    };
    let image_fs = FsStats { capacity: 100, available: 20, ..Default::default() };
    assert_eq!(thresholds.pressure(&host, &image_fs), Pressure::default(), "no PID threshold by default");
    host.memory.free = 50 << 20;
    host.root_fs.available = 9;
    let low_images = FsStats { capacity: 100, available: 14, ..Default::default() };
    let pressure = thresholds.pressure(&host, &low_images);
    assert!(pressure.memory && pressure.disk && !pressure.pid);
    let pid = EvictionThresholds { pid_available: Some(0.05), ..thresholds }.pressure(&host, &image_fs);
    assert!(pid.pid);
}

#[test]
fn ready_errors_say_what_the_runtime_lacks_in_upstreams_words() {
    assert!(ready_errors(Some(&Ok(runtime_status(true, true)))).is_empty());
    let errors = ready_errors(Some(&Ok(runtime_status(false, false))));
    assert_eq!(
        errors,
        [
            "container runtime not ready: RuntimeReady=false reason:Broken message:it broke",
            "container runtime network not ready: NetworkReady=false reason:Broken message:it broke",
        ]
    );
    let none = ready_errors(Some(&Ok(api::RuntimeStatus { conditions: vec![] })));
    assert_eq!(none[1], "container runtime network not ready: <nil>");
    assert_eq!(ready_errors(Some(&Err("down".into()))), ["container runtime is down"]);
    let conditions = conditions(&[], Pressure::default(), &errors, &at(0));
    let ready = conditions.last().expect("ready last");
    assert_eq!(ready.message.as_deref(), Some(format!("[{}, {}]", errors[0], errors[1]).as_str()));
}

#[test]
fn transition_times_move_only_when_a_condition_changes() {
    let first = conditions(&[], Pressure::default(), &[], &at(0));
    let second = conditions(&first, Pressure::default(), &[], &at(10));
    for (a, b) in first.iter().zip(&second) {
        assert_eq!(a.last_transition_time, b.last_transition_time, "{}", a.type_);
        assert_eq!(b.last_heartbeat_time, Some(at(10)));
    }
    let pressured = conditions(&second, Pressure { disk: true, ..Default::default() }, &[], &at(20));
    let disk = pressured.iter().find(|c| c.type_ == "DiskPressure").expect("disk");
    assert_eq!((disk.status.as_str(), disk.reason.as_deref()), ("True", Some("KubeletHasDiskPressure")));
    assert_eq!(disk.last_transition_time, Some(at(20)));
    let memory = pressured.iter().find(|c| c.type_ == "MemoryPressure").expect("memory");
    assert_eq!(memory.last_transition_time, Some(at(0)));
    let mut old = NodeStatus { conditions: Some(first), ..Default::default() };
    let new = NodeStatus { conditions: Some(second), ..Default::default() };
    assert!(!status_changed(&old, &new), "heartbeats alone are no change");
    old.conditions = Some(pressured);
    assert!(status_changed(&old, &new));
}

#[test]
fn the_image_list_is_the_largest_fifty_with_five_names_each() {
    let list: Vec<api::Image> = (0..60u64)
        .map(|i| api::Image {
            id: format!("sha256:{i}"),
            repo_tags: (0..4).map(|t| format!("img{i}:t{t}")).collect(),
            repo_digests: (0..3).map(|d| format!("img{i}@sha256:{d}")).collect(),
            size: i * 10,
            ..Default::default()
        })
        .collect();
    let images = images(&list);
    assert_eq!(images.len(), MAX_IMAGES);
    assert_eq!(images[0].size_bytes, Some(590));
    assert_eq!(images[49].size_bytes, Some(100));
    let names = images[0].names.clone().unwrap_or_default();
    assert_eq!(names, ["img59@sha256:0", "img59@sha256:1", "img59@sha256:2", "img59:t0", "img59:t1"]);
}

#[test]
fn condition_changes_become_upstreams_node_events() {
    let first = conditions(&[], Pressure::default(), &[], &at(0));
    assert_eq!(
        condition_events(&[], &first),
        ["NodeHasSufficientMemory", "NodeHasNoDiskPressure", "NodeHasSufficientPID"],
        "a new Ready condition records no event"
    );
    let same = conditions(&first, Pressure::default(), &[], &at(10));
    assert!(condition_events(&first, &same).is_empty());
    let not_ready = conditions(&same, Pressure { memory: true, ..Default::default() }, &["down".into()], &at(20));
    assert_eq!(condition_events(&same, &not_ready), ["NodeHasInsufficientMemory", "NodeNotReady"]);
    let ready = conditions(&not_ready, Pressure::default(), &[], &at(30));
    assert_eq!(condition_events(&not_ready, &ready), ["NodeHasSufficientMemory", "NodeReady"]);
}
