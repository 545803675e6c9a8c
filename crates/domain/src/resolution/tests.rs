use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;
use crate::identity::{IdentityKind as K, IdentityRule};

fn id(kind: K, v: &str) -> Identifier {
    Identifier::new(kind, v)
}

/// Replays events through the resolver, creating contacts with increasing ids.
fn replay(rules: &IdentityRules, events: &[Vec<Identifier>]) -> MemoryHoldings {
    let mut h = MemoryHoldings::default();
    let mut next = 1;
    for ev in events {
        let r = resolve(rules, ev, &h);
        if r.contact.is_none() && r.attach.is_empty() {
            continue;
        }
        h.apply(&r, ContactId(next));
        next += 1;
    }
    h
}

fn partition(h: &MemoryHoldings) -> BTreeSet<BTreeSet<Identifier>> {
    h.by_contact
        .values()
        .filter(|v| !v.is_empty())
        .map(|v| v.iter().cloned().collect())
        .collect()
}

#[test]
fn new_identifiers_create_a_contact_holding_all_of_them() {
    let h = MemoryHoldings::default();
    let r = resolve(
        &IdentityRules::default(),
        &[id(K::AnonymousId, "a1"), id(K::Email, "ann@x.cn")],
        &h,
    );
    assert_eq!(r.contact, None);
    assert_eq!(r.attach.len(), 2);
    assert!(r.merged.is_empty());
}

#[test]
fn merges_browser_and_wechat_profiles_when_form_links_them() {
    let rules = IdentityRules::default();
    let mut h = MemoryHoldings::default();
    h.attach(ContactId(1), id(K::AnonymousId, "browser-1"));
    h.attach(ContactId(2), Identifier::wechat_openid("wxA", "o1"));
    h.attach(ContactId(2), id(K::Email, "ann@x.cn"));
    // The anonymous browser fills a form with the email WeChat already knows.
    let r = resolve(
        &rules,
        &[id(K::AnonymousId, "browser-1"), id(K::Email, "ann@x.cn")],
        &h,
    );
    assert_eq!(r.contact, Some(ContactId(2)), "the known contact survives");
    assert_eq!(r.merged, vec![ContactId(1)]);
    assert_eq!(r.linked_by.len(), 2);
}

#[test]
fn a_shared_browser_does_not_merge_two_known_colleagues() {
    let rules = IdentityRules::default();
    let mut h = MemoryHoldings::default();
    h.attach(ContactId(1), id(K::AnonymousId, "office-pc"));
    h.attach(ContactId(1), id(K::Email, "ann@x.cn"));
    h.attach(ContactId(2), id(K::Email, "bob@x.cn"));
    let r = resolve(
        &rules,
        &[id(K::AnonymousId, "office-pc"), id(K::Email, "bob@x.cn")],
        &h,
    );
    assert_eq!(r.contact, Some(ContactId(2)));
    assert!(r.merged.is_empty());
    assert_eq!(
        r.dropped,
        vec![(
            id(K::AnonymousId, "office-pc"),
            DropReason::WouldMergeKnownContacts
        )]
    );
}

#[test]
fn two_user_ids_never_end_up_on_one_contact() {
    let rules = IdentityRules::default();
    let mut h = MemoryHoldings::default();
    h.attach(ContactId(1), id(K::UserId, "u1"));
    h.attach(ContactId(1), id(K::Email, "ann@x.cn"));
    h.attach(ContactId(2), id(K::UserId, "u2"));
    // u2 signs in with Ann's email: merging would give one contact two user ids.
    let r = resolve(&rules, &[id(K::UserId, "u2"), id(K::Email, "ann@x.cn")], &h);
    assert_eq!(r.contact, Some(ContactId(2)));
    assert!(r.merged.is_empty());
    assert_eq!(
        r.dropped,
        vec![(id(K::Email, "ann@x.cn"), DropReason::LimitExceeded)]
    );
    // A new user id on a contact that already has one is refused, the rest still links.
    let r = resolve(&rules, &[id(K::UserId, "u3"), id(K::Email, "ann@x.cn")], &h);
    assert_eq!(r.contact, Some(ContactId(1)));
    assert_eq!(
        r.dropped,
        vec![(id(K::UserId, "u3"), DropReason::LimitExceeded)]
    );
}

