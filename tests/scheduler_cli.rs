//! `skiff scheduler` on its own schedules for a server that runs none
//! (as kube-scheduler would for a kube-apiserver), and stops on SIGTERM.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Server, require_kubectl};

/// Kills the child process when dropped (a failed assertion must not leave it running).
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(server: &Server, what: &str, jsonpath: &str, want: &str) {
    let started = Instant::now();
    loop {
        let got = server.kubectl(&["get", "pod", "p", "-o", &format!("jsonpath={jsonpath}")]);
        if got == want {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{what}: {jsonpath} is {got:?}, not {want:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_separate_scheduler_binds_pods_for_a_server_without_one() {
    if !require_kubectl() {
        return;
    }
    let server = Server::start(&["--disable-scheduler", "--simulated-nodes", "1"]);
    server.kubectl(&["run", "p", "--image=busybox", "--restart=Never"]);
    // Without a scheduler the pod stays unassigned, with no PodScheduled condition.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(server.kubectl(&["get", "pod", "p", "-o", "jsonpath={.spec.nodeName}{.status.conditions}"]), "");

    let scheduler = Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(["scheduler", "--kubeconfig"])
        .arg(server.kubeconfig())
        .stdout(Stdio::null())
        .spawn()
        .expect("start skiff scheduler");
    let mut scheduler = Child(scheduler);
    wait_for(&server, "the pod is bound", "{.spec.nodeName}", "skiff-sim-0");
    wait_for(&server, "the pod runs", "{.status.phase}", "Running");

    let pid = scheduler.0.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
    assert!(status.success());
    let started = Instant::now();
    loop {
        if let Some(exit) = scheduler.0.try_wait().expect("wait") {
            assert!(exit.success(), "skiff scheduler exits cleanly on SIGTERM: {exit:?}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "skiff scheduler did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}
