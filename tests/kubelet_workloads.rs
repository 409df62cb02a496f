//! Real workloads on `skiff server`'s node agent: exec (with a terminal too),
//! attach, cp and port-forward through kubectl (WebSocket and SPDY kubectls), a Deployment and a Job,
//! images dropped into the images directory, and containerd being killed.
//! Needs root, containerd and runc (see `require_node`).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::KUBECTL;
use common::node::{NodeServer, require_node};
use common::terminal::Terminal;

const IMAGE: &str = skiff_kubelet::testing::BUSYBOX_IMAGE;
const START: Duration = Duration::from_secs(60);
/// The newest kubectl that speaks SPDY for exec and port-forward.
const KUBECTL_SPDY: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.27";

fn web_pod(node: &NodeServer, name: &str) {
    node.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  containers:\n  - name: httpd\n    image: {IMAGE}\n    command: [sh, -c, 'mkdir -p /www && echo port-forwarded > /www/index.html && exec httpd -f -p 8080 -h /www']\n    readinessProbe:\n      tcpSocket: {{ port: 8080 }}\n      periodSeconds: 1\n"
    ));
    node.wait_ready(name, START);
}

#[test]
fn exec_cp_and_port_forward_work_with_websocket_and_spdy_kubectls() {
    if !require_node() {
        return;
    }
    let node = NodeServer::start(&[]);
    web_pod(&node, "web");
    for kubectl in [KUBECTL, KUBECTL_SPDY] {
        let out = node.kubectl_version(kubectl, &["exec", "web", "--", "sh", "-c", "echo out; echo err >&2"]);
        assert_eq!(out, "out\n", "{kubectl}");
        let (ok, _, err) = node.kubectl_stdin(kubectl, &["exec", "web", "--", "sh", "-c", "exit 7"], b"");
        assert!(!ok && err.contains("command terminated with exit code 7"), "{kubectl}: {err}");
        let (ok, out, err) = node.kubectl_stdin(kubectl, &["exec", "-i", "web", "--", "cat"], b"through stdin\n");
        assert!(ok, "{kubectl}: {err}");
        assert_eq!(out, "through stdin\n", "{kubectl}");

        // kubectl cp both ways (tar through exec's stdin/stdout).
        let local = tempfile::tempdir().expect("temp dir");
        let upload = local.path().join("upload.txt");
        std::fs::write(&upload, "copied in\n").expect("write");
        let target = format!("web:/tmp/upload-{}.txt", kubectl.len());
        node.kubectl_version(kubectl, &["cp", &upload.display().to_string(), &target]);
        let inside = node.kubectl_version(kubectl, &["exec", "web", "--", "cat", target.trim_start_matches("web:")]);
        assert_eq!(inside, "copied in\n", "{kubectl}");
        let download = local.path().join("download.txt");
        node.kubectl_version(kubectl, &["cp", &target, &download.display().to_string()]);
        assert_eq!(std::fs::read_to_string(&download).unwrap_or_default(), "copied in\n", "{kubectl}");

        port_forward(&node, kubectl);
    }
}

