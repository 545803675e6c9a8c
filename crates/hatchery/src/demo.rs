//! `hatchery demo`: fills an instance with a realistic synthetic B2B pool — Chinese and English
//! companies, buyers with names, titles, mobiles and company emails, anonymous website visitors from
//! paid search, content, events, social and referral campaigns, followers of two WeChat official
//! accounts linked by unionID, webinar registrations with minutes watched, white-paper downloads and
//! links to accounts.
//!
//! Nothing is written to the database directly: every message is posted to `/v1/batch` of the real
//! application, started inside this process on a free local port, with the write key of a source the
//! demo creates. Demo data therefore takes exactly the path of real traffic (HTTP → identity
//! resolution → storage) and shows what that path does — anonymous browsing merged into the contact
//! a form identifies, one contact for the follower of both official accounts.
//!
//! The content is a pure function of `--seed`; only the timestamps follow the clock (the last 90 days).
//! Every generated email is on the reserved `.example` top-level domain and every identified contact
//! carries the custom trait `demo_data = true`, so demo people can never be mistaken for, or mailed
//! as, real ones.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use chrono::{SecondsFormat, TimeZone, Utc};
use hatchery_domain::OrgId;
use hatchery_engine::SystemClock;
use hatchery_store::{Backend, Store};
use hatchery_web::AppState;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};
use tokio::sync::oneshot;

use crate::config::{org_or_default, Config};

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// How many people to generate (1 to 1,000,000).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    contacts: u32,
    /// Seed of the generator: the same seed gives the same people, companies and events.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Organisation to fill (`org_1`); default: the first organisation.
    #[arg(long)]
    org: Option<String>,
}

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// Demo history reaches this far back.
const HISTORY_DAYS: i64 = 90;
/// People generated and sent together; their messages are ordered by time before sending.
const COHORT: usize = 2_000;
/// Messages and bytes per tracking request (the API allows 500 KiB).
const BATCH_MESSAGES: usize = 500;
const BATCH_BYTES: usize = 400 * 1024;

/// The two WeChat official accounts of the demo organisation.
const WECHAT_A: (&str, &str) = ("wxDemoA", "Hatchery 演示服务号");
const WECHAT_B: (&str, &str) = ("wxDemoB", "Hatchery 技术社区");
/// The fictional company website the demo visitors browse.
const SITE: &str = "https://www.hatchery-demo.example";

pub async fn run(cfg: Config, args: DemoArgs) -> Result<()> {
    let started = Instant::now();
    let store = cfg.connect().await?;
    let org = org_or_default(&store, args.org.as_deref()).await?;
    let now = Utc::now().timestamp_millis();
    let (web_source, web_key) = store
        .create_source(org, "Demo website", "website", now)
        .await?;
    let (wx_source, wx_key) = store
        .create_source(org, "Demo WeChat", "wechat", now)
        .await?;
    std::fs::create_dir_all(cfg.upload_dir())
        .with_context(|| format!("cannot create {}", cfg.upload_dir().display()))?;
    let app = InProcessApp::start(store.clone(), cfg.upload_dir()).await?;
    println!(
        "Filling {org} ({}) with {} demo people (seed {}) through the tracking API on {}.",
        store.backend_name(),
        thousands(u64::from(args.contacts)),
        args.seed,
        app.addr
    );
    println!(
        "Sources: {} \"Demo website\", {} \"Demo WeChat\".",
        web_source.id, wx_source.id
    );

    let client = reqwest::Client::new();
    let url = app.batch_url();
    let mut generator = Generator::new(args.seed, args.contacts as usize, now);
    let total = args.contacts as usize;
    let (mut done, mut messages, mut requests) = (0usize, 0u64, 0u64);
    let mut last_report = Instant::now();
    while done < total {
        let n = COHORT.min(total - done);
        let mut out = Vec::new();
        for _ in 0..n {
            generator.person(&mut out);
        }
        done += n;
        messages += out.len() as u64;
        for (via, body) in cohort_batches(out, now) {
            let key = match via {
                Via::Website => &web_key,
                Via::Wechat => &wx_key,
            };
            post_body(&client, &url, key, body).await?;
            requests += 1;
        }
        if done == total || last_report.elapsed().as_secs() >= 2 {
            last_report = Instant::now();
            eprintln!(
                "  {} / {} people · {} messages · {:.1} s",
                thousands(done as u64),
                thousands(total as u64),
                thousands(messages),
                started.elapsed().as_secs_f64()
            );
        }
    }
    let merges = app
        .state
        .metrics
        .merges
        .load(std::sync::atomic::Ordering::Relaxed);
    let created = app
        .state
        .metrics
        .contacts_created
        .load(std::sync::atomic::Ordering::Relaxed);
    app.stop().await;

    let contacts = store.count_contacts(org).await?;
    let known = count(&store, org, KNOWN_CONTACTS_SQL).await?;
    let accounts = count(
        &store,
        org,
        "SELECT COUNT(*) FROM accounts WHERE org_id = $1",
    )
    .await?;
    let events = store.count_events(org).await?;
    let elapsed = started.elapsed().as_secs_f64();
    let s = &generator.stats;
    println!();
    println!("Demo data for {org} sent in {elapsed:.1} s ({} messages in {} requests, {:.0} messages/s).", thousands(messages), thousands(requests), messages as f64 / elapsed.max(0.001));
    println!("  people generated    {}", thousands(total as u64));
    println!(
        "    website visitors  {} ({} identified by a form, {} again on a second device)",
        thousands(s.web_visitors),
        thousands(s.form_identified),
        thousands(s.second_devices)
    );
    println!(
        "    WeChat followers  {} ({} follow both official accounts)",
        thousands(s.wechat_followers),
        thousands(s.both_accounts)
    );
    println!(
        "    webinar           {} registrations, {} attended",
        thousands(s.webinar_registrations),
        thousands(s.webinar_attended)
    );
    println!(
        "    white papers      {} downloads",
        thousands(s.whitepapers)
    );
    println!(
        "  contacts            {} in the organisation: {} with an email or mobile, {} known by browser or WeChat ids only",
        thousands(to_u64(contacts)),
        thousands(to_u64(known)),
        thousands(to_u64(contacts - known))
    );
    println!(
        "                      ({} created by this run)",
        thousands(created)
    );
    println!("  merges              {} (anonymous browsing and WeChat profiles matched to known contacts)", thousands(merges));
    println!("  events              {}", thousands(to_u64(events)));
    println!("  accounts            {}", thousands(to_u64(accounts)));
    println!("  elapsed             {elapsed:.1} s");
    println!(
        "Demo contacts carry the custom trait demo_data = true; their emails end in .example."
    );
    store.close().await;
    Ok(())
}

const KNOWN_CONTACTS_SQL: &str =
    "SELECT COUNT(*) FROM contacts WHERE org_id = $1 AND merged_into IS NULL AND (email IS NOT NULL OR mobile IS NOT NULL)";

