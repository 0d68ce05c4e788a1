//! Shared-state backends: the in-process ones always, the Redis ones against
//! a real Redis when `TEST_REDIS_URL` is set (CI sets it).

use std::time::Duration;
use tradingbot_actors::kv::rate_limit::InProcessRateLimit;
use tradingbot_actors::kv::revocation::InProcessRevocations;
use tradingbot_actors::kv::{
    Admission, Gate, GateRules, RateLimit, RateLimiter, Redis, Revocations, Revoke, WebhookGate,
};
use tradingbot_actors::store::testing::{announce, announce_skip};

/// Two pools on one namespace, like two instances of one deployment.
async fn two_instances() -> Option<(Redis, Redis)> {
    let url = std::env::var("TEST_REDIS_URL").ok()?;
    let prefix = unique("test");
    let connect = || async {
        Redis::connect(&url, &prefix, 4)
            .await
            .expect("connect to TEST_REDIS_URL")
    };
    Some((connect().await, connect().await))
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

async fn budget_contract(a: &impl RateLimit, b: &impl RateLimit) {
    let key = unique("ip");
    let w = Duration::from_secs(60);
    // `a` and `b` stand for two instances: they spend one budget.
    for i in 0..5 {
        let d = if i % 2 == 0 {
            a.hit(&key, 5, w).await
        } else {
            b.hit(&key, 5, w).await
        }
        .unwrap();
        assert!(d.allowed, "hit {i}");
        assert_eq!(d.remaining, 4 - i);
        assert!(d.reset_after <= w && d.reset_after > Duration::from_secs(50));
    }
    let d = b.hit(&key, 5, w).await.unwrap();
    assert!(!d.allowed);
    assert_eq!((d.limit, d.remaining), (5, 0));

    // A short window refills.
    let key = unique("short");
    let w = Duration::from_millis(300);
    assert!(a.hit(&key, 1, w).await.unwrap().allowed);
    assert!(!b.hit(&key, 1, w).await.unwrap().allowed);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(b.hit(&key, 1, w).await.unwrap().allowed);
}

async fn revocation_contract(a: &impl Revoke, b: &impl Revoke) {
    let jti = unique("jti");
    assert!(!a.is_revoked(&jti, 1, 100).await.unwrap());
    a.deny_token(&jti, Duration::from_secs(60)).await.unwrap();
    assert!(b.is_revoked(&jti, 1, 100).await.unwrap());

    let user = rand_user();
    b.revoke_user(user, 1_000, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(
        a.is_revoked(&unique("x"), user, 999).await.unwrap(),
        "issued before"
    );
    assert!(
        a.is_revoked(&unique("x"), user, 1_000).await.unwrap(),
        "issued at"
    );
    assert!(
        !a.is_revoked(&unique("x"), user, 1_001).await.unwrap(),
        "issued after"
    );
    assert!(
        !a.is_revoked(&unique("x"), user + 1, 999).await.unwrap(),
        "another user"
    );

    let once = unique("challenge");
    assert!(a.use_once(&once, Duration::from_secs(60)).await.unwrap());
    assert!(!b.use_once(&once, Duration::from_secs(60)).await.unwrap());
}

fn rand_user() -> i64 {
    (uuid::Uuid::new_v4().as_u128() % 1_000_000_000) as i64 + 1
}

#[tokio::test]
async fn in_process_budgets() {
    let l = InProcessRateLimit::default();
    budget_contract(&l, &l).await;
}

#[tokio::test]
async fn in_process_revocations() {
    let r = InProcessRevocations::default();
    revocation_contract(&r, &r).await;
}

#[tokio::test]
async fn redis_budgets_are_shared_between_instances() {
    let Some((r1, r2)) = two_instances().await else {
        return announce_skip(
            "redis_budgets_are_shared_between_instances",
            "TEST_REDIS_URL",
        );
    };
    let (a, b) = (RateLimiter::new(Some(&r1)), RateLimiter::new(Some(&r2)));
    assert!(matches!(a, RateLimiter::Redis(_)));
    budget_contract(&a, &b).await;
    announce(&format!(
        "redis: two rate limiters on separate pools shared one budget (Redis {})",
        r1.server_version().await.unwrap()
    ));
}

#[tokio::test]
async fn redis_revocations_are_shared_between_instances() {
    let Some((r1, r2)) = two_instances().await else {
        return announce_skip(
            "redis_revocations_are_shared_between_instances",
            "TEST_REDIS_URL",
        );
    };
    let (a, b) = (Revocations::new(Some(&r1)), Revocations::new(Some(&r2)));
    revocation_contract(&a, &b).await;
    announce("redis: token revocations seen across instances");
}

#[tokio::test]
async fn redis_namespaces_keep_deployments_apart() {
    let Some((r1, _)) = two_instances().await else {
        return announce_skip("redis_namespaces_keep_deployments_apart", "TEST_REDIS_URL");
    };
    let url = std::env::var("TEST_REDIS_URL").unwrap();
    let other = Redis::connect(&url, &unique("other"), 2).await.unwrap();
    let (mine, theirs) = (RateLimiter::new(Some(&r1)), RateLimiter::new(Some(&other)));
    let w = Duration::from_secs(60);
    assert!(mine.hit("same-key", 1, w).await.unwrap().allowed);
    assert!(!mine.hit("same-key", 1, w).await.unwrap().allowed);
    assert!(theirs.hit("same-key", 1, w).await.unwrap().allowed);
    let (mine, theirs) = (Revocations::new(Some(&r1)), Revocations::new(Some(&other)));
    mine.revoke_user(1, 1_000, w).await.unwrap();
    assert!(mine.is_revoked("j", 1, 999).await.unwrap());
    assert!(!theirs.is_revoked("j", 1, 999).await.unwrap());
}

async fn gate_contract(a: &impl Gate, b: &impl Gate) {
    let strategy = rand_user();
    let rules = GateRules {
        limit: 3,
        window: Duration::from_secs(60),
        replay_ttl: Duration::from_secs(600),
    };
    assert_eq!(
        a.admit(strategy, "id:1", rules).await.unwrap(),
        Admission::Admitted
    );
    // The same alert again, through the other instance: a duplicate, and free.
    assert_eq!(
        b.admit(strategy, "id:1", rules).await.unwrap(),
        Admission::Duplicate
    );
    assert_eq!(
        b.admit(strategy, "id:2", rules).await.unwrap(),
        Admission::Admitted
    );
    assert_eq!(
        a.admit(strategy, "id:3", rules).await.unwrap(),
        Admission::Admitted
    );
    // Over budget: throttled, and the id is not burnt.
    assert!(matches!(
        b.admit(strategy, "id:4", rules).await.unwrap(),
        Admission::Throttled { retry_after } if retry_after <= Duration::from_secs(60)
    ));
    // Another strategy has its own budget and its own ids.
    assert_eq!(
        a.admit(strategy + 1, "id:1", rules).await.unwrap(),
        Admission::Admitted
    );
    // A forgotten alert may come again.
    a.forget(strategy, "id:1").await.unwrap();
    let short = GateRules {
        window: Duration::from_millis(200),
        ..rules
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(matches!(
        b.admit(strategy, "id:1", rules).await.unwrap(),
        Admission::Throttled { .. }
    ));
    let other = rand_user();
    for i in 0..3 {
        assert_eq!(
            a.admit(other, &format!("k{i}"), short).await.unwrap(),
            Admission::Admitted
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        b.admit(other, "k9", short).await.unwrap(),
        Admission::Admitted
    );
    assert_eq!(
        a.admit(other, "k0", short).await.unwrap(),
        Admission::Duplicate
    );
}

#[tokio::test]
async fn in_process_webhook_gate() {
    let g = tradingbot_actors::kv::webhook_gate::InProcessGate::default();
    gate_contract(&g, &g).await;
}

#[tokio::test]
async fn redis_webhook_gate_is_shared_and_atomic() {
    let Some((r1, r2)) = two_instances().await else {
        return announce_skip("redis_webhook_gate_is_shared_and_atomic", "TEST_REDIS_URL");
    };
    let (a, b) = (WebhookGate::new(Some(&r1)), WebhookGate::new(Some(&r2)));
    assert!(matches!(a, WebhookGate::Redis(_)));
    gate_contract(&a, &b).await;
    // Many concurrent deliveries of one alert: exactly one is admitted.
    let strategy = rand_user();
    let rules = GateRules {
        limit: 1000,
        window: Duration::from_secs(60),
        replay_ttl: Duration::from_secs(600),
    };
    let (a, b) = (std::sync::Arc::new(a), std::sync::Arc::new(b));
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let g = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { g.admit(strategy, "same", rules).await.unwrap() })
        })
        .collect();
    let mut admitted = 0;
    for t in tasks {
        if t.await.unwrap() == Admission::Admitted {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 1);
    announce("redis: one alert delivered 40 times to two instances was admitted once");
}

/// Instances mint ids apart: each claims its own id slot, a restarted one
/// (same instance id) takes its own back, and a seventeenth finds none.
#[tokio::test]
async fn instances_claim_distinct_id_slots() {
    use tradingbot_actors::cluster::{Cluster, ClusterError, ID_SLOTS};
    let Some((redis, _)) = two_instances().await else {
        return announce_skip("instances_claim_distinct_id_slots", "TEST_REDIS_URL");
    };
    let member = |n: usize| {
        Cluster::new(
            redis.clone(),
            format!("i{n}"),
            format!("http://10.0.0.{n}:8001"),
        )
    };
    let mut slots = Vec::new();
    for n in 0..usize::from(ID_SLOTS) {
        slots.push(member(n).claim_id_slot().await.unwrap());
    }
    let mut distinct = slots.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), usize::from(ID_SLOTS), "{slots:?}");
    // Restarted: the same instance id finds its slot.
    assert_eq!(member(3).claim_id_slot().await.unwrap(), slots[3]);
    assert!(matches!(
        member(99).claim_id_slot().await,
        Err(ClusterError::NoIdSlot)
    ));
    announce(
        "id slots: 16 instances mint apart, a restarted one keeps its slot, a 17th is refused",
    );
}
