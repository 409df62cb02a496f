//! Real pods on containerd through `skiff server`'s node agent, driven with
//! kubectl: logs, probes, restarts, init containers, env, volumes, graceful
//! deletion. Needs root, containerd and runc (see `require_node`).

mod common;

use std::time::Duration;

use common::node::{NodeServer, require_node};

const IMAGE: &str = skiff_kubelet::testing::BUSYBOX_IMAGE;
const START: Duration = Duration::from_secs(60);

fn pod(name: &str, spec: &str) -> String {
    format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n{spec}")
}

#[test]
fn a_pod_that_echoes_succeeds_and_its_output_reaches_kubectl_logs() {
    if !require_node() {
        return;
    }
    let node = NodeServer::start(&[]);
    node.apply(&pod(
        "echo",
        &format!(
            "  restartPolicy: Never\n  containers:\n  - name: echo\n    image: {IMAGE}\n    imagePullPolicy: IfNotPresent\n    command: [sh, -c, 'echo hello from skiff; echo to stderr >&2']\n"
        ),
    ));
    node.wait_phase("echo", "Succeeded", START);
    let logs = node.kubectl(&["logs", "echo"]);
    assert!(logs.contains("hello from skiff") && logs.contains("to stderr"), "{logs}");
    let stamped = node.kubectl(&["logs", "echo", "--timestamps", "--tail=1"]);
    assert_eq!(stamped.lines().count(), 1, "{stamped}");
    assert!(stamped.split_whitespace().next().is_some_and(|t| t.contains('T') && t.ends_with('Z')), "{stamped}");
    let reason = node.get("pod/echo", "{.status.containerStatuses[0].state.terminated.reason}");
    assert_eq!(reason, "Completed");
    let id = node.get("pod/echo", "{.status.containerStatuses[0].containerID}");
    assert!(id.starts_with("containerd://"), "{id}");
}

#[test]
fn an_httpd_pod_with_a_readiness_probe_becomes_ready_and_serves_at_its_pod_ip() {
    if !require_node() {
        return;
    }
    let node = NodeServer::start(&[]);
    node.apply(&pod(
        "web",
        &format!(
            "  containers:\n  - name: httpd\n    image: {IMAGE}\n    command: [sh, -c, 'mkdir -p /www && echo served-by-skiff > /www/index.html && exec httpd -f -p 8080 -h /www']\n    ports:\n    - containerPort: 8080\n    readinessProbe:\n      httpGet: {{ path: /, port: 8080 }}\n      periodSeconds: 1\n"
        ),
    ));
    node.wait_ready("web", START);
    let ip = node.get("pod/web", "{.status.podIP}");
    let body = http_get(&format!("{ip}:8080"), "/");
    assert!(body.contains("served-by-skiff"), "{body}");
    let conditions = node.get("pod/web", "{range .status.conditions[*]}{.type}={.status} {end}");
    for condition in [
        "PodReadyToStartContainers=True",
        "Initialized=True",
        "ContainersReady=True",
        "Ready=True",
        "PodScheduled=True",
    ] {
        assert!(conditions.contains(condition), "{conditions}");
    }
}

#[test]
fn a_failing_liveness_probe_restarts_the_container() {
    if !require_node() {
        return;
    }
    let node = NodeServer::start(&[]);
    node.apply(&pod(
        "live",
        &format!(
            "  containers:\n  - name: c\n    image: {IMAGE}\n    command: [sh, -c, 'touch /tmp/healthy; sleep 2; rm /tmp/healthy; sleep 600']\n    livenessProbe:\n      exec: {{ command: [cat, /tmp/healthy] }}\n      periodSeconds: 1\n      failureThreshold: 1\n"
        ),
    ));
    node.wait_for("a restart after the liveness probe fails", START, || {
        node.get("pod/live", "{.status.containerStatuses[0].restartCount}").parse::<u32>().unwrap_or(0) >= 1
    });
    let events = node.kubectl(&["get", "events", "--field-selector", "involvedObject.name=live"]);
    assert!(events.contains("Unhealthy") && events.contains("Liveness probe failed"), "{events}");
}

