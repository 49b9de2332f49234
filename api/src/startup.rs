//! Building and running the application: one place that wires configuration, storage, the
//! locate index, Redis and the HTTP server. Tests build it on port 0 and read `port()`.

use crate::auth::{self, TokenKeys};
use crate::config::{ConfigError, Settings};
use crate::error::{ApiError, extract};
use crate::metrics::Metrics;
use crate::{bus, routes, telemetry};
use actix_web::dev::Server;
use actix_web::middleware::{Compress, from_fn};
use actix_web::{App, HttpResponse, HttpServer, web};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;
use wangge_app::idempotency::{Answer, Keyed};
use wangge_app::locate::Locator;
use wangge_app::{AppError, Reader, Services, Tx, Who};
use wangge_domain::{DisplayName, Role, UnitId, Username};
use wangge_persistence::{Pool, db, grid, users};

/// Default limit for JSON bodies; coverage and import routes raise it for themselves.
pub const JSON_LIMIT_BYTES: usize = 256 * 1024;
/// Limit for coverage updates and imports: the whole demo grid exported at resolution 11 is
/// about 65 MB of GeoJSON.
pub const UPLOAD_LIMIT_BYTES: usize = 128 * 1024 * 1024;

pub struct AppState {
    pub pool: Pool,
    /// Where database work runs (see `db_threads`); one thread per pooled connection.
    pub db_threads: crate::db_threads::DbThreads,
    pub tokens: TokenKeys,
    /// What the use cases need: personal-data keys, the locate snapshot, their settings.
    pub svc: Arc<Services>,
    pub locator: Arc<Locator>,
    pub settings: Settings,
    pub redis: Option<redis::aio::ConnectionManager>,
    pub metrics: web::Data<Metrics>,
    pub limiter: crate::ratelimit::Limiter,
    pub revoked: auth::Revoked,
    pub login_throttle: crate::throttle::LoginThrottle,
    /// Woken after every committed write: the change feed's sequencer has work.
    pub sequencer: Arc<tokio::sync::Notify>,
    /// The instance's fan-out of incident events to its event streams.
    pub feed: Arc<crate::feed::Hub>,
}

