//! The cases through the HTTP front door on the real broker: the status
//! code each spec prescribes, the reason code, and the dead letter of each
//! rejected request (the request's bytes, the client it came from). Also
//! the order of the checks: credentials before anything else is read.

use lap_schemas::{DeadLetter, OriginKind};
use serde_json::{Value, json};

use crate::common::front_door::{CALIPER_SECRET, Server, XAPI_SECRET, server};
use crate::{Case, Expect, assert_all, caliper, verdict, xapi};

/// The (code, path) problems of an error response, with the xAPI batch
/// index (`$[0]`) taken off so they read like the validator's.
async fn problems(response: reqwest::Response) -> Vec<(String, String)> {
    let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    body["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let path = p["path"].as_str().unwrap_or_default();
            let path = path
                .strip_prefix("$[0]")
                .map_or(path.to_string(), |rest| format!("${rest}"));
            (p["code"].as_str().unwrap_or_default().to_string(), path)
        })
        .collect()
}

/// Sends each case; returns the mismatches and the bodies of the rejected
/// requests with their cases.
async fn send_all(
    cases: &[Case],
    request: impl Fn(&Case) -> (reqwest::RequestBuilder, Vec<u8>),
) -> (Vec<String>, Vec<(Case, Vec<u8>)>) {
    let mut mismatches = Vec::new();
    let mut rejected = Vec::new();
    for case in cases {
        let (builder, body) = request(case);
        let r = builder.send().await.unwrap();
        let status = r.status().as_u16();
        let found = match case.expect {
            Expect::Valid if status == 200 => None,
            Expect::Invalid { .. } if status == 400 => Some(problems(r).await),
            _ => {
                mismatches.push(format!("{}: status {status}", case.name));
                continue;
            }
        };
        mismatches.extend(verdict(case, found.as_deref()));
        if found.is_some() {
            rejected.push((case.clone(), body));
        }
    }
    (mismatches, rejected)
}

/// Each rejected request has its dead letter: its bytes, from its client.
fn dead_letter_mismatches(
    dead: &[DeadLetter],
    rejected: &[(Case, Vec<u8>)],
    format: &str,
    client: &str,
) -> Vec<String> {
    rejected
        .iter()
        .filter_map(|(case, body)| {
            let Expect::Invalid { code, .. } = case.expect else {
                return None;
            };
            let found = dead.iter().any(|d| {
                &d.payload == body
                    && d.format == format
                    && d.origin.kind == OriginKind::Http
                    && d.origin.client_id.as_deref() == Some(client)
                    && d.problems.iter().any(|p| p.code == code)
            });
            (!found).then(|| format!("{}: no dead letter with its bytes and {code}", case.name))
        })
        .collect()
}

/// Sends each case through the front door (`request` builds the request
/// and gives its body) and checks the answers and the dead letters.
async fn over_http(
    s: &Server,
    cases: &[Case],
    format: &str,
    client: &str,
    request: impl Fn(&Case) -> (reqwest::RequestBuilder, Vec<u8>),
) -> Vec<String> {
    let (mut mismatches, rejected) = send_all(cases, request).await;
    let dead = s.dead_letters().await;
    if dead.len() != rejected.len() {
        mismatches.push(format!(
            "{} dead letters for {} rejected requests",
            dead.len(),
            rejected.len()
        ));
    }
    mismatches.extend(dead_letter_mismatches(&dead, &rejected, format, client));
    mismatches
}

#[tokio::test]
async fn xapi_rules_over_http() {
    let Some(s) = server().await else { return };
    let mismatches = over_http(&s, &xapi::cases(), "xapi", "lms-a", |c| {
        let b = s.xapi_as(
            reqwest::Method::POST,
            "/xapi/statements",
            &c.doc,
            c.version,
            "application/json",
        );
        (b, c.doc.to_string().into_bytes())
    })
    .await;
    assert_all("xAPI over HTTP", mismatches);
}

#[tokio::test]
async fn caliper_rules_over_http() {
    let Some(s) = server().await else { return };
    let mismatches = over_http(&s, &caliper::cases(), "caliper", "lms-b", |c| {
        let env = caliper::envelope(c);
        (s.caliper(&env), env.to_string().into_bytes())
    })
    .await;
    assert_all("Caliper over HTTP", mismatches);
}

#[tokio::test]
async fn credentials_are_checked_before_anything_else() {
    let Some(s) = server().await else { return };
    let statement = json!({"actor": {"mbox": "mailto:ann@example.org"}, "verb": {"id": "http://adlnet.gov/expapi/verbs/attended"},
        "object": {"id": "https://lms.example.org/meetings/4"}});
    let url = format!("{}/xapi/statements", s.base);
    let status = |r: reqwest::Response| r.status().as_u16();
    // No credentials, and everything else wrong too: 401 all the same.
    let bare = s
        .http
        .post(&url)
        .body("not even JSON")
        .send()
        .await
        .unwrap();
    assert_eq!(status(bare), 401, "no version header, no content type");
    let put = s.http.put(&url).body("{}").send().await.unwrap();
    assert_eq!(status(put), 401, "a PUT without statementId");
    let wrong = s
        .http
        .post(&url)
        .basic_auth("lms-a", Some("guess"))
        .header("Content-Type", "text/plain")
        .send()
        .await
        .unwrap();
    assert_eq!(status(wrong), 401, "wrong secret, wrong content type");
    // Authenticated: then the version header, the statementId, the type.
    let authed = |m: reqwest::Method, version: Option<&str>, content_type: &str| {
        let b = s
            .http
            .request(m, &url)
            .basic_auth("lms-a", Some(XAPI_SECRET))
            .header("Content-Type", content_type)
            .body(statement.to_string());
        match version {
            Some(v) => b.header("X-Experience-API-Version", v),
            None => b,
        }
    };
    let json = "application/json";
    let r = authed(reqwest::Method::POST, None, json)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "xapi.version_header");
    let r = authed(reqwest::Method::PUT, Some("1.0.3"), json)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "xapi.statement_id");
    let r = authed(reqwest::Method::POST, Some("1.0.3"), "text/plain")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);

    let caliper_url = format!("{}/caliper", s.base);
    let no_token = s
        .http
        .post(&caliper_url)
        .header("Content-Type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(
        status(no_token),
        401,
        "Caliper: no token, wrong content type"
    );
    let typed = s
        .http
        .post(&caliper_url)
        .bearer_auth(CALIPER_SECRET)
        .header("Content-Type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(status(typed), 415);
    // Reading statements back is not lap's (docs/sending-data.md).
    let get = authed(reqwest::Method::GET, Some("1.0.3"), json)
        .send()
        .await
        .unwrap();
    assert_eq!(status(get), 405);
    assert!(s.raw(&s.raw_xapi).await.is_empty() && s.raw(&s.raw_caliper).await.is_empty());
}

/// The `error` code of an error response.
async fn error_code(r: reqwest::Response) -> String {
    let body: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    body["error"].as_str().unwrap_or_default().to_string()
}
