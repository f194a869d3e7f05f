//! CronJobs (pkg/registry/batch/cronjob/strategy.go, batch/v1 defaults and
//! validation) and the schedule parser the CronJob controller shares.

use std::str::FromStr;

use k1s_proto::FieldError;
use k8s_openapi::api::batch::v1::CronJob;
use serde_json::Value;

use super::job::validate_job_spec;
use super::pod_defaults::default_template;
use super::util::{default_str, default_to, go_selector, non_negative, one_of, typed, with_typed};
use super::Strategy;

/// The CronJob strategy.
pub struct CronJobStrategy;

/// A parsed schedule: `cron` crate schedules (seconds fixed at 0) or an `@every` interval.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// A calendar schedule: the times any of these match (one, or two when
    /// both day fields are restricted: one per day field).
    Cron(Vec<cron::Schedule>),
    /// `@every <duration>`: a fixed interval in seconds.
    Every(u64),
}

/// Parses a Kubernetes schedule (robfig/cron's standard 5 fields, `@hourly`
/// and friends, `@every 1h30m`, an optional `TZ=`/`CRON_TZ=` prefix, which
/// is returned) into a schedule the `cron` crate can run.
///
/// Days of the week are 0–6 from Sunday as in robfig/cron; the `cron` crate
/// counts 1–7, so numbers are shifted. When both day fields are restricted
/// (neither starts with `*` or `?`) robfig/cron, like Vixie cron, matches a
/// day that either field names, where the `cron` crate needs both: such a
/// schedule becomes two, one with each day field left open.
pub fn parse_schedule(schedule: &str) -> Result<(Schedule, Option<String>), String> {
    let mut rest = schedule.trim();
    let mut tz = None;
    for prefix in ["CRON_TZ=", "TZ="] {
        if let Some(after) = rest.strip_prefix(prefix) {
            let (zone, tail) = after
                .split_once(char::is_whitespace)
                .ok_or_else(|| "missing spec after timezone".to_string())?;
            tz = Some(zone.to_string());
            rest = tail.trim();
        }
    }
    if let Some(d) = rest.strip_prefix('@') {
        let expr = match d {
            "yearly" | "annually" => "0 0 0 1 1 *",
            "monthly" => "0 0 0 1 * *",
            "weekly" => "0 0 0 * * 1",
            "daily" | "midnight" => "0 0 0 * * *",
            "hourly" => "0 0 * * * *",
            _ => {
                if let Some(dur) = d.strip_prefix("every ") {
                    let secs = parse_go_duration(dur.trim()).ok_or_else(|| {
                        format!(
                            "failed to parse duration {rest}: time: invalid duration \"{}\"",
                            dur.trim()
                        )
                    })?;
                    return Ok((Schedule::Every(secs.max(1)), tz));
                }
                return Err(format!("unrecognized descriptor: {rest}"));
            }
        };
        let s = cron::Schedule::from_str(expr).map_err(|e| e.to_string())?;
        return Ok((Schedule::Cron(vec![s]), tz));
    }
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "expected exactly 5 fields, found {}: [{}]",
            fields.len(),
            fields.join(" ")
        ));
    }
    let dow = shift_days_of_week(fields[4])?;
    let (minute, hour, dom, month) = (fields[0], fields[1], fields[2], fields[3]);
    let cron = |dom: &str, dow: &str| {
        cron::Schedule::from_str(&format!("0 {minute} {hour} {dom} {month} {dow}")).map_err(|e| e.to_string())
    };
    let schedules = if is_star(dom) || is_star(fields[4]) {
        vec![cron(dom, &dow)?]
    } else {
        vec![cron(dom, "*")?, cron("*", &dow)?]
    };
    Ok((Schedule::Cron(schedules), tz))
}

/// Whether a day field counts as unrestricted in robfig/cron: an item whose
/// range is `*` or `?` without a step above 1.
fn is_star(field: &str) -> bool {
    field.split(',').any(|item| {
        let (range, step) = item.split_once('/').unwrap_or((item, "1"));
        (range == "*" || range == "?") && step.parse::<u32>().is_ok_and(|s| s <= 1)
    })
}

/// Shifts numeric day-of-week values from robfig's 0–6 to the `cron` crate's 1–7.
fn shift_days_of_week(field: &str) -> Result<String, String> {
    let shift = |v: &str| -> Result<String, String> {
        match v.parse::<u32>() {
            Ok(n) if n <= 6 => Ok((n + 1).to_string()),
            Ok(n) => Err(format!("end of range ({n}) above maximum (6): {field}")),
            Err(_) => Ok(v.to_string()),
        }
    };
    let items: Result<Vec<String>, String> = field
        .split(',')
        .map(|item| {
            let (range, step) = match item.split_once('/') {
                Some((r, s)) => (r, Some(s)),
                None => (item, None),
            };
            let range = match range.split_once('-') {
                Some((a, b)) => format!("{}-{}", shift(a)?, shift(b)?),
                None => shift(range)?,
            };
            // A single start with a step (`1/2`) means start..max in robfig/cron.
            let range = if step.is_some() && !range.contains('-') && range != "*" && range != "?" {
                format!("{range}-7")
            } else {
                range
            };
            Ok(match step {
                Some(s) => format!("{range}/{s}"),
                None => range,
            })
        })
        .collect();
    Ok(items?.join(","))
}