/// One `COUNT(*)` bound to the organisation, for summaries the store has no call for.
pub(crate) async fn count(store: &Store, org: OrgId, sql: &str) -> Result<i64> {
    Ok(match store.backend() {
        Backend::Sqlite(p) => sqlx::query_scalar(sql).bind(org.0).fetch_one(p).await?,
        Backend::Postgres(p) => sqlx::query_scalar(sql).bind(org.0).fetch_one(p).await?,
    })
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// `1234567` → `1,234,567`.
pub(crate) fn thousands(n: u64) -> String {
    let s = n.to_string();
    let groups: Vec<&str> = s
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|g| std::str::from_utf8(g).unwrap_or_default())
        .collect();
    groups.join(",")
}

/// The whole application served inside this process on a free local port, so that demo data and
/// benchmark traffic go through HTTP exactly as real traffic does.
pub(crate) struct InProcessApp {
    pub addr: SocketAddr,
    pub state: AppState,
    shutdown: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl InProcessApp {
    pub async fn start(store: Store, upload_dir: PathBuf) -> Result<InProcessApp> {
        let state = AppState::new(
            store,
            Arc::new(SystemClock),
            upload_dir,
            hatchery_engine::evaluator::WORKERS,
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot listen on 127.0.0.1")?;
        let addr = listener.local_addr()?;
        let (shutdown, stopped) = oneshot::channel::<()>();
        let app = hatchery_web::router(state.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        Ok(InProcessApp {
            addr,
            state,
            shutdown,
            server,
        })
    }

    pub fn batch_url(&self) -> String {
        format!("http://{}/v1/batch", self.addr)
    }

    pub async fn stop(self) {
        let _ = self.shutdown.send(());
        let _ = self.server.await;
    }
}

/// An ISO-8601 UTC timestamp with milliseconds, as tracking libraries send them.
pub(crate) fn iso(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A random UUID-shaped browser id (what analytics.js stores as `ajs_anonymous_id`).
pub(crate) fn uuid(rng: &mut StdRng) -> String {
    let (a, b): (u64, u64) = (rng.gen(), rng.gen());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

/// A WeChat-shaped id: 28 characters starting with `o` (openIDs and unionIDs look alike).
fn wechat_id(rng: &mut StdRng) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut s = String::with_capacity(28);
    s.push('o');
    for _ in 0..27 {
        s.push(ALPHABET[rng.gen_range(0..ALPHABET.len())] as char);
    }
    s
}

/// Wraps serialized messages into a `/v1/batch` body.
pub(crate) fn batch_body(messages: &[String], sent_at: &str) -> String {
    let len: usize = messages.iter().map(|m| m.len() + 1).sum();
    let mut body = String::with_capacity(len + 64);
    body.push_str("{\"sentAt\":\"");
    body.push_str(sent_at);
    body.push_str("\",\"batch\":[");
    for (i, m) in messages.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(m);
    }
    body.push_str("]}");
    body
}

/// Posts one request body to `/v1/batch` and fails unless the API stored it (`200`).
pub(crate) async fn post_body(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    body: String,
) -> Result<()> {
    let resp = client
        .post(url)
        .basic_auth(key, Some(""))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .context("the tracking API did not answer")?;
    let status = resp.status();
    if status != reqwest::StatusCode::OK {
        let text = resp.text().await.unwrap_or_default();
        bail!(
            "the tracking API answered {status}: {}",
            text.chars().take(500).collect::<String>()
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Reference data. Company and brand names are invented; surnames and given names are common ones.
// ---------------------------------------------------------------------------------------------

/// Surnames with their pinyin and a rough weight (how common they are).
#[rustfmt::skip]
const SURNAMES: [(&str, &str, u32); 40] = [
    ("王", "wang", 72), ("李", "li", 72), ("张", "zhang", 68), ("刘", "liu", 54), ("陈", "chen", 46),
    ("杨", "yang", 33), ("黄", "huang", 24), ("赵", "zhao", 22), ("吴", "wu", 21), ("周", "zhou", 21),
    ("徐", "xu", 16), ("孙", "sun", 15), ("马", "ma", 14), ("朱", "zhu", 13), ("胡", "hu", 13),
    ("郭", "guo", 12), ("何", "he", 12), ("林", "lin", 11), ("高", "gao", 11), ("罗", "luo", 10),
    ("郑", "zheng", 10), ("梁", "liang", 9), ("谢", "xie", 8), ("宋", "song", 7), ("唐", "tang", 7),
    ("许", "xu", 7), ("韩", "han", 6), ("冯", "feng", 6), ("邓", "deng", 6), ("曹", "cao", 6),
    ("彭", "peng", 5), ("曾", "zeng", 5), ("肖", "xiao", 5), ("田", "tian", 4), ("董", "dong", 4),
    ("潘", "pan", 4), ("袁", "yuan", 4), ("蒋", "jiang", 4), ("欧阳", "ouyang", 1), ("司马", "sima", 1),
];

#[rustfmt::skip]
const GIVEN: [(&str, &str); 60] = [
    ("伟", "wei"), ("芳", "fang"), ("娜", "na"), ("敏", "min"), ("静", "jing"), ("丽", "li"), ("强", "qiang"),
    ("磊", "lei"), ("军", "jun"), ("洋", "yang"), ("勇", "yong"), ("艳", "yan"), ("杰", "jie"), ("涛", "tao"),
    ("明", "ming"), ("超", "chao"), ("霞", "xia"), ("平", "ping"), ("刚", "gang"), ("华", "hua"), ("晨", "chen"),
    ("宇", "yu"), ("浩", "hao"), ("婷", "ting"), ("雪", "xue"), ("琳", "lin"), ("欣", "xin"), ("俊", "jun"),
    ("嘉", "jia"), ("文", "wen"), ("博", "bo"), ("悦", "yue"), ("佳", "jia"), ("海", "hai"), ("鹏", "peng"),
    ("飞", "fei"), ("辉", "hui"), ("波", "bo"), ("斌", "bin"), ("倩", "qian"), ("颖", "ying"), ("晓", "xiao"),
    ("宁", "ning"), ("昊", "hao"), ("睿", "rui"), ("思", "si"), ("远", "yuan"), ("子", "zi"), ("涵", "han"),
    ("梓", "zi"), ("萱", "xuan"), ("一", "yi"), ("鸣", "ming"), ("建", "jian"), ("国", "guo"), ("志", "zhi"),
    ("秀", "xiu"), ("英", "ying"), ("凯", "kai"), ("琪", "qi"),
];

#[rustfmt::skip]
const EN_FIRST: [&str; 16] = [
    "Emily", "Daniel", "Sarah", "Michael", "Olivia", "David", "Laura", "Kevin", "Grace", "Thomas", "Sophie", "Ryan",
    "Hannah", "Lucas", "Chloe", "Martin",
];
#[rustfmt::skip]
const EN_LAST: [&str; 14] = [
    "Smith", "Brown", "Taylor", "Wilson", "Martin", "Clarke", "Walker", "Hughes", "Evans", "Turner", "Parker",
    "Chen", "Wong", "Lee",
];

/// Cities with their province (as people type it in forms) and a pinyin slug.
#[rustfmt::skip]
const CITIES: [(&str, &str, &str); 22] = [
    ("深圳市", "广东省", "shenzhen"), ("广州市", "广东省", "guangzhou"), ("东莞市", "广东省", "dongguan"),
    ("上海市", "上海市", "shanghai"), ("北京市", "北京市", "beijing"), ("杭州市", "浙江省", "hangzhou"),
    ("宁波市", "浙江省", "ningbo"), ("苏州市", "江苏省", "suzhou"), ("南京市", "江苏省", "nanjing"),
    ("无锡市", "江苏省", "wuxi"), ("成都市", "四川省", "chengdu"), ("武汉市", "湖北省", "wuhan"),
    ("西安市", "陕西省", "xian"), ("重庆市", "重庆市", "chongqing"), ("天津市", "天津市", "tianjin"),
    ("青岛市", "山东省", "qingdao"), ("济南市", "山东省", "jinan"), ("合肥市", "安徽省", "hefei"),
    ("长沙市", "湖南省", "changsha"), ("厦门市", "福建省", "xiamen"), ("郑州市", "河南省", "zhengzhou"),
    ("佛山市", "广东省", "foshan"),
];

/// Invented brand words with a romanisation for the company domain.
#[rustfmt::skip]
const BRANDS: [(&str, &str); 32] = [
    ("云启", "yunqi"), ("博远", "boyuan"), ("天衡", "tianheng"), ("星澜", "xinglan"), ("恒拓", "hengtuo"),
    ("易构", "yigou"), ("青禾", "qinghe"), ("远帆", "yuanfan"), ("安澜", "anlan"), ("锐驰", "ruichi"),
    ("明川", "mingchuan"), ("鼎泰", "dingtai"), ("北辰", "beichen"), ("知行", "zhixing"), ("瀚海", "hanhai"),
    ("聚能", "juneng"), ("泓睿", "hongrui"), ("铭图", "mingtu"), ("智衡", "zhiheng"), ("中拓", "zhongtuo"),
    ("新元", "xinyuan"), ("同创", "tongchuang"), ("弘毅", "hongyi"), ("卓越", "zhuoyue"), ("华研", "huayan"),
    ("景行", "jingxing"), ("嘉禾", "jiahe"), ("长风", "changfeng"), ("优联", "youlian"), ("启程", "qicheng"),
    ("凌云", "lingyun"), ("思源", "siyuan"),
];

/// Industries: display name, words that end a Chinese company name, English company nouns, slug.
struct Industry {
    name: &'static str,
    zh: &'static [&'static str],
    en: &'static [&'static str],
    slug: &'static str,
    weight: u32,
}

#[rustfmt::skip]
static INDUSTRIES: [Industry; 9] = [
    Industry { name: "制造业", zh: &["智能制造", "精密机械", "电气设备", "汽车零部件"], en: &["Robotics", "Machinery", "Components"], slug: "mfg", weight: 26 },
    Industry { name: "软件/SaaS", zh: &["软件", "信息技术", "云计算"], en: &["Software", "Cloud", "Analytics"], slug: "tech", weight: 20 },
    Industry { name: "金融", zh: &["金融服务", "融资租赁", "保险经纪"], en: &["Capital", "Financial"], slug: "fin", weight: 10 },
    Industry { name: "医疗", zh: &["医疗器械", "生物科技", "医药"], en: &["Health", "Medical", "Biotech"], slug: "med", weight: 10 },
    Industry { name: "教育", zh: &["教育科技", "职业培训"], en: &["Learning", "Education"], slug: "edu", weight: 7 },
    Industry { name: "零售", zh: &["零售", "商贸", "连锁"], en: &["Retail", "Brands"], slug: "retail", weight: 9 },
    Industry { name: "新能源", zh: &["新能源", "储能科技", "光伏"], en: &["Energy", "Power"], slug: "energy", weight: 8 },
    Industry { name: "物流", zh: &["供应链", "物流"], en: &["Logistics", "Freight"], slug: "logistics", weight: 6 },
    Industry { name: "专业服务", zh: &["咨询", "企业服务"], en: &["Consulting", "Partners"], slug: "consult", weight: 4 },
];

#[rustfmt::skip]
const EN_BRANDS: [&str; 16] = [
    "Acme", "Northwind", "Bluefin", "Silverline", "Redwood", "Brightpath", "Ironbridge", "Lumen", "Harbor", "Summit",
    "Cobalt", "Evergreen", "Meridian", "Keystone", "Orbital", "Tidewater",
];

#[rustfmt::skip]
const SIZES: [(&str, u32); 6] = [("1-49", 12), ("50-199", 26), ("200-499", 24), ("500-999", 16), ("1000-4999", 14), ("5000+", 8)];

/// Titles with the department they sit in; the first set for Chinese speakers, the second in English.
#[rustfmt::skip]
const TITLES_ZH: [(&str, &str); 20] = [
    ("IT总监", "信息技术部"), ("CIO", "信息中心"), ("CTO", "研发中心"), ("采购经理", "采购部"), ("采购总监", "采购部"),
    ("市场总监", "市场部"), ("市场经理", "市场部"), ("品牌经理", "市场部"), ("数字化转型负责人", "数字化部"),
    ("运营经理", "运营部"), ("销售总监", "销售部"), ("大客户经理", "销售部"), ("总经理", "总经办"),
    ("财务总监", "财务部"), ("人力资源经理", "人力资源部"), ("生产经理", "生产部"), ("质量经理", "质量部"),
    ("研发工程师", "研发中心"), ("产品经理", "产品部"), ("董事长助理", "总经办"),
];

#[rustfmt::skip]
const TITLES_EN: [(&str, &str); 8] = [
    ("CTO", "Engineering"), ("Head of IT", "IT"), ("Procurement Manager", "Procurement"), ("Marketing Director", "Marketing"),
    ("VP Sales", "Sales"), ("Operations Manager", "Operations"), ("General Manager", "Management"), ("Product Manager", "Product"),
];

#[rustfmt::skip]
const MOBILE_PREFIXES: [u32; 36] = [
    130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 145, 147, 150, 151, 152, 153, 155, 156, 157, 158, 159, 166, 173,
    175, 176, 177, 180, 181, 182, 183, 185, 186, 187, 188, 189, 199,
];

fn weighted<'a, T>(rng: &mut StdRng, items: &'a [T], weight: impl Fn(&T) -> u32) -> &'a T {
    let total: u32 = items.iter().map(&weight).sum();
    let mut pick = rng.gen_range(0..total);
    for it in items {
        let w = weight(it);
        if pick < w {
            return it;
        }
        pick -= w;
    }
    &items[items.len() - 1]
}

/// A company (an account); `group_id` is the `groupId` of tracking `group` calls.
#[derive(Debug, Clone)]
pub(crate) struct Company {
    pub group_id: String,
    pub name: String,
    pub domain: String,
    pub industry: &'static str,
    pub size: &'static str,
    pub province: &'static str,
    pub city: &'static str,
    pub english: bool,
}

/// Invents `n` distinct companies (about one in six English-named foreign or joint ventures).
pub(crate) fn make_companies(rng: &mut StdRng, n: usize) -> Vec<Company> {
    let mut names = HashSet::new();
    let mut domains = HashSet::new();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let ind = weighted(rng, &INDUSTRIES, |i| i.weight);
        let &(city, province, city_slug) = CITIES.choose(rng).expect("cities");
        let english = rng.gen_bool(0.16);
        let (mut name, mut slug) = if english {
            let brand = EN_BRANDS.choose(rng).expect("brands");
            let noun = ind.en.choose(rng).expect("nouns");
            let suffix = ["", " Ltd.", " (China) Co., Ltd.", " Inc."]
                .choose(rng)
                .expect("suffixes");
            (
                format!("{brand} {noun}{suffix}"),
                format!("{}-{}", brand.to_lowercase(), noun.to_lowercase()),
            )
        } else {
            let (brand, brand_slug) = BRANDS.choose(rng).expect("brands");
            let word = ind.zh.choose(rng).expect("words");
            let suffix = if rng.gen_bool(0.2) {
                "股份有限公司"
            } else {
                "有限公司"
            };
            let tech = if rng.gen_bool(0.35) && !word.contains("科技") {
                "科技"
            } else {
                ""
            };
            let city_short = city.trim_end_matches('市');
            (
                format!("{city_short}{brand}{word}{tech}{suffix}"),
                format!("{brand_slug}-{}", ind.slug),
            )
        };
        if names.contains(&name) {
            // Same brand and trade in the same city: a second, distinct company in another city.
            name = format!("{name}（{}分公司）", city.trim_end_matches('市'));
            if names.contains(&name) {
                name = format!("{name}{}", out.len());
            }
        }
        if domains.contains(&slug) {
            slug = format!("{slug}-{city_slug}");
            if domains.contains(&slug) {
                slug = format!("{slug}{}", out.len());
            }
        }
        names.insert(name.clone());
        domains.insert(slug.clone());
        out.push(Company {
            group_id: format!("acct-{:05}", out.len() + 1),
            name,
            domain: format!("{slug}.example"),
            industry: ind.name,
            size: weighted(rng, &SIZES, |s| s.1).0,
            province,
            city,
            english,
        });
    }
    out
}

/// A buyer at a company.
#[derive(Debug, Clone)]
pub(crate) struct Person {
    pub name: String,
    /// Lower-case, on the company's domain.
    pub email: String,
    /// As typed into a form (`13812345678`, `+86 138 1234 5678`, `138-1234-5678`).
    pub mobile: String,
    pub title: &'static str,
    pub department: &'static str,
    pub company: usize,
}

/// Invents people with distinct emails and mobiles.
#[derive(Default)]
pub(crate) struct PersonFactory {
    emails: HashSet<String>,
    mobiles: HashSet<u64>,
}

impl PersonFactory {
    pub fn person(&mut self, rng: &mut StdRng, companies: &[Company], company: usize) -> Person {
        let c = &companies[company];
        let english_name = (c.english && rng.gen_bool(0.5)) || rng.gen_bool(0.03);
        let (name, local, (title, department)) = if english_name {
            let (f, l) = (
                *EN_FIRST.choose(rng).expect("names"),
                *EN_LAST.choose(rng).expect("names"),
            );
            let local = if rng.gen_bool(0.6) {
                format!("{f}.{l}")
            } else {
                format!("{}{}", &f[..1], l)
            };
            (
                format!("{f} {l}"),
                local.to_lowercase(),
                *TITLES_EN.choose(rng).expect("titles"),
            )
        } else {
            let &(surname, s_py, _) = weighted(rng, &SURNAMES, |s| s.2);
            let (g1, p1) = *GIVEN.choose(rng).expect("names");
            let (given, g_py) = if rng.gen_bool(0.55) {
                let (g2, p2) = *GIVEN.choose(rng).expect("names");
                (format!("{g1}{g2}"), format!("{p1}{p2}"))
            } else {
                (g1.to_owned(), p1.to_owned())
            };
            let local = match rng.gen_range(0..3) {
                0 => format!("{g_py}.{s_py}"),
                1 => format!("{s_py}{g_py}"),
                _ => format!("{}{s_py}", &g_py[..1]),
            };
            let title = if c.english && rng.gen_bool(0.5) {
                *TITLES_EN.choose(rng).expect("titles")
            } else {
                *TITLES_ZH.choose(rng).expect("titles")
            };
            (format!("{surname}{given}"), local, title)
        };
        let mut email = format!("{local}@{}", c.domain);
        let mut n = 2;
        while self.emails.contains(&email) {
            email = format!("{local}{n}@{}", c.domain);
            n += 1;
        }
        self.emails.insert(email.clone());
        let number = loop {
            let prefix = u64::from(*MOBILE_PREFIXES.choose(rng).expect("prefixes"));
            let number = prefix * 100_000_000 + rng.gen_range(0..100_000_000u64);
            if self.mobiles.insert(number) {
                break number;
            }
        };
        let digits = number.to_string();
        let mobile = match rng.gen_range(0..20) {
            0..=11 => digits,
            12..=16 => format!("+86 {} {} {}", &digits[..3], &digits[3..7], &digits[7..]),
            _ => format!("{}-{}-{}", &digits[..3], &digits[3..7], &digits[7..]),
        };
        Person {
            name,
            email,
            mobile,
            title,
            department,
            company,
        }
    }
}

/// A page of the demo website: path and title.
#[rustfmt::skip]
const PAGES: [(&str, &str); 14] = [
    ("/", "Hatchery 演示 | B2B 私域流量与营销自动化"),
    ("/products", "产品概览"),
    ("/products/cdp", "客户数据平台"),
    ("/products/automation", "营销自动化"),
    ("/products/lead-scoring", "线索评分"),
    ("/pricing", "价格"),
    ("/case-studies", "客户案例"),
    ("/case-studies/manufacturing", "制造业客户案例"),
    ("/case-studies/saas", "SaaS 客户案例"),
    ("/blog/b2b-private-traffic", "B2B 私域流量池怎么建"),
    ("/blog/lead-scoring", "线索评分：静态分与动态分"),
    ("/webinars", "直播与活动"),
    ("/resources/whitepaper-2026", "白皮书下载"),
    ("/contact", "联系销售"),
];
const PRICING: usize = 5;
const WEBINAR_PAGE: usize = 11;
const WHITEPAPER_PAGE: usize = 12;
const CONTACT_PAGE: usize = 13;

/// Acquisition campaigns: channel group, utm source, medium, campaign, term, referrer, landing page.
struct Campaign {
    source: &'static str,
    medium: &'static str,
    name: &'static str,
    term: Option<&'static str>,
    referrer: &'static str,
    landing: usize,
    weight: u32,
}

#[rustfmt::skip]
static CAMPAIGNS: [Campaign; 12] = [
    Campaign { source: "baidu", medium: "cpc", name: "2026q4-brand-search", term: Some("私域流量平台"), referrer: "https://www.baidu.com/", landing: 2, weight: 16 },
    Campaign { source: "baidu", medium: "cpc", name: "2026q4-marketing-automation", term: Some("B2B 营销自动化"), referrer: "https://www.baidu.com/", landing: PRICING, weight: 10 },
    Campaign { source: "bing", medium: "cpc", name: "2026q4-en-search", term: Some("b2b marketing automation china"), referrer: "https://cn.bing.com/", landing: 0, weight: 4 },
    Campaign { source: "zhihu", medium: "article", name: "whitepaper-private-traffic-2026", term: None, referrer: "https://zhuanlan.zhihu.com/", landing: WHITEPAPER_PAGE, weight: 9 },
    Campaign { source: "36kr", medium: "content", name: "lead-scoring-guide", term: None, referrer: "https://36kr.com/", landing: 10, weight: 5 },
    Campaign { source: "expo", medium: "offline", name: "2026-smart-manufacturing-expo", term: None, referrer: "", landing: 7, weight: 6 },
    Campaign { source: "webinar", medium: "event", name: "2026-11-webinar-private-traffic", term: None, referrer: "", landing: WEBINAR_PAGE, weight: 6 },
    Campaign { source: "wechat", medium: "social", name: "moments-ad-nov", term: None, referrer: "https://mp.weixin.qq.com/", landing: 6, weight: 8 },
    Campaign { source: "linkedin", medium: "social", name: "abm-manufacturing", term: None, referrer: "https://www.linkedin.com/", landing: 7, weight: 4 },
    Campaign { source: "partner", medium: "referral", name: "partner-program-2026", term: None, referrer: "", landing: 1, weight: 5 },
    Campaign { source: "customer", medium: "referral", name: "customer-referral", term: None, referrer: "", landing: PRICING, weight: 3 },
    // Direct traffic: no campaign (the contact's first source is the tracking source's name).
    Campaign { source: "", medium: "", name: "", term: None, referrer: "", landing: 0, weight: 14 },
];

/// Webinars: id, title, how many days ago it ran (negative: still to come), length in minutes.
#[rustfmt::skip]
const WEBINARS: [(&str, &str, i64, u32); 4] = [
    ("wb-2026-09", "制造业数字化转型：从线索到订单", 70, 90),
    ("wb-2026-10", "B2B 私域流量池实战：招、育、转、留", 40, 60),
    ("wb-2026-11", "线索评分与销售协同：让 MQL 真正被跟进", 12, 75),
    ("wb-2026-12", "2027 B2B 营销预算怎么花", -10, 60),
];

#[rustfmt::skip]
const WHITEPAPERS: [(&str, &str); 3] = [
    ("wp-private-traffic-2026", "2026 B2B 私域流量运营白皮书"),
    ("wp-manufacturing-dx", "制造业数字化营销指南"),
    ("wp-lead-scoring", "线索评分方法论"),
];

#[rustfmt::skip]
const ARTICLES: [&str; 6] = [
    "一张图看懂 B2B 私域流量池",
    "为什么 90% 的线索没有被销售跟进",
    "客户案例｜某装备制造企业如何把展会线索转化率提升 3 倍",
    "直播回放：制造业数字化转型",
    "线索评分模型怎么搭",
    "年度产品发布会精彩回顾",
];
const MENUS: [&str; 4] = ["产品介绍", "客户案例", "预约演示", "直播预约"];

#[rustfmt::skip]
const USER_AGENTS: [&str; 4] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.50",
    "Mozilla/5.0 (Linux; Android 14; V2309A) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36",
];

