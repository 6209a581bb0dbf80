//! The blob routes as the real server mounts them: behind the auth layer, at
//! `/api/v1/blobs`, with the JSON API's body limit and deadline not applying.

use base64::Engine as _;
use fieldbook_domain::{Role, Sha256Hex};
use reqwest::{Method, StatusCode};

use fieldbook_testkit::TestServer;

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

/// `POST /api/v1/blobs` for `data` (status, Location).
async fn create(
    server: &TestServer,
    token: &str,
    data: &[u8],
) -> (StatusCode, Option<String>, serde_json::Value) {
    let metadata = format!(
        "sha256 {}",
        base64::engine::general_purpose::STANDARD.encode(Sha256Hex::digest(data).as_str())
    );
    let response = server
        .client
        .post(server.url("/api/v1/blobs"))
        .bearer_auth(token)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", data.len().to_string())
        .header("upload-metadata", metadata)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let location = header(&response, "location");
    let body = response.json().await.unwrap_or(serde_json::Value::Null);
    (status, location, body)
}

async fn patch_all(server: &TestServer, token: &str, location: &str, data: &[u8]) {
    let response = server
        .client
        .patch(server.url(location))
        .bearer_auth(token)
        .header("tus-resumable", "1.0.0")
        .header("content-type", "application/offset+octet-stream")
        .header("upload-offset", "0")
        .body(data.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

async fn delete(server: &TestServer, token: &str, location: &str) {
    let response = server
        .client
        .delete(server.url(location))
        .bearer_auth(token)
        .header("tus-resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn unfinished_uploads_per_user_are_capped_by_count() {
    let server = TestServer::start_with(|config| {
        config.max_unfinished_uploads_per_user = 3;
    })
    .await;
    server.add_user("tech", Role::Technician);
    server.add_user("other", Role::Technician);
    let token = server.token("tech").await;
    let mut locations = Vec::new();
    for n in 0..3u8 {
        let (status, location, body) = create(&server, &token, &[n; 10]).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        locations.push(location.unwrap());
    }
    let (status, location, body) = create(&server, &token, &[9; 10]).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["code"], "too_many_unfinished_uploads");
    assert!(body["message"].as_str().unwrap().contains('3'), "{body}");
    assert!(location.is_none());
    // Asking again for an upload the user already has is no new upload.
    let (status, location, _) = create(&server, &token, &[0; 10]).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(location.as_deref(), Some(locations[0].as_str()));
    // The quota is per user.
    let other = server.token("other").await;
    let (status, _, body) = create(&server, &other, &[9; 10]).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // Finishing one or abandoning one makes room.
    patch_all(&server, &token, &locations[0], &[0; 10]).await;
    let (status, _, body) = create(&server, &token, &[9; 10]).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _, _) = create(&server, &token, &[8; 10]).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    delete(&server, &token, &locations[1]).await;
    let (status, _, body) = create(&server, &token, &[8; 10]).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn unfinished_uploads_per_user_are_capped_by_reserved_bytes() {
    let server = TestServer::start_with(|config| {
        config.max_blob_bytes = 1000;
        config.max_reserved_upload_bytes_per_user = 2500;
    })
    .await;
    server.add_user("tech", Role::Technician);
    let token = server.token("tech").await;
    let (status, first, body) = create(&server, &token, &[1; 1000]).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _, body) = create(&server, &token, &[2; 1000]).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // 2000 reserved: 600 more would pass 2500, 500 does not.
    let (status, _, body) = create(&server, &token, &[3; 600]).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["code"], "upload_quota_exceeded");
    let (status, _, body) = create(&server, &token, &[3; 500]).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _, _) = create(&server, &token, &[4; 1]).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // A finished upload reserves nothing.
    patch_all(&server, &token, &first.unwrap(), &[1; 1000]).await;
    let (status, _, body) = create(&server, &token, &[4; 1000]).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}
