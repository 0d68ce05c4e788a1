//! `tradingbot backup seal|open|upload`: the nightly backup's tools, in the
//! binary so the backup job needs nothing else. `seal` encrypts and
//! authenticates a dump as it streams (see `core::backup`), `open` gives it
//! back only if it is exactly what was sealed, and `upload` puts a file in
//! S3-compatible storage with a Signature V4 PUT.

use anyhow::{Context as _, bail};
use clap::Subcommand;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use tradingbot_core::backup::{CHUNK, HEADER_LEN, Opener, PREFIX_LEN, SALT_LEN, Sealer, TAG_LEN};
use tradingbot_core::sigv4;
use zeroize::Zeroizing;

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Encrypt and authenticate standard input (or `--input`) under
    /// `BACKUP_PASSPHRASE` to standard output (or `--output`).
    Seal {
        #[arg(long)]
        input: Option<PathBuf>,
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// The reverse: fails, writing nothing more, if the backup was altered,
    /// truncated or sealed under another passphrase.
    Open {
        #[arg(long)]
        input: Option<PathBuf>,
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Upload a file to `BACKUP_S3_BUCKET` (endpoint `BACKUP_S3_ENDPOINT`,
    /// region `BACKUP_S3_REGION`, key `BACKUP_S3_PREFIX` + the file's name;
    /// credentials `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`).
    Upload { file: PathBuf },
    /// Fetch a backup (its file name, under `BACKUP_S3_PREFIX`) from the
    /// same storage, for a restore elsewhere.
    Download {
        name: String,
        #[arg(long)]
        output: PathBuf,
    },
}

pub fn run(cmd: BackupCommand) -> anyhow::Result<()> {
    match cmd {
        BackupCommand::Seal { input, output } => {
            let pass = passphrase()?;
            seal(reader(input.as_deref())?, writer(output.as_deref())?, &pass)
        }
        BackupCommand::Open { input, output } => {
            let pass = passphrase()?;
            open(reader(input.as_deref())?, writer(output.as_deref())?, &pass)
        }
        BackupCommand::Upload { file } => upload(&file),
        BackupCommand::Download { name, output } => download(&name, &output),
    }
}

fn passphrase() -> anyhow::Result<Zeroizing<String>> {
    let p = Zeroizing::new(std::env::var("BACKUP_PASSPHRASE").unwrap_or_default());
    if p.chars().count() < 12 {
        bail!("set BACKUP_PASSPHRASE (12 characters or more)");
    }
    Ok(p)
}

fn reader(path: Option<&Path>) -> anyhow::Result<Box<dyn Read>> {
    Ok(match path {
        Some(p) => Box::new(std::fs::File::open(p).with_context(|| format!("{}", p.display()))?),
        None => Box::new(std::io::stdin().lock()),
    })
}

fn writer(path: Option<&Path>) -> anyhow::Result<Box<dyn Write>> {
    Ok(match path {
        Some(p) => Box::new(std::fs::File::create(p).with_context(|| format!("{}", p.display()))?),
        None => Box::new(std::io::stdout().lock()),
    })
}

/// Reads until `buf` is full or the input ends; how many bytes.
fn fill(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn random<const N: usize>() -> anyhow::Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(b)
}

pub fn seal(mut r: Box<dyn Read>, mut w: Box<dyn Write>, pass: &str) -> anyhow::Result<()> {
    let mut sealer = Sealer::new(
        pass.as_bytes(),
        random::<SALT_LEN>()?,
        random::<PREFIX_LEN>()?,
    )?;
    w.write_all(sealer.header())?;
    chunks(&mut r, CHUNK, |chunk, last| {
        w.write_all(&sealer.seal(chunk, last)?)?;
        Ok(())
    })?;
    w.flush()?;
    Ok(())
}

/// Calls `each` with every `size`-byte chunk of `r` (the last may be
/// shorter, or empty when `r` is), reading one chunk ahead so the last is
/// known as last; how many chunks.
fn chunks(
    r: &mut dyn Read,
    size: usize,
    mut each: impl FnMut(&[u8], bool) -> anyhow::Result<()>,
) -> anyhow::Result<usize> {
    let mut cur = vec![0u8; size];
    let mut next = vec![0u8; size];
    let mut n = fill(r, &mut cur)?;
    let mut count = 0;
    loop {
        let m = if n == size { fill(r, &mut next)? } else { 0 };
        let last = m == 0;
        each(&cur[..n], last)?;
        count += 1;
        if last {
            return Ok(count);
        }
        std::mem::swap(&mut cur, &mut next);
        n = m;
    }
}

pub fn open(mut r: Box<dyn Read>, mut w: Box<dyn Write>, pass: &str) -> anyhow::Result<()> {
    let mut header = [0u8; HEADER_LEN];
    if fill(&mut r, &mut header)? != HEADER_LEN {
        bail!(tradingbot_core::backup::BackupError::NotSealed);
    }
    let mut opener = Opener::new(pass.as_bytes(), &header)?;
    chunks(&mut r, CHUNK + TAG_LEN, |sealed, last| {
        // A header alone is not a backup: even empty input seals one chunk.
        if sealed.is_empty() {
            bail!(tradingbot_core::backup::BackupError::Forged);
        }
        w.write_all(&opener.open(sealed, last)?)?;
        Ok(())
    })?;
    w.flush()?;
    Ok(())
}

/// Where backups go: `BACKUP_S3_*` and the AWS credentials.
struct Store {
    bucket: String,
    region: String,
    endpoint: reqwest::Url,
    prefix: String,
    access: String,
    secret: Zeroizing<String>,
}

impl Store {
    fn from_env() -> anyhow::Result<Self> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let region = env("BACKUP_S3_REGION").unwrap_or_else(|| "us-east-1".into());
        let endpoint = env("BACKUP_S3_ENDPOINT")
            .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        Ok(Self {
            bucket: env("BACKUP_S3_BUCKET").context("set BACKUP_S3_BUCKET")?,
            endpoint: reqwest::Url::parse(&endpoint).context("BACKUP_S3_ENDPOINT is not a URL")?,
            region,
            prefix: env("BACKUP_S3_PREFIX").unwrap_or_else(|| "tradingbot/".into()),
            access: env("AWS_ACCESS_KEY_ID").context("set AWS_ACCESS_KEY_ID")?,
            secret: Zeroizing::new(
                env("AWS_SECRET_ACCESS_KEY").context("set AWS_SECRET_ACCESS_KEY")?,
            ),
        })
    }

    /// One signed request for the object `name` (under the prefix).
    fn call(&self, method: &str, name: &str, body: Vec<u8>) -> anyhow::Result<Vec<u8>> {
        let url = &self.endpoint;
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            _ => bail!("BACKUP_S3_ENDPOINT has no host"),
        };
        // Path-style: every S3-compatible store takes it.
        let key: Vec<String> = format!("{}{name}", self.prefix)
            .split('/')
            .map(sigv4::encode_segment)
            .collect();
        let path = format!(
            "{}/{}/{}",
            url.path().trim_end_matches('/'),
            sigv4::encode_segment(&self.bucket),
            key.join("/")
        );
        let hash = sigv4::payload_hash(&body);
        let amz_date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
        let auth = sigv4::Signer {
            access_key: &self.access,
            secret_key: &self.secret,
            region: &self.region,
            service: "s3",
        }
        .authorization(
            &sigv4::Request {
                method,
                path: &path,
                query: "",
                headers: &[
                    ("host", &host),
                    ("x-amz-content-sha256", &hash),
                    ("x-amz-date", &amz_date),
                ],
                payload_hash: &hash,
            },
            &amz_date,
        );
        let target = format!("{}://{host}{path}", url.scheme());
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (status, bytes) = rt.block_on(async {
            let client =
                tradingbot_actors::exchange::http::client(std::time::Duration::from_secs(600));
            let res = client
                .request(method, &target)
                .header("x-amz-content-sha256", &hash)
                .header("x-amz-date", &amz_date)
                .header("authorization", auth)
                .body(body)
                .send()
                .await?;
            let status = res.status();
            anyhow::Ok((status, res.bytes().await?.to_vec()))
        })?;
        if !status.is_success() {
            bail!(
                "the storage answered {status}: {}",
                String::from_utf8_lossy(&bytes)
                    .chars()
                    .take(300)
                    .collect::<String>()
            );
        }
        Ok(bytes)
    }
}

fn upload(file: &Path) -> anyhow::Result<()> {
    let store = Store::from_env()?;
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .context("the file has no name")?;
    let body = std::fs::read(file).with_context(|| format!("{}", file.display()))?;
    store.call("PUT", name, body)?;
    println!(
        "backup: uploaded s3://{}/{}{name}",
        store.bucket, store.prefix
    );
    Ok(())
}

fn download(name: &str, output: &Path) -> anyhow::Result<()> {
    let store = Store::from_env()?;
    let bytes = store.call("GET", name, Vec::new())?;
    let partial = output.with_extension("partial");
    std::fs::write(&partial, &bytes).with_context(|| format!("{}", partial.display()))?;
    std::fs::rename(&partial, output)?;
    println!(
        "backup: downloaded s3://{}/{}{name} ({} bytes)",
        store.bucket,
        store.prefix,
        bytes.len()
    );
    Ok(())
}
