//! SQLite-specific guarantees: acknowledged writes survive SIGKILL, the file
//! stays bounded under churn, and bad files give clear errors.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use rand::Rng;
use skiff_store::{Backend, Error, Outcome, RangeRequest, Revision, SqliteBackend, SqliteConfig};

const CRASH_DB_ENV: &str = "SKIFF_CRASH_TEST_DB";

/// The child of the crash test (run by it, with the database path in the
/// environment): 16 writers create and update keys as fast as they can and
/// print every acknowledged write as `ack <key> <revision> <value>`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by sigkill_loses_no_acknowledged_write as its child process"]
async fn crash_test_child_writer() {
    let path = std::env::var(CRASH_DB_ENV).expect("the crash test sets the database path");
    let backend = Arc::new(SqliteBackend::open(SqliteConfig::new(path)).expect("open"));
    let out = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let writers = (0..16).map(|w| {
        let backend = Arc::clone(&backend);
        let out = Arc::clone(&out);
        tokio::spawn(async move {
            for i in 0.. {
                let key = format!("/registry/crash/w{w}-k{}", i / 5);
                let value = format!("w{w}-i{i}");
                let outcome = match backend.get(&key, None).await.expect("get") {
                    None => backend.create(&key, Bytes::from(value.clone()), None).await,
                    Some(kv) => backend.update(&key, Bytes::from(value.clone()), kv.mod_revision, None).await,
                };
                if let Outcome::Applied(rev) = outcome.expect("write") {
                    let mut out = out.lock().expect("stdout");
                    writeln!(out, "ack {key} {rev} {value}").expect("print");
                    out.flush().expect("flush");
                }
            }
        })
    });
    for writer in writers.collect::<Vec<_>>() {
        writer.await.expect("writer");
    }
}

/// Kills the writer child at a random moment, five times over the same file:
/// each time, every acknowledged write must be there and the file consistent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("state.db");
    for round in 0..5 {
        let acked = run_and_kill_writer(&db);
        println!("round {round}: killed the writer after {} acknowledged writes", acked.len());
        check_acknowledged(&db, &acked).await;
    }
}

