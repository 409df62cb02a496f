//! The tests every backend must pass; each takes a fresh, empty backend.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use skiff_store::{Backend, Error, Event, EventKind, KeyValue, Outcome, RangeRequest, Revision, WatchStream};
use tokio::time::{Instant, timeout};

const PREFIX: &str = "/registry/suite/";
const WAIT: Duration = Duration::from_secs(20);

fn key(name: &str) -> String {
    format!("{PREFIX}{name}")
}

fn bytes(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

async fn create(b: &dyn Backend, name: &str, value: &str) -> Revision {
    b.create(&key(name), bytes(value), None).await.expect("create").applied().expect("created, not a conflict")
}

async fn update(b: &dyn Backend, name: &str, value: &str, expected: Revision) -> Revision {
    b.update(&key(name), bytes(value), expected, None).await.expect("update").applied().expect("updated")
}

async fn delete(b: &dyn Backend, name: &str) -> (Revision, KeyValue) {
    b.delete(&key(name), None).await.expect("delete").applied().expect("deleted")
}

/// The next `n` events of a watch, failing the test after a deadline.
async fn next_events(watch: &mut WatchStream, n: usize) -> Vec<Event> {
    let mut events = Vec::with_capacity(n);
    while events.len() < n {
        match timeout(WAIT, watch.next()).await {
            Ok(Some(Ok(event))) => events.push(event),
            Ok(Some(Err(err))) => panic!("watch failed after {} events: {err}", events.len()),
            Ok(None) => panic!("watch ended after {} events", events.len()),
            Err(_) => panic!("only {} of {n} events arrived within {WAIT:?}", events.len()),
        }
    }
    events
}

/// Asserts that a watch delivers nothing more for a moment (used only after
/// the expected events, to catch extra ones; not as synchronisation).
async fn assert_quiet(watch: &mut WatchStream) {
    if let Ok(Some(extra)) = timeout(Duration::from_millis(200), watch.next()).await {
        panic!("unexpected extra watch item: {extra:?}");
    }
}

fn value_of(kv: &KeyValue) -> &str {
    std::str::from_utf8(&kv.value).expect("utf-8 value")
}

pub async fn revisions_strictly_increase_with_no_gap(b: &dyn Backend) {
    let start = b.current_revision().await.expect("revision");
    let mut watch = b.watch(PREFIX, start).await.expect("watch");
    let mut revisions = vec![create(b, "a", "1").await, create(b, "b", "1").await];
    revisions.push(update(b, "a", "2", revisions[0]).await);
    revisions.push(delete(b, "b").await.0);
    revisions.push(create(b, "b", "again").await);
    for (i, rev) in revisions.iter().enumerate() {
        assert_eq!(*rev, start + 1 + i as i64, "revisions {revisions:?} have a gap or repeat");
    }
    assert_eq!(b.current_revision().await.expect("revision"), *revisions.last().expect("some"));
    let seen: Vec<Revision> = next_events(&mut watch, revisions.len()).await.iter().map(Event::revision).collect();
    assert_eq!(seen, revisions, "the watch saw every revision once, in order");

    let a = b.get(&key("a"), None).await.expect("get").expect("a exists");
    assert_eq!((a.create_revision, a.mod_revision, a.version), (revisions[0], revisions[2], 2));
    let again = b.get(&key("b"), None).await.expect("get").expect("b exists");
    assert_eq!(
        (again.create_revision, again.version),
        (revisions[4], 1),
        "a delete resets create revision and version"
    );
}

pub async fn compare_and_swap_conflicts_carry_the_current_value(b: &dyn Backend) {
    let r1 = create(b, "k", "one").await;
    let Outcome::Conflict { current: Some(current) } = b.create(&key("k"), bytes("two"), None).await.expect("create")
    else {
        panic!("creating an existing key must conflict with its current value")
    };
    assert_eq!((value_of(&current), current.mod_revision), ("one", r1));

    let r2 = update(b, "k", "two", r1).await;
    match b.update(&key("k"), bytes("stale"), r1, None).await.expect("update") {
        Outcome::Conflict { current: Some(current) } => {
            assert_eq!((value_of(&current), current.mod_revision), ("two", r2))
        }
        other => panic!("a stale update must conflict, got {other:?}"),
    }
    match b.delete(&key("k"), Some(r1)).await.expect("delete") {
        Outcome::Conflict { current: Some(current) } => assert_eq!(current.mod_revision, r2),
        other => panic!("a stale delete must conflict, got {other:?}"),
    }
    assert_eq!(
        b.update(&key("missing"), bytes("x"), 1, None).await.expect("update"),
        Outcome::Conflict { current: None }
    );
    assert_eq!(b.delete(&key("missing"), None).await.expect("delete"), Outcome::Conflict { current: None });
    assert_eq!(b.current_revision().await.expect("revision"), r2, "conflicts write nothing");
    let (deleted_at, deleted) = b.delete(&key("k"), Some(r2)).await.expect("delete").applied().expect("deleted");
    assert_eq!((deleted_at, value_of(&deleted)), (r2 + 1, "two"));
}

pub async fn get_at_a_past_revision_returns_the_version_of_then(b: &dyn Backend) {
    let r1 = create(b, "k", "v1").await;
    let r2 = update(b, "k", "v2", r1).await;
    let (r3, _) = delete(b, "k").await;
    let at = |rev| async move { b.get(&key("k"), Some(rev)).await.expect("get") };
    assert_eq!(at(r1).await.map(|kv| value_of(&kv).to_owned()).as_deref(), Some("v1"));
    assert_eq!(at(r2).await.map(|kv| value_of(&kv).to_owned()).as_deref(), Some("v2"));
    assert_eq!(at(r3).await, None);
    assert_eq!(b.get(&key("k"), None).await.expect("get"), None);
    match b.get(&key("k"), Some(r3 + 100)).await {
        Err(Error::FutureRevision { requested, .. }) => assert_eq!(requested, r3 + 100),
        other => panic!("a future revision must be refused, got {other:?}"),
    }
}

pub async fn range_pages_report_more_and_count(b: &dyn Backend) {
    for i in 0..25 {
        create(b, &format!("item-{i:02}"), "x").await;
    }
    b.create("/registry/suitf/outside", bytes("x"), None).await.expect("create").applied().expect("created");
    let page = b.range(RangeRequest::prefix(PREFIX).limit(10)).await.expect("range");
    assert_eq!((page.kvs.len(), page.more, page.count), (10, true, 25));
    assert_eq!(page.kvs[0].key, key("item-00"));
    let last = b.range(RangeRequest::prefix(PREFIX).start(key("item-20")).limit(10)).await.expect("range");
    assert_eq!((last.kvs.len(), last.more, last.count), (5, false, 5));
    let all = b.range(RangeRequest::prefix(PREFIX)).await.expect("range");
    assert_eq!((all.kvs.len(), all.more), (25, false));
    let keys: Vec<&str> = all.kvs.iter().map(|kv| kv.key.as_str()).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "ranges are in key order");
    assert_eq!(b.count(PREFIX).await.expect("count"), 25);
}

