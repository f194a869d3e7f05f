//! Schedule arithmetic of the CronJob controller (`utils.go`): the next
//! activation after a time in the schedule's time zone, the most recent
//! activation that has not run yet, and how many were missed.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::registry::cronjob::{parse_schedule, Schedule};

/// Added to requeue delays so a sync lands just after the activation (`nextScheduleDelta`).
pub const NEXT_SCHEDULE_DELTA: SignedDuration = SignedDuration::from_millis(100);
/// More missed activations than this are "too many" (no catch-up, an event).
pub const MAX_MISSED: i64 = 100;

/// A parsed schedule in its time zone.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    schedule: Schedule,
    tz: TimeZone,
}

impl CronSchedule {
    /// Parses `schedule` (5 fields, `@hourly`-style macros, `@every`, an
    /// optional `TZ=`/`CRON_TZ=` prefix) in `time_zone` (IANA), or in the
    /// controller's local zone when neither names one (`formatSchedule` +
    /// `cron.ParseStandard`).
    pub fn parse(schedule: &str, time_zone: Option<&str>) -> Result<CronSchedule, String> {
        let (schedule, prefix_tz) = parse_schedule(schedule)?;
        let tz = match prefix_tz.as_deref().or(time_zone) {
            Some(name) => TimeZone::get(name).map_err(|e| format!("provided bad location {name}: {e}"))?,
            None => TimeZone::system(),
        };
        Ok(CronSchedule { schedule, tz })
    }

    /// A schedule in a given zone (tests).
    pub fn in_zone(schedule: &str, tz: TimeZone) -> Result<CronSchedule, String> {
        let (schedule, _) = parse_schedule(schedule)?;
        Ok(CronSchedule { schedule, tz })
    }

    /// The first activation after `t` (later than `t` by at least the rest of
    /// its second, as robfig/cron's `Next`); `None` if there is none.
    pub fn next(&self, t: Timestamp) -> Option<Timestamp> {
        let whole = Timestamp::from_second(t.as_second()).ok()?;
        match &self.schedule {
            Schedule::Every(secs) => whole.checked_add(SignedDuration::from_secs(*secs as i64)).ok(),
            Schedule::Cron(crons) => crons.iter().filter_map(|c| self.next_of(c, t, whole)).min(),
        }
    }

    /// The first activation of one `cron` crate schedule after `t`.
    fn next_of(&self, cron: &cron::Schedule, t: Timestamp, whole: Timestamp) -> Option<Timestamp> {
        // The cron crate walks wall-clock times; walk them in the zone's civil time.
        let civil = whole.to_zoned(self.tz.clone()).datetime();
        let mut wall = to_chrono(civil)?;
        for _ in 0..4 {
            let next = cron.after(&wall).next()?;
            let at = self.tz.to_ambiguous_zoned(from_chrono(&next)?).compatible().ok()?;
            if at.timestamp() > t {
                return Some(at.timestamp());
            }
            // A repeated wall-clock hour (DST ending): look further.
            wall = next;
        }
        None
    }
}

fn to_chrono(dt: jiff::civil::DateTime) -> Option<chrono::DateTime<chrono::Utc>> {
    let date = chrono::NaiveDate::from_ymd_opt(dt.year().into(), dt.month() as u32, dt.day() as u32)?;
    let naive = date.and_hms_opt(dt.hour() as u32, dt.minute() as u32, dt.second() as u32)?;
    Some(chrono::DateTime::from_naive_utc_and_offset(naive, chrono::Utc))
}

fn from_chrono(dt: &chrono::DateTime<chrono::Utc>) -> Option<jiff::civil::DateTime> {
    use chrono::{Datelike, Timelike};
    jiff::civil::DateTime::new(
        i16::try_from(dt.year()).ok()?,
        dt.month() as i8,
        dt.day() as i8,
        dt.hour() as i8,
        dt.minute() as i8,
        dt.second() as i8,
        0,
    )
    .ok()
}

/// How many activations were missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missed {
    /// None.
    None,
    /// Some, up to [`MAX_MISSED`].
    Few,
    /// More than [`MAX_MISSED`].
    Many,
}

/// What a CronJob's times say about its schedule.
#[derive(Debug, Clone)]
pub struct Times {
    /// `metadata.creationTimestamp`.
    pub created: Timestamp,
    /// `status.lastScheduleTime`.
    pub last_scheduled: Option<Timestamp>,
    /// `spec.startingDeadlineSeconds`.
    pub starting_deadline: Option<i64>,
}

