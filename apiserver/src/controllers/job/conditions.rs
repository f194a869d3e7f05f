//! Job conditions: `Complete`/`Failed` (terminal), the interim
//! `SuccessCriteriaMet`/`FailureTarget` that precede them while pods finish,
//! and `Suspended`; the reasons and messages Kubernetes writes.

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{Job, JobCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// The Job succeeded (terminal).
pub const COMPLETE: &str = "Complete";
/// The Job failed (terminal).
pub const FAILED: &str = "Failed";
/// The Job will succeed once its pods are gone.
pub const SUCCESS_CRITERIA_MET: &str = "SuccessCriteriaMet";
/// The Job will fail once its pods are gone.
pub const FAILURE_TARGET: &str = "FailureTarget";
/// The Job is suspended.
pub const SUSPENDED: &str = "Suspended";

/// `JobReasonBackoffLimitExceeded`.
pub const BACKOFF_LIMIT_EXCEEDED: &str = "BackoffLimitExceeded";
/// `JobReasonDeadlineExceeded`.
pub const DEADLINE_EXCEEDED: &str = "DeadlineExceeded";
/// `JobReasonPodFailurePolicy`.
pub const POD_FAILURE_POLICY: &str = "PodFailurePolicy";
/// `JobReasonMaxFailedIndexesExceeded`.
pub const MAX_FAILED_INDEXES_EXCEEDED: &str = "MaxFailedIndexesExceeded";
/// `JobReasonFailedIndexes`.
pub const FAILED_INDEXES: &str = "FailedIndexes";
/// `JobReasonSuccessPolicy`.
pub const SUCCESS_POLICY: &str = "SuccessPolicy";
/// `JobReasonCompletionsReached`.
pub const COMPLETIONS_REACHED: &str = "CompletionsReached";

/// The message of `BackoffLimitExceeded`.
pub const BACKOFF_LIMIT_MESSAGE: &str = "Job has reached the specified backoff limit";
/// The message of `DeadlineExceeded`.
pub const DEADLINE_MESSAGE: &str = "Job was active longer than specified deadline";
/// The message of `CompletionsReached`.
pub const COMPLETIONS_MESSAGE: &str = "Reached expected number of succeeded pods";

/// A condition with both times set to `now`.
pub fn new_condition(type_: &str, status: &str, reason: &str, message: &str, now: Timestamp) -> JobCondition {
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
    JobCondition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: opt(reason),
        message: opt(message),
        last_probe_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

/// The condition of `type_`, if the Job has one.
pub fn find<'a>(job: &'a Job, type_: &str) -> Option<&'a JobCondition> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// Whether the Job has condition `type_` with status True.
pub fn is_true(job: &Job, type_: &str) -> bool {
    find(job, type_).is_some_and(|c| c.status == "True")
}

/// The terminal condition (`Complete` or `Failed`) the Job has, if any (`IsJobFinished`).
pub fn finished(job: &Job) -> Option<&JobCondition> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| (c.type_ == COMPLETE || c.type_ == FAILED) && c.status == "True")
}

/// Sets condition `type_` to `status`/`reason`/`message`, appending it unless
/// it is new and False; returns whether anything changed (`ensureJobConditionStatus`).
pub fn ensure(
    list: &mut Vec<JobCondition>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> bool {
    if let Some(c) = list.iter_mut().find(|c| c.type_ == type_) {
        let same = c.status == status
            && c.reason.as_deref().unwrap_or("") == reason
            && c.message.as_deref().unwrap_or("") == message;
        if same {
            return false;
        }
        *c = new_condition(type_, status, reason, message, now);
        return true;
    }
    if status != "False" {
        list.push(new_condition(type_, status, reason, message, now));
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn ensure_appends_updates_and_skips_new_false() {
        let mut list = Vec::new();
        assert!(!ensure(
            &mut list,
            SUSPENDED,
            "False",
            "JobResumed",
            "Job resumed",
            now()
        ));
        assert!(list.is_empty());
        assert!(ensure(
            &mut list,
            SUSPENDED,
            "True",
            "JobSuspended",
            "Job suspended",
            now()
        ));
        assert!(!ensure(
            &mut list,
            SUSPENDED,
            "True",
            "JobSuspended",
            "Job suspended",
            now()
        ));
        assert!(ensure(
            &mut list,
            SUSPENDED,
            "False",
            "JobResumed",
            "Job resumed",
            now()
        ));
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].status, "False");
        assert_eq!(list[0].reason.as_deref(), Some("JobResumed"));
    }

    #[test]
    fn finished_means_complete_or_failed_true() {
        let mut job = Job::default();
        assert!(finished(&job).is_none());
        job.status = Some(Default::default());
        let conds = job.status.as_mut().unwrap().conditions.get_or_insert_with(Vec::new);
        conds.push(new_condition(
            SUCCESS_CRITERIA_MET,
            "True",
            COMPLETIONS_REACHED,
            COMPLETIONS_MESSAGE,
            now(),
        ));
        assert!(finished(&job).is_none());
        assert!(is_true(&job, SUCCESS_CRITERIA_MET));
        let conds = job.status.as_mut().unwrap().conditions.as_mut().unwrap();
        conds.push(new_condition(
            COMPLETE,
            "True",
            COMPLETIONS_REACHED,
            COMPLETIONS_MESSAGE,
            now(),
        ));
        assert_eq!(finished(&job).map(|c| c.type_.as_str()), Some(COMPLETE));
    }
}
