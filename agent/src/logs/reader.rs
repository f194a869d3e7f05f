//! Reading CRI log files as the kubelet does for `kubectl logs` and `attach`.
//!
//! A CRI log file holds one entry per line:
//! `<RFC3339Nano timestamp> <stdout|stderr> <F|P> <text>`, where `P` marks a
//! partial line continued by the next entry and `F` the end of a line. The
//! reader applies the options of `pods/log` (`tailLines`, `sinceSeconds` /
//! `sinceTime`, `timestamps`, `limitBytes`, `follow`), joins partial lines and
//! hands out the text as byte chunks tagged with their stream. The parsing is
//! self-contained here so the reader does not depend on the writer's code.

use std::io::SeekFrom;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use jiff::Timestamp;
use tokio::fs::File;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncSeekExt, BufReader};
use tokio::sync::mpsc;

/// How often a followed file is looked at again when it has no new data.
const FOLLOW_POLL: Duration = Duration::from_millis(100);
/// How often, at most, a follower asks whether the container still runs.
const RUNNING_CHECK_EVERY: Duration = Duration::from_millis(500);
/// Output is sent in chunks of at most this size.
const CHUNK: usize = 32 * 1024;

/// The options of `pods/log` the kubelet applies while reading.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Keep reading as the file grows, until the container has exited and the file is drained.
    pub follow: bool,
    /// Only the last this many lines of the file (`Some(0)`: start at its end).
    pub tail_lines: Option<u64>,
    /// Only entries at or after this time.
    pub since: Option<Timestamp>,
    /// Prefix each line with its RFC3339Nano timestamp and a space.
    pub timestamps: bool,
    /// Stop after this many bytes of output.
    pub limit_bytes: Option<u64>,
}

/// Which output stream an entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    /// Standard output (also everything of a container with a TTY).
    Stdout,
    /// Standard error.
    Stderr,
}

/// One parsed entry of a CRI log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry<'a> {
    /// When the runtime read the text.
    pub timestamp: Timestamp,
    /// The stream.
    pub stream: LogStream,
    /// Whether the line continues in the next entry (`P`).
    pub partial: bool,
    /// The text, without the line's newline.
    pub content: &'a [u8],
}

/// Parses one line of a CRI log file (without its trailing newline); `None` if malformed.
pub fn parse_line(line: &[u8]) -> Option<LogEntry<'_>> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let (ts, rest) = split_space(line)?;
    let (stream, rest) = split_space(rest)?;
    // The tag field may carry several `:`-separated tags; the first is F or P.
    let (tags, content) = match split_space(rest) {
        Some(pair) => pair,
        // An empty full line may be written without the separating space.
        None => (rest, &b""[..]),
    };
    let timestamp: Timestamp = std::str::from_utf8(ts).ok()?.parse().ok()?;
    let stream = match stream {
        b"stdout" => LogStream::Stdout,
        b"stderr" => LogStream::Stderr,
        _ => return None,
    };
    let partial = match tags.split(|&b| b == b':').next()? {
        b"P" => true,
        b"F" => false,
        _ => return None,
    };
    Some(LogEntry {
        timestamp,
        stream,
        partial,
        content,
    })
}

fn split_space(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = s.iter().position(|&b| b == b' ')?;
    Some((&s[..i], &s[i + 1..]))
}

/// Formats a timestamp as Go's RFC3339Nano in UTC (fraction without trailing zeros).
pub fn format_timestamp(ts: Timestamp) -> String {
    let secs = ts.as_second();
    let nanos = ts.subsec_nanosecond();
    let whole = Timestamp::from_second(secs).unwrap_or(ts);
    let base = whole.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    if nanos == 0 {
        return format!("{base}Z");
    }
    let frac = format!("{nanos:09}");
    format!("{base}.{}Z", frac.trim_end_matches('0'))
}

/// Answers whether the container writing a followed file still runs.
pub type RunningCheck = Box<dyn Fn() -> BoxFuture<'static, bool> + Send + Sync>;

