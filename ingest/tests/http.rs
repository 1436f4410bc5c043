//! The HTTP front door with a real HTTP client, the real server and the real
//! broker: authentication, status codes of each spec, all-or-nothing
//! batches, idempotent re-sends, and success only once the record is durable
//! in the raw topic.

mod common;

use common::front_door::{CALIPER_SECRET, server};
use lap_schemas::OriginKind;
use serde_json::{Value, json};

fn statement(id: Option<&str>, scaled: f64) -> Value {
    let mut s = json!({"actor": {"account": {"homePage": "https://lms.example.org", "name": "s-1"}},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/scored"}, "object": {"id": "https://lms.example.org/quiz/1"},
        "result": {"score": {"scaled": scaled}}});
    if let Some(id) = id {
        s["id"] = json!(id);
    }
    s
}

#[tokio::test]
async fn statements_are_durable_before_success_and_ids_are_returned() {
    let Some(s) = server().await else { return };
    let r = s
        .call(
            reqwest::Method::POST,
            "/xapi/statements",
            &statement(None, 0.5),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["X-Experience-API-Version"], "1.0.3");
    let ids: Vec<String> = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(ids.len(), 1);
    // Durable before the answer: the raw topic holds it now, with the assigned id.
    let raw = s.raw(&s.raw_xapi).await;
    assert_eq!(raw.len(), 1);
    assert_eq!(raw[0]["id"], ids[0].as_str());

    let batch = json!([
        statement(Some("0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d"), 0.1),
        statement(None, 0.2)
    ]);
    let r = s
        .call(reqwest::Method::POST, "/xapi/statements", &batch)
        .await;
    assert_eq!(r.status(), 200);
    let ids: Vec<String> = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(ids[0], "0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d");
    assert_eq!(
        s.raw(&s.raw_xapi).await.len(),
        2,
        "one raw record per request"
    );
}

#[tokio::test]
async fn a_batch_is_all_or_nothing_and_the_rejection_is_dead_lettered() {
    let Some(s) = server().await else { return };
    let batch = json!([statement(None, 0.5), statement(None, 7.0)]);
    let r = s
        .call(reqwest::Method::POST, "/xapi/statements", &batch)
        .await;
    assert_eq!(r.status(), 400);
    let body: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(body["error"], "xapi.score.scaled_range");
    assert_eq!(body["problems"][0]["path"], "$[1].result.score.scaled");
    assert!(
        s.raw(&s.raw_xapi).await.is_empty(),
        "nothing of the batch was written"
    );
    let dead = s.dead_letters().await;
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0].origin.kind, dead[0].origin.client_id.as_deref()),
        (OriginKind::Http, Some("lms-a"))
    );
}

#[tokio::test]
async fn same_id_same_content_is_idempotent_and_different_content_conflicts() {
    let Some(s) = server().await else { return };
    let id = "5c2d1e0f-9a8b-4c7d-8e6f-5a4b3c2d1e0f";
    let first = s
        .call(
            reqwest::Method::POST,
            "/xapi/statements",
            &statement(Some(id), 0.5),
        )
        .await;
    assert_eq!(first.status(), 200);
    let again = s
        .call(
            reqwest::Method::POST,
            "/xapi/statements",
            &statement(Some(id), 0.5),
        )
        .await;
    assert_eq!(again.status(), 200);
    assert_eq!(
        s.raw(&s.raw_xapi).await.len(),
        1,
        "an identical re-send is not stored twice"
    );
    let conflict = s
        .call(
            reqwest::Method::POST,
            "/xapi/statements",
            &statement(Some(id), 0.9),
        )
        .await;
    assert_eq!(conflict.status(), 409);
}

#[tokio::test]
async fn put_uses_the_statement_id_parameter() {
    let Some(s) = server().await else { return };
    let id = "7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2918";
    let r = s
        .call(
            reqwest::Method::PUT,
            &format!("/xapi/statements?statementId={id}"),
            &statement(None, 0.4),
        )
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(s.raw(&s.raw_xapi).await[0]["id"], id);
    let missing = s
        .call(
            reqwest::Method::PUT,
            "/xapi/statements",
            &statement(None, 0.4),
        )
        .await;
    assert_eq!(missing.status(), 400);
    let other = "1e6d5c4b-3a29-4180-9f7e-6d5c4b3a2918";
    let mismatch = s
        .call(
            reqwest::Method::PUT,
            &format!("/xapi/statements?statementId={other}"),
            &statement(Some(id), 0.4),
        )
        .await;
    assert_eq!(mismatch.status(), 400);
}

