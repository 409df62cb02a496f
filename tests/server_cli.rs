//! `skiff server` as a user runs it: the real binary, on the SQLite default
//! and on a real etcd, and its one-line errors for bad datastores.

use std::net::TcpListener;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::Server;
use skiff_store::testing::{EtcdServer, require_etcd};

mod common;

fn skiff(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_skiff")).args(args).env_remove("SKIFF_DATA_DIR").output().expect("run skiff")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn server_opens_the_sqlite_default_under_the_data_dir_and_reuses_its_state() {
    let server = Server::start(&[]);
    let db = server.dir().join("server/db/state.db");
    assert!(server.ready_line().contains(&format!("datastore sqlite://{}", db.display())), "{}", server.ready_line());
    let ca = server.dir().join("server/tls/server-ca.crt");
    let first_ca = std::fs::read_to_string(&ca).expect("CA written");
    let (status, dir) = server.terminate();
    assert!(status.success());
    let again = Server::start_in(dir, &[]);
    assert_eq!(std::fs::read_to_string(&ca).expect("CA kept"), first_ca, "certificates are reused on restart");
    assert!(db.exists());
    assert!(again.terminate().0.success());
}

#[test]
fn server_refuses_a_file_that_is_not_a_database_in_one_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("notes.txt");
    std::fs::write(&db, "not a database\n".repeat(100)).expect("write");
    let out = skiff(&["server", "--datastore-endpoint", &format!("sqlite://{}", db.display())]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert_eq!(stderr.trim(), format!("skiff: cannot open SQLite datastore {}: file is not a database", db.display()));
}

#[test]
fn server_refuses_an_unknown_endpoint_scheme() {
    let out = skiff(&["server", "--datastore-endpoint", "postgres://127.0.0.1/k8s"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).starts_with("skiff: invalid datastore endpoint \"postgres://127.0.0.1/k8s\""));
}

#[test]
fn server_gives_up_on_an_unreachable_etcd_after_bounded_retries() {
    let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    let out = skiff(&["server", "--datastore-endpoint", &endpoint]);
    let elapsed = start.elapsed();
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains(&format!("etcd at {endpoint} is unreachable after 5 attempts")), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
}

#[test]
fn server_opens_a_real_etcd() {
    if !require_etcd() {
        return;
    }
    let etcd = EtcdServer::start().expect("start etcd");
    let server = Server::start(&["--datastore-endpoint", &etcd.endpoint()]);
    assert!(server.ready_line().contains(&format!("datastore {};", etcd.endpoint())), "{}", server.ready_line());
    assert!(server.terminate().0.success());
}
