//! Content-addressed blob storage and the tus 1.0.0 upload endpoints.
//!
//! Mounted by the server as `.nest("/api/v1/blobs", blobs::router(store))`
//! behind the auth layer, which puts a [`Caller`](crate::caller::Caller) into
//! the request extensions. See [`tus`] for the HTTP contract, [`store`]
//! for the on-disk layout and durability rules, and [`object_uploads`] for
//! blobs in an S3-compatible store (`--blob-store`, docs/blob-store.md).

mod chunk_writer;
pub mod migrate;
pub mod object_uploads;
mod offset_file;
pub mod store;
pub mod tus;

use std::sync::Arc;

use axum::routing::{head, options};
use axum::Router;

pub use object_uploads::S3Settings;
pub use store::{
    spawn_upload_expiry, BlobError, BlobStore, ChunkRequest, CreateOutcome, TusUpload, UploadQuota,
    UploadRecord, DEFAULT_PATCH_IDLE_TIMEOUT, UPLOAD_EXPIRY,
};
pub use tus::{BlobErrorBody, TusError};

/// The blob routes, relative to their mount point (`/api/v1/blobs`).
///
/// No request-body limit applies here on purpose: PATCH bodies are streamed
/// to disk and bounded by the upload's remaining length instead. A global
/// body-size layer must not wrap these routes (or must allow at least the
/// client's chunk size).
pub fn router(store: Arc<BlobStore>) -> Router {
    Router::new()
        .route("/", options(tus::tus_options).post(tus::create_upload))
        .route(
            "/{upload_id}",
            head(tus::upload_status)
                .patch(tus::append_chunk)
                .delete(tus::terminate_upload),
        )
        .layer(axum::middleware::map_response(tus::add_tus_resumable))
        .with_state(store)
}

/// OpenAPI for the blob routes. Paths are absolute (they include
/// `/api/v1/blobs`), so merge this document as is; do not nest it.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(
        tus::tus_options,
        tus::create_upload,
        tus::upload_status,
        tus::append_chunk,
        tus::terminate_upload,
    ),
    components(schemas(BlobErrorBody)),
    tags((name = "blobs", description = "Content-addressed blobs (photos, videos, signatures), uploaded with tus 1.0.0: core + creation + checksum (sha256) + termination"))
)]
pub struct BlobsApi;

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::OpenApi as _;

    #[test]
    fn openapi_lists_every_blob_route_under_the_mount() {
        let doc = BlobsApi::openapi();
        let json = serde_json::to_value(&doc).unwrap();
        let paths = json["paths"].as_object().unwrap();
        let collection = &paths["/api/v1/blobs"];
        assert!(collection["options"].is_object());
        assert!(collection["post"]["responses"]["200"].is_object());
        assert!(collection["post"]["responses"]["201"].is_object());
        assert!(collection["post"]["responses"]["413"].is_object());
        assert!(collection["post"]["responses"]["429"].is_object());
        let upload = &paths["/api/v1/blobs/{upload_id}"];
        for method in ["head", "patch", "delete"] {
            assert!(upload[method].is_object(), "{method}");
        }
        for status in ["204", "409", "460", "422"] {
            assert!(upload["patch"]["responses"][status].is_object(), "{status}");
        }
        assert_eq!(paths.len(), 2);
    }
}
