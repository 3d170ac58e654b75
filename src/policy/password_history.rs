//! Password lifecycle as pure rules: which earlier passwords a new one is
//! compared with, what the history keeps after a change, the minimum and
//! maximum age.
//!
//! The history of a role is one text (kept by the pg layer as a label on
//! the role in pg_shseclabel): one line per password, newest first, `<set
//! at> <verifier>` and ` self` when the role set it itself, where the time
//! is PostgreSQL's (microseconds since 2000-01-01) and the verifier is the
//! SCRAM-SHA-256 secret PostgreSQL stored for that password (salted, 4096
//! iterations), or `-` when there was none to keep (an MD5 password, or
//! history off). Never a plaintext.

use crate::errors::{invalid_parameter, Failure};

/// At most this many entries are kept, whatever the settings say: it
/// bounds the label (about 150 bytes an entry) and the cost of a check (one
/// SCRAM derivation an entry).
pub const MAX_ENTRIES: usize = 64;

/// The lifecycle settings in force.
#[derive(Debug, Clone, Copy, Default)]
pub struct Settings {
    /// Refuse any of the last `reuse_history` passwords (0: off).
    pub reuse_history: u32,
    /// Refuse any password set within this long (0: off).
    pub reuse_interval_us: i64,
    /// A role may not change its own password again within this (0: off).
    pub min_age_us: i64,
    /// Every change leaves VALID UNTIL at most this far ahead (0: off).
    pub max_age_us: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub set_at: i64,
    /// None when no verifier was kept.
    pub verifier: Option<String>,
    /// The role changed its own password (the minimum age counts from
    /// these; resets by a manager or a superuser do not start it).
    pub by_self: bool,
}

/// A role's history: the entries, newest first, and the VALID UNTIL that
/// managed_roles itself last set (so that a later change may renew what it
/// set, but never lengthen a limit someone else set). Text form: an
/// optional first line `valid_until <time>`, then the entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    pub valid_until_set: Option<i64>,
    pub entries: Vec<Entry>,
}

/// Reads a history text; lines that do not parse are skipped.
pub fn parse(text: &str) -> History {
    let valid_until_set = text
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("valid_until "))
        .and_then(|at| at.parse().ok());
    History {
        valid_until_set,
        entries: parse_entries(text),
    }
}

pub fn format(history: &History) -> String {
    let mut lines = Vec::new();
    if let Some(at) = history.valid_until_set {
        lines.push(format!("valid_until {at}"));
    }
    if !history.entries.is_empty() {
        lines.push(format_entries(&history.entries));
    }
    lines.join("\n")
}

/// The VALID UNTIL a change should leave, if it must change: the cap, or
/// the current value when that is earlier and was not set by managed_roles
/// (a limit someone set on purpose is never lengthened).
pub fn new_valid_until(current: Option<i64>, ours: Option<i64>, cap: Option<i64>) -> Option<i64> {
    let cap = cap?;
    let limit = match current {
        Some(c) if Some(c) != ours => c.min(cap),
        _ => cap,
    };
    (Some(limit) != current).then_some(limit)
}

fn parse_entries(text: &str) -> Vec<Entry> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split(' ');
            let set_at = words.next()?.parse().ok()?;
            let verifier = words.next()?;
            let by_self = match words.next() {
                None => false,
                Some("self") => true,
                Some(_) => return None,
            };
            if words.next().is_some() {
                return None;
            }
            Some(Entry {
                set_at,
                verifier: verifier
                    .starts_with("SCRAM-SHA-256$")
                    .then(|| verifier.to_string()),
                by_self,
            })
        })
        .take(MAX_ENTRIES)
        .collect()
}

