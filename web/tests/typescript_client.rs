//! The TypeScript client in `clients/typescript` follows the API: its
//! `openapi.json` is what the binary prints, its `schema.d.ts` is what
//! `openapi-typescript` makes of it, and its example (the calls a
//! dashboard makes) type-checks against them. An API change the client has
//! not followed fails here, with the command that brings it up to date.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn client_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../clients/typescript")
}

fn npm() -> Option<PathBuf> {
    tool(None, &["npm"], "Debian packages `nodejs` and `npm`")
}

const REGENERATE: &str = "regenerate with: cargo run -q -- openapi > clients/typescript/openapi.json \
                          && (cd clients/typescript && npm install && npm run generate)";

#[test]
fn the_typescript_client_follows_the_api() {
    let out = Command::new(BIN).arg("openapi").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let committed = std::fs::read(client_dir().join("openapi.json")).unwrap();
    assert!(
        out.stdout == committed,
        "clients/typescript/openapi.json is not the API's document: {REGENERATE}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["paths"]["/api/v1/positions/history"]["get"].is_object());

    let Some(npm) = npm() else { return };
    // A copy, so node_modules never lands in the repository.
    let work = tempfile::tempdir().unwrap();
    for f in [
        "package.json",
        "tsconfig.json",
        "openapi.json",
        "schema.d.ts",
        "index.ts",
        "example.ts",
    ] {
        std::fs::copy(client_dir().join(f), work.path().join(f)).unwrap();
    }
    let run = |args: &[&str]| {
        let out = Command::new(&npm)
            .args(args)
            .current_dir(work.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "npm {args:?}:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["install", "--no-audit", "--no-fund", "--prefer-offline"]);
    // Regenerated from the document, the types are the committed ones.
    std::fs::rename(
        work.path().join("schema.d.ts"),
        work.path().join("committed.d.ts"),
    )
    .unwrap();
    run(&["run", "generate"]);
    let fresh = std::fs::read_to_string(work.path().join("schema.d.ts")).unwrap();
    let committed = std::fs::read_to_string(work.path().join("committed.d.ts")).unwrap();
    assert!(
        fresh == committed,
        "clients/typescript/schema.d.ts is stale: {REGENERATE}"
    );
    // And the client and its example compile against them.
    run(&["run", "check"]);
    announce("typescript client: document, generated types and example agree with the binary");
}
