//! Content-addressed blob storage and the tus 1.0.0 upload endpoints.
