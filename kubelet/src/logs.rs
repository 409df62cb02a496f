//! CRI container log files (`<RFC3339Nano> <stream> <P|F> <line>`): reading
//! them as `kubectl logs` asks (tail, since, timestamps, follow).
//!
//! The semantics are upstream's kuberuntime `ReadLogs`: a partial record
//! (`P`) is written without a newline, so that the next record continues the
//! line, and only the first record of a line gets the timestamp prefix;
//! `since` drops records older than it; `limitBytes` cuts the output; with
//! `follow`, reading goes on as the file grows (and is reopened when it is
//! replaced by a rotation) until the container has exited and the file is
//! drained. One difference: `tailLines` counts whole lines (a partial record
//! is not a line of its own).

use std::collections::VecDeque;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use jiff::Timestamp;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

#[cfg(test)]
mod tests;

/// How often a followed log is checked for new content.
const FOLLOW_POLL: Duration = Duration::from_millis(100);
/// How often a followed log checks whether its container still runs.
const STATE_CHECK: Duration = Duration::from_secs(1);

/// Why a log could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    #[error("failed to open log file {path:?}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to read log file {path:?}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A `Result` with [`LogsError`].
pub type Result<T, E = LogsError> = std::result::Result<T, E>;

/// A container's output stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Which streams to show (PodLogOptions.stream: `All`, `Stdout`, `Stderr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StreamSelection {
    #[default]
    All,
    Only(Stream),
}

impl StreamSelection {
    fn admits(self, stream: Stream) -> bool {
        match self {
            Self::All => true,
            Self::Only(only) => only == stream,
        }
    }
}

/// What part of a log to read, and how (the kubelet's view of PodLogOptions).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogOptions {
    /// Only the last this many lines (`tailLines`).
    pub tail_lines: Option<u64>,
    /// Only records at or after this time (`sinceTime`, or now − `sinceSeconds`).
    pub since: Option<Timestamp>,
    /// Prefix every line with its RFC3339Nano time (`timestamps`).
    pub timestamps: bool,
    /// Stop after this many bytes (`limitBytes`).
    pub limit_bytes: Option<u64>,
    /// Keep reading as the container writes (`follow`).
    pub follow: bool,
    /// Which streams to show.
    pub streams: StreamSelection,
}

/// One record of a CRI log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub timestamp: Timestamp,
    pub stream: Stream,
    /// The content; a full record (`F`) ends with `\n`, a partial one (`P`) does not.
    pub content: Vec<u8>,
}

impl Record {
    /// Parses one line of a CRI log file (without or with its trailing `\n`).
    pub fn parse(line: &[u8]) -> Option<Self> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let mut fields = line.splitn(4, |b| *b == b' ');
        let timestamp: Timestamp = std::str::from_utf8(fields.next()?).ok()?.parse().ok()?;
        let stream = match fields.next()? {
            b"stdout" => Stream::Stdout,
            b"stderr" => Stream::Stderr,
            _ => return None,
        };
        // The tag is `P` or `F`, possibly followed by `:`-separated extras.
        let tag = fields.next()?;
        let full = match tag.split(|b| *b == b':').next()? {
            b"F" => true,
            b"P" => false,
            _ => return None,
        };
        let mut content = fields.next().unwrap_or_default().to_vec();
        if full {
            content.push(b'\n');
        }
        Some(Self { timestamp, stream, content })
    }

    fn ends_line(&self) -> bool {
        self.content.last() == Some(&b'\n')
    }
}

/// Formats a time as upstream's RFC3339NanoFixed (always nine fractional digits), in UTC.
pub fn format_timestamp(timestamp: Timestamp) -> String {
    timestamp.strftime("%Y-%m-%dT%H:%M:%S.%9fZ").to_string()
}

/// Writes records to the client as options say: since, timestamps,
/// stream selection, limitBytes. `false` from [`Writer::write`] means stop.
struct Writer<'a> {
    options: &'a LogOptions,
    remaining: Option<u64>,
    /// Whether the next record written starts a line (gets a timestamp).
    at_line_start: [bool; 2],
    out: &'a mpsc::Sender<Bytes>,
}

impl<'a> Writer<'a> {
    fn new(options: &'a LogOptions, out: &'a mpsc::Sender<Bytes>) -> Self {
        Self { options, remaining: options.limit_bytes, at_line_start: [true, true], out }
    }

