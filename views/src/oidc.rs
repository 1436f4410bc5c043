//! Sign-in through OpenID Connect: the authorization-code flow with PKCE
//! (RFC 7636), against any certified provider the school uses. The
//! provider's ID token is checked here (signature against its published
//! keys, issuer, audience, expiry and the nonce of this sign-in), and one
//! of its claims (e-mail, username, …; from the UserInfo endpoint when the
//! token leaves it out) names the person in the roster.
//!
//! A sign-in in progress is kept server-side under its `state`, which the
//! browser also holds in a short-lived cookie: a callback whose state the
//! browser did not start is refused, so nobody can sign someone else in.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::RwLock;

/// How long a sign-in may take between leaving for the provider and
/// coming back.
const PENDING_TTL: Duration = Duration::from_secs(600);

/// What the service needs to know about the provider and itself (no
/// `Debug`: it holds the client secret).
#[derive(Clone)]
pub struct Settings {
    /// The provider's issuer URL; its metadata is read from
    /// `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    /// This service's client id at the provider.
    pub client_id: String,
    /// Its client secret (sent with HTTP Basic), if the provider gave one.
    pub client_secret: Option<String>,
    /// Where the provider sends the browser back: this service's
    /// `/signin/callback`, as registered at the provider.
    pub redirect_url: String,
    /// The ID token claim that names the person, e.g. `email`.
    pub claim: String,
    /// Scopes asked for besides `openid`.
    pub scopes: String,
}

/// Why a sign-in failed.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The provider's metadata or keys could not be read.
    #[error("the OpenID provider at {issuer} cannot be used: {reason}")]
    Provider {
        /// Issuer URL.
        issuer: String,
        /// What failed.
        reason: String,
    },
    /// The callback names no sign-in this browser started (or it expired).
    #[error("this sign-in was not started here or took longer than 10 minutes; start again")]
    UnknownState,
    /// The token endpoint refused the code.
    #[error("the OpenID provider refused the sign-in: {0}")]
    Token(String),
    /// The ID token failed a check.
    #[error("the OpenID provider's ID token is not valid: {0}")]
    IdToken(String),
    /// The ID token lacks the configured claim.
    #[error(
        "the ID token has no `{0}` claim; ask the provider's administrator to release it, or set views.oidc.claim"
    )]
    NoClaim(String),
}

/// The provider's endpoints, from its metadata.
#[derive(Clone, Debug, Deserialize)]
struct Metadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    #[serde(default)]
    userinfo_endpoint: Option<String>,
}

struct Pending {
    verifier: String,
    nonce: String,
    started: Instant,
}

/// An OpenID Connect client for one provider.
pub struct Oidc {
    settings: Settings,
    metadata: Metadata,
    keys: RwLock<JwkSet>,
    http: reqwest::Client,
    pending: Mutex<HashMap<String, Pending>>,
}

