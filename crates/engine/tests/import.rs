//! Imports of CSV files end to end, against a fresh database: a SQLite file in a temporary directory,
//! or a new PostgreSQL database when `HATCHERY_TEST_DATABASE=postgres` (dropped when the test ends).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hatchery_domain::import_mapping::{ColumnTarget, ImportMapping};
use hatchery_domain::{ContactId, Identifier, IdentityKind, OrgId};
use hatchery_engine::import::{self, ImportError, ImportOptions, ImportReport};
use hatchery_engine::writer::commit_touches;
use hatchery_engine::{ManualClock, Metrics, Touch};
use hatchery_store::contacts::{Contact, ContactFilter};
use hatchery_store::imports::ImportStatus;
use hatchery_store::ingest::ProfileFields;
use hatchery_store::{Store, StoreOptions};
use hatchery_tabular::Encoding;

/// 2026-11-18, so default tag names are predictable.
const NOW: i64 = 1_795_000_000_000;
const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";

struct TestDb {
    store: Store,
    org: OrgId,
    dir: tempfile::TempDir,
    pg_name: Option<String>,
}

impl TestDb {
    async fn new() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let (url, pg_name) = if std::env::var("HATCHERY_TEST_DATABASE").as_deref() == Ok("postgres")
        {
            let name = format!("hatchery_test_{}", unique_suffix());
            let pool = sqlx::PgPool::connect(PG_ADMIN)
                .await
                .expect("PostgreSQL for tests on 127.0.0.1:5432");
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
            let base = PG_ADMIN.rsplit_once('/').unwrap().0;
            (format!("{base}/{name}"), Some(name))
        } else {
            (
                format!("sqlite://{}", dir.path().join("test.db").display()),
                None,
            )
        };
        let opts = StoreOptions {
            sqlite_fsync_every_commit: false,
            ..StoreOptions::default()
        };
        let store = Store::connect(&url, &opts).await.unwrap();
        let org = store.create_org("Test organisation", NOW).await.unwrap().id;
        TestDb {
            store,
            org,
            dir,
            pg_name,
        }
    }

    /// Writes a file into the test's directory.
    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    async fn import(
        &self,
        path: &Path,
        opts: &ImportOptions,
    ) -> Result<(hatchery_domain::ids::ImportId, ImportReport), ImportError> {
        let name = path.file_name().unwrap().to_str().unwrap();
        let prepared = import::prepare(&self.store, self.org, path, name, opts, NOW).await?;
        let id = prepared.import.id;
        let rules = self.store.identity_rules(self.org).await.unwrap();
        let report = import::run(
            &self.store,
            self.org,
            prepared,
            &rules,
            &Arc::new(Metrics::default()),
            &ManualClock::new(NOW),
            |_, _| {},
        )
        .await?;
        Ok((id, report))
    }

    async fn contact(&self, kind: IdentityKind, value: &str) -> Option<Contact> {
        let id = self
            .store
            .contact_by_identity(self.org, &Identifier::new(kind, value))
            .await
            .unwrap()?;
        Some(self.store.get_contact(self.org, id).await.unwrap())
    }

    async fn identities(&self, contact: ContactId) -> Vec<(IdentityKind, String)> {
        let mut ids: Vec<_> = self
            .store
            .contact_identities(self.org, contact)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.kind, r.value))
            .collect();
        ids.sort();
        ids
    }

    async fn contacts(&self) -> i64 {
        self.store.count_contacts(self.org).await.unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop may run inside the test's runtime, which must not block: use a thread with its own.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(pool) = sqlx::PgPool::connect(PG_ADMIN).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&pool)
                        .await;
                    pool.close().await;
                }
            });
        })
        .join()
        .ok();
    }
}

fn unique_suffix() -> String {
    use rand::Rng;
    format!("{:016x}", rand::thread_rng().gen::<u64>())
}

fn mapping(targets: &str) -> ImportMapping {
    ImportMapping {
        columns: targets
            .split(',')
            .map(|t| ColumnTarget::parse(t).unwrap())
            .collect(),
    }
}

fn opts() -> ImportOptions {
    ImportOptions::default()
}

