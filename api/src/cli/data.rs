//! Accounts, and the grid and households in and out of files.

use super::args::NewUserArgs;
use super::{CliError, open, settings};
use crate::startup;
use std::io::{BufRead, Write};
use wangge_app::{AppError, Who};
use wangge_domain::{DisplayName, Password, UnitId, Username, account};
use wangge_persistence::{StoreError, grid};

pub(super) fn create_user(args: &NewUserArgs) -> Result<(), CliError> {
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

pub(super) fn import(file: &std::path::Path, clip: bool) -> Result<(), CliError> {
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

pub(super) fn import_households(
    file: &std::path::Path,
    format: Option<&str>,
) -> Result<(), CliError> {
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
pub(super) fn progress_bar(len: u64, message: &'static str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:>8} [{bar:40}] {pos}/{len} ({eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(message);
    bar
}

pub(super) fn export(root: Option<&str>, output: Option<&std::path::Path>) -> Result<(), CliError> {
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
