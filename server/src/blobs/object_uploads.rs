//! Blobs and tus uploads in an S3-compatible object store
//! (`--blob-store s3://bucket[/prefix]`), shared by every server instance.
//! Why it is built this way, and what a crash leaves behind:
//! docs/blob-store.md.
//!
//! Keys under the prefix:
//! - `blobs/ab/<sha256>` — a complete blob whose SHA-256 was verified;
//! - `uploads/<owner>/<id>/record.json` — the [`UploadRecord`]: written at
//!   creation and rewritten once, `complete`, when the blob is stored (its
//!   `offset` is not kept up to date there: it is derived from the chunks);
//! - `uploads/<owner>/<id>/chunks/<offset, 20 digits>` — received bytes, one
//!   immutable object per segment, each created with a conditional put (`If-None-Match: *`), so two
//!   instances can never both write at the same offset.
//!
//! The upload's offset is the end of the contiguous run of segments from 0;
//! it is complete once its record says so. Nothing about an upload lives in one
//! process: any instance answers HEAD and PATCH from the store alone. Segment
//! keys and the owner in every upload key are built from parsed [`Uuid`]s,
//! numbers and validated [`Sha256Hex`]es; no client string reaches a key.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use chrono::{DateTime, Utc};
use fieldbook_domain::Sha256Hex;
use futures_util::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, WriteMultipart};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::store::{
    BlobError, ChunkHasher, ChunkRequest, CreateOutcome, TusUpload, UploadQuota, UploadRecord,
};

/// Bytes per segment object: a PATCH body is cut into segments of this size
/// as it arrives, so a request holds at most one segment in memory.
pub const SEGMENT_BYTES: usize = 8 << 20;

/// Where and how to reach an S3-compatible store. Unset values come from the
/// standard `AWS_*` environment variables (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`,
/// `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`, …).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct S3Settings {
    /// `s3://bucket` or `s3://bucket/prefix`.
    pub url: String,
    /// `http(s)://host:port` of an S3-compatible server other than AWS.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Allow a plain-http endpoint (a local test server).
    pub allow_http: bool,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret never reaches a log line.
        f.debug_struct("S3Settings")
            .field("url", &self.url)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("allow_http", &self.allow_http)
            .finish_non_exhaustive()
    }
}

impl S3Settings {
    /// Checks the URL's form (`s3://bucket[/prefix]`); the store itself is
    /// reached only when the server opens it.
    pub fn parse_url(url: &str) -> Result<String, String> {
        let rest = url.strip_prefix("s3://").ok_or_else(|| {
            format!("`{url}` is not an s3:// URL; give --blob-store as s3://bucket or s3://bucket/prefix")
        })?;
        let bucket = rest.split('/').next().unwrap_or("");
        if bucket.is_empty() {
            return Err(format!(
                "`{url}` names no bucket; give s3://bucket or s3://bucket/prefix"
            ));
        }
        Ok(url.to_owned())
    }

    /// The store and the key prefix the URL names.
    pub(crate) fn build(&self) -> Result<(Arc<dyn ObjectStore>, Key), BlobError> {
        let rest = self.url.strip_prefix("s3://").unwrap_or(&self.url);
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Some(endpoint) = &self.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(region) = &self.region {
            builder = builder.with_region(region);
        }
        if let Some(id) = &self.access_key_id {
            builder = builder.with_access_key_id(id);
        }
        if let Some(secret) = &self.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        if self.allow_http {
            builder = builder.with_allow_http(true);
        }
        let store = builder
            .build()
            .map_err(remote_err("configuring the S3 blob store"))?;
        let prefix = Key::parse(prefix.trim_matches('/')).map_err(|e| BlobError::Io {
            context: format!("reading the prefix of {}", self.url),
            source: std::io::Error::other(e),
        })?;
        Ok((Arc::new(store), prefix))
    }
}

/// Where a complete blob lives under a store's `prefix`: `blobs/ab/<sha256>`.
pub(crate) fn blob_key(prefix: &Key, sha256: &Sha256Hex) -> Key {
    let hex = sha256.as_str();
    prefix.clone().join("blobs").join(&hex[..2]).join(hex)
}

pub(crate) fn remote_err(
    context: impl Into<String>,
) -> impl FnOnce(object_store::Error) -> BlobError {
    let context = context.into();
    move |source| BlobError::Io {
        context,
        source: std::io::Error::other(source),
    }
}

/// Blob storage in an object store; the half of [`super::BlobStore`] used
/// with `--blob-store s3://…`.
#[derive(Debug)]
pub struct ObjectBlobs {
    objects: Arc<Objects>,
    io: IoThread,
}

impl ObjectBlobs {
    /// Connects (lazily: the first request reaches the store) and checks that
    /// the bucket answers, so a wrong setting fails at start-up.
    pub fn open(settings: &S3Settings, data_dir: &Path) -> Result<ObjectBlobs, BlobError> {
        let (store, prefix) = settings.build()?;
        let cache_dir = data_dir.join("blobs").join("cache");
        std::fs::create_dir_all(&cache_dir).map_err(|source| BlobError::Io {
            context: format!("creating {}", cache_dir.display()),
            source,
        })?;
        let blobs = ObjectBlobs {
            objects: Arc::new(Objects {
                store,
                prefix,
                cache_dir,
                busy: Mutex::new(HashSet::new()),
                creation: tokio::sync::Mutex::new(()),
                completions: Completions::default(),
            }),
            io: IoThread::start()?,
        };
        let objects = Arc::clone(&blobs.objects);
        blobs.io.wait(async move {
            let probe = objects.key(&["blobs"]);
            objects
                .store
                .list_with_delimiter(Some(&probe))
                .await
                .map(|_| ())
                .map_err(remote_err(format!(
                    "reaching the blob store {}",
                    settings_url(&objects)
                )))
        })?;
        Ok(blobs)
    }

    pub fn blob_len(&self, sha256: &Sha256Hex) -> Result<Option<u64>, BlobError> {
        let objects = Arc::clone(&self.objects);
        let sha256 = sha256.clone();
        self.io.wait(async move { objects.blob_len(&sha256).await })
    }

