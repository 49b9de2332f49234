//! Personal information at rest (PIPL): identity-card numbers and phones are sealed with
//! AES-256-GCM under a configured key whose id is stored beside the ciphertext (so keys can
//! rotate: old keys stay configured for opening), with an HMAC-SHA256 keyed hash for
//! exact-match search. The plain text never reaches the database or a log.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use std::collections::HashMap;
use wangge_persistence::Sealed;

/// Which kind of value is sealed: part of the associated data, so a ciphertext cannot be
/// passed off as another kind, and of the hash, so equal digits of different kinds differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PiiKind {
    IdCard,
    Phone,
    /// A reporter's own name (residents' names are not sealed; a reporter's may be a
    /// whistle-blower's).
    Name,
    /// A stored answer to an idempotent request (it may hold a one-time password), as
    /// stored before answers were compressed; still opened until the last such key expires.
    Answer,
    /// A stored answer, deflated before sealing (a sealed value does not compress, and an
    /// answer of 2 KB would be stored out of line).
    AnswerDeflated,
}

impl PiiKind {
    fn label(self) -> &'static str {
        match self {
            Self::IdCard => "id_card",
            Self::Phone => "phone",
            Self::Name => "name",
            Self::Answer => "answer",
            Self::AnswerDeflated => "answer.deflate",
        }
    }
}

/// A key setting that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {reason}")]
pub struct KeyError {
    pub var: &'static str,
    pub reason: String,
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

fn parse_hex32(var: &'static str, hex: &str) -> Result<[u8; 32], KeyError> {
    let bad = |reason: &str| KeyError {
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
fn parse_keyed(var: &'static str, s: &str) -> Result<(String, LessSafeKey), KeyError> {
    let (id, hex) = s.trim().split_once(':').ok_or(KeyError {
        var,
        reason: "must be <key id>:<64 hexadecimal digits>".into(),
    })?;
    if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(KeyError {
            var,
            reason: "the key id must be 1 to 32 letters, digits or '-'".into(),
        });
    }
    let bytes = parse_hex32(var, hex)?;
    let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| KeyError {
        var,
        reason: "not an AES-256 key".into(),
    })?;
    Ok((id.to_owned(), LessSafeKey::new(key)))
}

/// 32 random bytes as 64 hex digits, for a newly generated key; empty if the system random
/// generator failed.
#[must_use]
pub fn random_hex32() -> String {
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
    /// Keys from their settings: `key` is `<id>:<64 hex>` (`WANGGE_PII_KEY`), `old_keys` a
    /// comma-separated list of such (`WANGGE_PII_OLD_KEYS`), `hash_key` 64 hex digits.
    ///
    /// # Errors
    /// A malformed key.
    pub fn from_parts(key: &str, old_keys: Option<&str>, hash_key: &str) -> Result<Self, KeyError> {
        let (current_id, current) = parse_keyed("WANGGE_PII_KEY", key)?;
        let mut keys = HashMap::new();
        if let Some(old) = old_keys {
            for part in old.split(',').filter(|p| !p.trim().is_empty()) {
                let (id, k) = parse_keyed("WANGGE_PII_OLD_KEYS", part)?;
                keys.insert(id, k);
            }
        }
        keys.insert(current_id.clone(), current);
        let hash_bytes = parse_hex32("WANGGE_PII_HASH_KEY", hash_key)?;
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
    pub fn seal_bytes(&self, kind: PiiKind, plain: &str) -> Option<Vec<u8>> {
        self.seal_raw(kind, plain.as_bytes())
    }

    /// As [`Self::seal_bytes`], for bytes that are not text.
    #[must_use]
    pub fn seal_raw(&self, kind: PiiKind, plain: &[u8]) -> Option<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        // See `random_hex32`: the system RNG does not fail on supported platforms.
        let _ = self.rng.fill(&mut nonce);
        let mut buf = plain.to_vec();
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
        String::from_utf8(self.open_raw(kind, cipher, key_id)?).map_err(|_| PiiError::Tampered)
    }

    /// As [`Self::open`], for bytes that are not text.
    ///
    /// # Errors
    /// An unknown key id, or a ciphertext that fails authentication.
    pub fn open_raw(
        &self,
        kind: PiiKind,
        cipher: &[u8],
        key_id: &str,
    ) -> Result<Vec<u8>, PiiError> {
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
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> PiiKeys {
        PiiKeys::from_parts(
            &format!("k2:{}", "ab".repeat(32)),
            Some(&format!("k1:{}", "cd".repeat(32))),
            &"ef".repeat(32),
        )
        .unwrap_or_else(|e| panic!("{e}"))
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
