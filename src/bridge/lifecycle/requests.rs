//! The register of data subjects' requests (`gdpr requests`): each export or erasure request
//! with the day it came in and the day it is due (one month, Art. 12(3)), closed by the
//! export or erasure that answers it; admins are reminded in their management rooms a week
//! before one is due.

use std::{sync::Arc, time::Duration};

use time::{Date, OffsetDateTime};
use tokio_util::sync::CancellationToken;

use super::{LifecycleError, resolve};
use crate::{
    bridge::Notices,
    store::{GdprRequest, RequestKind, Store, StoreError},
    texts::Texts,
    tr,
};

/// Reminded this many days before a request is due.
pub const REMIND_DAYS: i64 = 7;
const EVERY: Duration = Duration::from_secs(3600);

pub fn today() -> Date {
    OffsetDateTime::now_utc().date()
}

/// One month after the request (Art. 12(3)); the last day of a shorter month if need be.
pub fn due_on(received: Date) -> Date {
    let month = received.month().next();
    let year = received.year() + i32::from(month == time::Month::January);
    let last = time::util::days_in_month(month, year);
    Date::from_calendar_date(year, month, received.day().min(last)).expect("a valid day")
}

fn parse_day(day: &str) -> Option<Date> {
    Date::parse(
        day,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()
}

/// Registers a request about the person `text` names; returns its id and due day.
pub async fn add(
    store: &Store,
    domain: &ruma::ServerName,
    kind: RequestKind,
    text: &str,
    received: Date,
    by: &str,
) -> Result<(i64, Date), LifecycleError> {
    let subject = resolve(store, domain, text).await?;
    let due = due_on(received);
    let id = store
        .request_add(
            kind,
            subject.hold_target().id(),
            &received.to_string(),
            &due.to_string(),
            by,
        )
        .await?;
    Ok((id, due))
}

/// When the open request of `kind` about `key` came in, if there is one.
pub async fn received_on(
    store: &Store,
    kind: RequestKind,
    key: &str,
) -> Result<Option<Date>, StoreError> {
    Ok(store
        .requests_open()
        .await?
        .iter()
        .find(|r| r.kind == kind && r.subject == key)
        .and_then(|r| parse_day(&r.received_on)))
}

/// Days from `today` until the request is due (negative: overdue).
pub fn days_left(request: &GdprRequest, today: Date) -> i64 {
    parse_day(&request.due_on).map_or(0, |due| (due - today).whole_days())
}

/// A line of the register.
pub fn describe(texts: &Texts, request: &GdprRequest, today: Date) -> String {
    let left = days_left(request, today);
    let when = match left {
        0 => tr!(texts, "request-due-today"),
        n if n < 0 => tr!(texts, "request-overdue", days = -n),
        n => tr!(texts, "request-days-left", days = n),
    };
    tr!(
        texts,
        "request-line",
        id = request.id,
        kind = request.kind.as_str(),
        subject = request.subject.as_str(),
        received = request.received_on.as_str(),
        due = request.due_on.as_str(),
        when = when,
        by = request.created_by.as_str()
    )
}

/// Reminds the admins of every open request due within a week, once each.
pub async fn remind(
    store: &Store,
    notices: &Notices,
    texts: &Texts,
    today: Date,
) -> Result<usize, LifecycleError> {
    let mut reminded = 0;
    for request in store.requests_open().await? {
        if request.reminded_at.is_some() || days_left(&request, today) > REMIND_DAYS {
            continue;
        }
        let verb = match request.kind {
            RequestKind::Export => "export",
            RequestKind::Erasure => "erase",
        };
        let text = tr!(
            texts,
            "request-reminder",
            request = describe(texts, &request, today),
            verb = verb,
            subject = request.subject.as_str(),
            id = request.id
        );
        notices
            .to_admins(&text, &format!("gdpr-request-{}", request.id))
            .await
            .map_err(LifecycleError::Homeserver)?;
        store.request_reminded(request.id).await?;
        reminded += 1;
    }
    Ok(reminded)
}

/// At start and hourly in the running bridge.
pub async fn watch(
    store: Store,
    notices: Arc<Notices>,
    texts: Arc<Texts>,
    shutdown: CancellationToken,
) {
    loop {
        if let Err(e) = remind(&store, &notices, &texts, today()).await {
            tracing::warn!(error = %e, "reminding admins of GDPR requests failed; tried again later");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(EVERY) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    #[test]
    fn the_answer_is_due_a_month_later() {
        assert_eq!(due_on(date!(2026 - 12 - 03)), date!(2027 - 01 - 03));
        assert_eq!(due_on(date!(2027 - 01 - 31)), date!(2027 - 02 - 28));
    }

    #[test]
    fn the_register_says_how_many_days_are_left() {
        let request = GdprRequest {
            id: 4,
            kind: RequestKind::Erasure,
            subject: "E-17".into(),
            received_on: "2026-11-08".into(),
            due_on: "2026-12-08".into(),
            created_by: "cli:dpo".into(),
            reminded_at: None,
        };
        let en = Texts::english();
        let line = describe(en, &request, date!(2026 - 12 - 03));
        assert!(
            line.contains("#4 erasure of E-17") && line.contains("5 day(s) left"),
            "{line}"
        );
        assert!(describe(en, &request, date!(2026 - 12 - 10)).contains("overdue by 2 day(s)"));
        assert!(describe(en, &request, date!(2026 - 12 - 08)).contains("due today"));
        let de = Texts::new(crate::texts::Language::De);
        let line = describe(&de, &request, date!(2026 - 12 - 03));
        assert!(
            line.contains("#4 Löschung für E-17") && line.contains("noch 5 Tage"),
            "{line}"
        );
    }
}
