//! The blob routes as the real server mounts them: behind the auth layer, at
//! `/api/v1/blobs`, with the JSON API's body limit and deadline not applying.

mod common;

use base64::Engine as _;
use fieldbook_domain::{Role, Sha256Hex};
use reqwest::{Method, StatusCode};

use common::TestServer;

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn upload_through_the_real_server() {
    let server = TestServer::start_with(|config| {
        // Larger than the JSON body limit, to show it does not apply here.
        config.json_body_limit = 64 * 1024;
    })
    .await;
    server.add_user("tech", Role::Technician);
    let token = server.token("tech").await;
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let sha = Sha256Hex::digest(&data);
    let metadata = format!(
        "sha256 {}",
        base64::engine::general_purpose::STANDARD.encode(sha.as_str())
    );
    let collection = server.url("/api/v1/blobs");

    let options = server
        .client
        .request(Method::OPTIONS, &collection)
        .send()
        .await
        .unwrap();
    assert_eq!(options.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&options, "tus-version").as_deref(), Some("1.0.0"));

    let anonymous = server
        .client
        .post(&collection)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", data.len().to_string())
        .header("upload-metadata", &metadata)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    let created = server
        .client
        .post(&collection)
        .bearer_auth(&token)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", data.len().to_string())
        .header("upload-metadata", &metadata)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let location = header(&created, "location").unwrap();
    assert!(location.starts_with("/api/v1/blobs/"), "{location}");
    let upload = server.url(&location);

    // One chunk bigger than the JSON body limit, then the rest.
    let mut offset = 0;
    for end in [200_000, data.len()] {
        let response = server
            .client
            .patch(&upload)
            .bearer_auth(&token)
            .header("tus-resumable", "1.0.0")
            .header("content-type", "application/offset+octet-stream")
            .header("upload-offset", offset.to_string())
            .body(data[offset..end].to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_eq!(header(&response, "upload-offset"), Some(end.to_string()));
        offset = end;
    }
    assert!(server.state.blobs.contains(&sha));
    let stored = std::fs::read(server.state.blobs.path_of(&sha).unwrap()).unwrap();
    assert_eq!(stored, data);

    let again = server
        .client
        .post(&collection)
        .bearer_auth(&token)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", data.len().to_string())
        .header("upload-metadata", &metadata)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(
        header(&again, "fieldbook-blob-exists").as_deref(),
        Some("true")
    );
}
