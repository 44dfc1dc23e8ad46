use super::*;

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

#[test]
fn periods_follow_the_anchor_day_through_short_months() {
    let p = period_containing(date("2026-11-30"), 1);
    assert_eq!((p.start, p.end), (date("2026-11-01"), date("2026-12-01")));
    let p = period_containing(date("2026-11-14"), 15);
    assert_eq!((p.start, p.end), (date("2026-10-15"), date("2026-11-15")));
    // Anchor 31: January 31 -> February 28 -> March 31.
    let p = period_containing(date("2027-02-10"), 31);
    assert_eq!((p.start, p.end), (date("2027-01-31"), date("2027-02-28")));
    let p = period_containing(date("2027-02-28"), 31);
    assert_eq!((p.start, p.end), (date("2027-02-28"), date("2027-03-31")));
    // Leap year February 29 with anchor 30.
    let p = period_containing(date("2028-03-01"), 30);
    assert_eq!((p.start, p.end), (date("2028-02-29"), date("2028-03-30")));
    assert_eq!(period_named("2027-02", 31).unwrap().start, date("2027-02-28"));
    assert_eq!(p.previous(30).end, p.start);
    assert_eq!(p.next(30).start, p.end);
}

#[test]
fn rollover_is_capped_across_months() {
    let growth = BankRules::for_tier(Tier::Growth);
    // Month 1 uses 2h (8h left, 5h roll over) -> 15h; month 2 uses nothing (15h left, 5h roll)
    // -> 15h (cap); month 3 uses 14h (1h left) -> 11h; month 4 uses 12h (-1h) -> 10h.
    let banks = opening_banks(&growth, &[120, 0, 14 * 60, 12 * 60, 0]);
    assert_eq!(banks, vec![600, 900, 900, 660, 600]);
    let starter = BankRules::for_tier(Tier::Starter);
    assert_eq!(opening_banks(&starter, &[0, 0]), vec![300, 300], "STARTER: use it or lose it");
    let enterprise = BankRules::for_tier(Tier::Enterprise);
    assert_eq!(opening_banks(&enterprise, &[0, 0, 0]), vec![1200, 1800, 1800], "20h + 10h, capped at 30h");
}

#[test]
fn one_entry_can_cross_both_thresholds() {
    assert_eq!(thresholds_crossed(600, 0, 450), vec![75]);
    assert_eq!(thresholds_crossed(600, 420, 450), vec![75]);
    assert_eq!(thresholds_crossed(600, 450, 500), Vec::<u8>::new());
    assert_eq!(thresholds_crossed(600, 300, 600), vec![75, 100]);
    assert_eq!(thresholds_crossed(600, 599, 700), vec![100]);
    assert_eq!(thresholds_crossed(0, 0, 60), Vec::<u8>::new());
}

#[test]
fn an_entry_straddling_the_bank_is_split_into_included_and_overage() {
    let entries = [
        EntryLine { minutes: 540, kind: EntryKind::Included },
        EntryLine { minutes: 120, kind: EntryKind::Included },
        EntryLine { minutes: 90, kind: EntryKind::Billable },
        EntryLine { minutes: 45, kind: EntryKind::Emergency },
    ];
    let s = statement(600, &entries, &Rates::default());
    assert_eq!(s.per_entry[1], Counted { included: 60, overage: 60, billable: 0, emergency: 0 });
    assert_eq!((s.included_used_minutes, s.remaining_minutes, s.overage_minutes), (600, 0, 60));
    assert_eq!(s.overage_cents, 15_000);
    assert_eq!(s.billable_cents, 22_500);
    assert_eq!(s.emergency_cents, 22_500, "45 minutes at $300/hour");
    assert_eq!(s.total_beyond_subscription_cents, 60_000);
}

#[test]
fn money_is_in_cents() {
    assert_eq!(amount_cents(15, 15_000), 3_750);
    assert_eq!(amount_cents(1, 15_000), 250);
    assert_eq!(amount_cents(1, 100), 2, "1/60 of a dollar rounds half up to 2 cents");
    assert_eq!(dollars(123_456_789), "$1,234,567.89");
    assert_eq!(dollars(3_750), "$37.50");
    assert_eq!(dollars(0), "$0.00");
    assert_eq!(hours_text(90), "1.5h");
    assert_eq!(hours_text(15), "0.25h");
    assert_eq!(hours_text(600), "10h");
}
