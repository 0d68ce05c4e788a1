//! Sealed backups: a database dump encrypted and authenticated chunk by
//! chunk (the STREAM construction over AES-256-GCM), so a backup that was
//! altered, truncated, reordered or spliced from two backups fails to open
//! instead of restoring something else. The key comes from a passphrase
//! through Argon2id; the parameters and salt travel in the header, which
//! every chunk authenticates.
//!
//! Format: header (`MAGIC`, Argon2 memory KiB, passes, lanes as u32 BE,
//! 16-byte salt, 7-byte nonce prefix), then chunks of [`CHUNK`] plaintext
//! bytes sealed with the nonce `prefix ‖ counter (u32 BE) ‖ last (0 or 1)`;
//! the final chunk (possibly empty) alone carries `last = 1`.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key};
use zeroize::Zeroizing;

pub const MAGIC: &[u8; 8] = b"TBSEAL01";
/// Plaintext bytes per chunk.
pub const CHUNK: usize = 64 * 1024;
/// What sealing adds to each chunk.
pub const TAG_LEN: usize = 16;
pub const SALT_LEN: usize = 16;
pub const PREFIX_LEN: usize = 7;
pub const HEADER_LEN: usize = MAGIC.len() + 12 + SALT_LEN + PREFIX_LEN;

/// Argon2id cost: the OWASP minimum for interactive logins is 19 MiB and
/// 2 passes; a backup is sealed once a day, so it can afford more.
pub const MEMORY_KIB: u32 = 64 * 1024;
pub const PASSES: u32 = 3;
pub const LANES: u32 = 1;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BackupError {
    #[error("not a sealed TradingBot backup (bad header)")]
    NotSealed,
    #[error(
        "the backup cannot be opened: wrong passphrase, or it was altered, truncated or spliced"
    )]
    Forged,
    #[error("the backup's key parameters are out of range")]
    BadParams,
    #[error("the backup is too large to seal (over 2^32 chunks)")]
    TooLarge,
}

fn derive(
    passphrase: &[u8],
    salt: &[u8],
    m: u32,
    t: u32,
    p: u32,
) -> Result<Aes256Gcm, BackupError> {
    let params = argon2::Params::new(m, t, p, Some(32)).map_err(|_| BackupError::BadParams)?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(passphrase, salt, key.as_mut_slice())
        .map_err(|_| BackupError::BadParams)?;
    Ok(Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key)))
}

fn nonce(prefix: &[u8; PREFIX_LEN], counter: u32, last: bool) -> aes_gcm::aead::Nonce<Aes256Gcm> {
    let mut n = [0u8; 12];
    n[..PREFIX_LEN].copy_from_slice(prefix);
    n[PREFIX_LEN..11].copy_from_slice(&counter.to_be_bytes());
    n[11] = u8::from(last);
    aes_gcm::aead::Nonce::<Aes256Gcm>::from(n)
}

/// Seals a stream, chunk by chunk, in order.
pub struct Sealer {
    cipher: Aes256Gcm,
    header: Vec<u8>,
    prefix: [u8; PREFIX_LEN],
    counter: Option<u32>,
}

impl Sealer {
    /// `salt` and `prefix` must be random (fresh for each backup).
    pub fn new(
        passphrase: &[u8],
        salt: [u8; SALT_LEN],
        prefix: [u8; PREFIX_LEN],
    ) -> Result<Self, BackupError> {
        Self::with_cost(passphrase, salt, prefix, MEMORY_KIB, PASSES)
    }

    /// With another Argon2 cost (tests).
    pub fn with_cost(
        passphrase: &[u8],
        salt: [u8; SALT_LEN],
        prefix: [u8; PREFIX_LEN],
        memory_kib: u32,
        passes: u32,
    ) -> Result<Self, BackupError> {
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(MAGIC);
        for v in [memory_kib, passes, LANES] {
            header.extend_from_slice(&v.to_be_bytes());
        }
        header.extend_from_slice(&salt);
        header.extend_from_slice(&prefix);
        Ok(Self {
            cipher: derive(passphrase, &salt, memory_kib, passes, LANES)?,
            header,
            prefix,
            counter: Some(0),
        })
    }

    /// What goes first in the file.
    pub fn header(&self) -> &[u8] {
        &self.header
    }

    /// The next chunk (at most [`CHUNK`] bytes), sealed; `last` for the
    /// final one, after which nothing more can be sealed.
    pub fn seal(&mut self, chunk: &[u8], last: bool) -> Result<Vec<u8>, BackupError> {
        let counter = self.counter.ok_or(BackupError::TooLarge)?;
        let sealed = self
            .cipher
            .encrypt(
                &nonce(&self.prefix, counter, last),
                Payload {
                    msg: chunk,
                    aad: &self.header,
                },
            )
            .map_err(|_| BackupError::TooLarge)?;
        self.counter = if last { None } else { counter.checked_add(1) };
        Ok(sealed)
    }
}

/// Opens what a [`Sealer`] produced, chunk by chunk, in order.
pub struct Opener {
    cipher: Aes256Gcm,
    header: Vec<u8>,
    prefix: [u8; PREFIX_LEN],
    counter: u32,
}

