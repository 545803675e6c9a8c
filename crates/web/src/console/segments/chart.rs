//! The size-over-time chart of a segment, drawn on the server as SVG: a step line (the size holds
//! from one change to the next) over the last days, with the first and last day and the largest
//! size labelled. The template renders it, so every text in it is escaped like the rest of the
//! page.

use hatchery_domain::segment::{Millis, DAY_MS};
use hatchery_store::segments::membership::SegmentSize;

use crate::console::i18n::Lang;

pub const WIDTH: i64 = 720;
pub const HEIGHT: i64 = 220;
const LEFT: i64 = 56;
const RIGHT: i64 = 16;
const TOP: i64 = 16;
const BOTTOM: i64 = 36;

/// What the template draws.
pub struct Chart {
    /// The accessible name and description (`<title>`, `<desc>`).
    pub title: String,
    pub desc: String,
    /// The `d` attribute of the step line; empty when nothing was recorded.
    pub path: String,
    /// (y, label) of the horizontal grid lines.
    pub y_ticks: Vec<(i64, String)>,
    /// (x, label, text-anchor) of the day labels.
    pub x_ticks: Vec<(i64, String, &'static str)>,
    /// The plot's bottom edge and its left and right edges, for the axes.
    pub base_y: i64,
    pub left: i64,
    pub right: i64,
}

/// The chart of the `days` days up to `now`. `sizes` are the recorded days (oldest first, days
/// with a change only); `current` is the size now, which the line is drawn to on the right.
pub fn size_chart(
    sizes: &[SegmentSize],
    current: i64,
    days: i64,
    now: Millis,
    lang: Lang,
) -> Chart {
    let today = now.div_euclid(DAY_MS) * DAY_MS;
    let start = today - (days - 1) * DAY_MS;
    let end = today + DAY_MS;
    let max = sizes
        .iter()
        .map(|s| s.size)
        .chain([current])
        .max()
        .unwrap_or(0)
        .max(1);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |t: Millis| LEFT + (t.clamp(start, end) - start) * plot_w / (end - start);
    let y = |n: i64| TOP + plot_h - n.max(0) * plot_h / max;

    let mut path = String::new();
    if let Some(first) = sizes.first() {
        // The size before the first recorded day of the window, when the segment existed then.
        let before = first.size - first.entered + first.exited;
        let mut level = if first.day <= start {
            first.size
        } else {
            before
        };
        path.push_str(&format!("M{} {}", x(start.max(first.day)), y(level)));
        for s in sizes {
            let at = x(s.day);
            if s.size != level {
                path.push_str(&format!(" H{at} V{}", y(s.size)));
                level = s.size;
            }
        }
        if current != level {
            path.push_str(&format!(" H{} V{}", x(today), y(current)));
        }
        path.push_str(&format!(" H{}", x(end)));
    }

    let y_ticks = [0, max / 2, max]
        .into_iter()
        .enumerate()
        .filter(|(i, n)| *i == 0 || *n > 0)
        .map(|(_, n)| (y(n), lang.number(n)))
        .collect::<Vec<_>>();
    let mut y_ticks = y_ticks;
    y_ticks.dedup_by_key(|t| t.0);
    let x_ticks = vec![
        (LEFT, lang.short_date(start), "start"),
        (
            LEFT + plot_w / 2,
            lang.short_date(start + (end - start) / 2),
            "middle",
        ),
        (WIDTH - RIGHT, lang.short_date(today), "end"),
    ];
    let title = lang
        .t("segment.chart.title")
        .replace("{days}", &days.to_string());
    let desc = if sizes.is_empty() {
        lang.t("segment.chart.empty").to_owned()
    } else {
        lang.t("segment.chart.desc")
            .replace("{from}", &lang.short_date(start))
            .replace("{to}", &lang.short_date(today))
            .replace("{max}", &lang.number(max))
            .replace("{now}", &lang.number(current))
    };
    Chart {
        title,
        desc,
        path,
        y_ticks,
        x_ticks,
        base_y: TOP + plot_h,
        left: LEFT,
        right: WIDTH - RIGHT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(day: i64, size: i64, entered: i64, exited: i64) -> SegmentSize {
        SegmentSize {
            day: day * DAY_MS,
            size,
            entered,
            exited,
        }
    }

    #[test]
    fn draws_a_step_line_from_the_first_change_to_today() {
        let now = 100 * DAY_MS + 3_600_000;
        let sizes = [size(95, 10, 10, 0), size(98, 4, 0, 6)];
        let c = size_chart(&sizes, 4, 10, now, Lang::En);
        // Ten days over 648 px: day 95 starts at x = 56 + 4 * 64.8.
        assert_eq!(c.path, "M315 184 H315 V16 H509 V117 H704");
        assert_eq!(c.y_ticks.first().unwrap().1, "0");
        assert_eq!(c.y_ticks.last().unwrap().1, "10");
        assert!(c.desc.contains("10") && c.desc.contains('4'), "{}", c.desc);
    }

    #[test]
    fn nothing_recorded_draws_no_line_but_still_a_frame() {
        let c = size_chart(&[], 0, 90, 100 * DAY_MS, Lang::Zh);
        assert!(c.path.is_empty());
        assert_eq!(c.desc, Lang::Zh.t("segment.chart.empty"));
        assert_eq!(c.x_ticks.len(), 3);
    }
}
