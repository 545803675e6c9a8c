//! The console's two languages: Simplified Chinese (the default; the primary users are Chinese
//! marketers) and English. Every visible string is looked up here by key, and numbers and times
//! are formatted per language.

use axum::http::HeaderMap;
use chrono::{DateTime, Datelike, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

/// A console language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

/// The time zone times are shown in for a user who has not chosen one: China Standard Time,
/// where most of the console's users work.
pub const DEFAULT_TIME_ZONE: Tz = Tz::Asia__Shanghai;

/// The time zones offered on My account, in the order the choice lists them.
pub const TIME_ZONES: [Tz; 9] = [
    Tz::Asia__Shanghai,
    Tz::Asia__Hong_Kong,
    Tz::Asia__Singapore,
    Tz::Asia__Tokyo,
    Tz::Europe__London,
    Tz::Europe__Berlin,
    Tz::America__New_York,
    Tz::America__Los_Angeles,
    Tz::UTC,
];

/// One of the offered time zones by its IANA name.
pub fn offered_time_zone(name: &str) -> Option<Tz> {
    TIME_ZONES.into_iter().find(|tz| tz.name() == name)
}

/// The zone of a stored preference: the default when there is none (or it is no longer offered).
pub fn time_zone_of(stored: Option<&str>) -> Tz {
    stored
        .and_then(offered_time_zone)
        .unwrap_or(DEFAULT_TIME_ZONE)
}

/// How a user sees times: their language and their time zone. Every date and time a console
/// page shows goes through here, so it is in the zone the user chose on My account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Local {
    pub lang: Lang,
    pub tz: Tz,
}

impl Local {
    pub fn new(lang: Lang, tz: Tz) -> Local {
        Local { lang, tz }
    }

    fn at(self, ms: i64) -> DateTime<Tz> {
        let utc = Utc
            .timestamp_millis_opt(ms)
            .single()
            .unwrap_or_else(|| Utc.timestamp_millis_opt(0).unwrap());
        utc.with_timezone(&self.tz)
    }

    /// A date and time, e.g. `2026年11月25日 09:30` / `25 Nov 2026 09:30`.
    pub fn datetime(self, ms: i64) -> String {
        let t = self.at(ms);
        match self.lang {
            Lang::Zh => t.format("%Y年%-m月%-d日 %H:%M").to_string(),
            Lang::En => t.format("%-d %b %Y %H:%M").to_string(),
        }
    }

    /// How long ago `ms` was at `now`: `刚刚`, `5 分钟前`, `3 天前` / `just now`, `5 minutes ago`,
    /// `3 days ago` (months of 30 days, years of 365); a time in the future is shown as a date.
    pub fn relative(self, ms: i64, now: i64) -> String {
        let s = (now - ms) / 1000;
        if s < 0 {
            return self.datetime(ms);
        }
        let (n, zh, en) = match s {
            0..=59 => {
                return match self.lang {
                    Lang::Zh => "刚刚".to_owned(),
                    Lang::En => "just now".to_owned(),
                }
            }
            60..=3_599 => (s / 60, "分钟", "minute"),
            3_600..=86_399 => (s / 3_600, "小时", "hour"),
            86_400..=2_591_999 => (s / 86_400, "天", "day"),
            2_592_000..=31_535_999 => (s / 2_592_000, "个月", "month"),
            _ => (s / 31_536_000, "年", "year"),
        };
        match self.lang {
            Lang::Zh => format!("{n} {zh}前"),
            Lang::En => format!("{n} {en}{} ago", if n == 1 { "" } else { "s" }),
        }
    }

    /// A time of day, `09:30`.
    pub fn time(self, ms: i64) -> String {
        self.at(ms).format("%H:%M").to_string()
    }

    /// A day heading, e.g. `2026年11月25日 星期三` / `Wednesday, 25 November 2026`.
    pub fn day(self, ms: i64) -> String {
        let t = self.at(ms);
        match self.lang {
            Lang::Zh => {
                let wd = match t.weekday() {
                    Weekday::Mon => "一",
                    Weekday::Tue => "二",
                    Weekday::Wed => "三",
                    Weekday::Thu => "四",
                    Weekday::Fri => "五",
                    Weekday::Sat => "六",
                    Weekday::Sun => "日",
                };
                format!("{} 星期{wd}", t.format("%Y年%-m月%-d日"))
            }
            Lang::En => t.format("%A, %-d %B %Y").to_string(),
        }
    }

    /// The calendar day of a timestamp in the user's zone, to group a timeline by.
    pub fn day_key(self, ms: i64) -> chrono::NaiveDate {
        self.at(ms).date_naive()
    }

    /// The zone's name and its current offset, e.g. `Asia/Shanghai (UTC+08:00)`.
    pub fn zone_label(self, now_ms: i64) -> String {
        format!("{} (UTC{})", self.tz.name(), self.at(now_ms).format("%:z"))
    }
}

impl Lang {
    /// The BCP 47 tag, for `<html lang>` and the stored preference.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// Parses a stored preference or a switch link (`zh-CN`, `zh`, `en`, `en-GB` …).
    pub fn parse(s: &str) -> Option<Lang> {
        let primary = s.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "zh" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The best match for an `Accept-Language` header, by quality; Chinese when nothing matches.
    pub fn from_accept_language(header: &str) -> Lang {
        let mut best: Option<(f32, usize, Lang)> = None;
        for (i, part) in header.split(',').enumerate() {
            let mut bits = part.split(';');
            let tag = bits.next().unwrap_or_default();
            let q = bits
                .find_map(|b| b.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if let Some(lang) = Lang::parse(tag) {
                // Higher quality wins; on a tie, the earlier entry.
                if q > 0.0 && best.is_none_or(|(bq, _, _)| q > bq) {
                    best = Some((q, i, lang));
                }
            }
        }
        best.map_or(Lang::Zh, |(_, _, l)| l)
    }

    /// The language of a request before the user is known: the switch cookie, else
    /// `Accept-Language`.
    pub fn of_request(headers: &HeaderMap) -> Lang {
        if let Some(l) = super::session::cookie(headers, super::session::LANG_COOKIE)
            .as_deref()
            .and_then(Lang::parse)
        {
            return l;
        }
        headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|h| h.to_str().ok())
            .map_or(Lang::Zh, Lang::from_accept_language)
    }

    /// The other language, for the switch link.
    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    /// The language's own name, as the switch link shows it.
    pub fn own_name(self) -> &'static str {
        match self {
            Lang::Zh => "中文",
            Lang::En => "English",
        }
    }

