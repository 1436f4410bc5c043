//! The `[views]` section: the pages for teachers, school leaders and
//! parents (`lap views`).

use serde::{Deserialize, Serialize};

/// The views service.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ViewsConfig {
    /// Address to listen on.
    pub listen: String,
    /// The OneRoster export (folder or zip) the people, classes and
    /// guardians come from: the one enrich loads. `lap views --roster`
    /// wins.
    pub roster: String,
    /// How people sign in: `demo` (pick anyone from the roster; loopback
    /// addresses only) or `oidc` (the school's OpenID provider).
    pub sign_in: String,
    /// The OpenID provider, for `sign_in = "oidc"`.
    pub oidc: OidcConfig,
    /// Digests of new and worsening flags sent to teachers (`lap digest`).
    pub digest: DigestConfig,
}

impl Default for ViewsConfig {
    fn default() -> Self {
        ViewsConfig {
            listen: "127.0.0.1:8090".into(),
            roster: String::new(),
            sign_in: "demo".into(),
            oidc: OidcConfig::default(),
            digest: DigestConfig::default(),
        }
    }
}

/// Sign-in through OpenID Connect (authorization code with PKCE).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OidcConfig {
    /// The provider's issuer URL (its metadata is read from
    /// `<issuer>/.well-known/openid-configuration`).
    pub issuer: String,
    /// The views' client id at the provider.
    pub client_id: String,
    /// File holding the client secret; `LAP_VIEWS_OIDC_SECRET` wins.
    /// Empty for a public client.
    pub client_secret_file: String,
    /// The views' callback URL as registered at the provider, ending in
    /// `/signin/callback`.
    pub redirect_url: String,
    /// The ID token claim naming the person.
    pub claim: String,
    /// The roster field the claim's value is: `email`, `username`,
    /// `identifier` or `sourcedId`.
    pub roster_field: String,
    /// Scopes asked for besides `openid`.
    pub scopes: String,
}

impl Default for OidcConfig {
    fn default() -> Self {
        OidcConfig {
            issuer: String::new(),
            client_id: String::new(),
            client_secret_file: String::new(),
            redirect_url: String::new(),
            claim: "email".into(),
            roster_field: "email".into(),
            scopes: "email".into(),
        }
    }
}

/// Digests: each teacher gets the new and worsening flags of their classes
/// by e-mail and through a webhook, daily or weekly as they choose on the
/// views' digest page. `lap digest` sends the ones that are due.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DigestConfig {
    /// How often a teacher who has not chosen gets a digest: `none`,
    /// `daily` or `weekly`.
    pub default_frequency: String,
    /// The day weekly digests go out (`monday` … `sunday`), in
    /// `aggregate.time_zone`; a run later in the week still sends the
    /// week's digest once.
    pub weekly_day: String,
    /// The views' address as teachers reach it, for the links in a digest
    /// (e.g. `https://views.school.example`); empty: `http://` and
    /// `views.listen`.
    pub base_url: String,
    /// SMTP server to send e-mail through: `smtp://host:port` (add
    /// `?tls=required` for STARTTLS) or `smtps://host:port`, with
    /// `user@` before the host for authentication. Empty: no e-mail.
    pub smtp_url: String,
    /// File holding the SMTP password; `LAP_VIEWS_SMTP_PASSWORD` wins.
    pub smtp_password_file: String,
    /// The digest's sender address.
    pub from: String,
    /// URL each digest is also POSTed to as JSON, without any name (e.g.
    /// a messaging integration). Empty: none.
    pub webhook_url: String,
    /// File holding a bearer token sent to the webhook;
    /// `LAP_VIEWS_WEBHOOK_TOKEN` wins. Empty: none.
    pub webhook_token_file: String,
}

impl Default for DigestConfig {
    fn default() -> Self {
        DigestConfig {
            default_frequency: "none".into(),
            weekly_day: "monday".into(),
            base_url: String::new(),
            smtp_url: String::new(),
            smtp_password_file: String::new(),
            from: String::new(),
            webhook_url: String::new(),
            webhook_token_file: String::new(),
        }
    }
}
