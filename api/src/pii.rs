//! Personal information at rest (PIPL): identity-card numbers and phones are sealed with
//! AES-256-GCM under a configured key whose id is stored beside the ciphertext (so keys can
//! rotate: old keys stay configured for opening), with an HMAC-SHA256 keyed hash for
//! exact-match search. The plain text never reaches the database or a log.

use crate::config::{ConfigError, Secret, Settings};
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use std::collections::HashMap;
use wangge_persistence::audit::{self, NewAuditEvent};
use wangge_persistence::sealed::{self, SealedColumn};
use wangge_persistence::{AnyConnection, Sealed, StoreError};

/// Which kind of value is sealed: part of the associated data, so a ciphertext cannot be
/// passed off as another kind, and of the hash, so equal digits of different kinds differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PiiKind {
    IdCard,
    Phone,
}

impl PiiKind {
    fn label(self) -> &'static str {
        match self {
            Self::IdCard => "id_card",
            Self::Phone => "phone",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PiiError {
    #[error("no key with id {0:?} is configured (WANGGE_PII_OLD_KEYS)")]
    UnknownKey(String),
    #[error("a sealed value failed authentication")]
    Tampered,
}

pub struct PiiKeys {
    current_id: String,
    keys: HashMap<String, LessSafeKey>,
    hash_key: hmac::Key,
    rng: SystemRandom,
}

fn parse_hex32(var: &'static str, hex: &str) -> Result<[u8; 32], ConfigError> {
    let bad = |reason: &str| ConfigError::Invalid {
        var,
        reason: reason.to_owned(),
    };
    let hex = hex.trim();
    if hex.len() != 64 {
        return Err(bad("must be 64 hexadecimal digits (32 bytes)"));
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2).unwrap_or("x"), 16)
            .map_err(|_| bad("must be 64 hexadecimal digits (32 bytes)"))?;
    }
    Ok(out)
}

/// `<id>:<64 hex digits>`.
fn parse_keyed(var: &'static str, s: &str) -> Result<(String, LessSafeKey), ConfigError> {
    let (id, hex) = s.trim().split_once(':').ok_or(ConfigError::Invalid {
        var,
        reason: "must be <key id>:<64 hexadecimal digits>".into(),
    })?;
    if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(ConfigError::Invalid {
            var,
            reason: "the key id must be 1 to 32 letters, digits or '-'".into(),
        });
    }
    let bytes = parse_hex32(var, hex)?;
    let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| ConfigError::Invalid {
        var,
        reason: "not an AES-256 key".into(),
    })?;
    Ok((id.to_owned(), LessSafeKey::new(key)))
}

fn random_hex32() -> String {
    use std::fmt::Write as _;
    let mut b = [0u8; 32];
    // The system RNG does not fail on supported platforms; a zero key would be caught by
    // nothing, so refuse to go on rather than use one.
    if SystemRandom::new().fill(&mut b).is_err() {
        return String::new();
    }
    b.iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

impl PiiKeys {
    /// Keys from configuration; on the embedded default, generated once and kept in the data
    /// directory (like the JWT secret). On PostgreSQL (production) missing keys are an error.
    ///
    /// # Errors
    /// Missing or malformed keys, or a key file that cannot be read or written.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let (key, hash) = match (&settings.pii_key, &settings.pii_hash_key) {
            (Some(k), Some(h)) => (k.clone(), h.clone()),
            (None, None) if settings.backend() == wangge_persistence::BackendKind::Sqlite => {
                local_keys(settings)?
            }
            _ => {
                return Err(ConfigError::Missing(
                    "WANGGE_PII_KEY and WANGGE_PII_HASH_KEY must both be set when running on PostgreSQL \
                     (or when either is set); only the embedded SQLite default generates local ones"
                        .into(),
                ));
            }
        };
        let (current_id, current) = parse_keyed("WANGGE_PII_KEY", key.expose())?;
        let mut keys = HashMap::new();
        if let Some(old) = &settings.pii_old_keys {
            for part in old.expose().split(',').filter(|p| !p.trim().is_empty()) {
                let (id, k) = parse_keyed("WANGGE_PII_OLD_KEYS", part)?;
                keys.insert(id, k);
            }
        }
        keys.insert(current_id.clone(), current);
        let hash_bytes = parse_hex32("WANGGE_PII_HASH_KEY", hash.expose())?;
        Ok(Self {
            current_id,
            keys,
            hash_key: hmac::Key::new(hmac::HMAC_SHA256, &hash_bytes),
            rng: SystemRandom::new(),
        })
    }

    /// The keyed hash of a normalised value: equal values give equal hashes, and without the
    /// key nobody can compute one (a plain hash of 18 digits is brute-forced in minutes).
    #[must_use]
    pub fn hash(&self, kind: PiiKind, plain: &str) -> String {
        use std::fmt::Write as _;
        let mut ctx = hmac::Context::with_key(&self.hash_key);
        ctx.update(kind.label().as_bytes());
        ctx.update(b":");
        ctx.update(plain.as_bytes());
        ctx.sign()
            .as_ref()
            .iter()
            .fold(String::with_capacity(64), |mut s, b| {
                let _ = write!(s, "{b:02x}");
                s
            })
    }

    /// Seals a value under the current key: nonce ‖ ciphertext ‖ tag.
    #[must_use]
    pub fn seal(&self, kind: PiiKind, plain: &str, masked: String) -> Sealed {
        Sealed {
            // Unreachable with a valid key; store nothing rather than the plain text.
            cipher: self.seal_bytes(kind, plain).unwrap_or_default(),
            key_id: self.current_id.clone(),
            hash: self.hash(kind, plain),
            masked,
        }
    }

    /// nonce ‖ ciphertext ‖ tag under the current key; `None` only if sealing failed, which
    /// a valid key does not.
    fn seal_bytes(&self, kind: PiiKind, plain: &str) -> Option<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        // See `random_hex32`: the system RNG does not fail on supported platforms.
        let _ = self.rng.fill(&mut nonce);
        let mut buf = plain.as_bytes().to_vec();
        let key = self.keys.get(&self.current_id);
        let sealed = key.is_some_and(|k| {
            k.seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(kind.label().as_bytes()),
                &mut buf,
            )
            .is_ok()
        });
        sealed.then(|| {
            let mut c = nonce.to_vec();
            c.extend_from_slice(&buf);
            c
        })
    }

    /// The id of the key new values are sealed under.
    #[must_use]
    pub fn current_key_id(&self) -> &str {
        &self.current_id
    }

    /// Opens a sealed value.
    ///
    /// # Errors
    /// An unknown key id, or a ciphertext that fails authentication.
    pub fn open(&self, kind: PiiKind, cipher: &[u8], key_id: &str) -> Result<String, PiiError> {
        let key = self
            .keys
            .get(key_id)
            .ok_or_else(|| PiiError::UnknownKey(key_id.to_owned()))?;
        if cipher.len() < NONCE_LEN {
            return Err(PiiError::Tampered);
        }
        let (nonce, rest) = cipher.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| PiiError::Tampered)?;
        let mut buf = rest.to_vec();
        let plain = key
            .open_in_place(nonce, Aad::from(kind.label().as_bytes()), &mut buf)
            .map_err(|_| PiiError::Tampered)?;
        String::from_utf8(plain.to_vec()).map_err(|_| PiiError::Tampered)
    }
}