// ---------------------------------------------------------------------------------------------
// Journeys.
// ---------------------------------------------------------------------------------------------

/// Which source (and so which write key) a message arrives through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Via {
    Website,
    Wechat,
}

struct Outgoing {
    at: i64,
    via: Via,
    message: Value,
}

#[derive(Debug, Default)]
struct Stats {
    web_visitors: u64,
    form_identified: u64,
    second_devices: u64,
    wechat_followers: u64,
    both_accounts: u64,
    webinar_registrations: u64,
    webinar_attended: u64,
    whitepapers: u64,
}

/// Produces people one at a time; everything it emits depends only on the seed.
struct Generator {
    rng: StdRng,
    seed: u64,
    now: i64,
    companies: Vec<Company>,
    people: PersonFactory,
    next_message: u64,
    stats: Stats,
}

impl Generator {
    fn new(seed: u64, people: usize, now: i64) -> Generator {
        let mut rng = StdRng::seed_from_u64(seed);
        // About eight people per company, so accounts have buying groups of several contacts.
        let companies = make_companies(&mut rng, (people / 8).max(5));
        Generator {
            rng,
            seed,
            now,
            companies,
            people: PersonFactory::default(),
            next_message: 0,
            stats: Stats::default(),
        }
    }

    fn message_id(&mut self) -> String {
        self.next_message += 1;
        format!("demo-{}-{}", self.seed, self.next_message)
    }

