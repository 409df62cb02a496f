use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::*;

const LOG: &str = "\
2026-11-22T22:51:22.100000000Z stdout F one
2026-11-22T22:51:23.200000000Z stderr F two-err
2026-11-22T22:51:24.300000000Z stdout P thr
2026-11-22T22:51:24.400000000Z stdout F ee
2026-11-22T22:51:25.000000005Z stdout F four
";

fn ts(text: &str) -> Timestamp {
    text.parse().expect("timestamp")
}

async fn read(text: &str, options: LogOptions) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("0.log");
    std::fs::write(&path, text).expect("write");
    let (tx, mut rx) = mpsc::channel(64);
    read_logs(&path, &options, tx, || async { false }).await.expect("read_logs");
    let mut out = Vec::new();
    while let Some(chunk) = rx.recv().await {
        out.extend_from_slice(&chunk);
    }
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn records_parse_with_their_stream_and_a_newline_only_when_full() {
    let cases: &[(&str, Option<(Stream, &str)>)] = &[
        ("2026-11-22T22:51:22.297390088Z stdout F hello", Some((Stream::Stdout, "hello\n"))),
        ("2026-11-22T22:51:22.297390088Z stderr P part", Some((Stream::Stderr, "part"))),
        ("2026-11-22T22:51:22.297390088Z stdout F ", Some((Stream::Stdout, "\n"))),
        ("2026-11-22T22:51:22.297390088Z stdout F", Some((Stream::Stdout, "\n"))),
        (
            "2026-11-22T23:51:22.297390088+01:00 stdout F with spaces  in it\n",
            Some((Stream::Stdout, "with spaces  in it\n")),
        ),
        ("2026-11-22T22:51:22Z stdout F:extra tagged", Some((Stream::Stdout, "tagged\n"))),
        ("not-a-time stdout F x", None),
        ("2026-11-22T22:51:22Z stdin F x", None),
        ("2026-11-22T22:51:22Z stdout X x", None),
    ];
    for (line, want) in cases {
        let got = Record::parse(line.as_bytes()).map(|r| (r.stream, String::from_utf8(r.content).expect("utf-8")));
        assert_eq!(got, want.map(|(s, c)| (s, c.to_owned())), "{line}");
    }
}

#[test]
fn timestamps_format_with_nine_fractional_digits_in_utc() {
    assert_eq!(format_timestamp(ts("2026-11-22T22:51:25.000000005Z")), "2026-11-22T22:51:25.000000005Z");
    assert_eq!(format_timestamp(ts("2026-11-22T23:51:25+01:00")), "2026-11-22T22:51:25.000000000Z");
}

#[tokio::test]
async fn options_select_the_lines_as_kubectl_logs_asks() {
    let all = LogOptions::default();
    let cases: Vec<(&str, LogOptions, &str)> = vec![
        ("everything", all.clone(), "one\ntwo-err\nthree\nfour\n"),
        ("tail 2 joins the partial line", LogOptions { tail_lines: Some(2), ..all.clone() }, "three\nfour\n"),
        ("tail 1", LogOptions { tail_lines: Some(1), ..all.clone() }, "four\n"),
        ("tail 0", LogOptions { tail_lines: Some(0), ..all.clone() }, ""),
        ("tail more than there is", LogOptions { tail_lines: Some(100), ..all.clone() }, "one\ntwo-err\nthree\nfour\n"),
        (
            "since drops older records",
            LogOptions { since: Some(ts("2026-11-22T22:51:24.350000000Z")), ..all.clone() },
            "ee\nfour\n",
        ),
        ("limit bytes cuts a line", LogOptions { limit_bytes: Some(6), ..all.clone() }, "one\ntw"),
        (
            "stdout only",
            LogOptions { streams: StreamSelection::Only(Stream::Stdout), ..all.clone() },
            "one\nthree\nfour\n",
        ),
        ("stderr only", LogOptions { streams: StreamSelection::Only(Stream::Stderr), ..all.clone() }, "two-err\n"),
        (
            "tail counts only the selected stream",
            LogOptions { streams: StreamSelection::Only(Stream::Stderr), tail_lines: Some(1), ..all.clone() },
            "two-err\n",
        ),
        (
            "timestamps prefix each line once",
            LogOptions { timestamps: true, tail_lines: Some(2), ..all.clone() },
            "2026-11-22T22:51:24.300000000Z three\n2026-11-22T22:51:25.000000005Z four\n",
        ),
        (
            "the limit counts the timestamps",
            LogOptions { timestamps: true, limit_bytes: Some(35), ..all.clone() },
            "2026-11-22T22:51:22.100000000Z one\n",
        ),
    ];
    for (name, options, want) in cases {
        assert_eq!(read(LOG, options).await, want, "{name}");
    }
}