pub async fn paging_at_a_fixed_revision_is_consistent_while_writes_continue(b: &dyn Backend) {
    let mut snapshot = BTreeMap::new();
    for i in 0..60 {
        let name = format!("p-{i:03}");
        create(b, &name, &format!("v{i}")).await;
        snapshot.insert(key(&name), format!("v{i}"));
    }
    let first = b.range(RangeRequest::prefix(PREFIX).limit(7)).await.expect("first page");
    let at = first.revision;
    let mut seen: BTreeMap<String, String> =
        first.kvs.iter().map(|kv| (kv.key.clone(), value_of(kv).to_owned())).collect();
    let mut next = first.kvs.last().map(|kv| format!("{}\0", kv.key));
    let mut writes = 0;
    while let Some(start) = next {
        // Writes between pages: updates, deletes and creates in the range.
        let victim = format!("p-{:03}", writes * 3 % 60);
        if let Some(kv) = b.get(&key(&victim), None).await.expect("get") {
            if writes % 2 == 0 {
                let _ = b.update(&kv.key, bytes("changed"), kv.mod_revision, None).await.expect("update");
            } else {
                let _ = b.delete(&kv.key, None).await.expect("delete");
            }
        }
        create(b, &format!("p-{:03}-new", writes * 5 % 60), "new").await;
        writes += 1;

        let page = b.range(RangeRequest::prefix(PREFIX).start(start).limit(7).at(at)).await.expect("page");
        assert_eq!(page.revision, at, "every page reads the first page's revision");
        seen.extend(page.kvs.iter().map(|kv| (kv.key.clone(), value_of(kv).to_owned())));
        next = page.more.then(|| page.kvs.last().map(|kv| format!("{}\0", kv.key))).flatten();
    }
    assert!(writes > 5, "writes happened between pages");
    assert_eq!(seen, snapshot, "the pages together are the store as it was at the first page");
}