/// The most recent activation due (`mostRecentScheduleTime`): the base time
/// (last schedule, or creation), the latest activation at or before `now`
/// after it, and how many were missed. Errors for a schedule that never
/// fires twice (`59 23 31 2 *`).
pub fn most_recent(
    times: &Times,
    now: Timestamp,
    schedule: &CronSchedule,
    with_deadline: bool,
) -> Result<(Timestamp, Option<Timestamp>, Missed), String> {
    let mut earliest = times.last_scheduled.unwrap_or(times.created);
    if with_deadline {
        if let Some(deadline) = times.starting_deadline {
            // Nothing older than the deadline will be started.
            let limit = now - SignedDuration::from_secs(deadline);
            if limit > earliest {
                earliest = limit;
            }
        }
    }
    let Some(t1) = schedule.next(earliest) else {
        return Ok((earliest, None, Missed::None));
    };
    if now < t1 {
        return Ok((earliest, None, Missed::None));
    }
    let Some(t2) = schedule.next(t1) else {
        return Ok((earliest, Some(t1), Missed::None));
    };
    if now < t2 {
        return Ok((earliest, Some(t1), Missed::None));
    }
    let between = t2.duration_since(t1).as_secs_f64().round() as i64;
    if between < 1 {
        return Err("time difference between two schedules is less than 1 second".into());
    }
    let elapsed = now.duration_since(t1).as_secs();
    let missed = elapsed / between + 1;
    // Start near the end, one interval early, and let the schedule find the exact times.
    let start = t1 + SignedDuration::from_secs((missed - 2) * between);
    let mut most_recent = None;
    let mut t = schedule.next(start);
    while let Some(at) = t.filter(|at| *at <= now) {
        most_recent = Some(at);
        t = schedule.next(at);
    }
    let kind = if missed > MAX_MISSED {
        Missed::Many
    } else if missed > 0 {
        Missed::Few
    } else {
        Missed::None
    };
    Ok((earliest, most_recent, kind))
}

/// The activation to start now, if one is due (`nextScheduleTime`); the
/// second value says there were too many missed ones.
pub fn next_due(times: &Times, now: Timestamp, schedule: &CronSchedule) -> Result<(Option<Timestamp>, bool), String> {
    let (_, recent, missed) = most_recent(times, now, schedule, true)?;
    match recent {
        Some(t) if t <= now => Ok((Some(t), missed == Missed::Many)),
        _ => Ok((None, false)),
    }
}