    /// A local copy of the blob (cached under `<data_dir>/blobs/cache`, its
    /// hash checked on the way in), for code that reads files.
    pub fn local_copy(&self, sha256: &Sha256Hex) -> Result<Option<PathBuf>, BlobError> {
        let objects = Arc::clone(&self.objects);
        let sha256 = sha256.clone();
        self.io
            .wait(async move { objects.local_copy(&sha256).await })
    }

    pub fn create_upload(
        &self,
        owner: Uuid,
        sha256: Sha256Hex,
        length: u64,
        mime: Option<String>,
        quota: UploadQuota,
    ) -> Result<CreateOutcome, BlobError> {
        let objects = Arc::clone(&self.objects);
        self.io.wait(async move {
            objects
                .create_upload(owner, sha256, length, mime, quota)
                .await
        })
    }

    /// Blocking: it may finish an upload whose completion a crash cut short.
    pub fn upload_status(&self, id: Uuid, owner: Uuid) -> Result<TusUpload, BlobError> {
        let objects = Arc::clone(&self.objects);
        self.io
            .wait(async move { objects.upload_status(id, owner).await })
    }

    pub async fn write_chunk(
        &self,
        id: Uuid,
        owner: Uuid,
        chunk: ChunkRequest,
        body: Body,
        idle_timeout: Duration,
    ) -> Result<TusUpload, BlobError> {
        let objects = Arc::clone(&self.objects);
        // Its own task, so a client that hangs up does not cut a commit short.
        self.io
            .run(async move {
                objects
                    .write_chunk(id, owner, chunk, body, idle_timeout)
                    .await
            })
            .await?
    }

    pub async fn terminate_upload(&self, id: Uuid, owner: Uuid) -> Result<(), BlobError> {
        let objects = Arc::clone(&self.objects);
        self.io
            .run(async move { objects.terminate_upload(id, owner).await })
            .await?
    }

    pub fn remove_expired_uploads(&self, max_age: Duration) -> Result<usize, BlobError> {
        let objects = Arc::clone(&self.objects);
        self.io
            .wait(async move { objects.remove_expired_uploads(max_age).await })
    }

    /// Keys under `uploads/`, for operators and tests: what unfinished and
    /// recently finished uploads hold.
    pub fn upload_keys(&self) -> Result<Vec<String>, BlobError> {
        let objects = Arc::clone(&self.objects);
        self.io.wait(async move {
            let prefix = objects.key(&["uploads"]);
            let listed: Vec<_> = objects.store.list(Some(&prefix)).collect().await;
            listed
                .into_iter()
                .map(|meta| {
                    meta.map(|m| m.location.to_string())
                        .map_err(remote_err("listing uploads"))
                })
                .collect()
        })
    }
}

fn settings_url(objects: &Objects) -> String {
    format!("{} (prefix `{}`)", objects.store, objects.prefix)
}

/// A runtime of its own for the store's client, on its own thread: the
/// synchronous callers (blocking threads, periodic jobs) wait on it without
/// needing a runtime, and its connections outlive any one caller's.
#[derive(Debug)]
struct IoThread {
    handle: tokio::runtime::Handle,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl IoThread {
    fn start() -> Result<IoThread, BlobError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("blob-store-io")
            .enable_all()
            .build()
            .map_err(|source| BlobError::Io {
                context: "starting the blob store's runtime".into(),
                source,
            })?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("blob-store".into())
            .spawn(move || {
                runtime.block_on(async {
                    let _ = stopped.await;
                });
            })
            .map_err(|source| BlobError::Io {
                context: "starting the blob store's thread".into(),
                source,
            })?;
        Ok(IoThread {
            handle,
            _stop: stop,
        })
    }

    /// Runs `work` on the store's runtime and waits for it, blocking.
    fn wait<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, BlobError>> + Send + 'static,
    ) -> Result<T, BlobError> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.handle.spawn(async move {
            let _ = tx.send(work.await);
        });
        rx.recv().map_err(|_| BlobError::Io {
            context: "waiting for the blob store".into(),
            source: std::io::Error::other("the blob store's runtime stopped"),
        })?
    }

    /// Runs `work` on the store's runtime.
    async fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, BlobError> {
        self.handle.spawn(work).await.map_err(|join| BlobError::Io {
            context: "running a blob store request".into(),
            source: std::io::Error::other(join.to_string()),
        })
    }
}

#[derive(Debug)]
struct Objects {
    store: Arc<dyn ObjectStore>,
    prefix: Key,
    cache_dir: PathBuf,
    /// Uploads a request of this instance is writing: a second PATCH here
    /// gets 423 at once. Across instances the conditional puts decide.
    busy: Mutex<HashSet<Uuid>>,
    /// Held from this instance's quota check until the record is stored.
    creation: tokio::sync::Mutex<()>,
    /// Completions running in this instance, one gate per upload.
    completions: Completions,
}

/// One completion per upload in this instance: a status check (HEAD) that
/// finds every byte stored while a PATCH here is still copying them into
/// the blob waits for that copy instead of starting a second one of the
/// whole file. Across instances both may copy; the record decides
/// ([`Objects::complete`]).
#[derive(Debug, Default)]
struct Completions {
    gates: Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>,
}

/// This request's turn to complete an upload; the gate is forgotten when
/// the last request that wanted it is done.
struct CompletionTurn<'a> {
    completions: &'a Completions,
    id: Uuid,
    _turn: tokio::sync::OwnedMutexGuard<()>,
}

impl Completions {
    /// Takes the upload's turn. `waited` is true when another request of
    /// this instance held it first: it may have completed the upload.
    async fn turn(&self, id: Uuid) -> (CompletionTurn<'_>, bool) {
        let gate = Arc::clone(
            self.gates
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(id)
                .or_default(),
        );
        let (turn, waited) = match Arc::clone(&gate).try_lock_owned() {
            Ok(turn) => (turn, false),
            Err(_) => (gate.lock_owned().await, true),
        };
        let turn = CompletionTurn {
            completions: self,
            id,
            _turn: turn,
        };
        (turn, waited)
    }
}

