//! The small chart of a hook's last 24 hours: one bar an hour, as high as the
//! hour's deliveries, delivered below and the rest above, as inline SVG (no
//! script, styled by the portal's stylesheet).

use maud::{Markup, html};
use time::OffsetDateTime;

use crate::queue::{Delivery, DeliveryState};

const HOURS: usize = 24;
const BAR: usize = 6;
const HEIGHT: usize = 32;

/// Deliveries an hour over the last 24 hours, oldest hour first.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Activity {
    /// (delivered, all) for each hour.
    hours: [(u32, u32); HOURS],
}

impl Activity {
    /// Counts `deliveries` (fired in the 24 hours before `now`) by hour.
    pub(super) fn of(deliveries: &[Delivery], now: OffsetDateTime) -> Self {
        let mut activity = Self::default();
        for delivery in deliveries {
            let age_hours = (now - delivery.created_at).whole_hours();
            let Ok(age) = usize::try_from(age_hours) else {
                continue;
            };
            if age >= HOURS {
                continue;
            }
            let hour = &mut activity.hours[HOURS - 1 - age];
            hour.1 += 1;
            if delivery.state == DeliveryState::Delivered {
                hour.0 += 1;
            }
        }
        activity
    }

    /// (delivered, all) over the 24 hours.
    pub(super) fn totals(&self) -> (u32, u32) {
        self.hours
            .iter()
            .fold((0, 0), |(d, a), (hd, ha)| (d + hd, a + ha))
    }

    /// The chart, with its figures in words for those who do not see it.
    pub(super) fn chart(&self) -> Markup {
        let (delivered, all) = self.totals();
        let busiest = self.hours.iter().map(|h| h.1).max().unwrap_or(0).max(1);
        let summary = match all {
            0 => "no deliveries in the last 24 hours".to_owned(),
            1 => format!(
                "1 delivery in the last 24 hours, {}",
                if delivered == 1 {
                    "delivered"
                } else {
                    "not delivered"
                }
            ),
            _ => format!(
                "{all} deliveries in the last 24 hours, {}% delivered",
                u64::from(delivered) * 100 / u64::from(all)
            ),
        };
        let width = HOURS * BAR;
        html! {
            svg class="chart" role="img" width=(width) height=(HEIGHT)
                viewBox=(format!("0 0 {width} {HEIGHT}")) xmlns="http://www.w3.org/2000/svg" {
                title { (summary) }
                rect class="chart-ground" x="0" y=(HEIGHT - 1) width=(width) height="1" {}
                @for (i, &(ok, n)) in self.hours.iter().enumerate() {
                    @let total = scaled(n, busiest);
                    @let good = scaled(ok, busiest);
                    @if total > 0 {
                        rect class="chart-other" x=(i * BAR) y=(HEIGHT - total)
                            width=(BAR - 1) height=(total - good) {}
                        rect class="chart-ok" x=(i * BAR) y=(HEIGHT - good)
                            width=(BAR - 1) height=(good) {}
                    }
                }
            }
            span class="chart-summary" { (summary) }
        }
    }
}

/// `n` of `busiest` as a bar height; any delivery shows at least one pixel.
fn scaled(n: u32, busiest: u32) -> usize {
    if n == 0 {
        return 0;
    }
    ((n as usize * (HEIGHT - 2)) / busiest as usize).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_are_counted_in_the_hour_they_were_fired() {
        let hook = crate::hook::test_hook("ann", "book.added");
        let now = OffsetDateTime::now_utc();
        let at = |hours_ago: i64, state| Delivery {
            created_at: now - time::Duration::minutes(hours_ago * 60 + 1),
            state,
            ..Delivery::new(&hook, b"{}".to_vec())
        };
        let deliveries = [
            at(0, DeliveryState::Delivered),
            at(0, DeliveryState::Failed),
            at(5, DeliveryState::Delivered),
            at(30, DeliveryState::Delivered),
        ];
        let activity = Activity::of(&deliveries, now);
        assert_eq!(activity.hours[HOURS - 1], (1, 2));
        assert_eq!(activity.hours[HOURS - 6], (1, 1));
        assert_eq!(activity.totals(), (2, 3));
        let chart = activity.chart().into_string();
        assert!(chart.contains("3 deliveries in the last 24 hours, 66% delivered"));
    }
}
