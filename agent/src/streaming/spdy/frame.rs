//! SPDY/3.1 frames: encoding, decoding and the zlib-compressed header blocks
//! (one compression context per direction, primed with SPDY's dictionary).

use std::io;

use bytes::Bytes;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use tokio::io::{AsyncRead, AsyncReadExt};

/// The protocol version in control frames.
pub const VERSION: u16 = 3;
/// FLAG_FIN: the sender's last frame on the stream.
pub const FLAG_FIN: u8 = 0x01;

const TYPE_SYN_STREAM: u16 = 1;
const TYPE_SYN_REPLY: u16 = 2;
const TYPE_RST_STREAM: u16 = 3;
const TYPE_SETTINGS: u16 = 4;
const TYPE_PING: u16 = 6;
const TYPE_GOAWAY: u16 = 7;
const TYPE_HEADERS: u16 = 8;
const TYPE_WINDOW_UPDATE: u16 = 9;

/// RST_STREAM status: PROTOCOL_ERROR.
pub const RST_PROTOCOL_ERROR: u32 = 1;
/// RST_STREAM status: INVALID_STREAM.
pub const RST_INVALID_STREAM: u32 = 2;
/// RST_STREAM status: REFUSED_STREAM.
pub const RST_REFUSED_STREAM: u32 = 3;
/// RST_STREAM status: CANCEL.
pub const RST_CANCEL: u32 = 5;

/// The largest payload a frame can carry (24-bit length).
pub const MAX_FRAME_LEN: usize = (1 << 24) - 1;

/// Header name/value pairs (names lower case; several values joined by NUL).
pub type Headers = Vec<(String, String)>;

/// One SPDY/3.1 frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Opens a stream.
    SynStream {
        /// The new stream.
        stream_id: u32,
        /// The stream it is associated with (0: none).
        associated_to: u32,
        /// Priority 0 (highest) to 7.
        priority: u8,
        /// FIN / UNIDIRECTIONAL.
        flags: u8,
        /// Its headers.
        headers: Headers,
    },
    /// Accepts a stream.
    SynReply {
        /// The stream.
        stream_id: u32,
        /// FIN.
        flags: u8,
        /// Reply headers.
        headers: Headers,
    },
    /// Aborts a stream.
    RstStream {
        /// The stream.
        stream_id: u32,
        /// Why.
        status: u32,
    },
    /// Connection settings (ignored beyond parsing).
    Settings {
        /// (flags, id, value) entries.
        entries: Vec<(u8, u32, u32)>,
    },
    /// A ping, answered with the same ID.
    Ping {
        /// Its ID.
        id: u32,
    },
    /// The sender is closing the connection.
    GoAway {
        /// The last stream it accepted.
        last_good_stream_id: u32,
        /// Why.
        status: u32,
    },
    /// More headers for a stream.
    Headers {
        /// The stream.
        stream_id: u32,
        /// FIN.
        flags: u8,
        /// The headers.
        headers: Headers,
    },
    /// More send window for a stream.
    WindowUpdate {
        /// The stream.
        stream_id: u32,
        /// Bytes added.
        delta: u32,
    },
    /// Stream data.
    Data {
        /// The stream.
        stream_id: u32,
        /// FIN.
        flags: u8,
        /// The payload.
        data: Bytes,
    },
    /// A control frame of a type this implementation does not know (skipped).
    Unknown {
        /// Its type.
        frame_type: u16,
    },
}

