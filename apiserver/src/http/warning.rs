//! Warnings returned to clients as `Warning: 299 - "…"` response headers
//! (RFC 7234), the way Kubernetes' warning recorder does it: anything that
//! handles a request may add a warning; duplicates are dropped; past 4096
//! runes in total every warning is cut to 256 runes and later ones are dropped.
//!
//! The recorder is task-local, like Kubernetes' request context: [`collect`]
//! runs a request's future with an empty recorder and hands back what was
//! added; [`add`] outside a request does nothing.

use std::cell::RefCell;
use std::future::Future;

use http::{HeaderMap, HeaderValue};

/// Past this many runes of warning text, warnings are truncated (Kubernetes' `truncateAtTotalRunes`).
const TRUNCATE_AT_TOTAL_RUNES: usize = 4 * 1024;
/// The length each warning is cut to once truncating (Kubernetes' `truncateItemRunes`).
const TRUNCATE_ITEM_RUNES: usize = 256;
/// How many warnings one request may add before more are ignored (bounds memory).
const MAX_ADDED: usize = 1000;

tokio::task_local! {
    static RECORDER: RefCell<Vec<String>>;
}

/// Adds a warning for the current request (no-op outside [`collect`]).
pub fn add(text: impl Into<String>) {
    let text = text.into();
    let _ = RECORDER.try_with(|r| {
        let mut r = r.borrow_mut();
        if r.len() < MAX_ADDED {
            r.push(text);
        }
    });
}

/// Adds several warnings, in order.
pub fn add_all<I: IntoIterator<Item = String>>(texts: I) {
    for t in texts {
        add(t);
    }
}

/// Runs `fut` with a fresh recorder; returns its output and the warnings it added.
pub async fn collect<F: Future>(fut: F) -> (F::Output, Vec<String>) {
    RECORDER
        .scope(RefCell::new(Vec::new()), async move {
            let out = fut.await;
            let added = RECORDER.with(|r| std::mem::take(&mut *r.borrow_mut()));
            (out, added)
        })
        .await
}

/// Adds the `Warning` headers for `added` to a response.
pub fn apply(headers: &mut HeaderMap, added: &[String]) {
    for h in header_values(added) {
        if let Ok(v) = HeaderValue::from_bytes(h.as_bytes()) {
            headers.append(http::header::WARNING, v);
        }
    }
}

/// The `Warning` header values for warnings added in this order, with
/// Kubernetes' de-duplication and truncation.
pub fn header_values(added: &[String]) -> Vec<String> {
    let mut recorded: Vec<&str> = Vec::new();
    let mut headers = Vec::new();
    let mut written = 0usize;
    let mut truncating = false;
    for text in added {
        if text.is_empty() || (truncating && written >= TRUNCATE_AT_TOTAL_RUNES) {
            continue;
        }
        if recorded.contains(&text.as_str()) {
            continue;
        }
        recorded.push(text);
        let mut shown = text.as_str();
        if truncating {
            shown = cut(shown, TRUNCATE_ITEM_RUNES);
        }
        let Some(header) = warning_header(shown) else {
            continue;
        };
        let runes = shown.chars().count();
        if truncating || written + runes <= TRUNCATE_AT_TOTAL_RUNES {
            written += runes;
            headers.push(header);
            continue;
        }
        // Too much text: start over with every warning so far cut short.
        truncating = true;
        written = 0;
        headers.clear();
        for earlier in &recorded {
            let shown = cut(earlier, TRUNCATE_ITEM_RUNES);
            if let Some(h) = warning_header(shown) {
                written += shown.chars().count();
                headers.push(h);
            }
        }
    }
    headers
}

/// The first `n` runes of `s`.
fn cut(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// `299 - "text"` with `"` and `\` escaped (RFC 7234 quoted-string); `None`
/// for text a header cannot carry (control characters), which Kubernetes drops.
pub fn warning_header(text: &str) -> Option<String> {
    if text.chars().any(char::is_control) {
        return None;
    }
    let mut out = String::with_capacity(text.len() + 8);
    out.push_str("299 - \"");
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn escapes_quotes_and_backslashes() {
        assert_eq!(
            warning_header(r#"unknown field "spec.replica""#).unwrap(),
            r#"299 - "unknown field \"spec.replica\"""#
        );
        assert_eq!(warning_header(r"a\b").unwrap(), r#"299 - "a\\b""#);
        assert_eq!(warning_header("Iñtërnâtiô").unwrap(), "299 - \"Iñtërnâtiô\"");
        assert!(warning_header("two\nlines").is_none());
    }

    #[test]
    fn dedupes_and_drops_empty_and_invalid() {
        let h = header_values(&strings(&["a", "", "b", "a", "bad\ttab", "c"]));
        assert_eq!(h, vec![r#"299 - "a""#, r#"299 - "b""#, r#"299 - "c""#]);
    }

    #[test]
    fn truncates_past_the_total_limit() {
        let long = "x".repeat(300);
        let mut added: Vec<String> = (0..14).map(|i| format!("{i}{long}")).collect();
        // 14 × 301+ runes exceeds 4096: everything is cut to 256 runes.
        let h = header_values(&added);
        assert_eq!(h.len(), 14);
        assert!(h.iter().all(|v| v.chars().count() == 256 + 8), "{:?}", h[0].len());
        // Once truncating and past the limit again, further warnings are dropped.
        added.extend((0..10).map(|i| format!("late{i}{long}")));
        let h = header_values(&added);
        assert_eq!(h.len(), 16, "4096 / 256 = 16 warnings fit once truncating");
        // Below the limit nothing is cut.
        let h = header_values(&strings(&["short", &"y".repeat(1000)]));
        assert_eq!(h[1].len(), 1000 + 8);
    }

    #[tokio::test]
    async fn collects_within_a_request_only() {
        add("outside");
        let (out, added) = collect(async {
            add("one");
            add_all(vec!["two".to_string()]);
            7
        })
        .await;
        assert_eq!(out, 7);
        assert_eq!(added, strings(&["one", "two"]));
        let mut headers = HeaderMap::new();
        apply(&mut headers, &added);
        let got: Vec<_> = headers.get_all("warning").iter().map(|v| v.to_str().unwrap()).collect();
        assert_eq!(got, vec![r#"299 - "one""#, r#"299 - "two""#]);
    }
}
