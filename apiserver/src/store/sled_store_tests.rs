//! Tests of the sled store (the `tests` module of `sled_store`).

use std::collections::HashSet;
use std::time::Duration;

use futures::StreamExt;
use serde_json::json;

use super::*;
use crate::store::{EventType, Retention};

const NS: &str = "/registry/core/configmaps/default/";

fn cm(name: &str, data: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}, "data": {"k": data}})
}

fn rv(object: &Value) -> u64 {
    object["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("resourceVersion")
}

fn open(dir: &Path) -> Arc<SledStore> {
    SledStore::open(dir).expect("open store")
}

/// Collects `n` events, failing after a timeout.
async fn take(stream: &mut WatchStream, n: usize) -> Vec<StoreEvent> {
    let mut out = Vec::new();
    while out.len() < n {
        match tokio::time::timeout(Duration::from_secs(5), stream.next()).await {
            Ok(Some(Ok(ev))) => out.push(ev),
            other => panic!("after {} events: {other:?}", out.len()),
        }
    }
    out
}

/// Asserts nothing more arrives soon.
async fn quiet(stream: &mut WatchStream) {
    if let Ok(item) = tokio::time::timeout(Duration::from_millis(100), stream.next()).await {
        panic!("unexpected {item:?}");
    }
}

#[tokio::test]
async fn revisions_increase_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    assert_eq!(store.current_revision(), 0);
    let a = store.create(&format!("{NS}a"), cm("a", "1")).await.unwrap();
    let b = store.create(&format!("{NS}b"), cm("b", "1")).await.unwrap();
    let a2 = store
        .update(&format!("{NS}a"), cm("a", "2"), Some(rv(&a)))
        .await
        .unwrap();
    let gone = store.delete(&format!("{NS}b"), None).await.unwrap();
    let revs = [rv(&a), rv(&b), rv(&a2), rv(&gone)];
    assert_eq!(revs, [1, 2, 3, 4]);
    assert_eq!(store.current_revision(), 4);
    assert_eq!(gone["data"]["k"], json!("1"), "delete returns the last state");
    let stored = store.get(&format!("{NS}a")).unwrap().unwrap();
    assert_eq!(stored, a2);
    assert_eq!(stored["metadata"]["resourceVersion"], json!("3"));
    assert_eq!(store.get(&format!("{NS}b")).unwrap(), None);
    store.close().await.unwrap();
    drop(store);

    let store = open(dir.path());
    assert_eq!(store.current_revision(), 4);
    let c = store.create(&format!("{NS}c"), cm("c", "1")).await.unwrap();
    assert_eq!(rv(&c), 5);
    assert_eq!(store.get(&format!("{NS}a")).unwrap().unwrap(), a2);
    store.close().await.unwrap();
}

#[tokio::test]
async fn write_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let key = format!("{NS}a");
    let a = store.create(&key, cm("a", "1")).await.unwrap();
    let missing = format!("{NS}missing");
    type Case<'a> = (&'a str, BoxFuture<'a, Result<Value, StoreError>>, &'a str);
    let cases: Vec<Case<'_>> = vec![
        ("create existing", store.create(&key, cm("a", "x")), "AlreadyExists"),
        ("update missing", store.update(&missing, cm("m", "x"), None), "NotFound"),
        ("delete missing", store.delete(&missing, None), "NotFound"),
        (
            "update stale",
            store.update(&key, cm("a", "x"), Some(rv(&a) + 1)),
            "Conflict",
        ),
        ("delete stale", store.delete(&key, Some(0)), "Conflict"),
        (
            "create non-object",
            store.create(&format!("{NS}x"), json!([1])),
            "Backend",
        ),
    ];
    for (name, fut, want) in cases {
        let err = fut.await.expect_err(name);
        let got = match err {
            StoreError::AlreadyExists => "AlreadyExists",
            StoreError::NotFound => "NotFound",
            StoreError::Conflict { current } => {
                assert_eq!(current, rv(&a), "{name}");
                "Conflict"
            }
            StoreError::Backend(_) => "Backend",
            _ => "other",
        };
        assert_eq!(got, want, "{name}");
    }
    // Failed writes use no revision.
    assert_eq!(store.current_revision(), 1);
    assert_eq!(store.get(&key).unwrap().unwrap(), a);
    store.close().await.unwrap();
}