impl Drop for CompletionTurn<'_> {
    fn drop(&mut self) {
        let mut gates = self
            .completions
            .gates
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // The map's handle and this turn's: nobody else is waiting.
        if gates
            .get(&self.id)
            .is_some_and(|gate| Arc::strong_count(gate) <= 2)
        {
            gates.remove(&self.id);
        }
    }
}

/// One stored segment of an upload.
#[derive(Debug, Clone)]
struct Segment {
    key: Key,
    offset: u64,
    size: u64,
}

/// Marks an upload busy in this instance until dropped.
struct BusyGuard<'a> {
    busy: &'a Mutex<HashSet<Uuid>>,
    id: Uuid,
}

impl<'a> BusyGuard<'a> {
    fn take(busy: &'a Mutex<HashSet<Uuid>>, id: Uuid) -> Result<BusyGuard<'a>, BlobError> {
        if !busy
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id)
        {
            return Err(BlobError::UploadBusy);
        }
        Ok(BusyGuard { busy, id })
    }
}

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        self.busy
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
    }
}

impl Objects {
    fn key(&self, parts: &[&str]) -> Key {
        let mut key = self.prefix.clone();
        for part in parts {
            key = key.join(*part);
        }
        key
    }

    fn blob_key(&self, sha256: &Sha256Hex) -> Key {
        blob_key(&self.prefix, sha256)
    }

    fn upload_key(&self, owner: Uuid, id: Uuid) -> Key {
        self.key(&["uploads", &owner.to_string(), &id.to_string()])
    }

    fn record_key(&self, owner: Uuid, id: Uuid) -> Key {
        self.upload_key(owner, id).join("record.json")
    }

    fn chunks_key(&self, owner: Uuid, id: Uuid) -> Key {
        self.upload_key(owner, id).join("chunks")
    }

    fn segment_key(&self, owner: Uuid, id: Uuid, offset: u64) -> Key {
        self.chunks_key(owner, id).join(format!("{offset:020}"))
    }

    async fn blob_len(&self, sha256: &Sha256Hex) -> Result<Option<u64>, BlobError> {
        match self.store.head(&self.blob_key(sha256)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(remote_err("looking up a blob")(e)),
        }
    }

    async fn local_copy(&self, sha256: &Sha256Hex) -> Result<Option<PathBuf>, BlobError> {
        let hex = sha256.as_str();
        let dir = self.cache_dir.join(&hex[..2]);
        let path = dir.join(hex);
        if path.is_file() {
            return Ok(Some(path));
        }
        let got = match self.store.get(&self.blob_key(sha256)).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(remote_err("fetching a blob")(e)),
        };
        let io = |context: String| move |source| BlobError::Io { context, source };
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(io(format!("creating {}", dir.display())))?;
        let tmp = dir.join(format!(".{hex}.{}.tmp", Uuid::new_v4()));
        let mut file = tokio::fs::File::create(&tmp)
            .await
            .map_err(io(format!("creating {}", tmp.display())))?;
        let mut hasher = Sha256::new();
        let mut stream = got.into_stream();
        let copied = async {
            use tokio::io::AsyncWriteExt;
            while let Some(bytes) = stream.next().await {
                let bytes = bytes.map_err(remote_err("fetching a blob"))?;
                hasher.update(&bytes);
                file.write_all(&bytes)
                    .await
                    .map_err(io(format!("writing {}", tmp.display())))?;
            }
            file.flush()
                .await
                .map_err(io(format!("writing {}", tmp.display())))
        }
        .await;
        if let Err(e) = copied {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
        let actual = Sha256Hex::from_bytes(hasher.finalize().into());
        if &actual != sha256 {
            let _ = tokio::fs::remove_file(&tmp).await;
            tracing::error!(blob = %sha256, %actual, "a stored blob does not hash to its name");
            return Ok(None);
        }
        tokio::fs::rename(&tmp, &path)
            .await
            .map_err(io(format!("moving {} into the cache", tmp.display())))?;
        Ok(Some(path))
    }

    async fn read_record(&self, owner: Uuid, id: Uuid) -> Result<UploadRecord, BlobError> {
        let key = self.record_key(owner, id);
        let bytes = match self.store.get(&key).await {
            Ok(got) => got
                .bytes()
                .await
                .map_err(remote_err("reading an upload record"))?,
            Err(object_store::Error::NotFound { .. }) => return Err(BlobError::UploadNotFound),
            Err(e) => return Err(remote_err("reading an upload record")(e)),
        };
        match serde_json::from_slice::<UploadRecord>(&bytes) {
            Ok(record) if record.id == id && record.owner == owner => Ok(record),
            Ok(_) => Err(BlobError::UploadNotFound),
            Err(source) => Err(BlobError::CorruptRecord {
                path: PathBuf::from(key.to_string()),
                source,
            }),
        }
    }

    /// The upload's segments in offset order, and the end of the contiguous
    /// run from 0 (the committed offset). Segments past a gap are left-overs
    /// of a discarded chunk that lost a race; they never count.
    async fn segments(&self, owner: Uuid, id: Uuid) -> Result<(Vec<Segment>, u64), BlobError> {
        let prefix = self.chunks_key(owner, id);
        let mut listed: BTreeMap<u64, Segment> = BTreeMap::new();
        let mut stream = self.store.list(Some(&prefix));
        while let Some(meta) = stream.next().await {
            let meta = meta.map_err(remote_err("listing an upload's chunks"))?;
            let Some(offset) = meta.location.filename().and_then(|n| n.parse::<u64>().ok()) else {
                continue;
            };
            listed.insert(
                offset,
                Segment {
                    key: meta.location,
                    offset,
                    size: meta.size,
                },
            );
        }
        let mut run = Vec::new();
        let mut end = 0;
        for (offset, segment) in listed {
            if offset < end || segment.size == 0 {
                continue;
            }
            if offset > end {
                break;
            }
            end += segment.size;
            run.push(segment);
        }
        Ok((run, end))
    }

