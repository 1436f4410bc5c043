//! Per-client credentials: HTTP Basic for xAPI (the spec's usual scheme),
//! Bearer tokens for Caliper (the Caliper endpoint convention). Config holds
//! only SHA-256 hashes of the secrets; comparison is constant-time.

use std::collections::BTreeMap;

use axum::http::{HeaderMap, header};
use base64::Engine;
use lap_runtime::config::HttpClient;
use sha2::{Digest, Sha256};

/// What a request wants to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Send xAPI statements.
    Xapi,
    /// Send Caliper envelopes.
    Caliper,
}

impl Scope {
    fn name(self) -> &'static str {
        match self {
            Scope::Xapi => "xapi",
            Scope::Caliper => "caliper",
        }
    }
}

struct Client {
    hash: [u8; 32],
    scopes: Vec<String>,
}

/// The configured clients.
pub struct Clients {
    by_id: BTreeMap<String, Client>,
}

fn decode_hex(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return None;
    }
    for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
        out[i] = u8::from_str_radix(std::str::from_utf8(chunk).ok()?, 16).ok()?;
    }
    Some(out)
}

fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Clients {
    /// Builds the client table from config (hashes were validated at load).
    pub fn from_config(clients: &BTreeMap<String, HttpClient>) -> Self {
        let by_id = clients
            .iter()
            .filter_map(|(id, c)| {
                Some((
                    id.clone(),
                    Client {
                        hash: decode_hex(&c.secret_sha256)?,
                        scopes: c.scopes.clone(),
                    },
                ))
            })
            .collect();
        Clients { by_id }
    }

    /// The id of the client the request authenticates as, or why not.
    pub fn authenticate(&self, headers: &HeaderMap, scope: Scope) -> Result<String, String> {
        if self.by_id.is_empty() {
            return Err(
                "no HTTP clients are configured; add one under [ingest.http.clients.<id>]".into(),
            );
        }
        let value = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or("missing Authorization header")?;
        let (id, secret) = match scope {
            Scope::Xapi => {
                let encoded = value
                    .strip_prefix("Basic ")
                    .ok_or("xAPI requests use HTTP Basic authentication")?;
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(encoded.trim())
                    .map_err(|_| "malformed Basic credentials")?;
                let text = String::from_utf8(decoded).map_err(|_| "malformed Basic credentials")?;
                let (id, secret) = text.split_once(':').ok_or("malformed Basic credentials")?;
                (Some(id.to_string()), secret.to_string())
            }
            Scope::Caliper => {
                let token = value
                    .strip_prefix("Bearer ")
                    .ok_or("Caliper requests use a Bearer token")?;
                (None, token.trim().to_string())
            }
        };
        let hash: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let found = self
            .by_id
            .iter()
            .find(|(cid, c)| id.as_ref().is_none_or(|i| i == *cid) & same(&c.hash, &hash));
        let (cid, client) = found.ok_or("unknown client or wrong secret")?;
        if !client.scopes.iter().any(|s| s == scope.name()) {
            return Err(format!("client {cid} may not send {}", scope.name()));
        }
        Ok(cid.clone())
    }
}