/// Runs the writer child until a random number of acknowledgements, then
/// SIGKILLs it; returns every write it acknowledged.
fn run_and_kill_writer(db: &Path) -> Vec<(String, Revision, String)> {
    let kill_after = rand::rng().random_range(100..3000);
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["crash_test_child_writer", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CRASH_DB_ENV, db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the writer child");
    let stdout = child.stdout.take().expect("child stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut acked = Vec::new();
    while acked.len() < kill_after {
        let line = lines.next().expect("the child exited before being killed").expect("read");
        if let Some(ack) = parse_ack(&line) {
            acked.push(ack);
        }
    }
    child.kill().expect("SIGKILL the child");
    // Acknowledgements printed before the kill still count.
    acked.extend(lines.map_while(Result::ok).filter_map(|l| parse_ack(&l)));
    child.wait().expect("reap the child");
    acked
}

async fn check_acknowledged(db: &Path, acked: &[(String, Revision, String)]) {
    let integrity: String = rusqlite::Connection::open(db)
        .expect("reopen")
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity check");
    assert_eq!(integrity, "ok");
    let backend = SqliteBackend::open(SqliteConfig::new(db)).expect("reopen the backend");
    let current = backend.current_revision().await.expect("revision");
    for (key, rev, value) in acked {
        assert!(*rev <= current, "acknowledged revision {rev} is above the reopened store's {current}");
        let kv = backend.get(key, Some(*rev)).await.expect("get").unwrap_or_else(|| panic!("{key}@{rev} lost"));
        assert_eq!((kv.mod_revision, kv.value.as_ref()), (*rev, value.as_bytes()), "{key}@{rev}");
    }
    let mut latest: HashMap<&str, Revision> = HashMap::new();
    for (key, rev, _) in acked {
        let entry = latest.entry(key).or_default();
        *entry = (*entry).max(*rev);
    }
    for (key, rev) in latest {
        let kv = backend.get(key, None).await.expect("get").expect("key exists");
        assert!(kv.mod_revision >= rev, "{key} went back from {rev} to {}", kv.mod_revision);
    }
    // The store accepts writes after the crash, continuing the revisions.
    let key = format!("/registry/crash/after-{current}");
    let next = backend.create(&key, Bytes::from_static(b"x"), None).await.expect("write");
    assert_eq!(next, Outcome::Applied(current + 1));
}

fn parse_ack(line: &str) -> Option<(String, Revision, String)> {
    let mut parts = line.strip_prefix("ack ")?.split(' ');
    Some((parts.next()?.to_owned(), parts.next()?.parse().ok()?, parts.next()?.to_owned()))
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn churn_keeps_the_file_within_three_times_the_live_data() {
    const LONG_LIVED: usize = 2000;
    const OPERATIONS: u64 = 200_000;
    const WORKERS: u64 = 64;
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("state.db");
    let config = SqliteConfig::new(&db).compact_interval(Some(Duration::from_millis(500)));
    let backend = Arc::new(SqliteBackend::open(config).expect("open"));
    let value = Bytes::from(vec![b'v'; 1024]);
    for i in 0..LONG_LIVED {
        let key = format!("/registry/configmaps/default/cm-{i:05}");
        let _ = backend.create(&key, value.clone(), None).await.expect("create");
    }

    let done = Arc::new(AtomicU64::new(0));
    let max_wal = Arc::new(AtomicU64::new(0));
    let workers = (0..WORKERS).map(|w| {
        let (backend, done, value) = (Arc::clone(&backend), Arc::clone(&done), value.clone());
        tokio::spawn(async move {
            let mut cycle = 0;
            while done.fetch_add(3, Ordering::Relaxed) < OPERATIONS {
                let key = format!("/registry/pods/churn/w{w}-{cycle}");
                let rev = backend.create(&key, value.clone(), None).await?.applied().expect("fresh key");
                let rev = backend.update(&key, value.clone(), rev, None).await?.applied().expect("own key");
                let _ = backend.delete(&key, Some(rev)).await?.applied().expect("own key");
                cycle += 1;
            }
            Ok::<_, Error>(())
        })
    });
    let workers: Vec<_> = workers.collect();
    // Readers alongside, as the API server would have, so checkpoints meet readers.
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (backend, done, max_wal, wal) =
                (Arc::clone(&backend), Arc::clone(&done), Arc::clone(&max_wal), db.with_extension("db-wal"));
            tokio::spawn(async move {
                while done.load(Ordering::Relaxed) < OPERATIONS {
                    backend.range(RangeRequest::prefix("/registry/configmaps/").limit(500)).await?;
                    max_wal.fetch_max(file_size(&wal), Ordering::Relaxed);
                }
                Ok::<_, Error>(())
            })
        })
        .collect();
    for task in workers.into_iter().chain(readers) {
        task.await.expect("task").expect("no write or read ever failed (no lock errors)");
    }

    let current = backend.current_revision().await.expect("revision");
    backend.compact(current).await.expect("compact");
    let live = backend.range(RangeRequest::prefix("/registry/")).await.expect("range");
    let live_bytes: u64 = live.kvs.iter().map(|kv| (kv.key.len() + kv.value.len()) as u64).sum();
    let wal = db.with_extension("db-wal");
    let on_disk = file_size(&db) + file_size(&wal);
    println!(
        "churn: {} operations, revision {current}; live data {live_bytes} bytes in {} keys; \
         database {} + WAL {} = {on_disk} bytes ({:.2}x); largest WAL seen {} bytes",
        done.load(Ordering::Relaxed).min(OPERATIONS + 3 * WORKERS),
        live.kvs.len(),
        file_size(&db),
        file_size(&wal),
        on_disk as f64 / live_bytes as f64,
        max_wal.load(Ordering::Relaxed),
    );
    assert_eq!(live.kvs.len(), LONG_LIVED, "every short-lived key was deleted");
    let max_wal = max_wal.load(Ordering::Relaxed);
    assert!(max_wal <= 64 * 1024 * 1024, "the WAL reached {max_wal} bytes under churn: checkpoints do not keep up");
    assert!(on_disk <= 3 * live_bytes, "database + WAL {on_disk} bytes exceeds 3x the live data {live_bytes}");
}

#[test]
fn a_file_that_is_not_sqlite_is_refused_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("state.db");
    std::fs::write(&path, "this is a configuration file, not a database\n".repeat(200)).expect("write");
    let err = SqliteBackend::open(SqliteConfig::new(&path)).expect_err("must refuse");
    let message = err.chain();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("not a database"), "{message}");
}

#[tokio::test]
async fn a_corrupt_database_is_refused_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("state.db");
    {
        let backend = SqliteBackend::open(SqliteConfig::new(&path)).expect("open");
        for i in 0..300 {
            let _ =
                backend.create(&format!("/registry/k/{i}"), Bytes::from(vec![b'x'; 2000]), None).await.expect("write");
        }
    }
    // Overwrite pages in the middle of the file with garbage.
    let mut bytes = std::fs::read(&path).expect("read");
    assert!(bytes.len() > 64 * 1024, "the database has pages to damage");
    for b in &mut bytes[16 * 1024..48 * 1024] {
        *b = 0xA5;
    }
    std::fs::write(&path, bytes).expect("write");
    let err = SqliteBackend::open(SqliteConfig::new(&path)).expect_err("must refuse");
    let message = err.chain();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("corrupt") || message.contains("malformed"), "{message}");
}
