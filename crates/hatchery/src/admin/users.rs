//! `hatchery admin user|bu|contact` and the pool policy: console users, business units, role
//! grants and where contacts sit, without a browser.

use std::io::{BufRead, IsTerminal};

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use hatchery_domain::access::Placement;
use hatchery_domain::ids::BusinessUnitId;
use hatchery_domain::normalize::Email;
use hatchery_domain::{ContactId, Grant, OrgId, PoolPolicy, Role};
use hatchery_store::users::NewUser;
use hatchery_store::{Store, StoreError};
use hatchery_web::console::password;

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a console user. The password is asked for without echo, or read from standard
    /// input with --password-stdin; it is never a flag value.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// admin, marketer, sdr, sales_rep, sales_manager or analyst.
        #[arg(long)]
        role: String,
        /// Business unit (name) the role is granted in; org-wide without it.
        #[arg(long)]
        bu: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        org: Option<String>,
    },
    /// Disable a user: they are signed out everywhere at once and cannot sign in until enabled.
    /// The organisation's last enabled org-wide administrator cannot be disabled.
    Disable {
        #[arg(long)]
        email: String,
        #[arg(long)]
        org: Option<String>,
    },
    /// Let a disabled user sign in again.
    Enable {
        #[arg(long)]
        email: String,
        #[arg(long)]
        org: Option<String>,
    },
    /// Set a new password for a user (asked for without echo, or read from standard input with
    /// --password-stdin) and sign them out everywhere.
    ResetPassword {
        #[arg(long)]
        email: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        org: Option<String>,
    },
    /// Give an existing user another role, org-wide or in a business unit.
    Grant {
        #[arg(long)]
        email: String,
        #[arg(long)]
        role: String,
        #[arg(long)]
        bu: Option<String>,
        #[arg(long)]
        org: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum BuCommand {
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        org: Option<String>,
    },
    List {
        #[arg(long)]
        org: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ContactCommand {
    /// Place a contact in a business unit and/or give it an owner (omitted ones are cleared).
    Place {
        /// Contact id (`ct_42`).
        #[arg(long)]
        contact: String,
        /// Business unit name.
        #[arg(long)]
        bu: Option<String>,
        /// Owner's email.
        #[arg(long)]
        owner: Option<String>,
        #[arg(long)]
        org: Option<String>,
    },
}

impl UserCommand {
    /// The `--org` given, if any.
    pub fn org(&self) -> Option<&str> {
        match self {
            UserCommand::Create { org, .. }
            | UserCommand::Grant { org, .. }
            | UserCommand::Disable { org, .. }
            | UserCommand::Enable { org, .. }
            | UserCommand::ResetPassword { org, .. } => org.as_deref(),
        }
    }
}

impl BuCommand {
    pub fn org(&self) -> Option<&str> {
        match self {
            BuCommand::Create { org, .. } | BuCommand::List { org } => org.as_deref(),
        }
    }
}

impl ContactCommand {
    pub fn org(&self) -> Option<&str> {
        let ContactCommand::Place { org, .. } = self;
        org.as_deref()
    }
}

fn role(s: &str) -> Result<Role> {
    Role::parse(s).with_context(|| {
        let all: Vec<_> = Role::ALL.iter().map(|r| r.as_str()).collect();
        format!("unknown role `{s}`; use one of {}", all.join(", "))
    })
}

async fn bu_by_name(store: &Store, org: OrgId, name: &str) -> Result<BusinessUnitId> {
    store
        .list_business_units(org)
        .await?
        .into_iter()
        .find(|b| b.name == name.trim())
        .map(|b| b.id)
        .with_context(|| {
            format!("no business unit named `{name}`; create it with `hatchery admin bu create`")
        })
}

async fn grant(store: &Store, org: OrgId, role_name: &str, bu: Option<&str>) -> Result<Grant> {
    let role = role(role_name)?;
    Ok(match bu {
        Some(b) => Grant::in_bu(role, bu_by_name(store, org, b).await?),
        None => Grant::org_wide(role),
    })
}

/// The new password: from standard input, or asked twice on the terminal without echo.
fn read_password(from_stdin: bool) -> Result<String> {
    let pw = if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    } else if std::io::stdin().is_terminal() {
        let a = rpassword::prompt_password("Password: ")?;
        let b = rpassword::prompt_password("Password again: ")?;
        if a != b {
            bail!("the two passwords differ");
        }
        a
    } else {
        bail!("standard input is not a terminal: pass the password on standard input with --password-stdin");
    };
    if !password::acceptable(&pw) {
        bail!(
            "the password must be {} to {} characters long",
            password::MIN_LEN,
            password::MAX_LEN
        );
    }
    Ok(pw)
}

pub async fn user(store: &Store, org: OrgId, cmd: UserCommand, now: i64) -> Result<()> {
    match cmd {
        UserCommand::Create {
            email,
            name,
            role,
            bu,
            password_stdin,
            org: _,
        } => {
            let email =
                Email::parse(&email).map_err(|e| anyhow::anyhow!("--email: {}", e.message))?;
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 100 {
                bail!("--name must be 1 to 100 characters");
            }
            let g = grant(store, org, &role, bu.as_deref()).await?;
            let pw = read_password(password_stdin)?;
            let hash = password::hash_blocking(&pw);
            let user = store
                .create_user(
                    org,
                    &NewUser {
                        email: email.as_str(),
                        name,
                        password_hash: &hash,
                        locale: None,
                    },
                    &[g],
                    false,
                    now,
                )
                .await?;
            eprintln!("User {} created in {org} as {}.", user.id, g.role.as_str());
            println!("{}", user.id);
        }
        UserCommand::Grant {
            email,
            role,
            bu,
            org: _,
        } => {
            let user = store
                .user_by_email(org, &email)
                .await?
                .context("no user with this email")?;
            let g = grant(store, org, &role, bu.as_deref()).await?;
            store.grant_role(org, user.id, g, now).await?;
            eprintln!("User {} now holds {}.", user.id, g.role.as_str());
        }
        UserCommand::Disable { email, org: _ } => {
            let user = user_by_email(store, org, &email).await?;
            match store.disable_user(org, user.id, now).await {
                Ok(ended) => eprintln!("User {} disabled; {ended} session(s) ended.", user.id),
                Err(StoreError::Conflict(_)) => bail!(
                    "user {} is the organisation's last enabled administrator and cannot be \
                     disabled; grant another user the admin role first",
                    user.id
                ),
                Err(e) => return Err(e.into()),
            }
        }
        UserCommand::Enable { email, org: _ } => {
            let user = user_by_email(store, org, &email).await?;
            store.enable_user(org, user.id, now).await?;
            eprintln!("User {} enabled.", user.id);
        }
        UserCommand::ResetPassword {
            email,
            password_stdin,
            org: _,
        } => {
            let user = user_by_email(store, org, &email).await?;
            let pw = read_password(password_stdin)?;
            let hash = password::hash_blocking(&pw);
            let ended = store.reset_password(org, user.id, &hash, now).await?;
            eprintln!(
                "Password of user {} reset; {ended} session(s) ended.",
                user.id
            );
        }
    }
    Ok(())
}

async fn user_by_email(
    store: &Store,
    org: OrgId,
    email: &str,
) -> Result<hatchery_store::users::User> {
    store
        .user_by_email(org, email)
        .await?
        .context("no user with this email")
}

pub async fn bu(store: &Store, org: OrgId, cmd: BuCommand, now: i64) -> Result<()> {
    match cmd {
        BuCommand::Create { name, org: _ } => {
            if name.trim().is_empty() || name.chars().count() > 100 {
                bail!("--name must be 1 to 100 characters");
            }
            let b = store.create_business_unit(org, &name, now).await?;
            println!("{}\t{}", b.id, b.name);
        }
        BuCommand::List { org: _ } => {
            for b in store.list_business_units(org).await? {
                println!("{}\t{}", b.id, b.name);
            }
        }
    }
    Ok(())
}

pub async fn contact(store: &Store, org: OrgId, cmd: ContactCommand, now: i64) -> Result<()> {
    let ContactCommand::Place {
        contact,
        bu,
        owner,
        org: _,
    } = cmd;
    let id: ContactId = contact
        .parse()
        .map_err(|e| anyhow::anyhow!("--contact: {e}"))?;
    let bu = match bu {
        Some(b) => Some(bu_by_name(store, org, &b).await?),
        None => None,
    };
    let owner = match owner {
        Some(e) => Some(
            store
                .user_by_email(org, &e)
                .await?
                .context("--owner: no user with this email")?
                .id,
        ),
        None => None,
    };
    store
        .place_contact(org, id, Placement { bu, owner }, now)
        .await?;
    eprintln!("Contact {id} placed.");
    Ok(())
}

pub fn pool_policy(s: &str) -> Result<PoolPolicy> {
    PoolPolicy::parse(s).context("the pool policy is `shared` or `bu_isolated`")
}
