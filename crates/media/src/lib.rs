//! Content-addressed media files: streaming import with SHA-256, image checks, oriented thumbnails.