#[tokio::test]
async fn imports_a_gbk_csv_with_chinese_headers_and_normalises_mobiles_and_emails() {
    let db = TestDb::new().await;
    let text = "姓名,手机号码,邮箱,公司名称,省份,城市,预算\r\n\
                张三,138 0013 8000,Zhang.San@Example.COM,上海某某科技有限公司,广东省,深圳市,50万\r\n\
                李四,+86-139-0013-9000,,北京某某公司,北京市,北京,\r\n\
                王五,8613700137000,wang@example.cn,,,,\r\n";
    let (gbk, _, unmappable) = encoding_rs::GBK.encode(text);
    assert!(!unmappable);
    let path = db.file("客户名单.csv", &gbk);

    let (_, report) = db.import(&path, &opts()).await.unwrap();

    assert_eq!(report.file.encoding, "gbk");
    assert_eq!(report.file.headers[1], "手机号码");
    assert_eq!((report.rows, report.created, report.rejected), (3, 3, 0));
    let zhang = db
        .contact(IdentityKind::Mobile, "+8613800138000")
        .await
        .expect("mobile normalised to E.164");
    assert_eq!(zhang.name.as_deref(), Some("张三"));
    assert_eq!(zhang.email.as_deref(), Some("zhang.san@example.com"));
    assert_eq!(zhang.province.as_deref(), Some("广东"));
    assert_eq!(zhang.city.as_deref(), Some("深圳"));
    assert_eq!(zhang.company.as_deref(), Some("上海某某科技有限公司"));
    assert_eq!(zhang.source.as_deref(), Some("import"));
    assert!(
        zhang.account_id.is_some(),
        "the company column links an account"
    );
    assert_eq!(
        zhang.traits.get("col_7").and_then(|v| v.as_str()),
        Some("50万")
    );
    assert_eq!(
        db.identities(zhang.id).await,
        vec![
            (IdentityKind::Email, "zhang.san@example.com".to_owned()),
            (IdentityKind::Mobile, "+8613800138000".to_owned()),
        ]
    );
    assert!(db
        .contact(IdentityKind::Mobile, "+8613900139000")
        .await
        .is_some());
    assert!(db
        .contact(IdentityKind::Mobile, "+8613700137000")
        .await
        .is_some());
    assert_eq!(report.reach.contacts, 3);
    assert_eq!(
        (
            report.reach.mobile,
            report.reach.email,
            report.reach.landline,
            report.reach.wechat
        ),
        (3, 2, 0, 0)
    );
}

#[tokio::test]
async fn deduplicates_rows_inside_the_file_and_against_existing_contacts() {
    let db = TestDb::new().await;
    // One contact is already in the pool, known by email.
    let existing = Touch {
        identifiers: vec![Identifier::new(IdentityKind::Email, "ann@example.com")],
        profile: ProfileFields {
            name: Some("Ann".into()),
            ..ProfileFields::default()
        },
        origin: "api".into(),
        cause: "api".into(),
        at: NOW,
        ..Touch::default()
    };
    let rules = db.store.identity_rules(db.org).await;
    let before = commit_touches(
        &db.store,
        db.org,
        &rules,
        vec![existing],
        NOW,
        &Metrics::default(),
    )
    .await
    .unwrap();
    let ann = before[0].contact.unwrap();

    let path = db.file(
        "leads.csv",
        "name,email,mobile\n\
         Ann Lee,ANN@example.com,13800138000\n\
         Bob,bob@example.com,\n\
         Bob Again,Bob@Example.com,13900139000\n\
         Carol,,139 0013 9000\n\
         Dan,dan@example.com,\n"
            .as_bytes(),
    );
    // Two rows per transaction, so duplicates meet both inside a chunk and across chunks.
    let (_, report) = db
        .import(
            &path,
            &ImportOptions {
                chunk_rows: 2,
                ..opts()
            },
        )
        .await
        .unwrap();

    assert_eq!(report.rows, 5);
    assert_eq!(
        report.updated, 1,
        "Ann matched the contact already in the pool"
    );
    assert_eq!(report.created, 2, "Bob and Dan");
    assert_eq!(
        report.duplicates_in_file, 2,
        "Bob again by email, Carol by Bob's mobile"
    );
    assert_eq!(report.merged, 0);
    assert_eq!(db.contacts().await, 3);
    let ann_now = db
        .contact(IdentityKind::Mobile, "+8613800138000")
        .await
        .unwrap();
    assert_eq!(ann_now.id, ann);
    assert_eq!(
        ann_now.name.as_deref(),
        Some("Ann Lee"),
        "the import's values win"
    );
    let bob = db
        .contact(IdentityKind::Email, "bob@example.com")
        .await
        .unwrap();
    assert_eq!(
        db.contact(IdentityKind::Mobile, "+8613900139000")
            .await
            .unwrap()
            .id,
        bob.id
    );
    assert_eq!(
        bob.name.as_deref(),
        Some("Carol"),
        "later rows win field by field"
    );
}

