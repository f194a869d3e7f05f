//! exec and attach sessions over a WebSocket speaking a channel protocol:
//! stdin and resize in, stdout/stderr out, the outcome on the error channel,
//! then the connection is closed (the client waits for that).

use std::path::PathBuf;

use bytes::Bytes;
use futures::stream::SplitStream;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tracing::debug;

use super::channel::{self, Outcome, Protocol};
use super::websocket::WebSocket;
use super::{ExecSession, OutputReader, Resizer, StdinWriter, TermSize};
use crate::logs::reader::{self, LogOptions, LogStream, RunningCheck};

/// Which streams a client asked for (`stdin`/`stdout`/`stderr`/`tty`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamOptions {
    /// Standard input.
    pub stdin: bool,
    /// Standard output.
    pub stdout: bool,
    /// Standard error (ignored with a TTY).
    pub stderr: bool,
    /// A terminal.
    pub tty: bool,
}

/// The sending half: messages go through a queue to one writer task.
#[derive(Clone)]
struct Out {
    tx: mpsc::Sender<Message>,
}

impl Out {
    async fn send(&self, channel: u8, data: &[u8]) -> bool {
        self.tx
            .send(Message::Binary(Bytes::from(channel::encode(channel, data))))
            .await
            .is_ok()
    }
}

/// Splits the socket: a writer task drains the queue (then closes the
/// socket); the reading half is returned.
fn start(ws: WebSocket) -> (Out, SplitStream<WebSocket>, tokio::task::JoinHandle<()>) {
    let (mut sink, stream) = ws.split();
    let (tx, mut rx) = mpsc::channel::<Message>(64);
    let writer = tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            if sink.send(msg).await.is_err() {
                return;
            }
        }
        let _ = sink
            .send(Message::Close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            })))
            .await;
        let _ = sink.close().await;
    });
    (Out { tx }, stream, writer)
}

/// Reads client messages until the client goes away: stdin data, resize and close.
async fn input_loop(
    mut stream: SplitStream<WebSocket>,
    protocol: Protocol,
    mut stdin: Option<StdinWriter>,
    resize: Option<Resizer>,
) {
    while let Some(msg) = stream.next().await {
        let data = match msg {
            Ok(Message::Binary(b)) => b.to_vec(),
            Ok(Message::Text(t)) => t.as_bytes().to_vec(),
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => continue,
        };
        let Some((ch, payload)) = channel::decode(&data) else {
            continue;
        };
        match ch {
            channel::STDIN => {
                if let Some(w) = stdin.as_mut() {
                    if w.write_all(payload).await.is_err() || w.flush().await.is_err() {
                        stdin = None;
                    }
                }
            }
            channel::RESIZE if protocol.supports_resize() => {
                let Some(resize) = resize.as_ref() else { continue };
                match serde_json::from_slice::<TermSize>(payload) {
                    Ok(size) => {
                        if let Err(e) = resize(size).await {
                            debug!(error = %format!("{e:#}"), "resize failed");
                        }
                    }
                    Err(e) => debug!(error = %e, "bad resize message"),
                }
            }
            channel::CLOSE if protocol.supports_close() && payload.first() == Some(&channel::STDIN) => {
                if let Some(mut w) = stdin.take() {
                    let _ = w.shutdown().await;
                }
            }
            _ => {}
        }
    }
    if let Some(mut w) = stdin.take() {
        let _ = w.shutdown().await;
    }
}

/// Copies a process output to a channel until it ends.
async fn pump(mut reader: OutputReader, ch: u8, out: Out) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if !out.send(ch, &buf[..n]).await {
                    return;
                }
            }
        }
    }
}

/// Sends the outcome on the error channel and closes the connection.
async fn finish(out: Out, protocol: Protocol, outcome: Outcome, writer: tokio::task::JoinHandle<()>) {
    if let Some(payload) = channel::status_payload(protocol, &outcome) {
        out.send(channel::ERROR, &payload).await;
    }
    drop(out);
    let _ = writer.await;
}

/// Runs an exec session: `session` is the started process (or why it could not start).
pub async fn serve_exec(ws: WebSocket, protocol: Protocol, session: anyhow::Result<ExecSession>) {
    let (out, stream, writer) = start(ws);
    let session = match session {
        Ok(s) => s,
        Err(e) => {
            let outcome = Outcome::Error(format!("{e:#}"));
            drop(stream);
            return finish(out, protocol, outcome, writer).await;
        }
    };
    let ExecSession {
        stdin,
        stdout,
        stderr,
        resize,
        exit,
    } = session;
    let input = tokio::spawn(input_loop(stream, protocol, stdin, resize));
    let mut pumps = Vec::new();
    if let Some(r) = stdout {
        pumps.push(tokio::spawn(pump(r, channel::STDOUT, out.clone())));
    }
    if let Some(r) = stderr {
        pumps.push(tokio::spawn(pump(r, channel::STDERR, out.clone())));
    }
    let code = exit.await;
    // All output is sent before the outcome.
    for p in pumps {
        let _ = p.await;
    }
    input.abort();
    let outcome = match code {
        Ok(0) => Outcome::Success,
        Ok(code) => Outcome::ExitCode(code),
        Err(e) => Outcome::Error(format!("{e:#}")),
    };
    finish(out, protocol, outcome, writer).await;
}

/// What an attach session reads and writes.
pub struct AttachIo {
    /// The container's stdin (if attached).
    pub stdin: Option<StdinWriter>,
    /// Resizes its TTY.
    pub resize: Option<Resizer>,
    /// Its current CRI log, followed from its end for the output.
    pub log_path: PathBuf,
    /// Whether the container still runs (the session ends when it exits).
    pub running: RunningCheck,
}

/// Runs an attach session until the container exits or the client goes away.
pub async fn serve_attach(ws: WebSocket, protocol: Protocol, opts: StreamOptions, io: anyhow::Result<AttachIo>) {
    let (out, stream, writer) = start(ws);
    let io = match io {
        Ok(io) => io,
        Err(e) => {
            drop(stream);
            return finish(out, protocol, Outcome::Error(format!("{e:#}")), writer).await;
        }
    };
    let AttachIo {
        stdin,
        resize,
        log_path,
        running,
    } = io;
    let mut input = tokio::spawn(input_loop(stream, protocol, stdin, resize));
    let (tx, mut rx) = mpsc::channel::<(LogStream, Bytes)>(16);
    let follow = tokio::spawn(async move {
        let opts = LogOptions {
            follow: true,
            tail_lines: Some(0),
            ..Default::default()
        };
        if let Err(e) = reader::read_log(&log_path, &opts, Some(&running), &tx).await {
            debug!(error = %format!("{e:#}"), "attach: reading the log failed");
        }
    });
    let forward = async {
        while let Some((stream, data)) = rx.recv().await {
            let ch = match stream {
                LogStream::Stderr if !opts.tty => channel::STDERR,
                _ => channel::STDOUT,
            };
            let wanted = if ch == channel::STDERR {
                opts.stderr
            } else {
                opts.stdout
            };
            if wanted && !out.send(ch, &data).await {
                break;
            }
        }
    };
    tokio::select! {
        _ = forward => {}
        _ = &mut input => {}
    }
    follow.abort();
    input.abort();
    finish(out, protocol, Outcome::Success, writer).await;
}
