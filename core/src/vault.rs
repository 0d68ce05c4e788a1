//! The credential vault: how exchange keys, bot tokens and TOTP secrets are
//! encrypted at rest.
//!
//! AES-256-GCM under a key derived per user with HKDF-SHA256 from the master
//! key, so one user's key never decrypts another's data even inside the
//! process. The associated data binds each ciphertext to (user, table, row,
//! column): a ciphertext copied into another row, column or account fails to
//! decrypt instead of silently becoming someone else's credential.
//!
//! Layout: `version (1) ‖ nonce (12) ‖ ciphertext ‖ tag (16)`. The version
//! byte names the master key generation, so `rotate-master-key` can tell old
//! ciphertexts from new and re-encrypt them. The nonce is handed in (random,
//! from the caller): this module does no I/O.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;
use std::fmt;
use zeroize::{Zeroize, Zeroizing};

pub const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + NONCE_LEN;
/// Domain separation of the per-user key derivation.
const HKDF_INFO: &[u8] = b"tradingbot/vault/user-key/v1";

/// What a ciphertext belongs to; it is authenticated, not encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding<'a> {
    pub user_id: i64,
    pub table: &'a str,
    pub row_id: i64,
    pub column: &'a str,
}

impl Binding<'_> {
    fn aad(&self) -> Vec<u8> {
        let mut aad = Vec::with_capacity(32 + self.table.len() + self.column.len());
        aad.extend_from_slice(b"tradingbot/vault/v1|");
        aad.extend_from_slice(&self.user_id.to_be_bytes());
        aad.push(b'|');
        aad.extend_from_slice(self.table.as_bytes());
        aad.push(b'|');
        aad.extend_from_slice(&self.row_id.to_be_bytes());
        aad.push(b'|');
        aad.extend_from_slice(self.column.as_bytes());
        aad
    }
}

/// Why a ciphertext could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    #[error("the ciphertext is truncated")]
    Truncated,
    #[error("the ciphertext was sealed with master key version {found}, this vault holds {held}")]
    UnknownKeyVersion { found: u8, held: u8 },
    /// Wrong key, wrong binding, or tampered bytes: deliberately indistinct.
    #[error("the ciphertext does not authenticate")]
    Forged,
}

/// A master key and its version byte, plus (during a rotation) the key
/// being replaced, so ciphertexts of either can be opened.
pub struct Vault {
    master: Zeroizing<[u8; 32]>,
    version: u8,
    previous: Option<(Zeroizing<[u8; 32]>, u8)>,
}