#[test]
fn openids_of_two_official_accounts_unify_through_the_union_id() {
    let rules = IdentityRules::default();
    let events = vec![
        vec![
            Identifier::wechat_openid("wxA", "oA"),
            id(K::WechatUnionid, "u-1"),
        ],
        vec![
            Identifier::wechat_openid("wxB", "oB"),
            id(K::WechatUnionid, "u-1"),
        ],
    ];
    let h = replay(&rules, &events);
    assert_eq!(partition(&h).len(), 1);
}

#[test]
fn placeholder_identifiers_are_dropped_as_blocked() {
    let r = resolve(
        &IdentityRules::default(),
        &[id(K::UserId, "null"), id(K::AnonymousId, "a1")],
        &MemoryHoldings::default(),
    );
    assert_eq!(r.attach, vec![id(K::AnonymousId, "a1")]);
    assert_eq!(
        r.dropped,
        vec![(id(K::UserId, "null"), DropReason::Blocked)]
    );
}

#[test]
fn survivor_is_the_oldest_known_contact() {
    let rules = IdentityRules::default();
    let mut h = MemoryHoldings::default();
    h.attach(ContactId(1), id(K::AnonymousId, "a"));
    h.attach(ContactId(5), id(K::Email, "x@x.cn"));
    h.attach(ContactId(3), id(K::Mobile, "+8613800138000"));
    let r = resolve(
        &rules,
        &[
            id(K::AnonymousId, "a"),
            id(K::Email, "x@x.cn"),
            id(K::Mobile, "+8613800138000"),
        ],
        &h,
    );
    assert_eq!(r.contact, Some(ContactId(3)));
    assert_eq!(r.merged, vec![ContactId(5)]);
    // The browser id may not join two known contacts, so the anonymous profile stays apart.
    assert_eq!(
        r.dropped,
        vec![(id(K::AnonymousId, "a"), DropReason::WouldMergeKnownContacts)]
    );
}

fn permissive_rules() -> IdentityRules {
    IdentityRules {
        rules: K::ALL
            .into_iter()
            .map(|kind| IdentityRule {
                kind,
                priority: 1,
                max_per_contact: None,
                merges_known: true,
            })
            .collect(),
        blocked_values: vec![],
    }
}

fn arb_identifier() -> impl Strategy<Value = Identifier> {
    (
        prop::sample::select(vec![
            K::AnonymousId,
            K::Email,
            K::Mobile,
            K::UserId,
            K::WechatUnionid,
        ]),
        0..6u8,
    )
        .prop_map(|(k, n)| id(k, &format!("v{n}")))
}

proptest! {
    /// Merging is order independent: replaying the same events in any order yields the same contacts
    /// (as sets of identifiers) whenever no limit forces a choice.
    #[test]
    fn merging_in_any_order_yields_the_same_contacts(
        events in prop::collection::vec(prop::collection::vec(arb_identifier(), 1..4), 1..25),
        seed in any::<u64>(),
    ) {
        let rules = permissive_rules();
        let forward = partition(&replay(&rules, &events));
        let mut shuffled = events.clone();
        // Deterministic Fisher–Yates from the seed.
        let mut s = seed | 1;
        for i in (1..shuffled.len()).rev() {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            shuffled.swap(i, (s % (i as u64 + 1)) as usize);
        }
        prop_assert_eq!(forward, partition(&replay(&rules, &shuffled)));
    }

    /// Under the default rules no contact ever exceeds a limit, whatever arrives in whatever order.
    #[test]
    fn limits_hold_for_any_event_sequence(
        events in prop::collection::vec(prop::collection::vec(arb_identifier(), 1..4), 1..25),
    ) {
        let rules = IdentityRules::default();
        let h = replay(&rules, &events);
        for ids in h.by_contact.values() {
            for kind in K::ALL {
                if let Some(max) = rules.rule(kind).max_per_contact {
                    let n = ids.iter().filter(|i| i.kind == kind).count() as u32;
                    prop_assert!(n <= max, "{kind:?} held {n} times");
                }
            }
        }
        // And every identifier is held by exactly one contact.
        let total: usize = h.by_contact.values().map(Vec::len).sum();
        prop_assert_eq!(total, h.by_identifier.len());
    }
}