    /// A moment during Beijing working hours `days_ago` days back (never in the future).
    fn moment(&mut self, days_ago: f64) -> i64 {
        let day_start = (self.now / DAY) * DAY - (days_ago.floor() as i64) * DAY;
        // 08:30–22:00 Beijing time is 00:30–14:00 UTC.
        let at = day_start + 30 * MINUTE + self.rng.gen_range(0..(13 * HOUR + 30 * MINUTE));
        at.min(self.now - MINUTE * self.rng.gen_range(1..30))
    }

    /// A moment a random gap after `at`, never in the future.
    fn after(&mut self, at: i64, gap: std::ops::Range<i64>) -> i64 {
        let by = self.rng.gen_range(gap);
        self.clamp(at + by)
    }

    fn clamp(&self, at: i64) -> i64 {
        at.min(self.now - MINUTE)
    }

    /// Generates one person's messages into `out`.
    fn person(&mut self, out: &mut Vec<Outgoing>) {
        let company = self.pick_company();
        let p = self.people.person(&mut self.rng, &self.companies, company);
        // Recent days are busier than old ones.
        let days_ago = HISTORY_DAYS as f64 * self.rng.gen::<f64>().powf(1.4);
        let start = self.moment(days_ago);
        let r: f64 = self.rng.gen();
        if r < 0.55 {
            self.website_first(out, &p, start);
        } else if r < 0.85 {
            self.wechat_first(out, &p, start);
        } else {
            self.event_first(out, &p, start);
        }
    }

