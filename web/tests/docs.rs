//! The interactive API docs: Swagger UI served from the binary, working
//! offline under its Content-Security-Policy — checked over HTTP and in a
//! real headless browser (Chromium), which must render the operations
//! without one policy violation.

mod common;

use common::*;
use std::path::PathBuf;
use std::process::Command;

fn chromium() -> Option<PathBuf> {
    tool(
        None,
        &["chromium", "chromium-browser", "google-chrome"],
        "Debian package `chromium`",
    )
}

#[tokio::test]
async fn swagger_ui_is_served_from_the_binary_under_a_strict_policy() {
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(&dir, &[]);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // The bare path goes to the trailing slash the relative assets need.
    let res = http.get(bot.url("/api/v1/docs")).send().await.unwrap();
    assert_eq!(res.status(), 308);
    assert_eq!(res.headers()["location"], "/api/v1/docs/");

    let res = http.get(bot.url("/api/v1/docs/")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let script_src = csp
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("script-src"))
        .unwrap_or_else(|| panic!("no script-src: {csp}"));
    assert_eq!(script_src, "script-src 'self'", "{csp}");
    assert!(csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"));
    let page = res.text().await.unwrap();
    // Every script is a file from here: no inline code, no other origin.
    let mut scripts = 0;
    for tag in page.split("<script").skip(1) {
        scripts += 1;
        let (attrs, rest) = tag.split_once('>').unwrap();
        assert!(attrs.contains("src=\"./"), "{attrs}");
        assert!(
            rest.trim_start().starts_with("</script>"),
            "inline script: {tag}"
        );
    }
    assert!(scripts >= 2, "{page}");
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "{page}"
    );

    let init = http
        .get(bot.url("/api/v1/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(init.status(), 200);
    let init = init.text().await.unwrap();
    assert!(init.contains("/api/v1/openapi.json"), "{init}");
    assert!(
        init.contains("\"validatorUrl\": \"none\"") || init.contains("validatorUrl"),
        "{init}"
    );
    let bundle = http
        .get(bot.url("/api/v1/docs/swagger-ui-bundle.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(bundle.status(), 200);
    assert!(
        bundle.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    let missing = http
        .get(bot.url("/api/v1/docs/no-such-file.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    let Some(browser) = chromium() else { return };
    let url = bot.url("/api/v1/docs/");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--enable-logging=stderr",
                "--v=0",
                "--virtual-time-budget=20000",
                "--dump-dom",
                &url,
            ])
            .output()
            .expect("chromium runs")
    })
    .await
    .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    // Rendered: the document was fetched and its operations drawn.
    assert!(dom.contains("opblock"), "nothing rendered:\n{dom}\n{log}");
    for op in [
        "/api/v1/positions/history",
        "/api/v1/notifications",
        "/api/v1/dashboard/equity",
    ] {
        assert!(dom.contains(op), "{op} not rendered:\n{log}");
    }
    assert!(dom.contains("TradingBot"), "the title: {dom}");
    // And nothing was refused by the policy.
    for line in log.lines() {
        assert!(
            !line.contains("Content Security Policy") && !line.contains("Refused to"),
            "a policy violation: {line}"
        );
    }
    let (status, output) = bot.signal_and_wait("TERM");
    assert!(status.success(), "{output}");
    announce("docs: Swagger UI from the binary renders in Chromium with no CSP violation");
}
