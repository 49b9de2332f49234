//! The commands and their arguments, as clap parses them.

use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Subcommand)]
pub(super) enum Command {
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
pub(super) enum SimulateWhat {
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
pub(super) enum ChangesAction {
    /// Delete numbered changes older than this many days. Phones whose sync cursor lies in
    /// the deleted part must sync again from the start (410 cursor_expired).
    Prune {
        #[arg(long, default_value_t = 90)]
        older_than_days: u32,
    },
}

#[derive(Subcommand)]
pub(super) enum StatsAction {
    /// Sum every case's share of the figures by day again (after cases were written around
    /// the service, e.g. copied in SQL). Writers of cases wait until it is done.
    Rebuild,
}

#[derive(Subcommand)]
pub(super) enum OutboxAction {
    /// Undelivered events by type, with the oldest of each.
    Status,
}

#[derive(Subcommand)]
pub(super) enum PiiAction {
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
pub(super) enum HouseholdAction {
    /// Import households and residents from CSV or NDJSON (all or nothing; every rejected row
    /// is reported). The format follows the extension (.csv, .ndjson/.jsonl) or --format.
    Import {
        file: PathBuf,
        #[arg(long, value_parser = ["csv", "ndjson"])]
        format: Option<String>,
    },
}

#[derive(Subcommand)]
pub(super) enum SeedWhat {
    /// The Dianbai District demo (real divisions, synthetic grids below the district).
    Demo,
}

#[derive(Subcommand)]
pub(super) enum UserAction {
    /// Create a user; the password is read from standard input (one line), never from argv.
    Create(NewUserArgs),
}

/// `wangge user create`'s arguments.
#[derive(Args)]
pub(super) struct NewUserArgs {
    #[arg(long)]
    pub(super) username: String,
    /// Repeat for several roles.
    #[arg(long = "role", required = true)]
    pub(super) roles: Vec<String>,
    #[arg(long)]
    pub(super) display_name: Option<String>,
    /// Assign a unit by code, with capture (create and change) rights; repeatable.
    #[arg(long = "unit")]
    pub(super) units: Vec<String>,
    /// Assign a unit by code, read only; repeatable.
    #[arg(long = "view-unit")]
    pub(super) view_units: Vec<String>,
    /// Reach every unit, present and future (the installation's administrators).
    #[arg(long)]
    pub(super) all_units: bool,
}

#[derive(Subcommand)]
pub(super) enum GridAction {
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
