//! The CRI log line format: `<RFC3339Nano timestamp> <stream> <tag> <text>\n`,
//! where tag is `F` (full line) or `P` (partial line, continued by the next one).

use jiff::Timestamp;

/// Which output stream a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// The word used in the log file.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One parsed CRI log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine<'a> {
    /// When the line was written.
    pub timestamp: Timestamp,
    /// Its stream.
    pub stream: Stream,
    /// `true` for `P` (the text continues in the next line of the same stream).
    pub partial: bool,
    /// The text, without the trailing newline.
    pub text: &'a [u8],
}

/// Formats a timestamp as Go's `time.RFC3339Nano` does in UTC: fraction with
/// trailing zeros trimmed (none at all for whole seconds), `Z` suffix.
pub fn format_timestamp(ts: Timestamp) -> String {
    let secs = ts.as_second();
    let nanos = ts.subsec_nanosecond();
    let whole = Timestamp::from_second(secs).unwrap_or(ts);
    // `strftime` gives the date and time; the fraction is added by hand to trim zeros.
    let base = whole.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    if nanos == 0 {
        return format!("{base}Z");
    }
    let frac = format!("{nanos:09}");
    format!("{base}.{}Z", frac.trim_end_matches('0'))
}

/// Appends one CRI log line for `text` (which must not contain a newline) to `out`.
pub fn write_line(out: &mut Vec<u8>, ts: Timestamp, stream: Stream, partial: bool, text: &[u8]) {
    out.extend_from_slice(format_timestamp(ts).as_bytes());
    out.push(b' ');
    out.extend_from_slice(stream.as_str().as_bytes());
    out.push(b' ');
    out.push(if partial { b'P' } else { b'F' });
    out.push(b' ');
    out.extend_from_slice(text);
    out.push(b'\n');
}

/// Parses one line of a CRI log file (with or without its trailing newline).
pub fn parse_line(line: &[u8]) -> Option<LogLine<'_>> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let mut parts = line.splitn(4, |b| *b == b' ');
    let ts = std::str::from_utf8(parts.next()?).ok()?;
    let timestamp: Timestamp = ts.parse().ok()?;
    let stream = match parts.next()? {
        b"stdout" => Stream::Stdout,
        b"stderr" => Stream::Stderr,
        _ => return None,
    };
    let partial = match parts.next()? {
        b"P" => true,
        b"F" => false,
        _ => return None,
    };
    let text = parts.next().unwrap_or(b"");
    Some(LogLine {
        timestamp,
        stream,
        partial,
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_trim_trailing_zeros_like_go() {
        let ts = Timestamp::from_nanosecond(1_700_000_000_120_000_000).unwrap();
        assert_eq!(format_timestamp(ts), "2023-11-14T22:13:20.12Z");
        let whole = Timestamp::from_second(1_700_000_000).unwrap();
        assert_eq!(format_timestamp(whole), "2023-11-14T22:13:20Z");
        let fine = Timestamp::from_nanosecond(1_700_000_000_000_000_001).unwrap();
        assert_eq!(format_timestamp(fine), "2023-11-14T22:13:20.000000001Z");
    }

    #[test]
    fn lines_round_trip() {
        let ts = Timestamp::from_nanosecond(1_700_000_000_123_456_789).unwrap();
        let mut out = Vec::new();
        write_line(&mut out, ts, Stream::Stderr, true, b"hello world");
        assert_eq!(out, b"2023-11-14T22:13:20.123456789Z stderr P hello world\n");
        let parsed = parse_line(&out).unwrap();
        assert_eq!(parsed.timestamp, ts);
        assert_eq!(parsed.stream, Stream::Stderr);
        assert!(parsed.partial);
        assert_eq!(parsed.text, b"hello world");
    }

    #[test]
    fn empty_text_and_garbage() {
        let parsed = parse_line(b"2023-11-14T22:13:20Z stdout F \n").unwrap();
        assert_eq!(parsed.text, b"");
        assert!(!parsed.partial);
        assert!(parse_line(b"nonsense").is_none());
        assert!(parse_line(b"2023-11-14T22:13:20Z stdin F x").is_none());
    }
}