#[tokio::test]
async fn dry_run_reports_the_same_counts_as_the_real_run_and_writes_no_contacts() {
    let db = TestDb::new().await;
    let existing = Touch {
        identifiers: vec![Identifier::new(IdentityKind::Mobile, "+8613800138000")],
        origin: "api".into(),
        cause: "api".into(),
        at: NOW,
        ..Touch::default()
    };
    let rules = db.store.identity_rules(db.org).await;
    commit_touches(
        &db.store,
        db.org,
        &rules,
        vec![existing],
        NOW,
        &Metrics::default(),
    )
    .await
    .unwrap();
    let existing_events = db.store.count_events(db.org).await.unwrap();

    let path = db.file(
        "dry.csv",
        "姓名,手机,邮箱,标签\n\
         甲,13800138000,a@example.com,重点客户\n\
         乙,,b@example.com,\n\
         丙,13900139000,b@example.com,展会\n\
         丁,12345,,\n\
         戊,13700137000,not-an-email,\n\
         甲,,a@example.com,\n"
            .as_bytes(),
    );
    let dry_opts = ImportOptions {
        dry_run: true,
        chunk_rows: 2,
        ..opts()
    };
    let (dry_id, dry) = db.import(&path, &dry_opts).await.unwrap();

    assert_eq!(db.contacts().await, 1, "a dry run writes no contact");
    assert_eq!(
        db.store.count_events(db.org).await.unwrap(),
        existing_events,
        "nor events"
    );
    assert!(
        db.store
            .tag_by_name(db.org, "重点客户")
            .await
            .unwrap()
            .is_none(),
        "nor tags"
    );
    assert!(db
        .store
        .tag_by_name(db.org, &dry.tag)
        .await
        .unwrap()
        .is_none());
    let recorded = db.store.get_import(db.org, dry_id).await.unwrap();
    assert!(recorded.dry_run);
    assert_eq!(recorded.status, ImportStatus::Completed);
    assert_eq!(recorded.processed_rows, 6);
    assert_eq!(
        serde_json::from_value::<ImportReport>(recorded.report).unwrap(),
        dry
    );
    let rejected = db
        .store
        .list_rejections(db.org, dry_id, 0, 100)
        .await
        .unwrap();
    assert_eq!(rejected.iter().map(|r| r.row).collect::<Vec<_>>(), vec![5]);

    let (_, real) = db
        .import(
            &path,
            &ImportOptions {
                dry_run: false,
                ..dry_opts
            },
        )
        .await
        .unwrap();
    assert_eq!(
        ImportReport {
            dry_run: true,
            ..real.clone()
        },
        dry
    );
    assert_eq!(
        (
            real.created,
            real.updated,
            real.duplicates_in_file,
            real.rejected
        ),
        (2, 1, 2, 1)
    );
    assert_eq!(db.contacts().await, 3);
}

