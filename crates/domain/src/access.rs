//! Who may do what: roles granted org-wide or in one business unit, the permissions each role
//! carries, and the organisation's pool policy deciding which contacts a user sees.
//!
//! This is the one place these rules live; the console and the API ask it rather than deciding
//! for themselves. A user's [`Access`] is the set of their grants plus the organisation's policy.

use serde::{Deserialize, Serialize};

use crate::ids::{BusinessUnitId, UserId};

/// A job a person does in Hatchery (PRODUCT.md, "Who uses it").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Manages users, business units, keys and settings; may do everything.
    Admin,
    /// Marketing operations: contacts, imports, campaigns, analytics.
    Marketer,
    /// Qualifies leads (MQL → TQL/SQL) and follows them up.
    Sdr,
    /// Works the leads given to them.
    SalesRep,
    /// Leads sales reps; sees their pipeline and SLA breaches.
    SalesManager,
    /// Reads the pool and the analytics, changes nothing.
    Analyst,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Admin,
        Role::Marketer,
        Role::Sdr,
        Role::SalesRep,
        Role::SalesManager,
        Role::Analyst,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Marketer => "marketer",
            Role::Sdr => "sdr",
            Role::SalesRep => "sales_rep",
            Role::SalesManager => "sales_manager",
            Role::Analyst => "analyst",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The permissions the role carries wherever it is granted.
    pub fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Role::Admin => &Permission::ALL,
            Role::Marketer => &[
                ContactsRead,
                ContactsWrite,
                ContactsImport,
                CampaignsManage,
                AnalyticsRead,
            ],
            Role::Sdr | Role::SalesRep => &[ContactsRead, ContactsWrite],
            Role::SalesManager => &[ContactsRead, ContactsWrite, AnalyticsRead],
            Role::Analyst => &[ContactsRead, AnalyticsRead],
        }
    }

    pub fn allows(self, p: Permission) -> bool {
        self.permissions().contains(&p)
    }
}

/// Something a user may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// See contacts, their identities and timelines (within the pool policy).
    ContactsRead,
    /// Edit, tag, assign and erase contacts.
    ContactsWrite,
    /// Import CRM/Excel exports.
    ContactsImport,
    /// Build forms, content, campaigns, journeys, segments and scoring.
    CampaignsManage,
    /// Read funnels and reports.
    AnalyticsRead,
    /// Manage users, roles and business units.
    UsersManage,
    /// Organisation settings: identity rules, pool policy, API keys, tracking sources.
    SettingsManage,
}

impl Permission {
    pub const ALL: [Permission; 7] = [
        Permission::ContactsRead,
        Permission::ContactsWrite,
        Permission::ContactsImport,
        Permission::CampaignsManage,
        Permission::AnalyticsRead,
        Permission::UsersManage,
        Permission::SettingsManage,
    ];
}

/// Whether business units see each other's contacts (PRODUCT.md §4, "BUs may or may not see each
/// other's contacts").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolPolicy {
    /// One pool: whoever may read contacts reads all of them.
    #[default]
    Shared,
    /// A user whose reading grants are all BU-scoped sees only contacts placed in those BUs or
    /// owned by them; contacts in no BU (the group-level pool) are for org-wide roles.
    BuIsolated,
}

impl PoolPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            PoolPolicy::Shared => "shared",
            PoolPolicy::BuIsolated => "bu_isolated",
        }
    }

    pub fn parse(s: &str) -> Option<PoolPolicy> {
        [PoolPolicy::Shared, PoolPolicy::BuIsolated]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

/// A role held org-wide (`bu: None`) or in one business unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Grant {
    pub role: Role,
    pub bu: Option<BusinessUnitId>,
}

impl Grant {
    pub fn org_wide(role: Role) -> Grant {
        Grant { role, bu: None }
    }

    pub fn in_bu(role: Role, bu: BusinessUnitId) -> Grant {
        Grant { role, bu: Some(bu) }
    }
}

/// Which contacts a user may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactScope {
    /// The whole pool.
    All,
    /// Contacts placed in one of these business units or owned by this user.
    Limited {
        bus: Vec<BusinessUnitId>,
        owner: UserId,
    },
    /// None at all (no grant carries [`Permission::ContactsRead`]).
    Nothing,
}

/// Where a contact sits: its business unit and owner, either of which may be unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Placement {
    pub bu: Option<BusinessUnitId>,
    pub owner: Option<UserId>,
}

/// What one user may do in their organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub user: UserId,
    pub grants: Vec<Grant>,
    pub policy: PoolPolicy,
}

impl Access {
    /// True when some grant, in any BU or org-wide, carries the permission. Use this for things
    /// that are not tied to a BU (reading the home page, managing users needs an org-wide grant:
    /// see [`Access::may_org_wide`]).
    pub fn may(&self, p: Permission) -> bool {
        self.grants.iter().any(|g| g.role.allows(p))
    }

    /// True when an org-wide grant carries the permission.
    pub fn may_org_wide(&self, p: Permission) -> bool {
        self.grants
            .iter()
            .any(|g| g.bu.is_none() && g.role.allows(p))
    }

    /// True when the permission holds in this business unit: granted org-wide or in that BU.
    pub fn may_in(&self, p: Permission, bu: BusinessUnitId) -> bool {
        self.grants
            .iter()
            .any(|g| (g.bu.is_none() || g.bu == Some(bu)) && g.role.allows(p))
    }

    /// The contacts this user may apply `p` to (normally [`Permission::ContactsRead`] or
    /// [`Permission::ContactsWrite`]), under the organisation's pool policy.
    pub fn contact_scope(&self, p: Permission) -> ContactScope {
        if !self.may(p) {
            return ContactScope::Nothing;
        }
        if self.policy == PoolPolicy::Shared || self.may_org_wide(p) {
            return ContactScope::All;
        }
        let mut bus: Vec<BusinessUnitId> = self
            .grants
            .iter()
            .filter(|g| g.role.allows(p))
            .filter_map(|g| g.bu)
            .collect();
        bus.sort_unstable();
        bus.dedup();
        ContactScope::Limited {
            bus,
            owner: self.user,
        }
    }

    /// Whether the user may import files into the pool. An import matches rows against the whole
    /// pool and its report and rejected rows may name anyone in it, so besides
    /// [`Permission::ContactsImport`] the user must see every contact: under
    /// [`PoolPolicy::BuIsolated`] that takes an org-wide grant.
    pub fn may_import(&self) -> bool {
        self.contact_scope(Permission::ContactsImport) == ContactScope::All
    }

    /// Whether the user may create, change and delete saved segments (admins and marketers, by
    /// [`Permission::CampaignsManage`]). A segment selects from the whole pool, and its preview
    /// counts and lists anyone in it, so the user must also see every contact: under
    /// [`PoolPolicy::BuIsolated`] that takes an org-wide grant.
    pub fn may_manage_segments(&self) -> bool {
        self.contact_scope(Permission::CampaignsManage) == ContactScope::All
    }

    /// Whether `p` may be applied to a contact placed as given.
    pub fn may_on_contact(&self, p: Permission, at: Placement) -> bool {
        match self.contact_scope(p) {
            ContactScope::All => true,
            ContactScope::Nothing => false,
            ContactScope::Limited { bus, owner } => {
                at.owner == Some(owner) || at.bu.is_some_and(|b| bus.contains(&b))
            }
        }
    }
}

#[cfg(test)]
mod tests;
