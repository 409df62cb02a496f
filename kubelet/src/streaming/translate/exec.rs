//! Exec and attach: WebSocket channels 0–4 (stdin, stdout, stderr, error,
//! resize) to the SPDY remotecommand protocol v4.channel.k8s.io, whose client
//! opens one stream per channel with header `streamType`.

use futures::{Sink, Stream, StreamExt};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use super::TranslateError;
use super::channel::{CLOSE_CHANNEL, ChannelProtocol, Outgoing, WebSocketMessage, WsMessage, finish_close, pump};
use crate::streaming::spdy::{self, Headers};

/// The SPDY sub-protocol spoken to the CRI streaming server.
pub const SPDY_REMOTECOMMAND_V4: &str = "v4.channel.k8s.io";

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;

/// The streams a session asked for (the `stdin`, `stdout`, `stderr` and
/// `tty` query parameters); with a TTY there is no separate stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExecOptions {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

/// Relays one exec or attach session between a WebSocket client and the CRI
/// streaming URL `cri_url` (from `Runtime::exec`/`attach`), then writes the
/// session's `Status` on the error channel and closes the WebSocket.
///
/// `options` must be the flags of the CRI `ExecRequest`/`AttachRequest` that
/// produced `cri_url`: the streaming server waits for exactly those streams.
///
/// Returns once the session is over; errors are also reported to the
/// client as an InternalError status, as upstream's translator does.
pub async fn translate_exec<S, M, E>(
    ws: S,
    protocol: ChannelProtocol,
    cri_url: &str,
    options: ExecOptions,
) -> Result<(), TranslateError>
where
    S: Stream<Item = Result<M, E>> + Sink<M> + Send + Unpin + 'static,
    M: WebSocketMessage,
{
    let options = ExecOptions { stderr: options.stderr && !options.tty, ..options };
    let (sink, mut source) = ws.split();
    let (out, writer) = Outgoing::start(sink, protocol);
    // Tell the client the connection is up: an empty message on the lowest
    // writable channel.
    let first = if options.stdout {
        STDOUT
    } else if options.stderr {
        STDERR
    } else {
        ERROR
    };
    out.send(first, &[]).await;

    let result = relay(&mut source, &out, protocol, cri_url, options).await;
    let status = match &result {
        Ok(status) => status.clone(),
        Err(error) => internal_error(&error.to_string()),
    };
    if protocol.status_is_json() {
        out.send(ERROR, status.to_string().as_bytes()).await;
    } else if status["status"] != "Success" {
        let text = status["message"].as_str().unwrap_or_default().to_owned();
        out.send(ERROR, text.as_bytes()).await;
    }
    drop(out);
    let _ = writer.await;
    finish_close(&mut source).await;
    result.map(|_| ())
}

fn stream_headers(stream_type: &str) -> Headers {
    Headers::new().with("streamType", stream_type)
}