/// Reads the CRI log file at `path` with `opts`, sending the text to `out`
/// in chunks tagged with their stream. With `follow`, it keeps reading as the
/// file grows (and is rotated) until `running` says the container has exited
/// and the file is drained; without `running` a follower stops only when
/// `out` is closed. Returns when done, when `limit_bytes` is reached or when
/// the receiver is gone.
pub async fn read_log(
    path: &Path,
    opts: &LogOptions,
    running: Option<&RunningCheck>,
    out: &mpsc::Sender<(LogStream, Bytes)>,
) -> anyhow::Result<()> {
    let mut state = Output::new(opts, out);
    let mut file = open(path).await?;
    let mut ino = file.metadata().await.map(|m| m.ino()).unwrap_or(0);
    let start = match opts.tail_lines {
        Some(n) => tail_start(&mut file, n).await?,
        None => 0,
    };
    file.seek(SeekFrom::Start(start))
        .await
        .with_context(|| format!("cannot seek in {}", path.display()))?;
    let mut reader = BufReader::new(file);
    let mut pos = start;
    let mut line = Vec::new();
    let mut last_check: Option<tokio::time::Instant> = None;
    let mut exited = false;
    loop {
        let n = reader
            .read_until(b'\n', &mut line)
            .await
            .with_context(|| format!("cannot read {}", path.display()))?;
        pos += n as u64;
        if line.ends_with(b"\n") {
            line.pop();
            if !state.entry(&line).await {
                return Ok(());
            }
            line.clear();
            continue;
        }
        // End of the file: `line` holds an incomplete entry, if any.
        if !opts.follow || exited {
            break;
        }
        if out.is_closed() {
            return Ok(());
        }
        // A new file in place of ours (rotation) or ours cut short (truncation).
        match tokio::fs::metadata(path).await {
            Ok(meta) if meta.ino() != ino => {
                // Whatever was written to the old file before the rename is read first.
                let mut rest = Vec::new();
                reader.read_to_end(&mut rest).await.ok();
                line.extend_from_slice(&rest);
                for complete in line.split(|&b| b == b'\n').collect::<Vec<_>>().iter() {
                    if !complete.is_empty() && !state.entry(complete).await {
                        return Ok(());
                    }
                }
                line.clear();
                let file = open(path).await?;
                ino = meta.ino();
                reader = BufReader::new(file);
                pos = 0;
                continue;
            }
            Ok(meta) if meta.len() < pos => {
                reader.seek(SeekFrom::Start(0)).await.ok();
                line.clear();
                pos = 0;
                continue;
            }
            _ => {}
        }
        let due = last_check.is_none_or(|t| t.elapsed() >= RUNNING_CHECK_EVERY);
        if due {
            if let Some(running) = running {
                last_check = Some(tokio::time::Instant::now());
                if !running().await {
                    // One more pass drains what was written before the exit.
                    exited = true;
                    continue;
                }
            }
        }
        state.flush().await;
        tokio::time::sleep(FOLLOW_POLL).await;
    }
    state.flush().await;
    Ok(())
}

async fn open(path: &Path) -> anyhow::Result<File> {
    File::open(path)
        .await
        .with_context(|| format!("failed to open log file {:?}", PathBuf::from(path)))
}

/// The offset where the last `n` lines of the file start.
async fn tail_start(file: &mut File, n: u64) -> anyhow::Result<u64> {
    let len = file.metadata().await.context("cannot stat the log file")?.len();
    if n == 0 {
        return Ok(len);
    }
    let mut end = len;
    let mut seen = 0u64;
    let mut buf = vec![0u8; 8192];
    // As the kubelet counts: the last n lines hold exactly n newlines, so they
    // start after the (n+1)-th newline from the end; an entry still being
    // written (no newline yet) comes along but does not count.
    while end > 0 {
        let size = buf.len().min(end as usize);
        let from = end - size as u64;
        file.seek(SeekFrom::Start(from)).await?;
        file.read_exact(&mut buf[..size]).await?;
        for i in (0..size).rev() {
            if buf[i] != b'\n' {
                continue;
            }
            seen += 1;
            if seen == n + 1 {
                return Ok(from + i as u64 + 1);
            }
        }
        end = from;
    }
    Ok(0)
}

/// The output side: filtering, prefixes, the byte limit and chunking.
struct Output<'a> {
    opts: &'a LogOptions,
    out: &'a mpsc::Sender<(LogStream, Bytes)>,
    /// Whether the next entry starts a new line (the previous ended with `F`).
    at_line_start: bool,
    remaining: Option<u64>,
    pending: BytesMut,
    pending_stream: LogStream,
}

impl<'a> Output<'a> {
    fn new(opts: &'a LogOptions, out: &'a mpsc::Sender<(LogStream, Bytes)>) -> Self {
        Output {
            opts,
            out,
            at_line_start: true,
            remaining: opts.limit_bytes,
            pending: BytesMut::new(),
            pending_stream: LogStream::Stdout,
        }
    }

