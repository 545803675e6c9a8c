use super::*;

use ColumnTarget as T;
use IdentityKind as K;
use StandardField as F;

fn headers(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn parses_and_renders_every_standard_field_by_its_name() {
    for field in F::ALL {
        let target = ColumnTarget::parse(field.as_str()).unwrap();
        assert_eq!(target, T::Field(field));
        assert_eq!(target.as_string(), field.as_str());
    }
}

#[test]
fn parses_and_renders_phone_tags_ignore_identities_and_custom_keys() {
    let cases = [
        ("phone", T::Phone),
        ("tags", T::Tags),
        ("ignore", T::Ignore),
        ("identity:crm_id", T::Identity(K::CrmId)),
        ("identity:wechat_unionid", T::Identity(K::WechatUnionid)),
        ("identity:wechat_openid", T::Identity(K::WechatOpenid)),
        ("identity:user_id", T::Identity(K::UserId)),
        ("custom:budget_2025", T::Custom("budget_2025".into())),
    ];
    for (s, target) in cases {
        assert_eq!(ColumnTarget::parse(s).unwrap(), target, "{s}");
        assert_eq!(target.as_string(), s);
        assert_eq!(target.to_string(), s);
    }
}

#[test]
fn rejects_unknown_targets_and_bad_custom_keys() {
    for s in [
        "",
        "nope",
        "Email",
        "identity:",
        "identity:qq",
        "identity:anonymous_id",
        "identity:fingerprint",
        "custom:",
        "custom:Budget",
        "custom:预算",
        "custom:a-b",
        "custom:email",
        "custom:phone",
        "custom:tags",
    ] {
        let e = ColumnTarget::parse(s).expect_err(s);
        assert_eq!(e.code, "invalid_column_target", "{s}");
    }
    let long = format!("custom:{}", "a".repeat(65));
    assert!(ColumnTarget::parse(&long).is_err());
    let max = format!("custom:{}", "a".repeat(64));
    assert!(ColumnTarget::parse(&max).is_ok());
}

#[test]
fn serialises_as_a_plain_string_and_validates_when_deserialising() {
    let mapping = ImportMapping {
        columns: vec![
            T::Field(F::Name),
            T::Phone,
            T::Identity(K::CrmId),
            T::Custom("note".into()),
            T::Tags,
            T::Ignore,
        ],
    };
    let json = serde_json::to_string(&mapping).unwrap();
    assert_eq!(
        json,
        r#"{"columns":["name","phone","identity:crm_id","custom:note","tags","ignore"]}"#
    );
    assert_eq!(
        serde_json::from_str::<ImportMapping>(&json).unwrap(),
        mapping
    );
    assert!(serde_json::from_str::<ColumnTarget>(r#""custom:Bad Key""#).is_err());
    assert!(serde_json::from_str::<ColumnTarget>(r#"{"Field":"name"}"#).is_err());
}

#[test]
fn openapi_schema_describes_a_column_target_as_a_string() {
    use utoipa::{PartialSchema, ToSchema};
    let schema = serde_json::to_value(ColumnTarget::schema()).unwrap();
    assert_eq!(schema["type"], "string");
    assert!(schema["pattern"].as_str().unwrap().contains("company_size"));
    let mut referenced = Vec::new();
    <ImportMapping as ToSchema>::schemas(&mut referenced);
    let names: Vec<&str> = referenced.iter().map(|(name, _)| name.as_str()).collect();
    assert!(names.contains(&"ColumnTarget"), "{names:?}");
}

#[test]
fn guesses_chinese_and_english_headers_for_standard_fields() {
    let cases: &[(&[&str], ColumnTarget)] = &[
        (
            &[
                "姓名",
                "名字",
                "联系人",
                "客户姓名",
                "name",
                "Full Name",
                "Contact",
            ],
            T::Field(F::Name),
        ),
        (
            &[
                "手机",
                "手机号",
                "手机号码",
                "移动电话",
                "Mobile",
                "cell",
                "Cellphone",
                "Mobile Phone",
            ],
            T::Field(F::Mobile),
        ),
        (&["电话", "联系电话", "Phone", "Telephone", "TEL"], T::Phone),
        (
            &[
                "座机",
                "固话",
                "固定电话",
                "办公电话",
                "Landline",
                "Office Phone",
            ],
            T::Field(F::Landline),
        ),
        (
            &[
                "邮箱",
                "电子邮箱",
                "邮件",
                "Email",
                "E-mail",
                "mail",
                "E-Mail ",
            ],
            T::Field(F::Email),
        ),
        (
            &[
                "公司",
                "公司名称",
                "单位",
                "企业",
                "企业名称",
                "Company",
                "Organization",
                "Account",
            ],
            T::Field(F::Company),
        ),
        (
            &["职位", "职务", "Title", "Job Title", "position"],
            T::Field(F::Title),
        ),
        (&["部门", "Department", "dept"], T::Field(F::Department)),
        (&["行业", "Industry"], T::Field(F::Industry)),
        (
            &[
                "规模",
                "公司规模",
                "员工人数",
                "Company Size",
                "employees",
                "company_size",
            ],
            T::Field(F::CompanySize),
        ),
        (&["省", "省份", "Province", "State"], T::Field(F::Province)),
        (&["城市", "市", "City"], T::Field(F::City)),
        (
            &["来源", "渠道", "Source", "Lead Source"],
            T::Field(F::Source),
        ),
        (
            &["微信unionid", "UnionID", "微信UnionId"],
            T::Identity(K::WechatUnionid),
        ),
        (&["openid", "OpenID"], T::Identity(K::WechatOpenid)),
        (
            &[
                "CRM ID",
                "客户编号",
                "客户ID",
                "crm id",
                "Record ID",
                "id",
                "ID",
            ],
            T::Identity(K::CrmId),
        ),
        (&["标签", "Tags", "tag"], T::Tags),
    ];
    for (synonyms, want) in cases {
        for header in *synonyms {
            assert_eq!(guess_target(header, 1), *want, "{header:?}");
        }
    }
}

#[test]
fn guessing_ignores_case_spacing_full_width_and_bracketed_remarks() {
    assert_eq!(guess_target("  手 机 号 码 ", 1), T::Field(F::Mobile));
    assert_eq!(guess_target("手机号码（必填）", 1), T::Field(F::Mobile));
    assert_eq!(guess_target("Email (work)", 1), T::Field(F::Email));
    assert_eq!(guess_target("*姓名", 1), T::Field(F::Name));
    assert_eq!(guess_target("ＥＭＡＩＬ", 1), T::Field(F::Email));
    assert_eq!(guess_target("【邮箱】", 1), T::Field(F::Email));
    assert_eq!(guess_target("JOB_TITLE", 1), T::Field(F::Title));
}

#[test]
fn unknown_headers_become_custom_fields_with_an_ascii_slug() {
    assert_eq!(
        guess_target("Budget 2025 (CNY)", 3),
        T::Custom("budget_2025_cny".into())
    );
    assert_eq!(
        guess_target("  Annual-Revenue  ", 3),
        T::Custom("annual_revenue".into())
    );
    assert_eq!(guess_target("备注 Note", 3), T::Custom("note".into()));
}

#[test]
fn unknown_headers_without_ascii_become_numbered_columns() {
    assert_eq!(guess_target("微信号", 4), T::Custom("col_4".into()));
    assert_eq!(guess_target("", 7), T::Custom("col_7".into()));
    assert_eq!(guess_target("——", 2), T::Custom("col_2".into()));
}

#[test]
fn custom_slugs_never_take_a_standard_field_name_and_stay_within_64_characters() {
    assert_eq!(guess_target("name!!", 2), T::Field(F::Name));
    assert_eq!(guess_target("email#", 5), T::Field(F::Email));
    assert_eq!(guess_target("备用 Mobile", 5), T::Custom("mobile_5".into()));
    assert_eq!(guess_target("旧phone", 6), T::Custom("phone_6".into()));
    let long = guess_target(&"Very Long Header ".repeat(10), 1);
    let T::Custom(key) = long else {
        panic!("custom expected")
    };
    assert!(key.len() <= 64 && !key.ends_with('_'), "{key}");
    ColumnTarget::parse(&format!("custom:{key}")).unwrap();
}

#[test]
fn guesses_a_typical_chinese_crm_export() {
    let mapping = ImportMapping::guess(&headers(&[
        "客户编号",
        "姓名",
        "手机",
        "电话",
        "邮箱",
        "公司名称",
        "标签",
        "备注",
    ]));
    assert_eq!(
        mapping.columns,
        vec![
            T::Identity(K::CrmId),
            T::Field(F::Name),
            T::Field(F::Mobile),
            T::Phone,
            T::Field(F::Email),
            T::Field(F::Company),
            T::Tags,
            T::Custom("col_8".into()),
        ]
    );
    mapping.validate(8).unwrap();
}

#[test]
fn guess_turns_a_repeated_target_into_a_custom_field() {
    let mapping = ImportMapping::guess(&headers(&[
        "手机",
        "手机号码",
        "Mobile",
        "标签",
        "Tags",
        "Note",
        "note",
    ]));
    assert_eq!(
        mapping.columns,
        vec![
            T::Field(F::Mobile),
            T::Custom("col_2".into()),
            T::Custom("mobile_3".into()),
            T::Tags,
            T::Tags,
            T::Custom("note".into()),
            T::Custom("note_7".into()),
        ]
    );
    mapping.validate(7).unwrap();
}

#[test]
fn validate_rejects_a_column_count_that_differs_from_the_file() {
    let mapping = ImportMapping {
        columns: vec![T::Field(F::Email)],
    };
    assert_eq!(
        mapping.validate(2).unwrap_err().code,
        "column_count_mismatch"
    );
    mapping.validate(1).unwrap();
}

#[test]
fn validate_rejects_two_columns_with_the_same_target_and_names_them() {
    let mapping = ImportMapping {
        columns: vec![T::Field(F::Email), T::Field(F::Name), T::Field(F::Email)],
    };
    let e = mapping.validate(3).unwrap_err();
    assert_eq!(e.code, "duplicate_column_target");
    assert_eq!(e.message, "columns 1 and 3 both map to `email`");
    for dup in [T::Phone, T::Identity(K::CrmId), T::Custom("note".into())] {
        let mapping = ImportMapping {
            columns: vec![T::Field(F::Mobile), dup.clone(), dup],
        };
        assert_eq!(
            mapping.validate(3).unwrap_err().code,
            "duplicate_column_target"
        );
    }
}

#[test]
fn validate_allows_repeated_tags_and_ignore_columns() {
    let mapping = ImportMapping {
        columns: vec![T::Field(F::Mobile), T::Tags, T::Tags, T::Ignore, T::Ignore],
    };
    mapping.validate(5).unwrap();
}

#[test]
fn validate_requires_a_column_that_identifies_the_contact() {
    let mapping = ImportMapping {
        columns: vec![
            T::Field(F::Name),
            T::Field(F::Landline),
            T::Custom("x".into()),
        ],
    };
    let e = mapping.validate(3).unwrap_err();
    assert_eq!(e.code, "no_identity_column");
    assert!(e.message.contains("could not be matched to contacts"));
    for identifying in [
        T::Field(F::Email),
        T::Field(F::Mobile),
        T::Phone,
        T::Identity(K::WechatUnionid),
    ] {
        ImportMapping {
            columns: vec![T::Field(F::Name), identifying],
        }
        .validate(2)
        .unwrap();
    }
}

#[test]
fn validate_rejects_targets_built_in_code_that_parsing_would_refuse() {
    let anonymous = ImportMapping {
        columns: vec![T::Field(F::Email), T::Identity(K::AnonymousId)],
    };
    assert_eq!(
        anonymous.validate(2).unwrap_err().code,
        "invalid_column_target"
    );
    let bad_key = ImportMapping {
        columns: vec![T::Field(F::Email), T::Custom("Bad Key".into())],
    };
    assert_eq!(
        bad_key.validate(2).unwrap_err().code,
        "invalid_column_target"
    );
}

#[test]
fn splits_tags_on_ascii_and_full_width_separators() {
    assert_eq!(
        split_tags("VIP, 展会2024，华南;重点；老客户|高意向｜决策人、预算充足"),
        [
            "VIP",
            "展会2024",
            "华南",
            "重点",
            "老客户",
            "高意向",
            "决策人",
            "预算充足"
        ]
    );
}

#[test]
fn tags_are_trimmed_deduplicated_and_empty_ones_dropped() {
    assert_eq!(split_tags("  a ,, b ,a,\u{3000}b\u{3000}, ;|"), ["a", "b"]);
    assert_eq!(split_tags("big   client"), ["big client"]);
    assert!(split_tags("").is_empty());
    assert!(split_tags(" , ; ").is_empty());
}

#[test]
fn long_tags_are_truncated_at_a_character_boundary() {
    let chinese = "标".repeat(70);
    let tags = split_tags(&chinese);
    assert_eq!(tags, ["标".repeat(64)]);
    let ascii = format!("{} {}", "a".repeat(63), "b".repeat(10));
    assert_eq!(split_tags(&ascii), ["a".repeat(63)]);
    assert_eq!(
        split_tags(&format!("{0},{0}x", "c".repeat(64))),
        ["c".repeat(64)]
    );
}
