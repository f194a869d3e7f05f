//! Watch: a chunked stream of `{"type": …, "object": …}` lines, from a
//! resourceVersion or from the current state, filtered by selectors, with
//! bookmarks and a timeout.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use k1s_proto::ApiError;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::query::Query;
use super::rest::list::{prefix_of, Selection};
use super::rest::{name_of, to_response};
use super::route::ResourcePath;
use super::table::Conversion;
use super::Body;
use crate::api::Api;
use crate::store::{EventType, StoreError, StoreEvent};

/// How often a watch with `allowWatchBookmarks` gets a BOOKMARK.
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(10);
/// How long a watch without `timeoutSeconds` lasts (Kubernetes picks 30–60 minutes).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Buffered events per watcher before the writer waits on a slow client.
const WATCH_BUFFER: usize = 256;

/// Watch of a collection; event objects are transformed as `conversion` says.
pub async fn serve(
    api: &Arc<Api>,
    path: &ResourcePath,
    query: &Query,
    conversion: Conversion,
) -> Result<Response<Body>, ApiError> {
    let selection = Selection::from_query(path.info, query)?;
    start(api, path, query, selection, conversion)
}

/// Watch of one object (`GET …/name?watch=1`).
pub async fn serve_one(
    api: &Arc<Api>,
    path: &ResourcePath,
    query: &Query,
    conversion: Conversion,
) -> Result<Response<Body>, ApiError> {
    let name = name_of(path)?.to_string();
    let selection = Selection::from_query(path.info, query)?.with_name(&name);
    let mut collection = path.clone();
    collection.name = None;
    start(api, &collection, query, selection, conversion)
}

/// One line of a watch stream.
fn event_line(kind: &str, object: &Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

/// Writes the events of one watch, transforming their objects as the client asked
/// (a Table's column definitions go with the first event only, as in Kubernetes).
struct EventWriter {
    conversion: Conversion,
    info: &'static k1s_proto::ResourceInfo,
    printer: k1s_proto::printers::Printer,
    first: bool,
}

impl EventWriter {
    fn line(&mut self, kind: &str, object: Value) -> Bytes {
        if self.conversion.is_plain() {
            return event_line(kind, &object);
        }
        let object = self
            .conversion
            .watch_object(self.info, &self.printer, object, self.first);
        self.first = false;
        event_line(kind, &object)
    }
}

fn start(
    api: &Arc<Api>,
    path: &ResourcePath,
    query: &Query,
    selection: Selection,
    conversion: Conversion,
) -> Result<Response<Body>, ApiError> {
    let info = path.info;
    let mut writer = EventWriter {
        conversion,
        info,
        printer: k1s_proto::printers::printer_for(info),
        first: true,
    };
    let prefix = prefix_of(path);
    let requested = query
        .resource_version
        .as_deref()
        .filter(|rv| !rv.is_empty() && *rv != "0");
    let initial_events = query.send_initial_events.unwrap_or(requested.is_none());

    let (tx, rx) = mpsc::channel::<Bytes>(WATCH_BUFFER);
    let mut initial = Vec::new();
    let from = match requested {
        Some(rv) if !initial_events => rv.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!("invalid value for resourceVersion: {rv:?}: expected a number"))
        })?,
        _ => {
            // Start from the current state: synthetic ADDED events, then changes after it.
            let mut q = query.clone();
            q.limit = None;
            q.continue_token = None;
            let listed = super::rest::list::list(api, path, &q)?;
            for mut item in listed["items"].as_array().cloned().unwrap_or_default() {
                if selection.matches(&item) {
                    if let Some(m) = item.as_object_mut() {
                        m.insert("kind".into(), json!(info.kind));
                        m.insert("apiVersion".into(), json!(info.api_version()));
                    }
                    initial.push(item);
                }
            }
            listed["metadata"]["resourceVersion"]
                .as_str()
                .and_then(|r| r.parse().ok())
                .unwrap_or(0)
        }
    };
    let stream = api.store.watch(&prefix, from);
    let bookmarks = query.allow_watch_bookmarks;
    let initial_end_bookmark = bookmarks && query.send_initial_events == Some(true);
    let timeout = query
        .timeout_seconds
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT);

    tokio::spawn(async move {
        let mut stream = match stream {
            Ok(s) => s,
            Err(StoreError::Expired { requested, oldest }) => {
                let _ = tx
                    .send(writer.line("ERROR", ApiError::expired(requested, oldest).to_status()))
                    .await;
                return;
            }
            Err(e) => {
                let _ = tx.send(writer.line("ERROR", ApiError::internal(e).to_status())).await;
                return;
            }
        };
        for obj in initial {
            if tx.send(writer.line("ADDED", obj)).await.is_err() {
                return;
            }
        }
        let mut last_rev = from;
        let bookmark = |rev: u64, initial_end: bool| {
            let mut meta = json!({"resourceVersion": rev.to_string()});
            if initial_end {
                meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
            }
            json!({"kind": info.kind, "apiVersion": info.api_version(), "metadata": meta})
        };
        if initial_end_bookmark
            && tx
                .send(writer.line("BOOKMARK", bookmark(last_rev, true)))
                .await
                .is_err()
        {
            return;
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(BOOKMARK_INTERVAL);
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = tx.closed() => return,
                _ = ticker.tick(), if bookmarks => {
                    if tx.send(writer.line("BOOKMARK", bookmark(last_rev, false))).await.is_err() {
                        return;
                    }
                }
                next = stream.next() => match next {
                    Some(Ok(ev)) => {
                        last_rev = ev.revision;
                        if let Some((kind, obj)) = filter_event(info, &selection, &ev) {
                            if tx.send(writer.line(kind, obj)).await.is_err() {
                                return;
                            }
                        }
                    }
                    // A lagging watcher is closed; the client re-lists, as with Kubernetes.
                    Some(Err(_)) | None => return,
                }
            }
        }
    });

    let body =
        StreamBody::new(ReceiverStream::new(rx).map(|b| Ok::<_, std::convert::Infallible>(http_body::Frame::data(b))));
    let mut resp = Response::new(BodyExt::boxed(body));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, private"));
    Ok(resp)
}

