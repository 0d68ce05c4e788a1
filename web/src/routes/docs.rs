//! `GET /api/v1/openapi.json` and `GET /api/v1/docs`: the OpenAPI document
//! and a page that renders it. The page is built here, on the server, from
//! the same document: it needs no script, no CDN and no network, so it works
//! on the embedded default offline and under a CSP that forbids scripts.

use crate::openapi;
use actix_web::HttpResponse;
use serde_json::Value;
use std::fmt::Write as _;

pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(openapi::json())
}

/// No scripts at all; inline styles only.
const DOCS_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; \
                        frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

pub async fn docs_page() -> HttpResponse {
    static PAGE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let page = PAGE.get_or_init(|| {
        let doc: Value = serde_json::from_str(openapi::json()).expect("valid JSON");
        render(&doc)
    });
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Content-Security-Policy", DOCS_CSP))
        .body(page.as_str())
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// `#/components/schemas/Health` → `Health`.
fn schema_name(schema: &Value) -> String {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        return r.rsplit('/').next().unwrap_or(r).to_owned();
    }
    if let Some(items) = schema.get("items") {
        return format!("[{}]", schema_name(items));
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            return options
                .iter()
                .map(schema_name)
                .filter(|n| n != "null")
                .collect::<Vec<_>>()
                .join(" | ");
        }
    }
    match schema.get("type") {
        // OpenAPI 3.1 spells an optional string `["string", "null"]`.
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect::<Vec<_>>()
            .join(" | "),
        _ => str_of(schema, "type").to_owned(),
    }
}

fn render_schema(name: &str, schema: &Value, out: &mut String) {
    let _ = write!(out, "<section id=\"schema-{0}\"><h3>{0}</h3>", escape(name));
    if let Some(d) = schema.get("description").and_then(Value::as_str) {
        let _ = write!(out, "<p>{}</p>", escape(d));
    }
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        out.push_str(
            "<table><tr><th>field</th><th>type</th><th>required</th><th>description</th></tr>",
        );
        for (field, prop) in props {
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(field),
                escape(&schema_name(prop)),
                if required.contains(&field.as_str()) {
                    "yes"
                } else {
                    ""
                },
                escape(str_of(prop, "description")),
            );
        }
        out.push_str("</table>");
    }
    out.push_str("</section>");
}

fn render(doc: &Value) -> String {
    let info = &doc["info"];
    let title = escape(str_of(info, "title"));
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{title}</title><style>\
         body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}}\
         code{{background:#f3f3f3;padding:0 .2rem}}table{{border-collapse:collapse;margin:.5rem 0}}\
         td,th{{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}}\
         .op{{border-left:4px solid #888;padding-left:1rem;margin:1.5rem 0}}\
         .get{{border-color:#2a7}}.post{{border-color:#27a}}.put{{border-color:#a72}}.delete{{border-color:#a22}}\
         .m{{font-weight:bold;text-transform:uppercase}}</style></head><body>\
         <h1>{title} <small>{}</small></h1><p>{}</p>\
         <p>Machine-readable: <a href=\"openapi.json\">openapi.json</a></p><h2>Endpoints</h2>",
        escape(str_of(info, "version")),
        escape(str_of(info, "description")),
    );
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            let Some(item) = item.as_object() else {
                continue;
            };
            for method in ["get", "post", "put", "patch", "delete"] {
                let Some(op) = item.get(method) else { continue };
                let _ = write!(
                    out,
                    "<div class=\"op {method}\"><p><span class=\"m\">{method}</span> <code>{}</code> — {}</p>",
                    escape(path),
                    escape(str_of(op, "summary")),
                );
                if let Some(d) = op.get("description").and_then(Value::as_str) {
                    let _ = write!(out, "<p>{}</p>", escape(d));
                }
                if let Some(params) = op.get("parameters").and_then(Value::as_array) {
                    out.push_str("<table><tr><th>parameter</th><th>in</th><th>type</th><th>description</th></tr>");
                    for p in params {
                        let _ = write!(
                            out,
                            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                            escape(str_of(p, "name")),
                            escape(str_of(p, "in")),
                            escape(&schema_name(&p["schema"])),
                            escape(str_of(p, "description")),
                        );
                    }
                    out.push_str("</table>");
                }
                if let Some(content) = op
                    .pointer("/requestBody/content")
                    .and_then(Value::as_object)
                {
                    for (media, body) in content {
                        let _ = write!(
                            out,
                            "<p>Body ({}): <code>{}</code></p>",
                            escape(media),
                            escape(&schema_name(&body["schema"])),
                        );
                    }
                }
                if let Some(responses) = op.get("responses").and_then(Value::as_object) {
                    out.push_str("<table><tr><th>status</th><th>meaning</th><th>body</th></tr>");
                    for (status, r) in responses {
                        let body = r
                            .get("content")
                            .and_then(Value::as_object)
                            .and_then(|c| c.values().next())
                            .map(|m| schema_name(&m["schema"]))
                            .unwrap_or_default();
                        let _ = write!(
                            out,
                            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                            escape(status),
                            escape(str_of(r, "description")),
                            escape(&body),
                        );
                    }
                    out.push_str("</table>");
                }
                out.push_str("</div>");
            }
        }
    }
    out.push_str("<h2>Schemas</h2>");
    if let Some(schemas) = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
    {
        for (name, schema) in schemas {
            render_schema(name, schema, &mut out);
        }
    }
    out.push_str("</body></html>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_documented_path() {
        let doc: Value = serde_json::from_str(openapi::json()).unwrap();
        let page = render(&doc);
        for path in doc["paths"].as_object().unwrap().keys() {
            assert!(
                page.contains(&escape(path)),
                "{path} missing from the docs page"
            );
        }
        assert!(!page.contains("<script"));
    }

    #[test]
    fn escapes_html() {
        assert_eq!(
            escape("<a href='x'>&</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"
        );
    }
}