#[tokio::test]
async fn list_prefix_limit_continue() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for ns in ["default", "default2", "defaul"] {
        for name in ["a", "b", "c"] {
            store
                .create(&format!("/registry/core/configmaps/{ns}/{name}"), cm(name, ns))
                .await
                .unwrap();
        }
    }
    store
        .create("/registry/core/secrets/default/a", cm("a", "s"))
        .await
        .unwrap();
    let names = |r: &ListResult| -> Vec<String> {
        r.items
            .iter()
            .map(|i| {
                format!(
                    "{}/{}",
                    i["data"]["k"].as_str().unwrap(),
                    i["metadata"]["name"].as_str().unwrap()
                )
            })
            .collect()
    };
    let opts = |after: Option<&str>, limit: Option<usize>| ListOptions {
        start_after: after.map(String::from),
        limit,
    };
    // (prefix, options, items, continue_after, remaining)
    type Case<'a> = (&'a str, ListOptions, Vec<&'a str>, Option<&'a str>, Option<u64>);
    let cases: Vec<Case<'_>> = vec![
        (
            NS,
            opts(None, None),
            vec!["default/a", "default/b", "default/c"],
            None,
            None,
        ),
        (
            NS,
            opts(None, Some(0)),
            vec!["default/a", "default/b", "default/c"],
            None,
            None,
        ),
        (
            NS,
            opts(None, Some(2)),
            vec!["default/a", "default/b"],
            Some("/registry/core/configmaps/default/b"),
            Some(1),
        ),
        (
            NS,
            opts(Some("/registry/core/configmaps/default/b"), Some(2)),
            vec!["default/c"],
            None,
            None,
        ),
        (
            NS,
            opts(None, Some(3)),
            vec!["default/a", "default/b", "default/c"],
            None,
            None,
        ),
        (
            "/registry/core/configmaps/default2/",
            opts(None, None),
            vec!["default2/a", "default2/b", "default2/c"],
            None,
            None,
        ),
        (
            "/registry/core/configmaps/",
            opts(Some("/registry/core/configmaps/default/c"), Some(2)),
            vec!["default2/a", "default2/b"],
            Some("/registry/core/configmaps/default2/b"),
            Some(1),
        ),
        // A continue key before the prefix starts at the prefix.
        (
            NS,
            opts(Some("/registry/a"), Some(1)),
            vec!["default/a"],
            Some("/registry/core/configmaps/default/a"),
            Some(2),
        ),
        ("/registry/core/configmaps/nope/", opts(None, None), vec![], None, None),
        ("/registry/core/secrets/", opts(None, None), vec!["s/a"], None, None),
    ];
    for (prefix, options, want, cont, remaining) in cases {
        let got = store.list(prefix, &options).unwrap();
        assert_eq!(names(&got), want, "{prefix} {options:?}");
        assert_eq!(got.continue_after.as_deref(), cont, "{prefix} {options:?}");
        assert_eq!(got.remaining, remaining, "{prefix} {options:?}");
        assert_eq!(got.revision, 10);
    }
    store.close().await.unwrap();
}