#[tokio::test]
async fn rejected_rows_carry_row_numbers_and_reasons() {
    let db = TestDb::new().await;
    let path = db.file(
        "rejects.csv",
        "name,email,mobile,wechat openid\n\
         Ok,ok@example.com,,\n\
         \n\
         Bad email,not-an-email,,\n\
         Landline,,010-62345678,\n\
         Nothing,,,\n\
         Extra,extra@example.com,,,surplus\n\
         Half,broken@,13800138000,\n\
         Openid,,,oAbcdef\n\
         Bad mobile,,12345,\n"
            .as_bytes(),
    );
    let (id, report) = db.import(&path, &opts()).await.unwrap();

    let rejected = db.store.list_rejections(db.org, id, 0, 100).await.unwrap();
    let got: Vec<(i64, &str)> = rejected.iter().map(|r| (r.row, r.code.as_str())).collect();
    assert_eq!(
        got,
        vec![
            (4, "invalid_email"),
            (5, "landline_not_mobile"),
            (6, "no_identifier"),
            (7, "extra_cells"),
            (9, "invalid_openid"),
            (10, "invalid_mobile"),
        ],
        "row numbers as a spreadsheet shows them: the header is row 1 and the blank row 3 keeps its number"
    );
    let bad_email = &rejected[0];
    assert!(
        bad_email.reason.starts_with("column 2 (email):"),
        "{}",
        bad_email.reason
    );
    assert!(
        !bad_email.reason.contains("not-an-email"),
        "reasons never repeat the value"
    );
    assert_eq!(bad_email.cells, vec!["Bad email", "not-an-email", "", ""]);
    assert_eq!(
        rejected[3].cells.last().map(String::as_str),
        Some("surplus")
    );

    assert_eq!((report.rows, report.created, report.rejected), (8, 2, 6));
    assert_eq!(report.rejection_codes.get("invalid_email"), Some(&1));
    // Row 8 has a broken email but a valid mobile: imported, with a warning naming the row.
    let warning = &report.warnings["invalid_email"];
    assert_eq!((warning.count, warning.first_rows.clone()), (1, vec![8]));
    let half = db
        .contact(IdentityKind::Mobile, "+8613800138000")
        .await
        .unwrap();
    assert_eq!(half.email, None);

    // The rejected-rows file repeats the original header after row, code and reason.
    let mut csv = import::rejections_csv_head(&report.file.headers);
    csv.extend(import::rejections_csv_lines(&rejected));
    let text = String::from_utf8(csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("\u{feff}row,code,reason,name,email,mobile,wechat openid")
    );
    assert!(lines
        .next()
        .unwrap()
        .starts_with("4,invalid_email,column 2 (email):"));
}

#[tokio::test]
async fn every_imported_contact_carries_the_batch_tag() {
    let db = TestDb::new().await;
    let path = db.file(
        "展会名单.csv",
        "name,mobile,tags\n\
         A,13800138000,VIP；展会\n\
         B,13900139000,\n\
         C,13700137000,VIP\n"
            .as_bytes(),
    );
    let (id, report) = db.import(&path, &opts()).await.unwrap();
    assert_eq!(report.tag, "import:展会名单 2026-11-18");
    assert_eq!(
        db.store
            .get_import(db.org, id)
            .await
            .unwrap()
            .tag
            .as_deref(),
        Some(report.tag.as_str())
    );

    let tag = db
        .store
        .tag_by_name(db.org, &report.tag)
        .await
        .unwrap()
        .expect("batch tag created");
    assert_eq!(tag.category.as_deref(), Some("import"));
    let filter = ContactFilter {
        tag_id: Some(tag.id),
        limit: 50,
        ..ContactFilter::default()
    };
    let (tagged, _) = db.store.list_contacts(db.org, &filter).await.unwrap();
    assert_eq!(tagged.len(), 3);

    let a = db
        .contact(IdentityKind::Mobile, "+8613800138000")
        .await
        .unwrap();
    let mut tags = db.store.contact_tags(db.org, a.id).await.unwrap();
    tags.sort();
    assert_eq!(
        tags,
        vec!["VIP".to_owned(), report.tag.clone(), "展会".to_owned()]
    );

    let named = db.file("second.csv", b"mobile\n13600136000\n");
    let (_, report) = db
        .import(
            &named,
            &ImportOptions {
                tag: Some("  Expo 2026  ".into()),
                ..opts()
            },
        )
        .await
        .unwrap();
    assert_eq!(report.tag, "Expo 2026");
    let d = db
        .contact(IdentityKind::Mobile, "+8613600136000")
        .await
        .unwrap();
    assert_eq!(
        db.store.contact_tags(db.org, d.id).await.unwrap(),
        vec!["Expo 2026".to_owned()]
    );
}

