//! The AI advisor against local OpenAI and Anthropic servers: requests as
//! the services require them, answers parsed, and every way an answer can
//! fail — garbage, an answer outside the schema, 429, 500, too slow —
//! leaving that provider out rather than failing or waiting.

use serde_json::json;
use std::time::{Duration, Instant};
use tradingbot_actors::advisor::{Advisor, Anthropic, Limits, OpenAi, Prompt, Provider, SYSTEM};
use tradingbot_core::analysis::advice::Action;
use tradingbot_testkit::llm::{Api, LocalLlm, Reply};
use zeroize::Zeroizing;

const OPENAI_MODEL: &str = "gpt-4o-mini";
const CLAUDE_MODEL: &str = "claude-3-5-haiku-latest";

fn servers() -> (LocalLlm, LocalLlm) {
    (
        LocalLlm::start(Api::OpenAi, "sk-test-openai", OPENAI_MODEL),
        LocalLlm::start(Api::Anthropic, "sk-ant-test", CLAUDE_MODEL),
    )
}

fn advisor(o: &LocalLlm, a: &LocalLlm, limits: Limits, timeout: Duration) -> Advisor {
    let providers: Vec<Box<dyn Provider>> = vec![
        Box::new(OpenAi::new(
            &o.url,
            OPENAI_MODEL,
            Zeroizing::new("sk-test-openai".into()),
            timeout,
        )),
        Box::new(Anthropic::new(
            &a.url,
            CLAUDE_MODEL,
            Zeroizing::new("sk-ant-test".into()),
            timeout,
        )),
    ];
    Advisor::new(providers, limits)
}

fn roomy() -> Limits {
    Limits {
        monthly_tokens: 1_000_000,
        calls_per_minute: 100,
        cache_for: Duration::from_secs(300),
    }
}

fn prompt() -> Prompt {
    Prompt {
        system: SYSTEM.into(),
        data: json!({ "symbol": "BTCUSDT", "position": { "side": "long", "entry_price": 43000.0 }, "technical": { "score": -0.6 } }),
    }
}

#[tokio::test]
async fn both_models_vote_through_their_own_apis() {
    let (o, a) = servers();
    o.script(Reply::Vote(
        json!({ "action": "close", "confidence": 0.8, "reasons": ["breakdown below support"] }),
    ));
    a.script(Reply::Vote(json!({ "action": "reduce", "confidence": 0.7, "reasons": ["momentum fading", "volume spike"] })));
    let adv = advisor(&o, &a, roomy(), Duration::from_secs(5));
    assert_eq!(adv.providers(), ["openai", "anthropic"]);
    let v = adv.votes("BTCUSDT:1h:long", &prompt()).await;
    let (votes, missing) = (&v.0, &v.1);
    assert!(missing.is_empty(), "{missing:?}");
    assert_eq!(votes.len(), 2);
    assert_eq!(
        (
            votes[0].source.as_str(),
            votes[0].action,
            votes[0].confidence
        ),
        ("openai", Action::Close, 0.8)
    );
    assert_eq!(
        (votes[1].source.as_str(), votes[1].action),
        ("anthropic", Action::Reduce)
    );
    assert_eq!(votes[1].reasons.len(), 2);
    assert_eq!(adv.usage(), [("openai", 150), ("anthropic", 150)]);
    // The data went in as structured JSON, with the instructions.
    let req = &o.received()[0];
    let user = req.body["messages"][1]["content"].as_str().unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(user).unwrap()["position"]["side"],
        "long"
    );
    assert_eq!(req.body["messages"][0]["content"], SYSTEM);
    let claude = &a.received()[0];
    assert!(
        claude
            .headers
            .iter()
            .any(|(k, v)| k == "anthropic-version" && v == "2023-06-01")
    );
    assert_eq!(claude.body["system"], SYSTEM);
    // Within the cache time, the same subject is not asked again.
    let again = adv.votes("BTCUSDT:1h:long", &prompt()).await;
    assert_eq!(again.0.len(), 2);
    assert_eq!(o.received().len() + a.received().len(), 2);
}

