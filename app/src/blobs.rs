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

    /// Writes `bytes` at `offset` of the unfinished upload `key`, cutting first whatever an
    /// earlier attempt left beyond `offset`; returns the length now.
    ///
    /// # Errors
    /// I/O errors; `InvalidInput` when less than `offset` is there (the piece before it was
    /// lost) or the key is not one [`upload_key`] makes.
    fn write_partial(&self, key: &str, offset: u64, bytes: &[u8]) -> std::io::Result<u64>;

    /// How many bytes the unfinished upload holds (0 when there is none).
    ///
    /// # Errors
    /// I/O errors.
    fn partial_len(&self, key: &str) -> std::io::Result<u64>;

    /// The unfinished upload's content so far.
    ///
    /// # Errors
    /// I/O errors.
    fn read_partial(&self, key: &str) -> std::io::Result<Option<Vec<u8>>>;

    /// Forgets an unfinished upload (done, or started over).
    ///
    /// # Errors
    /// I/O errors other than "not there".
    fn remove_partial(&self, key: &str) -> std::io::Result<()>;
}

/// The key of an account's unfinished upload of a content.
#[must_use]
pub fn upload_key(account_id: &str, hash: &str) -> String {
    format!("{account_id}.{hash}")
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

    /// Unfinished uploads, apart from the contents; never a path outside it.
    fn partial_path(&self, key: &str) -> std::io::Result<PathBuf> {
        let safe = !key.is_empty()
            && key.len() <= 128
            && key
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b'-' || b == b'.')
            && !key.starts_with('.');
        if safe {
            Ok(self.root.join("partial").join(key))
        } else {
            Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not an upload key",
            ))
        }
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

    fn write_partial(&self, key: &str, offset: u64, bytes: &[u8]) -> std::io::Result<u64> {
        use std::io::{Seek, SeekFrom};
        let path = self.partial_path(key)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)?;
        if f.metadata()?.len() < offset {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the upload has less than the offset",
            ));
        }
        f.set_len(offset)?;
        f.seek(SeekFrom::Start(offset))?;
        f.write_all(bytes)?;
        f.sync_data()?;
        Ok(f.metadata()?.len())
    }

    fn partial_len(&self, key: &str) -> std::io::Result<u64> {
        match std::fs::metadata(self.partial_path(key)?) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e),
        }
    }

    fn read_partial(&self, key: &str) -> std::io::Result<Option<Vec<u8>>> {
        match std::fs::read(self.partial_path(key)?) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn remove_partial(&self, key: &str) -> std::io::Result<()> {
        match std::fs::remove_file(self.partial_path(key)?) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
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

    #[test]
    fn an_upload_in_pieces_is_cut_back_to_the_offset_before_each_piece() {
        let dir = std::env::temp_dir().join(format!("wangge-blobs-{}", uuid::Uuid::now_v7()));
        let store = DiskBlobs::new(dir.clone());
        let key = upload_key("01a247f2-15b4-751b-b670-e247263c10ff", &sha256_hex(b"x"));
        assert_eq!(store.write_partial(&key, 0, b"hello ").unwrap(), 6);
        // A piece whose answer was lost is sent again at the same offset.
        assert_eq!(store.write_partial(&key, 6, b"wor").unwrap(), 9);
        assert_eq!(store.write_partial(&key, 6, b"world").unwrap(), 11);
        assert_eq!(
            store.read_partial(&key).unwrap().as_deref(),
            Some(&b"hello world"[..])
        );
        assert!(
            store.write_partial(&key, 20, b"gap").is_err(),
            "nothing may be skipped"
        );
        assert!(
            store.write_partial("../etc", 0, b"x").is_err(),
            "never a path"
        );
        store.remove_partial(&key).unwrap();
        store.remove_partial(&key).unwrap();
        assert_eq!(store.read_partial(&key).unwrap(), None);
        assert_eq!(store.partial_len(&key).unwrap(), 0);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