/// The embedded default's keys: read from `<data dir>/pii-keys`, or generated there once.
fn local_keys(settings: &Settings) -> Result<(Secret, Secret), ConfigError> {
    settings.ensure_data_dir()?;
    let path = settings.data_dir.join("pii-keys");
    let io = |source| ConfigError::DataDir {
        path: path.display().to_string(),
        source,
    };
    if let Ok(text) = std::fs::read_to_string(&path) {
        let mut key = None;
        let mut hash = None;
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("key=") {
                key = Some(v.trim().to_owned());
            } else if let Some(v) = line.strip_prefix("hash=") {
                hash = Some(v.trim().to_owned());
            }
        }
        if let (Some(k), Some(h)) = (key, hash) {
            return Ok((Secret::new(k), Secret::new(h)));
        }
    }
    let (k, h) = (format!("local1:{}", random_hex32()), random_hex32());
    if h.is_empty() {
        return Err(ConfigError::Missing(
            "the system random generator failed".into(),
        ));
    }
    crate::config::write_private(&path, &format!("key={k}\nhash={h}\n")).map_err(io)?;
    tracing::warn!(
        secret.path = %path.display(),
        "WANGGE_PII_KEY is not set: generated local keys for personal data and kept them in the data directory (set WANGGE_PII_KEY and WANGGE_PII_HASH_KEY in production, and keep them: without them the data cannot be read)"
    );
    Ok((Secret::new(k), Secret::new(h)))
}

/// What [`reseal`] did, by column: values moved to the current key, and what each key
/// holds afterwards.
#[derive(Debug, Default)]
pub struct ResealReport {
    pub resealed: Vec<(SealedColumn, u64)>,
    pub remaining: Vec<(SealedColumn, Vec<(String, i64)>)>,
}

