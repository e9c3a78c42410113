//! Receiving an upload: the body is streamed to a temp file while it is hashed, never held in
//! memory as a whole, and the file is removed whatever happens to the request.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use vidmesh_core::job::ContentHash;

/// A file (or a ladder's directory) that is deleted when the last owner drops it (temp inputs
/// and outputs).
#[derive(Debug)]
pub struct TempFile {
    path: PathBuf,
}

impl TempFile {
    pub fn new(path: PathBuf) -> Self {
        TempFile { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let removed = if self.path.is_dir() {
            std::fs::remove_dir_all(&self.path)
        } else {
            std::fs::remove_file(&self.path)
        };
        if let Err(e) = removed {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %self.path.display(), error = %e, "could not remove temp file");
            }
        }
    }
}

/// A size as the flags give it: MB (10^6 bytes) and the exact byte count.
pub fn describe_size(bytes: u64) -> String {
    format!("{} MB ({bytes} bytes)", bytes as f64 / 1e6)
}

/// Unique names for temp files within one process.
static SEQ: AtomicU64 = AtomicU64::new(0);

/// A fresh temp path in `dir` (nothing is created).
pub fn temp_path(dir: &Path, prefix: &str) -> PathBuf {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    dir.join(format!("{prefix}-{}-{n}", std::process::id()))
}

/// A received upload.
#[derive(Debug)]
pub struct Received {
    pub file: TempFile,
    pub content: ContentHash,
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the request body is empty: send the video's bytes as the body")]
    Empty,
    #[error("the upload is larger than this node's limit of {}", describe_size(*limit))]
    TooLarge { limit: u64 },
    #[error("the upload was interrupted after {received} bytes: {reason}")]
    Interrupted { received: u64, reason: String },
    #[error("no data arrived for {secs} s (after {received} bytes): the upload was given up")]
    Idle { secs: u64, received: u64 },
    #[error("could not store the upload: {0}")]
    Io(#[from] std::io::Error),
}

/// Streams `body` into a new temp file in `dir`, hashing as it goes; at most `limit` bytes,
/// given up when no bytes arrive for `idle` (a stalled client would hold a slot forever).
///
/// On any error the partial file is removed before returning.
pub async fn receive<S, B, E>(
    body: S,
    dir: &Path,
    limit: u64,
    idle: Duration,
) -> Result<Received, UploadError>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
    E: std::fmt::Display,
{
    let file = TempFile::new(temp_path(dir, "upload"));
    let mut f = tokio::fs::File::create(file.path()).await?;
    // tokio's File copies each write into a buffer of up to 2 MiB by default; with a hundred
    // uploads at once that alone would be 200 MB.
    f.set_max_buf_size(64 * 1024);
    let mut out = tokio::io::BufWriter::with_capacity(64 * 1024, f);
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    let mut body = std::pin::pin!(body);
    while let Some(chunk) =
        tokio::time::timeout(idle, body.next())
            .await
            .map_err(|_| UploadError::Idle {
                secs: idle.as_secs(),
                received: bytes,
            })?
    {
        let chunk = chunk.map_err(|e| UploadError::Interrupted {
            received: bytes,
            reason: e.to_string(),
        })?;
        let chunk = chunk.as_ref();
        bytes += chunk.len() as u64;
        if bytes > limit {
            return Err(UploadError::TooLarge { limit });
        }
        hasher.update(chunk);
        out.write_all(chunk).await?;
    }
    if bytes == 0 {
        return Err(UploadError::Empty);
    }
    out.flush().await?;
    drop(out);
    let digest = hasher.finalize();
    let mut content = [0u8; 32];
    content.copy_from_slice(&digest);
    Ok(Received {
        file,
        content: ContentHash(content),
        bytes,
    })
}

/// SHA-256 of a file on disk, streamed.
pub async fn hash_file(path: &Path) -> std::io::Result<(ContentHash, u64)> {
    use tokio::io::AsyncReadExt;
    let mut f = tokio::fs::File::open(path).await?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = f.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        hasher.update(&buf[..n]);
    }
    let mut content = [0u8; 32];
    content.copy_from_slice(&hasher.finalize());
    Ok((ContentHash(content), bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: Duration = Duration::from_secs(10);

    fn chunks(
        parts: Vec<Result<Vec<u8>, std::io::Error>>,
    ) -> impl Stream<Item = Result<Vec<u8>, std::io::Error>> {
        futures_util::stream::iter(parts)
    }

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("vidmesh-upload-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn files_in(d: &Path) -> usize {
        std::fs::read_dir(d).unwrap().count()
    }

    #[tokio::test]
    async fn hashes_what_it_stores_and_removes_the_file_on_drop() {
        let d = dir("ok");
        let r = receive(
            chunks(vec![Ok(b"abc".to_vec()), Ok(b"def".to_vec())]),
            &d,
            100,
            IDLE,
        )
        .await
        .unwrap();
        assert_eq!(r.bytes, 6);
        // sha256("abcdef")
        assert_eq!(
            r.content.to_hex(),
            "bef57ec7f53a6d40beb640a780a639c83bc29ac8a9816f1fc6c5c6dcd93c4721"
        );
        assert_eq!(std::fs::read(r.file.path()).unwrap(), b"abcdef");
        drop(r);
        assert_eq!(files_in(&d), 0);
    }

    #[tokio::test]
    async fn every_failure_leaves_no_file_behind() {
        let d = dir("fail");
        let too_big = receive(
            chunks(vec![Ok(vec![0; 60]), Ok(vec![0; 60])]),
            &d,
            100,
            IDLE,
        )
        .await;
        assert!(matches!(too_big, Err(UploadError::TooLarge { limit: 100 })));
        let empty = receive(chunks(vec![]), &d, 100, IDLE).await;
        assert!(matches!(empty, Err(UploadError::Empty)));
        let cut = receive(
            chunks(vec![
                Ok(vec![1; 10]),
                Err(std::io::ErrorKind::ConnectionReset.into()),
            ]),
            &d,
            100,
            IDLE,
        )
        .await;
        assert!(matches!(
            cut,
            Err(UploadError::Interrupted { received: 10, .. })
        ));
        assert_eq!(files_in(&d), 0);
    }

    #[tokio::test]
    async fn a_stalled_body_is_given_up_and_its_file_removed() {
        let d = dir("idle");
        let stalled = futures_util::stream::iter(vec![Ok::<_, String>(vec![1u8; 10])])
            .chain(futures_util::stream::pending());
        let r = receive(stalled, &d, 100, Duration::from_millis(200)).await;
        assert!(matches!(r, Err(UploadError::Idle { received: 10, .. })));
        assert_eq!(files_in(&d), 0);
    }
}
