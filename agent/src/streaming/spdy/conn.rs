//! The server side of a SPDY/3.1 connection: streams the client opens are
//! accepted (SYN_REPLY) and handed out with a receiver for their data and a
//! writer; pings are answered; received data is acknowledged with
//! WINDOW_UPDATE so a peer that counts its window never stalls.

use std::collections::HashMap;
use std::io;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tracing::debug;

use super::frame::{self, Frame, HeaderDecoder, HeaderEncoder, Headers, FLAG_FIN};

/// The largest DATA payload this side sends.
const MAX_DATA: usize = 32 * 1024;

/// A stream opened by the client.
pub struct Stream {
    /// Its ID.
    pub id: u32,
    /// The headers of its SYN_STREAM.
    pub headers: Headers,
    /// Data from the client; ends at the client's FIN or RST_STREAM.
    pub data: mpsc::Receiver<Bytes>,
    /// Sends data to the client.
    pub writer: StreamWriter,
}

impl Stream {
    /// The value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// The sending half of a stream.
#[derive(Clone)]
pub struct StreamWriter {
    id: u32,
    tx: mpsc::Sender<Frame>,
}

impl StreamWriter {
    /// Sends `data` (split into frames as needed).
    pub async fn write(&self, data: &[u8]) -> io::Result<()> {
        for chunk in data.chunks(MAX_DATA) {
            self.send(Frame::Data {
                stream_id: self.id,
                flags: 0,
                data: Bytes::copy_from_slice(chunk),
            })
            .await?;
        }
        Ok(())
    }

    /// Half-closes the stream (an empty DATA frame with FIN).
    pub async fn close(&self) -> io::Result<()> {
        self.send(Frame::Data {
            stream_id: self.id,
            flags: FLAG_FIN,
            data: Bytes::new(),
        })
        .await
    }

    /// Aborts the stream (RST_STREAM CANCEL).
    pub async fn reset(&self) -> io::Result<()> {
        self.send(Frame::RstStream {
            stream_id: self.id,
            status: frame::RST_CANCEL,
        })
        .await
    }

    async fn send(&self, f: Frame) -> io::Result<()> {
        self.tx
            .send(f)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "SPDY connection closed"))
    }
}

/// Serves a SPDY connection on `io`, sending every stream the client opens
/// to `streams`. Returns when the client closes the connection (or sends
/// GOAWAY); handlers still holding stream writers should then stop.
pub async fn serve<IO>(io: IO, streams: mpsc::Sender<Stream>) -> io::Result<()>
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut rd, wr) = tokio::io::split(io);
    let (tx, rx) = mpsc::channel::<Frame>(128);
    let writer = tokio::spawn(write_loop(wr, rx));
    let mut dec = HeaderDecoder::new();
    let mut open: HashMap<u32, mpsc::Sender<Bytes>> = HashMap::new();
    let result = loop {
        let f = match frame::read(&mut rd, &mut dec).await {
            Ok(Some(f)) => f,
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        };
        match f {
            Frame::SynStream {
                stream_id,
                flags,
                headers,
                ..
            } => {
                if open.contains_key(&stream_id) || stream_id == 0 {
                    let _ = tx
                        .send(Frame::RstStream {
                            stream_id,
                            status: frame::RST_PROTOCOL_ERROR,
                        })
                        .await;
                    continue;
                }
                let _ = tx
                    .send(Frame::SynReply {
                        stream_id,
                        flags: 0,
                        headers: vec![],
                    })
                    .await;
                let (data_tx, data_rx) = mpsc::channel(32);
                if flags & FLAG_FIN == 0 {
                    open.insert(stream_id, data_tx);
                }
                let stream = Stream {
                    id: stream_id,
                    headers,
                    data: data_rx,
                    writer: StreamWriter {
                        id: stream_id,
                        tx: tx.clone(),
                    },
                };
                if streams.send(stream).await.is_err() {
                    let _ = tx
                        .send(Frame::RstStream {
                            stream_id,
                            status: frame::RST_REFUSED_STREAM,
                        })
                        .await;
                }
            }
            Frame::Data { stream_id, flags, data } => {
                let len = data.len() as u32;
                if let Some(sink) = open.get(&stream_id) {
                    if !data.is_empty() && sink.send(data).await.is_err() {
                        // The handler is gone; nobody reads this stream any more.
                        open.remove(&stream_id);
                    }
                }
                if flags & FLAG_FIN != 0 {
                    open.remove(&stream_id);
                }
                if len > 0 {
                    let _ = tx.send(Frame::WindowUpdate { stream_id, delta: len }).await;
                }
            }
            Frame::RstStream { stream_id, .. } => {
                open.remove(&stream_id);
            }
            Frame::Ping { id } => {
                let _ = tx.send(Frame::Ping { id }).await;
            }
            Frame::GoAway { .. } => break Ok(()),
            Frame::SynReply { .. }
            | Frame::Headers { .. }
            | Frame::Settings { .. }
            | Frame::WindowUpdate { .. }
            | Frame::Unknown { .. } => {}
        }
    };
    // Streams see their end; the writer task lives on while handlers hold
    // writers, and ends when they are gone (callers stop their handlers now).
    open.clear();
    drop(streams);
    drop(tx);
    drop(writer);
    result
}

async fn write_loop<W: AsyncWrite + Unpin>(mut wr: W, mut rx: mpsc::Receiver<Frame>) {
    let mut enc = HeaderEncoder::new();
    let mut buf = Vec::with_capacity(64 * 1024);
    while let Some(f) = rx.recv().await {
        buf.clear();
        if let Err(e) = frame::encode(&f, &mut enc, &mut buf) {
            debug!(error = %e, "cannot encode a SPDY frame");
            continue;
        }
        // Batch whatever else is already queued.
        while buf.len() < 64 * 1024 {
            match rx.try_recv() {
                Ok(f) => {
                    if let Err(e) = frame::encode(&f, &mut enc, &mut buf) {
                        debug!(error = %e, "cannot encode a SPDY frame");
                    }
                }
                Err(_) => break,
            }
        }
        if wr.write_all(&buf).await.is_err() || wr.flush().await.is_err() {
            return;
        }
    }
    let _ = wr.shutdown().await;
}
