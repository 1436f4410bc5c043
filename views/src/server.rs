//! The HTTP service: sign-in sessions, CSRF, the routes, and errors that
//! never hint at what a person may not see (anything outside their
//! entitlement is a plain 404, like something that does not exist).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use lap_sink::store::StoreError;
use tracing::warn;

use crate::digest::Frequency;
use crate::directory::{Claim, Directory, Viewer};
use crate::oidc::Oidc;
use crate::pages;
use crate::store::Backend;

/// Name of the session cookie.
pub const COOKIE: &str = "lap_views";
/// Name of the cookie holding the state of a sign-in in progress.
pub const SIGNIN_COOKIE: &str = "lap_views_signin";
/// How long a sign-in session lasts.
const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);

/// How people sign in.
#[derive(Clone)]
pub enum SignIn {
    /// Pick a person from the roster, with no password: only for a demo
    /// on a loopback address, which [`serve`] enforces.
    Demo,
    /// Through the school's OpenID provider; the ID token's claim is
    /// matched against the roster field `field`.
    Oidc {
        /// The provider client.
        client: Arc<Oidc>,
        /// Which roster field the claim's value is.
        field: Claim,
    },
}

/// What the service is set up with.
#[derive(Clone)]
pub struct Options {
    /// k: an aggregate over fewer learners shows no values, and
    /// well-being is never shown for fewer, whatever a row says.
    pub min_group_size: u32,
    /// How people sign in.
    pub sign_in: SignIn,
    /// How often a teacher who has not chosen gets a digest.
    pub digest_default: Frequency,
}

/// A signed-in browser.
struct Session {
    person: String,
    csrf: String,
    started: Instant,
}

/// The service's state: the roster's directory, the store, the sign-in sessions.
pub struct Views {
    pub(crate) directory: Directory,
    pub(crate) backend: Backend,
    pub(crate) options: Options,
    sessions: Mutex<HashMap<String, Session>>,
}

/// Why the service cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Demo sign-in on an address others can reach.
    #[error(
        "the demo sign-in lets anyone pick any person; it serves loopback addresses only (127.0.0.1 or ::1), not {0}"
    )]
    DemoNotLoopback(SocketAddr),
    /// The listener failed.
    #[error("serving the views: {0}")]
    Io(#[from] std::io::Error),
}

/// A random token (256 bits, hex) for sign-in sessions, CSRF and ids.
pub(crate) fn token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    hex::encode(bytes)
}

impl Views {
    /// The service over `directory` and `backend`.
    pub fn new(directory: Directory, backend: Backend, options: Options) -> Arc<Views> {
        Arc::new(Views {
            directory,
            backend,
            options,
            sessions: Mutex::new(HashMap::new()),
        })
    }

    /// Starts a sign-in session for `person`; returns its cookie value.
    pub(crate) fn start_session(&self, person: &str) -> String {
        let id = token();
        let mut sessions = self.sessions.lock().expect("no panics while held");
        sessions.retain(|_, s| s.started.elapsed() < SESSION_TTL);
        sessions.insert(
            id.clone(),
            Session {
                person: person.to_string(),
                csrf: token(),
                started: Instant::now(),
            },
        );
        id
    }

    pub(crate) fn end_session(&self, id: &str) {
        self.sessions
            .lock()
            .expect("no panics while held")
            .remove(id);
    }

    /// Where the service reads rows and keeps its records.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// The directory of the roster the service was started with.
    pub fn directory(&self) -> &Directory {
        &self.directory
    }
}

/// A signed-in person: who they are, what they may see, and the token
/// their forms must carry.
pub struct Signed {
    /// Their entitlement.
    pub viewer: Viewer,
    /// CSRF token of their sign-in session.
    pub csrf: String,
    /// Session id (for signing out).
    pub session: String,
}

/// The value of cookie `name` of a request.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_string())
}

