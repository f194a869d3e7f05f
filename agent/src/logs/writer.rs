//! The container log writer: `k1s container-logger <log-path>`, started by
//! containerd's shim through a `binary://` stdio URI, so container output keeps
//! being written while the agent is down.
//!
//! containerd's binary-IO contract (1.6): the shim passes the container's stdout
//! as fd 3, stderr as fd 4 and a "ready" pipe as fd 5 (closed when the logger is
//! ready), with `CONTAINER_ID` and `CONTAINER_NAMESPACE` in the environment. On
//! shutdown the shim closes the pipes and sends SIGTERM; the logger drains its
//! pipes to EOF and exits.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use jiff::Timestamp;

use super::format::{write_line, Stream};

/// Rotate the log file when it grows beyond this (kubelet's `containerLogMaxSize` default, 10Mi).
pub const MAX_SIZE: u64 = 10 << 20;
/// Keep at most this many files per container, the live one included (kubelet's `containerLogMaxFiles`).
pub const MAX_FILES: usize = 5;
/// Longer lines are cut into partial (`P`) lines of this size, as containerd does (16 KiB).
pub const MAX_LINE: usize = 16 << 10;

/// The name of the subcommand the shim runs (`k1s container-logger <path>`), also the URI's query key.
pub const SUBCOMMAND: &str = "container-logger";

/// The `binary://` URI handed to containerd as the task's stdout and stderr:
/// the shim runs `<k1s_binary> container-logger <log_path>`.
pub fn log_uri(k1s_binary: &Path, log_path: &Path) -> String {
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    let bin = k1s_binary.to_string_lossy();
    let path = log_path.to_string_lossy();
    let path_enc: String = utf8_percent_encode(&path, NON_ALPHANUMERIC).collect();
    let bin_enc: String = bin
        .split('/')
        .map(|seg| utf8_percent_encode(seg, NON_ALPHANUMERIC).to_string())
        .collect::<Vec<_>>()
        .join("/");
    format!("binary://{bin_enc}?{SUBCOMMAND}={path_enc}")
}

/// A size-rotated CRI log file.
struct RotatingLog {
    path: PathBuf,
    file: File,
    size: u64,
}

impl RotatingLog {
    fn open(path: &Path) -> anyhow::Result<RotatingLog> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o640)
            .open(path)
            .with_context(|| format!("cannot open log file {}", path.display()))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(RotatingLog {
            path: path.to_path_buf(),
            file,
            size,
        })
    }

    fn write(&mut self, buf: &[u8]) {
        if self.size > 0 && self.size + buf.len() as u64 > MAX_SIZE {
            if let Err(e) = self.rotate() {
                eprintln!(
                    "k1s container-logger: rotation of {} failed: {e:#}",
                    self.path.display()
                );
            }
        }
        match self.file.write_all(buf) {
            Ok(()) => self.size += buf.len() as u64,
            Err(e) => eprintln!("k1s container-logger: write to {} failed: {e}", self.path.display()),
        }
    }

    /// Renames the live file to `<path>.<YYYYMMDD-HHMMSS>` (kubelet's naming), opens a new
    /// one and removes the oldest rotated files beyond [`MAX_FILES`].
    fn rotate(&mut self) -> anyhow::Result<()> {
        let stamp = jiff::Zoned::now()
            .with_time_zone(jiff::tz::TimeZone::UTC)
            .strftime("%Y%m%d-%H%M%S")
            .to_string();
        let mut rotated = PathBuf::from(format!("{}.{stamp}", self.path.display()));
        let mut n = 1;
        while rotated.exists() {
            rotated = PathBuf::from(format!("{}.{stamp}.{n}", self.path.display()));
            n += 1;
        }
        std::fs::rename(&self.path, &rotated).with_context(|| format!("cannot rename {}", self.path.display()))?;
        *self = RotatingLog::open(&self.path)?;
        self.prune();
        Ok(())
    }

    fn prune(&self) {
        let (Some(dir), Some(name)) = (self.path.parent(), self.path.file_name()) else {
            return;
        };
        let prefix = format!("{}.", name.to_string_lossy());
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut rotated: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .map(|e| e.path())
            .collect();
        rotated.sort();
        while rotated.len() > MAX_FILES - 1 {
            let oldest = rotated.remove(0);
            let _ = std::fs::remove_file(oldest);
        }
    }
}

/// Splits a stream's bytes into CRI lines: complete lines as `F`; what is left
/// without a newline after a read is written at once as `P`.
struct LineSplitter {
    stream: Stream,
}

impl LineSplitter {
    fn format(&self, chunk: &[u8], now: Timestamp) -> Vec<u8> {
        let mut out = Vec::with_capacity(chunk.len() + 64);
        let mut rest = chunk;
        while !rest.is_empty() {
            match rest.iter().position(|b| *b == b'\n') {
                Some(i) if i <= MAX_LINE => {
                    let mut line = &rest[..i];
                    if let Some(l) = line.strip_suffix(b"\r") {
                        line = l;
                    }
                    write_line(&mut out, now, self.stream, false, line);
                    rest = &rest[i + 1..];
                }
                _ => {
                    let n = rest.len().min(MAX_LINE);
                    write_line(&mut out, now, self.stream, true, &rest[..n]);
                    rest = &rest[n..];
                }
            }
        }
        out
    }
}

