//! Several instances on one PostgreSQL and one Redis, against the local
//! Binance venue: started together on an empty database, they split the
//! users between them; an alert sent to any of them trades once, on the
//! instance that owns its user, with the right size; a strategy edited on
//! one applies to an alert sent to another within a second; when an owner
//! is killed another takes its users over and trades for them, with no
//! order twice and every position still protected.

mod common;

use common::api::{Api, Session, json_of as json};
use common::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tradingbot_testkit::binance::LocalBinance;

const USERS: usize = 6;

/// One cluster at a time: each test runs several instances, and a
/// handover timed on two cores must not be timing another test's too.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn key(i: usize) -> (String, String) {
    (
        format!("clusterKey{i:02}{}", "k".repeat(52)),
        format!("clusterSecret{i:02}{}", "s".repeat(49)),
    )
}

async fn instance_id(bot: &Spawned) -> String {
    let h: Value = client()
        .get(bot.url("/api/v1/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    h["cluster"]["instance"].as_str().unwrap().to_owned()
}

/// Posts `body` to `strategy`'s webhook on `bot`: status, answer, and the
/// instance that executed it.
async fn post(bot: &Spawned, strategy: &Value, body: String) -> (u16, Value, String) {
    let url = strategy["webhook_url"].as_str().unwrap();
    let url = format!("{}{}", bot.base, &url[url.find("/api/").unwrap()..]);
    let res = client()
        .post(url)
        .header("content-type", "text/plain")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let by = res
        .headers()
        .get("x-tradingbot-instance")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, res.json().await.unwrap_or(Value::Null), by)
}

fn amount(venue: &LocalBinance, i: usize) -> Decimal {
    venue.venue().accounts[key(i).0.as_str()]
        .positions
        .get("BTCUSDT")
        .map_or(Decimal::ZERO, |p| p.amt)
}

fn entries(venue: &LocalBinance, i: usize) -> Vec<(String, Decimal)> {
    venue.venue().accounts[key(i).0.as_str()]
        .orders
        .iter()
        .filter(|o| o.client_id.ends_with('e'))
        .map(|o| (o.client_id.clone(), o.qty))
        .collect()
}

fn stops(venue: &LocalBinance, i: usize) -> usize {
    venue.venue().accounts[key(i).0.as_str()]
        .algos
        .iter()
        .filter(|a| a.status == "NEW" && a.kind == "STOP_MARKET")
        .count()
}

/// Instances started at the same moment (on an empty database, the
/// migrations race), once they agree on who owns what; with their ids.
async fn start_together(
    dirs: &[(tempfile::TempDir, std::path::PathBuf)],
    env: &[(&str, &str)],
) -> (Vec<Option<Spawned>>, Vec<String>) {
    let bots: Vec<Option<Spawned>> = std::thread::scope(|s| {
        let handles: Vec<_> = dirs
            .iter()
            .map(|(_, dir)| s.spawn(move || Spawned::start(dir, env)))
            .collect();
        handles
            .into_iter()
            .map(|h| Some(h.join().unwrap()))
            .collect()
    });
    settled_cluster(&bots.iter().flatten().collect::<Vec<_>>()).await;
    let mut ids = Vec::new();
    for b in bots.iter().flatten() {
        ids.push(instance_id(b).await);
    }
    (bots, ids)
}

async fn until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn three_instances_share_the_users_and_take_over_from_a_dead_one() {
    let _serial = SERIAL.lock().await;
    let Some(db) = TestDatabase::postgres().await else {
        return announce_skip("three_instances_share_the_users…", "TEST_DATABASE_URL");
    };
    let Ok(redis) = std::env::var("TEST_REDIS_URL") else {
        db.cleanup().await;
        return announce_skip("three_instances_share_the_users…", "TEST_REDIS_URL");
    };
    let venue = LocalBinance::start();
    for i in 0..USERS {
        let (k, s) = key(i);
        venue.add_account(&k, &s, dec!(10000));
    }
    let prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
    let mut env: Vec<(&str, &str)> = vec![
        ("DATABASE_URL", db.url.as_str()),
        ("REDIS_URL", redis.as_str()),
        ("TRADINGBOT_REDIS_PREFIX", prefix.as_str()),
        ("TRADINGBOT_RATE_LIMIT_IP", "100000"),
        ("TRADINGBOT_RATE_LIMIT_USER", "100000"),
        ("TRADINGBOT_RATE_LIMIT_WEBHOOK", "100000"),
    ];
    env.extend_from_slice(&SHARED_SECRETS);
    env.extend(common::venues::env(Some(&venue), None));
    // Started together on an empty database.
    let dirs: Vec<(tempfile::TempDir, std::path::PathBuf)> = (0..3).map(|_| workdir()).collect();
    let (mut bots, ids) = start_together(&dirs, &env).await;

    // Users, each made through one instance or another.
    let mut sessions: Vec<Session> = Vec::new();
    let mut strategies: Vec<Value> = Vec::new();
    for i in 0..USERS {
        let bot = bots[i % 3].as_ref().unwrap();
        let api = Api::new(bot);
        let u = api.user(&format!("cluster{i}@example.com")).await;
        let (k, s) = key(i);
        let res = api
            .post(
                "/accounts/register",
                Some(&u.access),
                json!({ "exchange": "binance", "api_key": k, "api_secret": s, "testnet": true }),
            )
            .await;
        assert_eq!(res.status(), 201);
        let account = json(res).await["id"].as_i64().unwrap();
        let res = api
            .post(
                "/strategies",
                Some(&u.access),
                json!({ "name": "cluster", "symbol": "BTCUSDT", "account_id": account,
                        "investment_pct": 10, "leverage": 3 }),
            )
            .await;
        assert_eq!(res.status(), 201);
        strategies.push(json(res).await);
        sessions.push(u);
    }

    // Every user's alert to an instance it was not made on: traded once,
    // by its owner, sized right, protected.
    let mut owner: HashMap<usize, String> = HashMap::new();
    let mut forwarded = 0;
    for (i, s) in strategies.iter().enumerate() {
        let at = (i + 1) % 3;
        let body = common::api::tv_alert(s, "buy", "long", &format!("L{i}"));
        let (status, answer, by) = post(bots[at].as_ref().unwrap(), s, body.clone()).await;
        assert_eq!(status, 202, "user {i}: {answer}");
        assert!(ids.contains(&by), "{by}");
        forwarded += usize::from(by != ids[at]);
        owner.insert(i, by);
        // The same alert again, to every instance: a duplicate everywhere.
        for b in bots.iter().flatten() {
            let (status, answer, _) = post(b, s, body.clone()).await;
            assert_eq!(status, 200, "{answer}");
        }
    }
    assert!(
        forwarded > 0,
        "some alerts went to an instance not owning their user"
    );
    assert!(
        owner
            .values()
            .collect::<std::collections::HashSet<_>>()
            .len()
            > 1,
        "the users are shared between instances: {owner:?}"
    );
    for i in 0..USERS {
        until(
            "every entry filled and protected",
            Duration::from_secs(10),
            || amount(&venue, i) == dec!(0.069) && stops(&venue, i) == 1,
        )
        .await;
        assert_eq!(entries(&venue, i).len(), 1);
    }

    // An edit on one instance is applied by the owner at once, whichever
    // instance the next alert reaches.
    let s0 = &strategies[0];
    let (status, _, _) = post(
        bots[2].as_ref().unwrap(),
        s0,
        common::api::tv_alert(s0, "sell", "flat", "C0"),
    )
    .await;
    assert_eq!(status, 202);
    until("user 0 flat", Duration::from_secs(10), || {
        amount(&venue, 0).is_zero()
    })
    .await;
    let edited_at = Instant::now();
    let res = client()
        .put(
            bots[1]
                .as_ref()
                .unwrap()
                .url(&format!("/api/v1/strategies/{}", s0["id"])),
        )
        .bearer_auth(&sessions[0].access)
        .json(&json!({ "investment_pct": 20 }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, answer, _) = post(
        bots[0].as_ref().unwrap(),
        s0,
        common::api::tv_alert(s0, "buy", "long", "L0b"),
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    assert!(edited_at.elapsed() < Duration::from_secs(1));
    until(
        "user 0 long at the new size",
        Duration::from_secs(10),
        || amount(&venue, 0) == dec!(0.139),
    )
    .await;

    // The owner of user 0 dies; its users move to the others.
    let victim = ids.iter().position(|id| *id == owner[&0]).unwrap();
    let killed_at = Instant::now();
    let (status, _) = bots[victim].take().unwrap().signal_and_wait("KILL");
    assert!(!status.success());
    let survivor = bots.iter().flatten().next().unwrap();
    let close = common::api::tv_alert(s0, "sell", "flat", "C0b");
    let takeover = loop {
        let (status, answer, by) = post(survivor, s0, close.clone()).await;
        match status {
            202 => {
                assert_ne!(by, owner[&0]);
                break killed_at.elapsed();
            }
            // Moving: the alert was not traded and may be sent again.
            503 => assert_eq!(answer["code"], "owner_unavailable", "{answer}"),
            other => panic!("{other}: {answer}"),
        }
        assert!(killed_at.elapsed() < Duration::from_secs(20), "no takeover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    until(
        "user 0 closed by the new owner",
        Duration::from_secs(10),
        || amount(&venue, 0).is_zero(),
    )
    .await;
    // Nothing twice, everything still protected.
    for i in 0..USERS {
        let e = entries(&venue, i);
        let mut ids: Vec<&String> = e.iter().map(|(c, _)| c).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), e.len(), "user {i}: an entry sent twice");
        if i != 0 {
            until(
                "protected after the takeover",
                Duration::from_secs(10),
                || amount(&venue, i) == dec!(0.069) && stops(&venue, i) == 1,
            )
            .await;
        }
    }
    let closes = venue.venue().accounts[key(0).0.as_str()]
        .orders
        .iter()
        .filter(|o| o.client_id.ends_with('c'))
        .count();
    assert_eq!(closes, 2, "one close per close alert");
    drop(bots);
    db.cleanup().await;
    announce(&format!(
        "three instances: {forwarded} of {USERS} alerts forwarded to their owner, an edit applied \
         across instances, takeover after a kill -9 in {} ms",
        takeover.as_millis()
    ));
}

/// An owner paused past its lease (SIGSTOP: a frozen VM, a long pause)
/// does not act when it resumes: the shard has another owner, and an alert
/// that reached the paused instance is executed by the new owner, once.
#[tokio::test]
async fn a_paused_owner_does_not_act_when_it_resumes() {
    let _serial = SERIAL.lock().await;
    let Some(db) = TestDatabase::postgres().await else {
        return announce_skip("a_paused_owner_does_not_act…", "TEST_DATABASE_URL");
    };
    let Ok(redis) = std::env::var("TEST_REDIS_URL") else {
        db.cleanup().await;
        return announce_skip("a_paused_owner_does_not_act…", "TEST_REDIS_URL");
    };
    let venue = LocalBinance::start();
    let (k, s) = key(0);
    venue.add_account(&k, &s, dec!(10000));
    let prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
    let mut env: Vec<(&str, &str)> = vec![
        ("DATABASE_URL", db.url.as_str()),
        ("REDIS_URL", redis.as_str()),
        ("TRADINGBOT_REDIS_PREFIX", prefix.as_str()),
        ("TRADINGBOT_RATE_LIMIT_IP", "100000"),
        ("TRADINGBOT_RATE_LIMIT_USER", "100000"),
    ];
    env.extend_from_slice(&SHARED_SECRETS);
    env.extend(common::venues::env(Some(&venue), None));
    let (_t1, d1) = workdir();
    let (_t2, d2) = workdir();
    let bots = [Spawned::start(&d1, &env), Spawned::start(&d2, &env)];
    settled_cluster(&[&bots[0], &bots[1]]).await;
    let ids = [instance_id(&bots[0]).await, instance_id(&bots[1]).await];
    let api = Api::new(&bots[0]);
    let u = api.user("paused@example.com").await;
    let res = api
        .post(
            "/accounts/register",
            Some(&u.access),
            json!({ "exchange": "binance", "api_key": k, "api_secret": s, "testnet": true }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let account = json(res).await["id"].as_i64().unwrap();
    let res = api
        .post(
            "/strategies",
            Some(&u.access),
            json!({ "name": "paused", "symbol": "BTCUSDT", "account_id": account }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let strategy = json(res).await;
    // Who owns the user: the instance that executes its first alert.
    let (status, answer, by) = post(
        &bots[1],
        &strategy,
        common::api::tv_alert(&strategy, "buy", "long", "P1"),
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    until("a protected long", Duration::from_secs(10), || {
        amount(&venue, 0) == dec!(0.069) && stops(&venue, 0) == 1
    })
    .await;
    let owner = ids.iter().position(|i| *i == by).unwrap();
    let other = 1 - owner;
    // The owner freezes; an alert reaches it meanwhile and waits in its
    // socket.
    bots[owner].signal("STOP");
    let close = common::api::tv_alert(&strategy, "sell", "flat", "P2");
    let url = {
        let u = strategy["webhook_url"].as_str().unwrap();
        format!("{}{}", bots[owner].base, &u[u.find("/api/").unwrap()..])
    };
    let stuck = tokio::spawn(async move {
        let res = client()
            .post(url)
            .header("content-type", "text/plain")
            .body(close)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .unwrap();
        let by = res
            .headers()
            .get("x-tradingbot-instance")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (res.status().as_u16(), by)
    });
    // Its lease passes to the other instance.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let h: Value = client()
            .get(bots[other].url("/api/v1/health"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if h["cluster"]["owned_shards"] == 64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no takeover from the paused owner"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let requests_before = venue.requests().len();
    bots[owner].signal("CONT");
    let (status, executed_by) = stuck.await.unwrap();
    assert_eq!(status, 202);
    assert_eq!(
        executed_by, ids[other],
        "the alert the paused owner received was executed by the new owner"
    );
    until("closed once", Duration::from_secs(10), || {
        amount(&venue, 0).is_zero()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    {
        let v = venue.venue();
        let a = &v.accounts[k.as_str()];
        assert_eq!(
            a.orders
                .iter()
                .filter(|o| o.client_id.ends_with('e'))
                .count(),
            1
        );
        assert_eq!(
            a.orders
                .iter()
                .filter(|o| o.client_id.ends_with('c'))
                .count(),
            1
        );
        assert!(
            !a.algos.iter().any(|x| x.status == "NEW"),
            "nothing rests after the close"
        );
        assert!(v.requests.len() > requests_before);
    }
    let metrics = client()
        .get(bots[owner].url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("cluster_leases_lost_total") && !l.ends_with(" 0")),
        "the resumed owner saw its leases gone"
    );
    drop(bots);
    db.cleanup().await;
    announce(
        "a paused owner resumed without acting: its alert was executed once, by the new owner",
    );
}

/// Instances join and leave (SIGTERM) while alerts keep coming: the shards
/// they take or give move without a gap — every alert is executed once (or
/// refused for a trading reason), none is lost to the move.
#[tokio::test]
async fn instances_join_and_leave_without_losing_an_alert() {
    let _serial = SERIAL.lock().await;
    let Some(db) = TestDatabase::postgres().await else {
        return announce_skip("instances_join_and_leave…", "TEST_DATABASE_URL");
    };
    let Ok(redis) = std::env::var("TEST_REDIS_URL") else {
        db.cleanup().await;
        return announce_skip("instances_join_and_leave…", "TEST_REDIS_URL");
    };
    const N: usize = 4;
    let venue = LocalBinance::start();
    for i in 0..N {
        let (k, s) = key(i);
        venue.add_account(&k, &s, dec!(10000));
    }
    let prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
    let mut env: Vec<(&str, &str)> = vec![
        ("DATABASE_URL", db.url.as_str()),
        ("REDIS_URL", redis.as_str()),
        ("TRADINGBOT_REDIS_PREFIX", prefix.as_str()),
        ("TRADINGBOT_RATE_LIMIT_IP", "100000"),
        ("TRADINGBOT_RATE_LIMIT_USER", "100000"),
        ("TRADINGBOT_RATE_LIMIT_WEBHOOK", "100000"),
        ("TRADINGBOT_SHUTDOWN_TIMEOUT_SECS", "10"),
    ];
    env.extend_from_slice(&SHARED_SECRETS);
    env.extend(common::venues::env(Some(&venue), None));
    let dirs: Vec<(tempfile::TempDir, std::path::PathBuf)> = (0..3).map(|_| workdir()).collect();
    let a = Spawned::start(&dirs[0].1, &env);
    let b = Spawned::start(&dirs[1].1, &env);
    settled_cluster(&[&a, &b]).await;
    let api = Api::new(&a);
    let mut strategies = Vec::new();
    for i in 0..N {
        let u = api.user(&format!("moving{i}@example.com")).await;
        let (k, s) = key(i);
        let res = api
            .post(
                "/accounts/register",
                Some(&u.access),
                json!({ "exchange": "binance", "api_key": k, "api_secret": s, "testnet": true }),
            )
            .await;
        assert_eq!(res.status(), 201);
        let account = json(res).await["id"].as_i64().unwrap();
        let res = api
            .post(
                "/strategies",
                Some(&u.access),
                json!({ "name": "moving", "symbol": "BTCUSDT", "account_id": account }),
            )
            .await;
        assert_eq!(res.status(), 201);
        strategies.push(json(res).await);
    }
    // Where alerts go: the live instances, in turn.
    let targets = std::sync::Arc::new(std::sync::Mutex::new(vec![a.base.clone(), b.base.clone()]));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let loader = {
        let (targets, stop, strategies) = (targets.clone(), stop.clone(), strategies.clone());
        tokio::spawn(async move {
            let mut answers: Vec<(u16, String)> = Vec::new();
            let mut n = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for (i, s) in strategies.iter().enumerate() {
                    n += 1;
                    let (action, position) = if (n / N).is_multiple_of(2) {
                        ("buy", "long")
                    } else {
                        ("sell", "flat")
                    };
                    let body = common::api::tv_alert(s, action, position, &format!("m{i}-{n}"));
                    let url = s["webhook_url"].as_str().unwrap();
                    let path = &url[url.find("/api/").unwrap()..];
                    // Like nginx: a refused connection (an instance that
                    // stopped listening) goes to the next instance; an
                    // alert that reached one is never sent again.
                    let mut attempt = n;
                    let answer = loop {
                        let base = {
                            let t = targets.lock().unwrap();
                            t[attempt % t.len()].clone()
                        };
                        match client()
                            .post(format!("{base}{path}"))
                            .header("content-type", "text/plain")
                            .body(body.clone())
                            .send()
                            .await
                        {
                            Ok(res) => {
                                let status = res.status().as_u16();
                                break (status, res.text().await.unwrap_or_default());
                            }
                            Err(e) if e.is_connect() && attempt < n + 6 => attempt += 1,
                            Err(e) => break (0, e.to_string()),
                        }
                    };
                    answers.push((answer.0, format!("{} at {}", answer.1, chrono::Utc::now())));
                }
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            answers
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    // One joins ...
    let c = Spawned::start(&dirs[2].1, &env);
    targets.lock().unwrap().push(c.base.clone());
    settled_cluster(&[&a, &b, &c]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    // ... and one leaves: as an operator does it, nginx stops sending to it
    // first, and what was already on its way is answered before SIGTERM (a
    // request written to a keep-alive connection the server is closing
    // fails unanswered — HTTP's race, not the service's).
    targets.lock().unwrap().retain(|t| *t != b.base);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let b_base = b.base.clone();
    let stopped_at = chrono::Utc::now();
    let (status, b_out) = b.signal_and_wait("TERM");
    assert!(status.success(), "{b_out}");
    settled_cluster(&[&a, &c]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let answers = loader.await.unwrap();
    let lost: Vec<&(u16, String)> = answers
        .iter()
        .filter(|(s, body)| {
            !(*s == 202
                || (*s == 409
                    && (body.contains("already_in_position")
                        || body.contains("no_open_position")
                        || body.contains("order_in_flight"))))
        })
        .collect();
    if !lost.is_empty() {
        // When each instance moved what: to tell a slow handover's part.
        let moves = |name: &str, out: &str| {
            out.lines()
                .filter(|l| l.contains("shard") || l.contains("brought users up"))
                .map(|l| format!("{name}: {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        panic!(
            "alerts lost to a move: {lost:?}\n(a {}, b {}, c {}; b stopped at {stopped_at})\n{}\n{}\n{}",
            a.base,
            b_base,
            c.base,
            moves("a", &a.output()),
            moves("b", &b_out),
            moves("c", &c.output())
        );
    }
    let accepted = answers.iter().filter(|(s, _)| *s == 202).count();
    for i in 0..N {
        until("settled and protected", Duration::from_secs(10), || {
            let amt = amount(&venue, i);
            let resting = venue.venue().accounts[key(i).0.as_str()]
                .algos
                .iter()
                .filter(|x| x.status == "NEW")
                .count();
            if amt.is_zero() {
                resting == 0
            } else {
                stops(&venue, i) == 1
            }
        })
        .await;
        let e = entries(&venue, i);
        let mut ids: Vec<&String> = e.iter().map(|(c, _)| c).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), e.len(), "user {i}: an entry sent twice");
    }
    drop((a, c));
    db.cleanup().await;
    announce(&format!(
        "rebalancing: {} alerts while an instance joined and another left, {accepted} executed, none lost",
        answers.len()
    ));
}

/// A user's Telegram bot runs on the instance trading for the user, and
/// only there: one `getUpdates` poll at a time (Telegram ends a second one
/// with 409 Conflict and would split the updates), a bot registered
/// through another instance starts on the owner, each command is answered
/// once, and after the owner is killed the instance taking the user over
/// answers. A security alert raised on the other instance reaches the bot.
#[tokio::test]
async fn a_telegram_bot_runs_on_its_users_instance_only() {
    let _serial = SERIAL.lock().await;
    use tradingbot_testkit::telegram::LocalTelegram;
    let Some(db) = TestDatabase::postgres().await else {
        return announce_skip("a_telegram_bot_runs_on…", "TEST_DATABASE_URL");
    };
    let Ok(redis) = std::env::var("TEST_REDIS_URL") else {
        db.cleanup().await;
        return announce_skip("a_telegram_bot_runs_on…", "TEST_REDIS_URL");
    };
    const TOKEN: &str = "7123456789:AAClusterBotTokenForTheTestsOnly-abcd";
    const CHAT: i64 = 424_242;
    let venue = LocalBinance::start();
    let (k, s) = key(0);
    venue.add_account(&k, &s, dec!(10000));
    let tg = LocalTelegram::start();
    tg.add_bot(TOKEN, "cluster_trades_bot");
    let prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
    let mut env: Vec<(&str, &str)> = vec![
        ("DATABASE_URL", db.url.as_str()),
        ("REDIS_URL", redis.as_str()),
        ("TRADINGBOT_REDIS_PREFIX", prefix.as_str()),
        ("TRADINGBOT_RATE_LIMIT_IP", "100000"),
        ("TRADINGBOT_RATE_LIMIT_USER", "100000"),
        ("TRADINGBOT_TELEGRAM_API_URL", tg.url.as_str()),
    ];
    env.extend_from_slice(&SHARED_SECRETS);
    env.extend(common::venues::env(Some(&venue), None));
    let dirs: Vec<(tempfile::TempDir, std::path::PathBuf)> = (0..2).map(|_| workdir()).collect();
    let mut bots: Vec<Option<Spawned>> = dirs
        .iter()
        .map(|(_, d)| Some(Spawned::start(d, &env)))
        .collect();
    settled_cluster(&bots.iter().flatten().collect::<Vec<_>>()).await;
    let api = Api::new(bots[0].as_ref().unwrap());
    let u = api.user("telegram-cluster@example.com").await;
    let res = api
        .post(
            "/accounts/register",
            Some(&u.access),
            json!({ "exchange": "binance", "api_key": k, "api_secret": s, "testnet": true }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let account = json(res).await["id"].as_i64().unwrap();
    let res = api
        .post(
            "/strategies",
            Some(&u.access),
            json!({ "name": "tg", "symbol": "BTCUSDT", "account_id": account }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let strategy = json(res).await;
    // Which instance trades for the user: the one that executes its alert.
    let body = common::api::tv_alert(&strategy, "buy", "long", "tg-1");
    let (status, answer, owner) = post(bots[0].as_ref().unwrap(), &strategy, body).await;
    assert_eq!(status, 202, "{answer}");
    let mut ids = Vec::new();
    for b in bots.iter().flatten() {
        ids.push(instance_id(b).await);
    }
    let at = ids.iter().position(|i| *i == owner).unwrap();
    let other = 1 - at;

    // Registered through the instance that does not trade for the user.
    let elsewhere = Api::new(bots[other].as_ref().unwrap());
    let res = elsewhere
        .post(
            "/telegram/register",
            Some(&u.access),
            json!({ "bot_token": TOKEN }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let link = json(res).await["start_link"].as_str().unwrap().to_owned();
    let code = link.split("start=").nth(1).unwrap().to_owned();
    until("the owner polling the bot", Duration::from_secs(10), || {
        tg.polls(TOKEN) > 0
    })
    .await;
    let replies = |needle: &str| {
        tg.sent(TOKEN)
            .iter()
            .filter(|m| m.chat_id == CHAT && m.text.contains(needle))
            .count()
    };
    tg.user_says(TOKEN, CHAT, &format!("/start {code}"));
    until("the chat linked", Duration::from_secs(15), || {
        replies("This chat now receives") == 1
    })
    .await;
    tg.user_says(TOKEN, CHAT, "/positions");
    until("/positions answered", Duration::from_secs(15), || {
        replies("BTCUSDT") >= 1
    })
    .await;
    // The test message goes through whichever instance is asked.
    let res = elsewhere
        .post("/telegram/test", Some(&u.access), json!({}))
        .await;
    assert_eq!(res.status(), 202);
    until("the test message", Duration::from_secs(15), || {
        tg.sent(TOKEN).len() >= 3
    })
    .await;
    // A security alert raised on the instance that does not run the bot
    // (the failed sign-ins land there) reaches the chat, once.
    for _ in 0..3 {
        let res = elsewhere
            .post(
                "/auth/login",
                None,
                json!({ "email": "telegram-cluster@example.com", "password": "not the password at all" }),
            )
            .await;
        assert_eq!(res.status(), 401);
    }
    until(
        "the security alert relayed",
        Duration::from_secs(15),
        || replies("Failed sign-in attempts") == 1,
    )
    .await;
    // Steady state for a few long polls: one poller, nothing answered twice.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(tg.conflicts(TOKEN), 0, "two instances polled the bot");
    assert_eq!(replies("This chat now receives"), 1);
    assert_eq!(
        replies("Failed sign-in attempts"),
        1,
        "the alert sent twice"
    );
    let polls = tg.polls(TOKEN);

    // The owner dies; the instance taking the user over runs the bot.
    drop(bots[at].take());
    let killed = Instant::now();
    let before = tg.sent(TOKEN).len();
    tg.user_says(TOKEN, CHAT, "/status");
    until(
        "/status answered after the takeover",
        Duration::from_secs(30),
        || tg.sent(TOKEN).len() > before,
    )
    .await;
    assert!(tg.polls(TOKEN) > polls);
    let took = killed.elapsed();
    drop(bots);
    db.cleanup().await;
    announce(&format!(
        "telegram in a cluster: one poller, 0 conflicts, registered through the other instance; answered {} ms after the owner's kill -9",
        took.as_millis()
    ));
}

/// One trader's account on one of the two local venues.
#[derive(Clone, Copy)]
enum Seat {
    Binance(usize),
    Okx(usize),
}

impl Seat {
    fn key(self) -> String {
        match self {
            Seat::Binance(i) => key(i).0,
            Seat::Okx(i) => format!("okx-cluster-{i:02}-5e25-4d8b-9f1a-0f1c3b2a7d11"),
        }
    }

    fn account(self) -> Value {
        match self {
            Seat::Binance(i) => {
                let (k, s) = key(i);
                json!({ "exchange": "binance", "api_key": k, "api_secret": s, "testnet": true })
            }
            Seat::Okx(_) => json!({ "exchange": "okx", "api_key": self.key(),
                                     "api_secret": common::venues::OKX_SECRET,
                                     "passphrase": common::venues::OKX_PASS, "testnet": true }),
        }
    }
}

/// What the venues hold for one seat: position, entry sizes (by client id),
/// resting stops, resting conditional orders, every client id ever seen.
struct Held {
    position: Decimal,
    entries: Vec<(String, Decimal)>,
    stops: usize,
    resting: usize,
    ids: Vec<String>,
}

fn held(b: &LocalBinance, o: &tradingbot_testkit::okx::LocalOkx, seat: Seat) -> Held {
    let key = seat.key();
    match seat {
        Seat::Binance(_) => {
            let v = b.venue();
            let a = &v.accounts[key.as_str()];
            Held {
                position: a.positions.get("BTCUSDT").map_or(Decimal::ZERO, |p| p.amt),
                entries: a
                    .orders
                    .iter()
                    .filter(|o| o.client_id.ends_with('e'))
                    .map(|o| (o.client_id.clone(), o.qty))
                    .collect(),
                stops: a
                    .algos
                    .iter()
                    .filter(|x| x.status == "NEW" && x.kind == "STOP_MARKET")
                    .count(),
                resting: a.algos.iter().filter(|x| x.status == "NEW").count(),
                ids: a
                    .orders
                    .iter()
                    .map(|o| o.client_id.clone())
                    .chain(a.algos.iter().map(|x| x.client_id.clone()))
                    .collect(),
            }
        }
        Seat::Okx(_) => {
            let v = o.venue();
            let a = &v.accounts[key.as_str()];
            Held {
                position: a
                    .positions
                    .get("BTC-USDT-SWAP")
                    .map_or(Decimal::ZERO, |p| p.pos),
                entries: a
                    .orders
                    .iter()
                    .filter(|o| o.cl_ord_id.ends_with('e'))
                    .map(|o| (o.cl_ord_id.clone(), o.sz))
                    .collect(),
                stops: a
                    .algos
                    .iter()
                    .filter(|x| x.state == "live" && x.sl.is_some())
                    .count(),
                resting: a.algos.iter().filter(|x| x.state == "live").count(),
                ids: a
                    .orders
                    .iter()
                    .map(|o| o.cl_ord_id.clone())
                    .chain(a.algos.iter().map(|x| x.algo_cl_ord_id.clone()))
                    .collect(),
            }
        }
    }
}

/// What became of one alert sent through nginx (resent, as a retrying
/// sender would, while the answer said "not traded, send again" or while
/// no answer came at all).
#[derive(Debug, Clone)]
struct Sent {
    entry: bool,
    status: u16,
    body: String,
    /// An attempt got no answer from its instance (killed while serving
    /// it: nginx says 502): its outcome was unknown to the sender.
    cut: bool,
}

/// Three instances behind Debian's nginx (round-robin, the repo's
/// configuration) on one PostgreSQL and one Redis; traders on the local
/// Binance and the local OKX venue send alerts through nginx without
/// pause while the instance owning most of them is killed -9. Judged on
/// the venues: every alert answered as accepted traded exactly once (none
/// twice, none lost), every entry sized right, every open position has its
/// stop, and — once the dead instance is started again on its directory —
/// every order the venues hold is in the database.
#[tokio::test]
async fn behind_nginx_every_alert_trades_once_through_an_owners_kill() {
    use tradingbot_testkit::okx::LocalOkx;
    let _serial = SERIAL.lock().await;
    let Some(db) = TestDatabase::postgres().await else {
        return announce_skip("behind_nginx_every_alert…", "TEST_DATABASE_URL");
    };
    let Ok(redis) = std::env::var("TEST_REDIS_URL") else {
        db.cleanup().await;
        return announce_skip("behind_nginx_every_alert…", "TEST_REDIS_URL");
    };
    let seats: Vec<Seat> = (0..6)
        .map(Seat::Binance)
        .chain((0..3).map(Seat::Okx))
        .collect();
    let binance = LocalBinance::start();
    let okx = LocalOkx::start();
    for s in &seats {
        match s {
            Seat::Binance(i) => {
                let (k, sec) = key(*i);
                binance.add_account(&k, &sec, dec!(10000));
            }
            Seat::Okx(_) => okx.add_account(
                &s.key(),
                common::venues::OKX_SECRET,
                common::venues::OKX_PASS,
                dec!(10000),
                true,
            ),
        }
    }
    let prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
    let mut env: Vec<(&str, &str)> = vec![
        ("DATABASE_URL", db.url.as_str()),
        ("REDIS_URL", redis.as_str()),
        ("TRADINGBOT_REDIS_PREFIX", prefix.as_str()),
        ("TRADINGBOT_RATE_LIMIT_IP", "100000"),
        ("TRADINGBOT_RATE_LIMIT_USER", "100000"),
        ("TRADINGBOT_RATE_LIMIT_WEBHOOK", "100000"),
        // nginx's address: the backends see the traders' own.
        ("TRADINGBOT_TRUSTED_PROXIES", "127.0.0.2/32"),
    ];
    env.extend_from_slice(&SHARED_SECRETS);
    env.extend(common::venues::env(Some(&binance), Some(&okx)));
    let dirs: Vec<(tempfile::TempDir, std::path::PathBuf)> = (0..3).map(|_| workdir()).collect();
    let (mut bots, ids) = start_together(&dirs, &env).await;
    let backends: Vec<String> = bots
        .iter()
        .flatten()
        .map(|b| b.base.trim_start_matches("http://").to_owned())
        .collect();
    let Some(nginx) = common::nginx::Nginx::start(&backends) else {
        drop(bots);
        db.cleanup().await;
        return;
    };

    let mut sessions = Vec::new();
    let mut strategies = Vec::new();
    for (i, seat) in seats.iter().enumerate() {
        let api = Api::new(bots[i % 3].as_ref().unwrap());
        let u = api.user(&format!("nginx{i}@example.com")).await;
        let res = api
            .post("/accounts/register", Some(&u.access), seat.account())
            .await;
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
        let account = json(res).await["id"].as_i64().unwrap();
        let res = api
            .post(
                "/strategies",
                Some(&u.access),
                json!({ "name": "nginx", "symbol": "BTCUSDT", "account_id": account,
                        "investment_pct": 10, "leverage": 3 }),
            )
            .await;
        assert_eq!(res.status(), 201);
        strategies.push(json(res).await);
        sessions.push(u);
    }

    // Each trader's alerts, one after another (as one TradingView strategy
    // sends them), all through nginx.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Each trader's last executed alert: by which instance, when.
    type Executed = std::sync::Arc<std::sync::Mutex<HashMap<usize, (String, Instant)>>>;
    let executed: Executed = Default::default();
    let (site, web) = (nginx.site(), nginx.client());
    let loaders: Vec<_> = strategies
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (stop, s, site, web) = (stop.clone(), s.clone(), site.clone(), web.clone());
            let executed = executed.clone();
            tokio::spawn(async move {
                let url = s["webhook_url"].as_str().unwrap();
                let url = format!("{site}{}", &url[url.find("/api/").unwrap()..]);
                let mut sent: Vec<Sent> = Vec::new();
                let mut n = 0usize;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let entry = n.is_multiple_of(2);
                    let (action, position) = if entry {
                        ("buy", "long")
                    } else {
                        ("sell", "flat")
                    };
                    let body = common::api::tv_alert(&s, action, position, &format!("n{i}-{n}"));
                    let first = Instant::now();
                    let mut cut = false;
                    let outcome = loop {
                        let res = web
                            .post(&url)
                            .header("content-type", "text/plain")
                            .body(body.clone())
                            .timeout(Duration::from_secs(10))
                            .send()
                            .await;
                        let again = match res {
                            Ok(r) => {
                                let status = r.status().as_u16();
                                let by = r
                                    .headers()
                                    .get("x-tradingbot-instance")
                                    .and_then(|v| v.to_str().ok())
                                    .unwrap_or_default()
                                    .to_owned();
                                let text = r.text().await.unwrap_or_default();
                                match status {
                                    502 | 504 => {
                                        cut = true;
                                        true
                                    }
                                    503 => true,
                                    _ => {
                                        if status == 202 {
                                            executed
                                                .lock()
                                                .unwrap()
                                                .insert(i, (by.clone(), Instant::now()));
                                        }
                                        break Sent {
                                            entry,
                                            status,
                                            body: text,
                                            cut,
                                        };
                                    }
                                }
                            }
                            Err(_) => {
                                cut = true;
                                true
                            }
                        };
                        assert!(again);
                        if first.elapsed() > Duration::from_secs(30) {
                            break Sent {
                                entry,
                                status: 0,
                                body: "no answer for 30 s".into(),
                                cut,
                            };
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    };
                    sent.push(outcome);
                    n += 1;
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                sent
            })
        })
        .collect();

    // The instance executing most traders' alerts dies.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let victim = {
        let last = executed.lock().unwrap();
        let mut count: HashMap<&str, usize> = HashMap::new();
        for (by, _) in last.values() {
            *count.entry(by.as_str()).or_default() += 1;
        }
        let busiest = count.iter().max_by_key(|(_, n)| **n).unwrap().0;
        ids.iter().position(|id| id == busiest).unwrap()
    };
    let moved: Vec<usize> = executed
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, (by, _))| *by == ids[victim])
        .map(|(i, _)| *i)
        .collect();
    assert!(!moved.is_empty());
    let killed_at = Instant::now();
    let (status, _) = bots[victim].take().unwrap().signal_and_wait("KILL");
    assert!(!status.success());
    // Taken over: every moved trader's alerts executed again, elsewhere.
    let takeover = loop {
        let done = {
            let last = executed.lock().unwrap();
            moved.iter().all(|i| {
                last.get(i)
                    .is_some_and(|(by, at)| *by != ids[victim] && *at > killed_at)
            })
        };
        if done {
            break killed_at.elapsed();
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(30),
            "no takeover of the dead instance's traders"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut sent: Vec<Vec<Sent>> = Vec::new();
    for l in loaders {
        sent.push(l.await.unwrap());
    }
    // Started again on its directory: what it had journaled is stored.
    let back = Spawned::start(&dirs[victim].1, &env);
    bots[victim] = Some(back);
    settled_cluster(&bots.iter().flatten().collect::<Vec<_>>()).await;

    let legit = |s: &Sent| {
        s.status == 202
            || (s.status == 409
                && ["already_in_position", "no_open_position", "order_in_flight"]
                    .iter()
                    .any(|c| s.body.contains(c)))
            // Admitted by the instance that died serving it: not traded
            // twice, whatever it did.
            || (s.status == 200 && s.cut && s.body.contains("duplicate"))
    };
    let lost: Vec<(usize, &Sent)> = sent
        .iter()
        .enumerate()
        .flat_map(|(i, v)| v.iter().map(move |s| (i, s)))
        .filter(|(_, s)| !legit(s))
        .collect();
    assert!(lost.is_empty(), "alerts lost: {lost:#?}");
    let (mut total, mut cut_total, mut entries_total) = (0, 0, 0);
    let api = Api::new(bots[0].as_ref().unwrap());
    for (i, seat) in seats.iter().enumerate() {
        let v = &sent[i];
        total += v.len();
        let accepted = v.iter().filter(|s| s.entry && s.status == 202).count();
        let unknown = v.iter().filter(|s| s.entry && s.status == 200).count();
        cut_total += v.iter().filter(|s| s.cut).count();
        // Settled: flat with nothing resting, or long with its stop.
        until("every position protected", Duration::from_secs(15), || {
            let h = held(&binance, &okx, *seat);
            if h.position.is_zero() {
                h.resting == 0
            } else {
                h.stops == 1
            }
        })
        .await;
        let h = held(&binance, &okx, *seat);
        let mut unique: Vec<&String> = h.entries.iter().map(|(c, _)| c).collect();
        unique.sort();
        unique.dedup();
        assert_eq!(
            unique.len(),
            h.entries.len(),
            "trader {i}: an entry sent twice"
        );
        assert!(
            h.entries.len() >= accepted && h.entries.len() <= accepted + unknown,
            "trader {i}: {} entries on the venue for {accepted} accepted (+{unknown} unknown)",
            h.entries.len()
        );
        entries_total += h.entries.len();
        let sizes: std::collections::HashSet<Decimal> = h.entries.iter().map(|(_, q)| *q).collect();
        match seat {
            Seat::Binance(_) => assert_eq!(
                sizes.into_iter().collect::<Vec<_>>(),
                vec![dec!(0.069)],
                "trader {i}: every entry 10 % of 10,000 USDT at 3x"
            ),
            // 0.01 BTC contracts: 6.97 at the start, a little less as
            // fees lower the deposit.
            Seat::Okx(_) => assert!(
                sizes.iter().all(|q| *q >= dec!(6.90) && *q <= dec!(6.97)),
                "trader {i}: 10 % of the deposit at 3x: {sizes:?}"
            ),
        }
        // Every order the venue holds is in the database.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let stored: std::collections::HashSet<String> =
                json(api.get("/orders?per_page=200", &sessions[i].access).await).await["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|o| o["client_order_id"].as_str().unwrap().to_owned())
                    .collect();
            let missing: Vec<&String> = h.ids.iter().filter(|c| !stored.contains(*c)).collect();
            if missing.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "trader {i}: venue orders missing from the database: {missing:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    assert!(nginx.error_log().lines().all(|l| !l.contains("[emerg]")));
    drop(bots);
    drop(nginx);
    db.cleanup().await;
    announce(&format!(
        "nginx + 3 instances, Binance and OKX: {total} alerts from {} traders, {entries_total} entries, \
         none twice, none lost ({cut_total} cut by the kill -9), every position protected, every order stored; \
         the dead instance's {} traders taken over in {} ms",
        seats.len(),
        moved.len(),
        takeover.as_millis()
    ));
}