/// `kubectl exec -it` and `kubectl attach -it` on a pty, and `kubectl attach -i` with piped stdin.
#[test]
fn exec_and_attach_with_a_terminal_work_with_websocket_and_spdy_kubectls() {
    if !require_node() {
        return;
    }
    let node = NodeServer::start(&[]);
    let kubeconfig = node.server.kubeconfig();
    let kubectl_on_terminal = |kubectl: &str, args: &[&str]| {
        let mut command = Command::new(kubectl);
        command.env("KUBECONFIG", &kubeconfig).args(args);
        Terminal::spawn(&mut command)
    };
    for (n, kubectl) in [KUBECTL, KUBECTL_SPDY].into_iter().enumerate() {
        // An interactive shell with a terminal: what is typed runs, `tty` names a pts.
        let (shell, cat) = (format!("shell-{n}"), format!("cat-{n}"));
        node.apply(&format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {shell}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: sh\n    image: {IMAGE}\n    command: [sh]\n    stdin: true\n    tty: true\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: {cat}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: cat\n    image: {IMAGE}\n    command: [cat]\n    stdin: true\n    stdinOnce: true\n"
        ));
        node.wait_phase(&shell, "Running", START);
        let mut exec = kubectl_on_terminal(kubectl, &["exec", "-it", &shell, "--", "sh"]);
        exec.send("tty; echo exec-$((20 + 22))\r");
        let shown = exec.expect("exec-42", START).to_owned();
        assert!(shown.contains("/dev/pts/"), "{kubectl}: the exec has a terminal: {shown:?}");
        exec.send("exit 3\r");
        assert_eq!(exec.wait(START).code(), Some(3), "{kubectl}: exec -it ends with the shell's code");

        // Attached to the container's own shell (its stdin and terminal).
        let mut attach = kubectl_on_terminal(kubectl, &["attach", "-it", &shell, "-c", "sh"]);
        attach.expect("If you don't see a command prompt", START);
        attach.send("echo attach-$((40 + 2))\r");
        attach.expect("attach-42", START);
        attach.send("exit\r");
        attach.wait(START);
        node.wait_phase(&shell, "Succeeded", START);

        // Without a terminal: stdin reaches the container and, with stdinOnce, closing it ends cat.
        node.wait_phase(&cat, "Running", START);
        let (ok, out, err) = node.kubectl_stdin(kubectl, &["attach", "-i", &cat], b"attached through stdin\n");
        assert!(ok, "{kubectl}: {err}");
        assert!(out.contains("attached through stdin"), "{kubectl}: {out:?} {err:?}");
        node.wait_phase(&cat, "Succeeded", START);
    }
}

/// `kubectl port-forward pod/web :8080`, then an HTTP GET through the local port.
fn port_forward(node: &NodeServer, kubectl: &str) {
    let kubeconfig = node.server.kubeconfig();
    let mut child = Command::new(kubectl)
        .env("KUBECONFIG", &kubeconfig)
        .args(["port-forward", "pod/web", ":8080", "--address", "127.0.0.1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl port-forward");
    // Kept open: kubectl prints "Handling connection" for each connection and must not get EPIPE.
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    let _ = stdout.read_line(&mut line);
    // "Forwarding from 127.0.0.1:PORT -> 8080"
    let port = line.split("127.0.0.1:").nth(1).and_then(|rest| rest.split_whitespace().next()).map(str::to_owned);
    let result = port.map(|port| {
        let mut stream =
            std::net::TcpStream::connect(format!("127.0.0.1:{port}")).expect("connect to the forwarded port");
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        stream.write_all(b"GET / HTTP/1.0\r\n\r\n").expect("send");
        let mut body = String::new();
        let _ = stream.read_to_string(&mut body);
        body
    });
    let _ = child.kill();
    let mut stderr = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut stderr);
    }
    let _ = child.wait();
    let body = result.unwrap_or_else(|| panic!("{kubectl} port-forward printed {line:?}: {stderr}"));
    assert!(body.contains("port-forwarded"), "{kubectl}: {body:?}; kubectl said: {stderr}");
}

#[test]
fn a_deployment_of_three_replicas_becomes_available_and_a_job_completes() {
    if !require_node() {
        return;
    }
    let node = NodeServer::start(&[]);
    node.kubectl(&["create", "deployment", "web", &format!("--image={IMAGE}"), "--replicas=3", "--", "sleep", "3600"]);
    node.kubectl(&["rollout", "status", "deployment/web", "--timeout=120s"]);
    assert_eq!(node.get("deployment/web", "{.status.availableReplicas}"), "3");
    node.kubectl(&["create", "job", "once", &format!("--image={IMAGE}"), "--", "sh", "-c", "echo job done"]);
    node.kubectl(&["wait", "--for=condition=complete", "job/once", "--timeout=120s"]);
    let logs = node.kubectl(&["logs", "job/once"]);
    assert_eq!(logs, "job done\n");
}

