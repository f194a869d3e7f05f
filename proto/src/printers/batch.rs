//! `batch/v1` printers: jobs and cronjobs (`printJob`, `printCronJob`).

use serde_json::{json, Value};

use super::format::human_duration;
use super::group_cells::{
    age, at, condition_true, container_cells, format_label_selector, int_at, int_opt, len_at, name, seconds_between,
    since, str_at,
};
use super::{Column, PrintContext, Printer};

const CONTAINERS: Column = Column::new("Containers", "string", "Names of each container in the template.").wide();
const IMAGES: Column = Column::new(
    "Images",
    "string",
    "Images referenced by each container in the template.",
)
.wide();
const SELECTOR: Column = Column::new(
    "Selector",
    "string",
    "A label query over pods that should match the pod count. Normally, the system sets this field for you. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
)
.wide();

/// The printer of a `batch` resource, if Kubernetes has one.
pub fn printer(plural: &str) -> Option<Printer> {
    match plural {
        "jobs" => Some(Printer {
            columns: JOB_COLUMNS,
            row: job_row,
        }),
        "cronjobs" => Some(Printer {
            columns: CRONJOB_COLUMNS,
            row: cronjob_row,
        }),
        _ => None,
    }
}

const JOB_COLUMNS: &[Column] = &[
    Column::name(),
    Column::new("Status", "string", "Status of the job."),
    Column::new(
        "Completions",
        "string",
        "The number of pods which reached phase Succeeded. The value increases monotonically for a given spec. However, it may decrease in reaction to scale down of elastic indexed jobs.",
    ),
    Column::new("Duration", "string", "Time required to complete the job."),
    Column::age(),
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

/// The Job's STATUS cell, in the precedence Kubernetes 1.33 checks conditions.
fn job_status(obj: &Value) -> &'static str {
    if condition_true(obj, "Complete") {
        "Complete"
    } else if condition_true(obj, "Failed") {
        "Failed"
    } else if at(obj, &["metadata", "deletionTimestamp"]).is_some() {
        "Terminating"
    } else if condition_true(obj, "Suspended") {
        "Suspended"
    } else if condition_true(obj, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    }
}

/// `succeeded/completions`, or `succeeded/1 of parallelism` for work queues.
fn job_completions(obj: &Value) -> String {
    let succeeded = int_at(obj, &["status", "succeeded"]);
    if let Some(completions) = int_opt(obj, &["spec", "completions"]) {
        return format!("{succeeded}/{completions}");
    }
    let parallelism = int_at(obj, &["spec", "parallelism"]);
    if parallelism > 1 {
        format!("{succeeded}/1 of {parallelism}")
    } else {
        format!("{succeeded}/1")
    }
}

/// How long the Job ran (until completion) or has been running; empty before it started.
fn job_duration(obj: &Value, ctx: &PrintContext) -> String {
    let Some(start) = str_at(obj, &["status", "startTime"]) else {
        return String::new();
    };
    match str_at(obj, &["status", "completionTime"]) {
        None => since(obj, &["status", "startTime"], ctx),
        Some(end) => seconds_between(start, end).map(human_duration).unwrap_or_default(),
    }
}

fn job_row(obj: &Value, ctx: &PrintContext) -> Vec<Value> {
    let (names, images) = container_cells(
        obj.get("spec")
            .and_then(|s| s.get("template"))
            .and_then(|t| t.get("spec")),
    );
    vec![
        name(obj),
        json!(job_status(obj)),
        json!(job_completions(obj)),
        json!(job_duration(obj, ctx)),
        age(obj, ctx),
        names,
        images,
        json!(format_label_selector(obj.get("spec").and_then(|s| s.get("selector")))),
    ]
}

