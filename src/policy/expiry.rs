//! Time-bound credentials: when a user's lifetime ends, what the expiry
//! worker does next, and how long it waits after a failure. Times are
//! PostgreSQL timestamps (microseconds since 2000-01-01); interval
//! arithmetic, which needs the calendar, is done by the caller in SQL.

/// The expiry worker's settings, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// managed_roles.expiry_grace: locked, not yet offboarded.
    pub grace_us: i64,
    /// managed_roles.expiry_retry_delay: the first wait after a failure.
    pub retry_delay_us: i64,
}

/// A time-bound user as the registry keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub expires_at: i64,
    /// When the worker (or expire_managed_user) locked it.
    pub locked_at: Option<i64>,
    /// Failed offboarding attempts so far.
    pub attempts: i32,
    pub next_attempt_at: Option<i64>,
}

/// What the expiry worker does with a user now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing before this time.
    WaitUntil(i64),
    /// Expired: NOLOGIN, sessions ended.
    Lock,
    /// Expired and the grace period over: offboard.
    Offboard,
}

pub fn next_step(user: &Standing, settings: &Settings, now: i64) -> Step {
    if user.expires_at > now {
        // Not expired (or renewed since it was listed).
        return Step::WaitUntil(user.expires_at);
    }
    let retry_at = user.next_attempt_at.unwrap_or(i64::MIN);
    if user.locked_at.is_none() {
        // A lock that failed waits for its retry like an offboarding.
        return if retry_at <= now {
            Step::Lock
        } else {
            Step::WaitUntil(retry_at)
        };
    }
    let offboard_at = user
        .expires_at
        .saturating_add(settings.grace_us)
        .max(retry_at);
    if offboard_at <= now {
        Step::Offboard
    } else {
        Step::WaitUntil(offboard_at)
    }
}

/// The wait before the next attempt after `attempts` failures: the retry
/// delay, doubled after each failure up to 64 times the delay.
pub fn retry_wait(attempts: i32, settings: &Settings) -> i64 {
    let doublings = attempts.saturating_sub(1).clamp(0, 6) as u32;
    settings.retry_delay_us.saturating_mul(1 << doublings)
}

/// VALID UNTIL once a user's lifetime ends at `until` instead of
/// `old_expiry`: the lifetime's own limit moves, a nearer one set by
/// someone else (a password's maximum age, a DBA) stays.
pub fn valid_until_for_lifetime(current: Option<i64>, old_expiry: Option<i64>, until: i64) -> i64 {
    match current {
        Some(current) if current < old_expiry.unwrap_or(i64::MAX) => current.min(until),
        _ => until,
    }
}

/// The `managed_roles.expiry` label of a time-bound role: its expiry, and
/// whether the expiry's lock took its LOGIN away (a renewal gives back only
/// that). A label goes with its role (DROP ROLE removes it, pg_dumpall
/// carries it by name), so the worker acts on a registry row only if the
/// role with that OID carries the same expiry: never on a role that merely
/// reused the OID or that a dump's row was mapped to by mistake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryLabel {
    pub expires_at: i64,
    pub login_taken: bool,
}

impl ExpiryLabel {
    pub fn parse(text: &str) -> Option<ExpiryLabel> {
        let mut items = text.split(' ');
        let expires_at = items.next()?.strip_prefix("expires_at=")?.parse().ok()?;
        let login_taken = match items.next() {
            None => false,
            Some("login_taken") => true,
            Some(_) => return None,
        };
        items.next().is_none().then_some(ExpiryLabel {
            expires_at,
            login_taken,
        })
    }

    pub fn format(&self) -> String {
        if self.login_taken {
            format!("expires_at={} login_taken", self.expires_at)
        } else {
            format!("expires_at={}", self.expires_at)
        }
    }
}

/// Why a requested lifetime is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Both valid_for and valid_until were given.
    Both,
    /// The lifetime would end now or in the past.
    NotInFuture,
    /// It would end after the template's maximum allows.
    BeyondMax { max_end: i64 },
    /// It would outlive the time-bound caller's own lifetime.
    BeyondCaller { caller_end: i64 },
    /// The template has no default and nothing was asked for (renewal).
    NothingAsked,
}

/// The ends a caller can ask for, already turned into timestamps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Request {
    /// now + valid_for
    pub valid_for_end: Option<i64>,
    pub valid_until: Option<i64>,
    /// now + the template's lifetime.default
    pub default_end: Option<i64>,
    /// creation + the template's lifetime.max
    pub max_end: Option<i64>,
    /// The expiry of a time-bound caller (not a superuser): what it hands
    /// out does not outlive it.
    pub caller_end: Option<i64>,
}