pub async fn watch_from_an_old_revision_replays_then_continues_live(b: &dyn Backend) {
    let mut revisions = Vec::new();
    for i in 0..30 {
        revisions.push(create(b, &format!("w-{i:02}"), &format!("{i}")).await);
    }
    let after = revisions[9];
    let mut watch = b.watch(PREFIX, after).await.expect("watch");
    let replayed = next_events(&mut watch, 20).await;
    let replayed_revs: Vec<Revision> = replayed.iter().map(Event::revision).collect();
    assert_eq!(replayed_revs, revisions[10..].to_vec(), "replay starts right after the given revision");
    assert!(replayed.iter().all(|e| e.kind == EventKind::Put && e.prev.is_none()));
    assert_eq!(value_of(&replayed[0].kv), "10");

    let live = update(b, "w-00", "live", revisions[0]).await;
    let (gone, _) = delete(b, "w-01").await;
    let events = next_events(&mut watch, 2).await;
    assert_eq!((events[0].revision(), events[0].kind, value_of(&events[0].kv)), (live, EventKind::Put, "live"));
    assert_eq!(events[0].prev.as_ref().map(value_of), Some("0"));
    assert_eq!((events[1].revision(), events[1].kind), (gone, EventKind::Delete));
    assert_quiet(&mut watch).await;
}

pub async fn watch_only_reports_keys_under_its_prefix(b: &dyn Backend) {
    let start = b.current_revision().await.expect("revision");
    let mut pods = b.watch("/registry/suite/pods/", start).await.expect("watch");
    b.create("/registry/suite/services/s", bytes("s"), None).await.expect("create").applied().expect("created");
    let pod = b.create("/registry/suite/pods/p", bytes("p"), None).await.expect("create").applied().expect("created");
    b.create("/registry/suite/podsx", bytes("x"), None).await.expect("create").applied().expect("created");
    let events = next_events(&mut pods, 1).await;
    assert_eq!((events[0].kv.key.as_str(), events[0].revision()), ("/registry/suite/pods/p", pod));
    assert_quiet(&mut pods).await;
}

pub async fn watch_from_a_compacted_revision_fails_with_the_compacted_revision(b: &dyn Backend) {
    let r1 = create(b, "c", "1").await;
    let r2 = update(b, "c", "2", r1).await;
    let r3 = update(b, "c", "3", r2).await;
    b.compact(r3).await.expect("compact");
    assert_eq!(b.compacted_revision().await.expect("compacted"), r3);
    match b.watch(PREFIX, r1).await {
        Err(Error::Compacted { compacted, .. }) => assert_eq!(compacted, r3),
        Ok(mut watch) => match timeout(WAIT, watch.next()).await {
            Ok(Some(Err(Error::Compacted { compacted, .. }))) => assert_eq!(compacted, r3),
            other => {
                panic!("a watch from a compacted revision must fail with Compacted, got {other:?}")
            }
        },
        Err(other) => panic!("expected Compacted, got {other}"),
    }
    match b.get(&key("c"), Some(r2)).await {
        Err(Error::Compacted { compacted, .. }) => assert_eq!(compacted, r3),
        other => {
            panic!("a read before the compacted revision must fail with Compacted, got {other:?}")
        }
    }
    // From the compacted revision on, watching works.
    let mut watch = b.watch(PREFIX, r3).await.expect("watch from the compacted revision");
    let r4 = update(b, "c", "4", r3).await;
    let events = next_events(&mut watch, 1).await;
    assert_eq!(events[0].revision(), r4);
    assert_eq!(events[0].prev.as_ref().map(value_of), Some("3"), "the version current at compaction is kept");
}