const CRONJOB_COLUMNS: &[Column] = &[
    Column::name(),
    Column::new(
        "Schedule",
        "string",
        "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.",
    ),
    Column::new(
        "Timezone",
        "string",
        "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones. If not specified, this will default to the time zone of the kube-controller-manager process. The set of valid time zone names and the time zone offset is loaded from the system-wide time zone database by the API server during CronJob validation and the controller manager during execution. If no system-wide time zone database can be found a bundled version of the database is used instead. If the time zone name becomes invalid during the lifetime of a CronJob or due to a change in host configuration, the controller will stop creating new new Jobs and will create a system event with the reason UnknownTimeZone. More information can be found in https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#time-zones",
    ),
    Column::new(
        "Suspend",
        "boolean",
        "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions.  Defaults to false.",
    ),
    Column::new("Active", "integer", "A list of pointers to currently running jobs."),
    Column::new(
        "Last Schedule",
        "string",
        "Information when was the last time the job was successfully scheduled.",
    ),
    Column::age(),
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

/// `printBoolPtr`: `True`, `False`, or `<unset>` when absent.
fn bool_ptr(v: Option<&Value>) -> &'static str {
    match v.and_then(Value::as_bool) {
        Some(true) => "True",
        Some(false) => "False",
        None => "<unset>",
    }
}

