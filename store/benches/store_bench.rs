//! `cargo bench -p skiff-store`: SQLite (group commit) and a real etcd side
//! by side on this machine, printed as one table. etcd is Debian's
//! `etcd-server`, started on a free loopback port with its default
//! durability (fsync on every commit), like the SQLite file.
//!
//! `SKIFF_BENCH_SECONDS` sets how long each write measurement runs (default 3);
//! `SKIFF_BENCH_SQLITE_ONLY=1` measures SQLite alone (for profiling).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use skiff_store::testing::EtcdServer;
use skiff_store::{Backend, EtcdBackend, EtcdConfig, RangeRequest, SqliteBackend, SqliteConfig};

const WRITERS: [usize; 3] = [1, 16, 256];
const RANGE_KEYS: usize = 10_000;
const WATCHERS: usize = 1_000;
const WATCH_EVENTS: usize = 10_000;

/// One backend's figures.
#[derive(Debug, Default)]
struct Figures {
    writes_per_sec: Vec<f64>,
    range_ms: f64,
    watch_events_per_sec: f64,
    watch_seconds: f64,
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let seconds: u64 = std::env::var("SKIFF_BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    let run = Duration::from_secs(seconds);

    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite: Arc<dyn Backend> =
        Arc::new(SqliteBackend::open(SqliteConfig::new(dir.path().join("state.db"))).expect("open sqlite"));
    eprintln!("measuring sqlite ...");
    let sqlite_figures = measure(&sqlite, run).await;
    drop(sqlite);

    if std::env::var("SKIFF_BENCH_SQLITE_ONLY").is_ok() {
        println!("sqlite only: writes/s at {WRITERS:?} writers: {:?}", sqlite_figures.writes_per_sec);
        return;
    }
    let etcd = EtcdServer::start().expect("start etcd (apt-get install etcd-server)");
    let etcd_backend: Arc<dyn Backend> =
        Arc::new(EtcdBackend::connect(EtcdConfig::new(vec![etcd.endpoint()])).await.expect("connect to etcd"));
    eprintln!("measuring etcd ...");
    let etcd_figures = measure(&etcd_backend, run).await;

    print_table(&sqlite_figures, &etcd_figures);
}

async fn measure(backend: &Arc<dyn Backend>, run: Duration) -> Figures {
    let mut figures = Figures::default();
    for writers in WRITERS {
        figures.writes_per_sec.push(writes_per_second(backend, writers, run).await);
    }
    figures.range_ms = range_millis(&**backend).await;
    let (rate, seconds) = watch_delivery(&**backend).await;
    figures.watch_events_per_sec = rate;
    figures.watch_seconds = seconds;
    figures
}

/// Creates of fresh 512-byte values by `writers` concurrent writers (each
/// its own task, as API server requests are) for `run`.
async fn writes_per_second(backend: &Arc<dyn Backend>, writers: usize, run: Duration) -> f64 {
    let value = Bytes::from(vec![b'w'; 512]);
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + run;
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let (backend, value, done) = (Arc::clone(backend), value.clone(), Arc::clone(&done));
            tokio::spawn(async move {
                let mut i = 0u64;
                while Instant::now() < deadline {
                    let key = format!("/registry/bench-writes-{writers}/w{w}-{i}");
                    let _ = backend.create(&key, value.clone(), None).await.expect("write");
                    done.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("writer task");
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

/// Median time to range over 10,000 keys of 1 KiB in one request.
async fn range_millis(backend: &dyn Backend) -> f64 {
    fill(backend, "/registry/bench-range/", RANGE_KEYS, 1024).await;
    let mut times = Vec::new();
    for _ in 0..7 {
        let start = Instant::now();
        let page = backend.range(RangeRequest::prefix("/registry/bench-range/")).await.expect("range");
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(page.kvs.len(), RANGE_KEYS);
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// 1,000 watchers of one prefix while 10,000 events are written: events
/// delivered per second, and the seconds until the last watcher had them all.
async fn watch_delivery(backend: &dyn Backend) -> (f64, f64) {
    let from = backend.current_revision().await.expect("revision");
    let mut watches = Vec::with_capacity(WATCHERS);
    for _ in 0..WATCHERS {
        watches.push(backend.watch("/registry/bench-watch/", from).await.expect("watch"));
    }
    let start = Instant::now();
    let receivers = watches.into_iter().map(|mut watch| async move {
        let mut seen = 0;
        while seen < WATCH_EVENTS {
            match tokio::time::timeout(Duration::from_secs(120), watch.next()).await {
                Ok(Some(Ok(_))) => seen += 1,
                other => panic!("watch stopped after {seen} events: {other:?}"),
            }
        }
    });
    let receivers = tokio::spawn(futures::future::join_all(receivers));
    fill(backend, "/registry/bench-watch/", WATCH_EVENTS, 256).await;
    receivers.await.expect("receivers");
    let seconds = start.elapsed().as_secs_f64();
    ((WATCHERS * WATCH_EVENTS) as f64 / seconds, seconds)
}

/// Creates `count` keys under `prefix` with values of `size` bytes, 64 writers at a time.
async fn fill(backend: &dyn Backend, prefix: &str, count: usize, size: usize) {
    let value = Bytes::from(vec![b'v'; size]);
    let next = AtomicU64::new(0);
    let writers = (0..64).map(|_| async {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed) as usize;
            if i >= count {
                break;
            }
            let _ = backend.create(&format!("{prefix}k{i:06}"), value.clone(), None).await.expect("write");
        }
    });
    futures::future::join_all(writers).await;
}

fn print_table(sqlite: &Figures, etcd: &Figures) {
    println!();
    println!("| measurement | sqlite | etcd | sqlite / etcd |");
    println!("|---|---:|---:|---:|");
    for (i, writers) in WRITERS.iter().enumerate() {
        let (s, e) = (sqlite.writes_per_sec[i], etcd.writes_per_sec[i]);
        println!("| writes/s, {writers} concurrent writer(s) | {s:.0} | {e:.0} | {:.2}x |", s / e);
    }
    println!(
        "| range of {RANGE_KEYS} keys (median ms) | {:.1} | {:.1} | {:.2}x faster |",
        sqlite.range_ms,
        etcd.range_ms,
        etcd.range_ms / sqlite.range_ms
    );
    println!(
        "| {WATCHERS} watchers x {WATCH_EVENTS} events: deliveries/s (s to last) | {:.0} ({:.1} s) | {:.0} ({:.1} s) | {:.2}x |",
        sqlite.watch_events_per_sec,
        sqlite.watch_seconds,
        etcd.watch_events_per_sec,
        etcd.watch_seconds,
        sqlite.watch_events_per_sec / etcd.watch_events_per_sec
    );
    let group_commit = sqlite.writes_per_sec[2] / sqlite.writes_per_sec[0];
    println!();
    println!("sqlite group commit: 256 writers reach {group_commit:.1}x the single-writer rate (target >= 10x)");
    println!(
        "sqlite at 256 writers vs etcd at 256 writers: {:.2}x (target >= 1x)",
        sqlite.writes_per_sec[2] / etcd.writes_per_sec[2]
    );
}