#[tokio::test]
async fn failures_leave_the_provider_out() {
    let (o, a) = servers();
    let adv = advisor(&o, &a, roomy(), Duration::from_secs(1));
    let cases = [
        (
            Reply::Garbage,
            Reply::Garbage,
            "answer discarded",
            "answer discarded",
        ),
        (
            Reply::Vote(json!({ "action": "panic", "confidence": 0.9, "reasons": ["?"] })),
            Reply::Vote(json!({ "action": "close", "confidence": 1.7, "reasons": ["?"] })),
            "`action` is not hold",
            "`confidence` is not a number from 0 to 1",
        ),
        (
            Reply::Status(429),
            Reply::Status(429),
            "rate limited (retry in 7 s)",
            "rate limited (retry in 7 s)",
        ),
        (
            Reply::Status(500),
            Reply::Status(529),
            "server error 500",
            "server error 503",
        ),
        (
            Reply::Slow(Duration::from_secs(3)),
            Reply::Slow(Duration::from_secs(3)),
            "no answer within 1 s",
            "no answer within 1 s",
        ),
    ];
    for (i, (ro, ra, eo, ea)) in cases.into_iter().enumerate() {
        o.script(ro);
        a.script(ra);
        let started = Instant::now();
        let v = adv.votes(&format!("case-{i}"), &prompt()).await;
        assert!(
            started.elapsed() < Duration::from_millis(2500),
            "waited {:?}",
            started.elapsed()
        );
        assert!(v.0.is_empty(), "case {i}: {:?}", v.0);
        let reasons: Vec<&str> = v.1.iter().map(|m| m.reason.as_str()).collect();
        assert!(reasons[0].contains(eo), "case {i}: {reasons:?}");
        assert!(reasons[1].contains(ea), "case {i}: {reasons:?}");
    }
    // One provider failing does not take the other down.
    o.script(Reply::Status(500));
    let v = adv.votes("mixed", &prompt()).await;
    assert_eq!(v.0.len(), 1);
    assert_eq!(v.0[0].source, "anthropic");
    assert_eq!(v.1[0].source, "openai");
}

#[tokio::test]
async fn budgets_and_rate_limits_are_kept() {
    let (o, a) = servers();
    let adv = advisor(
        &o,
        &a,
        Limits {
            monthly_tokens: 150,
            calls_per_minute: 100,
            cache_for: Duration::from_secs(300),
        },
        Duration::from_secs(5),
    );
    assert_eq!(adv.votes("first", &prompt()).await.0.len(), 2);
    let v = adv.votes("second", &prompt()).await;
    assert!(v.0.is_empty());
    assert!(
        v.1.iter()
            .all(|m| m.reason.contains("monthly budget of 150 tokens")),
        "{:?}",
        v.1
    );
    assert_eq!(o.received().len(), 1, "no request past the budget");

    let (o, a) = servers();
    let adv = advisor(
        &o,
        &a,
        Limits {
            monthly_tokens: 1_000_000,
            calls_per_minute: 1,
            cache_for: Duration::from_secs(300),
        },
        Duration::from_secs(5),
    );
    assert_eq!(adv.votes("first", &prompt()).await.0.len(), 2);
    let v = adv.votes("second", &prompt()).await;
    assert!(
        v.1.iter()
            .all(|m| m.reason.contains("more than 1 calls this minute")),
        "{:?}",
        v.1
    );
}

#[tokio::test]
async fn a_wrong_key_is_refused_like_the_service_does() {
    let (o, a) = servers();
    let providers: Vec<Box<dyn Provider>> = vec![
        Box::new(OpenAi::new(
            &o.url,
            OPENAI_MODEL,
            Zeroizing::new("sk-wrong".into()),
            Duration::from_secs(5),
        )),
        Box::new(Anthropic::new(
            &a.url,
            "claude-unknown",
            Zeroizing::new("sk-ant-test".into()),
            Duration::from_secs(5),
        )),
    ];
    let adv = Advisor::new(providers, roomy());
    let v = adv.votes("k", &prompt()).await;
    assert!(v.1[0].reason.contains("refused (401)"), "{:?}", v.1);
    assert!(v.1[1].reason.contains("refused (404)"), "{:?}", v.1);
    assert!(!v.1[0].reason.contains("sk-wrong"));
}