fn cronjob_row(obj: &Value, ctx: &PrintContext) -> Vec<Value> {
    let last_schedule = match at(obj, &["status", "lastScheduleTime"]) {
        Some(_) => since(obj, &["status", "lastScheduleTime"], ctx),
        None => "<none>".to_string(),
    };
    let job_spec = at(obj, &["spec", "jobTemplate", "spec"]);
    let (names, images) = container_cells(job_spec.and_then(|s| s.get("template")).and_then(|t| t.get("spec")));
    vec![
        name(obj),
        json!(str_at(obj, &["spec", "schedule"]).unwrap_or_default()),
        json!(str_at(obj, &["spec", "timeZone"]).unwrap_or("<none>")),
        json!(bool_ptr(at(obj, &["spec", "suspend"]))),
        json!(len_at(obj, &["status", "active"])),
        json!(last_schedule),
        age(obj, ctx),
        names,
        images,
        json!(format_label_selector(job_spec.and_then(|s| s.get("selector")))),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREATED: &str = "2025-01-01T00:00:00Z";

    fn ctx() -> PrintContext {
        PrintContext {
            now: "2025-01-01T01:00:00Z".parse().unwrap(),
        }
    }

    fn row(plural: &str, obj: &Value) -> Vec<Value> {
        let p = printer(plural).unwrap();
        let cells = (p.row)(obj, &ctx());
        assert_eq!(cells.len(), p.columns.len());
        cells
    }

    fn job(spec: Value, status: Value) -> Value {
        let mut spec = spec;
        spec["template"] = json!({"spec": {"containers": [{"name": "pi", "image": "perl:5.34"}]}});
        spec["selector"] = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "abc"}});
        json!({"metadata": {"name": "pi", "creationTimestamp": CREATED}, "spec": spec, "status": status})
    }

    fn cond(kind: &str, status: &str) -> Value {
        json!({"type": kind, "status": status})
    }

    #[test]
    fn job_columns() {
        let names: Vec<(&str, i32)> = JOB_COLUMNS.iter().map(|c| (c.name, c.priority)).collect();
        assert_eq!(
            names,
            [
                ("Name", 0),
                ("Status", 0),
                ("Completions", 0),
                ("Duration", 0),
                ("Age", 0),
                ("Containers", 1),
                ("Images", 1),
                ("Selector", 1)
            ]
        );
    }

    #[test]
    fn completed_job() {
        let j = job(
            json!({"completions": 1}),
            json!({"succeeded": 1, "startTime": "2025-01-01T00:00:05Z", "completionTime": "2025-01-01T00:00:47Z",
                "conditions": [cond("SuccessCriteriaMet", "True"), cond("Complete", "True")]}),
        );
        assert_eq!(
            row("jobs", &j),
            [
                json!("pi"),
                json!("Complete"),
                json!("1/1"),
                json!("42s"),
                json!("60m"),
                json!("pi"),
                json!("perl:5.34"),
                json!("batch.kubernetes.io/controller-uid=abc")
            ]
        );
    }

    #[test]
    fn running_job_duration_counts_to_now() {
        let j = job(
            json!({"completions": 5, "parallelism": 2}),
            json!({"succeeded": 2, "active": 2, "startTime": "2025-01-01T00:55:00Z"}),
        );
        let cells = row("jobs", &j);
        assert_eq!(cells[1], "Running");
        assert_eq!(cells[2], "2/5");
        assert_eq!(cells[3], "5m");
        // Not started yet: no duration.
        let pending = job(json!({"completions": 1}), json!({}));
        assert_eq!(row("jobs", &pending)[3], "");
        assert_eq!(row("jobs", &pending)[2], "0/1");
    }

    #[test]
    fn work_queue_completions() {
        assert_eq!(
            row("jobs", &job(json!({"parallelism": 3}), json!({"succeeded": 1})))[2],
            "1/1 of 3"
        );
        assert_eq!(row("jobs", &job(json!({"parallelism": 1}), json!({})))[2], "0/1");
        assert_eq!(row("jobs", &job(json!({}), json!({})))[2], "0/1");
    }

    #[test]
    fn job_status_precedence() {
        let status =
            |conds: Value| row("jobs", &job(json!({"completions": 1}), json!({"conditions": conds})))[1].clone();
        assert_eq!(
            status(json!([cond("Failed", "True"), cond("FailureTarget", "True")])),
            "Failed"
        );
        assert_eq!(status(json!([cond("FailureTarget", "True")])), "FailureTarget");
        assert_eq!(status(json!([cond("Suspended", "True")])), "Suspended");
        assert_eq!(status(json!([cond("Suspended", "False")])), "Running");
        // Kubernetes 1.33 has no SuccessCriteriaMet status: the job shows Running until Complete.
        assert_eq!(status(json!([cond("SuccessCriteriaMet", "True")])), "Running");
        // Only the first condition of a type counts.
        assert_eq!(
            status(json!([cond("Complete", "False"), cond("Complete", "True")])),
            "Running"
        );
        let mut deleting = job(
            json!({"completions": 1}),
            json!({"conditions": [cond("Suspended", "True")]}),
        );
        deleting["metadata"]["deletionTimestamp"] = json!("2025-01-01T00:59:00Z");
        assert_eq!(row("jobs", &deleting)[1], "Terminating");
        deleting["status"]["conditions"] = json!([cond("Complete", "True")]);
        assert_eq!(row("jobs", &deleting)[1], "Complete");
    }

    #[test]
    fn cronjob_row_cells() {
        let names: Vec<(&str, i32)> = CRONJOB_COLUMNS.iter().map(|c| (c.name, c.priority)).collect();
        assert_eq!(
            names,
            [
                ("Name", 0),
                ("Schedule", 0),
                ("Timezone", 0),
                ("Suspend", 0),
                ("Active", 0),
                ("Last Schedule", 0),
                ("Age", 0),
                ("Containers", 1),
                ("Images", 1),
                ("Selector", 1)
            ]
        );
        let cj = json!({"metadata": {"name": "hello", "creationTimestamp": CREATED},
            "spec": {"schedule": "*/5 * * * *", "timeZone": "Europe/Berlin", "suspend": false,
                "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "hello", "image": "busybox:1.36"}]}}}}},
            "status": {"active": [{"name": "hello-1"}], "lastScheduleTime": "2025-01-01T00:58:00Z"}});
        assert_eq!(
            row("cronjobs", &cj),
            [
                json!("hello"),
                json!("*/5 * * * *"),
                json!("Europe/Berlin"),
                json!("False"),
                json!(1),
                json!("2m"),
                json!("60m"),
                json!("hello"),
                json!("busybox:1.36"),
                json!("<none>")
            ]
        );
        let bare = json!({"metadata": {"name": "b"}, "spec": {"schedule": "@hourly", "suspend": true}});
        let cells = row("cronjobs", &bare);
        assert_eq!(cells[2], "<none>");
        assert_eq!(cells[3], "True");
        assert_eq!(cells[4], 0);
        assert_eq!(cells[5], "<none>");
        let unset = json!({"metadata": {"name": "u"}, "spec": {"schedule": "@daily"}});
        assert_eq!(row("cronjobs", &unset)[3], "<unset>");
    }
}