/// How long until the sync after the next activation (`nextScheduleTimeDuration`).
pub fn requeue_after(times: &Times, now: Timestamp, schedule: &CronSchedule) -> std::time::Duration {
    let from = match most_recent(times, now, schedule, false) {
        Err(_) => now,
        Ok((_, Some(recent), _)) => recent,
        Ok((earliest, None, Missed::None)) => earliest,
        Ok((_, None, _)) => now,
    };
    match schedule.next(from) {
        Some(next) => (next + NEXT_SCHEDULE_DELTA).duration_since(now).unsigned_abs(),
        // Never fires again: look again in a while anyway.
        None => std::time::Duration::from_secs(3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn utc(s: &str) -> CronSchedule {
        CronSchedule::in_zone(s, TimeZone::UTC).unwrap()
    }

    fn times(created: &str, last: Option<&str>, deadline: Option<i64>) -> Times {
        Times {
            created: t(created),
            last_scheduled: last.map(t),
            starting_deadline: deadline,
        }
    }

    #[test]
    fn next_activations() {
        for (schedule, after, want) in [
            ("*/1 * * * *", "2026-03-01T10:00:00Z", "2026-03-01T10:01:00Z"),
            ("*/1 * * * *", "2026-03-01T10:00:59.9Z", "2026-03-01T10:01:00Z"),
            ("*/5 * * * *", "2026-03-01T10:02:00Z", "2026-03-01T10:05:00Z"),
            ("0 9 * * 1-5", "2026-03-06T10:00:00Z", "2026-03-09T09:00:00Z"),
            ("@hourly", "2026-03-01T10:30:00Z", "2026-03-01T11:00:00Z"),
            ("@daily", "2026-03-01T10:30:00Z", "2026-03-02T00:00:00Z"),
            ("@every 90s", "2026-03-01T10:00:00.5Z", "2026-03-01T10:01:30Z"),
        ] {
            assert_eq!(utc(schedule).next(t(after)), Some(t(want)), "{schedule} after {after}");
        }
    }

    #[test]
    fn time_zones_shift_wall_clock_schedules() {
        let paris = CronSchedule::parse("0 6 * * *", Some("Europe/Paris")).unwrap();
        // 06:00 in Paris is 05:00 UTC in winter, 04:00 UTC in summer.
        assert_eq!(paris.next(t("2026-01-10T12:00:00Z")), Some(t("2026-01-11T05:00:00Z")));
        assert_eq!(paris.next(t("2026-07-10T12:00:00Z")), Some(t("2026-07-11T04:00:00Z")));
        let prefixed = CronSchedule::parse("CRON_TZ=America/New_York 30 8 * * *", None).unwrap();
        assert_eq!(
            prefixed.next(t("2026-01-10T00:00:00Z")),
            Some(t("2026-01-10T13:30:00Z"))
        );
        // Across the spring-forward gap the daily run still happens once a day.
        let ny = CronSchedule::parse("30 2 * * *", Some("America/New_York")).unwrap();
        let first = ny.next(t("2026-03-07T12:00:00Z")).unwrap();
        let second = ny.next(first).unwrap();
        assert_eq!(
            first,
            t("2026-03-08T07:30:00Z"),
            "02:30 does not exist: moved past the gap"
        );
        assert_eq!(second, t("2026-03-09T06:30:00Z"));
        assert!(CronSchedule::parse("* * * * *", Some("Mars/Olympus")).is_err());
    }

    #[test]
    fn the_most_recent_missed_activation_is_started() {
        let s = utc("*/1 * * * *");
        // Created at 10:00:30; at 10:00:45 nothing is due.
        let fresh = times("2026-03-01T10:00:30Z", None, None);
        assert_eq!(next_due(&fresh, t("2026-03-01T10:00:45Z"), &s).unwrap(), (None, false));
        // At 10:01:10 the 10:01 run is due.
        assert_eq!(
            next_due(&fresh, t("2026-03-01T10:01:10Z"), &s).unwrap(),
            (Some(t("2026-03-01T10:01:00Z")), false)
        );
        // Already started at 10:01: nothing until 10:02.
        let ran = times("2026-03-01T10:00:30Z", Some("2026-03-01T10:01:00Z"), None);
        assert_eq!(next_due(&ran, t("2026-03-01T10:01:30Z"), &s).unwrap(), (None, false));
        // Down from 10:01 to 10:07:20: six missed, only the latest (10:07) starts.
        let (base, recent, missed) = most_recent(&ran, t("2026-03-01T10:07:20Z"), &s, true).unwrap();
        assert_eq!(base, t("2026-03-01T10:01:00Z"));
        assert_eq!(recent, Some(t("2026-03-01T10:07:00Z")));
        assert_eq!(missed, Missed::Few);
    }

    #[test]
    fn more_than_a_hundred_missed_is_too_many_unless_the_deadline_bounds_them() {
        let s = utc("*/1 * * * *");
        let old = times("2026-03-01T00:00:00Z", Some("2026-03-01T00:00:00Z"), None);
        let now = t("2026-03-01T03:00:30Z");
        let (due, too_many) = next_due(&old, now, &s).unwrap();
        assert_eq!(due, Some(t("2026-03-01T03:00:00Z")), "skips to the latest");
        assert!(too_many);
        // 101 missed exactly is too many, 100 is not.
        let at_100 = t("2026-03-01T01:40:30Z");
        assert_eq!(most_recent(&old, at_100, &s, true).unwrap().2, Missed::Few);
        let at_101 = t("2026-03-01T01:41:30Z");
        assert_eq!(most_recent(&old, at_101, &s, true).unwrap().2, Missed::Many);
        // startingDeadlineSeconds: only the last 200 s count.
        let bounded = times("2026-03-01T00:00:00Z", Some("2026-03-01T00:00:00Z"), Some(200));
        assert_eq!(
            next_due(&bounded, now, &s).unwrap(),
            (Some(t("2026-03-01T03:00:00Z")), false)
        );
        // A deadline shorter than the time since the activation: nothing is due.
        let tight = times("2026-03-01T00:00:00Z", Some("2026-03-01T00:00:00Z"), Some(10));
        assert_eq!(next_due(&tight, now, &s).unwrap(), (None, false));
    }

    #[test]
    fn requeue_lands_just_after_the_next_activation() {
        let s = utc("*/1 * * * *");
        let ran = times("2026-03-01T10:00:30Z", Some("2026-03-01T10:01:00Z"), None);
        let wait = requeue_after(&ran, t("2026-03-01T10:01:20Z"), &s);
        assert_eq!(wait, std::time::Duration::from_millis(40_100));
        let never = CronSchedule::in_zone("59 23 31 2 *", TimeZone::UTC).unwrap();
        let fresh = times("2026-03-01T10:00:30Z", None, None);
        assert_eq!(
            next_due(&fresh, t("2026-03-01T10:01:20Z"), &never).unwrap(),
            (None, false)
        );
    }
}
