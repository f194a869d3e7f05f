//! The event printer: `LAST SEEN TYPE REASON OBJECT MESSAGE` (+ `SUBOBJECT SOURCE
//! FIRST SEEN COUNT NAME`). Kubernetes prints `events.k8s.io/v1` events with the
//! same columns (both are one stored kind), so both shapes are read here.

use serde_json::Value;

use super::cells::{self, str_at};
use super::{format, Column, PrintContext, Printer};

/// Event columns, as Kubernetes defines them.
pub const COLUMNS: &[Column] = &[
    Column::new(
        "Last Seen",
        "string",
        "The time at which the most recent occurrence of this event was recorded.",
    ),
    Column::new(
        "Type",
        "string",
        "Type of this event (Normal, Warning), new types could be added in the future",
    ),
    Column::new(
        "Reason",
        "string",
        "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
    ),
    Column::new("Object", "string", "The object that this event is about."),
    Column::new(
        "Subobject",
        "string",
        "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]. For example, if the object reference is to a container within a pod, this would take on a value like: \"spec.containers{name}\" (where \"name\" refers to the name of the container that triggered the event) or if no container name is specified \"spec.containers[2]\" (container with index 2 in this pod). This syntax is chosen only to have some well-defined way of referencing a part of an object.",
    )
    .wide(),
    Column::new(
        "Source",
        "string",
        "The component reporting this event. Should be a short machine understandable string.",
    )
    .wide(),
    Column::new("Message", "string", "A human-readable description of the status of this operation."),
    Column::new(
        "First Seen",
        "string",
        "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
    )
    .wide(),
    Column::new("Count", "string", "The number of times this event has occurred.").wide(),
    Column { priority: 1, ..Column::name() },
];

/// The event printer.
pub const PRINTER: Printer = Printer { columns: COLUMNS, row };

/// The fields the printer reads, named as in core/v1 whichever version the event is in.
struct Fields<'a> {
    involved: &'a Value,
    message: &'a Value,
    first: &'a Value,
    last: &'a Value,
    count: &'a Value,
    source: &'a Value,
    /// `reportingComponent` in core/v1, `reportingController` in events.k8s.io/v1.
    controller: &'a Value,
}

/// Fields only events.k8s.io/v1 has, to tell the shape of list items (which carry no apiVersion).
const EVENTS_V1_ONLY: &[&str] = &[
    "regarding",
    "note",
    "reportingController",
    "deprecatedCount",
    "deprecatedSource",
    "deprecatedFirstTimestamp",
    "deprecatedLastTimestamp",
];

fn fields(ev: &Value) -> Fields<'_> {
    let events_v1 = match ev["apiVersion"].as_str() {
        Some(v) => v.starts_with("events.k8s.io/"),
        None => EVENTS_V1_ONLY.iter().any(|k| ev.get(*k).is_some()),
    };
    if events_v1 {
        Fields {
            involved: &ev["regarding"],
            message: &ev["note"],
            first: &ev["deprecatedFirstTimestamp"],
            last: &ev["deprecatedLastTimestamp"],
            count: &ev["deprecatedCount"],
            source: &ev["deprecatedSource"],
            controller: &ev["reportingController"],
        }
    } else {
        Fields {
            involved: &ev["involvedObject"],
            message: &ev["message"],
            first: &ev["firstTimestamp"],
            last: &ev["lastTimestamp"],
            count: &ev["count"],
            source: &ev["source"],
            controller: &ev["reportingComponent"],
        }
    }
}

/// `component, host`, taking the reporting controller and instance when the source is empty.
fn source(ev: &Value, f: &Fields<'_>) -> String {
    let component = cells::str_or(&f.source["component"], str_at(f.controller));
    let host = cells::str_or(&f.source["host"], str_at(&ev["reportingInstance"]));
    if host.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {host}")
    }
}

fn age_of(v: &Value, ctx: &PrintContext) -> Option<String> {
    v.as_str()
        .and_then(crate::meta::parse_time)
        .map(|t| format::human_duration(ctx.now.as_second() - t.as_second()))
}