    /// The message for `key`. A key missing from the catalogue shows as itself (a test checks
    /// that every key the templates use exists).
    pub fn t(self, key: &str) -> &'static str {
        match MESSAGES.iter().find(|(k, _, _)| *k == key) {
            Some((_, zh, en)) => match self {
                Lang::Zh => zh,
                Lang::En => en,
            },
            None => {
                debug_assert!(false, "missing console message `{key}`");
                "?"
            }
        }
    }

    /// An integer with thousands separators (both languages group by three in the console).
    pub fn number(self, n: i64) -> String {
        let digits = n.unsigned_abs().to_string();
        let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
        if n < 0 {
            out.push('-');
        }
        for (i, ch) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(ch);
        }
        out
    }

    /// A number to one decimal place, grouped like [`Lang::number`]; `.0` is left out.
    pub fn decimal(self, x: f64) -> String {
        let r = (x * 10.0).round() / 10.0;
        let whole = r.trunc() as i64;
        let tenth = ((r - r.trunc()).abs() * 10.0).round() as i64;
        let sign = if r < 0.0 && whole == 0 { "-" } else { "" };
        if tenth == 0 {
            format!("{sign}{}", self.number(whole))
        } else {
            format!("{sign}{}.{tenth}", self.number(whole))
        }
    }

    /// A short date for the axes of charts of UTC days (the rollups behind them count UTC
    /// days), e.g. `11月25日` / `25 Nov`.
    pub fn short_date(self, ms: i64) -> String {
        let t = Utc
            .timestamp_millis_opt(ms)
            .single()
            .unwrap_or_else(|| Utc.timestamp_millis_opt(0).unwrap());
        match self {
            Lang::Zh => t.format("%-m月%-d日").to_string(),
            Lang::En => t.format("%-d %b").to_string(),
        }
    }

    /// The label of an event kind; unknown kinds show as they are.
    pub fn event_kind(self, kind: &str) -> String {
        let key = format!("kind.{kind}");
        match MESSAGES.iter().find(|(k, _, _)| *k == key) {
            Some(_) => self.t(&key).to_owned(),
            None => kind.to_owned(),
        }
    }

    /// The label of an identity kind (`email`, `wechat_openid` …).
    pub fn identity_kind(self, kind: &str) -> String {
        let key = format!("identity.{kind}");
        match MESSAGES.iter().find(|(k, _, _)| *k == key) {
            Some(_) => self.t(&key).to_owned(),
            None => kind.to_owned(),
        }
    }

    /// What an import's rejection or warning code means, when the catalogue knows it.
    pub fn import_code(self, code: &str) -> Option<&'static str> {
        let key = format!("code.{code}");
        MESSAGES
            .iter()
            .any(|(k, _, _)| *k == key)
            .then(|| self.t(&key))
    }

    /// The label of a role.
    pub fn role(self, role: hatchery_domain::Role) -> &'static str {
        self.t(&format!("role.{}", role.as_str()))
    }
}

/// Event kinds a timeline can be filtered by, in the order the filter shows them.
pub const EVENT_KINDS: [&str; 10] = [
    "track",
    "page",
    "screen",
    "identify",
    "group",
    "alias",
    "import",
    "segment.entered",
    "segment.exited",
    "score.crossed",
];