    /// Larger companies appear more often, so they get buying groups of several contacts.
    fn pick_company(&mut self) -> usize {
        let n = self.companies.len();
        let u: f64 = self.rng.gen();
        ((u * u * n as f64) as usize).min(n - 1)
    }

    /// An anonymous visitor from a campaign who browses over a few sessions and may fill a form.
    fn website_first(&mut self, out: &mut Vec<Outgoing>, p: &Person, start: i64) {
        self.stats.web_visitors += 1;
        let anon = uuid(&mut self.rng);
        let ua = *USER_AGENTS.choose(&mut self.rng).expect("agents");
        let campaign = weighted(&mut self.rng, &CAMPAIGNS, |c| c.weight);
        let mut at = self.browse(out, &anon, ua, start, Some(campaign));
        let sessions = self.rng.gen_range(0..4);
        for _ in 0..sessions {
            at = self.after(at, HOUR..9 * DAY);
            at = self.browse(out, &anon, ua, at, None);
        }
        if !self.rng.gen_bool(0.6) {
            return; // stays an anonymous visitor
        }
        self.stats.form_identified += 1;
        at = self.after(at, MINUTE..20 * MINUTE);
        let whitepaper = self.rng.gen_bool(0.35);
        let traits = self.form_traits(p, !whitepaper);
        if whitepaper {
            let page = WHITEPAPER_PAGE;
            self.push_page(out, &anon, ua, at, page, None, "");
            at += MINUTE;
            let (asset, title) = *WHITEPAPERS.choose(&mut self.rng).expect("papers");
            self.push_identify(out, Via::Website, &anon, at, traits, page_context(page, ua));
            self.push_track(
                out,
                Via::Website,
                &anon,
                at + 2_000,
                "Form Submitted",
                json!({"form_id": "form-whitepaper", "form_name": "白皮书下载"}),
                page_context(page, ua),
            );
            self.push_track(
                out,
                Via::Website,
                &anon,
                at + 4_000,
                "Whitepaper Downloaded",
                json!({"asset_id": asset, "title": title, "format": "pdf"}),
                page_context(page, ua),
            );
            self.stats.whitepapers += 1;
        } else {
            let page = if self.rng.gen_bool(0.5) {
                CONTACT_PAGE
            } else {
                PRICING
            };
            let (form_id, form_name) = *[
                ("form-demo", "预约演示"),
                ("form-trial", "试用申请"),
                ("form-contact", "联系销售"),
            ]
            .choose(&mut self.rng)
            .expect("forms");
            self.push_page(out, &anon, ua, at, page, None, "");
            at += 2 * MINUTE;
            self.push_identify(out, Via::Website, &anon, at, traits, page_context(page, ua));
            self.push_track(
                out,
                Via::Website,
                &anon,
                at + 2_000,
                "Form Submitted",
                json!({"form_id": form_id, "form_name": form_name}),
                page_context(page, ua),
            );
        }
        self.push_group(out, Via::Website, &anon, at + 5_000, p.company);

        if self.rng.gen_bool(0.25) {
            self.webinar(
                out,
                Via::Website,
                &anon,
                at + 10 * MINUTE,
                json!({"userAgent": ua}),
            );
        }
        // Later the same person browses on a second device and identifies there too: the second
        // browser's anonymous profile merges into the known contact.
        if self.rng.gen_bool(0.18) {
            self.stats.second_devices += 1;
            let other = uuid(&mut self.rng);
            let ua2 = *USER_AGENTS.choose(&mut self.rng).expect("agents");
            let mut at2 = self.after(at, DAY..20 * DAY);
            at2 = self.browse(out, &other, ua2, at2, None);
            let (asset, title) = *WHITEPAPERS.choose(&mut self.rng).expect("papers");
            let traits = json!({"email": p.email, "name": p.name, "demo_data": true});
            self.push_identify(
                out,
                Via::Website,
                &other,
                at2 + MINUTE,
                traits,
                page_context(WHITEPAPER_PAGE, ua2),
            );
            self.push_track(
                out,
                Via::Website,
                &other,
                at2 + MINUTE + 3_000,
                "Whitepaper Downloaded",
                json!({"asset_id": asset, "title": title, "format": "pdf"}),
                page_context(WHITEPAPER_PAGE, ua2),
            );
            self.stats.whitepapers += 1;
        }
    }