/// `--container-runtime-endpoint`: the agent uses a containerd it did not start (here one the test
/// starts, with its own CNI bridge) and imports the images dir into it; pods get its bridge's IPs.
#[test]
fn an_existing_containerd_is_used_through_the_container_runtime_endpoint() {
    if !require_node() {
        return;
    }
    // Dropped last: the containerd's supervisor runs on it.
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let Some(containerd) = runtime.block_on(skiff_kubelet::testing::TestContainerd::start()) else { return };
    let endpoint = format!("unix://{}", containerd.socket().display());
    let node = NodeServer::start(&["--container-runtime-endpoint", &endpoint]);
    node.kubectl(&["run", "external", &format!("--image={IMAGE}"), "--restart=Never", "--", "sleep", "600"]);
    node.wait_phase("external", "Running", START);
    let pod_ip: std::net::Ipv4Addr = node.get("pod/external", "{.status.podIP}").parse().expect("a pod IP");
    let (network, bits) = containerd.cidr().split_once('/').expect("a CIDR");
    let network: std::net::Ipv4Addr = network.parse().expect("an address");
    let mask = u32::MAX << (32 - bits.parse::<u32>().expect("a prefix length"));
    assert_eq!(u32::from(pod_ip) & mask, u32::from(network), "{pod_ip} is on the existing containerd's bridge");
    let listed = runtime
        .block_on(skiff_kubelet::runtime::Runtime::list_pod_sandboxes(containerd.runtime().as_ref(), None))
        .expect("list the sandboxes");
    let names: Vec<String> = listed.iter().filter_map(|s| s.metadata.as_ref().map(|m| m.name.clone())).collect();
    assert!(names.contains(&"external".to_owned()), "the existing containerd runs the pod: {names:?}");
    assert!(!node.data_dir().join("agent").join("containerd").exists(), "skiff started no containerd of its own");
    drop(node);
    drop(containerd);
}

#[test]
fn an_image_dropped_into_the_images_dir_becomes_usable() {
    if !require_node() {
        return;
    }
    let node = NodeServer::start(&[]);
    let images = node.data_dir().join("agent").join("images");
    let name = "localhost/skiff-test/dropped:1.0";
    skiff_kubelet::testing::busybox_image_tar_named(images.join("dropped.tar"), name).expect("image tarball");
    node.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: dropped\nspec:\n  restartPolicy: Never\n  containers:\n  - name: c\n    image: {name}\n    imagePullPolicy: Never\n    command: [echo, from the dropped image]\n"
    ));
    node.wait_phase("dropped", "Succeeded", Duration::from_secs(90));
    assert_eq!(node.kubectl(&["logs", "dropped"]), "from the dropped image\n");
    let missing = "localhost/skiff-test/missing:1.0";
    node.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: missing\nspec:\n  containers:\n  - name: c\n    image: {missing}\n"
    ));
    node.wait_for("ErrImagePull or ImagePullBackOff", START, || {
        matches!(
            node.get("pod/missing", "{.status.containerStatuses[0].state.waiting.reason}").as_str(),
            "ErrImagePull" | "ImagePullBackOff"
        )
    });
}

#[test]
fn killing_containerd_keeps_running_pods_and_the_kubelet_recovers() {
    if !require_node() {
        return;
    }
    let node = NodeServer::start(&[]);
    web_pod(&node, "survivor");
    let id = node.get("pod/survivor", "{.status.containerStatuses[0].containerID}");
    let socket = node.data_dir().join("agent").join("containerd");
    let pids = String::from_utf8_lossy(
        &Command::new("pgrep")
            .args(["-f", &format!("containerd --config {}", socket.display())])
            .output()
            .expect("pgrep")
            .stdout,
    )
    .into_owned();
    let pid = pids.split_whitespace().next().expect("containerd's pid").to_owned();
    Command::new("kill").args(["-KILL", &pid]).status().expect("kill containerd");
    // The pod keeps its status while containerd is away and after it is back.
    node.wait_for("containerd to be restarted", START, || {
        let now = String::from_utf8_lossy(
            &Command::new("pgrep")
                .args(["-f", &format!("containerd --config {}", socket.display())])
                .output()
                .expect("pgrep")
                .stdout,
        )
        .into_owned();
        now.split_whitespace().next().is_some_and(|p| p != pid)
    });
    assert_eq!(node.get("pod/survivor", "{.status.phase}"), "Running");
    // The kubelet talks to the new containerd: a new pod runs, and the old one is still the same container.
    node.kubectl(&["run", "after", &format!("--image={IMAGE}"), "--restart=Never", "--", "echo", "after the restart"]);
    node.wait_phase("after", "Succeeded", START);
    assert_eq!(node.get("pod/survivor", "{.status.containerStatuses[0].containerID}"), id);
    assert_eq!(node.get("pod/survivor", "{.status.containerStatuses[0].restartCount}"), "0");
    assert_eq!(node.kubectl(&["exec", "survivor", "--", "echo", "alive"]), "alive\n");
}
