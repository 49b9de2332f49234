//! The `wangge` command line: serve, migrate, seed, users and grid import/export.

use crate::config::Settings;
use crate::startup::{self, Application, StartupError};
use crate::{auth, demo, grid_io, telemetry};
use clap::{Parser, Subcommand};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use wangge_domain::{Password, Role, Username};
use wangge_persistence::{StoreError, grid, users};

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
    Demo(#[from] demo::DemoError),
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
            if let CliError::Store(StoreError::ImportRejected(problems)) = &e {
                for p in problems {
                    eprintln!(
                        "  feature {} ({}): {}",
                        p.index,
                        p.code.as_deref().unwrap_or("?"),
                        p.problem
                    );
                }
            }
            1
        }
    }
}

fn settings() -> Result<Settings, CliError> {
    Settings::from_env().map_err(|e| CliError::Startup(e.into()))
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
        } => {
            let s = settings()?;
            let pool = startup::open_database(&s)?;
            let mut conn = pool.get().map_err(StoreError::from)?;
            if grid::count_units(&mut conn)? > 0 {
                return Err(CliError::Usage(
                    "the database already holds units; the demo loads into an empty grid".into(),
                ));
            }
            let pii =
                crate::pii::PiiKeys::from_settings(&s).map_err(|e| CliError::Startup(e.into()))?;
            let report = demo::seed(
                &mut conn,
                s.leaf,
                std::io::IsTerminal::is_terminal(&std::io::stderr()),
                &pii,
                s.demo_households,
            )?;
            println!(
                "loaded the Dianbai demo: {} units, {} households, {} residents, {} workers",
                report.units.created,
                report.people.households,
                report.people.residents,
                report.people.workers
            );
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
    }
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
fn keys_and_connection() -> Result<(crate::pii::PiiKeys, wangge_persistence::PooledConn), CliError>
{
    let s = settings()?;
    let pii = crate::pii::PiiKeys::from_settings(&s).map_err(|e| CliError::Startup(e.into()))?;
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
    let result = crate::pii::reseal(&mut conn, &pii, batch, &mut |done| bar.set_position(done));
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
    let name = Username::parse(username).map_err(|e| CliError::Usage(e.to_string()))?;
    let roles: Vec<Role> = args
        .roles
        .iter()
        .map(|r| {
            r.parse()
                .map_err(|e: wangge_domain::ValidationError| CliError::Usage(e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    let line = if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        // At a terminal, ask without echoing what is typed.
        rpassword::prompt_password(format!("password for {username}: "))?
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line
    };
    let password = line.trim_end_matches(['\r', '\n']);
    let password = Password::parse(password).map_err(|e| CliError::Usage(e.to_string()))?;
    let hash =
        auth::hash_password(password.expose()).map_err(|e| CliError::Usage(e.to_string()))?;
    let pool = startup::open_database(&settings()?)?;
    let mut conn = pool.get().map_err(StoreError::from)?;
    let mut assignments = Vec::new();
    for (codes, capture) in [(&args.units, true), (&args.view_units, false)] {
        for code in codes {
            let unit = grid::find_by_code(&mut conn, code)?
                .ok_or_else(|| CliError::Usage(format!("no unit has code {code}")))?;
            assignments.push((unit.id, capture));
        }
    }
    if assignments.is_empty() && !args.all_units {
        eprintln!(
            "note: {username} has no units and no --all-units: closed by default, the account reaches nothing until it is assigned units"
        );
    }
    let user = wangge_persistence::transaction(&mut conn, |conn| {
        let user = users::create_user(
            conn,
            &users::NewUser {
                username: &name,
                password_hash: &hash,
                roles: &roles,
                must_change_password: false,
                display_name: args.display_name.as_deref().unwrap_or(username),
                phone: None,
                department_id: None,
                all_units: args.all_units,
            },
        )?;
        users::insert_assignments(conn, &user.id, &assignments)?;
        Ok(user)
    })?;
    println!("created user {} ({})", user.username, user.id);
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
    let batch = grid_io::parse_feature_collection(&doc, s.leaf, |n| bar.set_position(n as u64))
        .map_err(StoreError::ImportRejected)?;
    let pool = startup::open_database(&s)?;
    let mut conn = pool.get().map_err(StoreError::from)?;
    bar.finish_and_clear();
    let bar = progress_bar(batch.items.len() as u64, "storing");
    let report = wangge_persistence::transaction(&mut conn, |conn| {
        grid::import_units(conn, batch, clip, s.leaf, |n| bar.set_position(n as u64))
    })?;
    bar.finish_and_clear();
    println!(
        "imported {} units ({} with coverage, {} leaf cells trimmed)",
        report.created, report.with_coverage, report.trimmed_leaf_cells
    );
    Ok(())
}

fn import_households(file: &std::path::Path, format: Option<&str>) -> Result<(), CliError> {
    use crate::household_io::{self, Format};
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
    let report_rows = |rows: Vec<household_io::RowProblem>| {
        for r in &rows {
            eprintln!(
                "  line {}{}{}: {}",
                r.line,
                r.household_ref
                    .as_deref()
                    .map(|h| format!(" ({h})"))
                    .unwrap_or_default(),
                r.field
                    .as_deref()
                    .map(|f| format!(" {f}"))
                    .unwrap_or_default(),
                r.problem
            );
        }
        CliError::Usage(format!(
            "{} row(s) rejected; nothing was written",
            rows.len()
        ))
    };
    let parsed = household_io::parse(&bytes, format, s.leaf).map_err(report_rows)?;
    let pii = crate::pii::PiiKeys::from_settings(&s).map_err(|e| CliError::Startup(e.into()))?;
    let pool = startup::open_database(&s)?;
    let mut conn = pool.get().map_err(StoreError::from)?;
    let locator = crate::locate::Locator::new(s.leaf);
    locator.refresh(&mut conn)?;
    let snap = locator.snapshot();
    let locate = |lon: f64, lat: f64| {
        let ll = wangge_geo::LatLng::new(lat, lon).ok()?;
        snap.locate(ll)
            .and_then(|(_, chain)| chain.first().map(|u| u.id.clone()))
    };
    let bar = progress_bar(parsed.len() as u64, "storing");
    let outcome = wangge_persistence::transaction(&mut conn, |conn| {
        household_io::store(conn, parsed, None, &locate, &pii, None, |n| {
            bar.set_position(n as u64)
        })
    })?;
    bar.finish_and_clear();
    let summary = outcome.map_err(report_rows)?;
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
    let doc = grid_io::export(&mut conn, root.as_ref())?;
    let text = doc.to_string();
    match output {
        Some(path) => std::fs::write(path, text)?,
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.write_all(b"\n")?;
        }
    }
    Ok(())
}