fn format_entries(entries: &[Entry]) -> String {
    entries
        .iter()
        .map(|e| {
            let who = if e.by_self { " self" } else { "" };
            format!("{} {}{who}", e.set_at, e.verifier.as_deref().unwrap_or("-"))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether anything is compared or kept at all.
pub fn enabled(settings: &Settings) -> bool {
    settings.reuse_history > 0 || settings.reuse_interval_us > 0 || settings.min_age_us > 0
}

/// The entries a new password must differ from: the last `reuse_history`,
/// and every one set within `reuse_interval` of `now`.
pub fn to_compare<'a>(
    entries: &'a [Entry],
    settings: &'a Settings,
    now: i64,
) -> impl Iterator<Item = &'a str> {
    entries
        .iter()
        .enumerate()
        .filter(move |(i, e)| {
            (*i as u64) < u64::from(settings.reuse_history)
                || (settings.reuse_interval_us > 0
                    && now.saturating_sub(e.set_at) < settings.reuse_interval_us)
        })
        .filter_map(|(_, e)| e.verifier.as_deref())
}

/// The history after a change at `now` to a password whose verifier is
/// `verifier`: the new entry first, then what the settings still need.
/// Without reuse rules only times are kept (the last change, and the last
/// one the role made itself, for the minimum age), without verifiers.
pub fn after_change(
    entries: &[Entry],
    verifier: Option<String>,
    by_self: bool,
    settings: &Settings,
    now: i64,
) -> Vec<Entry> {
    let keep_verifiers = settings.reuse_history > 0 || settings.reuse_interval_us > 0;
    let mut next = vec![Entry {
        set_at: now,
        verifier: verifier.filter(|_| keep_verifiers),
        by_self,
    }];
    let mut last_self_kept = by_self;
    for (i, e) in entries.iter().enumerate() {
        if next.len() >= MAX_ENTRIES {
            break;
        }
        let position = i + 1;
        let by_count = (position as u64) < u64::from(settings.reuse_history);
        let by_time = settings.reuse_interval_us > 0
            && now.saturating_sub(e.set_at) < settings.reuse_interval_us;
        // The last change the role made itself, for the minimum age.
        let for_min_age = settings.min_age_us > 0 && e.by_self && !last_self_kept;
        if keep_verifiers && (by_count || by_time) {
            next.push(e.clone());
        } else if for_min_age {
            next.push(Entry {
                verifier: None,
                ..e.clone()
            });
        } else {
            continue;
        }
        last_self_kept |= e.by_self;
    }
    next
}

/// Whether a role changing its own password must wait (the minimum age):
/// Some(when it may) if the last change is too recent.
pub fn too_soon(entries: &[Entry], settings: &Settings, now: i64) -> Option<i64> {
    let last = entries.iter().find(|e| e.by_self)?.set_at;
    (settings.min_age_us > 0 && now.saturating_sub(last) < settings.min_age_us)
        .then(|| last.saturating_add(settings.min_age_us))
}

/// The latest VALID UNTIL a change at `now` may leave: the nearer of the
/// maximum age and the template's days. None: no limit.
pub fn valid_until_cap(settings: &Settings, template_days: Option<u32>, now: i64) -> Option<i64> {
    let by_setting = (settings.max_age_us > 0).then(|| now.saturating_add(settings.max_age_us));
    let by_template = template_days.map(|d| now.saturating_add(i64::from(d) * 86_400_000_000));
    match (by_setting, by_template) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The refusal of a password used before. It never says which earlier
/// password matched, or when it was set.
pub fn reuse_rejection(settings: &Settings) -> Failure {
    let mut rules = Vec::new();
    if settings.reuse_history > 0 {
        rules.push(format!(
            "any of the last {} passwords",
            settings.reuse_history
        ));
    }
    if settings.reuse_interval_us > 0 {
        rules.push(format!(
            "any password used in the last {} days",
            (settings.reuse_interval_us as f64 / 86_400_000_000.0 * 10.0).round() / 10.0
        ));
    }
    invalid_parameter("password was used before")
        .detail(format!("The password may not be {}.", rules.join(" or ")))
        .hint("Choose a new password, or let managed_roles.generate_password() make one.")
}

/// The refusal of a change of one's own password before the minimum age.
pub fn too_soon_rejection(settings: &Settings, allowed_at: &str) -> Failure {
    invalid_parameter("password was changed too recently")
        .detail(format!(
            "A role may change its own password again {} hours after the last change (managed_roles.password_min_age); this one may from {allowed_at}.",
            (settings.min_age_us as f64 / 3_600_000_000.0 * 10.0).round() / 10.0
        ))
        .hint("Ask a manager or a superuser to reset it with managed_roles.reset_managed_password() if it must change now.")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000_000;

    fn entry(at: i64, v: &str) -> Entry {
        Entry {
            set_at: at,
            verifier: Some(format!("SCRAM-SHA-256$4096:{v}")),
            by_self: false,
        }
    }

    fn own(at: i64) -> Entry {
        Entry {
            by_self: true,
            ..entry(at, "own")
        }
    }

    fn settings(history: u32, interval: i64, min_age: i64) -> Settings {
        Settings {
            reuse_history: history,
            reuse_interval_us: interval,
            min_age_us: min_age,
            max_age_us: 0,
        }
    }

    #[test]
    fn round_trip_and_garbage() {
        let bare = Entry {
            set_at: 20,
            verifier: None,
            by_self: true,
        };
        let entries = vec![entry(30, "c"), bare.clone(), entry(10, "a")];
        let history = History {
            valid_until_set: Some(99),
            entries,
        };
        assert_eq!(format(&history).lines().next(), Some("valid_until 99"));
        assert_eq!(format(&history).lines().nth(2), Some("20 - self"));
        assert_eq!(parse(&format(&history)), history);
        assert_eq!(format(&History::default()), "");
        let parsed = parse("x y\n5 md5abc\n7 SCRAM-SHA-256$1:z\n8 - other\n9 - self x").entries;
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].verifier, None);
        assert_eq!(parsed[1].verifier.as_deref(), Some("SCRAM-SHA-256$1:z"));
    }

    #[test]
    fn compares_by_count_and_by_time() {
        let entries = vec![
            entry(100 * DAY, "c"),
            entry(90 * DAY, "b"),
            entry(10 * DAY, "a"),
        ];
        let count = |s: &Settings| to_compare(&entries, s, 101 * DAY).count();
        assert_eq!(count(&settings(2, 0, 0)), 2);
        assert_eq!(count(&settings(0, 30 * DAY, 0)), 2);
        assert_eq!(count(&settings(1, 100 * DAY, 0)), 3);
        assert_eq!(count(&Settings::default()), 0);
    }

    #[test]
    fn keeps_what_the_settings_need() {
        let s = settings(3, 0, 0);
        let mut history = Vec::new();
        for i in 0..6 {
            let verifier = Some(format!("SCRAM-SHA-256$4096:{i}"));
            history = after_change(&history, verifier, false, &s, i * DAY);
        }
        assert_eq!(history.len(), 3);
        assert_eq!(history[0].set_at, 5 * DAY);
        assert_eq!(history[2].set_at, 3 * DAY);
        // Only the minimum age: times, no verifiers.
        let min_only = settings(0, 0, DAY);
        let kept = after_change(
            &history,
            Some("SCRAM-SHA-256$4096:x".into()),
            false,
            &min_only,
            9 * DAY,
        );
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].verifier, None);
        // The last change by the role itself stays, without its verifier,
        // however many resets follow it.
        let with_own = vec![entry(8 * DAY, "reset"), own(7 * DAY), own(6 * DAY)];
        let kept = after_change(&with_own, None, false, &min_only, 9 * DAY);
        assert_eq!(kept.len(), 2);
        assert_eq!(
            kept[1],
            Entry {
                set_at: 7 * DAY,
                verifier: None,
                by_self: true
            }
        );
        // Never more than MAX_ENTRIES.
        let mut h = Vec::new();
        for i in 0..100 {
            h = after_change(
                &h,
                Some("SCRAM-SHA-256$4096:v".into()),
                false,
                &settings(1000, 0, 0),
                i,
            );
        }
        assert_eq!(h.len(), MAX_ENTRIES);
    }

    #[test]
    fn refusals_say_the_rule_not_the_match() {
        let refusal = reuse_rejection(&settings(5, 90 * DAY, 0));
        assert_eq!(
            refusal.code,
            pgrx::PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE
        );
        assert_eq!(
            refusal.detail.as_deref(),
            Some("The password may not be any of the last 5 passwords or any password used in the last 90 days.")
        );
    }

    #[test]
    fn minimum_age() {
        let s = settings(0, 0, DAY);
        let h = vec![own(10 * DAY)];
        assert_eq!(too_soon(&h, &s, 10 * DAY + 5), Some(11 * DAY));
        assert_eq!(too_soon(&h, &s, 11 * DAY), None);
        assert_eq!(too_soon(&[], &s, 0), None);
        assert_eq!(too_soon(&h, &Settings::default(), 10 * DAY), None);
        // A reset by someone else does not start the minimum age.
        assert_eq!(
            too_soon(&[entry(10 * DAY, "reset")], &s, 10 * DAY + 5),
            None
        );
    }

    #[test]
    fn renews_its_own_limit_never_anothers() {
        let cap = Some(100 * DAY);
        // No limit yet, or the one managed_roles set: renewed to the cap.
        assert_eq!(new_valid_until(None, None, cap), cap);
        assert_eq!(new_valid_until(Some(40 * DAY), Some(40 * DAY), cap), cap);
        // A limit someone set: kept when earlier, shortened when later.
        assert_eq!(new_valid_until(Some(40 * DAY), Some(30 * DAY), cap), None);
        assert_eq!(new_valid_until(Some(400 * DAY), None, cap), cap);
        // Nothing to do without a cap, or when it is already right.
        assert_eq!(new_valid_until(Some(40 * DAY), None, None), None);
        assert_eq!(new_valid_until(cap, cap, cap), None);
    }

    #[test]
    fn valid_until_takes_the_nearer_limit() {
        let s = Settings {
            max_age_us: 90 * DAY,
            ..Default::default()
        };
        assert_eq!(valid_until_cap(&s, None, 0), Some(90 * DAY));
        assert_eq!(valid_until_cap(&s, Some(30), 0), Some(30 * DAY));
        assert_eq!(
            valid_until_cap(&Settings::default(), Some(30), 0),
            Some(30 * DAY)
        );
        assert_eq!(valid_until_cap(&Settings::default(), None, 0), None);
    }
}
