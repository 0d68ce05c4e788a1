//! AWS Signature Version 4 for S3-compatible storage (AWS, MinIO, Ceph,
//! Backblaze, …): the `Authorization` header of a request from its method,
//! path, query, headers and payload hash. Checked against AWS's published
//! example in the tests.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The hex SHA-256 of a payload (`x-amz-content-sha256`).
pub fn payload_hash(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// A path segment encoded as S3 expects (RFC 3986 unreserved kept).
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// What a request is signed over.
pub struct Request<'a> {
    pub method: &'a str,
    /// Already encoded (`/bucket/key%20name`).
    pub path: &'a str,
    /// Already canonical (sorted, encoded), or empty.
    pub query: &'a str,
    /// Name and value of each header signed; `host`, `x-amz-date` and
    /// `x-amz-content-sha256` among them.
    pub headers: &'a [(&'a str, &'a str)],
    pub payload_hash: &'a str,
}

/// The credentials and scope.
pub struct Signer<'a> {
    pub access_key: &'a str,
    pub secret_key: &'a str,
    pub region: &'a str,
    pub service: &'a str,
}

impl Signer<'_> {
    /// The `Authorization` header for `req` made at `amz_date`
    /// (`20130524T000000Z`).
    pub fn authorization(&self, req: &Request<'_>, amz_date: &str) -> String {
        let mut headers: Vec<(String, String)> = req
            .headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        headers.sort();
        let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let signed: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
        let signed = signed.join(";");
        let canonical = format!(
            "{}\n{}\n{}\n{}\n{}\n{}",
            req.method, req.path, req.query, canonical_headers, signed, req.payload_hash
        );
        let day = &amz_date[..8.min(amz_date.len())];
        let scope = format!("{day}/{}/{}/aws4_request", self.region, self.service);
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let k_date = hmac(format!("AWS4{}", self.secret_key).as_bytes(), day);
        let k_region = hmac(&k_date, self.region);
        let k_service = hmac(&k_region, self.service);
        let k_signing = hmac(&k_service, "aws4_request");
        let signature = hex::encode(hmac(&k_signing, &to_sign));
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope},SignedHeaders={signed},Signature={signature}",
            self.access_key
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's example "GET Object" of the S3 SigV4 documentation (header
    /// authentication, single chunk).
    #[test]
    fn the_published_example_signs_to_its_signature() {
        let signer = Signer {
            access_key: "AKIAIOSFODNN7EXAMPLE",
            secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            region: "us-east-1",
            service: "s3",
        };
        let empty = payload_hash(b"");
        assert_eq!(
            empty,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let auth = signer.authorization(
            &Request {
                method: "GET",
                path: "/test.txt",
                query: "",
                headers: &[
                    ("Host", "examplebucket.s3.amazonaws.com"),
                    ("Range", "bytes=0-9"),
                    ("x-amz-content-sha256", &empty),
                    ("x-amz-date", "20130524T000000Z"),
                ],
                payload_hash: &empty,
            },
            "20130524T000000Z",
        );
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,\
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
        assert_eq!(encode_segment("a b/c~"), "a%20b%2Fc~");
    }
}