/// The expiry of a user being created (`None`: it does not expire):
/// what was asked for, else the template's default, else its maximum.
pub fn expiry_at_creation(request: &Request, now: i64) -> Result<Option<i64>, Refusal> {
    if request.valid_for_end.is_some() && request.valid_until.is_some() {
        return Err(Refusal::Both);
    }
    let Some(end) = request
        .valid_for_end
        .or(request.valid_until)
        .or(request.default_end)
        .or(request.max_end)
        .or(request.caller_end)
    else {
        return Ok(None);
    };
    within_limits(end, request, now).map(Some)
}

/// The new expiry of a renewal: what was asked for, else the template's
/// default, never beyond its maximum (counted from creation).
pub fn expiry_at_renewal(request: &Request, now: i64) -> Result<i64, Refusal> {
    let end = request
        .valid_for_end
        .or(request.default_end)
        .ok_or(Refusal::NothingAsked)?;
    within_limits(end, request, now)
}

fn within_limits(end: i64, request: &Request, now: i64) -> Result<i64, Refusal> {
    if end <= now {
        return Err(Refusal::NotInFuture);
    }
    if let Some(max_end) = request.max_end.filter(|&max_end| end > max_end) {
        return Err(Refusal::BeyondMax { max_end });
    }
    if let Some(caller_end) = request.caller_end.filter(|&caller_end| end > caller_end) {
        return Err(Refusal::BeyondCaller { caller_end });
    }
    Ok(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;
    const SETTINGS: Settings = Settings {
        grace_us: 100 * S,
        retry_delay_us: 10 * S,
    };

    fn user(expires_at: i64) -> Standing {
        Standing {
            expires_at,
            locked_at: None,
            attempts: 0,
            next_attempt_at: None,
        }
    }

    #[test]
    fn a_user_is_locked_at_expiry_and_offboarded_after_the_grace() {
        let u = user(1000 * S);
        assert_eq!(next_step(&u, &SETTINGS, 999 * S), Step::WaitUntil(1000 * S));
        assert_eq!(next_step(&u, &SETTINGS, 1000 * S), Step::Lock);
        let locked = Standing {
            locked_at: Some(1001 * S),
            ..u
        };
        assert_eq!(
            next_step(&locked, &SETTINGS, 1050 * S),
            Step::WaitUntil(1100 * S)
        );
        assert_eq!(next_step(&locked, &SETTINGS, 1100 * S), Step::Offboard);
        // A server down past the grace: locked first, offboarded next.
        assert_eq!(next_step(&u, &SETTINGS, 5000 * S), Step::Lock);
    }

    #[test]
    fn a_renewed_user_waits_again() {
        let renewed = Standing {
            expires_at: 2000 * S,
            locked_at: Some(1001 * S),
            attempts: 2,
            next_attempt_at: Some(1200 * S),
        };
        assert_eq!(
            next_step(&renewed, &SETTINGS, 1500 * S),
            Step::WaitUntil(2000 * S)
        );
    }

    #[test]
    fn failures_wait_longer_each_time_up_to_64_times() {
        assert_eq!(retry_wait(1, &SETTINGS), 10 * S);
        assert_eq!(retry_wait(2, &SETTINGS), 20 * S);
        assert_eq!(retry_wait(7, &SETTINGS), 640 * S);
        assert_eq!(retry_wait(50, &SETTINGS), 640 * S);
        let failed = Standing {
            expires_at: 1000 * S,
            locked_at: Some(1000 * S),
            attempts: 1,
            next_attempt_at: Some(1200 * S),
        };
        assert_eq!(
            next_step(&failed, &SETTINGS, 1150 * S),
            Step::WaitUntil(1200 * S)
        );
        assert_eq!(next_step(&failed, &SETTINGS, 1200 * S), Step::Offboard);
    }

    #[test]
    fn a_failed_lock_waits_for_its_retry() {
        let failed = Standing {
            attempts: 1,
            next_attempt_at: Some(1010 * S),
            ..user(1000 * S)
        };
        assert_eq!(
            next_step(&failed, &SETTINGS, 1005 * S),
            Step::WaitUntil(1010 * S)
        );
        assert_eq!(next_step(&failed, &SETTINGS, 1010 * S), Step::Lock);
    }

    #[test]
    fn only_the_lifetimes_own_limit_on_the_password_moves() {
        // VALID UNTIL was the old expiry: it follows the new one.
        assert_eq!(valid_until_for_lifetime(Some(100), Some(100), 200), 200);
        assert_eq!(valid_until_for_lifetime(Some(100), Some(100), 50), 50);
        // None, or later than the old expiry: the new expiry.
        assert_eq!(valid_until_for_lifetime(None, Some(100), 200), 200);
        assert_eq!(valid_until_for_lifetime(Some(i64::MAX), None, 200), 200);
        // A nearer limit of someone else's stays, unless the lifetime ends sooner.
        assert_eq!(valid_until_for_lifetime(Some(80), Some(100), 200), 80);
        assert_eq!(valid_until_for_lifetime(Some(80), Some(100), 60), 60);
        assert_eq!(valid_until_for_lifetime(Some(80), None, 200), 80);
    }

    #[test]
    fn labels_round_trip_and_nothing_else_parses() {
        for label in [
            ExpiryLabel {
                expires_at: 12345,
                login_taken: false,
            },
            ExpiryLabel {
                expires_at: -7,
                login_taken: true,
            },
        ] {
            assert_eq!(ExpiryLabel::parse(&label.format()), Some(label));
        }
        for bad in [
            "",
            "expires_at=",
            "expires_at=x",
            "expires_at=1 login",
            "expires_at=1 login_taken x",
            "valid_until=1",
        ] {
            assert_eq!(ExpiryLabel::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_time_bound_caller_hands_out_nothing_that_outlives_it() {
        let now = 1000 * S;
        let caller = Request {
            caller_end: Some(now + 10 * S),
            ..Request::default()
        };
        // Nothing asked and no template lifetime: the caller's own end.
        assert_eq!(expiry_at_creation(&caller, now), Ok(Some(now + 10 * S)));
        let longer = Request {
            valid_for_end: Some(now + 20 * S),
            ..caller
        };
        assert_eq!(
            expiry_at_creation(&longer, now),
            Err(Refusal::BeyondCaller {
                caller_end: now + 10 * S
            })
        );
        assert_eq!(
            expiry_at_renewal(&longer, now),
            Err(Refusal::BeyondCaller {
                caller_end: now + 10 * S
            })
        );
    }

    #[test]
    fn creation_takes_the_request_then_the_default_then_the_maximum() {
        let now = 1000 * S;
        assert_eq!(expiry_at_creation(&Request::default(), now), Ok(None));
        let template = Request {
            default_end: Some(now + 10 * S),
            max_end: Some(now + 50 * S),
            ..Request::default()
        };
        assert_eq!(expiry_at_creation(&template, now), Ok(Some(now + 10 * S)));
        let asked = Request {
            valid_for_end: Some(now + 20 * S),
            ..template
        };
        assert_eq!(expiry_at_creation(&asked, now), Ok(Some(now + 20 * S)));
        let only_max = Request {
            max_end: Some(now + 50 * S),
            ..Request::default()
        };
        assert_eq!(expiry_at_creation(&only_max, now), Ok(Some(now + 50 * S)));
    }

    #[test]
    fn requests_beyond_the_maximum_in_the_past_or_doubled_are_refused() {
        let now = 1000 * S;
        let too_long = Request {
            valid_until: Some(now + 60 * S),
            max_end: Some(now + 50 * S),
            ..Request::default()
        };
        assert_eq!(
            expiry_at_creation(&too_long, now),
            Err(Refusal::BeyondMax {
                max_end: now + 50 * S
            })
        );
        let past = Request {
            valid_for_end: Some(now),
            ..Request::default()
        };
        assert_eq!(expiry_at_creation(&past, now), Err(Refusal::NotInFuture));
        let both = Request {
            valid_for_end: Some(now + S),
            valid_until: Some(now + S),
            ..Request::default()
        };
        assert_eq!(expiry_at_creation(&both, now), Err(Refusal::Both));
    }

    #[test]
    fn renewals_stay_within_the_maximum_counted_from_creation() {
        let now = 1000 * S;
        let created_long_ago = Request {
            valid_for_end: Some(now + 30 * S),
            max_end: Some(now + 10 * S),
            ..Request::default()
        };
        assert_eq!(
            expiry_at_renewal(&created_long_ago, now),
            Err(Refusal::BeyondMax {
                max_end: now + 10 * S
            })
        );
        assert_eq!(
            expiry_at_renewal(&Request::default(), now),
            Err(Refusal::NothingAsked)
        );
        let by_default = Request {
            default_end: Some(now + 5 * S),
            max_end: Some(now + 10 * S),
            ..Request::default()
        };
        assert_eq!(expiry_at_renewal(&by_default, now), Ok(now + 5 * S));
    }
}