/// Runs the SPDY side; the Status to send the client.
async fn relay<R, M, E>(
    mut source: R,
    out: &Outgoing,
    protocol: ChannelProtocol,
    cri_url: &str,
    options: ExecOptions,
) -> Result<Value, TranslateError>
where
    R: Stream<Item = Result<M, E>> + Send + Unpin,
    M: WebSocketMessage,
{
    let (conn, chosen) = spdy::connect(cri_url, &[SPDY_REMOTECOMMAND_V4], spdy::Config::default()).await?;
    if chosen != SPDY_REMOTECOMMAND_V4 {
        return Err(TranslateError::UnexpectedProtocol(chosen));
    }
    // The order client-go creates them in.
    let mut error = conn.open(stream_headers("error"))?;
    let stdin = options.stdin.then(|| conn.open(stream_headers("stdin"))).transpose()?;
    let stdout = options.stdout.then(|| conn.open(stream_headers("stdout"))).transpose()?;
    let stderr = options.stderr.then(|| conn.open(stream_headers("stderr"))).transpose()?;
    let resize = options.tty.then(|| conn.open(stream_headers("resize"))).transpose()?;

    let outputs = async {
        let stdout_done = async {
            if let Some(stream) = stdout.clone() {
                pump(stream, out.clone(), STDOUT).await;
            }
        };
        let stderr_done = async {
            if let Some(stream) = stderr.clone() {
                pump(stream, out.clone(), STDERR).await;
            }
        };
        tokio::join!(stdout_done, stderr_done);
        let mut status = Vec::new();
        let _ = tokio::io::AsyncReadExt::read_to_end(&mut error, &mut status).await;
        decode_status(&status)
    };
    let inputs = async {
        let mut stdin = stdin.clone();
        let mut resize = resize.clone();
        while let Some(Ok(message)) = source.next().await {
            let message = message.into_ws();
            if message == WsMessage::Close {
                break;
            }
            let Some((channel, data)) = protocol.decode(&message) else { continue };
            match channel {
                STDIN => {
                    if let Some(stream) = stdin.as_mut()
                        && stream.write_all(&data).await.is_err()
                    {
                        stdin = None;
                    }
                }
                RESIZE => {
                    if let Some(stream) = resize.as_mut() {
                        let _ = stream.write_all(&data).await;
                    }
                }
                CLOSE_CHANNEL if protocol.has_close_signal() && data.first() == Some(&STDIN) => {
                    if let Some(mut stream) = stdin.take() {
                        let _ = stream.shutdown().await;
                    }
                }
                _ => {}
            }
        }
        // The client is done sending: stdin ends.
        if let Some(mut stream) = stdin {
            let _ = stream.shutdown().await;
        }
    };
    tokio::pin!(outputs);
    tokio::select! {
        status = &mut outputs => return Ok(status),
        _ = out.gone() => return Err(TranslateError::ClientGone),
        _ = inputs => {}
    }
    tokio::select! {
        status = outputs => Ok(status),
        _ = out.gone() => Err(TranslateError::ClientGone),
    }
}

/// The Status to forward for what the CRI server wrote on its error stream
/// (remotecommand v4: a JSON Status, nothing meaning success).
fn decode_status(raw: &[u8]) -> Value {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return success();
    }
    let Ok(status) = serde_json::from_slice::<Value>(raw) else {
        let text = String::from_utf8_lossy(raw);
        return internal_error(&format!("error stream protocol error: invalid JSON in {text:?}"));
    };
    match status["status"].as_str() {
        Some("Success") => success(),
        Some("Failure") if status["reason"] == "NonZeroExitCode" => {
            let code = status["details"]["causes"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|cause| cause["reason"] == "ExitCode")
                .and_then(|cause| cause["message"].as_str())
                .and_then(|code| code.parse::<u8>().ok());
            match code {
                Some(code) => non_zero_exit(code),
                None => internal_error("error stream protocol error: no ExitCode cause given"),
            }
        }
        Some("Failure") => internal_error(status["message"].as_str().unwrap_or_default()),
        _ => internal_error("error stream protocol error: unknown error"),
    }
}

fn success() -> Value {
    json!({"metadata": {}, "status": "Success"})
}

/// What upstream's translator writes for a command's non-zero exit.
fn non_zero_exit(code: u8) -> Value {
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!("command terminated with non-zero exit code: command terminated with exit code {code}"),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
    })
}

/// `apierrors.NewInternalError(err)` as JSON.
fn internal_error(message: &str) -> Value {
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!("Internal error occurred: {message}"),
        "reason": "InternalError",
        "details": {"causes": [{"message": message}]},
        "code": 500,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_or_success_error_stream_is_success() {
        assert_eq!(decode_status(b""), success());
        assert_eq!(decode_status(br#"{"metadata":{},"status":"Success"}"#), success());
    }

    #[test]
    fn a_non_zero_exit_keeps_its_code() {
        let from_cri = br#"{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}"#;
        let status = decode_status(from_cri);
        assert_eq!(status, non_zero_exit(3));
        assert_eq!(status["details"]["causes"][0]["message"], "3");
    }

    #[test]
    fn other_failures_become_internal_errors_with_their_message() {
        let status = decode_status(br#"{"metadata":{},"status":"Failure","message":"container not running"}"#);
        assert_eq!(status["reason"], "InternalError");
        assert_eq!(status["code"], 500);
        assert_eq!(status["message"], "Internal error occurred: container not running");
        assert_eq!(decode_status(b"garbage")["reason"], "InternalError");
    }
}
