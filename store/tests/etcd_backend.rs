//! The etcd backend against a real etcd: each test starts its own.

#![allow(clippy::unwrap_used)] // a failed unwrap in a test is the failure report

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use skiff_store::testing::{EtcdServer, require_etcd};
use skiff_store::{Backend, Error, EtcdBackend, EtcdConfig, Event, EventKind, Outcome, RangeRequest, WatchStream};

async fn start() -> (EtcdServer, EtcdBackend) {
    let server = EtcdServer::start().expect("etcd starts");
    let backend = EtcdBackend::connect(EtcdConfig::new([server.endpoint()])).await.expect("the backend connects");
    (server, backend)
}

fn value(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

async fn next_event(stream: &mut WatchStream, within: Duration) -> Event {
    tokio::time::timeout(within, stream.next())
        .await
        .expect("an event arrives in time")
        .expect("the watch goes on")
        .expect("the event is not an error")
}

#[tokio::test]
async fn create_get_update_and_delete_round_trip_with_revisions() {
    if !require_etcd() {
        return;
    }
    let (_etcd, store) = start().await;
    let key = "/registry/pods/default/web";
    let start = store.current_revision().await.unwrap();

    let created = store.create(key, value("v1"), None).await.unwrap().applied().unwrap();
    assert!(created > start);
    let kv = store.get(key, None).await.unwrap().expect("the key exists");
    assert_eq!((kv.value, kv.create_revision, kv.mod_revision), (value("v1"), created, created));
    assert_eq!((kv.version, kv.lease), (1, None));

    let Outcome::Conflict { current } = store.create(key, value("again"), None).await.unwrap() else {
        panic!("creating an existing key must conflict");
    };
    assert_eq!(current.expect("the current value").mod_revision, created);

    let updated = store.update(key, value("v2"), created, None).await.unwrap().applied().unwrap();
    assert!(updated > created);
    assert_eq!(store.current_revision().await.unwrap(), updated);

    let Outcome::Conflict { current } = store.update(key, value("stale"), created, None).await.unwrap() else {
        panic!("a stale update must conflict");
    };
    let current = current.expect("the current value");
    assert_eq!((current.value, current.mod_revision, current.version), (value("v2"), updated, 2));

    let old = store.get(key, Some(created)).await.unwrap().expect("the old version");
    assert_eq!(old.value, value("v1"));

    let Outcome::Conflict { current } = store.delete(key, Some(created)).await.unwrap() else {
        panic!("a stale delete must conflict");
    };
    assert_eq!(current.expect("the current value").mod_revision, updated);

    let (deleted_at, deleted) = store.delete(key, Some(updated)).await.unwrap().applied().unwrap();
    assert!(deleted_at > updated);
    assert_eq!((deleted.value, deleted.mod_revision), (value("v2"), updated));
    assert_eq!(store.get(key, None).await.unwrap(), None);

    let missing = Outcome::Conflict { current: None };
    assert_eq!(store.delete(key, None).await.unwrap(), missing);
    let missing = Outcome::Conflict { current: None };
    assert_eq!(store.update(key, value("x"), 0, None).await.unwrap(), missing);
    assert_eq!(store.update(key, value("x"), updated, None).await.unwrap(), missing);

    let future = store.get(key, Some(deleted_at + 100)).await.unwrap_err();
    assert!(
        matches!(future, Error::FutureRevision { requested, current }
            if requested == deleted_at + 100 && current == deleted_at),
        "{future:?}"
    );
}

#[tokio::test]
async fn a_key_written_through_the_backend_is_readable_with_etcdctl() {
    if !require_etcd() {
        return;
    }
    let (etcd, store) = start().await;
    let key = "/registry/pods/default/x";
    let pod = r#"{"kind":"Pod","metadata":{"name":"x"}}"#;
    store.create(key, value(pod), None).await.unwrap().applied().unwrap();

    let output = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args(["--endpoints", &etcd.endpoint(), "get", key, "--print-value-only"])
        .output()
        .expect("etcdctl runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim_end(), pod);

    let output = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args(["--endpoints", &etcd.endpoint(), "put", "/registry/pods/default/y", "from-etcdctl"])
        .output()
        .expect("etcdctl runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let kv = store.get("/registry/pods/default/y", None).await.unwrap().expect("the key exists");
    assert_eq!(kv.value, value("from-etcdctl"));
}

#[tokio::test]
async fn range_pages_stay_consistent_at_the_revision_of_the_first_page() {
    if !require_etcd() {
        return;
    }
    let (_etcd, store) = start().await;
    for name in ["a", "b", "c", "d", "e"] {
        let key = format!("/registry/pods/default/{name}");
        store.create(&key, value(name), None).await.unwrap().applied().unwrap();
    }
    store.create("/registry/pods0", value("outside"), None).await.unwrap().applied().unwrap();

    let prefix = "/registry/pods/";
    let first = store.range(RangeRequest::prefix(prefix).limit(2)).await.unwrap();
    let names = |page: &skiff_store::RangeResponse| -> Vec<String> {
        page.kvs.iter().map(|kv| kv.key.rsplit('/').next().unwrap_or_default().to_owned()).collect()
    };
    assert_eq!(names(&first), ["a", "b"]);
    assert!(first.more);
    assert_eq!(first.count, 5);

    store.create("/registry/pods/default/bb", value("late"), None).await.unwrap().applied().unwrap();
    let after_b = format!("{}\0", first.kvs[1].key);
    let second = RangeRequest::prefix(prefix).start(after_b).limit(2).at(first.revision);
    let second = store.range(second).await.unwrap();
    assert_eq!(names(&second), ["c", "d"]);
    assert_eq!(second.revision, first.revision);
    let third = RangeRequest::prefix(prefix).start(format!("{}\0", second.kvs[1].key));
    let third = store.range(third.at(first.revision)).await.unwrap();
    assert_eq!(names(&third), ["e"]);
    assert!(!third.more);

    assert_eq!(store.count(prefix).await.unwrap(), 6);
    assert_eq!(store.range(RangeRequest::prefix("")).await.unwrap().count, 7);
}

#[tokio::test]
async fn a_watch_from_an_old_revision_replays_history_then_continues_live() {
    if !require_etcd() {
        return;
    }
    let (_etcd, store) = start().await;
    let a = "/registry/pods/default/a";
    let b = "/registry/pods/default/b";
    let r1 = store.create(a, value("a1"), None).await.unwrap().applied().unwrap();
    let r2 = store.update(a, value("a2"), r1, None).await.unwrap().applied().unwrap();
    store.create("/registry/services/default/s", value("s"), None).await.unwrap().applied().unwrap();
    let r4 = store.create(b, value("b1"), None).await.unwrap().applied().unwrap();
    let (r5, _) = store.delete(a, None).await.unwrap().applied().unwrap();

    let mut watch = store.watch("/registry/pods/", r1 - 1).await.unwrap();
    let wait = Duration::from_secs(10);
    let e = next_event(&mut watch, wait).await;
    assert_eq!((e.kind, e.kv.key.as_str(), e.revision(), e.prev), (EventKind::Put, a, r1, None));
    let e = next_event(&mut watch, wait).await;
    assert_eq!((e.kind, e.revision(), e.kv.value.clone()), (EventKind::Put, r2, value("a2")));
    assert_eq!(e.prev.expect("a previous value").value, value("a1"));
    let e = next_event(&mut watch, wait).await;
    assert_eq!((e.kind, e.kv.key.as_str(), e.revision()), (EventKind::Put, b, r4));
    let e = next_event(&mut watch, wait).await;
    assert_eq!((e.kind, e.kv.key.as_str(), e.revision()), (EventKind::Delete, a, r5));
    assert!(e.kv.value.is_empty());
    let prev = e.prev.expect("a delete carries the deleted value");
    assert_eq!((prev.value, prev.mod_revision), (value("a2"), r2));

    let r6 = store.update(b, value("b2"), r4, None).await.unwrap().applied().unwrap();
    let e = next_event(&mut watch, wait).await;
    assert_eq!((e.kind, e.kv.key.as_str(), e.revision()), (EventKind::Put, b, r6));
    assert_eq!(e.prev.expect("a previous value").value, value("b1"));

    let mut from_now = store.watch("/registry/pods/", r6).await.unwrap();
    let (r7, _) = store.delete(b, Some(r6)).await.unwrap().applied().unwrap();
    assert_eq!(next_event(&mut from_now, wait).await.revision(), r7);
    assert_eq!(next_event(&mut watch, wait).await.revision(), r7);
}

/// etcd's count of open watchers, from its Prometheus metrics.
fn etcd_watchers(etcd: &EtcdServer) -> u64 {
    let endpoint = etcd.endpoint();
    let addr = endpoint.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("etcd accepts");
    write!(stream, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").expect("the request is sent");
    let mut metrics = String::new();
    stream.read_to_string(&mut metrics).expect("etcd answers");
    let gauge = metrics.lines().find_map(|l| l.strip_prefix("etcd_debugging_mvcc_watcher_total "));
    gauge.expect("the watcher gauge").trim().parse().expect("a count")
}

#[tokio::test]
async fn dropping_a_watch_stream_cancels_the_watch_in_etcd() {
    if !require_etcd() {
        return;
    }
    let (etcd, store) = start().await;
    let pods = store.watch("/registry/pods/", 0).await.unwrap();
    let nodes = store.watch("/registry/nodes/", 0).await.unwrap();
    assert_eq!(etcd_watchers(&etcd), 2);
    drop(pods);
    drop(nodes);
    let deadline = Instant::now() + Duration::from_secs(10);
    while etcd_watchers(&etcd) != 0 {
        assert!(Instant::now() < deadline, "etcd still has {} watchers", etcd_watchers(&etcd));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn reads_and_watches_before_the_compacted_revision_fail_with_compacted() {
    if !require_etcd() {
        return;
    }
    let (_etcd, store) = start().await;
    let key = "/registry/pods/default/c";
    assert_eq!(store.compacted_revision().await.unwrap(), 0);
    let r1 = store.create(key, value("1"), None).await.unwrap().applied().unwrap();
    let r2 = store.update(key, value("2"), r1, None).await.unwrap().applied().unwrap();
    let r3 = store.update(key, value("3"), r2, None).await.unwrap().applied().unwrap();

    store.compact(r3).await.unwrap();
    assert_eq!(store.compacted_revision().await.unwrap(), r3);
    store.compact(r2).await.expect("compacting an older revision again is a no-op");
    assert_eq!(store.compacted_revision().await.unwrap(), r3);

    let err = store.get(key, Some(r1)).await.unwrap_err();
    assert!(matches!(err, Error::Compacted { requested, compacted } if requested == r1 && compacted == r3), "{err:?}");
    let err = store.range(RangeRequest::prefix("/registry/").at(r2)).await.unwrap_err();
    assert!(matches!(err, Error::Compacted { compacted, .. } if compacted == r3), "{err:?}");
    let kv = store.get(key, Some(r3)).await.unwrap().expect("the compacted revision is readable");
    assert_eq!(kv.value, value("3"));

    let err = store.watch("/registry/pods/", r1).await.err().expect("the watch fails");
    assert!(
        matches!(err, Error::Compacted { requested, compacted } if requested == r1 + 1 && compacted == r3),
        "{err:?}"
    );
    let mut watch = store.watch("/registry/pods/", r3 - 1).await.expect("watching from r3 works");
    assert_eq!(next_event(&mut watch, Duration::from_secs(10)).await.revision(), r3);
}

#[tokio::test]
async fn connecting_to_an_unused_port_fails_with_etcd_unreachable_in_bounded_time() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("its address").port()
    };
    let endpoint = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let err = EtcdBackend::connect(EtcdConfig::new([endpoint.clone()])).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    assert!(matches!(err, Error::EtcdUnreachable { attempts: 5, .. }), "{err:?}");
    assert!(err.to_string().contains(&endpoint), "{err}");
}

#[tokio::test]
async fn writes_and_revokes_with_an_unknown_lease_fail_with_lease_not_found() {
    if !require_etcd() {
        return;
    }
    let (_etcd, store) = start().await;
    let err = store.create("/registry/leases/x", value("x"), Some(4242)).await.unwrap_err();
    assert!(matches!(err, Error::LeaseNotFound(4242)), "{err:?}");
    let err = store.revoke_lease(4242).await.unwrap_err();
    assert!(matches!(err, Error::LeaseNotFound(4242)), "{err:?}");

    let lease = store.grant_lease(Duration::from_secs(60)).await.unwrap();
    let created = store.create("/registry/leases/y", value("y"), Some(lease)).await.unwrap();
    let created = created.applied().unwrap();
    let kv = store.get("/registry/leases/y", None).await.unwrap().expect("the key exists");
    assert_eq!(kv.lease, Some(lease));
    let mut watch = store.watch("/registry/leases/", created).await.unwrap();
    store.revoke_lease(lease).await.unwrap();
    let e = next_event(&mut watch, Duration::from_secs(10)).await;
    assert_eq!((e.kind, e.kv.key.as_str()), (EventKind::Delete, "/registry/leases/y"));
}

#[tokio::test]
async fn a_key_on_an_expired_lease_is_deleted_with_a_watch_event() {
    if !require_etcd() {
        return;
    }
    let (_etcd, store) = start().await;
    let key = "/registry/events/default/e";
    let lease = store.grant_lease(Duration::from_millis(300)).await.unwrap();
    let created = store.create(key, value("e"), Some(lease)).await.unwrap().applied().unwrap();
    let mut watch = store.watch("/registry/events/", created).await.unwrap();

    let e = next_event(&mut watch, Duration::from_secs(15)).await;
    assert_eq!((e.kind, e.kv.key.as_str()), (EventKind::Delete, key));
    assert_eq!(e.prev.expect("the expired value").lease, Some(lease));
    assert_eq!(store.get(key, None).await.unwrap(), None);
    let err = store.revoke_lease(lease).await.unwrap_err();
    assert!(matches!(err, Error::LeaseNotFound(id) if id == lease), "{err:?}");
}
