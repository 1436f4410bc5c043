//! Pages that update by themselves: an open class or learner page listens
//! to its `/live` stream of server-sent events, which says when a newer
//! row has landed; the page then fetches itself again and swaps its
//! content in (`live.js`). The stream carries no data, only the news, so
//! what the page shows is always what the page's own entitlement checks
//! allow.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use lap_sink::select::{END_OF_TIME, Selection};

use super::class::entitled_class;
use crate::server::{PageError, Signed, Views};

/// How often the store is asked whether newer rows have landed.
const POLL: Duration = Duration::from_secs(2);

/// What identifies the newest state of some rows: the newest window and
/// when its rows were last computed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Stamp {
    window_start: i64,
    emitted: i64,
}

/// What to watch: tables and a selection whose newest windows tell.
struct Watch {
    tables: &'static [&'static str],
    selection: Selection,
}

impl Watch {
    /// The stamp of the rows from `since` on (the newest known window:
    /// older windows are not read again).
    async fn stamp(&self, views: &Views, since: i64) -> Result<Stamp, PageError> {
        let mut stamp = Stamp::default();
        let selection = Selection {
            since,
            until: END_OF_TIME,
            ..self.selection.clone()
        };
        for table in self.tables {
            for r in views.backend.rows(table, &selection).await? {
                stamp.window_start = stamp.window_start.max(r.window_start);
                stamp.emitted = stamp.emitted.max(r.emitted_time);
            }
        }
        Ok(stamp)
    }
}

/// Server-sent events, one `rows` event each time `watch` has newer rows.
async fn stream(
    views: Arc<Views>,
    watch: Watch,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, PageError> {
    let first = watch.stamp(&views, 0).await?;
    let events =
        futures::stream::unfold((views, watch, first), |(views, watch, last)| async move {
            loop {
                tokio::time::sleep(POLL).await;
                // A failed read is tried again at the next poll.
                let Ok(now) = watch.stamp(&views, last.window_start).await else {
                    continue;
                };
                if now.window_start > last.window_start || now.emitted > last.emitted {
                    let event = Event::default().event("rows").data("newer rows");
                    return Some((Ok(event), (views, watch, now)));
                }
            }
        });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// `GET /classes/{class}/live`: news of the class's rows and (for its
/// teachers) its learners' rows.
pub async fn class(
    State(views): State<Arc<Views>>,
    signed: Signed,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, PageError> {
    let class = entitled_class(&views, &signed, &id)?;
    let watch = Watch {
        tables: &["class_weekly", "learner_weekly"],
        selection: Selection::ever().of_class(&class.id),
    };
    stream(views.clone(), watch).await
}

/// `GET /learners/{learner}/live`: news of one learner's rows.
pub async fn learner(
    State(views): State<Arc<Views>>,
    signed: Signed,
    Path(key): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, PageError> {
    let learner = signed.viewer.learner(&key).ok_or(PageError::NotFound)?;
    let watch = Watch {
        tables: &["learner_weekly", "learner_daily"],
        selection: Selection::ever().of_entities(vec![learner.pseudonym.clone()]),
    };
    stream(views.clone(), watch).await
}