    /// A follower of one or both official accounts who reads articles, may register for a webinar
    /// inside WeChat and may later fill a website form with the same mobile.
    fn wechat_first(&mut self, out: &mut Vec<Outgoing>, p: &Person, start: i64) {
        self.stats.wechat_followers += 1;
        let union = wechat_id(&mut self.rng);
        let first = if self.rng.gen_bool(0.7) {
            WECHAT_A
        } else {
            WECHAT_B
        };
        let open = wechat_id(&mut self.rng);
        let scene = *[
            "qrcode:expo-booth",
            "qrcode:sales-card",
            "search",
            "article",
            "qrcode:webinar-poster",
        ]
        .choose(&mut self.rng)
        .expect("scenes");
        self.push_follow(out, first, &open, &union, start, scene);
        let mut at = start;
        for _ in 0..self.rng.gen_range(0..5) {
            at = self.after(at, HOUR..6 * DAY);
            let ctx = wechat_context(first, &open, &union);
            if self.rng.gen_bool(0.7) {
                let article = *ARTICLES.choose(&mut self.rng).expect("articles");
                let seconds = self.rng.gen_range(8..400);
                self.push_track(
                    out,
                    Via::Wechat,
                    &open,
                    at,
                    "Article Read",
                    json!({"app_id": first.0, "article_title": article, "read_seconds": seconds}),
                    ctx,
                );
            } else {
                let menu = *MENUS.choose(&mut self.rng).expect("menus");
                self.push_track(
                    out,
                    Via::Wechat,
                    &open,
                    at,
                    "Menu Clicked",
                    json!({"app_id": first.0, "menu": menu}),
                    ctx,
                );
            }
        }
        // Following the group's other account too: a second openID, the same unionID.
        if self.rng.gen_bool(0.35) {
            self.stats.both_accounts += 1;
            let second = if first == WECHAT_A {
                WECHAT_B
            } else {
                WECHAT_A
            };
            let open2 = wechat_id(&mut self.rng);
            at = self.after(at, HOUR..15 * DAY);
            self.push_follow(out, second, &open2, &union, at, "article");
        }
        if !self.rng.gen_bool(0.5) {
            return;
        }
        // Registration inside WeChat: name, mobile and company from a WeChat form.
        at = self.after(at, HOUR..5 * DAY);
        let traits = json!({
            "name": p.name, "phone": p.mobile, "company": self.companies[p.company].name, "title": p.title, "demo_data": true,
        });
        self.push_identify(
            out,
            Via::Wechat,
            &open,
            at,
            traits,
            wechat_context(first, &open, &union),
        );
        self.push_group(out, Via::Wechat, &open, at + 3_000, p.company);
        self.webinar(
            out,
            Via::Wechat,
            &open,
            at + 5_000,
            wechat_context(first, &open, &union),
        );
        // Later on the website, the same person fills a form with the same mobile: the browser's
        // anonymous profile merges into the WeChat contact.
        if self.rng.gen_bool(0.35) {
            let anon = uuid(&mut self.rng);
            let ua = USER_AGENTS[self.rng.gen_range(0..2)];
            let mut at2 = self.after(at, DAY..15 * DAY);
            let campaign = &CAMPAIGNS[self.rng.gen_range(0..3)];
            at2 = self.browse(out, &anon, ua, at2, Some(campaign));
            let traits = self.form_traits(p, true);
            self.push_identify(
                out,
                Via::Website,
                &anon,
                at2 + MINUTE,
                traits,
                page_context(CONTACT_PAGE, ua),
            );
            self.push_track(
                out,
                Via::Website,
                &anon,
                at2 + MINUTE + 2_000,
                "Form Submitted",
                json!({"form_id": "form-demo", "form_name": "预约演示"}),
                page_context(CONTACT_PAGE, ua),
            );
        }
    }