/// What a watcher with a selection sees of a change: objects entering the
/// selection are ADDED, objects leaving it DELETED.
fn filter_event(
    info: &k1s_proto::ResourceInfo,
    selection: &Selection,
    ev: &StoreEvent,
) -> Option<(&'static str, Value)> {
    let obj = to_response(info, (*ev.object).clone());
    let now = selection.matches(&obj);
    let before = match &ev.prev {
        Some(prev) if !selection.is_everything() => selection.matches(&to_response(info, (**prev).clone())),
        Some(_) => true,
        None => false,
    };
    let kind = match ev.event_type {
        EventType::Added if now => "ADDED",
        EventType::Modified if now && before => "MODIFIED",
        EventType::Modified if now => "ADDED",
        EventType::Modified if before => "DELETED",
        EventType::Deleted if now || before => "DELETED",
        _ => return None,
    };
    Some((kind, obj))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::query::Query;

    fn ev(t: EventType, obj: Value, prev: Option<Value>) -> StoreEvent {
        StoreEvent {
            revision: 2,
            event_type: t,
            key: "k".into(),
            object: Arc::new(obj),
            prev: prev.map(Arc::new),
        }
    }

    #[test]
    fn objects_leaving_a_selection_are_deleted() {
        let info = k1s_proto::resources::find("", "v1", "configmaps").unwrap();
        let q = Query::parse(Some("labelSelector=app%3Dweb")).unwrap();
        let sel = Selection::from_query(info, &q).unwrap();
        let web = json!({"metadata": {"name": "a", "labels": {"app": "web"}}});
        let db = json!({"metadata": {"name": "a", "labels": {"app": "db"}}});
        let (k, _) = filter_event(info, &sel, &ev(EventType::Modified, db.clone(), Some(web.clone()))).unwrap();
        assert_eq!(k, "DELETED");
        let (k, _) = filter_event(info, &sel, &ev(EventType::Modified, web.clone(), Some(db.clone()))).unwrap();
        assert_eq!(k, "ADDED");
        assert!(filter_event(info, &sel, &ev(EventType::Added, db, None)).is_none());
        let (k, o) = filter_event(info, &sel, &ev(EventType::Added, web, None)).unwrap();
        assert_eq!(k, "ADDED");
        assert_eq!(o["kind"], "ConfigMap");
    }
}