#[tokio::test]
async fn landlines_are_kept_apart_from_mobiles() {
    let db = TestDb::new().await;
    let path = db.file(
        "phones.csv",
        "姓名,电话,邮箱\n\
         座机,010-62345678,desk@example.com\n\
         手机,138 0013 8000,\n\
         只有座机,(0755)12345678转123,\n"
            .as_bytes(),
    );
    let (id, report) = db.import(&path, &opts()).await.unwrap();

    let desk = db
        .contact(IdentityKind::Email, "desk@example.com")
        .await
        .unwrap();
    assert_eq!(desk.landline.as_deref(), Some("+86-10-62345678"));
    assert_eq!(desk.mobile, None);
    assert_eq!(
        db.identities(desk.id).await,
        vec![(IdentityKind::Email, "desk@example.com".to_owned())]
    );
    let mobile = db
        .contact(IdentityKind::Mobile, "+8613800138000")
        .await
        .unwrap();
    assert_eq!(mobile.landline, None);

    // A landline alone cannot identify anyone: the row is rejected, not turned into a contact.
    let rejected = db.store.list_rejections(db.org, id, 0, 100).await.unwrap();
    assert_eq!(
        rejected
            .iter()
            .map(|r| (r.row, r.code.as_str()))
            .collect::<Vec<_>>(),
        vec![(4, "landline_only")]
    );
    assert_eq!(
        (
            report.reach.landline,
            report.reach.mobile,
            report.reach.email
        ),
        (1, 1, 1)
    );
    assert_eq!(db.contacts().await, 2);
}

