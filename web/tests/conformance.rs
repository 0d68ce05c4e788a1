//! The API answers as its OpenAPI document says: schemathesis (PyPI)
//! generates requests from `/api/v1/openapi.json` against the real binary
//! with a signed-in user, and checks every answer — no server error, every
//! status code, content type, header and body as documented.
//!
//! Operations that end a session or the account (logout, password, 2FA,
//! deletion), the operator's, and the webhook (its own tests cover it) are
//! left out. A third pass checks the other direction — every request the
//! document allows is accepted — on every operation whose rules the
//! document can state; `POSITIVE_EXCLUDED` names the others and why.

mod common;

use common::api::Api;
use common::*;
use std::process::Command;

fn schemathesis() -> Option<String> {
    tool(
        Some("TRADINGBOT_SCHEMATHESIS"),
        &["schemathesis"],
        "pip install schemathesis",
    )
    .map(|p| p.display().to_string())
}

const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_headers_conformance,response_schema_conformance,ignored_auth,\
                      negative_data_rejection";

/// Left out: what ends the session or the account, the operator's, the
/// webhook and the websocket, and the docs' files.
const EXCLUDED: &str = "/auth/(logout|sessions|password|2fa|change-email|verify-email|resend)|\
                        /users/me$|/admin/|/webhook|/ws$|/docs|kill-switch|rotate-secret|/telegram";

/// Operations with a rule that spans fields or refers to stored data,
/// which an OpenAPI document cannot state: a request the document allows
/// may rightly be refused.
const POSITIVE_EXCLUDED: &[(&str, &str)] = &[
    (
        "/positions/history$|/orders$|/signals$|/notifications$",
        "`page` and `cursor` exclude each other",
    ),
    (
        "/performance/|/dashboard/equity",
        "a date range's length is bounded per period",
    ),
    (
        "/strategies$|/strategies/\\{id\\}$|/strategies/simulate|/pine-script/customize|/backtest$",
        "an account or strategy must be yours; template parameters are the template's; a sizing mode needs its own amount",
    ),
    (
        "/accounts/register|/accounts/\\{id\\}$",
        "which credentials are required depends on the exchange",
    ),
    (
        "/auth/register",
        "a password must not contain the email address",
    ),
    (
        "/users/me/security-alerts",
        "critical kinds may only be switched on",
    ),
    (
        "/pine-script/analyze|/pine-script/generate",
        "the script must be Pine Script; the description must name a strategy",
    ),
];

/// Candles and analysis need market data: offline, most windows answer 503
/// `market_data_unavailable` by design.
const MARKET: &str = "/analysis/|/market/";

fn run(tool: &str, bot: &Spawned, token: &str, args: &[&str]) -> (bool, String) {
    // schemathesis keeps a cache where it runs: not in the repository.
    let cwd = tempfile::tempdir().unwrap();
    let out = Command::new(tool)
        .current_dir(cwd.path())
        .args([
            "run",
            &bot.url("/api/v1/openapi.json"),
            "--url",
            &bot.url(""),
            "--header",
            &format!("Authorization: Bearer {token}"),
            "--max-examples",
            "15",
            "--seed",
            "1",
            "--workers",
            "2",
            "--request-timeout",
            "20",
            "--exclude-method",
            "DELETE",
            // The stateful phase infers a link from `POST /backtest`'s
            // `Location` to an unrelated route and stops on it.
            "--phases",
            "examples,coverage,fuzzing",
        ])
        .args(args)
        .output()
        .expect("schemathesis runs");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_answer_is_the_one_the_document_describes() {
    let Some(tool) = schemathesis() else { return };
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(
        &dir,
        &[
            ("TRADINGBOT_MARKET_DATA", "offline"),
            ("TRADINGBOT_RATE_LIMIT_IP", "1000000"),
            ("TRADINGBOT_RATE_LIMIT_USER", "1000000"),
        ],
    );
    let api = Api::new(&bot);
    let u = api.user("conformance@example.com").await;
    // Something to read: an account and a strategy on it.
    let (_, _strategy) = api.paper_strategy(&u, serde_json::json!({})).await;

    let token = u.access.clone();
    let everything_else = format!("{EXCLUDED}|{MARKET}");
    let (ok, out) = tokio::task::block_in_place(|| {
        run(
            &tool,
            &bot,
            &token,
            &["--checks", CHECKS, "--exclude-path-regex", &everything_else],
        )
    });
    assert!(ok, "schemathesis found failures:\n{out}");
    let market_checks = CHECKS.replace("not_a_server_error,", "");
    let (ok, out_market) = tokio::task::block_in_place(|| {
        run(
            &tool,
            &bot,
            &token,
            &["--checks", &market_checks, "--include-path-regex", MARKET],
        )
    });
    assert!(
        ok,
        "schemathesis found failures (market data):\n{out_market}"
    );
    let positive_excluded = POSITIVE_EXCLUDED
        .iter()
        .map(|(paths, _why)| *paths)
        .chain([EXCLUDED, MARKET])
        .collect::<Vec<_>>()
        .join("|");
    let (ok, out_positive) = tokio::task::block_in_place(|| {
        run(
            &tool,
            &bot,
            &token,
            &[
                "--checks",
                "positive_data_acceptance",
                "--exclude-path-regex",
                &positive_excluded,
            ],
        )
    });
    assert!(
        ok,
        "schemathesis found requests the document allows refused:\n{out_positive}"
    );
    let (status, output) = bot.signal_and_wait("TERM");
    assert!(status.success(), "{output}");
    let tested = out
        .lines()
        .find(|l| l.trim_start().starts_with("Tested:"))
        .unwrap_or("")
        .trim()
        .to_owned();
    announce(&format!(
        "conformance: schemathesis found 0 failures ({tested} operations, then the market ones)"
    ));
}