    async fn write(&mut self, record: &Record) -> bool {
        if !self.options.streams.admits(record.stream) {
            return true;
        }
        let slot = &mut self.at_line_start[record.stream as usize];
        let starts_line = std::mem::replace(slot, record.ends_line());
        if self.options.since.is_some_and(|since| record.timestamp < since) {
            return true;
        }
        let mut line = Vec::with_capacity(record.content.len() + 32);
        if self.options.timestamps && starts_line {
            line.extend_from_slice(format_timestamp(record.timestamp).as_bytes());
            line.push(b' ');
        }
        line.extend_from_slice(&record.content);
        if let Some(remaining) = self.remaining {
            line.truncate(usize::try_from(remaining).unwrap_or(usize::MAX));
            self.remaining = Some(remaining - line.len() as u64);
        }
        if !line.is_empty() && self.out.send(Bytes::from(line)).await.is_err() {
            return false; // the client went away
        }
        self.remaining != Some(0)
    }
}

/// Keeps the records of the last `n` lines (of the selected streams).
fn keep_tail(records: &mut VecDeque<Record>, n: u64, streams: StreamSelection) {
    let mut lines = 0u64;
    let mut keep_from = records.len();
    for (index, record) in records.iter().enumerate().rev() {
        if !streams.admits(record.stream) {
            continue;
        }
        // A record that ends a line starts counting a new line (from the end).
        if record.ends_line() || index == records.len() - 1 {
            if lines == n {
                break;
            }
            lines += 1;
        }
        keep_from = index;
    }
    if n == 0 {
        keep_from = records.len();
    }
    records.drain(..keep_from);
}

/// The file a log path names, opened, with its identity (to see a rotation).
struct OpenLog {
    reader: BufReader<tokio::fs::File>,
    identity: Option<(u64, u64)>,
}

async fn open(path: &Path) -> Result<OpenLog> {
    let file = tokio::fs::File::open(path).await.map_err(|source| LogsError::Open { path: path.to_owned(), source })?;
    let identity = file.metadata().await.ok().map(|m| identity(&m));
    Ok(OpenLog { reader: BufReader::new(file), identity })
}

fn identity(metadata: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (metadata.dev(), metadata.ino())
}

/// Reads the log at `path` as `options` say, sending the output to `out`.
/// With `follow`, `running` is asked now and then whether the container
/// still runs; once it does not, the rest of the file is sent and reading
/// ends. Returns when done or when `out`'s receiver is dropped.
pub async fn read_logs<F, Fut>(
    path: &Path,
    options: &LogOptions,
    out: mpsc::Sender<Bytes>,
    mut running: F,
) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let read_error = |source| LogsError::Read { path: path.to_owned(), source };
    let mut log = open(path).await?;
    let mut writer = Writer::new(options, &out);
    let mut line = Vec::new();

    if let Some(n) = options.tail_lines {
        // Collect the last `n` lines first, then write them.
        let mut records = VecDeque::new();
        loop {
            line.clear();
            if log.reader.read_until(b'\n', &mut line).await.map_err(read_error)? == 0 {
                break;
            }
            if !line.ends_with(b"\n") {
                break; // an incomplete last record: kept in `line` for below
            }
            if let Some(record) = Record::parse(&line) {
                records.push_back(record);
                if records.len() as u64 > n.saturating_mul(4).max(1024) {
                    keep_tail(&mut records, n, options.streams);
                }
            }
        }
        // An incomplete last record is a line of its own, written below.
        let n = match Record::parse(&line) {
            Some(record) if options.streams.admits(record.stream) => {
                if n == 0 {
                    line.clear();
                }
                n.saturating_sub(1)
            }
            _ => n,
        };
        keep_tail(&mut records, n, options.streams);
        for record in &records {
            if !writer.write(record).await {
                return Ok(());
            }
        }
    }

    let mut last_state_check: Option<tokio::time::Instant> = None;
    let mut container_done = false;
    loop {
        let read = log.reader.read_until(b'\n', &mut line).await.map_err(read_error)?;
        if read > 0 && line.ends_with(b"\n") {
            if let Some(record) = Record::parse(&line)
                && !writer.write(&record).await
            {
                return Ok(());
            }
            line.clear();
            continue;
        }
        // At the end of the file (maybe with an incomplete record in `line`).
        if !options.follow || container_done {
            if let Some(record) = Record::parse(&line) {
                writer.write(&record).await;
            }
            return Ok(());
        }
        if out.is_closed() {
            return Ok(());
        }
        if last_state_check.is_none_or(|at| at.elapsed() >= STATE_CHECK) {
            last_state_check = Some(tokio::time::Instant::now());
            if !running().await {
                // Read on to the end once more, then stop.
                container_done = true;
                continue;
            }
        }
        let rotated = match tokio::fs::metadata(path).await {
            Ok(metadata) => Some(identity(&metadata)) != log.identity,
            Err(_) => false,
        };
        if rotated {
            // The old file is drained (we are at its end): go on with the new one.
            if let Ok(reopened) = open(path).await {
                log = reopened;
                line.clear();
                continue;
            }
        }
        tokio::time::sleep(FOLLOW_POLL).await;
    }
}