fn pump(mut input: File, stream: Stream, log: Arc<Mutex<RotatingLog>>) {
    let splitter = LineSplitter { stream };
    let mut buf = vec![0u8; 32 << 10];
    loop {
        match input.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                let out = splitter.format(&buf[..n], Timestamp::now());
                match log.lock() {
                    Ok(mut l) => l.write(&out),
                    Err(_) => return,
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        }
    }
}

/// Entry point of `k1s container-logger <log-path>`: copies fds 3 (stdout) and 4
/// (stderr) into the CRI log file until both end.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    if args.first().map(String::as_str) == Some(FIFO_FLAG) {
        return run_fifo(&args[1..]);
    }
    let path = args
        .first()
        .map(PathBuf::from)
        .context("usage: k1s container-logger <log-path>")?;
    // The shim sends SIGTERM after closing the pipes: finish draining them instead of dying.
    // SAFETY: setting a signal disposition to SIG_IGN has no memory-safety preconditions.
    unsafe {
        libc::signal(libc::SIGTERM, libc::SIG_IGN);
    }
    let log = RotatingLog::open(&path);
    // Ready (or failed): close fd 5 so the shim goes on either way.
    // SAFETY: fd 5 is the ready pipe handed over by the shim; nothing else owns it.
    unsafe {
        libc::close(5);
    }
    let log = Arc::new(Mutex::new(log?));
    // SAFETY: fds 3 and 4 are the stdout/stderr pipes the shim passed; we take ownership.
    let (stdout, stderr) = unsafe { (File::from_raw_fd(3), File::from_raw_fd(4)) };
    let l2 = log.clone();
    let t = std::thread::spawn(move || pump(stderr, Stream::Stderr, l2));
    pump(stdout, Stream::Stdout, log);
    let _ = t.join();
    Ok(())
}

/// The flag of the FIFO mode: `k1s container-logger --fifo <stdout> <stderr|-> <log-path>`.
///
/// containerd 1.6's shim gives a process no stdin when its output goes to a
/// `binary://` logger, so containers with `stdin: true` use FIFOs for all three
/// streams; this detached logger (started by the agent, outliving it) reads the
/// output FIFOs into the CRI log.
pub const FIFO_FLAG: &str = "--fifo";

fn run_fifo(args: &[String]) -> anyhow::Result<()> {
    let [stdout, stderr, path] = args else {
        anyhow::bail!("usage: k1s container-logger --fifo <stdout-fifo> <stderr-fifo|-> <log-path>");
    };
    // SAFETY: setting a signal disposition to SIG_IGN has no memory-safety preconditions.
    unsafe {
        libc::signal(libc::SIGTERM, libc::SIG_IGN);
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
    }
    let log = Arc::new(Mutex::new(RotatingLog::open(Path::new(path))?));
    let mut threads = Vec::new();
    for (fifo, stream) in [(stdout.clone(), Stream::Stdout), (stderr.clone(), Stream::Stderr)] {
        if fifo == "-" {
            continue;
        }
        let log = log.clone();
        threads.push(std::thread::spawn(move || {
            // Blocks until the shim opens the write end.
            match File::open(&fifo) {
                Ok(f) => pump(f, stream, log),
                Err(e) => eprintln!("k1s container-logger: cannot open {fifo}: {e}"),
            }
        }));
    }
    for t in threads {
        let _ = t.join();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_full_and_partial_lines() {
        let s = LineSplitter { stream: Stream::Stdout };
        let ts = Timestamp::from_second(1_700_000_000).unwrap();
        let out = s.format(b"one\r\ntwo\nthr", ts);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "2023-11-14T22:13:20Z stdout F one\n2023-11-14T22:13:20Z stdout F two\n2023-11-14T22:13:20Z stdout P thr\n"
        );
    }

    #[test]
    fn long_lines_are_cut() {
        let s = LineSplitter { stream: Stream::Stderr };
        let ts = Timestamp::from_second(1_700_000_000).unwrap();
        let mut input = vec![b'a'; MAX_LINE + 10];
        input.push(b'\n');
        let text = String::from_utf8(s.format(&input, ts)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("2023-11-14T22:13:20Z stderr P aaa"));
        assert_eq!(lines[1], format!("2023-11-14T22:13:20Z stderr F {}", "a".repeat(10)));
    }

    #[test]
    fn uri_has_one_query_key() {
        let uri = log_uri(Path::new("/usr/bin/k1s"), Path::new("/var/log/pods/ns_p_u/c/0.log"));
        assert_eq!(
            uri,
            "binary:///usr/bin/k1s?container-logger=%2Fvar%2Flog%2Fpods%2Fns%5Fp%5Fu%2Fc%2F0%2Elog"
        );
        let parsed = url::Url::parse(&uri).unwrap();
        assert_eq!(parsed.path(), "/usr/bin/k1s");
        let q: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
        assert_eq!(
            q,
            vec![(
                "container-logger".to_string(),
                "/var/log/pods/ns_p_u/c/0.log".to_string()
            )]
        );
    }

    #[test]
    fn rotation_keeps_max_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let mut log = RotatingLog::open(&path).unwrap();
        for i in 0..7 {
            std::fs::write(dir.path().join(format!("0.log.20240101-00000{i}")), b"x").unwrap();
        }
        log.size = MAX_SIZE;
        log.write(b"next\n");
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names.len(), MAX_FILES);
        assert!(names.contains(&"0.log".to_string()));
        assert!(!names.contains(&"0.log.20240101-000000".to_string()));
        assert_eq!(std::fs::read(&path).unwrap(), b"next\n");
    }
}
