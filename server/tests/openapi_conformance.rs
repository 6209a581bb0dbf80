//! Finding 6 of issue 15: the OpenAPI document must be exact. Generated
//! requests go to every operation the document lists (without a token, as
//! a technician and as ops; with ids that exist nowhere and ids that are not
//! ids; with no body, an empty object, broken JSON and an oversized body)
//! and every answer's status must be one the document gives for that
//! operation.

use std::collections::BTreeSet;

use fieldbook_domain::Role;
use fieldbook_testkit::{TestServer, OPS_USER};
use reqwest::Method;
use serde_json::Value;

/// The request bodies tried on operations that take one.
#[derive(Debug, Clone, Copy)]
enum Body {
    None,
    EmptyObject,
    BrokenJson,
    Oversized,
}

fn fill_path(template: &str, value: &str) -> String {
    let mut path = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        path.push_str(&rest[..open]);
        let close = rest[open..].find('}').expect("closing brace") + open;
        path.push_str(value);
        rest = &rest[close + 1..];
    }
    path.push_str(rest);
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_to_generated_requests_is_documented_for_its_route() {
    let server = TestServer::start().await;
    server.add_user("tina", Role::Technician);
    let (_, doc) = server
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;

    // No kept-alive connections: an oversized body makes the server close
    // the connection, which must not fail the next request.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let mut undocumented = BTreeSet::new();
    let mut tried = 0;
    for (template, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().unwrap() {
            let Ok(method) = Method::from_bytes(method.to_uppercase().as_bytes()) else {
                continue;
            };
            if !operation.is_object() || operation.get("responses").is_none() {
                continue;
            }
            let documented: BTreeSet<String> = operation["responses"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            let bodies: &[Body] = if operation.get("requestBody").is_some() {
                &[
                    Body::None,
                    Body::EmptyObject,
                    Body::BrokenJson,
                    Body::Oversized,
                ]
            } else {
                &[Body::None]
            };
            // Fresh tokens for each operation: logout revokes the one it got.
            let ops = server.token(OPS_USER).await;
            let tech = server.token("tina").await;
            let ids = [uuid::Uuid::new_v4().to_string(), "not-an-id".to_string()];
            let queries = ["", "?cursor=x&limit=0", "?cursor=18446744073709551615"];
            for token in [None, Some(tech.as_str()), Some(ops.as_str())] {
                for id in &ids {
                    for query in queries {
                        for body in bodies {
                            let url = server.url(&format!("{}{query}", fill_path(template, id)));
                            let mut request = client.request(method.clone(), url);
                            if let Some(token) = token {
                                request = request.bearer_auth(token);
                            }
                            // Past the tus version check on half the blob
                            // requests (the other half meet it).
                            if template.starts_with("/api/v1/blobs") && query.is_empty() {
                                request = request
                                    .header("tus-resumable", "1.0.0")
                                    .header("upload-offset", "0")
                                    .header("upload-length", "10")
                                    .header("content-type", "application/offset+octet-stream");
                            }
                            request = match body {
                                Body::None => request,
                                Body::EmptyObject => request
                                    .header("content-type", "application/json")
                                    .body("{}"),
                                Body::BrokenJson => request
                                    .header("content-type", "application/json")
                                    .body("{\"mutations\": ["),
                                Body::Oversized => request
                                    .header("content-type", "application/json")
                                    .body(format!("\"{}\"", "x".repeat(300 * 1024))),
                            };
                            let response = match request.send().await {
                                Ok(response) => response,
                                // The server may answer 413 from the
                                // declared length and close before the
                                // client finished writing: no status seen.
                                Err(_) if matches!(body, Body::Oversized) => continue,
                                Err(e) => panic!("{method} {template}: {e}"),
                            };
                            let status = response.status().as_u16().to_string();
                            tried += 1;
                            if !documented.contains(&status) {
                                let text = response.text().await.unwrap_or_default();
                                let text: String = text.chars().take(120).collect();
                                undocumented.insert(format!(
                                    "{method} {template}{query} ({body:?}, token: {}): {status} {text}",
                                    token.is_some()
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(tried > 500, "only {tried} requests were generated");
    assert!(
        undocumented.is_empty(),
        "{} answers are not in the document:\n{}",
        undocumented.len(),
        undocumented.into_iter().collect::<Vec<_>>().join("\n")
    );
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enumerations_and_the_mutation_are_documented_as_what_they_are() {
    let server = TestServer::start().await;
    let (_, doc) = server
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    let schemas = &doc["components"]["schemas"];
    let enum_values = |name: &str| -> Vec<String> {
        schemas[name]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} is not an enum: {}", schemas[name]))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    assert!(enum_values("InstallationStatus").contains(&"in_progress".to_owned()));
    assert!(enum_values("Role").contains(&"technician".to_owned()));
    assert!(enum_values("TimeSlot").contains(&"morning".to_owned()));
    assert!(enum_values("RejectCode").contains(&"storage_failed".to_owned()));
    // The request fields that take them refer to them.
    let refers = |schema: &Value, field: &str, target: &str| {
        let text = schema["properties"][field].to_string();
        assert!(
            text.contains(&format!("#/components/schemas/{target}")),
            "{field} does not refer to {target}: {text}"
        );
    };
    refers(&schemas["CreateUserRequest"], "role", "Role");
    refers(&schemas["TransitionRequest"], "to", "InstallationStatus");
    refers(&schemas["MutationEnvelope"], "mutation", "Mutation");
    // The mutation is a union of its kinds, each with its payload.
    let mutation = schemas["Mutation"].to_string();
    for kind in [
        "installation.start",
        "installation.finish",
        "installation.could_not_complete",
        "installation.set_flags",
        "assignment.respond",
        "report.submit",
        "media.attach",
        "media.caption",
        "media.remove",
        "report.certificate",
    ] {
        assert!(mutation.contains(kind), "{kind} missing from {mutation}");
    }
    assert!(schemas["Mutation"]["oneOf"].is_array(), "{mutation}");
    // A sequence gap names the sequence to resend from as a field of the
    // rejection, not only in its words.
    let outcome = schemas["MutationOutcome"].to_string();
    assert!(outcome.contains("expected_device_seq"), "{outcome}");

    // Every reference resolves.
    fn refs(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    match (key.as_str(), v) {
                        ("$ref", Value::String(r)) => out.push(r.clone()),
                        _ => refs(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let name = r.trim_start_matches("#/components/schemas/");
        assert!(schemas[name].is_object(), "dangling reference {r}");
    }
}