pub async fn compaction_keeps_the_latest_version_of_every_key(b: &dyn Backend) {
    let mut live = BTreeMap::new();
    for i in 0..40 {
        let name = format!("k{i:02}");
        let mut rev = create(b, &name, "0").await;
        for v in 1..=(i % 4) {
            rev = update(b, &name, &v.to_string(), rev).await;
        }
        if i % 5 == 0 {
            delete(b, &name).await;
        } else {
            live.insert(key(&name), (i % 4).to_string());
        }
    }
    let before = b.current_revision().await.expect("revision");
    b.compact(before).await.expect("compact");
    let all = b.range(RangeRequest::prefix(PREFIX)).await.expect("range");
    let after: BTreeMap<String, String> = all.kvs.iter().map(|kv| (kv.key.clone(), value_of(kv).to_owned())).collect();
    assert_eq!(after, live);
    let at = b.range(RangeRequest::prefix(PREFIX).at(before)).await.expect("range at the compacted revision");
    assert_eq!(at.kvs.len(), live.len());
    assert_eq!(b.count(PREFIX).await.expect("count"), live.len() as i64);
}

pub async fn deletes_carry_the_previous_value(b: &dyn Backend) {
    let start = b.current_revision().await.expect("revision");
    let mut watch = b.watch(PREFIX, start).await.expect("watch");
    let r1 = create(b, "d", "first").await;
    update(b, "d", "last", r1).await;
    let (rev, deleted) = delete(b, "d").await;
    assert_eq!(value_of(&deleted), "last", "delete returns the deleted value");
    let events = next_events(&mut watch, 3).await;
    let delete = &events[2];
    assert_eq!((delete.kind, delete.revision(), delete.kv.key.as_str()), (EventKind::Delete, rev, key("d").as_str()));
    let prev = delete.prev.as_ref().expect("a delete event carries the previous value");
    assert_eq!((value_of(prev), prev.version), ("last", 2));
    // Also when replayed from history.
    let mut replay = b.watch(PREFIX, start).await.expect("watch");
    let replayed = next_events(&mut replay, 3).await;
    assert_eq!(replayed[2].prev.as_ref().map(value_of), Some("last"));
}

pub async fn concurrent_writers_lose_no_update(b: &dyn Backend) {
    const WRITERS: usize = 32;
    const UPDATES: usize = 200;
    const KEYS: usize = 4;
    for k in 0..KEYS {
        create(b, &format!("counter-{k}"), "0").await;
    }
    // Concurrent futures on one task: the backend sees 32 writers at once.
    let writers = (0..WRITERS).map(|w| async move {
        let mut conflicts = 0;
        for u in 0..UPDATES {
            let k = key(&format!("counter-{}", (w + u) % KEYS));
            let mut current = b.get(&k, None).await.expect("get").expect("exists");
            loop {
                let n: u64 = value_of(&current).parse().expect("number");
                let next = Bytes::from((n + 1).to_string());
                match b.update(&k, next, current.mod_revision, None).await.expect("update") {
                    Outcome::Applied(_) => break,
                    Outcome::Conflict { current: Some(now) } => {
                        conflicts += 1;
                        current = now;
                    }
                    Outcome::Conflict { current: None } => panic!("counter vanished"),
                }
            }
        }
        conflicts
    });
    let conflicts: usize = futures::future::join_all(writers).await.into_iter().sum();
    let all = b.range(RangeRequest::prefix(key("counter-"))).await.expect("range");
    let total: u64 = all.kvs.iter().map(|kv| value_of(kv).parse::<u64>().expect("number")).sum();
    assert_eq!(total, (WRITERS * UPDATES) as u64, "no update was lost ({conflicts} conflicts retried)");
    let versions: i64 = all.kvs.iter().map(|kv| kv.version).sum();
    assert_eq!(versions, (WRITERS * UPDATES + KEYS) as i64);
}