    /// Handles one file line; false when output must stop.
    async fn entry(&mut self, line: &[u8]) -> bool {
        let Some(entry) = parse_line(line) else {
            tracing::debug!(line = %String::from_utf8_lossy(line), "skipping a malformed CRI log line");
            return true;
        };
        if self.opts.since.is_some_and(|since| entry.timestamp < since) {
            return true;
        }
        if entry.stream != self.pending_stream && !self.flush().await {
            return false;
        }
        self.pending_stream = entry.stream;
        if self.opts.timestamps && self.at_line_start {
            let prefix = format_timestamp(entry.timestamp);
            if !self.push(prefix.as_bytes()).await || !self.push(b" ").await {
                return false;
            }
        }
        if !self.push(entry.content).await {
            return false;
        }
        if !entry.partial && !self.push(b"\n").await {
            return false;
        }
        self.at_line_start = !entry.partial;
        if self.pending.len() >= CHUNK {
            return self.flush().await;
        }
        true
    }

    /// Appends output, respecting the byte limit; false when output must stop.
    async fn push(&mut self, bytes: &[u8]) -> bool {
        let take = match self.remaining {
            Some(left) => (left.min(bytes.len() as u64)) as usize,
            None => bytes.len(),
        };
        self.pending.extend_from_slice(&bytes[..take]);
        if let Some(left) = self.remaining.as_mut() {
            *left -= take as u64;
            if *left == 0 {
                self.flush().await;
                return false;
            }
        }
        true
    }