    /// What HEAD reports: complete once the record says so; otherwise the
    /// committed offset. An upload with all its bytes but not marked complete
    /// (a crash during completion) is completed now, by whichever instance
    /// asks.
    async fn status(&self, record: UploadRecord) -> Result<TusUpload, BlobError> {
        if record.complete {
            return Ok(finished(&record));
        }
        let (segments, offset) = self.segments(record.owner, record.id).await?;
        if offset >= record.length {
            return self.complete(record, segments).await;
        }
        // A short run may be a finished upload whose segments are being
        // removed: completion rewrites the record before it removes any, so
        // the record read after the listing tells.
        let record = self.read_record(record.owner, record.id).await?;
        if record.complete {
            return Ok(finished(&record));
        }
        let mut upload = TusUpload::from(&record);
        upload.offset = offset;
        Ok(upload)
    }

    async fn upload_status(&self, id: Uuid, owner: Uuid) -> Result<TusUpload, BlobError> {
        let record = self.read_record(owner, id).await?;
        self.status(record).await
    }

    async fn create_upload(
        &self,
        owner: Uuid,
        sha256: Sha256Hex,
        length: u64,
        mime: Option<String>,
        quota: UploadQuota,
    ) -> Result<CreateOutcome, BlobError> {
        if let Some(stored) = self.blob_len(&sha256).await? {
            if stored != length {
                return Err(BlobError::LengthDiffersFromStoredBlob {
                    stored,
                    declared: length,
                });
            }
            return Ok(CreateOutcome::AlreadyStored { length });
        }
        let _creating = self.creation.lock().await;
        let mut unfinished = Vec::new();
        for id in self.upload_ids(owner).await? {
            let record = match self.read_record(owner, id).await {
                Ok(record) => record,
                // Removed meanwhile, or unreadable: not this user's upload.
                Err(BlobError::UploadNotFound | BlobError::CorruptRecord { .. }) => continue,
                Err(e) => return Err(e),
            };
            if !record.complete {
                unfinished.push(record);
            }
        }
        if let Some(record) = unfinished
            .iter()
            .find(|r| r.sha256 == sha256 && r.length == length)
        {
            return Ok(CreateOutcome::Resumed(self.status(record.clone()).await?));
        }
        if unfinished.len() >= quota.max_unfinished {
            return Err(BlobError::TooManyUnfinishedUploads {
                limit: quota.max_unfinished,
            });
        }
        let reserved: u64 = unfinished.iter().map(|r| r.length).sum();
        if reserved.saturating_add(length) > quota.max_reserved_bytes {
            return Err(BlobError::UploadBytesQuotaExceeded {
                reserved,
                length,
                limit: quota.max_reserved_bytes,
            });
        }
        let now = Utc::now();
        let record = UploadRecord {
            id: Uuid::new_v4(),
            owner,
            sha256,
            length,
            mime,
            offset: 0,
            complete: false,
            created_at: now,
            updated_at: now,
        };
        let bytes = serde_json::to_vec(&record).expect("upload records always serialize");
        self.store
            .put_opts(
                &self.record_key(owner, record.id),
                PutPayload::from(bytes),
                PutOptions::from(PutMode::Create),
            )
            .await
            .map_err(remote_err("storing an upload record"))?;
        tracing::info!(upload_id = %record.id, sha256 = %record.sha256, length, "blob upload created");
        Ok(CreateOutcome::Created(TusUpload::from(&record)))
    }

