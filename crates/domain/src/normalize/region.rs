/// The 34 province-level divisions by their Chinese short name, with the romanised names people write
/// (lower-case, letters only: "Inner Mongolia" is `innermongolia`).
const PROVINCES: [(&str, &[&str]); 34] = [
    ("北京", &["beijing", "peking"]),
    ("天津", &["tianjin"]),
    ("上海", &["shanghai"]),
    ("重庆", &["chongqing"]),
    ("河北", &["hebei"]),
    ("山西", &["shanxi"]),
    ("辽宁", &["liaoning"]),
    ("吉林", &["jilin"]),
    ("黑龙江", &["heilongjiang"]),
    ("江苏", &["jiangsu"]),
    ("浙江", &["zhejiang"]),
    ("安徽", &["anhui"]),
    ("福建", &["fujian"]),
    ("江西", &["jiangxi"]),
    ("山东", &["shandong"]),
    ("河南", &["henan"]),
    ("湖北", &["hubei"]),
    ("湖南", &["hunan"]),
    ("广东", &["guangdong"]),
    ("海南", &["hainan"]),
    ("四川", &["sichuan"]),
    ("贵州", &["guizhou"]),
    ("云南", &["yunnan"]),
    ("陕西", &["shaanxi"]),
    ("甘肃", &["gansu"]),
    ("青海", &["qinghai"]),
    ("台湾", &["taiwan"]),
    ("内蒙古", &["innermongolia", "neimongol", "neimenggu"]),
    ("广西", &["guangxi"]),
    ("西藏", &["tibet", "xizang"]),
    ("宁夏", &["ningxia"]),
    ("新疆", &["xinjiang"]),
    ("香港", &["hongkong", "xianggang"]),
    ("澳门", &["macau", "macao", "aomen"]),
];

/// Official suffixes, longest first so "维吾尔自治区" is removed whole rather than as "自治区".
const CHINESE_SUFFIXES: [&str; 7] = [
    "特别行政区",
    "维吾尔自治区",
    "壮族自治区",
    "回族自治区",
    "自治区",
    "省",
    "市",
];

/// Romanised suffixes (letters only, lower-case), longest first.
const ROMAN_SUFFIXES: [&str; 14] = [
    "specialadministrativeregion",
    "uyghurautonomousregion",
    "uygurautonomousregion",
    "zhuangautonomousregion",
    "huiautonomousregion",
    "autonomousregion",
    "municipality",
    "province",
    "zizhiqu",
    "sheng",
    "china",
    "city",
    "shi",
    "sar",
];

/// Maps a province written any common way ("广东省", "广西壮族自治区", "Guangdong Province",
/// "shanghai shi") to its Chinese short name ("广东", "广西", "上海"), so segments and reports group one
/// province as one value. Anything not recognised comes back trimmed but otherwise unchanged: a
/// foreign state or a typo is kept rather than lost.
pub fn normalize_province(raw: &str) -> String {
    let trimmed = raw.trim();
    let known = |name: &str| {
        PROVINCES
            .iter()
            .find(|(short, _)| *short == name)
            .map(|(short, _)| *short)
    };
    if let Some(short) = known(trimmed) {
        return short.to_owned();
    }
    for suffix in CHINESE_SUFFIXES {
        if let Some(short) = trimmed.strip_suffix(suffix).and_then(|s| known(s.trim())) {
            return short.to_owned();
        }
    }
    let mut letters: String = trimmed
        .chars()
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if letters.is_empty() || !trimmed.is_ascii() {
        return trimmed.to_owned();
    }
    // "Hong Kong SAR, China": strip suffixes until a name is left.
    loop {
        if let Some((short, _)) = PROVINCES
            .iter()
            .find(|(_, roman)| roman.contains(&letters.as_str()))
        {
            return (*short).to_owned();
        }
        match ROMAN_SUFFIXES
            .iter()
            .find(|s| letters.len() > s.len() && letters.ends_with(*s))
        {
            Some(suffix) => letters.truncate(letters.len() - suffix.len()),
            None => return trimmed.to_owned(),
        }
    }
}

/// Trims a city name and drops a trailing "市" when at least two characters remain ("深圳市" →
/// "深圳"), so "深圳" and "深圳市" are one city; two-character names such as "沙市" are kept whole.
pub fn normalize_city(raw: &str) -> String {
    let trimmed = raw.trim();
    match trimmed.strip_suffix('市') {
        Some(rest) if rest.chars().count() >= 2 => rest.trim_end().to_owned(),
        _ => trimmed.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_official_chinese_suffixes_from_provinces() {
        let cases = [
            ("广东省", "广东"),
            ("北京市", "北京"),
            ("上海市", "上海"),
            ("广西壮族自治区", "广西"),
            ("内蒙古自治区", "内蒙古"),
            ("新疆维吾尔自治区", "新疆"),
            ("宁夏回族自治区", "宁夏"),
            ("西藏自治区", "西藏"),
            ("香港特别行政区", "香港"),
            ("澳门特别行政区", "澳门"),
            ("黑龙江省", "黑龙江"),
            ("台湾省", "台湾"),
            (" 浙江 ", "浙江"),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize_province(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn maps_english_and_pinyin_province_names_to_chinese_short_names() {
        let cases = [
            ("Guangdong", "广东"),
            ("guangdong province", "广东"),
            ("GUANGDONG PROVINCE", "广东"),
            ("Beijing", "北京"),
            ("Shanghai Shi", "上海"),
            ("Shanxi", "山西"),
            ("Shaanxi", "陕西"),
            ("Inner Mongolia", "内蒙古"),
            ("Inner Mongolia Autonomous Region", "内蒙古"),
            ("Nei Mongol", "内蒙古"),
            ("Tibet", "西藏"),
            ("Xinjiang Uygur Autonomous Region", "新疆"),
            ("Guangxi Zhuang Autonomous Region", "广西"),
            ("Ningxia Hui Autonomous Region", "宁夏"),
            ("Hong Kong", "香港"),
            ("Hong Kong SAR", "香港"),
            ("Hong Kong SAR, China", "香港"),
            ("Macao", "澳门"),
            ("Macau Special Administrative Region", "澳门"),
            ("Chongqing Municipality", "重庆"),
            ("tianjin city", "天津"),
            ("Heilongjiang Sheng", "黑龙江"),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize_province(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn every_province_maps_from_its_own_short_name_and_romanisations() {
        for (short, romans) in PROVINCES {
            assert_eq!(normalize_province(short), short);
            for roman in romans {
                assert_eq!(normalize_province(roman), short);
            }
        }
    }

    #[test]
    fn keeps_unknown_provinces_trimmed_and_unchanged() {
        assert_eq!(normalize_province("  California "), "California");
        assert_eq!(normalize_province("粤"), "粤");
        assert_eq!(normalize_province("某某省"), "某某省");
        assert_eq!(normalize_province("Province"), "Province");
        assert_eq!(normalize_province("Shi"), "Shi");
        assert_eq!(normalize_province(""), "");
        assert_eq!(normalize_province("Guangdong 省"), "Guangdong 省");
    }

    #[test]
    fn strips_trailing_shi_from_city_names_longer_than_two_characters() {
        assert_eq!(normalize_city("深圳市"), "深圳");
        assert_eq!(normalize_city(" 乌鲁木齐市 "), "乌鲁木齐");
        assert_eq!(normalize_city("沙市"), "沙市");
        assert_eq!(normalize_city("  Shenzhen "), "Shenzhen");
        assert_eq!(normalize_city("深圳"), "深圳");
        assert_eq!(normalize_city(""), "");
    }
}
