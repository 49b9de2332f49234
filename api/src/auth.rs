//! Authentication: short-lived JWT access tokens, and the `AuthUser` extractor that every
//! `/api/v1` handler but login takes (passwords and sessions are `wangge_app`'s). A missing or bad token is 401 before
//! the handler runs; what the caller may do is asked of the domain's predicates.

use crate::error::ApiError;
use crate::startup::AppState;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::future::{Ready, ready};
use std::sync::{PoisonError, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};
use wangge_domain::{Caller, Role};

const ISSUER: &str = "wangge";

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub roles: Vec<Role>,
    pub iss: String,
    pub iat: u64,
    pub exp: u64,
    pub jti: String,
    /// The session (refresh-token family) the token belongs to; logout revokes it.
    pub sid: String,
    /// The user must set a new password first: the token opens nothing else.
    #[serde(default)]
    pub pwd: bool,
}

/// A verified access token: who calls, in which session.
#[derive(Debug, Clone)]
pub struct Verified {
    pub caller: Caller,
    pub session_id: String,
    pub must_change_password: bool,
}

/// Signs and checks access tokens (HS256 only: `alg: none` and other algorithms are refused).
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub ttl_s: u64,
    /// Tokens already verified, with their expiry: a phone sends the same token for 15
    /// minutes, and decoding plus the HMAC is most of the cost of a locate request.
    verified: RwLock<HashMap<Box<str>, (Verified, u64)>>,
}

/// Above this many cached tokens the cache starts over (about the number of workers online).
const VERIFIED_CACHE_MAX: usize = 50_000;

impl TokenKeys {
    #[must_use]
    pub fn new(secret: &[u8], ttl_s: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl_s,
            verified: RwLock::new(HashMap::new()),
        }
    }

    /// # Errors
    /// When signing fails.
    pub fn issue(
        &self,
        user_id: &str,
        roles: Vec<Role>,
        session_id: &str,
        must_change_password: bool,
        now_s: u64,
    ) -> Result<String, ApiError> {
        let claims = Claims {
            sub: user_id.to_owned(),
            roles,
            iss: ISSUER.into(),
            iat: now_s,
            exp: now_s.saturating_add(self.ttl_s),
            jti: uuid::Uuid::now_v7().to_string(),
            sid: session_id.to_owned(),
            pwd: must_change_password,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::internal(&e))
    }

    /// # Errors
    /// 401 for a token that is expired, tampered with, of another algorithm or malformed.
    pub fn verify(&self, token: &str) -> Result<Verified, ApiError> {
        let now_s = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let cached = self
            .verified
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(token)
            .filter(|(_, exp)| now_s < *exp)
            .map(|(verified, _)| verified.clone());
        if let Some(verified) = cached {
            return Ok(verified);
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                match e.kind() {
                    ErrorKind::ExpiredSignature => {
                        ApiError::unauthorized("the access token has expired")
                    }
                    _ => ApiError::unauthorized("the access token is invalid"),
                }
            })?;
        let user_id = uuid::Uuid::try_parse(&data.claims.sub)
            .map_err(|_| ApiError::unauthorized("the access token is invalid"))?;
        let verified = Verified {
            caller: Caller {
                user_id,
                roles: data.claims.roles,
            },
            session_id: data.claims.sid,
            must_change_password: data.claims.pwd,
        };
        let mut cache = self
            .verified
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= VERIFIED_CACHE_MAX {
            cache.clear();
        }
        cache.insert(token.into(), (verified.clone(), data.claims.exp));
        Ok(verified)
    }
}

/// An authenticated caller. Taking it as a handler argument makes the route require a login.
pub struct AuthUser {
    pub caller: Caller,
    pub session_id: String,
    /// Where the request came from and its id: the audit log's "from where".
    pub address: String,
    pub request_id: Option<String>,
}

impl AuthUser {
    /// The caller as the use cases know it.
    #[must_use]
    pub fn who(&self) -> wangge_app::Who {
        wangge_app::Who::Account {
            id: wangge_domain::UserId::from_uuid(self.caller.user_id),
            address: self.address.clone(),
            request_id: self.request_id.clone(),
        }
    }

    /// # Errors
    /// 403 unless the caller may read the grid.
    pub fn require_grid_reader(&self) -> Result<(), ApiError> {
        if self.caller.may_read_grid() {
            Ok(())
        } else {
            Err(ApiError::forbidden("reading the grid needs a role"))
        }
    }
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

/// What a token that must change its password may still call.
const PASSWORD_CHANGE_PATHS: [&str; 2] = ["/api/v1/me/password", "/api/v1/auth/logout"];

fn authenticate(req: &HttpRequest) -> Result<AuthUser, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::internal(&"application state missing"))?;
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::unauthorized("send an access token: Authorization: Bearer <token>")
        })?;
    let token = header
        .to_str()
        .ok()
        // The scheme is case-insensitive (RFC 9110 §11.1).
        .and_then(|h| {
            h.get(..7)
                .filter(|s| s.eq_ignore_ascii_case("bearer "))
                .and(h.get(7..))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::unauthorized("the Authorization header must be 'Bearer <token>'")
        })?;
    let v = state.tokens.verify(token)?;
    // Checked on every request, cached token or not: logout takes effect at once.
    if state.revoked.contains(&v.session_id) {
        return Err(ApiError::unauthorized(
            "the session has ended; log in again",
        ));
    }
    // A one-time password opens only the door to replacing it (and to leaving).
    if v.must_change_password && !PASSWORD_CHANGE_PATHS.contains(&req.path()) {
        return Err(
            ApiError::forbidden("set a new password first: POST /api/v1/me/password")
                .with_code("password_change_required"),
        );
    }
    Ok(AuthUser {
        caller: v.caller,
        session_id: v.session_id,
        address: peer_address(req),
        request_id: request_id(req),
    })
}

/// The client's address (behind trusted proxies, the one they name; see `client`).
#[must_use]
pub fn peer_address(req: &HttpRequest) -> String {
    crate::client::address(req)
}

/// The id the telemetry middleware gave this request.
#[must_use]
pub fn request_id(req: &HttpRequest) -> Option<String> {
    use actix_web::HttpMessage as _;
    req.extensions()
        .get::<crate::telemetry::RequestId>()
        .map(|r| r.0.clone())
}

/// Sessions revoked recently, kept in memory so the check costs no I/O. An entry can be
/// forgotten once every access token of that session has expired.
#[derive(Default)]
pub struct Revoked {
    sessions: RwLock<HashMap<String, u64>>,
}

impl Revoked {
    #[must_use]
    pub fn contains(&self, session_id: &str) -> bool {
        self.sessions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(session_id)
    }

    /// Remembers a revoked session until `forget_after_s` (Unix seconds), dropping entries
    /// that are past theirs.
    pub fn insert(&self, session_id: &str, now_s: u64, forget_after_s: u64) {
        self.insert_all([session_id], now_s, forget_after_s);
    }

    /// Like `insert` for many, pruning once (a poll may load thousands).
    pub fn insert_all<'a>(
        &self,
        session_ids: impl IntoIterator<Item = &'a str>,
        now_s: u64,
        forget_after_s: u64,
    ) {
        let mut map = self
            .sessions
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, until| *until > now_s);
        for id in session_ids {
            map.insert(id.to_owned(), forget_after_s);
        }
    }
}

/// Unix seconds now.
#[must_use]
pub fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