    async fn upload_ids(&self, owner: Uuid) -> Result<Vec<Uuid>, BlobError> {
        let prefix = self.key(&["uploads", &owner.to_string()]);
        let listed = self
            .store
            .list_with_delimiter(Some(&prefix))
            .await
            .map_err(remote_err("listing uploads"))?;
        Ok(listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().and_then(|n| Uuid::parse_str(n).ok()))
            .collect())
    }

    async fn write_chunk(
        &self,
        id: Uuid,
        owner: Uuid,
        chunk: ChunkRequest,
        mut body: Body,
        idle_timeout: Duration,
    ) -> Result<TusUpload, BlobError> {
        let _busy = BusyGuard::take(&self.busy, id)?;
        let record = self.read_record(owner, id).await?;
        let upload = self.status(record.clone()).await?;
        if chunk.offset != upload.offset {
            return Err(BlobError::OffsetMismatch {
                sent: chunk.offset,
                current: upload.offset,
            });
        }
        let remaining = record.length - upload.offset;
        if chunk.content_length.is_some_and(|len| len > remaining) {
            return Err(BlobError::ChunkExceedsLength {
                length: record.length,
                remaining,
            });
        }
        if upload.complete {
            return Ok(upload);
        }

        let mut chunk_hasher = chunk.checksum.map(ChunkHasher::for_checksum);
        let mut pending: Vec<u8> = Vec::new();
        let mut next_offset = upload.offset;
        let mut written: Vec<Key> = Vec::new();
        let mut received: u64 = 0;
        let mut cut = false;
        loop {
            let next = tokio::time::timeout(
                idle_timeout,
                std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)),
            )
            .await;
            let frame = match next {
                Ok(Some(Ok(frame))) => frame,
                Ok(None) => break,
                Ok(Some(Err(_))) | Err(_) => {
                    cut = true;
                    break;
                }
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            if received + data.len() as u64 > remaining {
                self.discard(&written).await;
                return Err(BlobError::ChunkExceedsLength {
                    length: record.length,
                    remaining,
                });
            }
            if let Some(h) = chunk_hasher.as_mut() {
                h.update(&data);
            }
            received += data.len() as u64;
            pending.extend_from_slice(&data);
            while pending.len() >= SEGMENT_BYTES {
                let rest = pending.split_off(SEGMENT_BYTES);
                let segment = std::mem::replace(&mut pending, rest);
                let key = match self.put_segment(owner, id, next_offset, segment).await {
                    Ok(key) => key,
                    Err(err) => {
                        // An unverified chunk must not stay half-stored.
                        if chunk.checksum.is_some() {
                            self.discard(&written).await;
                        }
                        return Err(err);
                    }
                };
                next_offset += SEGMENT_BYTES as u64;
                written.push(key);
            }
        }
        if chunk.content_length.is_some_and(|len| received < len) {
            cut = true;
        }
        if let (Some(expected), Some(hasher)) = (chunk.checksum, chunk_hasher) {
            if cut || !hasher.matches(expected) {
                self.discard(&written).await;
                return Err(if cut {
                    BlobError::Interrupted {
                        offset: upload.offset,
                    }
                } else {
                    BlobError::ChecksumMismatch
                });
            }
        }
        if !pending.is_empty() {
            let size = pending.len() as u64;
            let key = self.put_segment(owner, id, next_offset, pending).await?;
            next_offset += size;
            written.push(key);
        }
        if next_offset == record.length {
            let (segments, _) = self.segments(owner, id).await?;
            return self.complete(record, segments).await;
        }
        if cut {
            tracing::info!(upload_id = %id, offset = next_offset, "blob upload chunk cut short; received bytes kept");
            return Err(BlobError::Interrupted {
                offset: next_offset,
            });
        }
        let mut upload = TusUpload::from(&record);
        upload.offset = next_offset;
        Ok(upload)
    }

    /// Stores one segment at `offset`, unless one is already there: then
    /// another request (here or on another instance) is writing this upload.
    async fn put_segment(
        &self,
        owner: Uuid,
        id: Uuid,
        offset: u64,
        bytes: Vec<u8>,
    ) -> Result<Key, BlobError> {
        let key = self.segment_key(owner, id, offset);
        match self
            .store
            .put_opts(
                &key,
                PutPayload::from(bytes),
                PutOptions::from(PutMode::Create),
            )
            .await
        {
            Ok(_) => Ok(key),
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Err(BlobError::UploadBusy),
            Err(e) => Err(remote_err("storing an upload chunk")(e)),
        }
    }

    /// Removes the segments a refused chunk wrote, last first, so the
    /// committed run never has a hole in the middle.
    async fn discard(&self, written: &[Key]) {
        for key in written.iter().rev() {
            if let Err(err) = self.store.delete(key).await {
                // Left behind past the committed offset, it is overwritten
                // by nobody (puts are conditional) and goes with the upload.
                tracing::warn!(%err, %key, "could not remove a refused chunk's segment");
            }
        }
    }

    /// Copies the segments into the blob's key while hashing them; the
    /// multipart upload is completed (and the blob becomes visible) only if
    /// the hash is the declared one.
    /// Stores the blob of an upload whose bytes are all in `segments` and
    /// marks it complete, one request of this instance at a time
    /// ([`Completions`]).
    async fn complete(
        &self,
        record: UploadRecord,
        segments: Vec<Segment>,
    ) -> Result<TusUpload, BlobError> {
        let (_turn, waited) = self.completions.turn(record.id).await;
        if !waited {
            return self.store_blob(record, segments).await;
        }
        // Another request here completed it, or failed to: look again.
        let record = self.read_record(record.owner, record.id).await?;
        if record.complete {
            return Ok(finished(&record));
        }
        let (segments, _) = self.segments(record.owner, record.id).await?;
        self.store_blob(record, segments).await
    }

    async fn store_blob(
        &self,
        record: UploadRecord,
        segments: Vec<Segment>,
    ) -> Result<TusUpload, BlobError> {
        let total: u64 = segments.iter().map(|s| s.size).sum();
        if total != record.length || segments.first().is_none_or(|s| s.offset != 0) {
            let mut upload = TusUpload::from(&record);
            upload.offset = total.min(record.length);
            return Ok(upload);
        }
        if self.blob_len(&record.sha256).await? == Some(record.length) {
            // Someone else stored the same content meanwhile (verified).
            return self.mark_complete(record, &segments).await;
        }
        let blob = self.blob_key(&record.sha256);
        let multipart = self
            .store
            .put_multipart(&blob)
            .await
            .map_err(remote_err("starting to store a blob"))?;
        let mut writer = WriteMultipart::new_with_chunk_size(multipart, SEGMENT_BYTES);
        let mut hasher = Sha256::new();
        let copied = async {
            for segment in &segments {
                let mut stream = self
                    .store
                    .get(&segment.key)
                    .await
                    .map_err(remote_err("reading an upload chunk"))?
                    .into_stream();
                while let Some(bytes) = stream.next().await {
                    let bytes: Bytes = bytes.map_err(remote_err("reading an upload chunk"))?;
                    hasher.update(&bytes);
                    writer
                        .wait_for_capacity(4)
                        .await
                        .map_err(remote_err("storing a blob"))?;
                    writer.write(&bytes);
                }
            }
            Ok::<(), BlobError>(())
        }
        .await;
        if let Err(e) = copied {
            let _ = writer.abort().await;
            // Another request (here, or on another instance) completed the
            // upload meanwhile and removed the segments this one was copying.
            return match self.read_record(record.owner, record.id).await {
                Ok(now) if now.complete => Ok(finished(&now)),
                _ => Err(e),
            };
        }
        let actual = Sha256Hex::from_bytes(hasher.finalize().into());
        if actual != record.sha256 {
            let _ = writer.abort().await;
            self.remove_upload(record.owner, record.id).await?;
            tracing::warn!(upload_id = %record.id, declared = %record.sha256, %actual, "blob upload rejected");
            return Err(BlobError::WholeFileHashMismatch {
                declared: record.sha256,
                actual,
            });
        }
        writer
            .finish()
            .await
            .map_err(remote_err("storing a blob"))?;
        tracing::info!(upload_id = %record.id, sha256 = %record.sha256, "blob upload complete");
        self.mark_complete(record, &segments).await
    }

    /// Records the upload as complete, then drops its segments (copies of
    /// the stored blob). A crash before the record is rewritten leaves all
    /// segments and the blob: the next status check completes it again.
    async fn mark_complete(
        &self,
        mut record: UploadRecord,
        segments: &[Segment],
    ) -> Result<TusUpload, BlobError> {
        record.complete = true;
        record.offset = record.length;
        record.updated_at = Utc::now();
        let bytes = serde_json::to_vec(&record).expect("upload records always serialize");
        self.store
            .put(
                &self.record_key(record.owner, record.id),
                PutPayload::from(bytes),
            )
            .await
            .map_err(remote_err("marking an upload complete"))?;
        self.remove_segments(segments).await;
        Ok(finished(&record))
    }

    /// The blob is stored: the segments are copies. A failure only leaves
    /// them for expiry to remove.
    async fn remove_segments(&self, segments: &[Segment]) {
        for segment in segments {
            if let Err(err) = self.store.delete(&segment.key).await {
                tracing::warn!(%err, key = %segment.key, "could not remove a finished upload's chunk");
            }
        }
    }

    /// Removes every object of an upload, its record first (so it is gone
    /// for every instance at once).
    async fn remove_upload(&self, owner: Uuid, id: Uuid) -> Result<(), BlobError> {
        match self.store.delete(&self.record_key(owner, id)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(remote_err("removing an upload")(e)),
        }
        let prefix = self.upload_key(owner, id);
        let listed: Vec<_> = self.store.list(Some(&prefix)).collect().await;
        for meta in listed {
            let meta = meta.map_err(remote_err("listing an upload"))?;
            match self.store.delete(&meta.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(remote_err("removing an upload")(e)),
            }
        }
        Ok(())
    }

    async fn terminate_upload(&self, id: Uuid, owner: Uuid) -> Result<(), BlobError> {
        let _busy = BusyGuard::take(&self.busy, id)?;
        self.read_record(owner, id).await?;
        self.remove_upload(owner, id).await?;
        tracing::info!(upload_id = %id, "blob upload terminated");
        Ok(())
    }

    /// Removes uploads whose newest object is older than `max_age` (whatever
    /// instance wrote them); uploads this instance is writing are skipped.
    async fn remove_expired_uploads(&self, max_age: Duration) -> Result<usize, BlobError> {
        let cutoff =
            Utc::now() - chrono::Duration::from_std(max_age).unwrap_or(chrono::Duration::MAX);
        let prefix = self.key(&["uploads"]);
        let depth = prefix.parts().count();
        let mut newest: BTreeMap<(Uuid, Uuid), DateTime<Utc>> = BTreeMap::new();
        let mut stream = self.store.list(Some(&prefix));
        while let Some(meta) = stream.next().await {
            let meta = meta.map_err(remote_err("listing uploads"))?;
            let parts: Vec<String> = meta
                .location
                .parts()
                .skip(depth)
                .take(2)
                .map(|p| p.as_ref().to_owned())
                .collect();
            let (Some(owner), Some(id)) = (
                parts.first().and_then(|p| Uuid::parse_str(p).ok()),
                parts.get(1).and_then(|p| Uuid::parse_str(p).ok()),
            ) else {
                continue;
            };
            let at = newest.entry((owner, id)).or_insert(meta.last_modified);
            *at = (*at).max(meta.last_modified);
        }
        let mut removed = 0;
        for ((owner, id), at) in newest {
            if at > cutoff {
                continue;
            }
            let Ok(_busy) = BusyGuard::take(&self.busy, id) else {
                continue;
            };
            self.remove_upload(owner, id).await?;
            removed += 1;
        }
        if removed > 0 {
            tracing::info!(removed, "expired blob uploads removed");
        }
        Ok(removed)
    }
}