#[tokio::test]
async fn a_bad_mapping_is_refused_before_anything_is_written() {
    let db = TestDb::new().await;
    let path = db.file("bad.csv", b"name,company,remark\nA,Acme,x\n");

    let guessed = db.import(&path, &opts()).await.unwrap_err();
    assert!(
        matches!(&guessed, ImportError::Mapping(e) if e.code == "no_identity_column"),
        "{guessed}"
    );

    let wrong_count = ImportOptions {
        mapping: Some(mapping("name,mobile")),
        ..opts()
    };
    let err = db.import(&path, &wrong_count).await.unwrap_err();
    assert!(
        matches!(&err, ImportError::Mapping(e) if e.code == "column_count_mismatch"),
        "{err}"
    );

    let long_tag = ImportOptions {
        mapping: Some(mapping("name,company,email")),
        tag: Some("x".repeat(65)),
        ..opts()
    };
    assert!(matches!(
        db.import(&path, &long_tag).await.unwrap_err(),
        ImportError::Tag(_)
    ));

    assert!(
        db.store.list_imports(db.org, 50).await.unwrap().is_empty(),
        "no import recorded"
    );
    assert!(
        db.store.list_tags(db.org).await.unwrap().is_empty(),
        "no tag created"
    );
    assert_eq!(db.contacts().await, 0);

    let unreadable = db.file("legacy.xls", b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1rest");
    assert!(matches!(
        db.import(&unreadable, &opts()).await.unwrap_err(),
        ImportError::Table(_)
    ));
    assert!(db.store.list_imports(db.org, 50).await.unwrap().is_empty());
}

#[tokio::test]
async fn running_the_same_file_again_creates_no_duplicates() {
    let db = TestDb::new().await;
    let path = db.file(
        "again.csv",
        "姓名,手机,邮箱\nA,13800138000,a@example.com\nB,13900139000,\n".as_bytes(),
    );

    let (_, first) = db.import(&path, &opts()).await.unwrap();
    assert_eq!(first.created, 2);
    let (_, second) = db.import(&path, &opts()).await.unwrap();
    assert_eq!((second.created, second.updated, second.merged), (0, 2, 0));
    assert_eq!(db.contacts().await, 2);

    // Running one import a second time (as after an interruption) stores no event twice.
    let events = db.store.count_events(db.org).await.unwrap();
    let prepared = import::prepare(&db.store, db.org, &path, "again.csv", &opts(), NOW)
        .await
        .unwrap();
    let id = prepared.import.id;
    let rules = db.store.identity_rules(db.org).await.unwrap();
    let (metrics, clock) = (Arc::new(Metrics::default()), ManualClock::new(NOW));
    import::run(
        &db.store,
        db.org,
        prepared,
        &rules,
        &metrics,
        &clock,
        |_, _| {},
    )
    .await
    .unwrap();
    let after_first_run = db.store.count_events(db.org).await.unwrap();
    assert_eq!(after_first_run, events + 2);
    let table = import::open_table(&path, &opts()).await.unwrap();
    let again = import::prepare_table(&db.store, db.org, &path, "again.csv", table, &opts(), NOW)
        .await
        .unwrap();
    // Same file, same rows: re-point the fresh preparation at the first import's id.
    let rerun = rerun_of(again, id);
    import::run(
        &db.store,
        db.org,
        rerun,
        &rules,
        &metrics,
        &clock,
        |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(
        db.store.count_events(db.org).await.unwrap(),
        after_first_run
    );
    assert_eq!(db.contacts().await, 2);
}

fn rerun_of(
    mut prepared: import::PreparedImport,
    id: hatchery_domain::ids::ImportId,
) -> import::PreparedImport {
    prepared.import.id = id;
    prepared
}

#[tokio::test]
async fn progress_is_reported_after_every_chunk_and_stored_with_the_import() {
    let db = TestDb::new().await;
    let mut text = String::from("mobile,email\n");
    for i in 0..25 {
        text.push_str(&format!("1380013{i:04},user{i}@example.com\n"));
    }
    let path = db.file("many.csv", text.as_bytes());
    let opts = ImportOptions {
        chunk_rows: 10,
        encoding: Encoding::Utf8,
        ..opts()
    };
    let prepared = import::prepare(&db.store, db.org, &path, "many.csv", &opts, NOW)
        .await
        .unwrap();
    assert_eq!(prepared.import.status, ImportStatus::Queued);
    assert_eq!(prepared.import.total_rows, Some(25));
    let id = prepared.import.id;
    let rules = db.store.identity_rules(db.org).await.unwrap();
    let metrics = Arc::new(Metrics::default());
    let mut seen = Vec::new();
    let report = import::run(
        &db.store,
        db.org,
        prepared,
        &rules,
        &metrics,
        &ManualClock::new(NOW),
        |n, r| {
            seen.push((n, r.created));
        },
    )
    .await
    .unwrap();
    assert_eq!(seen, vec![(10, 10), (20, 20), (25, 25)]);
    assert_eq!(
        metrics
            .import_rows
            .load(std::sync::atomic::Ordering::Relaxed),
        25
    );
    let stored = db.store.get_import(db.org, id).await.unwrap();
    assert_eq!(
        (stored.status, stored.processed_rows, stored.finished_at),
        (ImportStatus::Completed, 25, Some(NOW))
    );
    assert_eq!(
        serde_json::from_value::<ImportReport>(stored.report).unwrap(),
        report
    );
}

/// Not an import, but the same write path: a changed contact's evaluation is due from the
/// receipt of the earliest message of its group commit, so the evaluation lag counts the time a
/// message waited for its commit.
#[tokio::test]
async fn a_tracked_change_is_due_for_evaluation_from_its_receipt() {
    let db = TestDb::new().await;
    let vip = hatchery_domain::segment::Filter::parse(&serde_json::json!({"tag": "vip"})).unwrap();
    db.store
        .create_segment(db.org, "VIPs", None, &vip, NOW)
        .await
        .unwrap();
    let visit = |user: &str, received_at: i64| Touch {
        identifiers: vec![Identifier::new(IdentityKind::UserId, user)],
        event: Some(hatchery_store::ingest::NewEvent {
            contact: ContactId(0),
            message_id: format!("m-{user}"),
            client_at: 0,
            kind: "page".into(),
            name: None,
            occurred_at: received_at,
            sent_at: None,
            received_at,
            source_id: None,
            channel: None,
            utm_source: None,
            utm_medium: None,
            utm_campaign: None,
            properties: "{}".into(),
            context: "{}".into(),
        }),
        origin: "api".into(),
        cause: "api".into(),
        at: received_at,
        ..Touch::default()
    };
    let rules = db.store.identity_rules(db.org).await;
    // Received 700 and 300 ms before the commit.
    commit_touches(
        &db.store,
        db.org,
        &rules,
        vec![visit("a", NOW - 700), visit("b", NOW - 300)],
        NOW,
        &Metrics::default(),
    )
    .await
    .unwrap();
    assert_eq!(db.store.due_jobs(db.org, NOW - 701).await.unwrap(), 0);
    assert_eq!(db.store.due_jobs(db.org, NOW - 700).await.unwrap(), 2);
}

/// A real run resolves each chunk while the one before is written. When live tracking of the same
/// organisation changes the holdings in between — here it gives an email of the second chunk to a
/// new contact — the chunk's plan is stale: it is resolved again inside its transaction, and the
/// row lands on the tracked contact instead of clashing with its email.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_resolved_ahead_is_resolved_again_when_tracking_changed_the_holdings() {
    let db = TestDb::new().await;
    let mut text = String::from("email,mobile\n");
    for (i, c) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        text.push_str(&format!("{c}@example.com,1380000000{}\n", i + 1));
    }
    let path = db.file("leads.csv", text.as_bytes());
    let opts = ImportOptions {
        chunk_rows: 2,
        ..opts()
    };
    let prepared = import::prepare(&db.store, db.org, &path, "leads.csv", &opts, NOW)
        .await
        .unwrap();
    let rules = db.store.identity_rules(db.org).await.unwrap();
    let tracked = Touch {
        identifiers: vec![
            Identifier::new(IdentityKind::UserId, "u-1"),
            Identifier::new(IdentityKind::Email, "c@example.com"),
        ],
        origin: "api".into(),
        cause: "api".into(),
        at: NOW,
        ..Touch::default()
    };
    let mut tracked = Some(tracked);
    let (store, org) = (db.store.clone(), db.org);
    let metrics = Arc::new(Metrics::default());
    let report = import::run(
        &db.store,
        db.org,
        prepared,
        &rules,
        &metrics,
        &ManualClock::new(NOW),
        |_, _| {
            // After the first chunk is written, the second is already resolved.
            if let Some(t) = tracked.take() {
                tokio::task::block_in_place(|| {
                    tokio::runtime::Handle::current().block_on(async {
                        let rules = store.identity_rules(org).await;
                        commit_touches(&store, org, &rules, vec![t], NOW, &Metrics::default())
                            .await
                            .unwrap();
                    })
                });
            }
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (report.rows, report.created, report.updated, report.rejected),
        (5, 4, 1, 0)
    );
    let by_user = db.contact(IdentityKind::UserId, "u-1").await.unwrap();
    let by_mobile = db
        .contact(IdentityKind::Mobile, "+8613800000003")
        .await
        .unwrap();
    assert_eq!(by_mobile.id, by_user.id);
    assert_eq!(db.contacts().await, 5);
    // The second chunk, and the third, planned on top of it.
    assert_eq!(
        metrics
            .import_resolved_again
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
}

/// A real run remembers the accounts it found or created by name, so later chunks skip the
/// lookup: a company named in every chunk, however it is written, is still one account, and one
/// that was in the pool before the import is the one its rows are linked to.
#[tokio::test]
async fn a_company_named_in_many_chunks_is_one_account() {
    let db = TestDb::new().await;
    let first = db.file(
        "old.csv",
        "email,company\nold@example.com,Old Co\n".as_bytes(),
    );
    db.import(&first, &opts()).await.unwrap();
    let (accounts, _) = db
        .store
        .list_accounts(db.org, None, None, 10)
        .await
        .unwrap();
    let old_co = accounts[0].id;

    let mut text = String::from("email,company\n");
    for i in 0..7 {
        let acme = ["Acme Ltd", " acme ltd", "ACME LTD "][i % 3];
        text.push_str(&format!(
            "a{i}@example.com,{acme}\nb{i}@example.com,Old Co\n"
        ));
    }
    let path = db.file("leads.csv", text.as_bytes());
    let opts = ImportOptions {
        chunk_rows: 2,
        ..opts()
    };
    let (_, report) = db.import(&path, &opts).await.unwrap();
    assert_eq!(report.created, 14);
    let (accounts, _) = db
        .store
        .list_accounts(db.org, None, None, 10)
        .await
        .unwrap();
    assert_eq!(accounts.len(), 2, "Old Co and Acme Ltd");
    let acme = accounts.iter().find(|a| a.id != old_co).unwrap().id;
    for i in 0..7 {
        let a = db
            .contact(IdentityKind::Email, &format!("a{i}@example.com"))
            .await
            .unwrap();
        assert_eq!(a.account_id, Some(acme), "row a{i}");
        let b = db
            .contact(IdentityKind::Email, &format!("b{i}@example.com"))
            .await
            .unwrap();
        assert_eq!(b.account_id, Some(old_co), "row b{i}");
    }
}
