//! Identity over real HTTP against the real binary: the seed's onboarding
//! (register → verify → 2FA → login → refresh → logout) and every attack the
//! identity issue lists, shown to fail.

mod common;

use base64::Engine as _;
use common::api::{Api, PASSWORD, Session, base32_decode, totp};
use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Instant;

/// Generous budgets: these tests are not about rate limits.
const ROOMY: &[(&str, &str)] = &[
    ("TRADINGBOT_RATE_LIMIT_IP", "100000"),
    ("TRADINGBOT_RATE_LIMIT_USER", "100000"),
];

async fn problem(res: reqwest::Response) -> (StatusCode, Value) {
    let status = res.status();
    assert_eq!(
        res.headers()["content-type"],
        "application/problem+json",
        "status {status}"
    );
    (status, res.json().await.unwrap())
}

async fn enable_2fa(api: &Api<'_>, s: &Session) -> (Vec<u8>, Vec<String>) {
    let res = api.get("/auth/2fa/setup", &s.access).await;
    assert_eq!(res.status(), 200);
    let setup: Value = res.json().await.unwrap();
    let secret = base32_decode(setup["secret"].as_str().unwrap());
    assert_eq!(secret.len(), 20);
    let uri = setup["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/TradingBot:"), "{uri}");
    assert!(setup["qr_svg"].as_str().unwrap().contains("<svg"));
    let res = api
        .post(
            "/auth/2fa/enable",
            Some(&s.access),
            json!({ "code": totp(&secret, 0) }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let codes: Value = res.json().await.unwrap();
    let codes: Vec<String> = codes["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

/// Runs `flow` against the embedded SQLite, or against a fresh PostgreSQL
/// database (and Redis, when given) for the `_postgres` variants.
async fn on_postgres<F, Fut>(name: &str, flow: F)
where
    F: FnOnce(Vec<(String, String)>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let Some(db) = TestDatabase::postgres().await else {
        return announce_skip(name, "TEST_DATABASE_URL");
    };
    let mut env = vec![("DATABASE_URL".to_owned(), db.url.clone())];
    if let Ok(redis) = std::env::var("TEST_REDIS_URL") {
        env.push(("REDIS_URL".to_owned(), redis));
        // Tests share one Redis; user ids restart at 1 in each fresh database.
        env.push((
            "TRADINGBOT_REDIS_PREFIX".to_owned(),
            format!("test-{}", uuid::Uuid::new_v4().simple()),
        ));
    }
    flow(env).await;
    db.cleanup().await;
    announce(&format!("postgres: {name} passed on PostgreSQL"));
}

fn with(extra: &[(String, String)]) -> Vec<(&str, &str)> {
    let mut env: Vec<(&str, &str)> = ROOMY.to_vec();
    env.extend(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    env
}

#[tokio::test]
async fn onboarding_register_verify_2fa_login_refresh_logout() {
    onboarding(Vec::new()).await;
}

#[tokio::test]
async fn onboarding_register_verify_2fa_login_refresh_logout_postgres() {
    on_postgres("onboarding_postgres", onboarding).await;
}

#[tokio::test]
async fn password_and_email_changes_and_account_deletion_postgres() {
    on_postgres("profile_changes_postgres", profile_changes).await;
}

#[tokio::test]
async fn lockout_postgres() {
    on_postgres("lockout_postgres", lockout).await;
}

async fn onboarding(extra: Vec<(String, String)>) {
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(&dir, &with(&extra));
    let api = Api::new(&bot);

    // Register: unverified until the mailed link is followed.
    let user = api.register("Trader@Example.com").await;
    assert_eq!(user["email"], "trader@example.com");
    assert_eq!(user["email_verified"], false);
    assert_eq!(user["role"], "user");
    assert!(user.get("password_hash").is_none());

    // The same email again is refused.
    let res = api
        .post(
            "/auth/register",
            None,
            json!({ "email": "trader@example.com", "password": PASSWORD }),
        )
        .await;
    let (status, p) = problem(res).await;
    assert_eq!(
        (status.as_u16(), p["code"].as_str()),
        (409, Some("email_taken"))
    );

    // An unverified account can log in.
    let res = api.login("trader@example.com", PASSWORD).await;
    assert_eq!(res.status(), 200);
    let first: Value = res.json().await.unwrap();
    assert_eq!(first["status"], "authenticated");
    assert_eq!(first["token_type"], "Bearer");
    assert_eq!(first["expires_in"], 900);
    assert_eq!(
        first["refresh_expires_in"].as_i64().unwrap() / 3600,
        7 * 24 - 1
    );
    let access = first["access_token"].as_str().unwrap().to_owned();

    // Verify the email with the mailed token; the token works once.
    let token = api.mailed_token("trader@example.com");
    let res = api
        .post("/auth/verify-email", None, json!({ "token": token }))
        .await;
    assert_eq!(res.status(), 200);
    let verified: Value = res.json().await.unwrap();
    assert_eq!(verified["email_verified"], true);
    let (status, p) = problem(
        api.post("/auth/verify-email", None, json!({ "token": token }))
            .await,
    )
    .await;
    assert_eq!(
        (status.as_u16(), p["code"].as_str()),
        (401, Some("invalid_token"))
    );

    // Two-factor setup with real TOTP codes.
    let s = Session {
        id: user["id"].as_i64().unwrap(),
        email: "trader@example.com".into(),
        password: PASSWORD.into(),
        access: access.clone(),
        refresh: first["refresh_token"].as_str().unwrap().into(),
    };
    let (secret, recovery) = enable_2fa(&api, &s).await;
    let me: Value = api.get("/users/me", &access).await.json().await.unwrap();
    assert_eq!(me["is_2fa_enabled"], true);

    // Log out, then log in again: a challenge, not tokens.
    let res = api.post("/auth/logout", Some(&access), json!({})).await;
    assert_eq!(res.status(), 204);
    let (status, p) = problem(api.get("/users/me", &access).await).await;
    assert_eq!(
        (status.as_u16(), p["code"].as_str()),
        (401, Some("token_revoked"))
    );

    let res = api.login("trader@example.com", PASSWORD).await;
    let challenge: Value = res.json().await.unwrap();
    assert_eq!(challenge["status"], "2fa_required");
    assert!(challenge.get("access_token").is_none());
    let ch = challenge["challenge"].as_str().unwrap().to_owned();

    // The challenge is not an access token.
    let (status, _) = problem(api.get("/users/me", &ch).await).await;
    assert_eq!(status, 401);
    // A wrong code is refused; the code used to enable 2FA is spent.
    let (status, p) = problem(
        api.post(
            "/auth/verify-2fa",
            None,
            json!({ "challenge": ch, "code": "000000" }),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status.as_u16(), p["code"].as_str()),
        (401, Some("invalid_2fa_code"))
    );
    let (status, _) = problem(
        api.post(
            "/auth/verify-2fa",
            None,
            json!({ "challenge": ch, "code": totp(&secret, 0) }),
        )
        .await,
    )
    .await;
    assert_eq!(status, 401, "a TOTP code is accepted once");
    // The next code works, once; the challenge is then spent.
    let code = totp(&secret, 1);
    let res = api
        .post(
            "/auth/verify-2fa",
            None,
            json!({ "challenge": ch, "code": code }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let tokens: Value = res.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh1 = tokens["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(api.get("/users/me", &access).await.status(), 200);
    let (status, _) = problem(
        api.post(
            "/auth/verify-2fa",
            None,
            json!({ "challenge": ch, "code": code }),
        )
        .await,
    )
    .await;
    assert_eq!(status, 401);

    // A recovery code stands in for a code, once.
    let ch2: Value = api
        .login("trader@example.com", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let res = api
        .post(
            "/auth/verify-2fa",
            None,
            json!({ "challenge": ch2["challenge"], "code": recovery[0].to_uppercase() }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let ch3: Value = api
        .login("trader@example.com", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let (status, _) = problem(
        api.post(
            "/auth/verify-2fa",
            None,
            json!({ "challenge": ch3["challenge"], "code": recovery[0] }),
        )
        .await,
    )
    .await;
    assert_eq!(status, 401, "a recovery code works once");

    // Refresh rotates: the new pair works, the old refresh token is spent.
    let res = api
        .post("/auth/refresh", None, json!({ "refresh_token": refresh1 }))
        .await;
    assert_eq!(res.status(), 200);
    let rotated: Value = res.json().await.unwrap();
    let refresh2 = rotated["refresh_token"].as_str().unwrap().to_owned();
    let access2 = rotated["access_token"].as_str().unwrap().to_owned();
    assert_ne!(refresh1, refresh2);
    assert_eq!(api.get("/users/me", &access2).await.status(), 200);

    // Presenting the spent token again: theft. The whole family is revoked,
    // including the successor the thief (or the user) holds.
    let (status, p) = problem(
        api.post("/auth/refresh", None, json!({ "refresh_token": refresh1 }))
            .await,
    )
    .await;
    assert_eq!(
        (status.as_u16(), p["code"].as_str()),
        (401, Some("refresh_token_reused"))
    );
    let (status, _) = problem(
        api.post("/auth/refresh", None, json!({ "refresh_token": refresh2 }))
            .await,
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = problem(api.get("/users/me", &access2).await).await;
    assert_eq!(status, 401, "access tokens are revoked with their family");

    // The audit trail tells the story.
    let fresh: Value = {
        let ch: Value = api
            .login("trader@example.com", PASSWORD)
            .await
            .json()
            .await
            .unwrap();
        api.post(
            "/auth/verify-2fa",
            None,
            json!({ "challenge": ch["challenge"], "code": recovery[1] }),
        )
        .await
        .json()
        .await
        .unwrap()
    };
    let events: Value = api
        .get("/audit?limit=200", fresh["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    for expected in [
        "user_registered",
        "email_verified",
        "2fa_setup_started",
        "2fa_enabled",
        "login_succeeded",
        "login_failed",
        "logout",
        "refresh_token_reused",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    assert!(events[0]["ip"].as_str().is_some_and(|ip| ip == "127.0.0.1"));

    // Nothing secret reached the logs.
    let output = bot.output();
    for secret_text in [
        PASSWORD.to_owned(),
        access.clone(),
        refresh1.clone(),
        refresh2.clone(),
        ch.clone(),
        code.clone(),
        recovery[0].clone(),
        tradingbot_core::identity::totp::secret_base32(&secret),
    ] {
        assert!(
            !output.contains(&secret_text),
            "a secret was logged: {secret_text}"
        );
    }
}

#[tokio::test]
async fn forged_expired_and_malformed_tokens_are_refused() {
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(&dir, ROOMY);
    let api = Api::new(&bot);
    let s = api.user("tokens@example.com").await;
    let key = hex::decode(
        std::fs::read_to_string(dir.join("data/jwt_secret"))
            .unwrap()
            .trim(),
    )
    .unwrap();

    let claims = |iat: i64, exp: i64| {
        json!({
            "iss": "tradingbot", "aud": "tradingbot-api", "sub": s.id.to_string(),
            "iat": iat, "nbf": iat, "exp": exp, "jti": uuid::Uuid::new_v4().to_string(), "iat_us": iat * 1_000_000,
            "role": "admin", "sid": "x"
        })
    };
    let sign = |claims: &Value, alg: jsonwebtoken::Algorithm, key: &[u8]| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(alg),
            claims,
            &jsonwebtoken::EncodingKey::from_secret(key),
        )
        .unwrap()
    };
    let now = chrono::Utc::now().timestamp();

    // Our key, our claims: accepted (so the refusals below are about what they change).
    let good = sign(
        &claims(now, now + 600),
        jsonwebtoken::Algorithm::HS256,
        &key,
    );
    assert_eq!(api.get("/users/me", &good).await.status(), 200);

    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "expired",
            sign(
                &claims(now - 3600, now - 120),
                jsonwebtoken::Algorithm::HS256,
                &key,
            ),
            "token_expired",
        ),
        (
            "forged",
            sign(
                &claims(now, now + 600),
                jsonwebtoken::Algorithm::HS256,
                b"an-attackers-key-an-attackers-key",
            ),
            "invalid_token",
        ),
        (
            "hs512",
            sign(
                &claims(now, now + 600),
                jsonwebtoken::Algorithm::HS512,
                &key,
            ),
            "invalid_token",
        ),
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "typ": "JWT"})),
                b64(&claims(now, now + 600))
            ),
            "invalid_token",
        ),
        (
            "wrong audience",
            {
                let mut c = claims(now, now + 600);
                c["aud"] = "tradingbot-2fa".into();
                sign(&c, jsonwebtoken::Algorithm::HS256, &key)
            },
            "invalid_token",
        ),
        (
            "wrong issuer",
            {
                let mut c = claims(now, now + 600);
                c["iss"] = "someone-else".into();
                sign(&c, jsonwebtoken::Algorithm::HS256, &key)
            },
            "invalid_token",
        ),
        (
            "not yet valid",
            sign(
                &claims(now + 3600, now + 7200),
                jsonwebtoken::Algorithm::HS256,
                &key,
            ),
            "invalid_token",
        ),
        ("garbage", "not.a.jwt".to_owned(), "invalid_token"),
        (
            "tampered",
            {
                let mut parts: Vec<String> = s.access.split('.').map(str::to_owned).collect();
                let mut payload: Value = serde_json::from_slice(
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .decode(&parts[1])
                        .unwrap(),
                )
                .unwrap();
                payload["role"] = "admin".into();
                parts[1] = b64(&payload);
                parts.join(".")
            },
            "invalid_token",
        ),
    ];
    for (name, token, code) in cases {
        let res = api.get("/users/me", &token).await;
        assert_eq!(res.headers()["www-authenticate"], "Bearer", "{name}");
        let (status, p) = problem(res).await;
        assert_eq!(
            (status.as_u16(), p["code"].as_str()),
            (401, Some(code)),
            "{name}"
        );
    }
    let (status, p) = problem(api.call(Method::GET, "/users/me", None, None).await).await;
    assert_eq!(
        (status.as_u16(), p["code"].as_str()),
        (401, Some("missing_token"))
    );
    // A forged admin claim does not open admin routes either.
    let forged = sign(
        &claims(now, now + 600),
        jsonwebtoken::Algorithm::HS256,
        b"an-attackers-key-an-attackers-key",
    );
    assert_eq!(api.get("/admin/users", &forged).await.status(), 401);
}

#[tokio::test]
async fn unknown_email_and_wrong_password_look_the_same_and_both_lock() {
    lockout(Vec::new()).await;
}

async fn lockout(extra: Vec<(String, String)>) {
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(&dir, &with(&extra));
    let api = Api::new(&bot);
    api.register("victim@example.com").await;

    let mut wrong = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..4 {
        let t = Instant::now();
        let a = api
            .login("victim@example.com", "not the password at all")
            .await;
        wrong.push(t.elapsed());
        let t = Instant::now();
        let b = api
            .login(&format!("nobody{i}@example.com"), "not the password at all")
            .await;
        unknown.push(t.elapsed());
        let (sa, pa) = problem(a).await;
        let (sb, pb) = problem(b).await;
        assert_eq!((sa, &pa), (sb, &pb), "identical answers");
        assert_eq!(pa["code"], "invalid_credentials");
    }
    // The fastest of each (least disturbed by other tests on the machine):
    // both pay one Argon2id verification, so they are of one magnitude.
    let w = wrong.iter().min().unwrap().as_secs_f64();
    let u = unknown.iter().min().unwrap().as_secs_f64();
    assert!(
        u > w / 3.0 && u < w * 3.0,
        "times differ too much: wrong password {w:.4}s, unknown email {u:.4}s"
    );

    // The fifth failure locks the account; even the right password is then refused.
    let (status, _) = problem(
        api.login("victim@example.com", "still not the password")
            .await,
    )
    .await;
    assert_eq!(status, 401);
    let res = api.login("victim@example.com", PASSWORD).await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((800..=900).contains(&retry), "{retry}");
    let (status, p) = problem(res).await;
    assert_eq!(
        (status.as_u16(), p["code"].as_str()),
        (429, Some("account_locked"))
    );

    // An unknown email "locks" the same way, so locking reveals nothing.
    for _ in 0..5 {
        let (status, _) = problem(api.login("ghost@example.com", "whatever password").await).await;
        assert_eq!(status, 401);
    }
    let (status, p) = problem(api.login("ghost@example.com", "whatever password").await).await;
    assert_eq!(
        (status.as_u16(), p["code"].as_str()),
        (429, Some("account_locked"))
    );
}

#[tokio::test]
async fn password_and_email_changes_and_account_deletion() {
    profile_changes(Vec::new()).await;
}

async fn profile_changes(extra: Vec<(String, String)>) {
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(&dir, &with(&extra));
    let api = Api::new(&bot);
    let a = api.user("owner@example.com").await;
    // A second session of the same user (another device).
    let other: Value = api
        .login("owner@example.com", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let other_access = other["access_token"].as_str().unwrap().to_owned();
    let other_refresh = other["refresh_token"].as_str().unwrap().to_owned();

    // A wrong current password changes nothing.
    let res = api
        .call(Method::PUT, "/users/me", Some(&a.access), Some(json!({ "current_password": "wrong wrong wrong", "new_password": "a much better passphrase" })))
        .await;
    assert_eq!(problem(res).await.1["code"], "invalid_credentials");
    // A weak new password is refused, naming the field.
    let res = api
        .call(
            Method::PUT,
            "/users/me",
            Some(&a.access),
            Some(json!({ "current_password": PASSWORD, "new_password": "password1234" })),
        )
        .await;
    let (status, p) = problem(res).await;
    assert_eq!(
        (status.as_u16(), p["errors"][0]["field"].as_str()),
        (422, Some("password"))
    );

    let res = api
        .call(
            Method::PUT,
            "/users/me",
            Some(&a.access),
            Some(
                json!({ "current_password": PASSWORD, "new_password": "a much better passphrase" }),
            ),
        )
        .await;
    assert_eq!(res.status(), 200);
    let changed: Value = res.json().await.unwrap();
    let new_access = changed["tokens"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Other sessions are signed out; this one goes on with its new token.
    assert_eq!(api.get("/users/me", &other_access).await.status(), 401);
    assert_eq!(
        api.post(
            "/auth/refresh",
            None,
            json!({ "refresh_token": other_refresh })
        )
        .await
        .status(),
        401
    );
    assert_eq!(api.get("/users/me", &a.access).await.status(), 401);
    let res = api.get("/users/me", &new_access).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    assert_eq!(
        api.post("/auth/refresh", None, json!({ "refresh_token": a.refresh }))
            .await
            .status(),
        200
    );
    assert_eq!(
        problem(api.login("owner@example.com", PASSWORD).await)
            .await
            .0,
        401
    );
    let res = api
        .login("owner@example.com", "a much better passphrase")
        .await;
    assert_eq!(res.status(), 200);

    // Email change: pending until the new address confirms.
    let res = api
        .call(Method::PUT, "/users/me", Some(&new_access), Some(json!({ "current_password": "a much better passphrase", "email": "New@Example.com" })))
        .await;
    assert_eq!(res.status(), 200);
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["user"]["email"], "owner@example.com");
    assert_eq!(me["user"]["pending_email"], "new@example.com");
    let token = api.mailed_token("new@example.com");
    let res = api
        .post("/auth/verify-email", None, json!({ "token": token }))
        .await;
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["email"], "new@example.com");
    assert_eq!(me["email_verified"], true);

    // Deletion needs the password; then nothing works for that account.
    let res = api
        .call(
            Method::DELETE,
            "/users/me",
            Some(&new_access),
            Some(json!({ "password": "wrong wrong wrong" })),
        )
        .await;
    assert_eq!(problem(res).await.0, 401);
    let res = api
        .call(
            Method::DELETE,
            "/users/me",
            Some(&new_access),
            Some(json!({ "password": "a much better passphrase" })),
        )
        .await;
    assert_eq!(res.status(), 204);
    assert_eq!(api.get("/users/me", &new_access).await.status(), 401);
    assert_eq!(
        problem(
            api.login("new@example.com", "a much better passphrase")
                .await
        )
        .await
        .0,
        401
    );
    // The address can be registered again.
    api.register("new@example.com").await;
}

#[tokio::test]
async fn deleting_an_account_with_2fa_needs_a_code() {
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(&dir, ROOMY);
    let api = Api::new(&bot);
    let s = api.user("twofa@example.com").await;
    let (secret, _) = enable_2fa(&api, &s).await;
    let res = api
        .call(
            Method::DELETE,
            "/users/me",
            Some(&s.access),
            Some(json!({ "password": PASSWORD })),
        )
        .await;
    let (status, p) = problem(res).await;
    assert_eq!(
        (status.as_u16(), p["errors"][0]["field"].as_str()),
        (422, Some("code"))
    );
    // Disabling needs password and code too.
    let res = api
        .post(
            "/auth/2fa/disable",
            Some(&s.access),
            json!({ "password": PASSWORD, "code": "123456" }),
        )
        .await;
    assert_eq!(problem(res).await.0, 401);
    let res = api
        .call(
            Method::DELETE,
            "/users/me",
            Some(&s.access),
            Some(json!({ "password": PASSWORD, "code": totp(&secret, 1) })),
        )
        .await;
    assert_eq!(res.status(), 204);
}

#[tokio::test]
async fn admin_lists_and_deactivates_users_and_reads_every_audit_event() {
    let (_tmp, dir) = workdir();
    // The first admin comes from the command line, password on stdin.
    let mut child = std::process::Command::new(BIN)
        .current_dir(&dir)
        .env_clear()
        .args(["create-admin", "--email", "Admin@Example.com"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"operator passphrase 2026\n")
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("created administrator admin@example.com")
    );

    let bot = Spawned::start(&dir, ROOMY);
    let api = Api::new(&bot);
    let user = api.user("member@example.com").await;
    let res = api
        .login("admin@example.com", "operator passphrase 2026")
        .await;
    assert_eq!(res.status(), 200);
    let admin: Value = res.json().await.unwrap();
    assert_eq!(admin["user"]["role"], "admin");
    let admin_token = admin["access_token"].as_str().unwrap().to_owned();

    // Members cannot use admin routes.
    let (status, p) = problem(api.get("/admin/users", &user.access).await).await;
    assert_eq!(
        (status.as_u16(), p["code"].as_str()),
        (403, Some("admin_only"))
    );
    let res = api
        .post(
            &format!("/admin/users/{}/deactivate", user.id),
            Some(&user.access),
            json!({}),
        )
        .await;
    assert_eq!(problem(res).await.0, 403);

    let page: Value = api
        .get("/admin/users?page=1&per_page=10", &admin_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 2);
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let (status, _) = problem(api.get("/admin/users?per_page=1000", &admin_token).await).await;
    assert_eq!(status, 422);

    // Audit: the member sees only their own events; the admin sees all.
    let own: Value = api.get("/audit", &user.access).await.json().await.unwrap();
    assert!(
        own.as_array()
            .unwrap()
            .iter()
            .all(|e| e["user_id"] == user.id)
    );
    let all: Value = api
        .get("/audit?limit=200", &admin_token)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .any(|e| e["user_id"] != user.id)
    );

    // Deactivation: the token stops working at once, and so does login.
    let res = api
        .post(
            &format!("/admin/users/{}/deactivate", user.id),
            Some(&admin_token),
            json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["is_active"], false);
    assert_eq!(
        problem(api.get("/users/me", &user.access).await).await.0,
        401
    );
    let (status, p) = problem(api.login("member@example.com", PASSWORD).await).await;
    assert_eq!(
        (status.as_u16(), p["code"].as_str()),
        (403, Some("account_deactivated"))
    );
    let res = api
        .post(
            "/admin/users/999999/deactivate",
            Some(&admin_token),
            json!({}),
        )
        .await;
    assert_eq!(problem(res).await.0, 404);
}

#[tokio::test]
async fn request_bodies_are_checked_with_precise_problems() {
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(
        &dir,
        &[("TRADINGBOT_MAX_BODY_BYTES", "2048"), ROOMY[0], ROOMY[1]],
    );
    let api = Api::new(&bot);
    let http = client();

    // 413: too large, by Content-Length and by a chunked stream.
    let big = json!({ "email": "a@example.com", "password": "x".repeat(4096) });
    let (status, p) = problem(api.post("/auth/register", None, big).await).await;
    assert_eq!(
        (status.as_u16(), p["code"].as_str()),
        (413, Some("payload_too_large"))
    );
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..10).map(|_| Ok(vec![b' '; 1024])).collect();
    let res = http
        .post(api.url("/auth/register"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(res).await.1["code"], "payload_too_large");

    // 415, 400, 422 with every bad field named.
    let res = http
        .post(api.url("/auth/register"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(problem(res).await.1["code"], "unsupported_media_type");
    let res = http
        .post(api.url("/auth/register"))
        .header("content-type", "application/json")
        .body("{\"email\":")
        .send()
        .await
        .unwrap();
    assert_eq!(problem(res).await.1["code"], "malformed_json");
    let (status, p) = problem(
        api.post(
            "/auth/register",
            None,
            json!({ "email": "nope", "password": "short" }),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status.as_u16(), p["code"].as_str()),
        (422, Some("validation_failed"))
    );
    let (status, p) = problem(
        api.post(
            "/auth/register",
            None,
            json!({ "email": "ok@example.com", "password": "short" }),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status.as_u16(), p["errors"][0]["field"].as_str()),
        (422, Some("password"))
    );
    let (_, p) = problem(
        api.post("/auth/register", None, json!({ "email": "ok@example.com" }))
            .await,
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "password");
    let (_, p) = problem(
        api.post(
            "/auth/register",
            None,
            json!({ "email": 5, "password": PASSWORD }),
        )
        .await,
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "email");
    let (_, p) = problem(
        api.post(
            "/auth/register",
            None,
            json!({ "email": "x@example.com", "password": "password1234" }),
        )
        .await,
    )
    .await;
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("common")
    );
}

#[tokio::test]
async fn security_headers_and_cors() {
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(
        &dir,
        &[
            ("TRADINGBOT_CORS_ORIGINS", "https://app.example.com"),
            ("TRADINGBOT_PUBLIC_URL", "https://bot.example.com"),
        ],
    );
    let http = client();
    let res = http
        .get(bot.url("/api/v1/health"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    let h = res.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example.com");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert!(
        h["strict-transport-security"]
            .to_str()
            .unwrap()
            .starts_with("max-age=")
    );

    let res = http
        .get(bot.url("/api/v1/health"))
        .header("origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert!(!res.headers().contains_key("access-control-allow-origin"));

    let res = http
        .request(Method::OPTIONS, bot.url("/api/v1/auth/login"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,authorization",
        )
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    assert!(
        res.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );

    // Plain-HTTP development servers do not pin browsers to https.
    let (_tmp2, dir2) = workdir();
    let plain = Spawned::start(&dir2, &[]);
    let res = http.get(plain.url("/api/v1/health")).send().await.unwrap();
    assert!(!res.headers().contains_key("strict-transport-security"));
}

#[tokio::test]
async fn per_address_and_per_user_budgets() {
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(
        &dir,
        &[
            ("TRADINGBOT_RATE_LIMIT_IP", "8"),
            ("TRADINGBOT_RATE_LIMIT_USER", "100"),
        ],
    );
    let http = client();
    let mut last = None;
    for i in 0..8 {
        let res = http
            .get(bot.url("/api/v1/openapi.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "request {i}");
        assert_eq!(res.headers()["ratelimit-limit"], "8");
        assert_eq!(
            res.headers()["ratelimit-remaining"].to_str().unwrap(),
            (7 - i).to_string()
        );
        last = Some(res);
    }
    assert!(last.unwrap().headers().contains_key("ratelimit-reset"));
    let res = http
        .get(bot.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(res.headers()["ratelimit-remaining"], "0");
    assert_eq!(problem(res).await.1["code"], "rate_limited");
    // Health probes are exempt.
    assert_eq!(
        http.get(bot.url("/api/v1/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // X-Forwarded-For from an untrusted peer is ignored: still limited.
    let res = http
        .get(bot.url("/api/v1/openapi.json"))
        .header("x-forwarded-for", "198.51.100.1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);

    // Per user.
    let (_tmp2, dir2) = workdir();
    let bot2 = Spawned::start(
        &dir2,
        &[
            ("TRADINGBOT_RATE_LIMIT_IP", "1000"),
            ("TRADINGBOT_RATE_LIMIT_USER", "3"),
        ],
    );
    let api = Api::new(&bot2);
    let s = api.user("busy@example.com").await;
    for _ in 0..3 {
        assert_eq!(api.get("/users/me", &s.access).await.status(), 200);
    }
    let res = api.get("/users/me", &s.access).await;
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(problem(res).await.1["code"], "rate_limited");
}

#[tokio::test]
async fn forwarded_addresses_count_only_behind_trusted_proxies() {
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(
        &dir,
        &[
            ("TRADINGBOT_RATE_LIMIT_IP", "2"),
            ("TRADINGBOT_TRUSTED_PROXIES", "127.0.0.1/32"),
        ],
    );
    let http = client();
    let get = |ip: &'static str| {
        let http = http.clone();
        let url = bot.url("/api/v1/openapi.json");
        async move {
            http.get(url)
                .header("x-forwarded-for", format!("203.0.113.50, {ip}"))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(get("198.51.100.1").await, 200);
    assert_eq!(get("198.51.100.1").await, 200);
    assert_eq!(get("198.51.100.1").await, 429);
    // Another client behind the same proxy has its own budget; the forged
    // left-most entry does not matter.
    assert_eq!(get("198.51.100.2").await, 200);

    // The audit trail records the forwarded client address.
    let api = Api::new(&bot);
    let res = http
        .post(api.url("/auth/register"))
        .header("x-forwarded-for", "198.51.100.3")
        .json(&json!({ "email": "behind@example.com", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let res = http
        .post(api.url("/auth/login"))
        .header("x-forwarded-for", "198.51.100.4")
        .json(&json!({ "email": "behind@example.com", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    let t: Value = res.json().await.unwrap();
    let events: Value = http
        .get(api.url("/audit"))
        .header("x-forwarded-for", "198.51.100.5")
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ips: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["ip"].as_str())
        .collect();
    assert!(
        ips.contains(&"198.51.100.3") && ips.contains(&"198.51.100.4"),
        "{ips:?}"
    );
}

#[tokio::test]
async fn budgets_in_redis_are_shared_by_two_instances() {
    let Ok(redis_url) = std::env::var("TEST_REDIS_URL") else {
        return announce_skip(
            "budgets_in_redis_are_shared_by_two_instances",
            "TEST_REDIS_URL",
        );
    };
    // A fresh address prefix is not possible on loopback, so use a unique
    // trusted-proxy client address for this run.
    let client_ip = format!("198.18.{}.{}", rand_octet(), rand_octet());
    let prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
    let env = [
        ("REDIS_URL", redis_url.as_str()),
        ("TRADINGBOT_REDIS_PREFIX", prefix.as_str()),
        ("TRADINGBOT_RATE_LIMIT_IP", "6"),
        ("TRADINGBOT_TRUSTED_PROXIES", "127.0.0.1"),
    ];
    let (_t1, d1) = workdir();
    let (_t2, d2) = workdir();
    let (_t3, d3) = workdir();
    let one = Spawned::start(&d1, &env);
    let two = Spawned::start(&d2, &env);
    // Another deployment on the same Redis keeps its own budgets.
    let other_prefix = format!("{prefix}-other");
    let mut other_env = env;
    other_env[1].1 = other_prefix.as_str();
    let other = Spawned::start(&d3, &other_env);
    let http = client();
    let mut statuses = Vec::new();
    for i in 0..7 {
        let bot = if i % 2 == 0 { &one } else { &two };
        let res = http
            .get(bot.url("/api/v1/openapi.json"))
            .header("x-forwarded-for", client_ip.as_str())
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
    }
    assert_eq!(
        statuses,
        [200, 200, 200, 200, 200, 200, 429],
        "one budget across both instances"
    );
    let res = http
        .get(other.url("/api/v1/openapi.json"))
        .header("x-forwarded-for", client_ip.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "another namespace is not throttled");
    announce("redis: two tradingbot processes shared one per-address budget");
}

fn rand_octet() -> u8 {
    (uuid::Uuid::new_v4().as_u128() % 250) as u8 + 1
}

#[tokio::test]
async fn logout_with_only_a_refresh_token() {
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(&dir, ROOMY);
    let api = Api::new(&bot);
    let s = api.user("leaving@example.com").await;
    let (status, p) = problem(api.post("/auth/logout", None, json!({})).await).await;
    assert_eq!(
        (status.as_u16(), p["code"].as_str()),
        (401, Some("missing_token"))
    );
    let res = api
        .post("/auth/logout", None, json!({ "refresh_token": s.refresh }))
        .await;
    assert_eq!(res.status(), 204);
    assert_eq!(
        api.post("/auth/refresh", None, json!({ "refresh_token": s.refresh }))
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn verification_mail_goes_through_smtp() {
    let sink = tradingbot_testkit::smtp::SmtpSink::start().await;
    let url = format!("smtp://mailer:s3cret-smtp-pass@127.0.0.1:{}", sink.port);
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(
        &dir,
        &[
            ("SMTP_URL", url.as_str()),
            ("TRADINGBOT_SMTP_FROM", "TradingBot <bot@example.com>"),
            ("TRADINGBOT_FRONTEND_URL", "https://app.example.com"),
        ],
    );
    let api = Api::new(&bot);
    api.register("mailme@example.com").await;
    let mail = sink.wait_for(1).await;
    assert_eq!(
        mail.auth,
        Some(("mailer".to_owned(), "s3cret-smtp-pass".to_owned()))
    );
    assert_eq!(mail.from, "<bot@example.com>");
    assert_eq!(mail.to, ["mailme@example.com"]);
    assert!(
        mail.data.contains("Subject: Confirm your email address"),
        "{}",
        mail.data
    );
    let body = mail.body();
    let start = body
        .find("https://app.example.com/verify-email?token=")
        .expect("link")
        + 43;
    let token: String = body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    assert_eq!(token.len(), 43);
    let res = api
        .post("/auth/verify-email", None, json!({ "token": token }))
        .await;
    assert_eq!(res.status(), 200);
    // With SMTP configured, neither the token nor the SMTP password is logged.
    let output = bot.output();
    assert!(!output.contains(&token));
    assert!(!output.contains("s3cret-smtp-pass"));
    assert!(bot.logged("email not sent").is_empty());
}

/// The per-address sign-in budget is its own limit with its own code: an
/// account that never failed is not "locked" by it, the budget is
/// configurable, and users behind a trusted frontend server each have
/// their own.
#[tokio::test]
async fn the_per_address_sign_in_budget_says_rate_limited_not_locked() {
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(
        &dir,
        &[
            ("TRADINGBOT_RATE_LIMIT_IP", "100000"),
            ("TRADINGBOT_RATE_LIMIT_USER", "100000"),
            ("TRADINGBOT_LOGIN_ATTEMPTS_PER_IP", "3"),
            ("TRADINGBOT_TRUSTED_PROXIES", "127.0.0.1/32"),
        ],
    );
    let api = Api::new(&bot);
    let http = client();
    let login = |email: &'static str, from: &'static str| {
        let (http, url) = (http.clone(), api.url("/auth/login"));
        async move {
            http.post(url)
                .header("x-forwarded-for", from)
                .json(&json!({ "email": email, "password": PASSWORD }))
                .send()
                .await
                .unwrap()
        }
    };
    for email in ["first@example.com", "second@example.com"] {
        let res = http
            .post(api.url("/auth/register"))
            .header("x-forwarded-for", "198.51.100.20")
            .json(&json!({ "email": email, "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
    // A frontend server signing its users in from one address.
    for _ in 0..3 {
        assert_eq!(
            login("first@example.com", "198.51.100.7").await.status(),
            200
        );
    }
    let (status, p) = problem(login("second@example.com", "198.51.100.7").await).await;
    assert_eq!(status.as_u16(), 429);
    assert_eq!(p["code"], "rate_limited", "{p}");
    assert!(
        p["detail"].as_str().unwrap().contains("from this address"),
        "{p}"
    );
    // Its users, forwarded by it as themselves, each have their own budget.
    assert_eq!(
        login("second@example.com", "198.51.100.8").await.status(),
        200
    );
    // Nothing was locked: the first user signs in from elsewhere.
    assert_eq!(
        login("first@example.com", "198.51.100.9").await.status(),
        200
    );
}