fn finished(record: &UploadRecord) -> TusUpload {
    let mut upload = TusUpload::from(record);
    upload.offset = record.length;
    upload.complete = true;
    upload
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    fn objects(cache: &Path) -> Objects {
        Objects {
            store: Arc::new(InMemory::new()),
            prefix: Key::from("fieldbook"),
            cache_dir: cache.to_owned(),
            busy: Mutex::new(HashSet::new()),
            creation: tokio::sync::Mutex::new(()),
            completions: Completions::default(),
        }
    }

    const QUOTA: UploadQuota = UploadQuota {
        max_unfinished: 4,
        max_reserved_bytes: 1 << 30,
    };

    async fn new_upload(objects: &Objects, owner: Uuid, data: &[u8]) -> UploadRecord {
        let created = objects
            .create_upload(
                owner,
                Sha256Hex::digest(data),
                data.len() as u64,
                None,
                QUOTA,
            )
            .await
            .unwrap();
        let CreateOutcome::Created(upload) = created else {
            panic!("expected a new upload, got {created:?}");
        };
        objects.read_record(owner, upload.id).await.unwrap()
    }

    async fn put(objects: &Objects, record: &UploadRecord, offset: u64, bytes: &[u8]) {
        objects
            .put_segment(record.owner, record.id, offset, bytes.to_vec())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn the_offset_is_the_end_of_the_run_of_segments_from_zero() {
        let cache = tempfile::tempdir().unwrap();
        let objects = objects(cache.path());
        let owner = Uuid::new_v4();
        let record = new_upload(&objects, owner, &[1u8; 100]).await;
        put(&objects, &record, 0, &[1u8; 10]).await;
        put(&objects, &record, 10, &[1u8; 5]).await;
        // Past a gap: left by a refused chunk, it never counts.
        put(&objects, &record, 40, &[1u8; 5]).await;
        let status = objects.upload_status(record.id, owner).await.unwrap();
        assert_eq!((status.offset, status.complete), (15, false));
        // A second write at a taken offset is refused, whoever sends it.
        assert!(matches!(
            objects
                .put_segment(owner, record.id, 10, vec![2u8; 5])
                .await,
            Err(BlobError::UploadBusy)
        ));
        // Someone else's id is not found.
        assert!(matches!(
            objects.upload_status(record.id, Uuid::new_v4()).await,
            Err(BlobError::UploadNotFound)
        ));
    }

    /// An upload of 30 bytes with every byte stored in two segments, not
    /// yet completed.
    async fn all_bytes_stored(objects: &Objects, owner: Uuid) -> (UploadRecord, Vec<u8>) {
        let data: Vec<u8> = (0..30u8).collect();
        let record = new_upload(objects, owner, &data).await;
        put(objects, &record, 0, &data[..20]).await;
        put(objects, &record, 20, &data[20..]).await;
        (record, data)
    }

    #[tokio::test]
    async fn a_completion_cut_short_is_finished_by_whoever_asks_next() {
        let cache = tempfile::tempdir().unwrap();
        let objects = objects(cache.path());
        let owner = Uuid::new_v4();
        // Every byte stored, then the process died before the blob existed.
        let (record, data) = all_bytes_stored(&objects, owner).await;
        assert_eq!(objects.blob_len(&record.sha256).await.unwrap(), None);

        let status = objects.upload_status(record.id, owner).await.unwrap();
        assert!(status.complete);
        assert_eq!(status.offset, 30);
        let copy = objects.local_copy(&record.sha256).await.unwrap().unwrap();
        assert_eq!(std::fs::read(copy).unwrap(), data);
        let (segments, _) = objects.segments(owner, record.id).await.unwrap();
        assert!(segments.is_empty(), "the segments were copies");
        assert!(
            objects
                .read_record(owner, record.id)
                .await
                .unwrap()
                .complete
        );
    }

    #[tokio::test]
    async fn a_status_read_while_completion_removes_the_segments_says_complete() {
        let cache = tempfile::tempdir().unwrap();
        let objects = objects(cache.path());
        let owner = Uuid::new_v4();
        let (record, _) = all_bytes_stored(&objects, owner).await;
        // This request read the record before another one completed the
        // upload and removed its segments.
        let read_before = objects.read_record(owner, record.id).await.unwrap();
        assert!(
            objects
                .upload_status(record.id, owner)
                .await
                .unwrap()
                .complete
        );

        let status = objects.status(read_before).await.unwrap();
        assert!(status.complete, "{status:?}");
        assert_eq!(status.offset, 30);
    }

    /// An upload of 4,000 bytes (different each `round`) stored in 16
    /// segments, not yet completed.
    async fn sixteen_segments(
        objects: &Objects,
        owner: Uuid,
        round: u8,
    ) -> (UploadRecord, Vec<u8>) {
        let data: Vec<u8> = (0..4000u32).map(|i| (i as u8) ^ round).collect();
        let record = new_upload(objects, owner, &data).await;
        for (n, piece) in data.chunks(250).enumerate() {
            put(objects, &record, (n * 250) as u64, piece).await;
        }
        (record, data)
    }

    /// `askers` status checks of `record`, started `stagger` apart (so each
    /// stage of one completion meets another's), taking turns among
    /// `instances`; each must answer complete at the full length.
    async fn all_ask_while_completing(
        instances: &[Arc<Objects>],
        record: &UploadRecord,
        askers: u32,
        stagger: Duration,
    ) {
        let asking: Vec<_> = (0..askers)
            .map(|k| {
                let objects = Arc::clone(&instances[k as usize % instances.len()]);
                let (id, owner) = (record.id, record.owner);
                tokio::spawn(async move {
                    tokio::time::sleep(stagger * k).await;
                    objects.upload_status(id, owner).await
                })
            })
            .collect();
        for asker in asking {
            let status = asker.await.unwrap().expect("status while completing");
            assert!(status.complete, "{status:?}");
            assert_eq!(status.offset, record.length);
        }
    }

    /// HEAD on one instance while the PATCH that brought the last byte, on
    /// another instance, is still completing: both copy the segments, and
    /// the one that finishes second finds them gone. It must answer
    /// "complete", never an error or an offset short of the end.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_completions_all_answer_complete() {
        let cache = tempfile::tempdir().unwrap();
        // A store as slow as a remote one, so the completions overlap.
        let slow = object_store::throttle::ThrottledStore::new(
            InMemory::new(),
            object_store::throttle::ThrottleConfig {
                wait_get_per_call: Duration::from_millis(2),
                ..Default::default()
            },
        );
        let slow: Arc<dyn ObjectStore> = Arc::new(slow);
        // Two instances sharing the store: each completes an upload once
        // at a time, but the two may overlap.
        let instances: Vec<Arc<Objects>> = (0..2)
            .map(|_| {
                Arc::new(Objects {
                    store: Arc::clone(&slow),
                    ..objects(cache.path())
                })
            })
            .collect();
        let objects = &instances[0];
        let owner = Uuid::new_v4();
        for round in 0..10u8 {
            let (record, data) = sixteen_segments(objects, owner, round).await;
            all_ask_while_completing(&instances, &record, 12, Duration::from_millis(3)).await;
            let copy = objects.local_copy(&record.sha256).await.unwrap().unwrap();
            assert_eq!(std::fs::read(copy).unwrap(), data);
        }
    }

    /// A store that counts the blobs written whole (multipart uploads).
    #[derive(Debug)]
    struct CountingStore {
        inner: Arc<dyn ObjectStore>,
        multipart_writes: std::sync::atomic::AtomicUsize,
    }

    impl std::fmt::Display for CountingStore {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "Counting({})", self.inner)
        }
    }

    #[async_trait::async_trait]
    impl ObjectStore for CountingStore {
        async fn put_opts(
            &self,
            location: &Key,
            payload: PutPayload,
            opts: PutOptions,
        ) -> object_store::Result<object_store::PutResult> {
            self.inner.put_opts(location, payload, opts).await
        }

        async fn put_multipart_opts(
            &self,
            location: &Key,
            opts: object_store::PutMultipartOptions,
        ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
            self.multipart_writes
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.inner.put_multipart_opts(location, opts).await
        }

        async fn get_opts(
            &self,
            location: &Key,
            options: object_store::GetOptions,
        ) -> object_store::Result<object_store::GetResult> {
            self.inner.get_opts(location, options).await
        }

        fn delete_stream(
            &self,
            locations: futures_util::stream::BoxStream<'static, object_store::Result<Key>>,
        ) -> futures_util::stream::BoxStream<'static, object_store::Result<Key>> {
            self.inner.delete_stream(locations)
        }

        fn list(
            &self,
            prefix: Option<&Key>,
        ) -> futures_util::stream::BoxStream<'static, object_store::Result<object_store::ObjectMeta>>
        {
            self.inner.list(prefix)
        }

        async fn list_with_delimiter(
            &self,
            prefix: Option<&Key>,
        ) -> object_store::Result<object_store::ListResult> {
            self.inner.list_with_delimiter(prefix).await
        }

        async fn copy_opts(
            &self,
            from: &Key,
            to: &Key,
            options: object_store::CopyOptions,
        ) -> object_store::Result<()> {
            self.inner.copy_opts(from, to, options).await
        }
    }

    /// The device's HEAD arrives while the PATCH that brought the last byte
    /// is still copying a large upload into its blob, on the same instance:
    /// it waits for that copy and answers complete, without a second copy
    /// of the whole file.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_status_check_during_this_instances_completion_waits_for_it() {
        let cache = tempfile::tempdir().unwrap();
        let counting = Arc::new(CountingStore {
            inner: Arc::new(object_store::throttle::ThrottledStore::new(
                InMemory::new(),
                object_store::throttle::ThrottleConfig {
                    wait_get_per_call: Duration::from_millis(5),
                    ..Default::default()
                },
            )),
            multipart_writes: Default::default(),
        });
        let objects = Arc::new(Objects {
            store: Arc::clone(&counting) as Arc<dyn ObjectStore>,
            ..objects(cache.path())
        });
        let owner = Uuid::new_v4();
        for round in 0..5u8 {
            let (record, data) = sixteen_segments(&objects, owner, round).await;
            let before = counting
                .multipart_writes
                .load(std::sync::atomic::Ordering::SeqCst);
            all_ask_while_completing(
                std::slice::from_ref(&objects),
                &record,
                4,
                Duration::from_millis(7),
            )
            .await;
            let copies = counting
                .multipart_writes
                .load(std::sync::atomic::Ordering::SeqCst)
                - before;
            assert_eq!(
                copies, 1,
                "round {round}: the blob was written {copies} times"
            );
            let copy = objects.local_copy(&record.sha256).await.unwrap().unwrap();
            assert_eq!(std::fs::read(copy).unwrap(), data);
        }
        assert!(
            objects.completions.gates.lock().unwrap().is_empty(),
            "no gate is left behind"
        );
    }

    #[tokio::test]
    async fn a_full_upload_with_the_wrong_bytes_is_removed_and_never_visible() {
        let cache = tempfile::tempdir().unwrap();
        let objects = objects(cache.path());
        let owner = Uuid::new_v4();
        let record = new_upload(&objects, owner, b"what was promised").await;
        put(&objects, &record, 0, b"what arrived inst").await;
        let result = objects.upload_status(record.id, owner).await;
        assert!(matches!(
            result,
            Err(BlobError::WholeFileHashMismatch { .. })
        ));
        assert_eq!(objects.blob_len(&record.sha256).await.unwrap(), None);
        assert!(matches!(
            objects.upload_status(record.id, owner).await,
            Err(BlobError::UploadNotFound)
        ));
        let left: Vec<_> = objects.store.list(None).collect().await;
        assert!(left.is_empty(), "{left:?}");
    }

    #[tokio::test]
    async fn unfinished_uploads_count_against_the_quota_and_are_handed_back() {
        let cache = tempfile::tempdir().unwrap();
        let objects = objects(cache.path());
        let owner = Uuid::new_v4();
        let quota = UploadQuota {
            max_unfinished: 2,
            max_reserved_bytes: 1 << 20,
        };
        let first = new_upload(&objects, owner, b"first").await;
        new_upload(&objects, owner, b"second").await;
        let again = objects
            .create_upload(owner, first.sha256.clone(), 5, None, quota)
            .await
            .unwrap();
        assert!(matches!(again, CreateOutcome::Resumed(u) if u.id == first.id));
        assert!(matches!(
            objects
                .create_upload(owner, Sha256Hex::digest(b"third"), 5, None, quota)
                .await,
            Err(BlobError::TooManyUnfinishedUploads { limit: 2 })
        ));
        // Another user has their own quota.
        let other = objects
            .create_upload(Uuid::new_v4(), Sha256Hex::digest(b"third"), 5, None, quota)
            .await
            .unwrap();
        assert!(matches!(other, CreateOutcome::Created(_)));
    }

    #[tokio::test]
    async fn expiry_removes_idle_uploads_whatever_wrote_them() {
        let cache = tempfile::tempdir().unwrap();
        let objects = objects(cache.path());
        let owner = Uuid::new_v4();
        let record = new_upload(&objects, owner, &[3u8; 10]).await;
        put(&objects, &record, 0, &[3u8; 4]).await;
        assert_eq!(objects.remove_expired_uploads(UPLOAD_AGE).await.unwrap(), 0);
        assert_eq!(
            objects
                .remove_expired_uploads(Duration::ZERO)
                .await
                .unwrap(),
            1
        );
        let left: Vec<_> = objects.store.list(None).collect().await;
        assert!(left.is_empty(), "{left:?}");
    }

    const UPLOAD_AGE: Duration = Duration::from_secs(3600);

    #[test]
    fn blob_store_urls_name_a_bucket() {
        assert_eq!(S3Settings::parse_url("s3://media").unwrap(), "s3://media");
        assert!(S3Settings::parse_url("s3://media/fieldbook/prod").is_ok());
        for bad in ["media", "s3://", "s3:///prefix", "https://media"] {
            assert!(S3Settings::parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_secret_stays_out_of_debug_output() {
        let settings = S3Settings {
            url: "s3://media".into(),
            secret_access_key: Some("hunter2".into()),
            ..S3Settings::default()
        };
        assert!(!format!("{settings:?}").contains("hunter2"));
    }
}
