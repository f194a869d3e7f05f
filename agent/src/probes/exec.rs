//! `exec` probes: run a command in the container; exit 0 is healthy
//! (`pkg/probe/exec`).

use std::io;
use std::time::Duration;

use super::format::go_quote;
use super::prober::Outcome;
use super::ProbeExec;

/// The kubelet keeps at most 10 KiB of a probe command's output.
const MAX_OUTPUT: usize = 10 * 1024;

/// Runs `command` in `container_id` with `timeout`.
pub(crate) async fn probe(
    exec: &dyn ProbeExec,
    container_id: &str,
    command: &[String],
    timeout: Duration,
) -> (Outcome, Option<String>) {
    let result = tokio::time::timeout(timeout, exec.exec_sync(container_id, command, timeout)).await;
    match result {
        Ok(Ok((code, output))) => {
            let output = limited(&output);
            if code == 0 {
                (Outcome::Success(output), None)
            } else {
                (Outcome::Failure(output), None)
            }
        }
        Ok(Err(err)) if is_timeout(&err) => (Outcome::Failure(timed_out(command)), None),
        Ok(Err(err)) => (Outcome::Unknown, Some(format!("{err:#}"))),
        Err(_) => (Outcome::Failure(timed_out(command)), None),
    }
}

/// The CRI client's timeout error text: `command "sh -c sleep 10" timed out`.
pub(crate) fn timed_out(command: &[String]) -> String {
    format!("command {} timed out", go_quote(&command.join(" ")))
}

/// Whether an exec error says the command ran out of time.
pub(crate) fn is_timeout(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<tokio::time::error::Elapsed>().is_some()
            || e.downcast_ref::<io::Error>()
                .is_some_and(|io| io.kind() == io::ErrorKind::TimedOut)
    })
}

fn limited(output: &[u8]) -> String {
    let end = output.len().min(MAX_OUTPUT);
    String::from_utf8_lossy(&output[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::testutil::FakeExec;

    fn cmd(words: &[&str]) -> Vec<String> {
        words.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn exit_codes_timeouts_and_errors() {
        let fake = FakeExec::default();
        fake.script("ok", vec![Ok((0, b"fine".to_vec()))]);
        fake.script(
            "bad",
            vec![Ok((
                1,
                b"cat: can't open '/tmp/healthy': No such file or directory\n".to_vec(),
            ))],
        );
        fake.script("err", vec![Err("container not running".into())]);
        fake.script("slow", vec![]);
        fake.hang("slow");
        let t = Duration::from_secs(1);
        assert_eq!(
            probe(&fake, "c1", &cmd(&["ok"]), t).await,
            (Outcome::Success("fine".into()), None)
        );
        assert_eq!(
            probe(&fake, "c1", &cmd(&["bad"]), t).await,
            (
                Outcome::Failure("cat: can't open '/tmp/healthy': No such file or directory\n".into()),
                None
            )
        );
        assert_eq!(
            probe(&fake, "c1", &cmd(&["err"]), t).await,
            (Outcome::Unknown, Some("container not running".into()))
        );
        assert_eq!(
            probe(&fake, "c1", &cmd(&["slow", "10"]), t).await,
            (Outcome::Failure("command \"slow 10\" timed out".into()), None)
        );
    }

    #[test]
    fn output_is_limited() {
        let big = vec![b'x'; 20_000];
        assert_eq!(limited(&big).len(), MAX_OUTPUT);
    }
}