#[tokio::test]
async fn watch_replays_then_streams_live() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let a = store.create(&format!("{NS}a"), cm("a", "1")).await.unwrap();
    store
        .create("/registry/core/configmaps/default2/x", cm("x", "1"))
        .await
        .unwrap();
    let a2 = store.update(&format!("{NS}a"), cm("a", "2"), None).await.unwrap();

    // Replay from before the first write, then live.
    let mut w = store.watch(NS, 0).unwrap();
    let replayed = take(&mut w, 2).await;
    assert_eq!(
        replayed.iter().map(|e| (e.revision, e.event_type)).collect::<Vec<_>>(),
        [(1, EventType::Added), (3, EventType::Modified)]
    );
    assert_eq!(*replayed[0].object, a);
    assert!(replayed[0].prev.is_none());
    assert_eq!(*replayed[1].object, a2);
    assert_eq!(
        replayed[1].prev.as_deref(),
        Some(&a),
        "MODIFIED carries the previous object"
    );

    store
        .create("/registry/core/configmaps/default2/y", cm("y", "1"))
        .await
        .unwrap();
    let gone = store.delete(&format!("{NS}a"), None).await.unwrap();
    let live = take(&mut w, 1).await;
    assert_eq!((live[0].revision, live[0].event_type), (5, EventType::Deleted));
    assert_eq!(*live[0].object, gone);
    assert_eq!(
        live[0].object["metadata"]["resourceVersion"],
        json!("5"),
        "DELETED carries the deleting revision"
    );
    assert_eq!(
        live[0].object["data"]["k"],
        json!("2"),
        "DELETED carries the last state"
    );
    assert_eq!(live[0].prev.as_deref(), Some(&a2));
    quiet(&mut w).await;

    // From the middle of the log, and from the current revision.
    let mut mid = store.watch(NS, 3).unwrap();
    assert_eq!(take(&mut mid, 1).await[0].revision, 5);
    let mut now = store.watch(NS, store.current_revision()).unwrap();
    quiet(&mut now).await;
    store.create(&format!("{NS}b"), cm("b", "1")).await.unwrap();
    assert_eq!(take(&mut now, 1).await[0].revision, 6);
    assert_eq!(take(&mut w, 1).await[0].revision, 6);
    store.close().await.unwrap();
}

#[tokio::test]
async fn watch_expires_after_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for i in 0..5 {
        store.create(&format!("{NS}o{i}"), cm("o", "1")).await.unwrap();
    }
    store.compact(3).unwrap();
    assert_eq!(store.oldest_revision(), 3);
    match store.watch(NS, 2) {
        Err(StoreError::Expired {
            requested: 2,
            oldest: 3,
        }) => {}
        other => panic!("{:?}", other.map(|_| ())),
    }
    let mut w = store.watch(NS, 3).unwrap();
    assert_eq!(
        take(&mut w, 2).await.iter().map(|e| e.revision).collect::<Vec<_>>(),
        [4, 5]
    );
    // Compaction never goes past the current revision; `after == current` always works.
    store.compact(100).unwrap();
    assert_eq!(store.oldest_revision(), 5);
    assert!(store.watch(NS, 5).is_ok());
    assert_eq!(store.revisions_len(), 5, "current versions stay");
    store.close().await.unwrap();
    drop((w, store));

    let store = open(dir.path());
    assert_eq!((store.oldest_revision(), store.current_revision()), (5, 5));
    assert!(matches!(
        store.watch(NS, 4),
        Err(StoreError::Expired {
            requested: 4,
            oldest: 5
        })
    ));
    let mut w = store.watch(NS, 5).unwrap();
    store.create(&format!("{NS}new"), cm("new", "1")).await.unwrap();
    assert_eq!(take(&mut w, 1).await[0].revision, 6);
    store.close().await.unwrap();
}

#[tokio::test]
async fn lagging_watcher_catches_up_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open_with(
        dir.path(),
        &SledStoreConfig {
            watch_buffer: 2,
            ..Default::default()
        },
    )
    .unwrap();
    let mut w = store.watch(NS, 0).unwrap();
    for i in 0..50 {
        store.create(&format!("{NS}o{i:02}"), cm("o", "1")).await.unwrap();
    }
    let events = take(&mut w, 50).await;
    assert_eq!(
        events.iter().map(|e| e.revision).collect::<Vec<_>>(),
        (1..=50).collect::<Vec<_>>()
    );
    quiet(&mut w).await;
    store.close().await.unwrap();
}

