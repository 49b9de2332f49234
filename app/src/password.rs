//! Passwords: Argon2id hashes, one-time passwords, and random tokens. Hashing is CPU work of
//! tens of milliseconds: callers run it off the database threads, after the permission
//! checks (see `users::create`).

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::Rng;

/// A random URL-safe token of `len` characters.
#[must_use]
pub fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// A one-time password that meets the policy (it holds all four character classes).
#[must_use]
pub fn one_time_password() -> String {
    format!("{}-{}9", random_token(16), random_token(4))
}

/// Hashes a password with Argon2id (the crate's default parameters, OWASP's minimum).
///
/// # Errors
/// When hashing fails (it does not for valid inputs).
pub fn hash(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Checks a password against a stored hash; false for a wrong password or an unreadable hash.
#[must_use]
pub fn verify(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Makes password hashes and counts them, so an operator (and a test) can see that no
/// request hashes before its permission check.
#[derive(Debug, Default)]
pub struct Hasher {
    made: std::sync::atomic::AtomicU64,
}

impl Hasher {
    /// As [`hash`], counted.
    ///
    /// # Errors
    /// When hashing fails.
    pub fn hash(&self, password: &str) -> Result<String, argon2::password_hash::Error> {
        self.made.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        hash(password)
    }

    /// How many hashes this instance made.
    #[must_use]
    pub fn made(&self) -> u64 {
        self.made.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// A hash to verify against when the user does not exist, so that the response time does not
/// tell which usernames exist.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash("not-a-real-password-Aa1!").unwrap_or_default())
}

/// A stored hash no password matches: accounts that must be given one by an administrator
/// (the demo's workers).
pub const UNUSABLE_HASH: &str = "!";