/// The version byte of a master key: a fingerprint of it, so every
/// ciphertext names the key that sealed it without any configuration.
pub fn key_version(master: &[u8; 32]) -> u8 {
    use sha2::Digest;
    let mut h = Sha256::new();
    h.update(b"tradingbot/vault/key-version/v1");
    h.update(master);
    h.finalize()[0]
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl Vault {
    pub fn new(master: [u8; 32], version: u8) -> Self {
        Self {
            master: Zeroizing::new(master),
            version,
            previous: None,
        }
    }

    /// A vault whose version byte is the key's fingerprint.
    pub fn from_key(master: [u8; 32]) -> Self {
        let version = key_version(&master);
        Self::new(master, version)
    }

    /// Also opens ciphertexts sealed with `previous` (a rotation's old key).
    pub fn with_previous(mut self, previous: [u8; 32]) -> Self {
        let v = key_version(&previous);
        self.previous = Some((Zeroizing::new(previous), v));
        self
    }

    /// Opens `ciphertext` with whichever known key sealed it and seals the
    /// plaintext again with the current key.
    pub fn reseal(
        &self,
        binding: &Binding<'_>,
        ciphertext: &[u8],
        nonce: [u8; NONCE_LEN],
    ) -> Result<Vec<u8>, VaultError> {
        let plain = self.open(binding, ciphertext)?;
        Ok(self.seal(binding, &plain, nonce))
    }

    pub fn version(&self) -> u8 {
        self.version
    }

    fn cipher_for(&self, user_id: i64) -> Aes256Gcm {
        Self::cipher_with(&self.master, user_id)
    }

    fn cipher_with(master: &[u8; 32], user_id: i64) -> Aes256Gcm {
        let hk = Hkdf::<Sha256>::new(Some(&user_id.to_be_bytes()), master.as_slice());
        let mut key = Zeroizing::new([0u8; 32]);
        hk.expand(HKDF_INFO, key.as_mut_slice())
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key));
        key.zeroize();
        cipher
    }

    /// Encrypts `plaintext` for `binding` with a fresh random `nonce`.
    pub fn seal(&self, binding: &Binding<'_>, plaintext: &[u8], nonce: [u8; NONCE_LEN]) -> Vec<u8> {
        let aad = binding.aad();
        let sealed = self
            .cipher_for(binding.user_id)
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(HEADER_LEN + sealed.len());
        out.push(self.version);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Decrypts what [`seal`](Self::seal) produced for the same binding.
    pub fn open(
        &self,
        binding: &Binding<'_>,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        if ciphertext.len() < HEADER_LEN + TAG_LEN {
            return Err(VaultError::Truncated);
        }
        let found = ciphertext[0];
        let master = if found == self.version {
            &self.master
        } else {
            match &self.previous {
                Some((key, v)) if *v == found => key,
                _ => {
                    return Err(VaultError::UnknownKeyVersion {
                        found,
                        held: self.version,
                    });
                }
            }
        };
        let aad = binding.aad();
        let nonce: [u8; NONCE_LEN] = ciphertext[1..HEADER_LEN]
            .try_into()
            .map_err(|_| VaultError::Truncated)?;
        Self::cipher_with(master, binding.user_id)
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &ciphertext[HEADER_LEN..],
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| VaultError::Forged)
    }

    /// The master key version a ciphertext was sealed under.
    pub fn version_of(ciphertext: &[u8]) -> Option<u8> {
        ciphertext.first().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(user_id: i64, row_id: i64, column: &str) -> Binding<'_> {
        Binding {
            user_id,
            table: "api_keys",
            row_id,
            column,
        }
    }

    #[test]
    fn round_trips() {
        let vault = Vault::new([7; 32], 1);
        let b = binding(42, 3, "api_secret_enc");
        let sealed = vault.seal(&b, b"s3cr3t", [1; 12]);
        assert_eq!(sealed[0], 1);
        assert_eq!(sealed.len(), 1 + 12 + 6 + 16);
        assert!(!sealed.windows(6).any(|w| w == b"s3cr3t"));
        assert_eq!(vault.open(&b, &sealed).unwrap().as_slice(), b"s3cr3t");
    }

    #[test]
    fn fresh_nonces_give_different_ciphertexts() {
        let vault = Vault::new([7; 32], 1);
        let b = binding(42, 3, "api_key_enc");
        assert_ne!(vault.seal(&b, b"x", [1; 12]), vault.seal(&b, b"x", [2; 12]));
    }

    #[test]
    fn refuses_another_row_column_or_user() {
        let vault = Vault::new([7; 32], 1);
        let sealed = vault.seal(&binding(42, 3, "api_secret_enc"), b"s3cr3t", [1; 12]);
        for wrong in [
            binding(43, 3, "api_secret_enc"),
            binding(42, 4, "api_secret_enc"),
            binding(42, 3, "api_key_enc"),
            Binding {
                table: "telegram_bots",
                ..binding(42, 3, "api_secret_enc")
            },
        ] {
            assert_eq!(
                vault.open(&wrong, &sealed),
                Err(VaultError::Forged),
                "{wrong:?}"
            );
        }
    }

    #[test]
    fn refuses_tampering_and_truncation() {
        let vault = Vault::new([7; 32], 1);
        let b = binding(1, 1, "c");
        let sealed = vault.seal(&b, b"payload", [9; 12]);
        for i in 1..sealed.len() {
            let mut t = sealed.clone();
            t[i] ^= 0x01;
            assert_eq!(vault.open(&b, &t), Err(VaultError::Forged), "byte {i}");
        }
        assert_eq!(vault.open(&b, &sealed[..20]), Err(VaultError::Truncated));
    }

    #[test]
    fn another_master_key_cannot_open() {
        let b = binding(1, 1, "c");
        let sealed = Vault::new([7; 32], 1).seal(&b, b"payload", [9; 12]);
        assert_eq!(
            Vault::new([8; 32], 1).open(&b, &sealed),
            Err(VaultError::Forged)
        );
        assert_eq!(
            Vault::new([7; 32], 2).open(&b, &sealed),
            Err(VaultError::UnknownKeyVersion { found: 1, held: 2 })
        );
    }

    /// Computed independently with Python's `cryptography` 48 (HKDF-SHA256
    /// with salt = user id big-endian, info as above; AESGCM with the same
    /// associated data). A change to the derivation or the layout would
    /// orphan every stored credential, so it must fail here first.
    #[test]
    fn known_answer_from_an_independent_implementation() {
        let vault = Vault::new([0x11; 32], 1);
        let b = binding(1, 1, "c");
        let sealed = vault.seal(&b, b"abc", [0; 12]);
        assert_eq!(hex::encode(&sealed), KNOWN);
        let known = hex::decode(KNOWN).unwrap();
        assert_eq!(vault.open(&b, &known).unwrap().as_slice(), b"abc");
    }

    #[test]
    fn rotation_reseals_with_the_new_key() {
        let old = Vault::from_key([1; 32]);
        let b = binding(9, 2, "api_secret_enc");
        let sealed = old.seal(&b, b"s3cr3t", [3; 12]);
        assert_eq!(Vault::version_of(&sealed), Some(key_version(&[1; 32])));
        let new = Vault::from_key([2; 32]).with_previous([1; 32]);
        let resealed = new.reseal(&b, &sealed, [4; 12]).unwrap();
        assert_eq!(Vault::version_of(&resealed), Some(key_version(&[2; 32])));
        let only_new = Vault::from_key([2; 32]);
        assert_eq!(only_new.open(&b, &resealed).unwrap().as_slice(), b"s3cr3t");
        assert!(matches!(
            only_new.open(&b, &sealed),
            Err(VaultError::UnknownKeyVersion { .. })
        ));
    }

    const KNOWN: &str = "01000000000000000000000000223c49ad2dea00be1091a58bfdab64c3190380";
}
