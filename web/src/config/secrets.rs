//! Secrets the server needs and was not given: generated once into the data
//! directory (mode 0600) and reused on every later start, so development
//! sessions survive restarts. Production never gets here: it refuses to start
//! without explicit secrets.

use super::{Config, ConfigError, SecretBytes};
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretSlice};
use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Decodes a key given as hex or standard/URL-safe base64.
pub fn decode_key(text: &str) -> Option<Vec<u8>> {
    if text.len().is_multiple_of(2)
        && !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return hex::decode(text).ok();
    }
    let engines = [
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::URL_SAFE,
        base64::engine::general_purpose::STANDARD_NO_PAD,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    engines.iter().find_map(|e| e.decode(text).ok())
}

/// How a secret was obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// From the configuration.
    Configured,
    /// Read from a file an earlier start generated.
    Loaded(PathBuf),
    /// Generated now and written to the file.
    Generated(PathBuf),
}

/// The secrets the server runs with.
pub struct Secrets {
    pub jwt_secret: SecretBytes,
    pub jwt_source: SecretSource,
    pub master_key: SecretBytes,
    pub master_source: SecretSource,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("jwt_source", &self.jwt_source)
            .field("master_source", &self.master_source)
            .finish_non_exhaustive()
    }
}

pub const JWT_SECRET_FILE: &str = "jwt_secret";
pub const MASTER_KEY_FILE: &str = "master_key";

/// Creates the data directory readable by its owner only.
pub fn ensure_data_dir(dir: &Path) -> Result<(), ConfigError> {
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| {
                ConfigError::Secret(format!(
                    "cannot create data directory {}: {e}",
                    dir.display()
                ))
            })?;
    }
    Ok(())
}

/// The configured secrets, or those stored in (or now generated into) the
/// data directory.
pub fn resolve(config: &Config) -> Result<Secrets, ConfigError> {
    let (jwt_secret, jwt_source) = match &config.jwt_secret {
        Some(s) => (clone_secret(s), SecretSource::Configured),
        None => load_or_generate(&config.data_dir, JWT_SECRET_FILE, 32)?,
    };
    let (master_key, master_source) = match &config.master_key {
        Some(s) => (clone_secret(s), SecretSource::Configured),
        None => load_or_generate(&config.data_dir, MASTER_KEY_FILE, 32)?,
    };
    Ok(Secrets {
        jwt_secret,
        jwt_source,
        master_key,
        master_source,
    })
}

fn clone_secret(s: &SecretBytes) -> SecretBytes {
    SecretSlice::from(s.expose_secret().to_vec())
}

fn load_or_generate(
    dir: &Path,
    name: &str,
    len: usize,
) -> Result<(SecretBytes, SecretSource), ConfigError> {
    ensure_data_dir(dir)?;
    let path = dir.join(name);
    match OpenOptions::new().read(true).open(&path) {
        Ok(mut file) => {
            let mode = file
                .metadata()
                .map_err(|e| ConfigError::Secret(format!("cannot stat {}: {e}", path.display())))?
                .permissions()
                .mode()
                & 0o777;
            if mode & 0o077 != 0 {
                return Err(ConfigError::Secret(format!(
                    "{} is accessible to other users (mode {mode:o}); run `chmod 600 {}`",
                    path.display(),
                    path.display()
                )));
            }
            let mut text = String::new();
            file.read_to_string(&mut text)
                .map_err(|e| ConfigError::Secret(format!("cannot read {}: {e}", path.display())))?;
            let bytes = decode_key(text.trim())
                .filter(|b| b.len() == len)
                .ok_or_else(|| {
                    ConfigError::Secret(format!(
                        "{} does not hold a {len}-byte hex key; delete it to generate a new one",
                        path.display()
                    ))
                })?;
            Ok((SecretSlice::from(bytes), SecretSource::Loaded(path)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = vec![0u8; len];
            getrandom::fill(&mut bytes)
                .map_err(|e| ConfigError::Secret(format!("no randomness available: {e}")))?;
            // create_new: if another process raced us here, fail rather than
            // overwrite the key it already uses.
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| {
                    ConfigError::Secret(format!("cannot create {}: {e}", path.display()))
                })?;
            let mut text = hex::encode(&bytes);
            text.push('\n');
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| {
                    ConfigError::Secret(format!("cannot write {}: {e}", path.display()))
                })?;
            Ok((SecretSlice::from(bytes), SecretSource::Generated(path)))
        }
        Err(e) => Err(ConfigError::Secret(format!(
            "cannot open {}: {e}",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_hex_and_base64() {
        let hex = "00".repeat(32);
        assert_eq!(decode_key(&hex).unwrap(), vec![0u8; 32]);
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert_eq!(decode_key(&b64).unwrap(), vec![7u8; 32]);
        assert!(decode_key("not a key!").is_none());
    }

    #[test]
    fn generates_once_then_reuses() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let (a, src) = load_or_generate(&data, "k", 32).unwrap();
        assert!(matches!(src, SecretSource::Generated(_)));
        let mode = fs::metadata(data.join("k")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = fs::metadata(&data).unwrap().permissions().mode() & 0o777;
        assert_eq!(dir_mode, 0o700);
        let (b, src) = load_or_generate(&data, "k", 32).unwrap();
        assert!(matches!(src, SecretSource::Loaded(_)));
        assert_eq!(a.expose_secret(), b.expose_secret());
    }

    #[test]
    fn refuses_a_key_file_others_can_read() {
        let dir = tempfile::tempdir().unwrap();
        load_or_generate(dir.path(), "k", 32).unwrap();
        fs::set_permissions(dir.path().join("k"), fs::Permissions::from_mode(0o644)).unwrap();
        let err = load_or_generate(dir.path(), "k", 32)
            .unwrap_err()
            .to_string();
        assert!(err.contains("chmod 600"), "{err}");
    }

    #[test]
    fn refuses_a_corrupt_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .unwrap()
            .write_all(b"abcd\n")
            .unwrap();
        let err = load_or_generate(dir.path(), "k", 32)
            .unwrap_err()
            .to_string();
        assert!(err.contains("32-byte"), "{err}");
    }
}
