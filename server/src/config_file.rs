//! The server's config file (TOML; the Debian package installs
//! `/etc/fieldbook-server/config.toml`). Every key is also a command-line
//! flag of the same name (`data_dir` ↔ `--data-dir`); a flag or its
//! environment variable wins over the file, the file over the built-in
//! default. The binary applies the file as the flags' defaults, so there is
//! one parser and one set of checks for both.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// What the file may hold. Unknown keys are refused, so a typo is an error
/// at start-up rather than a setting silently ignored.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Address and port to listen on (`--addr`).
    pub addr: Option<SocketAddr>,
    /// The database and blobs (`--data-dir`).
    pub data_dir: Option<PathBuf>,
    /// The database, when not SQLite in `data_dir`: `postgres://…`
    /// (`--database-url`).
    pub database_url: Option<String>,
    /// PEM certificate chain for the server's own HTTPS (`--tls-cert`).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert` (`--tls-key`).
    pub tls_key: Option<PathBuf>,
    /// The URL people and devices use, e.g. behind a TLS proxy (`--public-url`).
    pub public_url: Option<String>,
    /// Reverse proxies whose `X-Forwarded-For` is believed: addresses or
    /// networks (`--trusted-proxy`, repeatable).
    pub trusted_proxies: Option<Vec<String>>,
    /// Log as JSON lines (`--json-logs`).
    pub json_logs: Option<bool>,
    /// Days closed and cancelled jobs stay on devices (`--retention-days`).
    pub retention_days: Option<u32>,
    /// Blobs in an S3-compatible store, `s3://bucket[/prefix]`
    /// (`--blob-store`); unset: the data directory.
    pub blob_store: Option<String>,
    /// Its endpoint when not AWS, e.g. `http://127.0.0.1:9000`
    /// (`--blob-store-endpoint`).
    pub blob_store_endpoint: Option<String>,
    /// `--blob-store-region`.
    pub blob_store_region: Option<String>,
    /// `--blob-store-access-key-id` (else `AWS_ACCESS_KEY_ID`).
    pub blob_store_access_key_id: Option<String>,
    /// `--blob-store-secret-access-key` (else `AWS_SECRET_ACCESS_KEY`); keep
    /// the file readable by the server's user only.
    pub blob_store_secret_access_key: Option<String>,
    /// Allow a plain-http endpoint (`--blob-store-allow-http`).
    pub blob_store_allow_http: Option<bool>,
    /// Pulls one instance runs at once (`--max-concurrent-pulls`).
    pub max_concurrent_pulls: Option<u16>,
    /// Pulls that may wait for a slot (`--pull-queue`).
    pub pull_queue: Option<u16>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    #[error("cannot read the config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the config file {path} is not valid: {message}")]
    Invalid { path: String, message: String },
}

impl ConfigFile {
    /// Reads and checks the file. Relative paths in it are taken relative
    /// to the file's own directory, not to wherever the server was started.
    pub fn load(path: &Path) -> Result<ConfigFile, ConfigFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigFileError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut file: ConfigFile = toml::from_str(&text).map_err(|e| ConfigFileError::Invalid {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        for p in [&mut file.data_dir, &mut file.tls_cert, &mut file.tls_key]
            .into_iter()
            .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        Ok(file)
    }

    /// The file's values as `(flag id, values)`, for the flags' defaults.
    pub fn flag_defaults(&self) -> Vec<(&'static str, Vec<String>)> {
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| vec![p.display().to_string()]);
        [
            ("addr", self.addr.map(|a| vec![a.to_string()])),
            ("data_dir", path(&self.data_dir)),
            ("database_url", self.database_url.clone().map(|u| vec![u])),
            ("tls_cert", path(&self.tls_cert)),
            ("tls_key", path(&self.tls_key)),
            ("public_url", self.public_url.clone().map(|u| vec![u])),
            ("trusted_proxies", self.trusted_proxies.clone()),
            ("json_logs", self.json_logs.map(|b| vec![b.to_string()])),
            (
                "retention_days",
                self.retention_days.map(|d| vec![d.to_string()]),
            ),
            ("blob_store", self.blob_store.clone().map(|v| vec![v])),
            (
                "blob_store_endpoint",
                self.blob_store_endpoint.clone().map(|v| vec![v]),
            ),
            (
                "blob_store_region",
                self.blob_store_region.clone().map(|v| vec![v]),
            ),
            (
                "blob_store_access_key_id",
                self.blob_store_access_key_id.clone().map(|v| vec![v]),
            ),
            (
                "blob_store_secret_access_key",
                self.blob_store_secret_access_key.clone().map(|v| vec![v]),
            ),
            (
                "blob_store_allow_http",
                self.blob_store_allow_http.map(|b| vec![b.to_string()]),
            ),
            (
                "max_concurrent_pulls",
                self.max_concurrent_pulls.map(|n| vec![n.to_string()]),
            ),
            ("pull_queue", self.pull_queue.map(|n| vec![n.to_string()])),
        ]
        .into_iter()
        .filter_map(|(id, values)| values.map(|v| (id, v)))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn reads_every_key_and_resolves_relative_paths_next_to_the_file() {
        let (dir, path) = write(
            r#"
addr = "0.0.0.0:8443"
data_dir = "/var/lib/fieldbook-server"
tls_cert = "tls/fullchain.pem"
tls_key = "/etc/fieldbook-server/tls/privkey.pem"
public_url = "https://fieldbook.example.com"
trusted_proxies = ["127.0.0.1", "10.0.0.0/8"]
json_logs = true
database_url = "postgres://fieldbook@db.example.com/fieldbook"
"#,
        );
        let file = ConfigFile::load(&path).unwrap();
        assert_eq!(file.addr, Some("0.0.0.0:8443".parse().unwrap()));
        assert_eq!(file.tls_cert, Some(dir.path().join("tls/fullchain.pem")));
        assert_eq!(
            file.tls_key,
            Some("/etc/fieldbook-server/tls/privkey.pem".into())
        );
        let defaults = file.flag_defaults();
        assert_eq!(defaults.len(), 8);
        assert!(defaults.contains(&(
            "database_url",
            vec!["postgres://fieldbook@db.example.com/fieldbook".to_owned()]
        )));
        assert!(defaults.contains(&(
            "trusted_proxies",
            vec!["127.0.0.1".to_owned(), "10.0.0.0/8".to_owned()]
        )));
        assert!(defaults.contains(&("json_logs", vec!["true".to_owned()])));
    }

    #[test]
    fn an_empty_file_sets_nothing() {
        let (_dir, path) = write("# everything commented out\n");
        assert_eq!(ConfigFile::load(&path).unwrap(), ConfigFile::default());
        assert!(ConfigFile::default().flag_defaults().is_empty());
    }

    #[test]
    fn typos_and_bad_values_are_errors_that_name_the_file() {
        let (_dir, path) = write("data_directory = \"/srv\"\n");
        let err = ConfigFile::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("config.toml") && err.contains("data_directory"),
            "{err}"
        );
        let (_dir, path) = write("addr = \"localhost\"\n");
        let err = ConfigFile::load(&path).unwrap_err().to_string();
        assert!(err.contains("addr"), "{err}");
        let missing = ConfigFile::load(Path::new("/nonexistent/fieldbook.toml")).unwrap_err();
        assert!(missing.to_string().contains("/nonexistent/fieldbook.toml"));
    }
}
