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
}

impl Default for ViewsConfig {
    fn default() -> Self {
        ViewsConfig {
            listen: "127.0.0.1:8090".into(),
            roster: String::new(),
            sign_in: "demo".into(),
            oidc: OidcConfig::default(),
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