/// Parses a Go duration (`1h30m`, `90s`, `1.5h`) to whole seconds.
fn parse_go_duration(s: &str) -> Option<u64> {
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * mult;
        rest = &rest[unit_end..];
    }
    Some(total as u64)
}

impl Strategy for CronJobStrategy {
    fn default(&self, obj: &mut Value) {
        with_typed::<CronJob>(obj, |cj| {
            let spec = cj.spec.get_or_insert_with(Default::default);
            default_str(&mut spec.concurrency_policy, "Allow");
            default_to(&mut spec.suspend, false);
            default_to(&mut spec.successful_jobs_history_limit, 3);
            default_to(&mut spec.failed_jobs_history_limit, 1);
            if let Some(js) = spec.job_template.spec.as_mut() {
                default_template(&mut js.template);
            }
        });
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        super::util::clear_status(obj);
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        validate(obj, false)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let old_tz = old["spec"]["schedule"].as_str().is_some_and(|s| s.contains("TZ"));
        validate(new, old_tz)
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn warnings_on_create(&self, obj: &Value) -> Vec<String> {
        let mut w: Vec<String> = super::warnings::name_warning(obj, "Pod names and hostnames")
            .into_iter()
            .collect();
        w.extend(super::warnings::job_spec_warnings(
            "spec.jobTemplate.spec",
            &obj["spec"]["jobTemplate"]["spec"],
        ));
        w
    }

    fn warnings_on_update(&self, new: &Value, old: &Value) -> Vec<String> {
        if super::warnings::generation(new) == super::warnings::generation(old) {
            return Vec::new();
        }
        super::warnings::job_spec_warnings("spec.jobTemplate.spec", &new["spec"]["jobTemplate"]["spec"])
    }
}

fn validate(obj: &Value, allow_tz_in_schedule: bool) -> Vec<FieldError> {
    let Some(cj) = typed::<CronJob>(obj) else {
        return Vec::new();
    };
    let mut errs = Vec::new();
    if let Some(name) = cj.metadata.name.as_deref() {
        if name.len() > 52 {
            errs.push(FieldError::invalid(
                "metadata.name",
                name,
                "must be no more than 52 characters",
            ));
        }
    }
    let spec = cj.spec.unwrap_or_default();
    if spec.schedule.is_empty() {
        errs.push(FieldError::required("spec.schedule", ""));
    } else {
        if let Err(e) = parse_schedule(&spec.schedule) {
            errs.push(FieldError::invalid("spec.schedule", spec.schedule.as_str(), e));
        }
        let has_tz = spec.schedule.contains("TZ");
        if !allow_tz_in_schedule && has_tz {
            errs.push(FieldError::invalid(
                "spec.schedule",
                spec.schedule.as_str(),
                "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
            ));
        } else if allow_tz_in_schedule && has_tz && spec.time_zone.is_some() {
            errs.push(FieldError::invalid(
                "spec.schedule",
                spec.schedule.as_str(),
                "cannot use both timeZone field and TZ or CRON_TZ in schedule",
            ));
        }
    }
    if let Some(tz) = spec.time_zone.as_deref() {
        if tz.is_empty() {
            errs.push(FieldError::invalid(
                "spec.timeZone",
                tz,
                "timeZone must be nil or non-empty string",
            ));
        } else if tz == "Local" {
            errs.push(FieldError::invalid(
                "spec.timeZone",
                tz,
                "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
            ));
        } else if jiff::tz::TimeZone::get(tz).is_err() {
            errs.push(FieldError::invalid(
                "spec.timeZone",
                tz,
                format!("unknown time zone {tz}"),
            ));
        }
    }
    errs.extend(one_of(
        spec.concurrency_policy.as_deref(),
        "spec.concurrencyPolicy",
        &["Allow", "Forbid", "Replace"],
    ));
    if spec.concurrency_policy.as_deref() == Some("") {
        errs.push(FieldError::required("spec.concurrencyPolicy", ""));
    }
    errs.extend(non_negative(
        spec.starting_deadline_seconds,
        "spec.startingDeadlineSeconds",
    ));
    errs.extend(non_negative(
        spec.successful_jobs_history_limit.map(i64::from),
        "spec.successfulJobsHistoryLimit",
    ));
    errs.extend(non_negative(
        spec.failed_jobs_history_limit.map(i64::from),
        "spec.failedJobsHistoryLimit",
    ));
    let js = spec.job_template.spec.unwrap_or_default();
    if js.manual_selector != Some(true) {
        if let Some(sel) = &js.selector {
            errs.push(FieldError::invalid_shown(
                "spec.jobTemplate.spec.selector",
                go_selector(Some(sel)),
                "`selector` will be auto-generated",
            ));
        }
    }
    errs.extend(validate_job_spec(&js, "spec.jobTemplate.spec"));
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cronjob(schedule: &str) -> Value {
        let mut cj = json!({"metadata": {"name": "tick"}, "spec": {"schedule": schedule, "jobTemplate": {"spec": {"template": {
            "spec": {"restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox:1.36"}]}}}}}});
        CronJobStrategy.default(&mut cj);
        cj
    }

    #[test]
    fn defaults() {
        let cj = cronjob("*/5 * * * *");
        for (f, v) in [
            ("concurrencyPolicy", json!("Allow")),
            ("suspend", json!(false)),
            ("successfulJobsHistoryLimit", json!(3)),
            ("failedJobsHistoryLimit", json!(1)),
        ] {
            assert_eq!(cj["spec"][f], v, "{f}");
        }
        assert!(cj["spec"]["jobTemplate"]["spec"].get("backoffLimit").is_none());
        assert_eq!(
            cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["dnsPolicy"],
            "ClusterFirst"
        );
        assert!(
            CronJobStrategy.validate_create(&cj).is_empty(),
            "{:?}",
            CronJobStrategy.validate_create(&cj)
        );
    }

    #[test]
    fn schedules() {
        for ok in [
            "*/5 * * * *",
            "0 0 * * 0",
            "0 9 * * 1-5",
            "@hourly",
            "@midnight",
            "@every 1h30m",
            "0 0 1 jan *",
            "15 2 * * sun",
        ] {
            assert!(parse_schedule(ok).is_ok(), "{ok}: {:?}", parse_schedule(ok).err());
        }
        for bad in ["* * *", "61 * * * *", "@sometimes", "* * * * 7"] {
            assert!(parse_schedule(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_schedule("* * *").unwrap_err(),
            "expected exactly 5 fields, found 3: [* * *]"
        );
        let (s, tz) = parse_schedule("CRON_TZ=Europe/Paris 0 6 * * *").unwrap();
        assert_eq!(tz.as_deref(), Some("Europe/Paris"));
        assert!(matches!(s, Schedule::Cron(_)));
        // Monday in robfig/cron (1) is Monday in the cron crate (2).
        let Schedule::Cron(c) = parse_schedule("0 0 * * 1").unwrap().0 else {
            panic!()
        };
        let start: chrono::DateTime<chrono::Utc> = "2024-01-01T00:00:01Z".parse().unwrap(); // a Monday
        let next = c[0].after(&start).next().unwrap();
        assert_eq!(next.to_rfc3339(), "2024-01-08T00:00:00+00:00");
    }

    #[test]
    fn both_day_fields_restricted_match_either() {
        // The 15th, or any Friday: after Monday 2024-01-01 come Friday the 5th, Friday the 12th, Monday the 15th.
        let Schedule::Cron(c) = parse_schedule("0 0 15 * 5").unwrap().0 else {
            panic!()
        };
        assert_eq!(c.len(), 2);
        let start: chrono::DateTime<chrono::Utc> = "2024-01-01T00:00:00Z".parse().unwrap();
        let mut times: Vec<_> = c.iter().flat_map(|s| s.after(&start).take(3)).collect();
        times.sort();
        let days: Vec<u32> = times.iter().take(3).map(chrono::Datelike::day).collect();
        assert_eq!(days, vec![5, 12, 15]);
        // A star (even with a step of 1) in either field keeps the two ANDed.
        for one in ["0 0 15 * *", "0 0 * * 5", "0 0 15 * */1", "0 0 ? * 5"] {
            let Schedule::Cron(c) = parse_schedule(one).unwrap().0 else {
                panic!()
            };
            assert_eq!(c.len(), 1, "{one}");
        }
        // A stepped star is a restriction (robfig/cron clears the star bit).
        let Schedule::Cron(c) = parse_schedule("0 0 */2 * 1").unwrap().0 else {
            panic!()
        };
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn validation_messages() {
        let cj = cronjob("bogus");
        let errs: Vec<String> = CronJobStrategy
            .validate_create(&cj)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec!["spec.schedule: Invalid value: \"bogus\": expected exactly 5 fields, found 1: [bogus]".to_string()]
        );
        let mut tz = cronjob("TZ=UTC 0 * * * *");
        tz["spec"]["concurrencyPolicy"] = json!("Sometimes");
        let errs: Vec<String> = CronJobStrategy
            .validate_create(&tz)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec![
                "spec.schedule: Invalid value: \"TZ=UTC 0 * * * *\": cannot use TZ or CRON_TZ in schedule, use timeZone field instead".to_string(),
                "spec.concurrencyPolicy: Unsupported value: \"Sometimes\": supported values: \"Allow\", \"Forbid\", \"Replace\"".to_string(),
            ]
        );
        let mut zone = cronjob("0 * * * *");
        zone["spec"]["timeZone"] = json!("Mars/Olympus");
        let errs: Vec<String> = CronJobStrategy
            .validate_create(&zone)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec!["spec.timeZone: Invalid value: \"Mars/Olympus\": unknown time zone Mars/Olympus".to_string()]
        );
    }
}