/// SPDY/3's header-compression dictionary: length-prefixed common header
/// names and values, then common text without prefixes.
fn build_dictionary() -> Vec<u8> {
    const PREFIXED: &[&str] = &[
        "options",
        "head",
        "post",
        "put",
        "delete",
        "trace",
        "accept",
        "accept-charset",
        "accept-encoding",
        "accept-language",
        "accept-ranges",
        "age",
        "allow",
        "authorization",
        "cache-control",
        "connection",
        "content-base",
        "content-encoding",
        "content-language",
        "content-length",
        "content-location",
        "content-md5",
        "content-range",
        "content-type",
        "date",
        "etag",
        "expect",
        "expires",
        "from",
        "host",
        "if-match",
        "if-modified-since",
        "if-none-match",
        "if-range",
        "if-unmodified-since",
        "last-modified",
        "location",
        "max-forwards",
        "pragma",
        "proxy-authenticate",
        "proxy-authorization",
        "range",
        "referer",
        "retry-after",
        "server",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "vary",
        "via",
        "warning",
        "www-authenticate",
        "method",
        "get",
        "status",
        "200 OK",
        "version",
        "HTTP/1.1",
        "url",
        "public",
        "set-cookie",
        "keep-alive",
        "origin",
    ];
    const TAIL: &[&str] = &[
        "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505",
        "203 Non-Authoritative Information",
        "204 No Content",
        "301 Moved Permanently",
        "400 Bad Request",
        "401 Unauthorized",
        "403 Forbidden",
        "404 Not Found",
        "500 Internal Server Error",
        "501 Not Implemented",
        "503 Service Unavailable",
        "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec",
        " 00:00:00",
        " Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT",
        "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,",
        "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.",
    ];
    let mut dict = Vec::with_capacity(1423);
    for word in PREFIXED {
        dict.extend_from_slice(&(word.len() as u32).to_be_bytes());
        dict.extend_from_slice(word.as_bytes());
    }
    for part in TAIL {
        dict.extend_from_slice(part.as_bytes());
    }
    dict
}

/// The dictionary, built once.
pub fn dictionary() -> &'static [u8] {
    static DICT: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    DICT.get_or_init(build_dictionary)
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// The compressing side of a connection's header blocks.
pub struct HeaderEncoder {
    z: Compress,
}

impl Default for HeaderEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl HeaderEncoder {
    /// A fresh context primed with the dictionary.
    pub fn new() -> Self {
        let mut z = Compress::new(Compression::default(), true);
        // Setting a dictionary on a fresh deflate stream cannot fail.
        let _ = z.set_dictionary(dictionary());
        HeaderEncoder { z }
    }

    /// Serializes and compresses a header block (sync-flushed, so it is complete).
    pub fn encode(&mut self, headers: &Headers) -> io::Result<Vec<u8>> {
        let mut raw = Vec::new();
        raw.extend_from_slice(&(headers.len() as u32).to_be_bytes());
        for (name, value) in headers {
            raw.extend_from_slice(&(name.len() as u32).to_be_bytes());
            raw.extend_from_slice(name.to_ascii_lowercase().as_bytes());
            raw.extend_from_slice(&(value.len() as u32).to_be_bytes());
            raw.extend_from_slice(value.as_bytes());
        }
        let mut out = Vec::with_capacity(raw.len() + 64);
        let start = self.z.total_in();
        loop {
            let consumed = (self.z.total_in() - start) as usize;
            if out.capacity() - out.len() < 64 {
                out.reserve(256);
            }
            self.z
                .compress_vec(&raw[consumed..], &mut out, FlushCompress::Sync)
                .map_err(|e| invalid(format!("header compression failed: {e}")))?;
            let consumed = (self.z.total_in() - start) as usize;
            if consumed == raw.len() && out.len() < out.capacity() {
                return Ok(out);
            }
        }
    }
}

/// The decompressing side of a connection's header blocks.
pub struct HeaderDecoder {
    z: Decompress,
}

impl Default for HeaderDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl HeaderDecoder {
    /// A fresh context (the dictionary is supplied when the stream asks for it).
    pub fn new() -> Self {
        HeaderDecoder {
            z: Decompress::new(true),
        }
    }

    /// Decompresses and parses one header block.
    pub fn decode(&mut self, block: &[u8]) -> io::Result<Headers> {
        let mut out = Vec::with_capacity(block.len() * 4 + 256);
        let start = self.z.total_in();
        loop {
            let consumed = (self.z.total_in() - start) as usize;
            let before = (self.z.total_in(), self.z.total_out());
            match self
                .z
                .decompress_vec(&block[consumed..], &mut out, FlushDecompress::Sync)
            {
                Ok(Status::StreamEnd) => break,
                Ok(_) => {}
                Err(e) if e.needs_dictionary().is_some() => {
                    self.z
                        .set_dictionary(dictionary())
                        .map_err(|e| invalid(format!("header block dictionary rejected: {e}")))?;
                    continue;
                }
                Err(e) => return Err(invalid(format!("header block decompression failed: {e}"))),
            }
            let consumed = (self.z.total_in() - start) as usize;
            if consumed == block.len() && out.len() < out.capacity() {
                break;
            }
            if out.len() == out.capacity() {
                out.reserve(out.capacity().max(256));
            } else if before == (self.z.total_in(), self.z.total_out()) {
                return Err(invalid("header block decompression made no progress"));
            }
        }
        parse_headers(&out)
    }
}

