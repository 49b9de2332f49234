//! The `wangge` command line: serve, migrate, seed, users, the grid, households, personal-data
//! keys and the outbox. Every command that writes calls the same use case as its API twin,
//! as the operator (`operator:<login>`), so it is validated, audited and recorded alike.

mod args;
mod data;
mod keys;

use args::{
    ChangesAction, Command, GridAction, HouseholdAction, OutboxAction, PiiAction, SeedWhat,
    SimulateWhat, StatsAction, UserAction,
};

use data::{create_user, export, import, import_households, progress_bar};
use keys::{outbox_status, pii_reseal, pii_status};

use crate::config::Settings;
use crate::startup::{self, Application, StartupError};
use crate::telemetry;
use clap::Parser;
use std::sync::Arc;
use wangge_app::{AppError, Services};
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
            action: UserAction::Create(args),
        } => create_user(&args),
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

fn serve() -> Result<(), CliError> {
    let s = settings()?;
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(s).await?;
        app.run_until_stopped().await?;
        Ok(())
    })
}
