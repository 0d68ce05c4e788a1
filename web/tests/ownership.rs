//! The cross-user ownership harness: for every route that takes the id of
//! something a user owns, user B touching user A's object gets 404 — the
//! same answer as an id that does not exist — and A's object is intact and
//! still A's to use. Each later area adds its objects and routes here.

mod common;

use common::api::{Api, Session, notified};
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
    let strategy: Value = api
        .post(
            "/strategies",
            Some(&a.access),
            json!({ "name": "A's strategy", "symbol": "BTCUSDT", "account_id": account.parse::<i64>().unwrap() }),
        )
        .await
        .json()
        .await
        .unwrap();
    // A trades once, so A has a position.
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let alert = json!({ "secret": strategy["webhook_secret"], "action": "long", "symbol": "BTCUSDT",
                        "timestamp": now, "id": "a-1" });
    let res = api
        .http
        .post(strategy["webhook_url"].as_str().unwrap())
        .body(alert.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let position = loop {
        let p: Value = api.get("/positions", &a.access).await.json().await.unwrap();
        if let Some(id) = p[0]["id"].as_i64() {
            break id.to_string();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let strategy = strategy["id"].as_i64().unwrap().to_string();
    let backtest: Value = api
        .post("/backtest", Some(&a.access), json!({}))
        .await
        .json()
        .await
        .unwrap();
    let backtest = backtest["id"].as_str().unwrap().to_owned();
    // A security alert (a rotated webhook secret) makes A a notification.
    let res = api
        .post(
            &format!("/strategies/{strategy}/rotate-secret"),
            Some(&a.access),
            json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let notification = notified(api, &a.access, "security_alert", |d| {
        d["kind"] == "webhook_secret_rotated"
    })
    .await["id"]
        .as_i64()
        .unwrap()
        .to_string();
    vec![
        (
            backtest,
            vec![route(
                Method::GET,
                "/backtest/{id}",
                None,
                "00000000-0000-0000-0000-000000000000",
            )],
        ),
        (
            strategy,
            vec![
                route(Method::GET, "/strategies/{id}", None, "999999"),
                route(Method::GET, "/strategies/{id}/simulate", None, "999999"),
                route(
                    Method::PUT,
                    "/strategies/{id}",
                    Some(json!({ "name": "stolen" })),
                    "999999",
                ),
                route(Method::POST, "/strategies/{id}/deactivate", None, "999999"),
                route(Method::POST, "/strategies/{id}/activate", None, "999999"),
                route(
                    Method::POST,
                    "/strategies/{id}/rotate-secret",
                    None,
                    "999999",
                ),
                route(Method::DELETE, "/strategies/{id}", None, "999999"),
            ],
        ),
        (
            position,
            vec![
                route(Method::GET, "/positions/{id}", None, "999999"),
                route(Method::POST, "/positions/{id}/close", None, "999999"),
            ],
        ),
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
                route(Method::GET, "/accounts/{id}/balance", None, "999999"),
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
        (
            notification,
            vec![route(
                Method::POST,
                "/notifications/{id}/read",
                None,
                "999999",
            )],
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
    // B's lists hold nothing of A's, and A's account cannot carry B's strategy.
    for list in ["/positions", "/strategies"] {
        let v: Value = api.get(list, &b.access).await.json().await.unwrap();
        assert_eq!(v, json!([]), "{list}");
    }
    for list in [
        "/orders",
        "/signals",
        "/positions/history",
        "/notifications",
    ] {
        let v: Value = api.get(list, &b.access).await.json().await.unwrap();
        assert_eq!(v["total"], 0, "{list}");
    }
    let v: Value = api
        .get("/performance/summary", &b.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["total_trades"], 0);
    for (path, field) in [
        ("/dashboard/equity", "points"),
        ("/dashboard/insights", "positions"),
    ] {
        let v: Value = api.get(path, &b.access).await.json().await.unwrap();
        assert_eq!(v[field], json!([]), "{path}: {v}");
    }
    let unread: Value = api
        .get("/notifications/unread-count", &b.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(unread["unread"], 0);
    let (account, _) = &objects[4];
    let res = api
        .post(
            "/strategies",
            Some(&b.access),
            json!({ "name": "B on A's account", "symbol": "BTCUSDT", "account_id": account.parse::<i64>().unwrap() }),
        )
        .await;
    assert_eq!(res.status(), 422);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["errors"][0]["field"], "account_id");

    // A's objects are intact and A's to use.
    let (strategy, _) = &objects[1];
    let mine: Value = api
        .get(&format!("/strategies/{strategy}"), &a.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (mine["name"].as_str(), mine["is_active"].as_bool()),
        (Some("A's strategy"), Some(true))
    );
    let (account, _) = &objects[4];
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
    // Per-user settings without ids: each user's own.
    let enabled = |v: &Value, kind: &str| {
        v["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["kind"] == kind)
            .unwrap()["enabled"]
            .as_bool()
            .unwrap()
    };
    for (who, kind) in [(&a, "new_login"), (&b, "kill_switch_engaged")] {
        let res = api
            .call(
                Method::PUT,
                "/users/me/security-alerts",
                Some(&who.access),
                Some(json!({ kind: false })),
            )
            .await;
        assert_eq!(res.status(), 200);
    }
    let mine: Value = api
        .get("/users/me/security-alerts", &a.access)
        .await
        .json()
        .await
        .unwrap();
    assert!(!enabled(&mine, "new_login") && enabled(&mine, "kill_switch_engaged"));
    let theirs: Value = api
        .get("/users/me/security-alerts", &b.access)
        .await
        .json()
        .await
        .unwrap();
    assert!(enabled(&theirs, "new_login") && !enabled(&theirs, "kill_switch_engaged"));

    let (session, _) = &objects[3];
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
