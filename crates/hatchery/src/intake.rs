//! `hatchery intake`: the tracking requests the intake log set aside because they could not be
//! applied (docs/ingestion.md, "The intake log"), from the shell, also while the server is
//! stopped. Applying one again needs the running server: the console (Settings → Intake log) or
//! `POST /api/v1/intake/set-aside/{seq}/retry`.

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use hatchery_engine::intake::{discard_set_aside_in, set_aside_in};

use crate::config::Config;

#[derive(Subcommand)]
pub enum IntakeCommand {
    /// List the requests set aside, of every organisation, oldest first.
    List,
    /// Discard a request set aside: its messages are lost for good.
    Discard {
        /// The request's number, as `list` shows it.
        seq: u64,
    },
}

pub fn run(cfg: &Config, command: IntakeCommand) -> Result<()> {
    let dir = cfg.intake_dir();
    match command {
        IntakeCommand::List => {
            let all = set_aside_in(&dir)
                .with_context(|| format!("cannot read the intake log in {}", dir.display()))?;
            if all.is_empty() {
                println!("no request is set aside in {}", dir.display());
                return Ok(());
            }
            println!(
                "seq\torganisation\treceived (UTC)\tsource\tendpoint\tmessages\tbytes\treason"
            );
            for (org, r) in all {
                let received = chrono::DateTime::from_timestamp_millis(r.received_at).map_or_else(
                    || r.received_at.to_string(),
                    |t| t.format("%F %T").to_string(),
                );
                let reason = r.reason.replace(['\n', '\t'], " ");
                println!(
                    "{}\t{org}\t{received}\t{}\t/v1/{}\t{}\t{}\t{reason}",
                    r.seq,
                    r.source_name,
                    r.kind.map_or("batch", |k| k.as_str()),
                    r.messages,
                    r.bytes,
                );
            }
        }
        IntakeCommand::Discard { seq } => {
            let removed = discard_set_aside_in(&dir, seq)
                .with_context(|| format!("cannot change the intake log in {}", dir.display()))?;
            if !removed {
                bail!(
                    "no request {seq} is set aside in {}; `hatchery intake list` shows them",
                    dir.display()
                );
            }
            println!("request {seq} discarded");
        }
    }
    Ok(())
}