#[tokio::test]
async fn watcher_passed_by_compaction_gets_lagged_then_ends() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open_with(
        dir.path(),
        &SledStoreConfig {
            watch_buffer: 2,
            ..Default::default()
        },
    )
    .unwrap();
    let mut w = store.watch(NS, 0).unwrap();
    for i in 0..20 {
        store.create(&format!("{NS}o{i:02}"), cm("o", "1")).await.unwrap();
    }
    store.compact(10).unwrap();
    match tokio::time::timeout(Duration::from_secs(5), w.next()).await.unwrap() {
        Some(Err(StoreError::Lagged)) => {}
        other => panic!("{other:?}"),
    }
    assert!(w.next().await.is_none());
    store.close().await.unwrap();
}

#[tokio::test]
async fn acknowledged_writes_survive_drop_without_close() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut acked = Vec::new();
    for i in 0..20 {
        acked.push(
            store
                .create(&format!("{NS}o{i:02}"), cm("o", &i.to_string()))
                .await
                .unwrap(),
        );
    }
    acked.push(store.delete(&format!("{NS}o00"), None).await.unwrap());
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.current_revision(), 21);
    let listed = store.list(NS, &ListOptions::default()).unwrap();
    assert_eq!(listed.items, acked[1..20].to_vec());
    store.close().await.unwrap();
}

#[tokio::test]
async fn unapplied_log_entries_are_replayed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let a = store.create(&format!("{NS}a"), cm("a", "1")).await.unwrap();
    let b = store.create(&format!("{NS}b"), cm("b", "1")).await.unwrap();
    let a2 = store.update(&format!("{NS}a"), cm("a", "2"), None).await.unwrap();
    store.delete(&format!("{NS}b"), None).await.unwrap();
    // As after a crash between the flush and the index update: the index
    // is two revisions behind.
    let index = &store.inner.index;
    index.insert(format!("{NS}a").as_bytes(), &rev_key(rv(&a))).unwrap();
    index.insert(format!("{NS}b").as_bytes(), &rev_key(rv(&b))).unwrap();
    store
        .inner
        .meta
        .insert(crate::store::maintenance::APPLIED_KEY, &rev_key(2))
        .unwrap();
    store.close().await.unwrap();
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.current_revision(), 4);
    assert_eq!(store.list(NS, &ListOptions::default()).unwrap().items, vec![a2]);
    store.close().await.unwrap();
}

#[tokio::test]
async fn compaction_removes_replaced_versions_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let a = format!("{NS}a");
    store.create(&a, cm("a", "1")).await.unwrap();
    store.update(&a, cm("a", "2"), None).await.unwrap();
    store.create(&format!("{NS}b"), cm("b", "1")).await.unwrap();
    let a3 = store.update(&a, cm("a", "3"), None).await.unwrap();
    store.delete(&format!("{NS}b"), None).await.unwrap();
    let c = store.create(&format!("{NS}c"), cm("c", "1")).await.unwrap();
    assert_eq!(store.revisions_len(), 6);
    // (compact to, entries left): the history above the target stays, with
    // the versions its events name as previous.
    for (target, left) in [(2, 5), (4, 4), (6, 2)] {
        store.compact(target).unwrap();
        assert_eq!(store.revisions_len(), left, "compacted to {target}");
        assert_eq!(
            store.list(NS, &ListOptions::default()).unwrap().items,
            vec![a3.clone(), c.clone()]
        );
    }
    store.close().await.unwrap();
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.revisions_len(), 2);
    assert_eq!(store.get(&a).unwrap(), Some(a3));
    store.close().await.unwrap();
}

