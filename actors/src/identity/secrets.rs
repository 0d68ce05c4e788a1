//! Random tokens and their stored form. Tokens are 256-bit random strings;
//! only their SHA-256 is stored, so a database leak yields nothing usable.

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// `bytes` random bytes, base64url without padding.
pub fn token(bytes: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random(bytes))
}

/// `n` random bytes from the operating system.
pub fn random(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).expect("the operating system's random source is available");
    buf
}

/// A fresh AES-GCM nonce.
pub fn nonce() -> [u8; 12] {
    let mut n = [0u8; 12];
    getrandom::fill(&mut n).expect("the operating system's random source is available");
    n
}

/// The stored form of a high-entropy token.
pub fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}
