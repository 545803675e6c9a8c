use anyhow::{bail, Result};
use clap::Subcommand;
use hatchery_store::keys::Scope;

use crate::config::{org_or_default, Config};

mod users;

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Organisations.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// API keys for the REST API.
    ApiKey {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Tracking sources and their write keys.
    Source {
        #[command(subcommand)]
        command: SourceCommand,
    },
    /// Console users and their roles.
    User {
        #[command(subcommand)]
        command: users::UserCommand,
    },
    /// Business units (BU/BG).
    Bu {
        #[command(subcommand)]
        command: users::BuCommand,
    },
    /// Where contacts sit: business unit and owner.
    Contact {
        #[command(subcommand)]
        command: users::ContactCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum OrgCommand {
    Create {
        #[arg(long)]
        name: String,
    },
    List,
    /// Who sees which contacts: `shared` (one pool) or `bu_isolated`.
    PoolPolicy {
        policy: String,
        #[arg(long)]
        org: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Create a key and print it (shown once).
    Create {
        #[arg(long)]
        name: String,
        /// contacts:read, contacts:write, imports:write or admin; repeatable.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// Organisation id (`org_1`); default: the first organisation.
        #[arg(long)]
        org: Option<String>,
    },
    List {
        #[arg(long)]
        org: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum SourceCommand {
    /// Create a source and print its write key (shown once).
    Create {
        #[arg(long)]
        name: String,
        /// website, app, server, wechat, crm or other.
        #[arg(long, default_value = "website")]
        kind: String,
        #[arg(long)]
        org: Option<String>,
    },
    List {
        #[arg(long)]
        org: Option<String>,
    },
}

pub async fn run(cfg: Config, cmd: AdminCommand) -> Result<()> {
    let store = cfg.connect().await?;
    let now = chrono::Utc::now().timestamp_millis();
    match cmd {
        AdminCommand::Org {
            command: OrgCommand::Create { name },
        } => {
            let o = store.create_org(name.trim(), now).await?;
            println!("{}\t{}", o.id, o.name);
        }
        AdminCommand::Org {
            command: OrgCommand::List,
        } => {
            for o in store.list_orgs().await? {
                println!("{}\t{}", o.id, o.name);
            }
        }
        AdminCommand::Org {
            command: OrgCommand::PoolPolicy { policy, org },
        } => {
            let org = org_or_default(&store, org.as_deref()).await?;
            let p = users::pool_policy(&policy)?;
            store.set_pool_policy(org, p).await?;
            eprintln!("Pool policy of {org}: {}.", p.as_str());
        }
        AdminCommand::User { command } => {
            let org = org_or_default(&store, command.org()).await?;
            users::user(&store, org, command, now).await?;
        }
        AdminCommand::Bu { command } => {
            let org = org_or_default(&store, command.org()).await?;
            users::bu(&store, org, command, now).await?;
        }
        AdminCommand::Contact { command } => {
            let org = org_or_default(&store, command.org()).await?;
            users::contact(&store, org, command, now).await?;
        }
        AdminCommand::ApiKey {
            command: KeyCommand::Create { name, scopes, org },
        } => {
            let org = org_or_default(&store, org.as_deref()).await?;
            let mut parsed = Vec::new();
            for s in &scopes {
                match Scope::parse(s) {
                    Some(x) => parsed.push(x),
                    None => bail!("unknown scope `{s}`; use contacts:read, contacts:write, imports:write or admin"),
                }
            }
            let (key, secret) = store.create_api_key(org, name.trim(), &parsed, now).await?;
            eprintln!(
                "API key {} created for {org}. Keep it safe; it is not shown again.",
                key.id
            );
            println!("{secret}");
        }
        AdminCommand::ApiKey {
            command: KeyCommand::List { org },
        } => {
            let org = org_or_default(&store, org.as_deref()).await?;
            for k in store.list_api_keys(org).await? {
                let scopes: Vec<_> = k.scopes.iter().map(|s| s.as_str()).collect();
                let state = if k.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!(
                    "{}\t{}\t{}…\t{}\t{state}",
                    k.id,
                    k.name,
                    k.prefix,
                    scopes.join(",")
                );
            }
        }
        AdminCommand::Source {
            command: SourceCommand::Create { name, kind, org },
        } => {
            let org = org_or_default(&store, org.as_deref()).await?;
            if !hatchery_web::api::admin::SOURCE_KINDS.contains(&kind.as_str()) {
                bail!(
                    "--kind must be one of {}",
                    hatchery_web::api::admin::SOURCE_KINDS.join(", ")
                );
            }
            let (src, secret) = store.create_source(org, name.trim(), &kind, now).await?;
            eprintln!("Source {} created for {org}. Send its write key as the HTTP Basic user to /v1/batch.", src.id);
            println!("{secret}");
        }
        AdminCommand::Source {
            command: SourceCommand::List { org },
        } => {
            let org = org_or_default(&store, org.as_deref()).await?;
            for s in store.list_sources(org).await? {
                let state = if s.disabled_at.is_some() {
                    "disabled"
                } else {
                    "active"
                };
                println!("{}\t{}\t{}\t{}…\t{state}", s.id, s.name, s.kind, s.prefix);
            }
        }
    }
    store.close().await;
    Ok(())
}