#[tokio::test]
async fn replay_after_partial_compaction_has_previous_objects() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let a = format!("{NS}a");
    let v1 = store.create(&a, cm("a", "1")).await.unwrap();
    store.create(&format!("{NS}b"), cm("b", "1")).await.unwrap();
    let v3 = store.update(&a, cm("a", "3"), None).await.unwrap();
    store.compact(2).unwrap();
    let mut w = store.watch(NS, 2).unwrap();
    let ev = take(&mut w, 1).await.remove(0);
    assert_eq!((ev.revision, ev.prev.as_deref()), (3, Some(&v1)));
    assert_eq!(*ev.object, v3);
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_get_unique_ordered_revisions() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut w = store.watch("/registry/", 0).unwrap();
    let writers = 64;
    let per_writer = 20;
    let mut tasks = Vec::new();
    for t in 0..writers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut revs = Vec::new();
            for i in 0..per_writer {
                let key = format!("/registry/core/configmaps/ns{t}/o{i}");
                let created = store.create(&key, cm("o", "1")).await.unwrap();
                let updated = store.update(&key, cm("o", "2"), Some(rv(&created))).await.unwrap();
                revs.push(rv(&created));
                revs.push(rv(&updated));
            }
            revs
        }));
    }
    let mut all = HashSet::new();
    for t in tasks {
        let revs = t.await.unwrap();
        assert!(revs.windows(2).all(|p| p[0] < p[1]), "a writer's revisions increase");
        for r in revs {
            assert!(all.insert(r), "revision {r} given twice");
        }
    }
    let total = (writers * per_writer * 2) as u64;
    assert_eq!(all.len() as u64, total);
    assert_eq!(store.current_revision(), total);
    let events = take(&mut w, total as usize).await;
    assert_eq!(
        events.iter().map(|e| e.revision).collect::<Vec<_>>(),
        (1..=total).collect::<Vec<_>>()
    );
    // The log replays in the same order.
    let mut replay = store.watch("/registry/", 0).unwrap();
    let replayed = take(&mut replay, total as usize).await;
    assert!(replayed
        .iter()
        .zip(&events)
        .all(|(a, b)| a.revision == b.revision && a.key == b.key));
    store.close().await.unwrap();
}

#[tokio::test]
async fn close_stops_writes_watches_and_compactor() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut w = store.watch(NS, 0).unwrap();
    let compactor = crate::store::compactor::spawn_compactor(
        store.clone(),
        Duration::from_millis(10),
        Retention {
            min_age: Duration::ZERO,
            min_revisions: 1,
        },
    );
    for i in 0..5 {
        store.create(&format!("{NS}o{i}"), cm("o", "1")).await.unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while store.oldest_revision() < 4 {
        assert!(tokio::time::Instant::now() < deadline, "compactor did not run");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    store.close().await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), compactor)
        .await
        .expect("compactor stops")
        .unwrap();
    assert!(matches!(
        store.create(&format!("{NS}late"), cm("late", "1")).await,
        Err(StoreError::Backend(_))
    ));
    assert!(store.watch(NS, 5).is_err());
    let rest: Vec<_> = tokio::time::timeout(Duration::from_secs(5), w.by_ref().collect::<Vec<_>>())
        .await
        .unwrap();
    assert_eq!(rest.len(), 5, "events before close are delivered, then the stream ends");
    // Reads still work, and a second close is harmless.
    assert_eq!(store.list(NS, &ListOptions::default()).unwrap().items.len(), 5);
    store.close().await.unwrap();
}

#[test]
fn open_fails_clearly_on_unusable_dirs() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let err = SledStore::open(&file.join("db")).err().expect("a path under a file");
    assert!(
        err.to_string().contains("cannot create the directory of the store in"),
        "{err}"
    );
    let err = SledStore::open(&file).err().expect("a file");
    assert!(err.to_string().contains(&file.display().to_string()), "{err}");

    let held = SledStore::open(&dir.path().join("db")).unwrap();
    let err = SledStore::open(&dir.path().join("db"))
        .err()
        .expect("a store open elsewhere");
    assert!(err.to_string().contains("lock"), "{err}");
    drop(held);
}

