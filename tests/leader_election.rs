//! Two `skiff server`s on one real etcd: one of them holds the scheduler's
//! and the controller manager's Leases and runs them; when it stops, the
//! other takes over (its controllers then do the work).

mod common;

use std::time::{Duration, Instant};

use common::{Server, require_kubectl};
use skiff_store::testing::{EtcdServer, require_etcd};

fn holder(server: &Server, lease: &str) -> String {
    server.kubectl(&["get", "lease", "-n", "kube-system", lease, "-o", "jsonpath={.spec.holderIdentity}"])
}

/// Polls `check` until it gives `Some`, for at most 30 s.
fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn servers_on_one_etcd_elect_one_leader_and_hand_over() {
    if !require_etcd() || !require_kubectl() {
        return;
    }
    let etcd = EtcdServer::start().expect("start etcd");
    let endpoint = etcd.endpoint();
    let first = Server::start(&["--datastore-endpoint", &endpoint]);
    let leader = wait_for("a controller-manager leader", || {
        Some(holder(&first, "kube-controller-manager")).filter(|h| !h.is_empty())
    });
    let second = Server::start(&["--datastore-endpoint", &endpoint]);
    // Both servers see the same leader for both leases: the first server.
    let scheduler =
        wait_for("a scheduler leader", || Some(holder(&second, "kube-scheduler")).filter(|h| !h.is_empty()));
    assert_eq!(scheduler, leader, "one server leads both");
    assert_eq!(holder(&second, "kube-controller-manager"), leader);
    let id = std::fs::read_to_string(first.dir().join("server").join("identity")).expect("the first server's identity");
    assert!(leader.ends_with(id.trim()), "{leader} is the first server ({id})");

    // The leader stops cleanly: it gives the leases up and the second server leads.
    assert!(first.terminate().0.success());
    let next = wait_for("the second server leading", || {
        Some(holder(&second, "kube-controller-manager")).filter(|h| !h.is_empty() && *h != leader)
    });
    let id =
        std::fs::read_to_string(second.dir().join("server").join("identity")).expect("the second server's identity");
    assert!(next.ends_with(id.trim()), "{next} is the second server");
    // Its controllers run: a new namespace gets its default service account.
    second.kubectl(&["create", "namespace", "handed-over"]);
    wait_for("the default service account", || {
        let accounts = second.kubectl(&["get", "serviceaccounts", "-n", "handed-over", "-o", "name"]);
        accounts.contains("serviceaccount/default").then_some(())
    });
    assert!(second.terminate().0.success());
}
