use super::*;

const A: BusinessUnitId = BusinessUnitId(1);
const B: BusinessUnitId = BusinessUnitId(2);
const ME: UserId = UserId(10);
const SOMEONE: UserId = UserId(11);

fn access(policy: PoolPolicy, grants: &[Grant]) -> Access {
    Access {
        user: ME,
        grants: grants.to_vec(),
        policy,
    }
}

fn placed(bu: Option<BusinessUnitId>, owner: Option<UserId>) -> Placement {
    Placement { bu, owner }
}

#[test]
fn roles_round_trip_through_their_names() {
    for r in Role::ALL {
        assert_eq!(Role::parse(r.as_str()), Some(r));
    }
    assert_eq!(Role::parse("root"), None);
    assert_eq!(
        PoolPolicy::parse("bu_isolated"),
        Some(PoolPolicy::BuIsolated)
    );
    assert_eq!(PoolPolicy::parse("isolated"), None);
}

#[test]
fn admin_may_do_everything_and_only_admin_manages_users_and_settings() {
    for p in Permission::ALL {
        assert!(Role::Admin.allows(p), "{p:?}");
    }
    for r in Role::ALL.into_iter().filter(|r| *r != Role::Admin) {
        assert!(!r.allows(Permission::UsersManage), "{r:?}");
        assert!(!r.allows(Permission::SettingsManage), "{r:?}");
        assert!(r.allows(Permission::ContactsRead), "{r:?} reads contacts");
    }
}

#[test]
fn analyst_reads_but_never_writes_and_only_marketing_imports() {
    assert!(!Role::Analyst.allows(Permission::ContactsWrite));
    assert!(Role::Analyst.allows(Permission::AnalyticsRead));
    assert!(!Role::SalesRep.allows(Permission::AnalyticsRead));
    assert!(Role::SalesManager.allows(Permission::AnalyticsRead));
    let importers: Vec<Role> = Role::ALL
        .into_iter()
        .filter(|r| r.allows(Permission::ContactsImport))
        .collect();
    assert_eq!(importers, vec![Role::Admin, Role::Marketer]);
}

#[test]
fn a_shared_pool_shows_every_contact_to_every_reader() {
    let rep = access(PoolPolicy::Shared, &[Grant::in_bu(Role::SalesRep, A)]);
    assert_eq!(
        rep.contact_scope(Permission::ContactsRead),
        ContactScope::All
    );
    assert!(rep.may_on_contact(Permission::ContactsRead, placed(Some(B), None)));
    assert!(rep.may_on_contact(Permission::ContactsRead, placed(None, None)));
}

#[test]
fn bu_isolation_limits_a_bu_scoped_user_to_their_units_and_own_contacts() {
    let rep = access(PoolPolicy::BuIsolated, &[Grant::in_bu(Role::SalesRep, A)]);
    assert_eq!(
        rep.contact_scope(Permission::ContactsRead),
        ContactScope::Limited {
            bus: vec![A],
            owner: ME
        }
    );
    assert!(rep.may_on_contact(Permission::ContactsRead, placed(Some(A), None)));
    assert!(!rep.may_on_contact(Permission::ContactsRead, placed(Some(B), None)));
    assert!(
        !rep.may_on_contact(Permission::ContactsRead, placed(None, None)),
        "the group-level pool is for org-wide roles"
    );
    assert!(
        rep.may_on_contact(Permission::ContactsRead, placed(Some(B), Some(ME))),
        "a contact they own stays visible wherever it is placed"
    );
    assert!(!rep.may_on_contact(Permission::ContactsRead, placed(Some(B), Some(SOMEONE))));
}

#[test]
fn an_org_wide_grant_sees_the_whole_isolated_pool() {
    let admin = access(PoolPolicy::BuIsolated, &[Grant::org_wide(Role::Admin)]);
    assert_eq!(
        admin.contact_scope(Permission::ContactsRead),
        ContactScope::All
    );
    let marketer = access(
        PoolPolicy::BuIsolated,
        &[
            Grant::in_bu(Role::SalesRep, A),
            Grant::org_wide(Role::Marketer),
        ],
    );
    assert!(marketer.may_on_contact(Permission::ContactsRead, placed(Some(B), None)));
}

#[test]
fn grants_in_several_units_add_up_per_permission() {
    let user = access(
        PoolPolicy::BuIsolated,
        &[
            Grant::in_bu(Role::SalesRep, A),
            Grant::in_bu(Role::Analyst, B),
        ],
    );
    assert_eq!(
        user.contact_scope(Permission::ContactsRead),
        ContactScope::Limited {
            bus: vec![A, B],
            owner: ME
        }
    );
    // The analyst grant in B reads but does not write there.
    assert!(user.may_on_contact(Permission::ContactsWrite, placed(Some(A), None)));
    assert!(!user.may_on_contact(Permission::ContactsWrite, placed(Some(B), None)));
    assert!(user.may_in(Permission::AnalyticsRead, B));
    assert!(!user.may_in(Permission::AnalyticsRead, A));
    assert!(!user.may_org_wide(Permission::AnalyticsRead));
}

#[test]
fn a_bu_admin_does_not_manage_the_organisation() {
    let bu_admin = access(PoolPolicy::Shared, &[Grant::in_bu(Role::Admin, A)]);
    assert!(bu_admin.may(Permission::UsersManage));
    assert!(!bu_admin.may_org_wide(Permission::UsersManage));
    assert!(bu_admin.may_in(Permission::UsersManage, A));
}

#[test]
fn no_grant_means_no_contacts() {
    let nobody = access(PoolPolicy::Shared, &[]);
    assert_eq!(
        nobody.contact_scope(Permission::ContactsRead),
        ContactScope::Nothing
    );
    assert!(!nobody.may_on_contact(Permission::ContactsRead, placed(None, Some(ME))));
}

#[test]
fn importing_needs_the_permission_and_a_view_of_the_whole_pool() {
    let marketer_in_a = [Grant::in_bu(Role::Marketer, A)];
    assert!(access(PoolPolicy::Shared, &marketer_in_a).may_import());
    assert!(!access(PoolPolicy::BuIsolated, &marketer_in_a).may_import());
    assert!(access(PoolPolicy::BuIsolated, &[Grant::org_wide(Role::Marketer)]).may_import());
    assert!(access(PoolPolicy::BuIsolated, &[Grant::org_wide(Role::Admin)]).may_import());
    for role in [Role::Sdr, Role::SalesRep, Role::SalesManager, Role::Analyst] {
        assert!(
            !access(PoolPolicy::Shared, &[Grant::org_wide(role)]).may_import(),
            "{role:?}"
        );
    }
}

#[test]
fn admins_and_marketers_who_see_the_whole_pool_manage_segments() {
    for role in [Role::Admin, Role::Marketer] {
        assert!(access(PoolPolicy::Shared, &[Grant::org_wide(role)]).may_manage_segments());
        assert!(access(PoolPolicy::BuIsolated, &[Grant::org_wide(role)]).may_manage_segments());
        assert!(access(PoolPolicy::Shared, &[Grant::in_bu(role, A)]).may_manage_segments());
        assert!(!access(PoolPolicy::BuIsolated, &[Grant::in_bu(role, A)]).may_manage_segments());
    }
    for role in [Role::Sdr, Role::SalesRep, Role::SalesManager, Role::Analyst] {
        assert!(
            !access(PoolPolicy::Shared, &[Grant::org_wide(role)]).may_manage_segments(),
            "{role:?}"
        );
    }
}