impl ResealReport {
    #[must_use]
    pub fn total(&self) -> u64 {
        self.resealed.iter().map(|(_, n)| n).sum()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ResealError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{column} of row {row}: {source}")]
    Open {
        column: &'static str,
        row: String,
        source: PiiError,
    },
    #[error("sealing under key {0} failed")]
    Seal(String),
}

fn kind_of(col: SealedColumn) -> PiiKind {
    match col {
        SealedColumn::ResidentIdCard => PiiKind::IdCard,
        SealedColumn::ResidentPhone | SealedColumn::UserPhone => PiiKind::Phone,
    }
}

/// Re-seals every value held under an old key with the current key, `batch` values per
/// transaction, calling `progress` with the number done after each batch, and records
/// `pii.resealed` in the audit log with what was done, also when it stops on an error.
///
/// The keyed hashes and masks do not change (the hash key is not rotated), nor do row
/// versions. A value is replaced only if the row still holds the very ciphertext that was
/// opened, so a value written meanwhile is left alone, and a rerun after an interruption
/// goes on where it stopped. Every running instance must be able to open values under the
/// current key before this runs (README, `WANGGE_PII_OLD_KEYS`). Once nothing is left under
/// an old key, that key can be removed.
///
/// # Errors
/// Database errors, or a value whose key is not configured or that fails authentication
/// (nothing of its batch is written; earlier batches stay done and are in the audit event).
pub fn reseal(
    conn: &mut AnyConnection,
    keys: &PiiKeys,
    batch: i64,
    progress: &mut dyn FnMut(u64),
) -> Result<ResealReport, ResealError> {
    let mut report = ResealReport::default();
    let outcome = reseal_into(conn, keys, batch, progress, &mut report);
    let values: std::collections::BTreeMap<&str, u64> = report
        .resealed
        .iter()
        .map(|(c, n)| (c.name(), *n))
        .collect();
    let event = NewAuditEvent {
        action: "pii.resealed",
        details: serde_json::json!({
            "key_id": keys.current_key_id(),
            "values": values,
            "error": outcome.as_ref().err().map(ToString::to_string),
        }),
        ..NewAuditEvent::default()
    };
    // Batches already written must be on record even when a later one failed.
    let recorded = audit::record(conn, &event);
    outcome?;
    recorded?;
    Ok(report)
}

fn reseal_into(
    conn: &mut AnyConnection,
    keys: &PiiKeys,
    batch: i64,
    progress: &mut dyn FnMut(u64),
    report: &mut ResealReport,
) -> Result<(), ResealError> {
    let current = keys.current_key_id();
    let mut done = 0u64;
    for col in SealedColumn::ALL {
        let kind = kind_of(col);
        let mut after = String::new();
        report.resealed.push((col, 0));
        loop {
            let rows = sealed::not_under_key(conn, col, current, &after, batch)?;
            let Some(last) = rows.last() else { break };
            after.clone_from(&last.row_id);
            // Opened and sealed before the transaction, which then only writes.
            let mut fresh = Vec::with_capacity(rows.len());
            for v in &rows {
                let plain =
                    keys.open(kind, &v.cipher, &v.key_id)
                        .map_err(|source| ResealError::Open {
                            column: col.name(),
                            row: v.row_id.clone(),
                            source,
                        })?;
                let cipher = keys
                    .seal_bytes(kind, &plain)
                    .ok_or_else(|| ResealError::Seal(current.to_owned()))?;
                fresh.push((v, cipher));
            }
            let n = wangge_persistence::transaction(conn, |conn| {
                let mut n = 0u64;
                for (v, cipher) in &fresh {
                    if sealed::replace(conn, col, v, cipher, current)? {
                        n += 1;
                    }
                }
                Ok(n)
            })?;
            if let Some((_, moved)) = report.resealed.last_mut() {
                *moved += n;
            }
            done += n;
            progress(done);
        }
        report
            .remaining
            .push((col, sealed::count_by_key(conn, col)?));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> PiiKeys {
        let mut s = Settings::from_env().unwrap_or_else(|_| unreachable!());
        s.database_url = "postgres://x".into();
        s.pii_key = Some(Secret::new(format!("k2:{}", "ab".repeat(32))));
        s.pii_old_keys = Some(Secret::new(format!("k1:{}", "cd".repeat(32))));
        s.pii_hash_key = Some(Secret::new("ef".repeat(32)));
        PiiKeys::from_settings(&s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn sealed_values_open_and_hide_the_plain_text() {
        let k = keys();
        let s = k.seal(
            PiiKind::IdCard,
            "11010519491231002X",
            "110105********002X".into(),
        );
        assert_eq!(s.key_id, "k2");
        assert!(!s.cipher.windows(18).any(|w| w == b"11010519491231002X"));
        assert_eq!(
            k.open(PiiKind::IdCard, &s.cipher, "k2").ok().as_deref(),
            Some("11010519491231002X")
        );
        // Another kind's associated data, or a flipped bit, fails authentication.
        assert!(k.open(PiiKind::Phone, &s.cipher, "k2").is_err());
        let mut bad = s.cipher.clone();
        bad[20] ^= 1;
        assert!(k.open(PiiKind::IdCard, &bad, "k2").is_err());
        assert!(matches!(
            k.open(PiiKind::IdCard, &s.cipher, "k9"),
            Err(PiiError::UnknownKey(_))
        ));
    }

    #[test]
    fn hashes_are_keyed_and_stable() {
        let k = keys();
        assert_eq!(
            k.hash(PiiKind::Phone, "13812345678"),
            k.hash(PiiKind::Phone, "13812345678")
        );
        assert_ne!(
            k.hash(PiiKind::Phone, "13812345678"),
            k.hash(PiiKind::IdCard, "13812345678")
        );
        let a = k.seal(PiiKind::Phone, "13812345678", String::new());
        let b = k.seal(PiiKind::Phone, "13812345678", String::new());
        assert_ne!(a.cipher, b.cipher, "a fresh nonce every time");
        assert_eq!(a.hash, b.hash);
    }
}