/// Request-side helpers on the shared state (a trait, because they need the `Data` handle to
/// move into blocking closures).
pub trait StateExt {
    /// Runs diesel work on a database thread (`db_threads`) with a pooled connection, keeping
    /// the request's span, so no database call ever blocks an async worker.
    fn db<T, F>(&self, f: F) -> impl std::future::Future<Output = Result<T, ApiError>>
    where
        F: FnOnce(&mut wangge_persistence::AnyConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static;

    /// As [`StateExt::db`], then `then` on the same thread once the connection is back in the
    /// pool: for turning a large result into its response body. Rows decoded on a blocking
    /// thread and freed on an HTTP worker cost the allocator dearly (a cross-thread free for
    /// every string), and the connection should not wait while JSON is written.
    fn db_then<T, U, F, G>(
        &self,
        f: F,
        then: G,
    ) -> impl std::future::Future<Output = Result<U, ApiError>>
    where
        F: FnOnce(&mut wangge_persistence::AnyConnection) -> Result<T, ApiError> + Send + 'static,
        G: FnOnce(T) -> Result<U, ApiError> + Send + 'static,
        U: Send + 'static;

    /// After a committed write that changed coverage or units: refresh this instance's index
    /// now, then tell the others.
    fn coverage_changed(&self) -> impl std::future::Future<Output = ()>;

    /// Runs a reading use case for `who`, on a database thread.
    fn read<T, F>(&self, who: Who, f: F) -> impl std::future::Future<Output = Result<T, ApiError>>
    where
        F: FnOnce(&mut Reader<'_>) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static;

    /// Runs a writing use case for `who`, on a database thread: one transaction with its
    /// history, audit, outbox and change rows.
    fn write<T, F>(&self, who: Who, f: F) -> impl std::future::Future<Output = Result<T, ApiError>>
    where
        F: FnMut(&mut Tx<'_>) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static;

    /// Runs a use case that creates or acts, under the request's idempotency key if it has
    /// one: the answer is stored with the effect, and a retry gets it again.
    fn answer<T, F, R>(
        &self,
        who: Who,
        keyed: Option<Keyed>,
        f: F,
        render: R,
    ) -> impl std::future::Future<Output = Result<HttpResponse, ApiError>>
    where
        F: FnMut(&mut Tx<'_>) -> Result<T, AppError> + Send + 'static,
        R: Fn(&T) -> Answer + Send + 'static,
        T: Send + 'static;
}

impl StateExt for web::Data<AppState> {
    async fn db<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut wangge_persistence::AnyConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.db_then(f, Ok).await
    }

    async fn db_then<T, U, F, G>(&self, f: F, then: G) -> Result<U, ApiError>
    where
        F: FnOnce(&mut wangge_persistence::AnyConnection) -> Result<T, ApiError> + Send + 'static,
        G: FnOnce(T) -> Result<U, ApiError> + Send + 'static,
        U: Send + 'static,
    {
        let st = self.clone();
        let span = tracing::Span::current();
        self.db_threads
            .run(move || {
                let _e = span.enter();
                let got = {
                    let mut conn = st.pool.get().map_err(|e| ApiError::unavailable(&e))?;
                    let got = f(&mut conn);
                    // A 4xx is the database answering "no"; only a server error may mean
                    // the connection itself failed.
                    if got
                        .as_ref()
                        .is_err_and(|e| actix_web::ResponseError::status_code(e).is_server_error())
                    {
                        conn.doubt();
                    } else {
                        conn.proved_alive();
                    }
                    got?
                };
                then(got)
            })
            .await?
    }

    async fn coverage_changed(&self) {
        bus::refresh_locator(self).await;
        bus::publish_coverage_change(self).await;
    }

    async fn read<T, F>(&self, who: Who, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut Reader<'_>) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        let svc = self.svc.clone();
        self.db(move |conn| Ok(wangge_app::read(conn, &svc, &who, f)?))
            .await
    }

    async fn write<T, F>(&self, who: Who, f: F) -> Result<T, ApiError>
    where
        F: FnMut(&mut Tx<'_>) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        let svc = self.svc.clone();
        let done = self
            .db(move |conn| Ok(wangge_app::write(conn, &svc, &who, f)?))
            .await;
        self.sequencer.notify_one();
        done
    }

    async fn answer<T, F, R>(
        &self,
        who: Who,
        keyed: Option<Keyed>,
        f: F,
        render: R,
    ) -> Result<HttpResponse, ApiError>
    where
        F: FnMut(&mut Tx<'_>) -> Result<T, AppError> + Send + 'static,
        R: Fn(&T) -> Answer + Send + 'static,
        T: Send + 'static,
    {
        let svc = self.svc.clone();
        let done = self
            .db(move |conn| {
                Ok(wangge_app::idempotency::run(
                    conn,
                    &svc,
                    &who,
                    keyed.as_ref(),
                    f,
                    render,
                )?)
            })
            .await;
        self.sequencer.notify_one();
        Ok(crate::http::respond(done?))
    }
}

impl AppState {
    pub fn record_locator_metrics(&self) {
        let snap = self.locator.snapshot();
        let m = &self.metrics;
        m.locate_entries
            .set(i64::try_from(snap.index.len()).unwrap_or(i64::MAX));
        m.locate_bytes
            .set(i64::try_from(snap.index.heap_size_bytes()).unwrap_or(i64::MAX));
        m.locate_units
            .set(i64::try_from(snap.units.len()).unwrap_or(i64::MAX));
        m.locate_generation.set(snap.generation);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot open the database: {0}")]
    Database(String),
    #[error("cannot apply migrations: {0}")]
    Migration(String),
    #[error("cannot seed the demo: {0}")]
    Seed(String),
    #[error("REDIS_URL is set but Redis cannot be reached: {0}")]
    Redis(String),
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

/// Opens the pool and applies migrations.
///
/// # Errors
/// When the database cannot be reached or a migration fails.
pub fn open_database(settings: &Settings) -> Result<Pool, StartupError> {
    settings.ensure_data_dir()?;
    let pool = db::pool(
        &settings.database_url,
        settings.pool_size,
        settings.sqlite_busy_timeout_ms,
    )
    .map_err(|e| StartupError::Database(e.to_string()))?;
    let mut conn = pool
        .get()
        .map_err(|e| StartupError::Database(e.to_string()))?;
    let ran = db::migrate(&mut conn).map_err(|e| StartupError::Migration(e.to_string()))?;
    // Cells stored at another resolution would never locate and refuse every write.
    let stored =
        grid::stored_resolutions(&mut conn).map_err(|e| StartupError::Database(e.to_string()))?;
    if let Some(other) = stored
        .iter()
        .find(|r| **r != i32::from(u8::from(settings.leaf)))
    {
        return Err(StartupError::Other(format!(
            "the database stores coverage at H3 resolution {other}, but WANGGE_H3_RESOLUTION is {}; \
             set WANGGE_H3_RESOLUTION={other} (the resolution is fixed for the life of a database)",
            u8::from(settings.leaf)
        )));
    }
    if db::autovacuum_off(&mut conn).unwrap_or(false) {
        tracing::warn!(
            "PostgreSQL runs without autovacuum: a statement first planned while its tables were \
             small keeps that plan until they are analysed; turn autovacuum on, or run ANALYZE \
             as tables grow"
        );
    }
    tracing::info!(
        db.backend = settings.backend().as_str(),
        db.migrations_applied = ran,
        "database ready"
    );
    Ok(pool)
}

/// On an empty database of the embedded default: load the Dianbai demo (grid, departments,
/// households, workers) and create the demo administrator and one account per field role,
/// printing their one-time passwords once. Everything goes through the use cases, as the
/// named system actor `system:demo`. On any database: the reference data (incident
/// categories, the working-day calendar) into empty tables, as `system:reference`.
fn bootstrap(settings: &Settings, pool: &Pool, svc: &Services) -> Result<(), StartupError> {
    let seed_err = |e: &dyn std::fmt::Display| StartupError::Seed(e.to_string());
    let mut conn = pool
        .get()
        .map_err(|e| StartupError::Database(e.to_string()))?;
    let empty = grid::count_units(&mut conn).map_err(|e| seed_err(&e))? == 0;
    let demo_now = settings.seed_demo && empty;
    // Counted before the demo adds its workers.
    let no_users = users::count_users(&mut conn).map_err(|e| seed_err(&e))? == 0;
    if settings.seed_demo && empty {
        tracing::info!(
            demo.households = settings.demo_households,
            "empty database: loading the Dianbai District demo (synthetic grids, households and workers below the district)"
        );
        // A line every tenth of a stage.
        let mut logged: (&str, usize) = ("", 0);
        let report = wangge_app::demo::seed(
            &mut conn,
            svc,
            settings.demo_households,
            &mut |stage, n, total| {
                if logged.0 != stage {
                    logged = (stage, 0);
                }
                if n.saturating_sub(logged.1) >= (total / 10).max(1) || n == total {
                    logged.1 = n;
                    tracing::info!(
                        demo.stage = stage,
                        demo.done = n,
                        demo.total = total,
                        "seeding"
                    );
                }
            },
        )
        .map_err(|e| seed_err(&e))?;
        tracing::info!(
            demo.units = report.units,
            demo.households = report.households,
            demo.residents = report.residents,
            demo.workers = report.workers,
            "demo loaded"
        );
    }
    if settings.seed_demo && no_users {
        let who = Who::System { name: "demo" };
        for (name, roles, all_units, unit) in demo_accounts(&mut conn).map_err(|e| seed_err(&e))? {
            let new = wangge_app::users::NewAccount {
                id: None,
                username: Username::parse(name).map_err(|e| seed_err(&e))?,
                display_name: DisplayName::parse(name).map_err(|e| seed_err(&e))?,
                roles: roles.to_vec(),
                phone: None,
                department_id: None,
                all_units,
                assignments: unit
                    .map(|(id, capture)| {
                        UnitId::parse(&id)
                            .map(|unit| wangge_app::users::AssignmentIn { unit, capture })
                    })
                    .transpose()
                    .map_err(|e| seed_err(&e))?
                    .into_iter()
                    .collect(),
                // A one-time password: the first login must replace it.
                password: wangge_app::users::InitialPassword::OneTime,
            };
            let plan = wangge_app::read(&mut conn, svc, &who, |r| {
                wangge_app::users::authorize_create(r.conn, &r.caller, new)
            })
            .and_then(|p| p.hash(&svc.passwords))
            .map_err(|e| seed_err(&e))?;
            wangge_app::write(&mut conn, svc, &who, |tx| {
                wangge_app::users::create(tx, &plan)
            })
            .map_err(|e| seed_err(&e))?;
            // Shown once, as self-hosted tools do, so a newcomer can log in at once.
            tracing::warn!(
                user.name = name,
                user.one_time_password = plan.one_time_password().unwrap_or_default(),
                "created a demo account; this password is shown only now"
            );
        }
    }
    // After the demo, so that its departments are there to own their categories.
    let loaded = wangge_app::reference::seed(&mut conn, svc).map_err(|e| seed_err(&e))?;
    if loaded.categories + loaded.calendar_days > 0 {
        tracing::info!(
            reference.categories = loaded.categories,
            reference.calendar_days = loaded.calendar_days,
            "loaded the standard incident categories and the 2026 working-day calendar"
        );
    }
    // After the categories, which the cases are of.
    if demo_now && settings.demo_incidents > 0 {
        let n = wangge_app::demo::seed_incidents(
            &mut conn,
            settings.demo_incidents,
            chrono::Utc::now(),
        )
        .map_err(|e| seed_err(&e))?;
        tracing::info!(
            demo.incidents = n,
            "demo incidents stored (synthetic, over the past year)"
        );
    }
    // A database from before the figures were summed by day: sum them once, before serving.
    let folded = wangge_persistence::write_transaction(&mut conn, wangge_app::stats::fold::ensure)
        .map_err(|e| seed_err(&e))?;
    if let Some(n) = folded {
        tracing::info!(stats.cases = n, "summed the figures of every case by day");
    }
    Ok(())
}

/// A demo account: name, roles, reaches every unit, and its unit assignment (id, capture).
type DemoAccount = (&'static str, &'static [Role], bool, Option<(String, bool)>);

/// The administrator (reaching every unit, as the first account must), and when the demo grid
/// is there, one account per field role around its first resident group, so that every part
/// of the API can be tried at once.
fn demo_accounts(
    conn: &mut wangge_persistence::AnyConnection,
) -> Result<Vec<DemoAccount>, wangge_persistence::StoreError> {
    let mut out: Vec<DemoAccount> = vec![("admin", &[Role::Admin], true, None)];
    let filter = grid::UnitFilter {
        level: Some(wangge_domain::Level::HouseholdGroup),
        ..grid::UnitFilter::default()
    };
    let Some(group) = grid::list_units(conn, &filter, None, 1)?.into_iter().next() else {
        return Ok(out);
    };
    // The household group's chain: [district, subdistrict, community, resident group, group].
    let ids: Vec<String> = group.path_ids().into_iter().map(str::to_owned).collect();
    if let [district, _, community, resident_group, household_group] = ids.as_slice() {
        out.push((
            "demo.worker",
            &[Role::GridWorker],
            false,
            Some((resident_group.clone(), true)),
        ));
        out.push((
            "demo.leader",
            &[Role::GroupLeader],
            false,
            Some((household_group.clone(), true)),
        ));
        out.push((
            "demo.staff",
            &[Role::CommunityStaff],
            false,
            Some((community.clone(), true)),
        ));
        out.push((
            "demo.centre",
            &[Role::CommandCentre],
            false,
            Some((district.clone(), false)),
        ));
    }
    Ok(out)
}

pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Builds everything and binds the listener (port 0 picks a free port).
    ///
    /// # Errors
    /// Any start-up failure, with its cause.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let secret = settings.resolve_jwt_secret()?;
        let s = settings.clone();
        let locator = Arc::new(Locator::new(settings.leaf));
        let loc = locator.clone();
        let (pool, svc) = web::block(move || {
            let svc = Services {
                pii: s.pii_keys()?,
                locator: loc,
                config: s.app_config(),
                passwords: wangge_app::password::Hasher::default(),
                blobs: Arc::new(wangge_app::blobs::DiskBlobs::new(s.data_dir.join("blobs"))),
            };
            let pool = open_database(&s)?;
            bootstrap(&s, &pool, &svc)?;
            Ok::<_, StartupError>((pool, svc))
        })
        .await
        .map_err(|e| StartupError::Other(e.to_string()))??;
        let redis = match &settings.redis_url {
            None => None,
            Some(url) => {
                let client = redis::Client::open(url.as_str())
                    .map_err(|e| StartupError::Redis(e.to_string()))?;
                let mgr = redis::aio::ConnectionManager::new(client)
                    .await
                    .map_err(|e| StartupError::Redis(e.to_string()))?;
                Some(mgr)
            }
        };
        let metrics =
            web::Data::new(Metrics::new().map_err(|e| StartupError::Other(e.to_string()))?);
        let state = web::Data::new(AppState {
            tokens: TokenKeys::new(secret.expose().as_bytes(), settings.access_token_ttl_s),
            svc: Arc::new(svc),
            locator,
            sequencer: Arc::new(tokio::sync::Notify::new()),
            feed: crate::feed::Hub::new(
                settings.sse_max_streams,
                settings.sse_max_streams_per_account,
            ),
            limiter: crate::ratelimit::Limiter::new(settings.rate_limit_per_min),
            revoked: auth::Revoked::default(),
            login_throttle: crate::throttle::LoginThrottle::new(
                redis.clone(),
                &settings.redis_namespace,
            ),
            db_threads: crate::db_threads::DbThreads::start(pool.max_size() as usize)
                .map_err(|e| StartupError::Other(format!("starting the database threads: {e}")))?,
            pool,
            redis,
            metrics: metrics.clone(),
            settings: settings.clone(),
        });
        bus::refresh_locator(&state).await;
        bus::refresh_revocations(&state).await;
        tracing::info!(
            locate.units = state.locator.snapshot().units.len(),
            locate.entries = state.locator.snapshot().index.len(),
            locate.heap_bytes = state.locator.snapshot().index.heap_size_bytes(),
            "locate index built"
        );

        let listener = TcpListener::bind(&settings.bind).map_err(|source| StartupError::Bind {
            addr: settings.bind.clone(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|e| StartupError::Other(e.to_string()))?
            .port();
        let app_state = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .app_data(metrics.clone())
                .app_data(
                    web::JsonConfig::default()
                        .limit(JSON_LIMIT_BYTES)
                        .error_handler(extract::json),
                )
                .app_data(web::QueryConfig::default().error_handler(extract::query))
                .app_data(web::PathConfig::default().error_handler(extract::path))
                .wrap(Compress::default())
                .wrap(from_fn(crate::headers::secure))
                .wrap(from_fn(telemetry::observe))
                .configure(routes::configure)
        })
        // A compressed answer goes out as a header write then the body; with Nagle's
        // algorithm the body waited for the client's delayed ACK, 40 ms a page (measured by
        // the sync benchmark with strace).
        .tcp_nodelay(true)
        .listen(listener)
        .map_err(|source| StartupError::Bind {
            addr: settings.bind.clone(),
            source,
        })?
        .shutdown_timeout(10)
        .run();
        tracing::info!(http.addr = %settings.bind, http.port = port, "listening");

        actix_web::rt::spawn(bus::watch(
            state.clone(),
            settings.redis_url.clone(),
            Duration::from_secs(settings.locate_poll_s),
        ));
        actix_web::rt::spawn(crate::workers::sequence_changes(state.clone()));
        actix_web::rt::spawn(crate::feed::pump(state.clone()));
        if let (Some(url), Some(redis)) = (settings.redis_url.clone(), state.redis.clone()) {
            actix_web::rt::spawn(crate::feed::subscribe_loop(state.clone(), url));
            actix_web::rt::spawn(crate::feed::publish_heads(state.clone(), redis));
        }
        actix_web::rt::spawn(crate::workers::prune_idempotency_keys(state.clone()));
        if settings.clock_interval_s > 0 {
            actix_web::rt::spawn(crate::workers::clock(
                state.clone(),
                Duration::from_secs(settings.clock_interval_s),
            ));
        }
        Ok(Self { port, server })
    }

    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// # Errors
    /// When the server fails.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