    /// Sends what is pending; false when the receiver is gone.
    async fn flush(&mut self) -> bool {
        if self.pending.is_empty() {
            return !self.out.is_closed();
        }
        let chunk = self.pending.split().freeze();
        self.out.send((self.pending_stream, chunk)).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    const LOG: &str = "\
2024-05-01T10:00:00.000000001Z stdout F one
2024-05-01T10:00:01.5Z stderr F two
2024-05-01T10:00:02Z stdout P thr
2024-05-01T10:00:02.1Z stdout F ee
2024-05-01T10:00:03Z stdout F
garbage line
2024-05-01T10:00:04Z stdout F five
";

    fn write_log(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    async fn read_all(path: &Path, opts: LogOptions) -> String {
        let (tx, mut rx) = mpsc::channel(64);
        read_log(path, &opts, None, &tx).await.unwrap();
        drop(tx);
        let mut out = Vec::new();
        while let Some((_, b)) = rx.recv().await {
            out.extend_from_slice(&b);
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn parses_lines() {
        let e = parse_line(b"2024-05-01T10:00:00.5Z stderr P:x hello world").unwrap();
        assert_eq!(e.stream, LogStream::Stderr);
        assert!(e.partial);
        assert_eq!(e.content, b"hello world");
        assert_eq!(e.timestamp, "2024-05-01T10:00:00.5Z".parse().unwrap());
        assert_eq!(parse_line(b"2024-05-01T10:00:00Z stdout F").unwrap().content, b"");
        assert!(parse_line(b"2024-05-01T10:00:00Z stdin F x").is_none());
        assert!(parse_line(b"yesterday stdout F x").is_none());
        assert!(parse_line(b"2024-05-01T10:00:00Z stdout X x").is_none());
    }

    #[test]
    fn timestamps_format_like_go() {
        let f = |s: &str| format_timestamp(s.parse().unwrap());
        assert_eq!(f("2024-05-01T10:00:00Z"), "2024-05-01T10:00:00Z");
        assert_eq!(f("2024-05-01T10:00:00.120000000Z"), "2024-05-01T10:00:00.12Z");
        assert_eq!(
            f("2024-05-01T12:00:00.000000001+02:00"),
            "2024-05-01T10:00:00.000000001Z"
        );
    }

    #[tokio::test]
    async fn whole_file_joins_partials_and_skips_garbage() {
        let (_d, path) = write_log(LOG);
        assert_eq!(
            read_all(&path, LogOptions::default()).await,
            "one\ntwo\nthree\n\nfive\n"
        );
    }

    #[tokio::test]
    async fn tail_since_timestamps_limit() {
        let (_d, path) = write_log(LOG);
        let tail = |n| LogOptions {
            tail_lines: Some(n),
            ..Default::default()
        };
        assert_eq!(read_all(&path, tail(1)).await, "five\n");
        assert_eq!(read_all(&path, tail(3)).await, "\nfive\n");
        assert_eq!(read_all(&path, tail(0)).await, "");
        assert_eq!(read_all(&path, tail(100)).await, "one\ntwo\nthree\n\nfive\n");
        let since = LogOptions {
            since: Some("2024-05-01T10:00:01.5Z".parse().unwrap()),
            ..Default::default()
        };
        assert_eq!(read_all(&path, since).await, "two\nthree\n\nfive\n");
        let ts = LogOptions {
            timestamps: true,
            // File lines count, malformed ones included (as the kubelet counts them).
            tail_lines: Some(5),
            ..Default::default()
        };
        assert_eq!(
            read_all(&path, ts).await,
            "2024-05-01T10:00:02Z three\n2024-05-01T10:00:03Z \n2024-05-01T10:00:04Z five\n"
        );
        let limit = LogOptions {
            limit_bytes: Some(6),
            ..Default::default()
        };
        assert_eq!(read_all(&path, limit).await, "one\ntw");
    }

    #[tokio::test]
    async fn tail_does_not_count_an_entry_still_being_written() {
        let whole = "2024-05-01T10:00:00Z stdout F one\n2024-05-01T10:00:01Z stdout F two\n";
        let (_d, path) = write_log(&format!("{whole}2024-05-01T10:00:02Z stdout F thr"));
        let tail = LogOptions {
            tail_lines: Some(1),
            ..Default::default()
        };
        assert_eq!(read_all(&path, tail).await, "two\n");
    }

    #[tokio::test]
    async fn streams_are_tagged() {
        let (_d, path) = write_log(LOG);
        let (tx, mut rx) = mpsc::channel(64);
        read_log(&path, &LogOptions::default(), None, &tx).await.unwrap();
        drop(tx);
        let mut got = Vec::new();
        while let Some((s, b)) = rx.recv().await {
            got.push((s, String::from_utf8(b.to_vec()).unwrap()));
        }
        assert_eq!(
            got,
            vec![
                (LogStream::Stdout, "one\n".to_string()),
                (LogStream::Stderr, "two\n".to_string()),
                (LogStream::Stdout, "three\n\nfive\n".to_string()),
            ]
        );
    }

    async fn next(rx: &mut mpsc::Receiver<(LogStream, Bytes)>) -> String {
        String::from_utf8(rx.recv().await.unwrap().1.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn follow_reads_growth_and_rotation_then_stops_after_exit() {
        let (dir, path) = write_log("2024-05-01T10:00:00Z stdout F first\n");
        let running = Arc::new(AtomicBool::new(true));
        let flag = running.clone();
        let check: RunningCheck = Box::new(move || {
            let flag = flag.clone();
            Box::pin(async move { flag.load(Ordering::SeqCst) })
        });
        let (tx, mut rx) = mpsc::channel(64);
        let follow_path = path.clone();
        let task = tokio::spawn(async move {
            let opts = LogOptions {
                follow: true,
                ..Default::default()
            };
            read_log(&follow_path, &opts, Some(&check), &tx).await
        });
        assert_eq!(next(&mut rx).await, "first\n");
        // Growth, with an entry written in two pieces.
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"2024-05-01T10:00:01Z stdout F sec").unwrap();
        f.flush().unwrap();
        tokio::time::sleep(Duration::from_millis(250)).await;
        f.write_all(b"ond\n").unwrap();
        assert_eq!(next(&mut rx).await, "second\n");
        // Rotation: the old file is renamed and a new one takes its place.
        f.write_all(b"2024-05-01T10:00:02Z stdout F third\n").unwrap();
        drop(f);
        std::fs::rename(&path, dir.path().join("0.log.1")).unwrap();
        std::fs::write(&path, "2024-05-01T10:00:03Z stdout F fourth\n").unwrap();
        let mut got = String::new();
        while got != "third\nfourth\n" {
            got.push_str(&next(&mut rx).await);
            assert!("third\nfourth\n".starts_with(&got), "{got:?}");
        }
        // The container exits after a last line: that line is still delivered, then the reader ends.
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"2024-05-01T10:00:04Z stdout F last\n").unwrap();
        running.store(false, Ordering::SeqCst);
        let mut rest = String::new();
        while let Some((_, b)) = rx.recv().await {
            rest.push_str(std::str::from_utf8(&b).unwrap());
        }
        assert_eq!(rest, "last\n");
        task.await.unwrap().unwrap();
    }
}
