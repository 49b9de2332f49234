//! Content-addressed storage for uploads: each content is stored once, under its SHA-256, so
//! the same photo sent twice (a retry, or two cases) takes no more room. A trait, so object
//! storage can replace the disk without touching the use cases.

use std::io::Write;
use std::path::PathBuf;

/// Where uploaded contents live.
pub trait BlobStore: Send + Sync {
    /// Stores `bytes` under `hash` (their SHA-256, hex); storing it again is a no-op.
    ///
    /// # Errors
    /// I/O errors.
    fn put(&self, hash: &str, bytes: &[u8]) -> std::io::Result<()>;

    /// The content stored under `hash`, if any.
    ///
    /// # Errors
    /// I/O errors other than "not there".
    fn get(&self, hash: &str) -> std::io::Result<Option<Vec<u8>>>;
}

/// SHA-256 of `bytes`, lower-case hex.
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `s` can be a content hash (so it is safe as a file name).
#[must_use]
pub fn is_hash(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Files under a directory, fanned out by the hash's first two bytes
/// (`ab/cd/abcd…`) so no directory grows huge.
pub struct DiskBlobs {
    root: PathBuf,
}

impl DiskBlobs {
    #[must_use]
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    fn path(&self, hash: &str) -> Option<PathBuf> {
        is_hash(hash).then(|| self.root.join(&hash[..2]).join(&hash[2..4]).join(hash))
    }
}

impl BlobStore for DiskBlobs {
    fn put(&self, hash: &str, bytes: &[u8]) -> std::io::Result<()> {
        let path = self
            .path(hash)
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a hash"))?;
        if path.exists() {
            return Ok(());
        }
        let dir = path.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(dir)?;
        // Written whole to a temporary name, synced, then renamed: a crash leaves either
        // nothing or the whole content under its hash, never a torn file.
        let tmp = dir.join(format!(".{hash}.{}", uuid::Uuid::now_v7().simple()));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    }

    fn get(&self, hash: &str) -> std::io::Result<Option<Vec<u8>>> {
        let Some(path) = self.path(hash) else {
            return Ok(None);
        };
        match std::fs::read(path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn contents_are_stored_once_under_their_hash() {
        let dir = std::env::temp_dir().join(format!("wangge-blobs-{}", uuid::Uuid::now_v7()));
        let store = DiskBlobs::new(dir.clone());
        let hash = sha256_hex(b"photo");
        store.put(&hash, b"photo").unwrap();
        store.put(&hash, b"photo").unwrap();
        assert_eq!(store.get(&hash).unwrap().as_deref(), Some(&b"photo"[..]));
        assert_eq!(store.get(&sha256_hex(b"other")).unwrap(), None);
        assert_eq!(
            store.get("../../etc/passwd").unwrap(),
            None,
            "not a hash, never a path"
        );
        let files = std::fs::read_dir(dir.join(&hash[..2]).join(&hash[2..4]))
            .unwrap()
            .count();
        assert_eq!(files, 1, "no temporary file left behind");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
