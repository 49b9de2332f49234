//! The `wangge` command line: serve, migrate, seed, users, the grid, households, personal-data
//! keys and the outbox. Every command that writes calls the same use case as its API twin,
//! as the operator (`operator:<login>`), so it is validated, audited and recorded alike.

use crate::config::Settings;
use crate::startup::{self, Application, StartupError};
use crate::telemetry;
use clap::{Parser, Subcommand};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;
use wangge_app::{AppError, Services, Who};
use wangge_domain::{DisplayName, Password, UnitId, Username, account};
use wangge_persistence::{StoreError, grid};

#[derive(Parser)]
#[command(
    name = "wangge",
    version,
    about = "Five-level grid management for Dianbai District"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Apply pending database migrations.
    Migrate,
    /// Load data.
    Seed {
        #[command(subcommand)]
        what: SeedWhat,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Import or export the grid as GeoJSON.
    Grid {
        #[command(subcommand)]
        action: GridAction,
    },
    /// Bulk household registry work.
    Households {
        #[command(subcommand)]
        action: HouseholdAction,
    },
    /// Personal data at rest: its keys.
    Pii {
        #[command(subcommand)]
        action: PiiAction,
    },
    /// Events waiting for subscribers outside.
    Outbox {
        #[command(subcommand)]
        action: OutboxAction,
    },
    /// The change feed.
    Changes {
        #[command(subcommand)]
        action: ChangesAction,
    },
    /// The command centre's figures.
    Stats {
        #[command(subcommand)]
        action: StatsAction,
    },
    /// Simulations that prove a property end to end.
    Simulate {
        #[command(subcommand)]
        what: SimulateWhat,
    },
}

#[derive(Subcommand)]
enum SimulateWhat {
    /// A day of N phones working offline over a lossy link while staff change the same
    /// records; ends with one line of counts.
    Field {
        #[arg(long, default_value_t = 10)]
        workers: usize,
        #[arg(long, default_value_t = 8)]
        hours: u32,
        /// The share of exchanges lost (half before the server, half after it answered).
        #[arg(long, default_value_t = 0.2)]
        loss: f64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Subcommand)]
enum ChangesAction {
    /// Delete numbered changes older than this many days. Phones whose sync cursor lies in
    /// the deleted part must sync again from the start (410 cursor_expired).
    Prune {
        #[arg(long, default_value_t = 90)]
        older_than_days: u32,
    },
}

#[derive(Subcommand)]
enum StatsAction {
    /// Sum every case's share of the figures by day again (after cases were written around
    /// the service, e.g. copied in SQL). Writers of cases wait until it is done.
    Rebuild,
}

#[derive(Subcommand)]
enum OutboxAction {
    /// Undelivered events by type, with the oldest of each.
    Status,
}

#[derive(Subcommand)]
enum PiiAction {
    /// How many sealed values each key holds, per column.
    Status,
    /// Re-seal every value held under an old key (WANGGE_PII_OLD_KEYS) with the current one
    /// (WANGGE_PII_KEY), so that the old key can be retired. Every running server must
    /// already be able to open values under the current key; safe to run again.
    Reseal {
        /// Values per transaction.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(i64).range(1..=10_000))]
        batch: i64,
    },
}

#[derive(Subcommand)]
enum HouseholdAction {
    /// Import households and residents from CSV or NDJSON (all or nothing; every rejected row
    /// is reported). The format follows the extension (.csv, .ndjson/.jsonl) or --format.
    Import {
        file: PathBuf,
        #[arg(long, value_parser = ["csv", "ndjson"])]
        format: Option<String>,
    },
}

#[derive(Subcommand)]
enum SeedWhat {
    /// The Dianbai District demo (real divisions, synthetic grids below the district).
    Demo,
}

#[derive(Subcommand)]
enum UserAction {
    /// Create a user; the password is read from standard input (one line), never from argv.
    Create {
        #[arg(long)]
        username: String,
        /// Repeat for several roles.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        #[arg(long)]
        display_name: Option<String>,
        /// Assign a unit by code, with capture (create and change) rights; repeatable.
        #[arg(long = "unit")]
        units: Vec<String>,
        /// Assign a unit by code, read only; repeatable.
        #[arg(long = "view-unit")]
        view_units: Vec<String>,
        /// Reach every unit, present and future (the installation's administrators).
        #[arg(long)]
        all_units: bool,
    },
}