fn row(ev: &Value, ctx: &PrintContext) -> Vec<Value> {
    let f = fields(ev);
    let first = age_of(f.first, ctx)
        .or_else(|| age_of(&ev["eventTime"], ctx))
        .unwrap_or_else(|| "<unknown>".into());
    let mut last = age_of(f.last, ctx).unwrap_or_else(|| first.clone());
    let mut count = cells::int_at(f.count);
    if ev["series"].is_object() {
        last = age_of(&ev["series"]["lastObservedTime"], ctx).unwrap_or_else(|| "<unknown>".into());
        count = cells::int_at(&ev["series"]["count"]);
    } else if count == 0 {
        // Singleton events of the new API have no count.
        count = 1;
    }
    let kind = str_at(&f.involved["kind"]).to_lowercase();
    let target = match str_at(&f.involved["name"]) {
        "" => kind,
        n => format!("{kind}/{n}"),
    };
    vec![
        Value::from(last),
        ev["type"].as_str().map_or(Value::from(""), Value::from),
        ev["reason"].as_str().map_or(Value::from(""), Value::from),
        Value::from(target),
        Value::from(str_at(&f.involved["fieldPath"])),
        Value::from(source(ev, &f)),
        Value::from(str_at(f.message).trim()),
        Value::from(first),
        Value::from(count),
        cells::name(ev),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> PrintContext {
        PrintContext {
            now: "2025-01-01T00:10:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn core_event_row() {
        let ev = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "web.123"},
            "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{app}"},
            "reason": "Pulled", "type": "Normal", "message": "  Pulled image  \n",
            "source": {"component": "kubelet", "host": "node1"},
            "firstTimestamp": "2025-01-01T00:05:00Z", "lastTimestamp": "2025-01-01T00:09:00Z", "count": 3
        });
        let cells = row(&ev, &ctx());
        assert_eq!(
            cells,
            vec![
                json!("60s"),
                json!("Normal"),
                json!("Pulled"),
                json!("pod/web"),
                json!("spec.containers{app}"),
                json!("kubelet, node1"),
                json!("Pulled image"),
                json!("5m"),
                json!(3),
                json!("web.123")
            ]
        );
        assert_eq!(cells.len(), COLUMNS.len());
    }

    #[test]
    fn new_api_events_use_event_time_series_and_reporting_controller() {
        let ev = json!({
            "metadata": {"name": "e"},
            "involvedObject": {"kind": "Node"},
            "eventTime": "2025-01-01T00:08:00.000000Z",
            "reportingComponent": "k1s", "reportingInstance": "",
        });
        let cells = row(&ev, &ctx());
        assert_eq!(cells[0], json!("2m"));
        assert_eq!(cells[3], json!("node"));
        assert_eq!(cells[5], json!("k1s"));
        assert_eq!(cells[7], json!("2m"));
        assert_eq!(cells[8], json!(1));

        let series = json!({
            "apiVersion": "events.k8s.io/v1", "metadata": {"name": "e"},
            "regarding": {"kind": "Pod", "name": "p"}, "note": "hi", "reason": "R", "type": "Warning",
            "eventTime": "2025-01-01T00:00:00.000000Z", "reportingController": "ctl", "reportingInstance": "ctl-1",
            "series": {"count": 7, "lastObservedTime": "2025-01-01T00:09:30.000000Z"},
        });
        let cells = row(&series, &ctx());
        assert_eq!(cells[0], json!("30s"));
        assert_eq!(cells[3], json!("pod/p"));
        assert_eq!(cells[5], json!("ctl, ctl-1"));
        assert_eq!(cells[6], json!("hi"));
        assert_eq!(cells[7], json!("10m"));
        assert_eq!(cells[8], json!(7));
    }

    #[test]
    fn list_items_without_api_version_are_told_apart() {
        let v1 = json!({"metadata": {"name": "e"}, "regarding": {"kind": "Pod", "name": "p"},
                        "reportingController": "ctl", "reportingInstance": "i", "eventTime": "2025-01-01T00:09:00.000000Z"});
        let cells = row(&v1, &ctx());
        assert_eq!((&cells[3], &cells[5]), (&json!("pod/p"), &json!("ctl, i")));
        let core = json!({"metadata": {"name": "e"}, "involvedObject": {"kind": "Pod", "name": "p"},
                          "reportingComponent": "ctl", "eventTime": "2025-01-01T00:09:00.000000Z"});
        let cells = row(&core, &ctx());
        assert_eq!((&cells[3], &cells[5]), (&json!("pod/p"), &json!("ctl")));
    }

    #[test]
    fn missing_times_are_unknown() {
        let cells = row(&json!({"metadata": {"name": "e"}, "involvedObject": {}}), &ctx());
        assert_eq!(cells[0], json!("<unknown>"));
        assert_eq!(cells[7], json!("<unknown>"));
        assert_eq!(cells[3], json!(""));
    }
}
