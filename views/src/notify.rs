//! Sending the digests that are due (`lap digest`): for each teacher whose
//! period has come and who has not had this period's digest, the open
//! flags of their classes are compared with what their previous digest
//! noted, and if anything is new or worse the digest goes out by e-mail
//! (to the teacher's roster address) and to the webhook. Each period is
//! recorded once it went out, so running the command again sends nothing
//! twice; a period whose delivery failed is tried again by the next run.

use std::collections::BTreeMap;

use chrono::Weekday;
use chrono_tz::Tz;
use lap_schemas::WindowKind;
use lap_sink::select::{END_OF_TIME, Selection};
use lap_sink::store::StoreError;
use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tracing::{info, warn};

use crate::digest::{Digest, Frequency, Noted, period};
use crate::directory::{Role, Viewer};
use crate::present::{OpenFlag, open_flags};
use crate::server::Views;
use crate::store::DigestRecord;

/// How far back rows are read for open flags: a flag on an older row is
/// no longer on a learner's newest row.
const LOOKBACK_US: i64 = 35 * 86_400_000_000;

/// Why a digest could not go out.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The SMTP URL or an address is not usable.
    #[error("e-mail settings: {0}")]
    Settings(String),
    /// The SMTP server refused or could not be reached.
    #[error("sending e-mail: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
    /// The webhook refused or could not be reached.
    #[error("posting to the webhook: {0}")]
    Webhook(String),
}

/// When digests are due and where their links point.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The views' address as teachers reach it (no trailing slash).
    pub base_url: String,
    /// The frequency of teachers who have not chosen.
    pub default: Frequency,
    /// The day weekly digests go out.
    pub weekly_day: Weekday,
    /// The schools' time zone (days and weeks).
    pub time_zone: Tz,
}

/// E-mail over SMTP.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// A mailer for `url` (`smtp://[user@]host:port[?tls=required]` or
    /// `smtps://…`), with `password` for the URL's user, sending from
    /// `from`.
    pub fn new(url: &str, password: Option<&str>, from: &str) -> Result<Mailer, DeliveryError> {
        let bad = |e: &dyn std::fmt::Display| DeliveryError::Settings(e.to_string());
        let mut parsed = reqwest::Url::parse(url).map_err(|e| bad(&e))?;
        if let Some(p) = password {
            parsed
                .set_password(Some(p))
                .map_err(|_| bad(&"the SMTP URL has no host to authenticate to"))?;
        }
        Ok(Mailer {
            transport: AsyncSmtpTransport::<Tokio1Executor>::from_url(parsed.as_str())?.build(),
            from: from.parse().map_err(|e| bad(&e))?,
        })
    }

    async fn send(&self, to: &str, digest: &Digest) -> Result<(), DeliveryError> {
        let bad = |e: &dyn std::fmt::Display| DeliveryError::Settings(e.to_string());
        let message = Message::builder()
            .from(self.from.clone())
            .to(to.parse().map_err(|e| bad(&e))?)
            .subject(digest.subject())
            .header(ContentType::TEXT_PLAIN)
            .body(digest.text())
            .map_err(|e| bad(&e))?;
        self.transport.send(message).await?;
        Ok(())
    }
}

/// A receiver of digests as JSON (no names, no pseudonyms).
pub struct Webhook {
    client: reqwest::Client,
    url: String,
    token: Option<String>,
}

impl Webhook {
    /// POSTs to `url`, with `token` as a bearer token when given.
    pub fn new(url: &str, token: Option<String>) -> Webhook {
        Webhook {
            client: reqwest::Client::new(),
            url: url.into(),
            token,
        }
    }

    async fn send(&self, digest: &Digest) -> Result<(), DeliveryError> {
        let body = serde_json::to_vec(digest).map_err(|e| DeliveryError::Webhook(e.to_string()))?;
        let mut req = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let fail = |e: &dyn std::fmt::Display| DeliveryError::Webhook(e.to_string());
        let res = req.send().await.map_err(|e| fail(&e))?;
        if !res.status().is_success() {
            return Err(fail(&format!("{} answered {}", self.url, res.status())));
        }
        Ok(())
    }
}

/// What a run did, teacher by teacher (roster sourcedIds).
#[derive(Debug, Default, PartialEq)]
pub struct Report {
    /// Digests that went out.
    pub sent: Vec<String>,
    /// Periods with nothing new or worse: recorded, nothing sent.
    pub quiet: Vec<String>,
    /// Teachers whose digest had news but no channel to reach them (no
    /// e-mail address in the roster and no webhook).
    pub unreachable: Vec<String>,
    /// Teachers whose delivery failed, with why: tried again next run.
    pub failed: Vec<(String, String)>,
}

/// Where digests go: e-mail, the webhook, or both.
pub struct Channels {
    /// E-mail, when configured.
    pub mail: Option<Mailer>,
    /// The webhook, when configured.
    pub webhook: Option<Webhook>,
}