#[derive(Subcommand)]
enum GridAction {
    /// Import a GeoJSON FeatureCollection (all or nothing).
    Import {
        file: PathBuf,
        /// Trim coverage that lies outside the parent instead of refusing it.
        #[arg(long)]
        clip_to_parent: bool,
    },
    /// Export the grid (or the subtree under --root CODE) as GeoJSON to stdout or --output.
    Export {
        #[arg(long)]
        root: Option<String>,
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Startup(#[from] StartupError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    App(#[from] AppError),
    #[error(transparent)]
    Demo(#[from] wangge_app::demo::DemoError),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Runs the command line; returns the process exit code.
pub fn run() -> i32 {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    match command {
        Command::Serve => telemetry::init(),
        _ => telemetry::init_with(true, "warn"),
    }
    match dispatch(command) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            if let CliError::App(AppError::Unprocessable { details, .. }) = &e {
                print_problems(details);
            }
            1
        }
    }
}

/// Every rejected item of an import: features of a grid file, rows of a households file.
fn print_problems(details: &serde_json::Value) {
    for p in details["errors"].as_array().into_iter().flatten() {
        eprintln!(
            "  feature {} ({}): {}",
            p["index"],
            p["code"].as_str().unwrap_or("?"),
            p["problem"].as_str().unwrap_or_default()
        );
    }
    for r in details["rows"].as_array().into_iter().flatten() {
        let reference = r["household_ref"]
            .as_str()
            .map(|h| format!(" ({h})"))
            .unwrap_or_default();
        let field = r["field"]
            .as_str()
            .map(|f| format!(" {f}"))
            .unwrap_or_default();
        eprintln!(
            "  line {}{reference}{field}: {}",
            r["line"],
            r["problem"].as_str().unwrap_or_default()
        );
    }
}

fn settings() -> Result<Settings, CliError> {
    Settings::from_env().map_err(|e| CliError::Startup(e.into()))
}

/// The database and the services the use cases need, for a command.
fn open(s: &Settings) -> Result<(wangge_persistence::PooledConn, Services), CliError> {
    let pii = s.pii_keys().map_err(|e| CliError::Startup(e.into()))?;
    let pool = startup::open_database(s)?;
    let mut conn = pool.get().map_err(StoreError::from)?;
    let locator = Arc::new(wangge_app::locate::Locator::new(s.leaf));
    locator.refresh(&mut conn)?;
    let svc = Services {
        pii,
        locator,
        config: s.app_config(),
        passwords: wangge_app::password::Hasher::default(),
        blobs: Arc::new(wangge_app::blobs::DiskBlobs::new(s.data_dir.join("blobs"))),
    };
    Ok((conn, svc))
}

fn dispatch(cmd: Command) -> Result<(), CliError> {
    match cmd {
        Command::Serve => serve(),
        Command::Migrate => {
            startup::open_database(&settings()?)?;
            Ok(())
        }
        Command::Seed {
            what: SeedWhat::Demo,
        } => seed_demo(),
        Command::Stats {
            action: StatsAction::Rebuild,
        } => stats_rebuild(),
        Command::Changes {
            action: ChangesAction::Prune { older_than_days },
        } => {
            let (mut conn, _svc) = open(&settings()?)?;
            let n = wangge_app::changes::prune(&mut conn, older_than_days)?;
            println!("deleted {n} changes older than {older_than_days} days");
            Ok(())
        }
        Command::User {
            action:
                UserAction::Create {
                    username,
                    roles,
                    display_name,
                    units,
                    view_units,
                    all_units,
                },
        } => create_user(&NewUserArgs {
            username,
            roles,
            display_name,
            units,
            view_units,
            all_units,
        }),
        Command::Grid {
            action:
                GridAction::Import {
                    file,
                    clip_to_parent,
                },
        } => import(&file, clip_to_parent),
        Command::Grid {
            action: GridAction::Export { root, output },
        } => export(root.as_deref(), output.as_deref()),
        Command::Households {
            action: HouseholdAction::Import { file, format },
        } => import_households(&file, format.as_deref()),
        Command::Pii {
            action: PiiAction::Status,
        } => pii_status(),
        Command::Pii {
            action: PiiAction::Reseal { batch },
        } => pii_reseal(batch),
        Command::Outbox {
            action: OutboxAction::Status,
        } => outbox_status(),
        Command::Simulate {
            what:
                SimulateWhat::Field {
                    workers,
                    hours,
                    loss,
                    seed,
                },
        } => simulate_field(&crate::simulate::Args {
            workers,
            hours,
            loss,
            seed,
        }),
    }
}

fn simulate_field(args: &crate::simulate::Args) -> Result<(), CliError> {
    if !(0.0..=0.9).contains(&args.loss) || args.workers == 0 || args.hours == 0 {
        return Err(CliError::Usage(
            "--loss is 0 to 0.9; --workers and --hours at least 1".into(),
        ));
    }
    let dir = std::env::temp_dir().join(format!("wangge-simulate-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir)?;
    let mut settings = crate::simulate::settings(settings()?, &dir);
    if std::env::var("DATABASE_URL").is_err() {
        settings.database_url = format!("sqlite://{}", dir.join("simulation.db").display());
    }
    let counts = crate::simulate::run(args, settings);
    let _ = std::fs::remove_dir_all(&dir);
    let counts = counts.map_err(CliError::Usage)?;
    println!("{counts}");
    let sound = counts.devices_consistent == counts.devices
        && counts.lost == 0
        && counts.duplicated == 0
        && counts.refused_unexpectedly == 0
        && counts.applied_once + counts.conflicts_reported + counts.rejected == counts.operations;
    if sound {
        Ok(())
    } else {
        Err(CliError::Usage("the day did not end consistent".into()))
    }
}

fn stats_rebuild() -> Result<(), CliError> {
    let s = settings()?;
    let (mut conn, _svc) = open(&s)?;
    let started = std::time::Instant::now();
    let n = wangge_persistence::write_transaction(&mut conn, wangge_app::stats::fold::rebuild)?;
    println!(
        "summed the figures of {n} cases by day in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn seed_demo() -> Result<(), CliError> {
    let s = settings()?;
    let (mut conn, svc) = open(&s)?;
    if grid::count_units(&mut conn)? > 0 {
        return Err(CliError::Usage(
            "the database already holds units; the demo loads into an empty grid".into(),
        ));
    }
    // On a terminal a bar per stage.
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut bar: Option<(&'static str, indicatif::ProgressBar)> = None;
    let report = wangge_app::demo::seed(
        &mut conn,
        &svc,
        s.demo_households,
        &mut |stage, n, total| {
            if !tty {
                return;
            }
            if bar.as_ref().is_none_or(|(s, _)| *s != stage) {
                if let Some((_, b)) = bar.take() {
                    b.finish_and_clear();
                }
                bar = Some((stage, progress_bar(total as u64, stage)));
            }
            if let Some((_, b)) = &bar {
                b.set_position(n as u64);
            }
        },
    )?;
    if let Some((_, b)) = bar {
        b.finish_and_clear();
    }
    // The cases are of the standard categories: load them (and the calendar) first, as the
    // server does at start.
    wangge_app::reference::seed(&mut conn, &svc)?;
    let incidents =
        wangge_app::demo::seed_incidents(&mut conn, s.demo_incidents, chrono::Utc::now())?;
    println!(
        "loaded the Dianbai demo: {} units, {} households, {} residents, {} workers, {} incidents",
        report.units, report.households, report.residents, report.workers, incidents
    );
    Ok(())
}

fn outbox_status() -> Result<(), CliError> {
    let s = settings()?;
    let mut conn = startup::open_database(&s)?
        .get()
        .map_err(StoreError::from)?;
    let rows = wangge_app::outbox::status(&mut conn)?;
    if rows.is_empty() {
        println!("the outbox is empty");
    }
    for (event_type, n, oldest) in rows {
        println!("{event_type}: {n} waiting, oldest {oldest}");
    }
    Ok(())
}

fn print_key_counts(column: &str, counts: &[(String, i64)], current: &str) {
    if counts.is_empty() {
        println!("{column}: none");
    }
    for (key, n) in counts {
        let mark = if key == current { " (current)" } else { "" };
        println!("{column}: {n} under key {key}{mark}");
    }
}

/// The personal-data keys and a connection, for the `pii` commands.
fn keys_and_connection()
-> Result<(wangge_app::pii::PiiKeys, wangge_persistence::PooledConn), CliError> {
    let s = settings()?;
    let pii = s.pii_keys().map_err(|e| CliError::Startup(e.into()))?;
    let conn = startup::open_database(&s)?
        .get()
        .map_err(StoreError::from)?;
    Ok((pii, conn))
}

fn pii_status() -> Result<(), CliError> {
    let (pii, mut conn) = keys_and_connection()?;
    for col in wangge_persistence::sealed::SealedColumn::ALL {
        let counts = wangge_persistence::sealed::count_by_key(&mut conn, col)?;
        print_key_counts(col.name(), &counts, pii.current_key_id());
    }
    Ok(())
}

fn pii_reseal(batch: i64) -> Result<(), CliError> {
    let (pii, mut conn) = keys_and_connection()?;
    // A spinner with the count: the total is not known without counting first.
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg}: {pos} values ({per_sec})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.set_message("re-sealing");
    let result =
        wangge_app::reseal::reseal(&mut conn, &pii, &Who::operator(), batch, &mut |done| {
            bar.set_position(done);
        });
    bar.finish_and_clear();
    let report = result.map_err(|e| {
        CliError::Usage(format!(
            "re-sealing stopped: {e} (what was done is in the audit log as pii.resealed; run it again to go on)"
        ))
    })?;
    let total = report.total();
    println!(
        "re-sealed {total} values under key {}",
        pii.current_key_id()
    );
    for (col, counts) in &report.remaining {
        print_key_counts(col.name(), counts, pii.current_key_id());
    }
    Ok(())
}

fn serve() -> Result<(), CliError> {
    let s = settings()?;
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(s).await?;
        app.run_until_stopped().await?;
        Ok(())
    })
}

struct NewUserArgs {
    username: String,
    roles: Vec<String>,
    display_name: Option<String>,
    units: Vec<String>,
    view_units: Vec<String>,
    all_units: bool,
}

fn create_user(args: &NewUserArgs) -> Result<(), CliError> {
    let username = args.username.as_str();
    let usage = |e: &dyn std::fmt::Display| CliError::Usage(e.to_string());
    let name = Username::parse(username).map_err(|e| usage(&e))?;
    let roles = account::parse_roles(&args.roles).map_err(|e| usage(&e))?;
    let display_name = DisplayName::parse(args.display_name.as_deref().unwrap_or(username))
        .map_err(|e| usage(&e))?;
    let line = if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        // At a terminal, ask without echoing what is typed.
        rpassword::prompt_password(format!("password for {username}: "))?
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line
    };
    let password = line.trim_end_matches(['\r', '\n']);
    let password = Password::parse(password).map_err(|e| usage(&e))?;
    let s = settings()?;
    let (mut conn, svc) = open(&s)?;
    let mut assignments = Vec::new();
    for (codes, capture) in [(&args.units, true), (&args.view_units, false)] {
        for code in codes {
            let unit = grid::find_by_code(&mut conn, code)?
                .ok_or_else(|| CliError::Usage(format!("no unit has code {code}")))?;
            assignments.push(wangge_app::users::AssignmentIn {
                unit: UnitId::parse(&unit.id).map_err(|e| usage(&e))?,
                capture,
            });
        }
    }
    if assignments.is_empty() && !args.all_units {
        eprintln!(
            "note: {username} has no units and no --all-units: closed by default, the account reaches nothing until it is assigned units"
        );
    }
    let new = wangge_app::users::NewAccount {
        id: None,
        username: name,
        display_name,
        roles,
        phone: None,
        department_id: None,
        all_units: args.all_units,
        assignments,
        password: wangge_app::users::InitialPassword::Chosen(password),
    };
    let who = Who::operator();
    let plan = wangge_app::read(&mut conn, &svc, &who, |r| {
        wangge_app::users::authorize_create(r.conn, &r.caller, new)
    })?
    .hash(&svc.passwords)?;
    let user = wangge_app::write(&mut conn, &svc, &who, |tx| {
        wangge_app::users::create(tx, &plan)
    })?;
    println!(
        "created user {} ({})",
        user.record.user.username, user.record.user.id
    );
    Ok(())
}

fn import(file: &std::path::Path, clip: bool) -> Result<(), CliError> {
    let s = settings()?;
    let text = std::fs::read_to_string(file)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", file.display())))?;
    let doc: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| CliError::Usage(format!("{} is not JSON: {e}", file.display())))?;
    let features = doc
        .get("features")
        .and_then(serde_json::Value::as_array)
        .map_or(0, Vec::len);
    let bar = progress_bar(features as u64, "tiling");
    let batch = wangge_app::units::parse_feature_collection(&doc, s.leaf, |n| {
        bar.set_position(n as u64);
    })
    .map_err(StoreError::ImportRejected)?;
    let (mut conn, svc) = open(&s)?;
    bar.finish_and_clear();
    let bar = progress_bar(batch.items.len() as u64, "storing");
    let mut batch = Some(batch);
    let report = wangge_app::write(&mut conn, &svc, &Who::operator(), |tx| {
        let b = batch
            .take()
            .ok_or_else(|| AppError::internal("the import ran twice"))?;
        wangge_app::units::import(tx, b, clip, |n| bar.set_position(n as u64))
    })?;
    bar.finish_and_clear();
    println!(
        "imported {} units ({} with coverage, {} leaf cells trimmed)",
        report.created, report.with_coverage, report.trimmed_leaf_cells
    );
    Ok(())
}

fn import_households(file: &std::path::Path, format: Option<&str>) -> Result<(), CliError> {
    use wangge_app::households::import::{self as uc, Format};
    let ext = file
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    let format = match format.unwrap_or(ext) {
        "csv" => Format::Csv,
        "ndjson" | "jsonl" => Format::Ndjson,
        _ => {
            return Err(CliError::Usage(
                "name the format: --format csv or --format ndjson".into(),
            ));
        }
    };
    let s = settings()?;
    let bytes = std::fs::read(file)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", file.display())))?;
    let parsed = uc::parse(&bytes, format, s.leaf).map_err(uc::rejected)?;
    let (mut conn, svc) = open(&s)?;
    let bar = progress_bar(parsed.len() as u64, "storing");
    let snapshot = svc.locator.snapshot();
    let mut parsed = Some(parsed);
    let summary = wangge_app::write(&mut conn, &svc, &Who::operator(), |tx| {
        let rows = parsed
            .take()
            .ok_or_else(|| AppError::internal("the import ran twice"))?;
        uc::import(tx, rows, "cli", &snapshot, |n| bar.set_position(n as u64))
    })?;
    bar.finish_and_clear();
    println!(
        "imported {} households with {} residents",
        summary.households, summary.residents
    );
    Ok(())
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub(crate) fn progress_bar(len: u64, message: &'static str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:>8} [{bar:40}] {pos}/{len} ({eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(message);
    bar
}

fn export(root: Option<&str>, output: Option<&std::path::Path>) -> Result<(), CliError> {
    let s = settings()?;
    let pool = startup::open_database(&s)?;
    let mut conn = pool.get().map_err(StoreError::from)?;
    let root = match root {
        Some(code) => Some(
            grid::find_by_code(&mut conn, code)?
                .ok_or_else(|| CliError::Usage(format!("no unit has code {code}")))?,
        ),
        None => None,
    };
    let mut out: Box<dyn Write> = match output {
        Some(path) => Box::new(std::io::BufWriter::new(std::fs::File::create(path)?)),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut sink = |b: &[u8]| -> Result<(), StoreError> {
        out.write_all(b)
            .map_err(|e| StoreError::Corrupt(format!("writing the export: {e}")))
    };
    wangge_app::units::export(&mut conn, root.as_ref(), &mut sink)?;
    if output.is_none() {
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}