    /// Someone who registers for a webinar on the website from an event or social campaign, and may
    /// follow the tech-community account later and register there with the same mobile.
    fn event_first(&mut self, out: &mut Vec<Outgoing>, p: &Person, start: i64) {
        self.stats.web_visitors += 1;
        self.stats.form_identified += 1;
        let anon = uuid(&mut self.rng);
        let ua = *USER_AGENTS.choose(&mut self.rng).expect("agents");
        let campaign = &CAMPAIGNS[*[5usize, 6, 7, 8].choose(&mut self.rng).expect("campaigns")];
        let mut at = start;
        self.push_page(
            out,
            &anon,
            ua,
            at,
            WEBINAR_PAGE,
            Some(campaign),
            campaign.referrer,
        );
        at += 3 * MINUTE;
        let traits = self.form_traits(p, true);
        self.push_identify(
            out,
            Via::Website,
            &anon,
            at,
            traits,
            page_context(WEBINAR_PAGE, ua),
        );
        self.push_group(out, Via::Website, &anon, at + 3_000, p.company);
        self.webinar(
            out,
            Via::Website,
            &anon,
            at + 5_000,
            json!({"userAgent": ua}),
        );
        if self.rng.gen_bool(0.4) {
            self.stats.wechat_followers += 1;
            let union = wechat_id(&mut self.rng);
            let open = wechat_id(&mut self.rng);
            at = self.after(at, HOUR..10 * DAY);
            self.push_follow(out, WECHAT_B, &open, &union, at, "qrcode:webinar-poster");
            let traits = json!({"name": p.name, "phone": p.mobile, "demo_data": true});
            self.push_identify(
                out,
                Via::Wechat,
                &open,
                self.clamp(at + 10 * MINUTE),
                traits,
                wechat_context(WECHAT_B, &open, &union),
            );
        }
    }

    /// Registration for the next webinar after `at` (if any) and, when it has taken place, attendance.
    fn webinar(&mut self, out: &mut Vec<Outgoing>, via: Via, anon: &str, at: i64, context: Value) {
        // Webinars start at 14:00 Beijing time; registration closes two hours before.
        let starts = |days_ago: i64| (self.now / DAY) * DAY - days_ago * DAY + 6 * HOUR;
        let Some(&(id, title, days_ago, minutes)) =
            WEBINARS.iter().find(|w| starts(w.2) - 2 * HOUR > at)
        else {
            return;
        };
        let starts = starts(days_ago);
        self.stats.webinar_registrations += 1;
        let registered_via = if via == Via::Wechat {
            "wechat"
        } else {
            "website"
        };
        self.push_track(
            out,
            via,
            anon,
            at,
            "Webinar Registered",
            json!({"webinar_id": id, "webinar_title": title, "registered_via": registered_via}),
            context.clone(),
        );
        if days_ago <= 0 || !self.rng.gen_bool(0.62) {
            return;
        }
        self.stats.webinar_attended += 1;
        let live = self.rng.gen_bool(0.75);
        let joined = if live {
            starts + self.rng.gen_range(0..15) * MINUTE
        } else {
            self.after(starts, DAY..5 * DAY)
        };
        let watched = self.rng.gen_range(3..=minutes);
        let props = json!({"webinar_id": id, "webinar_title": title, "minutes_watched": watched, "duration_minutes": minutes, "live": live});
        self.push_track(
            out,
            via,
            anon,
            self.clamp(joined + i64::from(watched) * MINUTE),
            "Webinar Attended",
            props,
            context,
        );
    }

    /// One browsing session of 1–4 pages; returns when it ended.
    fn browse(
        &mut self,
        out: &mut Vec<Outgoing>,
        anon: &str,
        ua: &str,
        mut at: i64,
        campaign: Option<&Campaign>,
    ) -> i64 {
        let pages = self.rng.gen_range(1..=4);
        let first = match campaign {
            Some(c) => c.landing,
            None => self.rng.gen_range(0..PAGES.len()),
        };
        let referrer = campaign.map_or("", |c| c.referrer);
        self.push_page(out, anon, ua, at, first, campaign, referrer);
        for _ in 1..pages {
            at = self.after(at, 15_000..6 * MINUTE);
            // Buyers close to a decision keep coming back to the pricing page.
            let page = if self.rng.gen_bool(0.25) {
                PRICING
            } else {
                self.rng.gen_range(0..PAGES.len() - 1)
            };
            self.push_page(out, anon, ua, at, page, None, SITE);
        }
        at
    }

    fn form_traits(&mut self, p: &Person, full: bool) -> Value {
        let c = &self.companies[p.company];
        let mut t = Map::new();
        t.insert("name".into(), json!(p.name));
        t.insert("email".into(), json!(p.email));
        t.insert("company".into(), json!(c.name));
        t.insert("title".into(), json!(p.title));
        t.insert("demo_data".into(), json!(true));
        if full {
            t.insert("phone".into(), json!(p.mobile));
            t.insert("department".into(), json!(p.department));
            t.insert("industry".into(), json!(c.industry));
            t.insert("company_size".into(), json!(c.size));
            // Forms collect provinces both with and without the suffix; the pool normalises them.
            let province = if self.rng.gen_bool(0.5) {
                c.province.to_owned()
            } else {
                c.province.trim_end_matches(['省', '市']).to_owned()
            };
            t.insert("province".into(), json!(province));
            t.insert("city".into(), json!(c.city));
        }
        Value::Object(t)
    }

