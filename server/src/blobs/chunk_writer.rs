//! Writes one PATCH body to its `.part` file on a blocking thread while the
//! request is still arriving, and keeps the disk busy as it goes.
//!
//! Why: the device waits for each chunk's answer, and the answer waits for
//! an fsync of the whole chunk. Done in one go after the last byte, that
//! fsync writes tens of MiB while the network idles. Here a second thread
//! asks the kernel to write back what has arrived every
//! [`WRITEBACK_STEP`] bytes (`fdatasync` on a clone of the handle, which does
//! not block the writing thread), so by the end of the body only the tail
//! is left for the fsync that makes the chunk durable. Durability itself is
//! unchanged: the caller still fsyncs the whole chunk before it commits the
//! offset.
//!
//! Each byte is hashed once for the whole-file SHA-256 here, on the writing
//! thread; the per-chunk `Upload-Checksum` is hashed by the receiving task,
//! so the two hashes run side by side on two cores instead of one after the
//! other.

use std::io::Write;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};

use axum::body::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Bytes written between two early write-backs.
pub const WRITEBACK_STEP: u64 = 8 << 20;
/// Frames in flight between the receiving task and the writing thread.
const FRAMES_AHEAD: usize = 32;
/// Small frames are gathered up to this size before a `write` call.
const WRITE_BUFFER_BYTES: usize = 1 << 20;

/// What the writing thread did with a body.
#[derive(Debug)]
pub struct Written {
    pub file: std::fs::File,
    /// The whole-file hash state after these bytes (`None` if it came in
    /// as `None`: after a restart, completion re-hashes the file).
    pub file_hasher: Option<Sha256>,
}

/// The receiving end of one body's bytes; see the module docs.
#[derive(Debug)]
pub struct ChunkWriter {
    frames: mpsc::Sender<Bytes>,
    thread: JoinHandle<std::io::Result<Written>>,
}

impl ChunkWriter {
    /// Starts writing at `file`'s current position.
    pub fn start(file: std::fs::File, file_hasher: Option<Sha256>) -> ChunkWriter {
        let (frames, mut incoming) = mpsc::channel::<Bytes>(FRAMES_AHEAD);
        let thread = tokio::task::spawn_blocking(move || {
            let flusher = Flusher::start(&file);
            let mut file_hasher = file_hasher;
            let mut out = std::io::BufWriter::with_capacity(WRITE_BUFFER_BYTES, file);
            let mut since_writeback = 0u64;
            while let Some(frame) = incoming.blocking_recv() {
                out.write_all(&frame)?;
                if let Some(h) = file_hasher.as_mut() {
                    h.update(&frame);
                }
                since_writeback += frame.len() as u64;
                if since_writeback >= WRITEBACK_STEP {
                    out.flush()?;
                    if let Some(flusher) = &flusher {
                        flusher.nudge();
                    }
                    since_writeback = 0;
                }
            }
            out.flush()?;
            let file = out.into_inner().map_err(|e| e.into_error())?;
            Ok(Written { file, file_hasher })
        });
        ChunkWriter { frames, thread }
    }

    /// Hands over the next bytes. `false`: the writing thread stopped (a
    /// write failed); [`ChunkWriter::finish`] says why.
    pub async fn write(&self, frame: Bytes) -> bool {
        self.frames.send(frame).await.is_ok()
    }

    /// Waits until every byte handed over is written (not yet fsynced).
    pub async fn finish(self) -> std::io::Result<Written> {
        drop(self.frames);
        self.thread
            .await
            .map_err(|join| std::io::Error::other(join.to_string()))?
    }
}

/// A thread that runs `fdatasync` on a clone of the file whenever nudged,
/// skipping nudges that arrive while it is busy. Errors are left to the
/// caller's final fsync, which reports the truth.
struct Flusher {
    nudges: SyncSender<()>,
}

impl Flusher {
    fn start(file: &std::fs::File) -> Option<Flusher> {
        let clone = file.try_clone().ok()?;
        let (nudges, wanted) = sync_channel::<()>(1);
        tokio::task::spawn_blocking(move || {
            while wanted.recv().is_ok() {
                let _ = clone.sync_data();
            }
        });
        Some(Flusher { nudges })
    }

    fn nudge(&self) {
        match self.nudges.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) | Err(TrySendError::Disconnected(())) => {}
        }
    }
}

impl std::fmt::Debug for Flusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flusher").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, SeekFrom};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_every_frame_in_order_and_hashes_each_byte_once() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(b"head:").unwrap();
        let mut before = Sha256::new();
        before.update(b"head:");
        let writer = ChunkWriter::start(file.try_clone().unwrap(), Some(before));
        // More than one write-back step, in frames of odd sizes.
        let mut expected = b"head:".to_vec();
        for i in 0..300u32 {
            let frame: Vec<u8> = (0..(37_000 + i)).map(|b| (b % 251) as u8).collect();
            expected.extend_from_slice(&frame);
            assert!(writer.write(Bytes::from(frame)).await);
        }
        let written = writer.finish().await.unwrap();
        assert!(expected.len() as u64 > WRITEBACK_STEP);
        let digest: [u8; 32] = written.file_hasher.unwrap().finalize().into();
        assert_eq!(digest, <[u8; 32]>::from(Sha256::digest(&expected)));
        let mut back = Vec::new();
        file.seek(SeekFrom::Start(0)).unwrap();
        file.read_to_end(&mut back).unwrap();
        assert_eq!(back, expected);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_a_hash_state_nothing_is_hashed() {
        let file = tempfile::tempfile().unwrap();
        let writer = ChunkWriter::start(file, None);
        assert!(writer.write(Bytes::from_static(b"abc")).await);
        assert!(writer.finish().await.unwrap().file_hasher.is_none());
    }
}
