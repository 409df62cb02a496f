//! A pseudo-terminal for tests of `kubectl exec -it` and `kubectl attach -it`,
//! which only allocate a TTY when their stdin is a terminal.

use std::fs::File;
use std::io::{Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};

/// A command running on the slave side of a new pty, driven from its master side.
pub struct Terminal {
    master: File,
    child: Child,
    output: mpsc::Receiver<Vec<u8>>,
    seen: String,
}

impl Terminal {
    /// Runs `command` with a pty (80x24) as its stdin, stdout and stderr.
    pub fn spawn(command: &mut Command) -> Self {
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).expect("openpt");
        grantpt(&master).expect("grantpt");
        unlockpt(&master).expect("unlockpt");
        let name = ptsname(&master, Vec::new()).expect("ptsname");
        let slave = File::options().read(true).write(true).open(name.to_string_lossy().as_ref()).expect("open pts");
        let size = rustix::termios::Winsize { ws_row: 24, ws_col: 80, ws_xpixel: 0, ws_ypixel: 0 };
        rustix::termios::tcsetwinsize(&slave, size).expect("window size");
        let io = |file: &File| Stdio::from(file.try_clone().expect("dup the pts"));
        let child = command.stdin(io(&slave)).stdout(io(&slave)).stderr(io(&slave)).spawn().expect("spawn");
        drop(slave);
        let master = File::from(master);
        let mut reader = master.try_clone().expect("dup the master");
        let (sender, output) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            // Ends with EIO once every holder of the slave side has closed it.
            while let Ok(n @ 1..) = reader.read(&mut buffer) {
                if sender.send(buffer[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Self { master, child, output, seen: String::new() }
    }

    /// Types `text` into the terminal.
    pub fn send(&mut self, text: &str) {
        self.master.write_all(text.as_bytes()).expect("write to the terminal");
    }

    /// Waits until the terminal has shown `needle`; what it showed so far.
    pub fn expect(&mut self, needle: &str, limit: Duration) -> &str {
        let deadline = Instant::now() + limit;
        while !self.seen.contains(needle) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.output.recv_timeout(left) {
                Ok(chunk) => self.seen.push_str(&String::from_utf8_lossy(&chunk)),
                Err(_) => panic!("the terminal never showed {needle:?}; it showed {:?}", self.seen),
            }
        }
        &self.seen
    }

    /// Waits for the command to exit (killing it after `limit`).
    pub fn wait(mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the command did not exit; the terminal showed {:?}", self.seen);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