fn random() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `pairs` as `application/x-www-form-urlencoded` text: a query string
/// or a form body.
pub fn urlencoded(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

impl Oidc {
    /// Reads the provider's metadata and keys.
    pub async fn discover(settings: Settings) -> Result<Oidc, OidcError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("an HTTP client with the defaults");
        let failed = |reason: String| OidcError::Provider {
            issuer: settings.issuer.clone(),
            reason,
        };
        let url = format!(
            "{}/.well-known/openid-configuration",
            settings.issuer.trim_end_matches('/')
        );
        let metadata: Metadata = get_json(&http, &url).await.map_err(&failed)?;
        if metadata.issuer.trim_end_matches('/') != settings.issuer.trim_end_matches('/') {
            return Err(failed(format!(
                "its metadata names issuer {}, not {}",
                metadata.issuer, settings.issuer
            )));
        }
        let keys: JwkSet = get_json(&http, &metadata.jwks_uri).await.map_err(&failed)?;
        Ok(Oidc {
            settings,
            metadata,
            keys: RwLock::new(keys),
            http,
            pending: Mutex::new(HashMap::new()),
        })
    }

    /// Starts a sign-in: the provider URL to send the browser to, and the
    /// state the browser must bring back (kept in its cookie).
    pub fn start(&self) -> (String, String) {
        let (state, verifier, nonce) = (random(), random(), random());
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let scope = format!("openid {}", self.settings.scopes);
        let url = format!(
            "{}?{}",
            self.metadata.authorization_endpoint,
            urlencoded(&[
                ("response_type", "code"),
                ("client_id", &self.settings.client_id),
                ("redirect_uri", &self.settings.redirect_url),
                ("scope", scope.trim()),
                ("state", &state),
                ("nonce", &nonce),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ])
        );
        let mut pending = self.pending.lock().expect("no panics while held");
        pending.retain(|_, p| p.started.elapsed() < PENDING_TTL);
        pending.insert(
            state.clone(),
            Pending {
                verifier,
                nonce,
                started: Instant::now(),
            },
        );
        (url, state)
    }

    /// Finishes the sign-in `state` with the provider's `code`: the value
    /// of the configured claim of the verified ID token.
    pub async fn finish(&self, state: &str, code: &str) -> Result<String, OidcError> {
        let pending = self
            .pending
            .lock()
            .expect("no panics while held")
            .remove(state)
            .filter(|p| p.started.elapsed() < PENDING_TTL)
            .ok_or(OidcError::UnknownState)?;
        let mut req = self
            .http
            .post(&self.metadata.token_endpoint)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(urlencoded(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &self.settings.redirect_url),
                ("code_verifier", &pending.verifier),
                ("client_id", &self.settings.client_id),
            ]));
        if let Some(secret) = &self.settings.client_secret {
            req = req.basic_auth(&self.settings.client_id, Some(secret));
        }
        let res = req
            .send()
            .await
            .map_err(|e| OidcError::Token(e.to_string()))?;
        let status = res.status();
        let body = res
            .text()
            .await
            .map_err(|e| OidcError::Token(e.to_string()))?;
        if !status.is_success() {
            return Err(OidcError::Token(format!("{status}: {body}")));
        }
        let tokens: Value =
            serde_json::from_str(&body).map_err(|e| OidcError::Token(e.to_string()))?;
        let id_token = tokens["id_token"]
            .as_str()
            .ok_or_else(|| OidcError::Token("the answer has no id_token".into()))?;
        let claims = self.verify(id_token).await?;
        let text = |claims: &HashMap<String, Value>, name: &str| {
            claims.get(name).and_then(Value::as_str).map(String::from)
        };
        if text(&claims, "nonce").as_deref() != Some(pending.nonce.as_str()) {
            return Err(OidcError::IdToken("its nonce is not this sign-in's".into()));
        }
        if let Some(value) = text(&claims, &self.settings.claim) {
            return Ok(value);
        }
        // Providers may release scope claims at the UserInfo endpoint only
        // (OpenID Connect Core 5.4); its `sub` must be the ID token's.
        let (Some(endpoint), Some(access)) = (
            &self.metadata.userinfo_endpoint,
            tokens["access_token"].as_str(),
        ) else {
            return Err(OidcError::NoClaim(self.settings.claim.clone()));
        };
        let res = self
            .http
            .get(endpoint)
            .bearer_auth(access)
            .send()
            .await
            .map_err(|e| OidcError::Token(format!("UserInfo: {e}")))?;
        let info: HashMap<String, Value> = serde_json::from_str(
            &res.text()
                .await
                .map_err(|e| OidcError::Token(format!("UserInfo: {e}")))?,
        )
        .map_err(|e| OidcError::Token(format!("UserInfo: {e}")))?;
        if text(&info, "sub").is_none() || text(&info, "sub") != text(&claims, "sub") {
            return Err(OidcError::IdToken(
                "the UserInfo answer is about another subject".into(),
            ));
        }
        text(&info, &self.settings.claim)
            .ok_or_else(|| OidcError::NoClaim(self.settings.claim.clone()))
    }

    /// The claims of `token` once its signature, issuer, audience and
    /// expiry check out; the provider's keys are read again once when the
    /// token names a key not seen yet (key rotation).
    async fn verify(&self, token: &str) -> Result<HashMap<String, Value>, OidcError> {
        let bad = |e: jsonwebtoken::errors::Error| OidcError::IdToken(e.to_string());
        let header = decode_header(token).map_err(bad)?;
        if matches!(
            header.alg,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
        ) {
            // A shared-secret signature proves nothing the provider's
            // published keys can check.
            return Err(OidcError::IdToken(format!(
                "it is signed with {:?}, not a public-key algorithm",
                header.alg
            )));
        }
        let kid = header.kid.clone().unwrap_or_default();
        let known = self.keys.read().await.find(&kid).cloned();
        let jwk = match known {
            Some(k) => k,
            None => {
                let fresh: JwkSet = get_json(&self.http, &self.metadata.jwks_uri)
                    .await
                    .map_err(OidcError::IdToken)?;
                let found = fresh.find(&kid).cloned();
                *self.keys.write().await = fresh;
                found.ok_or_else(|| {
                    OidcError::IdToken(format!(
                        "it is signed with key `{kid}`, which the provider does not publish"
                    ))
                })?
            }
        };
        let key = DecodingKey::from_jwk(&jwk).map_err(bad)?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.metadata.issuer]);
        validation.set_audience(&[&self.settings.client_id]);
        Ok(decode::<HashMap<String, Value>>(token, &key, &validation)
            .map_err(bad)?
            .claims)
    }
}

async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, String> {
    let res = http
        .get(url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    if !res.status().is_success() {
        return Err(format!("GET {url}: {}", res.status()));
    }
    let text = res.text().await.map_err(|e| format!("GET {url}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("GET {url}: {e}"))
}
