//! The CRI runtime on a real containerd started by skiff's supervisor:
//! a busybox pod runs and logs, exec and stats work, and a killed
//! containerd is restarted without losing the running container.

#![cfg(feature = "testing")]

use std::path::Path;
use std::time::{Duration, Instant};

use skiff_kubelet::runtime::Runtime;
use skiff_kubelet::runtime::api;
use skiff_kubelet::testing::{TestContainerd, busybox_container_config};

const DEADLINE: Duration = Duration::from_secs(20);

async fn wait_for<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(started.elapsed() < DEADLINE, "never {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs a sandbox with one container; returns (sandbox, container, how long Run+Create+Start took).
async fn run_pod(test: &TestContainerd, name: &str, log_dir: &Path, command: &[&str]) -> (String, String, Duration) {
    let runtime = test.runtime();
    let sandbox = test.sandbox_config(name, &uuid::Uuid::new_v4().to_string(), log_dir);
    let started = Instant::now();
    let sandbox_id = match runtime.run_pod_sandbox(sandbox.clone()).await {
        Ok(id) => id,
        Err(err) => panic!("RunPodSandbox: {err}\ncontainerd log:\n{}", test.log_tail()),
    };
    let container_id = runtime
        .create_container(&sandbox_id, busybox_container_config("main", command), &sandbox)
        .await
        .expect("created");
    runtime.start_container(&container_id).await.expect("started");
    (sandbox_id, container_id, started.elapsed())
}

#[tokio::test]
async fn a_busybox_pod_runs_logs_execs_and_reports_stats() {
    let Some(test) = TestContainerd::start().await else { return };
    let runtime = test.runtime();
    let version = runtime.version().await.expect("version");
    assert_eq!(version.runtime_name, "containerd");
    assert_eq!(version.runtime_api_version, "v1");
    assert!(runtime.image_status(skiff_kubelet::images::PAUSE_IMAGE).await.expect("status").is_some());

    let logs = test.dir().join("logs");
    let mut starts = Vec::new();
    for i in 0..6 {
        let command = ["sh", "-c", "echo hello-from-the-log; echo to-stderr >&2; exec sleep 3600"];
        let (sandbox_id, container_id, took) =
            run_pod(&test, &format!("echo-{i}"), &logs.join(i.to_string()), &command).await;
        starts.push(took);
        if i > 0 {
            runtime.stop_pod_sandbox(&sandbox_id).await.expect("stopped");
            runtime.remove_pod_sandbox(&sandbox_id).await.expect("removed");
            assert!(runtime.container_status(&container_id).await.expect("status").is_none());
            continue;
        }
        let sandbox = runtime.pod_sandbox_status(&sandbox_id).await.expect("status").expect("exists");
        let ip: std::net::Ipv4Addr = sandbox.network.expect("network").ip.parse().expect("an IPv4 pod IP");
        let range = skiff_kubelet::containerd::cni::Ipv4Range::parse(test.cidr()).expect("cidr");
        assert!(range.contains(ip), "pod IP {ip} is not in {}", test.cidr());

        let log_file = logs.join("0").join("main/0.log");
        let log = wait_for("the container's log has both lines", async || {
            let text = std::fs::read_to_string(&log_file).ok()?;
            (text.contains("to-stderr")).then_some(text)
        })
        .await;
        let stdout = log.lines().find(|line| line.contains(" stdout ")).expect("a stdout line");
        assert!(stdout.ends_with(" stdout F hello-from-the-log"), "{stdout}");
        let status = runtime.container_status(&container_id).await.expect("status").expect("exists");
        assert_eq!(status.state, api::ContainerState::ContainerRunning as i32);
        assert_eq!(Path::new(&status.log_path), log_file);

        let exec = runtime
            .exec_sync(&container_id, vec!["sh".into(), "-c".into(), "echo hi; exit 7".into()], Duration::from_secs(5))
            .await
            .expect("exec");
        assert_eq!((exec.exit_code, String::from_utf8_lossy(&exec.stdout).as_ref()), (7, "hi\n"));

        let stats = runtime.container_stats(&container_id).await.expect("stats").expect("exists");
        assert!(stats.memory.and_then(|m| m.working_set_bytes).is_some_and(|v| v.value > 0), "memory stats");
        assert!(!runtime.list_container_stats().await.expect("all stats").is_empty());
        assert!(runtime.container_stats("no-such-container").await.expect("stats").is_none());
    }
    starts.sort();
    let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
    eprintln!(
        "bare CRI pod start (RunPodSandbox+CreateContainer+StartContainer) over {} pods: median {:.0} ms, min {:.0}, max {:.0}",
        starts.len(),
        ms(&starts[starts.len() / 2]),
        ms(&starts[0]),
        ms(&starts[starts.len() - 1])
    );
    // `--container-runtime-endpoint` takes the socket with or without the scheme.
    let existing = skiff_kubelet::containerd::connect_existing(format!("unix://{}", test.socket().display()));
    assert_eq!(existing.version().await.expect("version").runtime_name, "containerd");
}

#[tokio::test]
async fn a_killed_containerd_is_restarted_and_the_running_container_survives() {
    let Some(test) = TestContainerd::start().await else { return };
    let runtime = test.runtime();
    let (_, container_id, _) = run_pod(&test, "survivor", &test.dir().join("logs"), &["sleep", "3600"]).await;
    let pid = test.containerd().pid().expect("containerd runs");
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid as i32).expect("a pid"),
        rustix::process::Signal::KILL,
    )
    .expect("killed");
    let killed = Instant::now();
    let mut other_errors = Vec::new();
    let status = wait_for("the runtime answers again", async || match runtime.container_status(&container_id).await {
        Ok(status) => Some(status),
        Err(skiff_kubelet::RuntimeError::Unavailable { .. }) => None,
        Err(err) => {
            other_errors.push(err.to_string());
            None
        }
    })
    .await;
    assert!(other_errors.is_empty(), "while containerd was down: {other_errors:?}");
    wait_for("the restart counted", async || (test.containerd().restarts() == 1).then_some(())).await;
    eprintln!("containerd killed → restarted and answering in {} ms", killed.elapsed().as_millis());
    assert_ne!(test.containerd().pid(), Some(pid));
    let status = status.expect("the container is still known");
    assert_eq!(status.state, api::ContainerState::ContainerRunning as i32);
    let exec = runtime.exec_sync(&container_id, vec!["true".into()], Duration::from_secs(5)).await.expect("exec");
    assert_eq!(exec.exit_code, 0);
}

#[tokio::test]
async fn a_missing_socket_is_reported_as_unavailable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = skiff_kubelet::runtime::cri::CriRuntime::connect(dir.path().join("none.sock"));
    match runtime.version().await {
        Err(skiff_kubelet::RuntimeError::Unavailable { endpoint, .. }) => assert!(endpoint.ends_with("none.sock")),
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn a_missing_containerd_binary_gives_an_error_that_says_what_to_install() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config =
        skiff_kubelet::containerd::ContainerdConfig::new(dir.path()).binary("containerd-that-is-not-installed");
    let err = skiff_kubelet::containerd::Containerd::start(config).await.expect_err("no such binary");
    assert_eq!(
        err.to_string(),
        "containerd-that-is-not-installed was not found in PATH: install Debian's containerd, runc and \
         containernetworking-plugins, or run with --disable-agent"
    );
}