#[tokio::test]
async fn credentials_versions_sizes_and_content_types() {
    let Some(s) = server().await else { return };
    let body = statement(None, 0.5);
    let url = format!("{}/xapi/statements", s.base);
    let no_auth = s
        .http
        .post(&url)
        .header("X-Experience-API-Version", "1.0.3")
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(no_auth.status(), 401);
    assert!(
        no_auth.headers()["WWW-Authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    let wrong = s
        .http
        .post(&url)
        .basic_auth("lms-a", Some("guess"))
        .header("X-Experience-API-Version", "1.0.3")
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let caliper_client = s
        .http
        .post(&url)
        .basic_auth("lms-b", Some(CALIPER_SECRET))
        .header("X-Experience-API-Version", "1.0.3")
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(
        caliper_client.status(),
        401,
        "a Caliper-only client may not send xAPI"
    );

    let old = s
        .xapi_as(
            reqwest::Method::POST,
            "/xapi/statements",
            &body,
            "0.95",
            "application/json",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 400);
    assert!(
        old.text()
            .await
            .unwrap()
            .contains("1.0.0, 1.0.1, 1.0.2, 1.0.3, 2.0.0")
    );

    let huge = json!({"actor": {"mbox": "mailto:a@b.org"}, "verb": {"id": "http://v.org/x"}, "object": {"id": "http://o.org/1"},
        "result": {"response": "x".repeat(100_000)}});
    assert_eq!(
        s.call(reqwest::Method::POST, "/xapi/statements", &huge)
            .await
            .status(),
        413
    );
    let text = s
        .xapi_as(
            reqwest::Method::POST,
            "/xapi/statements",
            &body,
            "1.0.3",
            "text/plain",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), 415);
    assert!(
        s.raw(&s.raw_xapi).await.is_empty(),
        "none of these wrote anything"
    );

    let about = s
        .http
        .get(format!("{}/xapi/about", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(about.status(), 200);
    let about: Value = serde_json::from_str(&about.text().await.unwrap()).unwrap();
    assert!(
        about["version"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == "2.0.0")
    );
}

#[tokio::test]
async fn caliper_status_codes() {
    let Some(s) = server().await else { return };
    let event = json!({"@context": "http://purl.imsglobal.org/ctx/caliper/v1p2", "id": "urn:uuid:0b9c1a2e-3d4f-4a5b-8c6d-7e8f9a0b1c2d",
        "type": "ViewEvent", "actor": {"id": "https://example.edu/users/1", "type": "Person"}, "action": "Viewed",
        "object": {"id": "https://example.edu/docs/1", "type": "Document"}, "eventTime": "2024-03-01T08:00:00.000Z"});
    let env = json!({"sensor": "https://example.edu/sensor", "sendTime": "2024-03-01T08:00:01.000Z",
        "dataVersion": "http://purl.imsglobal.org/ctx/caliper/v1p2", "data": [event]});
    assert_eq!(s.caliper(&env).send().await.unwrap().status(), 200);
    assert_eq!(s.raw(&s.raw_caliper).await, vec![env.clone()]);

    let mut old = env.clone();
    old["dataVersion"] = json!("http://purl.imsglobal.org/ctx/caliper/v1p0");
    assert_eq!(s.caliper(&old).send().await.unwrap().status(), 422);
    let mut bad = env.clone();
    bad["data"][0]["action"] = json!("Graded");
    assert_eq!(s.caliper(&bad).send().await.unwrap().status(), 400);
    let no_token = s
        .http
        .post(format!("{}/caliper", s.base))
        .header("Content-Type", "application/json")
        .body(env.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 401);
    let wrong_type = s.caliper_as(&env, "application/xml").send().await.unwrap();
    assert_eq!(wrong_type.status(), 415);
    assert_eq!(s.raw(&s.raw_caliper).await.len(), 1);
    assert_eq!(
        s.dead_letters().await.len(),
        2,
        "422 and 400 inputs are dead-lettered"
    );
}