#[test]
fn open_refuses_other_store_formats() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path()).unwrap();
        db.open_tree("changes")
            .unwrap()
            .insert(rev_key(1), b"x".as_slice())
            .unwrap();
        db.flush().unwrap();
    }
    let err = SledStore::open(dir.path()).err().expect("format 1");
    assert!(err.to_string().contains("early development version"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    {
        let db = sled::open(dir.path()).unwrap();
        db.open_tree("meta").unwrap().insert(b"format", &rev_key(3)).unwrap();
        db.flush().unwrap();
    }
    let err = SledStore::open(dir.path()).err().expect("format 3");
    assert!(err.to_string().contains("format 3"), "{err}");
}

impl SledStore {
    /// Entries in the revisions tree: change history and current versions.
    fn revisions_len(&self) -> usize {
        self.inner.revisions.len()
    }
}

/// Kills a child process that writes concurrently and checks every write it
/// acknowledged is there after reopening.
#[test]
fn acknowledged_writes_survive_kill_9() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    if let Ok(dir) = std::env::var("K1S_STORE_CRASH_DIR") {
        return crash_child(Path::new(&dir));
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "store::sled_store::tests::acknowledged_writes_survive_kill_9",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("K1S_STORE_CRASH_DIR", dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = Vec::new();
    while acked.len() < 300 {
        let line = lines.next().expect("child output").unwrap();
        if let Some(ack) = line.strip_prefix("ACK ") {
            acked.push(ack.to_string());
        }
    }
    child.kill().unwrap();
    // Acks already printed were acknowledged before the kill.
    acked.extend(
        lines
            .map_while(Result::ok)
            .filter_map(|l| l.strip_prefix("ACK ").map(String::from)),
    );
    child.wait().unwrap();

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = open(dir.path());
        let mut max = 0;
        for ack in &acked {
            let (rev, key) = ack.split_once(' ').unwrap();
            let rev: u64 = rev.parse().unwrap();
            let got = store
                .get(key)
                .unwrap()
                .unwrap_or_else(|| panic!("acknowledged {key} is lost"));
            assert_eq!(rv(&got), rev);
            max = max.max(rev);
        }
        assert!(store.current_revision() >= max);
        eprintln!(
            "{} acknowledged writes survived kill -9 (revision {})",
            acked.len(),
            store.current_revision()
        );
        store.close().await.unwrap();
    });
}

fn crash_child(dir: &Path) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = open(dir);
        let mut tasks = Vec::new();
        for t in 0..16 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0.. {
                    let key = format!("/registry/core/configmaps/ns{t}/o{i}");
                    let created = store.create(&key, cm("o", "1")).await.unwrap();
                    // One line per write, so the parent never sees a torn ack.
                    println!("ACK {} {key}", rv(&created));
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
}

