//! The sync API contract (/api/v1): request and response types, error codes.