/// (key, Simplified Chinese, English)
pub const MESSAGES: &[(&str, &str, &str)] = &[
    ("app.name", "Hatchery 孵化器", "Hatchery"),
    ("nav.skip", "跳到正文", "Skip to content"),
    ("nav.main", "主导航", "Main navigation"),
    ("nav.home", "首页", "Home"),
    ("nav.contacts", "联系人", "Contacts"),
    ("nav.account", "我的账号", "My account"),
    ("nav.imports", "导入", "Import"),
    ("nav.sign_out", "退出", "Sign out"),
    ("nav.accounts", "公司", "Accounts"),
    ("nav.settings", "设置", "Settings"),
    ("nav.scoring", "线索评分", "Scoring"),
    ("nav.lifecycle", "生命周期", "Lifecycle"),
    ("nav.tiers", "客户分层", "Tiers"),
    ("contact.consents", "授权同意", "Consent"),
    ("contact.consent_granted", "已同意", "granted"),
    ("contact.consent_withdrawn", "已撤回", "withdrawn"),
    ("contact.score_history", "评分变化（越过阈值）", "Score history (thresholds crossed)"),
    ("tags.title", "标签", "Tags"),
    ("tags.intro", "标签按类别归组：行业、角色、需求、价值、阶段，也可以用自己的类别。联系人列表可批量打标签，导入和 API 也会打标签。", "Tags are grouped by category: industry, role, need, value, stage, or your own. Tag contacts in bulk from the contacts list; imports and the API tag them too."),
    ("tags.name", "标签名", "Tag"),
    ("tags.category", "类别", "Category"),
    ("tags.create", "新建 / 归类", "Create / categorise"),
    ("tags.contacts", "联系人数", "Contacts"),
    ("tags.move", "改类别", "Category"),
    ("tags.save", "保存", "Save"),
    ("tags.none", "还没有标签。", "No tags yet."),
    ("tags.uncategorised", "未分类", "No category"),
    ("tags.category.industry", "行业", "Industry"),
    ("tags.category.role", "角色", "Role"),
    ("tags.category.need", "需求", "Need"),
    ("tags.category.value", "价值", "Value"),
    ("tags.category.stage", "阶段", "Stage"),
    ("contacts.sort", "排序", "Sort"),
    ("contact.changed", "资料更新于", "Profile changed"),
    ("contacts.bulk_tag", "给勾选的联系人打标签", "Tag the ticked contacts"),
    ("contacts.bulk_add", "加上标签", "Add tag"),
    ("contacts.bulk_remove", "去掉标签", "Remove tag"),
    ("contacts.bulk_none", "请先勾选联系人", "Tick some contacts first"),
    ("contacts.select", "选择", "Select"),
    ("tags.rules", "打标签规则", "Tag rules"),
    ("tags.rules_intro", "规则自动维护标签：满足条件的联系人带上该标签，不再满足时自动去掉，随数据变化和时间推移实时更新。写法见文档 docs/tags.md。", "A rule keeps its tag on exactly the contacts that meet its criteria, adding and removing it as their data changes and time passes. The rules are described in docs/tags.md."),
    ("tags.no_rules", "还没有规则。", "No rules yet."),
    ("tags.rules_model", "规则（JSON）", "Rules (JSON)"),
    ("tags.rules_save", "保存规则并重新打标签", "Save rules and re-tag"),
    ("tags.manage", "管理标签与类别", "Manage tags and categories"),
    ("tiers.title", "客户分层", "Customer tiers"),
    ("tiers.intro", "每个维度中，联系人归入条件首先满足的那一层；最后一层可以不设条件，接住其余所有人。增值客户按推荐关系计算：被推荐的联系人带有 referred_by 属性（推荐人的 userId 或联系人 ID）。每次分层变化都会记为事件。写法见文档 docs/tiers.md。", "In each dimension a contact is in the first tier whose criteria it meets; the last tier may have none and takes everyone else. Value-added hubs are computed from referrals: a referred contact carries a referred_by trait (the referrer's userId or contact id). Every change is an event. The model is described in docs/tiers.md."),
    ("tiers.off", "客户分层未启用", "Customer tiers are switched off"),
    ("tiers.off_hint", "尚未启用。下面是默认分层（客户价值：标杆、增值、普通；客户规模：KA、中型、小微），检查后保存即可启用。", "Not switched on yet. Below is the default model (value: benchmark, hub, regular; size: KA, mid-market, SMB): review it and save to switch tiers on."),
    ("tiers.criteria", "条件", "Criteria"),
    ("tiers.everyone_else", "其余所有人", "Everyone else"),
    ("tiers.model", "分层模型（JSON）", "Tier model (JSON)"),
    ("tiers.save", "保存并重新分层", "Save and classify contacts"),
    ("tiers.disable", "停用客户分层", "Switch tiers off"),
    ("tiers.contact", "客户分层", "Customer tiers"),
    ("tiers.none", "不属于任何一层", "In no tier"),
    ("tiers.referrals", "推荐带来的联系人", "Contacts referred"),
    ("lifecycle.title", "生命周期阶段", "Lifecycle stages"),
    ("lifecycle.intro", "联系人满足某阶段的进入条件时自动进入该阶段（只沿允许的流转、只向前），没有进入条件的阶段由人工或 CRM 推进。每次流转都会记录时间、原因和上一阶段。写法见文档 docs/lifecycle.md。", "Contacts enter a stage automatically when they meet its entry criteria (only along allowed transitions, only forward); stages without criteria are entered by hand or by the CRM. Every move is stored with its time, cause and previous stage. The model is described in docs/lifecycle.md."),
    ("lifecycle.enabled", "状态", "Status"),
    ("lifecycle.on", "已启用", "On"),
    ("lifecycle.off", "生命周期阶段未启用", "Lifecycle stages are switched off"),
    ("lifecycle.off_hint", "尚未启用。下面是默认阶段，检查后保存即可启用；保存后所有联系人将在后台按条件归入阶段。", "Not switched on yet. Below are the default stages: review them and save to switch stages on; every contact is then placed in the background."),
    ("lifecycle.funnel", "漏斗：各阶段当前联系人数", "Funnel: contacts at each stage now"),
    ("lifecycle.entered_30", "近 30 天进入", "entered in 30 days"),
    ("lifecycle.unstaged", "尚无阶段的联系人", "Contacts without a stage"),
    ("lifecycle.stages", "阶段定义", "Stages"),
    ("lifecycle.key", "标识", "Key"),
    ("lifecycle.name", "名称", "Name"),
    ("lifecycle.entry", "进入条件", "Entry criteria"),
    ("lifecycle.next", "可流转到", "May move on to"),
    ("lifecycle.hold", "最短停留", "Hold"),
    ("lifecycle.days", "天", "days"),
    ("lifecycle.manual", "人工 / CRM 推进", "By hand / CRM"),
    ("lifecycle.model", "阶段模型（JSON）", "Stage model (JSON)"),
    ("lifecycle.save", "保存并重新归类", "Save and place contacts"),
    ("lifecycle.disable", "停用生命周期阶段", "Switch stages off"),
    ("lifecycle.invalid", "模型有误：", "The model is invalid:"),
    ("lifecycle.stage", "生命周期阶段", "Lifecycle stage"),
    ("lifecycle.since", "进入于", "since"),
    ("lifecycle.no_stage", "尚无阶段", "No stage yet"),
    ("lifecycle.history", "阶段历史", "Stage history"),
    ("lifecycle.move", "变更阶段", "Move to stage"),
    ("lifecycle.reason", "原因（可选）", "Reason (optional)"),
    ("lifecycle.move_button", "变更", "Move"),
    ("lifecycle.reason_too_long", "原因不能超过 500 个字符", "The reason cannot be longer than 500 characters"),
    ("lifecycle.from_to", "流转", "Move"),
    ("lifecycle.when", "时间", "When"),
    ("lifecycle.cause", "原因类型", "Cause"),
    ("lifecycle.cause.rule", "规则自动", "Rule"),
    ("lifecycle.cause.user", "人工", "User"),
    ("lifecycle.cause.api", "API", "API"),
    ("lifecycle.cause.crm", "CRM", "CRM"),
    ("segment.describe.in_segment", "属于分群", "In segment"),
    ("segment.describe.stage", "生命周期阶段为", "Lifecycle stage is"),
    ("segment.describe.tier", "客户分层", "Tier"),
    ("segment.describe.referrals", "推荐带来的联系人数", "Contacts referred"),
    ("segment.describe.consent", "已同意", "Consented to"),
    ("scoring.title", "线索评分模型", "Lead scoring model"),
    ("scoring.intro", "匹配度来自联系人是谁，活跃度来自其行为并随时间衰减。保存后所有联系人将在后台重新评分。规则写法见文档 docs/scoring.md。", "Fit comes from who a contact is, engagement from what they did, fading over time. Saving re-scores every contact in the background. The rules are described in docs/scoring.md."),
    ("scoring.version", "模型版本", "Model version"),
    ("scoring.waiting", "待评估联系人", "Contacts waiting to be evaluated"),
    ("scoring.model", "评分模型（JSON）", "Scoring model (JSON)"),
    ("scoring.test_contact", "用此模型为联系人试算（联系人 ID）", "Try the model on a contact (contact id)"),
    ("scoring.test", "试算", "Try it"),
    ("scoring.save", "保存并重新评分", "Save and re-score"),
    ("scoring.result", "试算结果：", "Result for "),
    ("scoring.no_reasons", "没有规则命中", "No rule applies"),
    ("scoring.tested", "试算结果未保存", "A try stores nothing"),
    ("scoring.too_large", "模型过大", "The model is too large"),
    ("scoring.not_json", "不是有效的 JSON", "Not valid JSON"),
    ("scoring.invalid", "模型有误，位置", "The model is invalid at"),
    ("scoring.bad_contact", "请输入联系人 ID，例如 ct_42", "Enter a contact id such as ct_42"),
    ("accounts.title", "公司（客户）", "Accounts"),
    ("accounts.search_hint", "公司名称或域名开头", "Start of a company name or domain"),
    ("accounts.none", "没有符合条件的公司。", "No accounts match."),
    ("accounts.contacts", "联系人数", "Contacts"),
    ("accounts.external_id", "外部 ID", "External id"),
    ("accounts.your_contacts", "联系人", "Contacts"),
    ("accounts.no_contacts", "没有您可见的联系人。", "No contacts you can see."),
    ("accounts.more_contacts", "更多联系人", "More contacts"),
    ("accounts.first_contacts", "第一页联系人", "First contacts"),
    ("accounts.timeline", "最近动态", "Recent activity"),
    ("accounts.timeline_hint", "该公司联系人的事件，最新在前。", "Events of the account's contacts, newest first."),
    ("accounts.when", "时间", "When"),
    ("settings.title", "设置", "Settings"),
    ("settings.organisation", "组织", "Organisation"),
    ("settings.units", "业务单元", "Business units"),
    ("settings.users", "用户与角色", "Users and roles"),
    ("settings.api_keys", "API 密钥", "API keys"),
    ("settings.sources", "数据采集源", "Tracking sources"),
    ("settings.fields", "自定义字段", "Custom fields"),
    ("settings.none", "暂无。", "None yet."),
    ("settings.name", "名称", "Name"),
    ("settings.kind", "类型", "Kind"),
    ("settings.prefix", "密钥开头", "Key starts"),
    ("settings.scopes", "权限范围", "Scopes"),
    ("settings.scopes_hint", "admin 包含其他所有权限。", "admin includes every other scope."),
    ("settings.last_used", "最近使用", "Last used"),
    ("settings.revoked", "已吊销", "Revoked"),
    ("settings.disabled", "已停用", "Disabled"),
    ("settings.actions", "操作", "Actions"),
    ("settings.revoke", "吊销", "Revoke"),
    ("settings.disable", "停用", "Disable"),
    ("settings.revoke_role", "收回", "Revoke"),
    ("settings.cancel", "取消", "Cancel"),
    ("settings.api_keys_intro", "REST API 的调用方（CRM 同步、脚本）用 API 密钥认证。密钥只在创建后显示一次。", "Callers of the REST API (CRM syncs, scripts) authenticate with an API key. A key is shown only once, right after it is created."),
    ("settings.sources_intro", "网站、App 和服务器用数据采集源的写入密钥把事件发到 /v1/*。写入密钥只在创建后显示一次。", "Websites, apps and servers send events to /v1/* with a tracking source's write key. The write key is shown only once, right after it is created."),
    ("settings.secret_once", "请立即复制并妥善保存：离开此页后将无法再次查看。", "Copy it now and keep it safe: it cannot be shown again once you leave this page."),
    ("settings.new_key", "新建 API 密钥", "New API key"),
    ("settings.create_key", "创建密钥", "Create key"),
    ("settings.key_created", "API 密钥已创建。", "The API key was created."),
    ("settings.key_revoked", "API 密钥已吊销，使用它的请求将被拒绝。", "The API key was revoked; requests using it are refused."),
    ("settings.revoke_key", "吊销 API 密钥", "Revoke API key"),
    ("settings.revoke_key_question", "吊销后，使用此密钥的所有调用将立即被拒绝，且无法恢复。确定吊销吗？", "Once revoked, every call using this key is refused at once, and this cannot be undone. Revoke it?"),
    ("settings.new_source", "新建数据采集源", "New tracking source"),
    ("settings.create_source", "创建采集源", "Create source"),
    ("settings.source_created", "数据采集源已创建。", "The tracking source was created."),
    ("settings.source_disabled", "数据采集源已停用，其写入密钥将被拒绝。", "The tracking source was disabled; its write key is refused."),
    ("settings.disable_source", "停用数据采集源", "Disable tracking source"),
    ("settings.disable_source_question", "停用后，用此写入密钥发送的事件将被拒绝，且无法恢复。确定停用吗？", "Once disabled, events sent with this write key are refused, and this cannot be undone. Disable it?"),
    ("settings.intake", "接收日志", "Intake log"),
    ("settings.intake_intro", "采集接口先把请求写入接收日志并落盘，再回复成功；随后在后台写入数据池。", "The tracking endpoints answer once a request is written to the intake log on disk; it is then applied to the pool behind."),
    ("settings.intake_off", "接收日志未开启：采集接口在写入数据库后才回复成功，不会有待处理或被搁置的请求。", "The intake log is off: the tracking endpoints answer once a request is committed to the database, so nothing waits and nothing is set aside."),
    ("settings.intake_backlog", "已确认、待写入数据池的消息数：", "Messages acknowledged and not yet applied:"),
    ("settings.intake_set_aside", "被搁置的请求", "Requests set aside"),
    ("settings.intake_none", "没有被搁置的请求。", "No request is set aside."),
    ("settings.intake_set_aside_hint", "这些请求已向发送方确认，但多次写入数据池都失败了。排除原因后可重新写入；丢弃则其中的消息永久丢失。", "These requests were acknowledged to their senders, but applying them to the pool failed repeatedly. Apply one again once the cause is fixed; discarding it loses its messages for good."),
    ("settings.intake_received", "接收时间", "Received"),
    ("settings.intake_endpoint", "接口", "Endpoint"),
    ("settings.intake_messages", "消息数", "Messages"),
    ("settings.intake_reason", "原因", "Reason"),
    ("settings.intake_retry", "重新写入", "Apply again"),
    ("settings.intake_retried", "请求已重新接收，将在后台写入数据池；若仍失败，会以新编号再次搁置。", "The request was accepted again and is applied behind; if it still fails, it is set aside again under a new number."),
    ("settings.intake_unreadable", "该请求无法解析，不能重新写入；只能丢弃。", "The request cannot be read, so it cannot be applied; it can only be discarded."),
    ("settings.intake_discard", "丢弃被搁置的请求", "Discard a set-aside request"),
    ("settings.intake_discard_question", "丢弃后，请求中的消息永久丢失，且无法恢复。确定丢弃吗？", "Once discarded, the request's messages are lost for good, and this cannot be undone. Discard it?"),
    ("settings.intake_discard_button", "丢弃", "Discard"),
    ("settings.intake_discarded", "请求已丢弃。", "The request was discarded."),
    ("settings.snippets", "接入代码", "Snippets"),
    ("settings.snippets_intro", "把 WRITE_KEY 换成采集源的写入密钥。", "Replace WRITE_KEY with the source's write key."),
    ("settings.snippet_browser", "网站（analytics.js）", "Website (analytics.js)"),
    ("settings.snippet_curl", "命令行或服务器（curl）", "Shell or server (curl)"),
    ("settings.save", "保存", "Save"),
    ("settings.new_unit", "新建业务单元", "New business unit"),
    ("settings.create_unit", "创建业务单元", "Create business unit"),
    ("settings.unit_created", "业务单元已创建。", "The business unit was created."),
    ("settings.policy_saved", "联系人可见范围已保存。", "Contact visibility was saved."),
    ("settings.policy_intro", "各业务单元能否看到彼此的联系人", "Whether business units see each other's contacts"),
    ("settings.policy_hint", "隔离时，只在某些业务单元有角色的用户只能看到这些单元的联系人和自己负责的联系人；未分配业务单元的联系人只有全组织角色可见。", "When isolated, users whose roles are all in some units see only those units' contacts and the contacts they own; contacts in no unit are seen by org-wide roles only."),
    ("settings.user", "用户", "User"),
    ("settings.roles", "角色", "Roles"),
    ("settings.role", "角色", "Role"),
    ("settings.grant", "授予角色", "Grant role"),
    ("settings.grant_role", "授予角色", "Grant a role"),
    ("settings.new_user", "新建用户", "New user"),
    ("settings.create_user", "创建用户", "Create user"),
    ("settings.initial_password", "初始密码", "Initial password"),
    ("settings.user_created", "用户已创建。请通过安全渠道把初始密码告诉对方，并请其登录后修改。", "The user was created. Give them the initial password through a safe channel and ask them to change it after signing in."),
    ("settings.role_granted", "角色已授予。", "The role was granted."),
    ("settings.role_revoked", "角色已收回。", "The role was revoked."),
    ("settings.error.unit_exists", "已有同名业务单元。", "A business unit with this name already exists."),
    ("settings.error.policy", "请选择一种可见范围。", "Choose a visibility policy."),
    ("settings.error.grant", "请选择本组织的用户、角色和业务单元（或全组织）。", "Choose a user, a role and a business unit of this organisation (or the whole organisation)."),
    ("settings.error.user_exists", "已有使用此邮箱的用户。", "A user with this email already exists."),
    ("settings.error.last_admin", "组织的最后一位全组织管理员不能被收回管理员角色。", "The organisation's last org-wide administrator cannot lose the role."),
    ("settings.org_renamed", "组织名称已保存。", "The organisation's name was saved."),
    ("settings.rules", "身份识别规则", "Identity resolution rules"),
    ("settings.rules_intro", "决定哪些标识能把事件归到同一联系人、以及何时合并两个档案。修改只影响之后的事件，已有的关联不会撤销。", "They decide which identifiers bring events to the same contact and when two profiles merge. Changes apply to new events; existing links are not undone."),
    ("settings.priority", "优先级", "Priority"),
    ("settings.max_per_contact", "每个联系人最多", "Most per contact"),
    ("settings.merges_known", "可合并已知档案", "May merge known profiles"),
    ("settings.unlimited", "不限", "Unlimited"),
    ("settings.yes", "是", "Yes"),
    ("settings.no", "否", "No"),
    ("settings.blocked_values", "不作为标识的值", "Values never used as identifiers"),
    ("settings.rules_json", "规则（JSON）", "Rules (JSON)"),
    ("settings.save_rules", "保存规则", "Save rules"),
    ("settings.rules_saved", "身份识别规则已保存，新事件将按新规则处理。", "The identity rules were saved; new events follow them."),
    ("settings.fields_intro", "自定义字段保存在联系人资料中；定义字段后，其名称和类型用于显示和校验 API 修改。", "Custom fields live on contacts' profiles; a definition gives a field its label and the type API edits are checked against."),
    ("settings.field_key", "字段键", "Key"),
    ("settings.field_key_hint", "1–64 个小写字母、数字或下划线，不能与标准字段同名。", "1–64 lower-case letters, digits or underscores, not a standard field's name."),
    ("settings.field_label", "显示名称", "Label"),
    ("settings.new_field", "新建自定义字段", "New custom field"),
    ("settings.create_field", "创建字段", "Create field"),
    ("settings.field_created", "自定义字段已创建。", "The custom field was created."),
    ("settings.error.org_name", "请填写组织名称（最多 200 个字符）。", "Enter the organisation's name (at most 200 characters)."),
    ("settings.error.rules", "规则未保存：", "The rules were not saved:"),
    ("settings.error.field_key", "字段键须为 1–64 个小写字母、数字或下划线，且不能是标准字段。", "The key must be 1–64 lower-case letters, digits or underscores, and not a standard field."),
    ("settings.error.field_label", "请填写显示名称（最多 100 个字符）。", "Enter a label (at most 100 characters)."),
    ("settings.error.field_type", "请选择一种类型。", "Choose a type."),
    ("settings.error.field_exists", "已有使用此键的自定义字段。", "A custom field with this key already exists."),
    ("settings.error.name", "请填写名称（最多 100 个字符）。", "Enter a name (at most 100 characters)."),
    ("settings.error.scopes", "请至少选择一个权限范围。", "Choose at least one scope."),
    ("settings.error.kind", "请选择一种类型。", "Choose a kind."),
    ("nav.switch_language", "切换语言", "Switch language"),
    ("footer.times", "时间均为北京时间 (UTC+8)", "Times are China Standard Time (UTC+8)"),
    ("setup.title", "初始设置", "First-run setup"),
    ("setup.intro", "这是一个新的 Hatchery 实例。请创建组织的第一位管理员。", "This is a new Hatchery instance. Create the organisation's first administrator."),
    ("setup.submit", "创建管理员并登录", "Create the administrator and sign in"),
    ("field.name", "姓名", "Name"),
    ("field.email", "邮箱", "Email"),
    ("field.password", "密码", "Password"),
    ("field.password_confirm", "确认密码", "Confirm password"),
    ("field.password_hint", "至少 10 个字符", "At least 10 characters"),
    ("field.current_password", "当前密码", "Current password"),
    ("field.new_password", "新密码", "New password"),
    ("sign_in.title", "登录", "Sign in"),
    ("sign_in.submit", "登录", "Sign in"),
    ("sign_in.failed", "邮箱或密码不正确。", "The email or password is incorrect."),
    ("sign_in.signed_out", "您已退出。", "You have signed out."),
    ("throttled.title", "尝试次数过多", "Too many attempts"),
    ("throttled.body", "登录失败次数过多。请 15 分钟后再试。", "Too many failed sign-ins. Try again in 15 minutes."),
    ("password.title", "修改密码", "Change password"),
    ("password.submit", "修改密码", "Change password"),
    ("password.changed", "密码已修改，其他设备上的登录已退出。", "Your password was changed; sessions on other devices were signed out."),
    ("password.wrong_current", "当前密码不正确。", "The current password is incorrect."),
    ("error.password_length", "密码长度须为 10 到 128 个字符。", "The password must be 10 to 128 characters long."),
    ("error.password_mismatch", "两次输入的密码不一致。", "The two passwords do not match."),
    ("error.name_required", "请填写姓名（最多 100 个字符）。", "Enter a name (at most 100 characters)."),
    ("error.email_invalid", "邮箱格式不正确。", "The email address is not valid."),
    ("error.form_expired", "表单已过期或来源不明。请刷新页面后重试。", "The form expired or did not come from this site. Reload the page and try again."),
    ("error.forbidden.title", "无权访问", "Access denied"),
    ("error.forbidden.body", "您的角色或业务单元无权查看此页面。如需访问，请联系管理员。", "Your role or business unit does not allow you to see this page. Ask an administrator if you need access."),
    ("error.not_found.title", "页面不存在", "Page not found"),
    ("error.not_found.body", "找不到您要的内容。", "What you were looking for does not exist."),
    ("error.bad_request.title", "请求有误", "Bad request"),
    ("error.unavailable.title", "暂时无法完成", "Temporarily unavailable"),
    ("error.unavailable.body", "数据库暂时无法完成请求，请稍后重试。", "The database could not complete the request; try again shortly."),
    ("error.back_home", "返回首页", "Back to the home page"),
    ("error.too_large.title", "文件过大", "File too large"),
    ("imports.title", "导入", "Import"),
    ("imports.new", "上传文件", "Upload a file"),
    ("imports.file", "文件", "File"),
    ("imports.file_hint", "CRM 或 Excel 导出的 CSV（UTF-8 或 GBK）或 XLSX（第一个工作表），第一行为表头。", "A CSV (UTF-8 or GBK) or XLSX (first sheet) exported from a CRM or Excel, headers in the first row."),
    ("imports.max_size", "最大", "At most"),
    ("imports.upload", "上传并设置字段映射", "Upload and map the columns"),
    ("imports.past", "导入记录", "Past imports"),
    ("imports.none", "还没有导入记录。", "No imports yet."),
    ("imports.id", "编号", "Id"),
    ("imports.status", "状态", "Status"),
    ("imports.started", "开始于", "Started"),
    ("import.upload_failed", "上传未完成", "The upload did not complete"),
    ("import.no_file", "请选择要上传的文件（不能为空文件）。", "Choose a file to upload (it must not be empty)."),
    ("import.too_large", "文件超过 {size}。请拆分文件，或在服务器上用 hatchery import 导入。", "The file is larger than {size}. Split it, or import it on the server with hatchery import."),
    ("import.unreadable", "无法读取文件", "The file cannot be read"),
    ("import.column", "列", "Column"),
    ("mapping.title", "字段映射", "Column mapping"),
    ("mapping.intro", "已根据表头猜测每一列的去向，请检查并修改。至少需要一列能识别联系人（手机、邮箱、电话、unionID 等）。", "Each column's target was guessed from its header; check and correct it. At least one column must identify the contact (mobile, email, phone, unionID …)."),
    ("mapping.column", "列（表头）", "Column (header)"),
    ("mapping.target", "导入为", "Import as"),
    ("mapping.samples", "示例值", "Sample values"),
    ("mapping.tag", "批次标签", "Batch tag"),
    ("mapping.tag_hint", "留空则使用“import:文件名 日期”", "Leave empty for “import:file name date”"),
    ("mapping.dry_run", "试运行（不写入）", "Dry run (writes nothing)"),
    ("mapping.run", "开始导入", "Run the import"),
    ("target.ignore", "忽略", "Ignore"),
    ("target.name", "姓名", "Name"),
    ("target.email", "邮箱", "Email"),
    ("target.mobile", "手机", "Mobile"),
    ("target.landline", "座机", "Landline"),
    ("target.company", "公司", "Company"),
    ("target.title", "职位", "Job title"),
    ("target.department", "部门", "Department"),
    ("target.industry", "行业", "Industry"),
    ("target.company_size", "公司规模", "Company size"),
    ("target.province", "省份", "Province"),
    ("target.city", "城市", "City"),
    ("target.source", "来源", "Source"),
    ("target.phone", "电话（自动区分手机/座机）", "Phone (sorted into mobile or landline)"),
    ("target.identity", "标识", "Identifier"),
    ("target.custom", "自定义字段", "Custom field"),
    ("target.tags", "标签", "Tags"),
    ("import.title", "导入", "Import"),
    ("import.status.queued", "排队中", "Queued"),
    ("import.status.running", "进行中", "Running"),
    ("import.status.completed", "已完成", "Completed"),
    ("import.status.failed", "失败", "Failed"),
    ("import.dry_run", "试运行", "dry run"),
    ("import.dry_run_notice", "这是一次试运行：以下是正式导入将得到的结果，联系人池中没有写入任何数据。", "This was a dry run: below is what the import would do; nothing was written to the pool."),
    ("import.processed", "已处理行数", "Rows processed"),
    ("import.refreshing", "本页每 2 秒自动刷新，直到导入结束。", "This page refreshes every 2 seconds until the import ends."),
    ("import.failed_because", "导入失败：", "The import failed:"),
    ("import.result", "结果", "Result"),
    ("import.rows", "数据行", "Rows"),
    ("import.created", "新建", "Created"),
    ("import.updated", "更新（已在池中）", "Updated (already in the pool)"),
    ("import.duplicates", "文件内重复", "Duplicates in the file"),
    ("import.merged", "合并", "Merged"),
    ("import.rejected", "拒绝", "Rejected"),
    ("import.reach", "触达方式", "How the batch can be reached"),
    ("import.reach.contacts", "联系人", "Contacts"),
    ("import.reach.wechat", "有微信", "With WeChat"),
    ("import.reach.mobile", "有手机", "With a mobile"),
    ("import.reach.landline", "有座机", "With a landline"),
    ("import.reach.email", "有邮箱", "With an email"),
    ("import.rejections", "被拒绝的行", "Rejected rows"),
    ("import.row", "行号", "Row"),
    ("import.code", "原因代码", "Code"),
    ("import.reason", "原因", "Reason"),
    ("import.more_rejected", "只显示前 20 行；全部被拒绝的行请下载。", "Only the first 20 are shown; download them all."),
    ("import.download_rejected", "下载被拒绝的行（CSV）", "Download the rejected rows (CSV)"),
    ("import.warnings", "已导入但有值被丢弃", "Imported with values dropped"),
    ("import.rows_at", "行号", "rows"),
    ("import.next", "正式导入", "Run it for real"),
    ("import.change_mapping", "修改字段映射", "Change the mapping"),
    ("import.finished", "结束于", "Finished"),
    ("code.no_identifier", "没有可识别联系人的手机、邮箱或其他标识", "No mobile, email or other identifier"),
    ("code.landline_only", "只有座机号码，无法区分个人", "Only a landline, which cannot tell people apart"),
    ("code.extra_cells", "单元格数多于表头列数", "More cells than the header has columns"),
    ("code.invalid_email", "邮箱格式不正确", "Invalid email"),
    ("code.invalid_mobile", "手机号码不正确", "Invalid mobile number"),
    ("code.invalid_phone", "电话号码不正确", "Invalid phone number"),
    ("code.invalid_landline", "座机号码不正确", "Invalid landline number"),
    ("code.landline_not_mobile", "手机列中是座机号码", "A landline in a mobile column"),
    ("code.invalid_openid", "微信 openID 格式不正确", "Invalid WeChat openID"),
    ("import.back", "返回导入列表", "Back to the imports"),
    ("home.title", "首页", "Home"),
    ("home.new_contacts", "近 30 天每日新增联系人", "New contacts per day, last 30 days"),
    ("home.new_events", "近 30 天每日接收事件", "Events received per day, last 30 days"),
    ("home.top_sources", "近 30 天新增联系人来源 Top 5", "Top sources of new contacts, last 30 days"),
    ("home.no_source", "（未知来源）", "(no source)"),
    ("home.no_new", "近 30 天没有新增联系人", "No new contacts in the last 30 days"),
    ("home.total", "合计", "Total"),
    ("home.peak", "峰值", "Peak"),
    ("home.days_utc", "按 UTC 日期统计", "Days in UTC"),
    ("home.welcome", "欢迎，", "Welcome, "),
    ("home.pool_size", "流量池联系人", "Contacts in the pool"),
    ("home.visible", "您可见的联系人", "Contacts you can see"),
    ("home.events", "已记录事件", "Events recorded"),
    ("home.roles", "您的角色", "Your roles"),
    ("home.org_wide", "全组织", "Whole organisation"),
    ("home.policy", "联系人可见范围", "Contact visibility"),
    ("policy.shared", "共享：所有业务单元共用一个流量池", "Shared: all business units use one pool"),
    ("policy.bu_isolated", "按业务单元隔离", "Isolated per business unit"),
    ("contacts.title", "联系人", "Contacts"),
    ("contacts.search", "搜索", "Search"),
    ("contacts.search_hint", "姓名、公司、邮箱或手机号开头", "Start of a name, company, email or mobile"),
    ("contacts.source", "来源", "Source"),
    ("contacts.tag", "标签", "Tag"),
    ("contacts.any", "全部", "Any"),
    ("contacts.apply", "筛选", "Filter"),
    ("contacts.clear", "清除筛选", "Clear filters"),
    ("contacts.none", "没有符合条件的联系人。", "No contacts match."),
    ("contacts.next", "下一页", "Next page"),
    ("contacts.first", "第一页", "First page"),
    ("contacts.company", "公司", "Company"),
    ("contacts.title_col", "职位", "Title"),
    ("contacts.created", "创建时间", "Created"),
    ("contacts.unnamed", "（未命名）", "(no name)"),
    ("contact.profile", "资料", "Profile"),
    ("contact.mobile", "手机", "Mobile"),
    ("contact.landline", "固定电话", "Landline"),
    ("contact.department", "部门", "Department"),
    ("contact.industry", "行业", "Industry"),
    ("contact.company_size", "公司规模", "Company size"),
    ("contact.region", "地区", "Region"),
    ("contact.business_unit", "业务单元", "Business unit"),
    ("contact.owner", "负责人", "Owner"),
    ("contact.updated", "更新时间", "Updated"),
    ("contact.traits", "自定义字段", "Custom fields"),
    ("contact.tags", "标签", "Tags"),
    ("contact.no_tags", "暂无标签", "No tags"),
    ("contact.segments", "所在分群", "Segments"),
    ("contact.score", "线索评分", "Lead score"),
    ("contact.not_scored", "尚未评分", "Not scored yet"),
    ("contact.fit", "匹配度", "Fit"),
    ("contact.engagement", "活跃度", "Engagement"),
    ("contact.grade", "等级", "Grade"),
    ("contact.reasons", "评分依据", "Why"),
    ("kind.score.crossed", "评分越过阈值", "Score crossed"),
    ("contact.no_segments", "不在任何分群中", "In no segment"),
    ("contact.entered_at", "加入于", "since"),
    ("contact.account", "所属公司（客户）", "Account"),
    ("contact.no_account", "未关联公司", "No account"),
    ("contact.domain", "域名", "Domain"),
    ("contact.identities", "身份标识", "Identities"),
    ("contact.identity_kind", "类型", "Kind"),
    ("contact.identity_value", "值", "Value"),
    ("contact.identity_origin", "来源", "Learnt from"),
    ("contact.since", "时间", "Since"),
    ("contact.merges", "合并记录", "Merge history"),
    ("contact.no_merges", "没有合并记录", "No merges"),
    ("contact.merged", "并入的档案", "Profile merged in"),
    ("contact.linked_by", "关联依据", "Linked by"),
    ("contact.cause", "原因", "Cause"),
    ("contact.timeline", "时间线", "Timeline"),
    ("contact.all_kinds", "全部", "All"),
    ("contact.filter_kind", "按类型筛选", "Filter by kind"),
    ("contact.no_events", "没有事件", "No events"),
    ("contact.older", "更早的事件", "Older events"),
    ("contact.newest", "最新事件", "Newest events"),
    ("contact.none", "—", "—"),
    // Segments (分群): the list, the builder and a segment's page.
    ("nav.segments", "分群", "Segments"),
    ("segments.title", "分群", "Segments"),
    ("segments.intro", "分群是保存下来的筛选条件，成员随联系人变化实时更新。", "A segment is a saved filter; its members stay current as contacts change."),
    ("segments.none", "还没有分群。", "No segments yet."),
    ("segments.description", "说明", "Description"),
    ("segments.status", "状态", "Status"),
    ("segments.members", "成员数", "Members"),
    ("segments.updated", "更新时间", "Updated"),
    ("segment.new", "新建分群", "New segment"),
    ("segment.edit", "编辑分群", "Edit segment"),
    ("segment.name", "名称", "Name"),
    ("segment.name_hint", "1 到 100 个字符，组织内唯一", "1 to 100 characters, unique in the organisation"),
    ("segment.description_hint", "可选，最多 1000 个字符", "Optional, at most 1,000 characters"),
    ("segment.filter", "筛选条件（JSON）", "Filter (JSON)"),
    ("segment.filter_hint", "用分群筛选语言编写：all / any / not 组合 field、trait、account、tag、identity、event 条件。", "Written in the segment filter language: all / any / not over field, trait, account, tag, identity and event conditions."),
    ("segment.preview", "预览", "Preview"),
    ("segment.save", "保存", "Save"),
    ("segment.cancel", "取消", "Cancel"),
    ("segment.preview_title", "预览", "Preview"),
    ("segment.preview_count", "当前符合条件的联系人", "Contacts matching now"),
    ("segment.preview_sample", "最新的 20 位", "The 20 newest"),
    ("segment.preview_none", "目前没有联系人符合条件。", "No contact matches now."),
    ("segment.error.name", "请填写名称（1 到 100 个字符）。", "Enter a name (1 to 100 characters)."),
    ("segment.error.name_taken", "已有同名分群，请换一个名称。", "A segment with this name already exists; choose another name."),
    ("segment.error.description", "说明最多 1000 个字符。", "The description may have at most 1,000 characters."),
    ("segment.error.json", "筛选条件不是有效的 JSON：", "The filter is not valid JSON:"),
    ("segment.error.filter_at", "筛选条件有误，位置", "The filter is wrong at"),
    ("segment.errors", "请修改以下问题后再保存，尚未保存任何内容。", "Correct the problems below; nothing was saved."),
    ("segment.status.pending", "计算中", "Pending"),
    ("segment.status.ready", "已就绪", "Ready"),
    ("segment.pending_notice", "成员正在后台计算，本页每 2 秒自动刷新，直到完成。", "The members are being computed in the background; this page refreshes every 2 seconds until they are."),
    ("segment.filter_words", "条件", "Conditions"),
    ("segment.filter_json", "JSON 形式", "As JSON"),
    ("segment.filter_unreadable", "保存的筛选条件已不符合当前语言规则，请编辑后保存。", "The saved filter no longer meets the language's rules; edit and save it."),
    ("segment.created", "创建时间", "Created"),
    ("segment.materialised", "上次整体计算", "Last computed in full"),
    ("segment.size", "规模变化", "Size over time"),
    ("segment.members", "成员", "Members"),
    ("segment.members_limited", "只显示您所在业务单元可见的成员。", "Only the members your business units may see are shown."),
    ("segment.no_members", "没有成员。", "No members."),
    ("segment.entered", "加入时间", "Entered"),
    ("segment.delete", "删除分群", "Delete segment"),
    ("segment.delete_confirm", "确认删除：成员记录和规模历史将一并删除，且不会产生离开事件。", "Confirm: the members and size history are deleted too, without exit events."),
    ("segment.delete_unconfirmed", "请勾选确认后再删除。", "Tick the confirmation to delete."),
    ("segment.chart.title", "近 {days} 天的分群规模", "Segment size over the last {days} days"),
    ("segment.chart.desc", "{from} 至 {to} 的每日成员数阶梯图，最高 {max}，当前 {now}。", "Step chart of the daily member count from {from} to {to}; highest {max}, now {now}."),
    ("segment.chart.empty", "这段时间还没有规模记录。", "No size recorded in this period yet."),
    ("segment.describe.all", "全部满足：", "All of: "),
    ("segment.describe.any", "任一满足：", "Any of: "),
    ("segment.describe.not", "不满足 ", "Not "),
    ("segment.describe.separator", "；", "; "),
    ("segment.describe.list_separator", "、", ", "),
    ("segment.describe.trait", "自定义字段", "Custom field"),
    ("segment.describe.account", "客户", "Account"),
    ("segment.describe.account_trait", "客户自定义字段", "Account custom field"),
    ("segment.describe.account_name", "名称", "Name"),
    ("segment.describe.tag", "标签", "Tag"),
    ("segment.describe.has", "有", "Has"),
    ("segment.describe.any_event", "任意事件", "Any event"),
    ("segment.describe.times", "次", "times"),
    ("segment.describe.within_days", "近 {days} 天", "in the last {days} days"),
    ("segment.describe.since", "自 {time} 起", "since {time}"),
    ("segment.rows", "条件", "Conditions"),
    ("segment.rows_hint", "每行一个条件，缩进的行属于上方的条件组。更改类型后点“预览”即显示相应的输入框；“属于”的多个值用逗号分隔。", "One condition per line; indented lines belong to the group above. After changing a kind, press Preview to show its inputs; separate the values of “is one of” with commas."),
    ("segment.group.all", "全部满足", "All of"),
    ("segment.group.any", "任一满足", "Any of"),
    ("segment.group.not_all", "并非全部满足", "Not all of"),
    ("segment.group.not_any", "全都不满足", "None of"),
    ("segment.kind.field", "资料字段", "Profile field"),
    ("segment.kind.trait", "自定义字段", "Custom field"),
    ("segment.kind.tag", "标签", "Tag"),
    ("segment.kind.identity", "身份标识", "Identifier"),
    ("segment.kind.event", "行为事件", "Event"),
    ("segment.row.kind", "类型", "Kind"),
    ("segment.row.subject", "字段、标签、标识类型或事件名", "Field, tag, identifier type or event name"),
    ("segment.row.op", "运算", "Operator"),
    ("segment.row.value", "值", "Value"),
    ("segment.row.at_least", "至少（次）", "At least (times)"),
    ("segment.row.within_days", "近几天内", "Within (days)"),
    ("segment.add_condition", "+ 条件", "+ Condition"),
    ("segment.add_group", "+ 条件组", "+ Group"),
    ("segment.remove", "删除", "Remove"),
    ("segment.to_json", "改用 JSON 编辑", "Edit as JSON"),
    ("segment.to_rows", "改为逐行编辑", "Edit as rows"),
    ("segment.error.not_rows", "此筛选条件含有逐行编辑无法表达的部分（如客户字段、事件属性或固定起始时间），请继续用 JSON 编辑。", "This filter has parts the rows cannot express (such as account fields, event properties or a fixed start); keep editing it as JSON."),
    ("segment.op.lt", "<", "<"),
    ("segment.op.lte", "≤", "≤"),
    ("segment.op.gt", ">", ">"),
    ("segment.op.gte", "≥", "≥"),
    ("segment.op.eq", "等于", "is"),
    ("segment.op.ne", "不等于", "is not"),
    ("segment.op.in", "属于", "is one of"),
    ("segment.op.contains", "包含", "contains"),
    ("segment.op.starts_with", "开头是", "starts with"),
    ("segment.op.exists", "有值", "is set"),
    ("segment.op.not_exists", "无值", "is not set"),
    ("kind.track", "行为", "Action"),
    ("kind.page", "页面浏览", "Page view"),
    ("kind.screen", "屏幕浏览", "Screen view"),
    ("kind.identify", "资料更新", "Profile update"),
    ("kind.group", "公司关联", "Company link"),
    ("kind.alias", "身份关联", "Identity link"),
    ("kind.import", "导入", "Import"),
    ("kind.segment.entered", "进入分群", "Entered segment"),
    ("kind.segment.exited", "离开分群", "Left segment"),
    ("identity.email", "邮箱", "Email"),
    ("identity.mobile", "手机", "Mobile"),
    ("identity.user_id", "用户 ID", "User id"),
    ("identity.anonymous_id", "匿名浏览器 ID", "Anonymous browser id"),
    ("identity.wechat_openid", "微信 openID", "WeChat openID"),
    ("identity.wechat_unionid", "微信 unionID", "WeChat unionID"),
    ("identity.wecom_external_id", "企业微信外部联系人", "WeCom external contact"),
    ("identity.crm_id", "CRM ID", "CRM id"),
    ("identity.fingerprint", "表单指纹", "Form fingerprint"),
    ("role.admin", "管理员", "Administrator"),
    ("role.marketer", "市场运营", "Marketer"),
    ("role.sdr", "SDR（销售开发）", "SDR"),
    ("role.sales_rep", "销售代表", "Sales rep"),
    ("role.sales_manager", "销售经理", "Sales manager"),
    ("role.analyst", "分析师", "Analyst"),
    // Administering users (disable, enable, reset a password), the user's time zone, deleting
    // custom fields.
    ("sign_in.disabled", "此账号已被停用，无法登录。请联系管理员。", "This account has been disabled and cannot sign in. Contact an administrator."),
    ("account.time_zone", "时区", "Time zone"),
    ("account.time_zone_hint", "控制台中的日期和时间均按此时区显示。", "Dates and times in the console are shown in this time zone."),
    ("account.time_zone_save", "保存时区", "Save time zone"),
    ("account.time_zone_saved", "时区已保存。", "The time zone was saved."),
    ("account.error.time_zone", "请从列表中选择一个时区。", "Choose a time zone from the list."),
    ("settings.status", "状态", "Status"),
    ("settings.user_active", "正常", "Active"),
    ("settings.you", "（您本人）", "(you)"),
    ("settings.enable", "启用", "Enable"),
    ("settings.disable_user", "停用用户", "Disable user"),
    ("settings.disable_user_question", "停用后，该用户在所有设备上立即退出，并且在重新启用之前无法登录。其角色保留。确定停用吗？", "Once disabled, the user is signed out everywhere at once and cannot sign in until enabled again. Their roles are kept. Disable them?"),
    ("settings.user_disabled", "用户已停用，其所有登录已结束。", "The user was disabled and all their sessions were ended."),
    ("settings.user_enabled", "用户已启用，可以再次登录。", "The user was enabled and can sign in again."),
    ("settings.error.last_enabled_admin", "不能停用组织最后一位启用中的全组织管理员。请先为另一位用户授予全组织管理员角色。", "The organisation's last enabled org-wide administrator cannot be disabled. Grant another user the org-wide administrator role first."),
    ("settings.error.self_disable", "不能停用您自己的账号。", "You cannot disable your own account."),
    ("settings.reset_password", "重置密码", "Reset password"),
    ("settings.reset_password_intro", "为该用户设置新密码（10 到 128 个字符），其所有登录将立即结束。请通过安全渠道把新密码告诉对方，并请其登录后在“我的账号”中修改。", "Set a new password for this user (10 to 128 characters); all their sessions end at once. Give it to them through a safe channel and ask them to change it under My account after signing in."),
    ("settings.password_reset", "密码已重置，该用户的所有登录已结束。", "The password was reset and all the user's sessions were ended."),
    ("settings.error.self_reset", "不能在这里重置您自己的密码，请在“我的账号”中修改。", "You cannot reset your own password here; change it under My account."),
    ("settings.delete", "删除", "Delete"),
    ("settings.delete_field", "删除自定义字段", "Delete custom field"),
    ("settings.delete_field_question", "删除后，该字段的定义（标签和类型）被移除，API 不再按其类型校验；联系人上已保存的值保留，分群仍可按键名筛选。确定删除吗？", "Once deleted, the field's definition (label and type) is removed and the API no longer checks values against its type; values already stored on contacts stay, and segments can still filter on the key. Delete it?"),
    ("settings.field_deleted", "自定义字段已删除。", "The custom field was deleted."),
    ("home.days_note", "每日图表按 UTC 日期统计（每日汇总按 UTC 日切分），因此与您所选时区 {zone} 的日期边界不同。", "The per-day charts count UTC days (the daily rollup is cut at UTC midnight), so their days do not follow your time zone, {zone}."),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_best_supported_language() {
        assert_eq!(Lang::from_accept_language("en-US,en;q=0.9"), Lang::En);
        assert_eq!(
            Lang::from_accept_language("zh-CN,zh;q=0.9,en;q=0.8"),
            Lang::Zh
        );
        assert_eq!(
            Lang::from_accept_language("fr-FR, en;q=0.5, zh;q=0.4"),
            Lang::En
        );
        assert_eq!(Lang::from_accept_language("de"), Lang::Zh);
        assert_eq!(Lang::from_accept_language(""), Lang::Zh);
        assert_eq!(Lang::from_accept_language("en;q=0, zh-TW"), Lang::Zh);
    }

    #[test]
    fn relative_times_follow_the_language() {
        let now = 1_800_000_000_000;
        let zh = Local::new(Lang::Zh, chrono_tz::Asia::Shanghai);
        let en = Local::new(Lang::En, chrono_tz::Asia::Shanghai);
        assert_eq!(zh.relative(now - 30_000, now), "刚刚");
        assert_eq!(en.relative(now - 30_000, now), "just now");
        assert_eq!(zh.relative(now - 5 * 60_000, now), "5 分钟前");
        assert_eq!(en.relative(now - 60_000, now), "1 minute ago");
        assert_eq!(en.relative(now - 3 * 3_600_000, now), "3 hours ago");
        assert_eq!(zh.relative(now - 2 * 86_400_000, now), "2 天前");
        assert_eq!(en.relative(now - 45 * 86_400_000, now), "1 month ago");
        assert_eq!(zh.relative(now - 800 * 86_400_000, now), "2 年前");
        // The future is a date, not "-3 days ago".
        assert_eq!(
            zh.relative(now + 86_400_000, now),
            zh.datetime(now + 86_400_000)
        );
    }

    #[test]
    fn numbers_and_dates_follow_the_language() {
        assert_eq!(Lang::En.number(1_234_567), "1,234,567");
        assert_eq!(Lang::Zh.number(999), "999");
        assert_eq!(Lang::En.decimal(1234.56), "1,234.6");
        assert_eq!(Lang::En.decimal(45.0), "45");
        assert_eq!(Lang::En.decimal(-0.4), "-0.4");
        assert_eq!(Lang::En.decimal(-12.25), "-12.3");
        assert_eq!(Lang::Zh.number(-1000), "-1,000");
        // 2026-11-25T01:30:00Z is 09:30 in Beijing.
        let t = 1_795_570_200_000;
        let zh = Local::new(Lang::Zh, DEFAULT_TIME_ZONE);
        let en = Local::new(Lang::En, DEFAULT_TIME_ZONE);
        assert_eq!(zh.datetime(t), "2026年11月25日 09:30");
        assert_eq!(en.datetime(t), "25 Nov 2026 09:30");
        assert_eq!(zh.day(t), "2026年11月25日 星期三");
        assert_eq!(en.day(t), "Wednesday, 25 November 2026");
    }

    #[test]
    fn times_follow_the_users_time_zone_with_its_daylight_saving() {
        // 2026-11-25T01:30:00Z: the evening before in New York (EST, UTC-5), and in summer
        // 2026-07-01T01:30:00Z is 21:30 the day before (EDT, UTC-4).
        let winter = 1_795_570_200_000;
        let summer = 1_782_869_400_000;
        let ny = Local::new(Lang::En, time_zone_of(Some("America/New_York")));
        assert_eq!(ny.datetime(winter), "24 Nov 2026 20:30");
        assert_eq!(ny.datetime(summer), "30 Jun 2026 21:30");
        assert_eq!(ny.day(winter), "Tuesday, 24 November 2026");
        assert_eq!(ny.zone_label(winter), "America/New_York (UTC-05:00)");
        let utc = Local::new(Lang::Zh, time_zone_of(Some("UTC")));
        assert_eq!(utc.time(winter), "01:30");
        assert_eq!(
            Local::new(Lang::En, time_zone_of(Some("Europe/Berlin"))).time(summer),
            "03:30"
        );
        // Nothing chosen, or a name that is not offered: China Standard Time.
        assert_eq!(time_zone_of(None), DEFAULT_TIME_ZONE);
        assert_eq!(time_zone_of(Some("Mars/Olympus")), DEFAULT_TIME_ZONE);
        assert_eq!(offered_time_zone("Asia/Tokyo"), Some(Tz::Asia__Tokyo));
        assert_eq!(offered_time_zone("asia/tokyo"), None);
    }

    #[test]
    fn every_message_has_both_languages_and_a_unique_key() {
        let mut keys: Vec<&str> = MESSAGES.iter().map(|m| m.0).collect();
        for (k, zh, en) in MESSAGES {
            assert!(!zh.is_empty() && !en.is_empty(), "{k}");
        }
        let n = keys.len();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), n, "duplicate message keys");
    }

    #[test]
    fn every_key_the_templates_use_exists() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for piece in text.split(".t(\"").skip(1) {
                let key = piece.split('"').next().unwrap();
                assert!(
                    MESSAGES.iter().any(|m| m.0 == key),
                    "template uses missing message `{key}`"
                );
            }
        }
        for kind in EVENT_KINDS {
            assert!(MESSAGES.iter().any(|m| m.0 == format!("kind.{kind}")));
        }
        for role in hatchery_domain::Role::ALL {
            assert!(MESSAGES
                .iter()
                .any(|m| m.0 == format!("role.{}", role.as_str())));
        }
    }
}
