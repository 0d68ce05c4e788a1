//! Exchange accounts over HTTP, against local Binance and OKX venues that
//! check every request as the real ones do: keys tested before saving,
//! stored encrypted, shown masked, changed, tested and removed.

mod common;

use common::api::{Api, PASSWORD};
use common::*;
use reqwest::Method;
use rust_decimal_macros::dec;
use serde_json::{Value, json};
use tradingbot_testkit::binance::LocalBinance;
use tradingbot_testkit::okx::LocalOkx;

use common::venues::{BINANCE_KEY, BINANCE_SECRET, OKX_KEY, OKX_PASS, OKX_SECRET};

struct Venues {
    binance: LocalBinance,
    okx: LocalOkx,
}

fn venues() -> Venues {
    let binance = LocalBinance::start();
    binance.add_account(BINANCE_KEY, BINANCE_SECRET, dec!(2500));
    let okx = LocalOkx::start();
    okx.add_account(OKX_KEY, OKX_SECRET, OKX_PASS, dec!(7000), true);
    Venues { binance, okx }
}

fn start(dir: &std::path::Path, v: &Venues) -> Spawned {
    Spawned::start(
        dir,
        &[
            ("TRADINGBOT_RATE_LIMIT_IP", "100000"),
            ("TRADINGBOT_RATE_LIMIT_USER", "100000"),
            (
                "TRADINGBOT_BINANCE_TESTNET_REST_URL",
                v.binance.rest_url.as_str(),
            ),
            (
                "TRADINGBOT_BINANCE_LIVE_REST_URL",
                v.binance.rest_url.as_str(),
            ),
            ("TRADINGBOT_OKX_DEMO_REST_URL", v.okx.rest_url.as_str()),
        ],
    )
}