#[test]
fn a_crashing_container_goes_into_crash_loop_back_off() {
    if !require_node() {
        return;
    }
    let node = NodeServer::start(&[]);
    node.apply(&pod(
        "crash",
        &format!("  containers:\n  - name: c\n    image: {IMAGE}\n    command: [sh, -c, 'exit 3']\n"),
    ));
    node.wait_for("CrashLoopBackOff", START, || {
        node.get("pod/crash", "{.status.containerStatuses[0].state.waiting.reason}") == "CrashLoopBackOff"
    });
    let last = node.get("pod/crash", "{.status.containerStatuses[0].lastState.terminated.exitCode}");
    assert_eq!(last, "3");
    let table = node.kubectl(&["get", "pod", "crash"]);
    assert!(table.contains("CrashLoopBackOff") || table.contains("Error"), "{table}");
}

#[test]
fn init_containers_run_in_order_and_env_comes_from_configmaps_and_secrets() {
    if !require_node() {
        return;
    }
    let node = NodeServer::start(&[]);
    node.kubectl(&["create", "configmap", "settings", "--from-literal=colour=blue"]);
    node.kubectl(&["create", "secret", "generic", "creds", "--from-literal=password=s3cret"]);
    node.apply(&pod(
        "ordered",
        &format!(
            "  restartPolicy: Never\n  volumes:\n  - name: shared\n    emptyDir: {{}}\n  initContainers:\n  - name: first\n    image: {IMAGE}\n    command: [sh, -c, 'echo first >> /shared/order']\n    volumeMounts: [{{ name: shared, mountPath: /shared }}]\n  - name: second\n    image: {IMAGE}\n    command: [sh, -c, 'echo second >> /shared/order']\n    volumeMounts: [{{ name: shared, mountPath: /shared }}]\n  containers:\n  - name: main\n    image: {IMAGE}\n    command: [sh, -c, 'cat /shared/order; echo colour=$COLOUR password=$PASSWORD greeting=$(GREETING)']\n    env:\n    - name: COLOUR\n      valueFrom: {{ configMapKeyRef: {{ name: settings, key: colour }} }}\n    - name: PASSWORD\n      valueFrom: {{ secretKeyRef: {{ name: creds, key: password }} }}\n    - name: GREETING\n      value: hi\n    volumeMounts: [{{ name: shared, mountPath: /shared }}]\n"
        ),
    ));
    node.wait_phase("ordered", "Succeeded", START);
    let logs = node.kubectl(&["logs", "ordered"]);
    assert_eq!(logs, "first\nsecond\ncolour=blue password=s3cret greeting=hi\n");
}

#[test]
fn a_secret_volume_updates_and_an_empty_dir_is_shared_between_containers() {
    if !require_node() {
        return;
    }
    let node = NodeServer::start(&[]);
    node.kubectl(&["create", "secret", "generic", "token", "--from-literal=value=one"]);
    node.apply(&pod(
        "volumes",
        &format!(
            "  volumes:\n  - name: token\n    secret: {{ secretName: token }}\n  - name: scratch\n    emptyDir: {{}}\n  containers:\n  - name: writer\n    image: {IMAGE}\n    command: [sh, -c, 'echo written-by-writer > /scratch/note; sleep 600']\n    volumeMounts: [{{ name: scratch, mountPath: /scratch }}]\n  - name: reader\n    image: {IMAGE}\n    command: [sh, -c, 'sleep 600']\n    volumeMounts: [{{ name: scratch, mountPath: /scratch }}, {{ name: token, mountPath: /token }}]\n"
        ),
    ));
    node.wait_ready("volumes", START);
    node.wait_for("the writer's file in the reader's emptyDir", START, || {
        let out = node.server.kubectl_with(
            common::KUBECTL,
            &node.server.kubeconfig(),
            &["exec", "volumes", "-c", "reader", "--", "cat", "/scratch/note"],
        );
        String::from_utf8_lossy(&out.stdout).contains("written-by-writer")
    });
    let read = || node.kubectl(&["exec", "volumes", "-c", "reader", "--", "cat", "/token/value"]);
    assert_eq!(read(), "one");
    let patch = r#"{"data":{"value":"dHdv"}}"#;
    node.kubectl(&["patch", "secret", "token", "--type=merge", "-p", patch]);
    node.wait_for("the secret volume to show the new value", Duration::from_secs(90), || read() == "two");
}