pub async fn lease_expiry_deletes_its_keys_and_emits_delete_events(b: &dyn Backend) {
    let lease = b.grant_lease(Duration::from_secs(1)).await.expect("grant");
    let start = b.current_revision().await.expect("revision");
    let mut watch = b.watch(PREFIX, start).await.expect("watch");
    for name in ["e1", "e2"] {
        b.create(&key(name), bytes("event"), Some(lease)).await.expect("create").applied().expect("created");
    }
    create(b, "kept", "x").await;
    let created = next_events(&mut watch, 3).await;
    assert_eq!(created[0].kv.lease, Some(lease));
    let deadline = Instant::now() + WAIT;
    let deletes = next_events(&mut watch, 2).await;
    assert!(Instant::now() < deadline);
    let mut deleted: Vec<&str> = deletes.iter().map(|e| e.kv.key.as_str()).collect();
    deleted.sort();
    assert_eq!(deleted, [key("e1"), key("e2")]);
    assert!(
        deletes.iter().all(|e| e.kind == EventKind::Delete && e.prev.as_ref().is_some_and(|p| value_of(p) == "event"))
    );
    assert_eq!(b.get(&key("e1"), None).await.expect("get"), None);
    assert!(b.get(&key("kept"), None).await.expect("get").is_some());
}

pub async fn revoking_a_lease_deletes_its_keys(b: &dyn Backend) {
    let lease = b.grant_lease(Duration::from_secs(600)).await.expect("grant");
    b.create(&key("r"), bytes("x"), Some(lease)).await.expect("create").applied().expect("created");
    b.revoke_lease(lease).await.expect("revoke");
    assert_eq!(b.get(&key("r"), None).await.expect("get"), None);
    assert!(matches!(b.revoke_lease(lease).await, Err(Error::LeaseNotFound(_))));
}

pub async fn writes_with_an_unknown_lease_are_refused(b: &dyn Backend) {
    match b.create(&key("u"), bytes("x"), Some(987_654)).await {
        Err(Error::LeaseNotFound(id)) => assert_eq!(id, 987_654),
        other => panic!("an unknown lease must be refused, got {other:?}"),
    }
    assert_eq!(b.get(&key("u"), None).await.expect("get"), None);
}

pub async fn a_range_larger_than_4_mib_is_returned_whole(b: &dyn Backend) {
    // gRPC's default message limit is 4 MiB; a big list must not hit it.
    let value = Bytes::from(vec![b'l'; 100 * 1024]);
    for i in 0..50 {
        b.create(&key(&format!("large-{i:02}")), value.clone(), None)
            .await
            .expect("create")
            .applied()
            .expect("created");
    }
    let all = b.range(RangeRequest::prefix(PREFIX)).await.expect("range over 5 MiB");
    assert_eq!(all.kvs.len(), 50);
    assert!(all.kvs.iter().all(|kv| kv.value == value));
}

pub async fn reads_at_past_revisions_after_compaction_see_the_versions_of_then(b: &dyn Backend) {
    let r1 = create(b, "h", "v1").await;
    let r2 = update(b, "h", "v2", r1).await;
    let gone = create(b, "gone", "x").await;
    let (deleted, _) = delete(b, "gone").await;
    let back = create(b, "back", "old").await;
    b.compact(deleted).await.expect("compact");
    let r3 = update(b, "h", "v3", r2).await;
    let (r4, _) = delete(b, "h").await;
    let (_, _) = delete(b, "back").await;
    let again = create(b, "back", "new").await;
    let value_at = |name: &'static str, rev: Revision| async move {
        b.get(&key(name), Some(rev)).await.expect("get").map(|kv| value_of(&kv).to_owned())
    };
    assert_eq!(value_at("h", deleted).await.as_deref(), Some("v2"));
    assert_eq!(value_at("h", r3).await.as_deref(), Some("v3"));
    assert_eq!(value_at("h", r4).await, None);
    assert_eq!(value_at("gone", deleted).await, None);
    assert_eq!(value_at("back", r4).await.as_deref(), Some("old"));
    assert_eq!(value_at("back", again).await.as_deref(), Some("new"));
    assert!(gone < deleted && back > deleted);
    let listed = |rev: Revision| async move {
        let page = b.range(RangeRequest::prefix(PREFIX).at(rev)).await.expect("range");
        page.kvs.iter().map(|kv| format!("{}={}", kv.key.trim_start_matches(PREFIX), value_of(kv))).collect::<Vec<_>>()
    };
    assert_eq!(listed(deleted).await, ["h=v2"]);
    assert_eq!(listed(back).await, ["back=old", "h=v2"]);
    assert_eq!(listed(r3).await, ["back=old", "h=v3"]);
    assert_eq!(listed(r4).await, ["back=old"]);
    assert_eq!(listed(again).await, ["back=new"]);
}
