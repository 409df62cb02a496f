//! Test support (feature `testing`): a real etcd process on free loopback
//! ports, for the tests of this crate and of the crates that use it.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long [`EtcdServer::start`] waits for etcd to answer.
const READY_DEADLINE: Duration = Duration::from_secs(20);

/// A single-member etcd cluster in a temporary directory, listening on
/// 127.0.0.1 only. Dropping it kills the process, waits for it and removes
/// the directory; should the test process die first, a watchdog kills etcd.
#[derive(Debug)]
pub struct EtcdServer {
    process: Child,
    /// `sh` blocked reading a pipe only this process writes: it kills etcd
    /// when that pipe closes because the test process died.
    watchdog: Option<Child>,
    endpoint: String,
    dir: TempDir,
}

impl EtcdServer {
    /// Whether an `etcd` binary is on `PATH`.
    pub fn available() -> bool {
        find_on_path("etcd").is_some()
    }

    /// Starts etcd and returns once it answers a health check (with a
    /// leader); fails if it does not within 20 s. A start that loses a race
    /// for its ports is retried on fresh ones.
    pub fn start() -> io::Result<EtcdServer> {
        let mut last = io::Error::other("etcd was not started");
        for _ in 0..3 {
            match Self::start_once() {
                Ok(server) => return Ok(server),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The client URL, e.g. `http://127.0.0.1:40123`.
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// The temporary directory holding the data and `etcd.log`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn start_once() -> io::Result<EtcdServer> {
        let binary =
            find_on_path("etcd").ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "etcd is not on PATH"))?;
        let dir = tempfile::Builder::new().prefix("skiff-etcd-").tempdir()?;
        let (client_addr, peer_addr) = {
            // Both held at once so they differ; etcd binds them just after.
            let client = TcpListener::bind("127.0.0.1:0")?;
            let peer = TcpListener::bind("127.0.0.1:0")?;
            (client.local_addr()?, peer.local_addr()?)
        };
        let client_url = format!("http://{client_addr}");
        let peer_url = format!("http://{peer_addr}");
        let mut command = Command::new(binary);
        command
            .arg("--name=skiff-test")
            .arg(format!("--data-dir={}", dir.path().join("data").display()))
            .arg(format!("--listen-client-urls={client_url}"))
            .arg(format!("--advertise-client-urls={client_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=skiff-test={peer_url}"))
            .arg("--initial-cluster-state=new")
            .arg("--logger=zap")
            .arg("--log-level=error")
            .arg(format!("--log-outputs={}", dir.path().join("etcd.log").display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(dir.path().join("etcd.stderr"))?);
        if cfg!(target_arch = "aarch64") {
            command.env("ETCD_UNSUPPORTED_ARCH", "arm64");
        }
        let process = command.spawn()?;
        let watchdog = spawn_watchdog(process.id(), dir.path()).ok();
        let mut server = EtcdServer { process, watchdog, endpoint: client_url, dir };
        server.wait_ready(client_addr)?;
        Ok(server)
    }

    /// Polls etcd's `/health` until it reports healthy, etcd exits or the
    /// deadline passes.
    fn wait_ready(&mut self, addr: SocketAddr) -> io::Result<()> {
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            if let Some(status) = self.process.try_wait()? {
                return Err(self.failure(&format!("etcd exited during startup ({status})")));
            }
            if healthy(addr) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(self.failure(&format!("etcd did not become healthy within {READY_DEADLINE:?}")));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// An error carrying the end of etcd's logs.
    fn failure(&self, what: &str) -> io::Error {
        let mut logs = String::new();
        for name in ["etcd.stderr", "etcd.log"] {
            if let Ok(text) = std::fs::read_to_string(self.dir.path().join(name)) {
                let tail: Vec<&str> = text.lines().rev().take(10).collect();
                logs.extend(tail.into_iter().rev().map(|l| format!("\n  {l}")));
            }
        }
        io::Error::other(format!("{what} at {}; its last log lines:{logs}", self.endpoint))
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        // The watchdog first, so it can never kill a reused process id.
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Whether the etcd tests should run: false (after saying why on stderr)
/// when etcd is missing outside CI, a panic when it is missing in CI (the
/// `CI` variable is set), true when it is there.
pub fn require_etcd() -> bool {
    if EtcdServer::available() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("etcd is not on PATH but CI is set: install it (Debian: etcd-server, etcd-client)");
    }
    eprintln!("skipping: etcd is not on PATH (install etcd-server and etcd-client to run this test)");
    false
}

/// A shell that kills `pid` and removes `dir` once its standard input
/// closes, i.e. when the process holding the other end (this one) exits,
/// however it exits.
fn spawn_watchdog(pid: u32, dir: &Path) -> io::Result<Child> {
    Command::new("sh")
        .arg("-c")
        .arg(r#"read -r _; kill -9 "$0" 2>/dev/null; rm -rf "$1""#)
        .arg(pid.to_string())
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

/// One `GET /health`: true if etcd answers that it is healthy.
fn healthy(addr: SocketAddr) -> bool {
    let check = || -> io::Result<bool> {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        stream.set_write_timeout(Some(Duration::from_secs(2)))?;
        stream.write_all(format!("GET /health HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        Ok(response.contains(r#""health":"true""#))
    };
    check().unwrap_or(false)
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|candidate| candidate.is_file())
}