#[test]
fn graceful_deletion_runs_the_pre_stop_hook_and_removes_the_pod() {
    if !require_node() {
        return;
    }
    let node = NodeServer::start(&[]);
    let host_dir = tempfile::tempdir().expect("host dir");
    let marker = host_dir.path().display().to_string();
    node.apply(&pod(
        "graceful",
        &format!(
            "  terminationGracePeriodSeconds: 20\n  volumes:\n  - name: host\n    hostPath: {{ path: {marker} }}\n  containers:\n  - name: c\n    image: {IMAGE}\n    command: [sh, -c, 'trap \"exit 0\" TERM; while true; do sleep 0.2; done']\n    volumeMounts: [{{ name: host, mountPath: /host }}]\n    lifecycle:\n      preStop:\n        exec: {{ command: [sh, -c, 'echo pre-stop-ran > /host/marker'] }}\n"
        ),
    ));
    node.wait_ready("graceful", START);
    node.kubectl(&["delete", "pod", "graceful", "--wait=true", "--timeout=60s"]);
    let marker = std::fs::read_to_string(host_dir.path().join("marker")).unwrap_or_default();
    assert_eq!(marker.trim(), "pre-stop-ran");
    assert_eq!(node.get("pod/graceful", "{.metadata.name}"), "");
}

/// A container that goes over its memory limit is killed and reported OOMKilled (exit code 137).
#[test]
fn a_container_over_its_memory_limit_is_reported_oom_killed() {
    if !require_node() {
        return;
    }
    let node = NodeServer::start(&[]);
    node.apply(&pod(
        "hungry",
        &format!(
            "  restartPolicy: Never\n  containers:\n  - name: eat\n    image: {IMAGE}\n    command: [sh, -c, 'a=$(head -c 100000000 /dev/zero | tr \"\\\\0\" x); echo survived']\n    resources:\n      limits: {{ memory: 16Mi }}\n"
        ),
    ));
    node.wait_phase("hungry", "Failed", START);
    let terminated = node.get("pod/hungry", "{.status.containerStatuses[0].state.terminated.reason}:{.status.containerStatuses[0].state.terminated.exitCode}");
    assert_eq!(terminated, "OOMKilled:137");
}

/// A hostPort is reachable at the node's addresses (CNI's portmap).
#[test]
fn a_host_port_reaches_the_container() {
    if !require_node() {
        return;
    }
    let node = NodeServer::start(&[]);
    let host_port = 32_000 + std::process::id() % 1000;
    node.apply(&pod(
        "hosted",
        &format!(
            "  containers:\n  - name: httpd\n    image: {IMAGE}\n    command: [sh, -c, 'mkdir -p /www && echo through-the-host-port > /www/index.html && exec httpd -f -p 8080 -h /www']\n    ports:\n    - containerPort: 8080\n      hostPort: {host_port}\n    readinessProbe:\n      tcpSocket: {{ port: 8080 }}\n      periodSeconds: 1\n"
        ),
    ));
    node.wait_ready("hosted", START);
    let host_ip = node.get("pod/hosted", "{.status.hostIP}");
    let body = http_get(&format!("{host_ip}:{host_port}"), "/");
    assert!(body.contains("through-the-host-port"), "{body}");
}

/// A plain HTTP/1.0 GET to a pod address this test's cluster gave out.
fn http_get(address: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).expect("connect to the pod");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: pod\r\n\r\n").expect("send");
    let mut body = String::new();
    let _ = stream.read_to_string(&mut body);
    body
}