impl Opener {
    /// From the first [`HEADER_LEN`] bytes of the file.
    pub fn new(passphrase: &[u8], header: &[u8]) -> Result<Self, BackupError> {
        if header.len() != HEADER_LEN || &header[..MAGIC.len()] != MAGIC {
            return Err(BackupError::NotSealed);
        }
        let word = |i: usize| {
            let at = MAGIC.len() + 4 * i;
            u32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
        };
        let (m, t, p) = (word(0), word(1), word(2));
        // A header asking for gigabytes of memory is refused, not obeyed.
        if m > 1024 * 1024 || t > 16 || p != LANES {
            return Err(BackupError::BadParams);
        }
        let salt = &header[MAGIC.len() + 12..MAGIC.len() + 12 + SALT_LEN];
        let mut prefix = [0u8; PREFIX_LEN];
        prefix.copy_from_slice(&header[HEADER_LEN - PREFIX_LEN..]);
        Ok(Self {
            cipher: derive(passphrase, salt, m, t, p)?,
            header: header.to_vec(),
            prefix,
            counter: 0,
        })
    }

    /// The next sealed chunk (at most [`CHUNK`] + [`TAG_LEN`] bytes);
    /// `last` when the file ends after it. A chunk that was not sealed as
    /// exactly this one fails.
    pub fn open(&mut self, sealed: &[u8], last: bool) -> Result<Vec<u8>, BackupError> {
        let plain = self
            .cipher
            .decrypt(
                &nonce(&self.prefix, self.counter, last),
                Payload {
                    msg: sealed,
                    aad: &self.header,
                },
            )
            .map_err(|_| BackupError::Forged)?;
        self.counter = self.counter.checked_add(1).ok_or(BackupError::Forged)?;
        Ok(plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seals `data` in chunks of `CHUNK`, as the command line does.
    fn seal_all(pass: &[u8], data: &[u8]) -> Vec<u8> {
        let mut s = Sealer::with_cost(pass, [7; SALT_LEN], [9; PREFIX_LEN], 64, 1).unwrap();
        let mut out = s.header().to_vec();
        let chunks: Vec<&[u8]> = if data.is_empty() {
            vec![&[]]
        } else {
            data.chunks(CHUNK).collect()
        };
        for (i, c) in chunks.iter().enumerate() {
            out.extend(s.seal(c, i + 1 == chunks.len()).unwrap());
        }
        out
    }

    fn open_all(pass: &[u8], file: &[u8]) -> Result<Vec<u8>, BackupError> {
        if file.len() < HEADER_LEN {
            return Err(BackupError::NotSealed);
        }
        let mut o = Opener::new(pass, &file[..HEADER_LEN])?;
        let body = &file[HEADER_LEN..];
        let chunks: Vec<&[u8]> = body.chunks(CHUNK + TAG_LEN).collect();
        let mut out = Vec::new();
        for (i, c) in chunks.iter().enumerate() {
            out.extend(o.open(c, i + 1 == chunks.len())?);
        }
        if chunks.is_empty() {
            return Err(BackupError::Forged);
        }
        Ok(out)
    }

    #[test]
    fn what_is_sealed_opens_and_nothing_else_does() {
        let data: Vec<u8> = (0..(2 * CHUNK + 123))
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        let file = seal_all(b"pass", &data);
        assert_eq!(open_all(b"pass", &file).unwrap(), data);
        assert_eq!(open_all(b"wrong", &file), Err(BackupError::Forged));
        // A flipped bit anywhere: header or body.
        for at in [3, HEADER_LEN - 1, HEADER_LEN + 10, file.len() - 1] {
            let mut bad = file.clone();
            bad[at] ^= 1;
            assert!(open_all(b"pass", &bad).is_err(), "flip at {at}");
        }
        // Cut after a whole chunk: the new last one was not sealed as last.
        let cut = &file[..HEADER_LEN + 2 * (CHUNK + TAG_LEN)];
        assert_eq!(open_all(b"pass", cut), Err(BackupError::Forged));
        // Two chunks swapped.
        let mut swapped = file[..HEADER_LEN].to_vec();
        let body = &file[HEADER_LEN..];
        swapped.extend_from_slice(&body[CHUNK + TAG_LEN..2 * (CHUNK + TAG_LEN)]);
        swapped.extend_from_slice(&body[..CHUNK + TAG_LEN]);
        swapped.extend_from_slice(&body[2 * (CHUNK + TAG_LEN)..]);
        assert_eq!(open_all(b"pass", &swapped), Err(BackupError::Forged));
        // Empty input is one empty final chunk; the header alone is not a backup.
        let empty = seal_all(b"pass", &[]);
        assert_eq!(open_all(b"pass", &empty).unwrap(), Vec::<u8>::new());
        assert!(open_all(b"pass", &empty[..HEADER_LEN]).is_err());
        assert_eq!(
            Opener::new(b"pass", b"not a header").err(),
            Some(BackupError::NotSealed)
        );
    }
}