#[tokio::test]
async fn unparseable_lines_are_skipped_and_an_incomplete_last_line_is_kept() {
    let text = "garbage\n2026-11-22T22:51:22Z stdout F ok\n2026-11-22T22:51:23Z stdout F cut-short";
    assert_eq!(read(text, LogOptions::default()).await, "ok\ncut-short\n");
    assert_eq!(read(text, LogOptions { tail_lines: Some(1), ..Default::default() }).await, "cut-short\n");
}

#[tokio::test]
async fn a_missing_file_is_an_open_error() {
    let (tx, _rx) = mpsc::channel(1);
    let error = read_logs(Path::new("/nonexistent/0.log"), &LogOptions::default(), tx, || async { true })
        .await
        .expect_err("missing");
    assert!(matches!(error, LogsError::Open { .. }), "{error:?}");
}

async fn next_text(rx: &mut mpsc::Receiver<Bytes>) -> String {
    let chunk = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("output in time");
    String::from_utf8(chunk.expect("a chunk").to_vec()).expect("utf-8")
}

#[tokio::test]
async fn follow_reads_a_growing_file_and_ends_when_the_container_has_exited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("0.log");
    std::fs::write(&path, "2026-11-22T22:51:22Z stdout F first\n2026-11-22T22:51:23Z stdout F second\n")
        .expect("write");
    let running = Arc::new(AtomicBool::new(true));
    let (tx, mut rx) = mpsc::channel(64);
    let options = LogOptions { follow: true, tail_lines: Some(1), ..Default::default() };
    let reader = tokio::spawn({
        let (path, running) = (path.clone(), Arc::clone(&running));
        async move {
            read_logs(&path, &options, tx, move || {
                let running = Arc::clone(&running);
                async move { running.load(Ordering::SeqCst) }
            })
            .await
        }
    });
    assert_eq!(next_text(&mut rx).await, "second\n");

    let mut file = std::fs::OpenOptions::new().append(true).open(&path).expect("open");
    // A record written in two pieces is read once it is complete.
    file.write_all(b"2026-11-22T22:51:24Z stdout P gro").expect("append");
    file.flush().expect("flush");
    file.write_all(b"wing\n").expect("append");
    assert_eq!(next_text(&mut rx).await, "growing");
    file.write_all(b"2026-11-22T22:51:25Z stdout F n\n").expect("append");
    assert_eq!(next_text(&mut rx).await, "n\n");

    // The container exits after a last line: it is still read, then the stream ends.
    file.write_all(b"2026-11-22T22:51:26Z stdout F last\n").expect("append");
    running.store(false, Ordering::SeqCst);
    let mut rest = String::new();
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("in time") {
        rest.push_str(std::str::from_utf8(&chunk).expect("utf-8"));
    }
    assert_eq!(rest, "last\n");
    reader.await.expect("join").expect("read_logs");
}

#[tokio::test]
async fn follow_goes_on_with_the_new_file_after_a_rotation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("0.log");
    std::fs::write(&path, "2026-11-22T22:51:22Z stdout F before\n").expect("write");
    let (tx, mut rx) = mpsc::channel(64);
    let options = LogOptions { follow: true, ..Default::default() };
    let reader = tokio::spawn({
        let path = path.clone();
        async move { read_logs(&path, &options, tx, || async { true }).await }
    });
    assert_eq!(next_text(&mut rx).await, "before\n");
    std::fs::rename(&path, dir.path().join("0.log.20261122-225122")).expect("rotate");
    std::fs::write(&path, "2026-11-22T22:51:23Z stdout F after\n").expect("write");
    assert_eq!(next_text(&mut rx).await, "after\n");
    drop(rx);
    tokio::time::timeout(Duration::from_secs(10), reader).await.expect("ends").expect("join").expect("read_logs");
}