/// Sends the digests due at `now` (UTC µs).
pub async fn send_due(
    views: &Views,
    settings: &Settings,
    channels: &Channels,
    now: i64,
) -> Result<Report, StoreError> {
    let backend = views.backend();
    let prefs = backend.digest_prefs().await?;
    let records = backend.digests().await?;
    let mut report = Report::default();
    for person in views.directory().people() {
        let Some(viewer) = views
            .directory()
            .viewer(&person.id)
            .filter(|v| v.role == Role::Teacher)
        else {
            continue;
        };
        let frequency = prefs.get(&person.id).copied().unwrap_or(settings.default);
        let Some(period) = period(frequency, now, settings.time_zone, settings.weekly_day) else {
            continue;
        };
        let mine: Vec<&DigestRecord> = records.iter().filter(|r| r.person == person.id).collect();
        if mine.iter().any(|r| r.period == period) {
            continue;
        }
        let before = match mine.last() {
            Some(last) => backend.digest_flags(&person.id, &last.period).await?,
            None => Vec::new(),
        };
        let (digest, noted) =
            work_out(views, settings, &viewer, &period, frequency, &before, now).await?;
        let mut channels_used = Vec::new();
        if digest.has_news() {
            let mut failure = None;
            if let Some(mail) = &channels.mail
                && !person.email.is_empty()
            {
                match mail.send(&person.email, &digest).await {
                    Ok(()) => channels_used.push("email".to_string()),
                    Err(e) => failure = Some(e),
                }
            }
            if let Some(hook) = &channels.webhook {
                match hook.send(&digest).await {
                    Ok(()) => channels_used.push("webhook".to_string()),
                    Err(e) => failure = Some(e),
                }
            }
            if let Some(e) = failure {
                warn!(teacher = %person.id, error = %e, "digest not delivered; the next run tries again");
                report.failed.push((person.id.clone(), e.to_string()));
                continue;
            }
            if channels_used.is_empty() {
                report.unreachable.push(person.id.clone());
            } else {
                info!(teacher = %person.id, %period, channels = ?channels_used, "digest sent");
                report.sent.push(person.id.clone());
            }
        } else {
            report.quiet.push(person.id.clone());
        }
        let record = DigestRecord {
            person: person.id.clone(),
            period,
            sent_at: now,
            channels: channels_used,
        };
        backend.record_digest(&record, &noted).await?;
    }
    Ok(report)
}

/// `viewer`'s digest for `period`, and the open flags it noted.
async fn work_out(
    views: &Views,
    settings: &Settings,
    viewer: &Viewer,
    period: &str,
    frequency: Frequency,
    before: &[Noted],
    now: i64,
) -> Result<(Digest, Vec<Noted>), StoreError> {
    let backend = views.backend();
    let mut digest = Digest::new(&viewer.person, period, frequency, &settings.base_url);
    let keys: Vec<String> = viewer.learners.keys().cloned().collect();
    let actions = backend.flag_actions(&keys).await?;
    let mut all = Vec::new();
    for class_id in &viewer.classes {
        let Some(class) = views.directory().class(class_id) else {
            continue;
        };
        let members: Vec<String> = viewer
            .learners
            .values()
            .filter(|l| l.classes.contains(class_id))
            .map(|l| l.pseudonym.clone())
            .collect();
        if members.is_empty() {
            continue;
        }
        let sel = Selection::windows(now - LOOKBACK_US, END_OF_TIME)
            .of_class(class_id)
            .of_entities(members.clone());
        let mut rows = backend.rows("learner_daily", &sel).await?;
        rows.extend(backend.rows("learner_weekly", &sel).await?);
        let mut noted = Vec::new();
        for key in &members {
            let theirs: Vec<_> = rows
                .iter()
                .filter(|r| &r.entity_id == key)
                .cloned()
                .collect();
            // Per code, the flag of the newest window (a day, not its week).
            let mut newest: BTreeMap<String, OpenFlag> = BTreeMap::new();
            for flag in open_flags(&theirs, &actions) {
                let at = |f: &OpenFlag| (f.window_start, f.window_kind == WindowKind::Daily);
                if newest
                    .get(&flag.flag.code)
                    .is_none_or(|n| at(n) < at(&flag))
                {
                    newest.insert(flag.flag.code.clone(), flag);
                }
            }
            for flag in newest.values() {
                noted.push(Noted::of(&viewer.person, period, key, flag));
            }
        }
        let earlier: Vec<Noted> = before
            .iter()
            .filter(|n| n.class_id.as_deref() == Some(class_id))
            .cloned()
            .collect();
        digest.add_class(class_id, &class.title, &settings.base_url, &earlier, &noted);
        all.extend(noted);
    }
    Ok((digest, all))
}