fn parse_headers(raw: &[u8]) -> io::Result<Headers> {
    let mut p = raw;
    let count = take_u32(&mut p)?;
    let mut headers = Vec::with_capacity(count.min(64) as usize);
    for _ in 0..count {
        let name = take_string(&mut p)?;
        let value = take_string(&mut p)?;
        headers.push((name.to_ascii_lowercase(), value));
    }
    Ok(headers)
}

fn take_u32(p: &mut &[u8]) -> io::Result<u32> {
    if p.len() < 4 {
        return Err(invalid("truncated header block"));
    }
    let v = u32::from_be_bytes([p[0], p[1], p[2], p[3]]);
    *p = &p[4..];
    Ok(v)
}

fn take_string(p: &mut &[u8]) -> io::Result<String> {
    let len = take_u32(p)? as usize;
    if p.len() < len {
        return Err(invalid("truncated header block"));
    }
    let s = String::from_utf8_lossy(&p[..len]).into_owned();
    *p = &p[len..];
    Ok(s)
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn control(out: &mut Vec<u8>, frame_type: u16, flags: u8, payload: &[u8]) -> io::Result<()> {
    if payload.len() > MAX_FRAME_LEN {
        return Err(invalid("frame too large"));
    }
    out.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
    out.extend_from_slice(&frame_type.to_be_bytes());
    out.push(flags);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(payload);
    Ok(())
}

/// Appends the wire form of `frame` to `out`, compressing headers with `enc`.
pub fn encode(frame: &Frame, enc: &mut HeaderEncoder, out: &mut Vec<u8>) -> io::Result<()> {
    match frame {
        Frame::SynStream {
            stream_id,
            associated_to,
            priority,
            flags,
            headers,
        } => {
            let mut p = Vec::new();
            p.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
            p.extend_from_slice(&(associated_to & 0x7fff_ffff).to_be_bytes());
            p.push((priority & 0x7) << 5);
            p.push(0);
            p.extend_from_slice(&enc.encode(headers)?);
            control(out, TYPE_SYN_STREAM, *flags, &p)
        }
        Frame::SynReply {
            stream_id,
            flags,
            headers,
        } => {
            let mut p = (stream_id & 0x7fff_ffff).to_be_bytes().to_vec();
            p.extend_from_slice(&enc.encode(headers)?);
            control(out, TYPE_SYN_REPLY, *flags, &p)
        }
        Frame::Headers {
            stream_id,
            flags,
            headers,
        } => {
            let mut p = (stream_id & 0x7fff_ffff).to_be_bytes().to_vec();
            p.extend_from_slice(&enc.encode(headers)?);
            control(out, TYPE_HEADERS, *flags, &p)
        }
        Frame::RstStream { stream_id, status } => {
            let mut p = (stream_id & 0x7fff_ffff).to_be_bytes().to_vec();
            p.extend_from_slice(&status.to_be_bytes());
            control(out, TYPE_RST_STREAM, 0, &p)
        }
        Frame::Settings { entries } => {
            let mut p = (entries.len() as u32).to_be_bytes().to_vec();
            for (flags, id, value) in entries {
                p.push(*flags);
                p.extend_from_slice(&id.to_be_bytes()[1..]);
                p.extend_from_slice(&value.to_be_bytes());
            }
            control(out, TYPE_SETTINGS, 0, &p)
        }
        Frame::Ping { id } => control(out, TYPE_PING, 0, &id.to_be_bytes()),
        Frame::GoAway {
            last_good_stream_id,
            status,
        } => {
            let mut p = (last_good_stream_id & 0x7fff_ffff).to_be_bytes().to_vec();
            p.extend_from_slice(&status.to_be_bytes());
            control(out, TYPE_GOAWAY, 0, &p)
        }
        Frame::WindowUpdate { stream_id, delta } => {
            let mut p = (stream_id & 0x7fff_ffff).to_be_bytes().to_vec();
            p.extend_from_slice(&(delta & 0x7fff_ffff).to_be_bytes());
            control(out, TYPE_WINDOW_UPDATE, 0, &p)
        }
        Frame::Data { stream_id, flags, data } => {
            if data.len() > MAX_FRAME_LEN {
                return Err(invalid("frame too large"));
            }
            out.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
            out.push(*flags);
            out.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
            out.extend_from_slice(data);
            Ok(())
        }
        Frame::Unknown { .. } => Err(invalid("cannot encode an unknown frame")),
    }
}

/// Reads the next frame; `None` at a clean end of the connection.
pub async fn read<R: AsyncRead + Unpin>(r: &mut R, dec: &mut HeaderDecoder) -> io::Result<Option<Frame>> {
    let mut head = [0u8; 8];
    match r.read_exact(&mut head).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes([0, head[5], head[6], head[7]]) as usize;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await?;
    decode(&head, payload, dec).map(Some)
}

/// Decodes a frame from its 8-byte head and payload.
pub fn decode(head: &[u8; 8], payload: Vec<u8>, dec: &mut HeaderDecoder) -> io::Result<Frame> {
    let flags = head[4];
    if head[0] & 0x80 == 0 {
        return Ok(Frame::Data {
            stream_id: be32(&head[0..4]) & 0x7fff_ffff,
            flags,
            data: Bytes::from(payload),
        });
    }
    let version = u16::from_be_bytes([head[0] & 0x7f, head[1]]);
    if version != VERSION {
        return Err(invalid(format!("unsupported SPDY version {version}")));
    }
    let frame_type = u16::from_be_bytes([head[2], head[3]]);
    let p = &payload[..];
    let need = |n: usize| {
        if p.len() < n {
            Err(invalid(format!("control frame type {frame_type} too short")))
        } else {
            Ok(())
        }
    };
    Ok(match frame_type {
        TYPE_SYN_STREAM => {
            need(10)?;
            Frame::SynStream {
                stream_id: be32(&p[0..4]) & 0x7fff_ffff,
                associated_to: be32(&p[4..8]) & 0x7fff_ffff,
                priority: p[8] >> 5,
                flags,
                headers: dec.decode(&p[10..])?,
            }
        }
        TYPE_SYN_REPLY => {
            need(4)?;
            Frame::SynReply {
                stream_id: be32(&p[0..4]) & 0x7fff_ffff,
                flags,
                headers: dec.decode(&p[4..])?,
            }
        }
        TYPE_HEADERS => {
            need(4)?;
            Frame::Headers {
                stream_id: be32(&p[0..4]) & 0x7fff_ffff,
                flags,
                headers: dec.decode(&p[4..])?,
            }
        }
        TYPE_RST_STREAM => {
            need(8)?;
            Frame::RstStream {
                stream_id: be32(&p[0..4]) & 0x7fff_ffff,
                status: be32(&p[4..8]),
            }
        }
        TYPE_SETTINGS => {
            need(4)?;
            let count = be32(&p[0..4]) as usize;
            let mut entries = Vec::new();
            for e in p[4..].chunks_exact(8).take(count) {
                entries.push((e[0], u32::from_be_bytes([0, e[1], e[2], e[3]]), be32(&e[4..8])));
            }
            Frame::Settings { entries }
        }
        TYPE_PING => {
            need(4)?;
            Frame::Ping { id: be32(&p[0..4]) }
        }
        TYPE_GOAWAY => {
            need(4)?;
            Frame::GoAway {
                last_good_stream_id: be32(&p[0..4]) & 0x7fff_ffff,
                status: if p.len() >= 8 { be32(&p[4..8]) } else { 0 },
            }
        }
        TYPE_WINDOW_UPDATE => {
            need(8)?;
            Frame::WindowUpdate {
                stream_id: be32(&p[0..4]) & 0x7fff_ffff,
                delta: be32(&p[4..8]) & 0x7fff_ffff,
            }
        }
        other => Frame::Unknown { frame_type: other },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dictionary_is_spdy3s() {
        let d = dictionary();
        assert_eq!(d.len(), 1423);
        assert_eq!(&d[..11], b"\0\0\0\x07options");
        assert!(d.ends_with(b",utf-,*,enq=0."));
    }

    fn hs(pairs: &[(&str, &str)]) -> Headers {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    async fn roundtrip(frames: &[Frame]) -> Vec<Frame> {
        let mut enc = HeaderEncoder::new();
        let mut wire = Vec::new();
        for f in frames {
            encode(f, &mut enc, &mut wire).unwrap();
        }
        let mut dec = HeaderDecoder::new();
        let mut r = &wire[..];
        let mut out = Vec::new();
        while let Some(f) = read(&mut r, &mut dec).await.unwrap() {
            out.push(f);
        }
        out
    }

    #[tokio::test]
    async fn frames_roundtrip_with_shared_compression_context() {
        let frames = vec![
            Frame::SynStream {
                stream_id: 1,
                associated_to: 0,
                priority: 0,
                flags: 0,
                headers: hs(&[("streamtype", "error"), ("port", "80"), ("requestid", "0")]),
            },
            Frame::SynStream {
                stream_id: 3,
                associated_to: 0,
                priority: 2,
                flags: FLAG_FIN,
                headers: hs(&[("streamtype", "data"), ("port", "80"), ("requestid", "0")]),
            },
            Frame::SynReply {
                stream_id: 3,
                flags: 0,
                headers: vec![],
            },
            Frame::Data {
                stream_id: 3,
                flags: 0,
                data: Bytes::from_static(b"hello"),
            },
            Frame::Data {
                stream_id: 3,
                flags: FLAG_FIN,
                data: Bytes::new(),
            },
            Frame::RstStream {
                stream_id: 1,
                status: RST_CANCEL,
            },
            Frame::Ping { id: 7 },
            Frame::WindowUpdate { stream_id: 3, delta: 5 },
            Frame::Settings {
                entries: vec![(0, 7, 65536)],
            },
            Frame::Headers {
                stream_id: 3,
                flags: 0,
                headers: hs(&[("x", "y")]),
            },
            Frame::GoAway {
                last_good_stream_id: 3,
                status: 0,
            },
        ];
        assert_eq!(roundtrip(&frames).await, frames);
    }

    #[test]
    fn header_blocks_use_the_dictionary() {
        let mut enc = HeaderEncoder::new();
        let block = enc.encode(&hs(&[("content-type", "text/plain")])).unwrap();
        // A zlib stream with FDICT set, naming the dictionary by its Adler-32.
        assert_eq!(block[0] & 0x0f, 8, "deflate");
        assert_ne!(block[1] & 0x20, 0, "FDICT");
        let mut a: u32 = 1;
        let mut b: u32 = 0;
        for &x in dictionary() {
            a = (a + x as u32) % 65521;
            b = (b + a) % 65521;
        }
        assert_eq!(
            u32::from_be_bytes([block[2], block[3], block[4], block[5]]),
            (b << 16) | a
        );
        // Without the dictionary a decoder cannot read it; with it, it can.
        let mut plain = Decompress::new(true);
        let mut out = Vec::with_capacity(1024);
        assert!(plain.decompress_vec(&block, &mut out, FlushDecompress::Sync).is_err());
        let mut dec = HeaderDecoder::new();
        assert_eq!(dec.decode(&block).unwrap(), hs(&[("content-type", "text/plain")]));
        // The second block continues the same context.
        let second = enc.encode(&hs(&[("port", "8080")])).unwrap();
        assert_eq!(dec.decode(&second).unwrap(), hs(&[("port", "8080")]));
    }

    #[test]
    fn rejects_bad_input() {
        let mut dec = HeaderDecoder::new();
        let head = [0x80, 2, 0, 1, 0, 0, 0, 0];
        assert!(decode(&head, vec![], &mut dec).is_err(), "SPDY/2 is refused");
        let head = [0x80, 3, 0, 1, 0, 0, 0, 2];
        assert!(decode(&head, vec![0, 1], &mut dec).is_err(), "short SYN_STREAM");
        assert!(dec.decode(b"not zlib at all").is_err());
    }
}