/// Not asserted: prints create throughput with 64 writers, and raw sled as the floor.
/// `cargo test -p k1s-apiserver --lib store::sled_store::tests::throughput -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread")]
#[ignore]
async fn throughput() {
    let writers = 64;
    let phase = Duration::from_secs(3);
    let payload = "x".repeat(900);

    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let stop = std::time::Instant::now() + phase;
    let mut tasks = Vec::new();
    for t in 0..writers {
        let store = store.clone();
        let payload = payload.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while std::time::Instant::now() < stop {
                store
                    .create(
                        &format!("/registry/core/configmaps/default/w{t}-{n}"),
                        cm("o", &payload),
                    )
                    .await
                    .unwrap();
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    let size = serde_json::to_vec(&cm("o", &payload)).unwrap().len();
    println!(
        "store: {writers} writers, {size} B objects: {:.0} durable creates/s",
        total as f64 / phase.as_secs_f64()
    );
    store.close().await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new()
        .path(dir.path())
        .cache_capacity(4 << 20)
        .open()
        .unwrap();
    let stop = std::time::Instant::now() + phase;
    // Blocking threads with `flush`: sled 0.34's `flush_async` runs on sled's own
    // small thread pool, which also writes the log buffers; 64 of them stall it.
    let mut tasks = Vec::new();
    for t in 0..writers {
        let db = db.clone();
        tasks.push(tokio::task::spawn_blocking(move || {
            let mut n = 0u64;
            while std::time::Instant::now() < stop {
                db.insert(format!("/registry/core/configmaps/default/w{t}-{n}"), vec![b'x'; 1024])
                    .unwrap();
                db.flush().unwrap();
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    println!(
        "raw sled: {writers} writers, 1 KiB values, insert + flush each: {:.0}/s",
        total as f64 / phase.as_secs_f64()
    );
}

fn dir_size(p: &Path) -> u64 {
    std::fs::read_dir(p)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

fn proc_status(field: &str) -> u64 {
    let file = if field == "write_bytes" {
        "/proc/self/io"
    } else {
        "/proc/self/status"
    };
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)
                .and_then(|v| v.trim_start_matches(':').split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// Not asserted: a node Lease (~600 B) renewed every 10 s forever, on a compressed
/// timescale (updates back to back; compaction every 6 updates = 1 minute keeping
/// the default retention), next to other objects (`K1S_CHURN_FILLERS`, default 300,
/// about 1 KiB each). Prints the data dir size, the bytes the process wrote to disk
/// per update and RSS. `K1S_CHURN_UPDATES` (default 60000, about 7 days):
/// `cargo test -p k1s-apiserver --lib store::sled_store::tests::lease_churn -- --ignored --nocapture`
#[tokio::test]
#[ignore]
async fn lease_churn() {
    let updates: u64 = std::env::var("K1S_CHURN_UPDATES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60_000);
    let rss_before = proc_status("VmRSS");
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let fillers: usize = std::env::var("K1S_CHURN_FILLERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    for i in 0..fillers {
        store
            .create(
                &format!("/registry/core/configmaps/ns{}/cm{i}", i % 10),
                cm("o", &"x".repeat(700)),
            )
            .await
            .unwrap();
    }
    let lease = |n: u64| {
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "node-a", "namespace": "kube-node-lease", "uid": "6f1c3e0e-8a4e-4c55-9d0e-2c4a5f0b7d11",
                "creationTimestamp": "2025-01-01T00:00:00Z",
                "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": "node-a", "uid": "0b6b1d1c-6b1e-4a53-a1a9-3a8d2f1e5c77"}],
                "managedFields": [{"manager": "k1s", "operation": "Update", "apiVersion": "coordination.k8s.io/v1",
                    "time": "2025-01-01T00:00:00Z", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:metadata": {"f:ownerReferences": {}}, "f:spec": {"f:holderIdentity": {}, "f:leaseDurationSeconds": {}, "f:renewTime": {}}}}]},
            "spec": {"holderIdentity": "node-a", "leaseDurationSeconds": 40, "renewTime": format!("2025-01-01T00:00:00.{n:06}Z")}})
    };
    for i in 0..(fillers / 20) {
        let mut l = lease(0);
        l["metadata"]["name"] = json!(format!("node-{i}"));
        store
            .create(
                &format!("/registry/coordination.k8s.io/leases/kube-node-lease/node-{i}"),
                l,
            )
            .await
            .unwrap();
    }
    let key = "/registry/coordination.k8s.io/leases/kube-node-lease/node-a";
    store.create(key, lease(0)).await.unwrap();
    println!(
        "lease JSON: {} B",
        serde_json::to_vec(&store.get(key).unwrap().unwrap()).unwrap().len()
    );
    let keep = Retention::default();
    let per_minute = 6;
    let keep_revisions = keep.min_revisions.max(keep.min_age.as_secs() / 10);
    let started = std::time::Instant::now();
    let (mut written, mut last_n) = (proc_status("write_bytes"), 0);
    println!(
        "{:>8} {:>10} {:>10} {:>12} {:>10}",
        "updates", "sim. days", "dir KiB", "written B/upd", "log len"
    );
    for n in 1..=updates {
        store.update(key, lease(n), None).await.unwrap();
        if n % per_minute == 0 {
            store
                .compact(store.current_revision().saturating_sub(keep_revisions))
                .unwrap();
        }
        if n % (updates / 12).max(1) == 0 {
            let now = proc_status("write_bytes");
            println!(
                "{n:>8} {:>10.2} {:>10} {:>12} {:>10}",
                n as f64 * 10.0 / 86_400.0,
                dir_size(dir.path()) / 1024,
                (now - written) / (n - last_n),
                store.revisions_len()
            );
            (written, last_n) = (now, n);
        }
    }
    let elapsed = started.elapsed();
    println!(
        "{updates} updates in {:.1}s ({:.0}/s); RSS {} KiB before open, {} KiB after",
        elapsed.as_secs_f64(),
        updates as f64 / elapsed.as_secs_f64(),
        rss_before,
        proc_status("VmRSS")
    );
    store.close().await.unwrap();
}