async fn problem(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

#[tokio::test]
async fn registers_tests_and_manages_binance_okx_and_paper_accounts() {
    let v = venues();
    let (_tmp, dir) = workdir();
    let bot = start(&dir, &v);
    let api = Api::new(&bot);
    let u = api.user("keys@example.com").await;

    // Paper: no keys, 10,000 USDT.
    let res = api
        .post(
            "/accounts/register",
            Some(&u.access),
            json!({ "exchange": "paper" }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let paper: Value = res.json().await.unwrap();
    assert_eq!(paper["exchange"], "paper");
    assert_eq!(paper["balances"][0]["wallet"], 10000.0);
    assert!(paper["api_key_masked"].is_null());

    // Binance testnet: tested against the venue, then saved masked.
    let res = api
        .post(
            "/accounts/register",
            Some(&u.access),
            json!({ "exchange": "binance", "label": "Binance test", "api_key": BINANCE_KEY, "api_secret": BINANCE_SECRET, "testnet": true }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let text = res.text().await.unwrap();
    assert!(
        !text.contains(BINANCE_SECRET) && !text.contains(BINANCE_KEY),
        "a key leaked: {text}"
    );
    let binance: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(binance["api_key_masked"], "vmPU…uEh8A");
    assert_eq!(binance["testnet"], true);
    assert_eq!(binance["permissions"]["can_trade"], true);
    assert_eq!(binance["permissions"]["can_withdraw"], false);
    assert_eq!(binance["balances"][0]["wallet"], 2500.0);
    assert!(binance["warnings"].as_array().unwrap().is_empty());
    // The venue saw signed requests it accepted.
    assert!(
        v.binance
            .requests()
            .iter()
            .any(|r| r.path == "/fapi/v2/account" && r.status == 200)
    );

    // OKX demo: passphrase required, demo header sent.
    let (status, p) = problem(
        api.post("/accounts/register", Some(&u.access), json!({ "exchange": "okx", "api_key": OKX_KEY, "api_secret": OKX_SECRET, "testnet": true }))
            .await,
    )
    .await;
    assert_eq!(
        (status, p["errors"][0]["field"].as_str()),
        (422, Some("passphrase"))
    );
    let res = api
        .post(
            "/accounts/register",
            Some(&u.access),
            json!({ "exchange": "okx", "api_key": OKX_KEY, "api_secret": OKX_SECRET, "passphrase": OKX_PASS, "demo": true }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let okx: Value = res.json().await.unwrap();
    assert_eq!(okx["balances"][0]["wallet"], 7000.0);
    assert!(okx["account_id"].as_str().is_some());
    // OKX says whether the key is bound to addresses: it is not — warned.
    assert!(
        okx["warnings"][0]
            .as_str()
            .unwrap()
            .starts_with("not_ip_restricted")
    );

    let list: Value = api.get("/accounts", &u.access).await.json().await.unwrap();
    assert_eq!(list.as_array().unwrap().len(), 3);

    // Update: rename, then a wrong new secret is refused and the old one kept.
    let id = binance["id"].as_i64().unwrap();
    let res = api
        .call(
            Method::PUT,
            &format!("/accounts/{id}"),
            Some(&u.access),
            Some(json!({ "label": "Main test" })),
        )
        .await;
    assert_eq!(res.json::<Value>().await.unwrap()["label"], "Main test");
    let (status, p) = problem(
        api.call(
            Method::PUT,
            &format!("/accounts/{id}"),
            Some(&u.access),
            Some(json!({ "api_key": BINANCE_KEY, "api_secret": "wrong-secret" })),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("invalid_credentials"),
        "{p}"
    );
    let res = api
        .post(&format!("/accounts/{id}/test"), Some(&u.access), json!({}))
        .await;
    assert_eq!(res.status(), 200, "the old key still works");
    let tested: Value = res.json().await.unwrap();
    assert!(tested["latency_ms"].as_f64().is_some());
    assert!(tested["last_tested_at"].as_str().is_some());

    // The venue changes its mind about the key: the test reports it.
    v.binance
        .venue()
        .accounts
        .get_mut(BINANCE_KEY)
        .unwrap()
        .secret = b"rotated-at-the-exchange".to_vec();
    let (status, _) = problem(
        api.post(&format!("/accounts/{id}/test"), Some(&u.access), json!({}))
            .await,
    )
    .await;
    assert_eq!(status, 422);

    // Delete.
    assert_eq!(
        api.call(
            Method::DELETE,
            &format!("/accounts/{id}"),
            Some(&u.access),
            None
        )
        .await
        .status(),
        204
    );
    assert_eq!(
        api.get(&format!("/accounts/{id}"), &u.access)
            .await
            .status(),
        404
    );

    // The audit trail has every change.
    let events: Value = api
        .get("/audit?limit=200", &u.access)
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
    for e in [
        "exchange_account_added",
        "exchange_account_updated",
        "exchange_account_tested",
        "exchange_account_removed",
    ] {
        assert!(names.contains(&e), "{e} missing: {names:?}");
    }

    // Keys are sealed at rest and never logged.
    let db = std::fs::read(dir.join("data/tradingbot.db")).unwrap();
    let wal = std::fs::read(dir.join("data/tradingbot.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        for secret in [OKX_SECRET, OKX_PASS, OKX_KEY] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} stored in clear"
            );
        }
    }
    let output = bot.output();
    for secret in [BINANCE_SECRET, OKX_SECRET, OKX_PASS, BINANCE_KEY] {
        assert!(!output.contains(secret), "a secret was logged");
    }
}

#[tokio::test]
async fn refuses_keys_that_fail_cannot_trade_or_are_live_before_verification() {
    let v = venues();
    let (_tmp, dir) = workdir();
    let bot = start(&dir, &v);
    let api = Api::new(&bot);
    let u = api.user("careful@example.com").await;

    let wrong = json!({ "exchange": "binance", "api_key": BINANCE_KEY, "api_secret": "not-the-secret", "testnet": true });
    let (status, p) = problem(api.post("/accounts/register", Some(&u.access), wrong).await).await;
    assert_eq!(
        (status, p["code"].as_str()),
        (422, Some("validation_failed"))
    );
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("invalid_credentials")
    );
    let unknown = json!({ "exchange": "binance", "api_key": "nobody", "api_secret": BINANCE_SECRET, "testnet": true });
    assert_eq!(
        problem(
            api.post("/accounts/register", Some(&u.access), unknown)
                .await
        )
        .await
        .0,
        422
    );
    let list: Value = api.get("/accounts", &u.access).await.json().await.unwrap();
    assert!(list.as_array().unwrap().is_empty(), "nothing was saved");

    v.binance
        .venue()
        .accounts
        .get_mut(BINANCE_KEY)
        .unwrap()
        .can_trade = false;
    let good = json!({ "exchange": "binance", "api_key": BINANCE_KEY, "api_secret": BINANCE_SECRET, "testnet": true });
    let (status, p) = problem(
        api.post("/accounts/register", Some(&u.access), good.clone())
            .await,
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("trading permission")
    );
    v.binance
        .venue()
        .accounts
        .get_mut(BINANCE_KEY)
        .unwrap()
        .can_trade = true;
    v.binance
        .venue()
        .accounts
        .get_mut(BINANCE_KEY)
        .unwrap()
        .can_withdraw = true;
    let res = api.post("/accounts/register", Some(&u.access), good).await;
    assert_eq!(res.status(), 201);
    let account: Value = res.json().await.unwrap();
    assert!(
        account["warnings"][0]
            .as_str()
            .unwrap()
            .starts_with("withdrawal_enabled")
    );

    // Validation names the fields.
    let (status, p) = problem(
        api.post(
            "/accounts/register",
            Some(&u.access),
            json!({ "exchange": "kraken" }),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, p["errors"][0]["field"].as_str()),
        (422, Some("exchange"))
    );
    let (_, p) = problem(
        api.post(
            "/accounts/register",
            Some(&u.access),
            json!({ "exchange": "binance", "api_key": "with space" }),
        )
        .await,
    )
    .await;
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["api_key", "api_secret"]);

    // Live keys need a verified email.
    let res = api
        .post(
            "/auth/register",
            None,
            json!({ "email": "fresh@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let t: Value = api
        .login("fresh@example.com", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let fresh = t["access_token"].as_str().unwrap();
    let live =
        json!({ "exchange": "binance", "api_key": BINANCE_KEY, "api_secret": BINANCE_SECRET });
    let (status, p) = problem(
        api.post("/accounts/register", Some(fresh), live.clone())
            .await,
    )
    .await;
    assert_eq!(
        (status, p["code"].as_str()),
        (403, Some("email_not_verified"))
    );
    // Paper and testnet work meanwhile.
    assert_eq!(
        api.post(
            "/accounts/register",
            Some(fresh),
            json!({ "exchange": "paper" })
        )
        .await
        .status(),
        201
    );
    let token = api.mailed_token("fresh@example.com");
    api.post("/auth/verify-email", None, json!({ "token": token }))
        .await;
    assert_eq!(
        api.post("/accounts/register", Some(fresh), live)
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn rotating_the_master_key_re_encrypts_every_secret() {
    use std::os::unix::fs::PermissionsExt;
    let v = venues();
    let (_tmp, dir) = workdir();
    let (id, email, secret) = {
        let bot = start(&dir, &v);
        let api = Api::new(&bot);
        let u = api.user("rotate@example.com").await;
        let res = api
            .post(
                "/accounts/register",
                Some(&u.access),
                json!({ "exchange": "binance", "api_key": BINANCE_KEY, "api_secret": BINANCE_SECRET, "testnet": true }),
            )
            .await;
        assert_eq!(res.status(), 201);
        let id = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        // A TOTP secret is sealed too.
        let setup: Value = api
            .get("/auth/2fa/setup", &u.access)
            .await
            .json()
            .await
            .unwrap();
        let secret = common::api::base32_decode(setup["secret"].as_str().unwrap());
        let res = api
            .post(
                "/auth/2fa/enable",
                Some(&u.access),
                json!({ "code": common::api::totp(&secret, 0) }),
            )
            .await;
        assert_eq!(res.status(), 200);
        let (status, _) = bot.signal_and_wait("TERM");
        assert!(status.success());
        (id, u.email, secret)
    };
    let old_key = std::fs::read_to_string(dir.join("data/master_key")).unwrap();
    let (status, out, err) = run_to_end(&dir, &[], &["rotate-master-key"]);
    assert!(status.success(), "{err}");
    assert!(out.contains("re-encrypted 3 secrets"), "{out}");
    let new_key = std::fs::read_to_string(dir.join("data/master_key")).unwrap();
    assert_ne!(old_key, new_key);
    let mode = std::fs::metadata(dir.join("data/master_key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    assert!(!out.contains(new_key.trim()), "the new key is not printed");

    // The restarted server reads everything with the new key.
    let bot = start(&dir, &v);
    let api = Api::new(&bot);
    let ch: Value = api.login(&email, PASSWORD).await.json().await.unwrap();
    let res = api
        .post(
            "/auth/verify-2fa",
            None,
            json!({ "challenge": ch["challenge"], "code": common::api::totp(&secret, 1) }),
        )
        .await;
    assert_eq!(res.status(), 200, "the TOTP secret decrypts");
    let token: Value = res.json().await.unwrap();
    let res = api
        .post(
            &format!("/accounts/{id}/test"),
            Some(token["access_token"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(res.status(), 200, "the exchange key decrypts");
}

#[test]
fn an_explicit_master_key_is_rotated_to_the_given_one() {
    let (_tmp, dir) = workdir();
    let old = "1111111111111111111111111111111111111111111111111111111111111111";
    let (status, _, err) = run_to_end(
        &dir,
        &[("TRADINGBOT_MASTER_KEY", old)],
        &["rotate-master-key"],
    );
    assert!(!status.success());
    assert!(err.contains("--new-key-file"), "{err}");
    std::fs::write(
        dir.join("new.key"),
        "2222222222222222222222222222222222222222222222222222222222222222\n",
    )
    .unwrap();
    let (status, out, err) = run_to_end(
        &dir,
        &[("TRADINGBOT_MASTER_KEY", old)],
        &["rotate-master-key", "--new-key-file", "new.key"],
    );
    assert!(status.success(), "{err}");
    assert!(out.contains("set TRADINGBOT_MASTER_KEY"), "{out}");
}
