//! Debian's nginx with the repo's `deploy/nginx/tradingbot.conf` in front of
//! real instances: ports, certificate paths and the upstream's servers
//! substituted for loopback and a test certificate, nothing else changed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn required() -> bool {
    std::env::var("TRADINGBOT_TEST_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

fn find(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.push("/usr/sbin".into());
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running nginx; stopped when dropped.
pub struct Nginx {
    child: Child,
    work: tempfile::TempDir,
    pub http: u16,
    pub https: u16,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Nginx {
    /// nginx in front of `backends` (`host:port`, round-robin), or `None`
    /// when nginx or openssl is not installed (a failure when the services
    /// are required).
    pub fn start(backends: &[String]) -> Option<Self> {
        let (Some(nginx), Some(openssl)) = (find("nginx"), find("openssl")) else {
            assert!(
                !required(),
                "nginx and openssl are needed (Debian packages nginx-light, openssl)"
            );
            eprintln!("skipped: nginx or openssl not installed");
            return None;
        };
        let work = tempfile::tempdir().unwrap();
        let dir = work.path();
        certificates(&openssl, dir);
        let (http, https) = (free_port(), free_port());
        std::fs::write(dir.join("nginx.conf"), config(dir, http, https, backends)).unwrap();
        let check = Command::new(&nginx)
            .args(["-t", "-p"])
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "nginx -t: {}",
            String::from_utf8_lossy(&check.stderr)
        );
        let child = Command::new(&nginx)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let me = Self {
            child,
            work,
            http,
            https,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", https)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not start: {}",
                me.error_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(me)
    }

    /// The site's HTTPS address.
    pub fn site(&self) -> String {
        format!("https://localhost:{}", self.https)
    }

    /// A client trusting the test CA, connecting from 127.0.0.3 (nginx
    /// reaches the backends from 127.0.0.2).
    pub fn client(&self) -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let pem = std::fs::read(self.work.path().join("ca.pem")).unwrap();
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .local_address(std::net::IpAddr::from([127, 0, 0, 3]))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// The test CA's certificate (for websocket clients).
    pub fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(self.work.path().join("ca.pem")).unwrap()
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.work.path().join("error.log")).unwrap_or_default()
    }
}

/// A test CA and a server certificate for localhost signed by it.
fn certificates(openssl: &Path, dir: &Path) {
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    for args in [
        "req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=tradingbot-test-ca",
        "req -newkey rsa:2048 -nodes -keyout key.pem -out leaf.csr -subj /CN=localhost",
        "x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cert.pem -days 2 -extfile leaf.ext",
    ] {
        let out = Command::new(openssl)
            .current_dir(dir)
            .args(args.split(' '))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The repo's server blocks, pointed at loopback and the test's files.
fn config(dir: &Path, http: u16, https: u16, backends: &[String]) -> String {
    let site = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/nginx/tradingbot.conf"
    ))
    .unwrap();
    let d = dir.display();
    let servers: Vec<String> = backends.iter().map(|b| format!("server {b};")).collect();
    let replaced = [
        ("listen 80;", format!("listen 127.0.0.1:{http};")),
        (
            "listen 443 ssl http2;",
            format!("listen 127.0.0.1:{https} ssl http2;"),
        ),
        ("/etc/nginx/certs/fullchain.pem", format!("{d}/cert.pem")),
        ("/etc/nginx/certs/privkey.pem", format!("{d}/key.pem")),
        ("server backend:8001;", servers.join("\n    ")),
        ("root /var/www/certbot;", format!("root {d}/acme;")),
        // The proxy's own address, so the backend can tell it from clients.
        (
            "proxy_http_version 1.1;",
            "proxy_http_version 1.1;\n    proxy_bind 127.0.0.2;".to_owned(),
        ),
    ];
    let mut site = site;
    for (from, to) in replaced {
        assert!(
            site.contains(from),
            "the configuration no longer has `{from}`"
        );
        site = site.replace(from, &to);
    }
    std::fs::write(dir.join("tradingbot.conf"), site).unwrap();
    format!(
        "user root root;\ndaemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections 512; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  \
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  \
         include {d}/tradingbot.conf;\n}}\n"
    )
}