    #[expect(clippy::too_many_arguments, reason = "a page view has that many parts")]
    fn push_page(
        &mut self,
        out: &mut Vec<Outgoing>,
        anon: &str,
        ua: &str,
        at: i64,
        page: usize,
        campaign: Option<&Campaign>,
        referrer: &str,
    ) {
        let at = self.clamp(at);
        let (path, title) = PAGES[page];
        let mut url = format!("{SITE}{path}");
        let mut context = page_context(page, ua);
        if let Some(c) = campaign.filter(|c| !c.source.is_empty()) {
            url = format!(
                "{url}?utm_source={}&utm_medium={}&utm_campaign={}",
                c.source, c.medium, c.name
            );
            let mut cmp = json!({"source": c.source, "medium": c.medium, "name": c.name});
            if let Some(term) = c.term {
                cmp["term"] = json!(term);
            }
            context["campaign"] = cmp;
        }
        let props = json!({"path": path, "url": url, "title": title, "referrer": referrer});
        context["page"] = props.clone();
        let id = self.message_id();
        let message = json!({
            "type": "page", "messageId": id, "anonymousId": anon, "timestamp": iso(at), "name": title,
            "properties": props, "context": context,
        });
        out.push(Outgoing {
            at,
            via: Via::Website,
            message,
        });
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "a track call has that many parts"
    )]
    fn push_track(
        &mut self,
        out: &mut Vec<Outgoing>,
        via: Via,
        anon: &str,
        at: i64,
        event: &str,
        properties: Value,
        context: Value,
    ) {
        let at = self.clamp(at);
        let id = self.message_id();
        let mut message = json!({
            "type": "track", "messageId": id, "anonymousId": anon, "timestamp": iso(at), "event": event,
            "properties": properties, "context": context,
        });
        if via == Via::Wechat {
            message["channel"] = json!("wechat");
        }
        out.push(Outgoing { at, via, message });
    }

    fn push_identify(
        &mut self,
        out: &mut Vec<Outgoing>,
        via: Via,
        anon: &str,
        at: i64,
        traits: Value,
        context: Value,
    ) {
        let at = self.clamp(at);
        let id = self.message_id();
        let mut message = json!({
            "type": "identify", "messageId": id, "anonymousId": anon, "timestamp": iso(at), "traits": traits, "context": context,
        });
        if via == Via::Wechat {
            message["channel"] = json!("wechat");
        }
        out.push(Outgoing { at, via, message });
    }

    fn push_group(
        &mut self,
        out: &mut Vec<Outgoing>,
        via: Via,
        anon: &str,
        at: i64,
        company: usize,
    ) {
        let at = self.clamp(at);
        let c = &self.companies[company];
        let traits = json!({
            "name": c.name, "industry": c.industry, "employees": c.size, "website": format!("https://www.{}", c.domain),
            "province": c.province, "city": c.city,
        });
        let group_id = c.group_id.clone();
        let id = self.message_id();
        let message = json!({"type": "group", "messageId": id, "anonymousId": anon, "timestamp": iso(at), "groupId": group_id, "traits": traits});
        out.push(Outgoing { at, via, message });
    }

    fn push_follow(
        &mut self,
        out: &mut Vec<Outgoing>,
        account: (&str, &str),
        open: &str,
        union: &str,
        at: i64,
        scene: &str,
    ) {
        let props = json!({"app_id": account.0, "account_name": account.1, "scene": scene});
        self.push_track(
            out,
            Via::Wechat,
            open,
            at,
            "Followed Official Account",
            props,
            wechat_context(account, open, union),
        );
    }
}

/// Context of a website message: the page it happened on and the browser.
fn page_context(page: usize, ua: &str) -> Value {
    let (path, title) = PAGES[page];
    json!({
        "page": {"path": path, "url": format!("{SITE}{path}"), "title": title},
        "userAgent": ua, "locale": "zh-CN", "library": {"name": "analytics.js", "version": "4.1.0"},
    })
}

/// Context of a WeChat message: the openID in its official account and the unionID across accounts.
fn wechat_context(account: (&str, &str), open: &str, union: &str) -> Value {
    json!({
        "externalIds": [
            {"id": open, "type": "wechat_openid", "collection": account.0},
            {"id": union, "type": "wechat_unionid"},
        ],
        "app": {"name": account.1},
        "locale": "zh-CN",
    })
}

/// Orders a cohort's messages in time and cuts them into request bodies per source: nine-day
/// windows in order, and in each window the WeChat batches before the website ones, so a person's
/// history arrives roughly as it happened.
fn cohort_batches(mut out: Vec<Outgoing>, now: i64) -> Vec<(Via, String)> {
    out.sort_by_key(|o| o.at);
    let sent_at = iso(now);
    let window = |at: i64| (now - at) / (9 * DAY);
    let mut batches = Vec::new();
    let mut i = 0;
    while i < out.len() {
        let w = window(out[i].at);
        let end = out[i..]
            .iter()
            .position(|o| window(o.at) != w)
            .map_or(out.len(), |n| i + n);
        for via in [Via::Wechat, Via::Website] {
            let (mut batch, mut bytes) = (Vec::new(), 0usize);
            for o in out[i..end].iter().filter(|o| o.via == via) {
                let m = o.message.to_string();
                if !batch.is_empty()
                    && (batch.len() >= BATCH_MESSAGES || bytes + m.len() > BATCH_BYTES)
                {
                    batches.push((via, batch_body(&batch, &sent_at)));
                    batch.clear();
                    bytes = 0;
                }
                bytes += m.len() + 1;
                batch.push(m);
            }
            if !batch.is_empty() {
                batches.push((via, batch_body(&batch, &sent_at)));
            }
        }
        i = end;
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_generates_the_same_people_and_messages() {
        let gen = |seed| {
            let mut g = Generator::new(seed, 40, 1_790_000_000_000);
            let mut out = Vec::new();
            for _ in 0..40 {
                g.person(&mut out);
            }
            out.into_iter()
                .map(|o| o.message.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(gen(7), gen(7));
        assert_ne!(gen(7), gen(8));
    }

    #[test]
    fn generated_messages_stay_within_the_last_ninety_days() {
        let now = 1_790_000_000_000;
        let mut g = Generator::new(3, 300, now);
        let mut out = Vec::new();
        for _ in 0..300 {
            g.person(&mut out);
        }
        for o in &out {
            assert!(
                o.at < now && o.at > now - (HISTORY_DAYS + 1) * DAY,
                "{} {}",
                (now - o.at) / DAY,
                o.message
            );
        }
        for (_, body) in cohort_batches(out, now) {
            let v: Value = serde_json::from_str(&body).unwrap();
            assert!(v["batch"].as_array().unwrap().len() <= BATCH_MESSAGES);
            assert!(body.len() <= 500 * 1024);
        }
    }

    #[test]
    fn uuids_look_like_uuids_and_numbers_get_separators() {
        let mut rng = StdRng::seed_from_u64(1);
        let u = uuid(&mut rng);
        assert_eq!(u.len(), 36);
        assert_eq!(u.matches('-').count(), 4);
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
    }
}
