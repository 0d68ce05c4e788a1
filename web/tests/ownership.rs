//! The cross-user ownership harness: for every route that takes the id of
//! something a user owns, user B touching user A's object gets 404 — the
//! same answer as an id that does not exist — and A's object is intact and
//! still A's to use. Each later area adds its objects and routes here.

mod common;

use common::api::{Api, Session};
use common::*;
use reqwest::Method;
use serde_json::{Value, json};

const ROOMY: &[(&str, &str)] = &[
    ("TRADINGBOT_RATE_LIMIT_IP", "100000"),
    ("TRADINGBOT_RATE_LIMIT_USER", "100000"),
];

/// A route taking an owned object's id.
struct OwnedRoute {
    method: Method,
    /// `{id}` stands for the object's id.
    path: &'static str,
    body: Option<Value>,
    /// A "missing" id of the same shape.
    missing: &'static str,
}

fn route(
    method: Method,
    path: &'static str,
    body: Option<Value>,
    missing: &'static str,
) -> OwnedRoute {
    OwnedRoute {
        method,
        path,
        body,
        missing,
    }
}

/// A's objects and the routes that reach each.
async fn objects_of(api: &Api<'_>, a: &Session) -> Vec<(String, Vec<OwnedRoute>)> {
    let sessions: Value = api
        .get("/auth/sessions", &a.access)
        .await
        .json()
        .await
        .unwrap();
    let session = sessions[0]["id"].as_str().unwrap().to_owned();
    let account: Value = api
        .post(
            "/accounts/register",
            Some(&a.access),
            json!({ "exchange": "paper", "label": "A's paper" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let account = account["id"].as_i64().unwrap().to_string();
    vec![
        (
            session,
            vec![route(
                Method::DELETE,
                "/auth/sessions/{id}",
                None,
                "00000000-0000-0000-0000-000000000000",
            )],
        ),
        (
            account,
            vec![
                route(Method::GET, "/accounts/{id}", None, "999999"),
                route(
                    Method::PUT,
                    "/accounts/{id}",
                    Some(json!({ "label": "stolen" })),
                    "999999",
                ),
                route(Method::POST, "/accounts/{id}/test", None, "999999"),
                route(Method::DELETE, "/accounts/{id}", None, "999999"),
            ],
        ),
    ]
}

#[tokio::test]
async fn another_users_objects_answer_404() {
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(&dir, ROOMY);
    let api = Api::new(&bot);
    let a = api.user("alice@example.com").await;
    let b = api.user("bob@example.com").await;
    let objects = objects_of(&api, &a).await;
    for (id, routes) in &objects {
        for r in routes {
            let path = r.path.replace("{id}", id);
            let res = api
                .call(r.method.clone(), &path, Some(&b.access), r.body.clone())
                .await;
            assert_eq!(
                res.status(),
                404,
                "B reached A's object: {} {path}",
                r.method
            );
            let p: Value = res.json().await.unwrap();
            assert_eq!(p["code"], "not_found", "{} {path}", r.method);
            let missing = r.path.replace("{id}", r.missing);
            let res = api
                .call(r.method.clone(), &missing, Some(&b.access), r.body.clone())
                .await;
            assert_eq!(res.status(), 404, "{} {missing}", r.method);
        }
    }
    // A's objects are intact and A's to use.
    let (account, _) = &objects[1];
    let mine: Value = api
        .get(&format!("/accounts/{account}"), &a.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["label"], "A's paper");
    assert_eq!(api.get("/users/me", &a.access).await.status(), 200);
    assert_eq!(
        api.post("/auth/refresh", None, json!({ "refresh_token": a.refresh }))
            .await
            .status(),
        200
    );
    let (session, _) = &objects[0];
    let res = api
        .call(
            Method::DELETE,
            &format!("/auth/sessions/{session}"),
            Some(&a.access),
            None,
        )
        .await;
    assert_eq!(res.status(), 204);
}