impl FromRequestParts<Arc<Views>> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, views: &Arc<Views>) -> Result<Self, Response> {
        let to_sign_in = || Redirect::to("/signin").into_response();
        let id = cookie(&parts.headers, COOKIE).ok_or_else(to_sign_in)?;
        let (person, csrf) = {
            let sessions = views.sessions.lock().expect("no panics while held");
            let s = sessions
                .get(&id)
                .filter(|s| s.started.elapsed() < SESSION_TTL)
                .ok_or_else(to_sign_in)?;
            (s.person.clone(), s.csrf.clone())
        };
        let viewer = views.directory.viewer(&person).ok_or_else(to_sign_in)?;
        Ok(Signed {
            viewer,
            csrf,
            session: id,
        })
    }
}

impl Signed {
    /// Refuses a state-changing request whose form does not carry the
    /// sign-in session's CSRF token.
    pub fn check(&self, token: &str) -> Result<(), PageError> {
        if token.len() == self.csrf.len()
            && token
                .bytes()
                .zip(self.csrf.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
        {
            Ok(())
        } else {
            Err(PageError::Csrf)
        }
    }
}

/// Why a page is not shown.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// Does not exist, or is not the viewer's to see (never told apart).
    #[error("not found")]
    NotFound,
    /// A form without the sign-in session's token.
    #[error("the form is out of date or was not sent by this site")]
    Csrf,
    /// A form that does not make sense.
    #[error("{0}")]
    BadForm(String),
    /// The store could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, text) = match &self {
            PageError::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing here, or nothing you may see. Go back to your start page."
                    .to_string(),
            ),
            PageError::Csrf => (
                StatusCode::FORBIDDEN,
                "Please try again",
                "The form was out of date. Reload the page and send it again.".to_string(),
            ),
            PageError::BadForm(why) => (
                StatusCode::BAD_REQUEST,
                "Please check the form",
                why.clone(),
            ),
            PageError::Store(e) => {
                warn!(error = %e, "views: the store failed");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Temporarily unavailable",
                    "The analytics store cannot be read right now. Try again in a minute; if it persists, tell the service's operator.".to_string(),
                )
            }
        };
        (status, pages::message(title, &text)).into_response()
    }
}

/// Headers every response carries: no framing, no inline scripts or
/// styles, no referrer leaving the site, nothing personal cached.
async fn secure_headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("style.css"),
    )
}

async fn live_script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("live.js"),
    )
}

async fn not_found() -> PageError {
    PageError::NotFound
}

async fn health() -> Html<&'static str> {
    Html("ok")
}

/// The service's routes.
pub fn router(views: Arc<Views>) -> Router {
    Router::new()
        .route("/", get(pages::home::home))
        .route(
            "/signin",
            get(pages::home::sign_in_page).post(pages::home::sign_in),
        )
        .route("/signin/callback", get(pages::home::callback))
        .route("/signout", post(pages::home::sign_out))
        .route("/my-data", get(pages::home::my_data))
        .route(
            "/digest",
            get(pages::digest::page).post(pages::digest::save),
        )
        .route("/classes/{class}", get(pages::class::page))
        .route("/classes/{class}/live", get(pages::live::class))
        .route("/classes/{class}/group", get(pages::groups::picked))
        .route("/classes/{class}/groups", post(pages::groups::save))
        .route("/groups/{id}", get(pages::groups::page))
        .route("/groups/{id}/share", post(pages::groups::share))
        .route("/classes/{class}/{table}", get(pages::class::csv))
        .route("/schools/{school}", get(pages::school::page))
        .route("/schools/{school}/{table}", get(pages::school::csv))
        .route("/learners/{learner}", get(pages::learner::page))
        .route(
            "/learners/{learner}/flags",
            post(pages::learner::flag_action),
        )
        .route("/learners/{learner}/live", get(pages::live::learner))
        .route("/learners/{learner}/{table}", get(pages::learner::csv))
        .route("/style.css", get(stylesheet))
        .route("/live.js", get(live_script))
        .route("/healthz", get(health))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(secure_headers))
        .with_state(views)
}

/// Serves `views` on `listener` until `shutdown` completes. The demo
/// sign-in is refused on an address that is not loopback.
pub async fn serve(
    views: Arc<Views>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let addr = listener.local_addr()?;
    if matches!(views.options.sign_in, SignIn::Demo) && !addr.ip().is_loopback() {
        return Err(ServeError::DemoNotLoopback(addr));
    }
    axum::serve(listener, router(views))
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}
