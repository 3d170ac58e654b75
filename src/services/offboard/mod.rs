//! Offboarding across every database of the cluster, all or nothing.
//!
//! A function runs in one database, so for each other database where the
//! leaving role owns objects or holds privileges, a dynamic background
//! worker connects there (as the extension owner) and does the work in a
//! prepared transaction (`work.rs`: neutralise code that would run with the
//! heir's rights, then REASSIGN OWNED / DROP OWNED). The caller's
//! transaction is the coordinator (`coordinator.rs`): the prepared work is
//! committed just before the caller's transaction commits, and rolled back
//! if it aborts, however it aborts. Leftovers (after a crash, or a worker
//! that outlived its coordinator) are recognised by their transaction name,
//! which carries the coordinator's transaction id.

pub mod coordinator;
pub mod work;
pub mod worker;

use serde::{Deserialize, Serialize};

/// What the work does with the role's objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// REASSIGN OWNED BY role TO heir; DROP OWNED BY role (revokes what is left).
    Reassign,
    /// DROP OWNED BY role: drops its objects (only when asked explicitly).
    DropObjects,
    /// DROP OWNED BY role, refusing if it owns anything: privileges only.
    RevokeOnly,
}

/// Which step a worker performs in its database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Do the work and PREPARE TRANSACTION.
    Prepare,
    CommitPrepared,
    RollbackPrepared,
    /// Roll back every offboarding transaction prepared in this database
    /// whose coordinator is no longer running.
    ResolveLeftovers,
}

/// A job for one database, passed to the worker as `bgw_extra`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub database: u32,
    pub role: u32,
    pub heir: u32,
    pub run_as: u32,
    pub mode: Mode,
    pub phase: Phase,
    pub lock_timeout_ms: i32,
    /// Full transaction id of the coordinating (caller's) transaction.
    pub coordinator: u64,
    /// DSM handle for the result; 0 when nobody waits for it.
    pub result_segment: u32,
}

/// Prefix of every prepared transaction the extension creates.
pub const GID_PREFIX: &str = "managed_roles_offboard_";

impl Job {
    /// Name of the prepared transaction of this job: unique per coordinator,
    /// role and database, and enough to decide its fate after a crash.
    pub fn gid(&self) -> String {
        format!(
            "{GID_PREFIX}{}_{}_{}",
            self.coordinator, self.role, self.database
        )
    }

    /// Numbers separated by spaces: bgw_extra holds only 128 bytes.
    pub fn encode(&self) -> String {
        format!(
            "{} {} {} {} {} {} {} {} {}",
            self.database,
            self.role,
            self.heir,
            self.run_as,
            self.mode as u8,
            self.phase as u8,
            self.lock_timeout_ms,
            self.coordinator,
            self.result_segment
        )
    }

    pub fn decode(text: &str) -> Option<Job> {
        let f: Vec<&str> = text.split(' ').collect();
        if f.len() != 9 {
            return None;
        }
        const MODES: [Mode; 3] = [Mode::Reassign, Mode::DropObjects, Mode::RevokeOnly];
        const PHASES: [Phase; 4] = [
            Phase::Prepare,
            Phase::CommitPrepared,
            Phase::RollbackPrepared,
            Phase::ResolveLeftovers,
        ];
        Some(Job {
            database: f[0].parse().ok()?,
            role: f[1].parse().ok()?,
            heir: f[2].parse().ok()?,
            run_as: f[3].parse().ok()?,
            mode: *MODES.get(f[4].parse::<usize>().ok()?)?,
            phase: *PHASES.get(f[5].parse::<usize>().ok()?)?,
            lock_timeout_ms: f[6].parse().ok()?,
            coordinator: f[7].parse().ok()?,
            result_segment: f[8].parse().ok()?,
        })
    }
}

/// The coordinator's transaction id named in a prepared transaction's name.
pub fn coordinator_of(gid: &str) -> Option<u64> {
    gid.strip_prefix(GID_PREFIX)?
        .split('_')
        .next()?
        .parse()
        .ok()
}

/// What came back from one database.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub ok: bool,
    pub owned: i64,
    pub privileges: i64,
    /// Objects made safe before they changed owner (see work.rs).
    pub neutralized: Vec<String>,
    /// Prepared transactions resolved (ResolveLeftovers).
    pub resolved: Vec<String>,
    pub error: Option<String>,
}

impl Outcome {
    pub fn failed(message: impl Into<String>) -> Outcome {
        Outcome {
            ok: false,
            error: Some(message.into()),
            ..Outcome::default()
        }
    }
}

/// Size of the result segment: room for a long list of neutralised objects.
pub const SEGMENT_SIZE: usize = 64 * 1024;

/// Writes an outcome into the result segment as NUL-terminated JSON; lists
/// too long for the segment are cut short with a note saying how many more.
pub fn write_outcome(buf: &mut [u8], outcome: &Outcome) {
    let mut shown = outcome.clone();
    let mut text = serde_json::to_vec(&shown).expect("an outcome serializes");
    while text.len() >= buf.len() && !shown.neutralized.is_empty() {
        let keep = shown.neutralized.len() / 2;
        let cut = outcome.neutralized.len() - keep;
        shown.neutralized.truncate(keep);
        shown.neutralized.push(format!("... and {cut} more"));
        text = serde_json::to_vec(&shown).expect("an outcome serializes");
    }
    if text.len() >= buf.len() {
        text = serde_json::to_vec(&Outcome::failed(
            "the result was too large to report (see the server log)",
        ))
        .expect("an outcome serializes");
    }
    buf.fill(0);
    buf[..text.len()].copy_from_slice(&text);
}

pub fn read_outcome(buf: &[u8]) -> Outcome {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    if end == 0 {
        return Outcome::failed(
            "the background worker ended without reporting (see the server log)",
        );
    }
    serde_json::from_slice(&buf[..end])
        .unwrap_or_else(|_| Outcome::failed("the background worker's report was unreadable"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> Job {
        Job {
            database: 16384,
            role: 16390,
            heir: 0,
            run_as: 10,
            mode: Mode::RevokeOnly,
            phase: Phase::Prepare,
            lock_timeout_ms: 5000,
            coordinator: 4_294_967_999,
            result_segment: 4_000_000_000,
        }
    }

    #[test]
    fn jobs_round_trip_within_bgw_extra() {
        let job = job();
        assert_eq!(job.gid(), "managed_roles_offboard_4294967999_16390_16384");
        // bgw_extra holds BGW_EXTRALEN (128) bytes.
        assert!(job.encode().len() < 128, "{}", job.encode().len());
        assert_eq!(Job::decode(&job.encode()), Some(job));
        assert_eq!(Job::decode("1 2 3"), None);
        assert_eq!(Job::decode("1 2 3 4 9 0 6 7 8"), None);
        assert_eq!(Job::decode("1 2 3 4 0 9 6 7 8"), None);
    }

    #[test]
    fn gids_name_their_coordinator() {
        assert_eq!(coordinator_of(&job().gid()), Some(4_294_967_999));
        assert_eq!(coordinator_of("managed_roles_offboard_x_1_2"), None);
        assert_eq!(coordinator_of("other_7_1_2"), None);
    }

    #[test]
    fn outcomes_round_trip_and_long_lists_are_cut() {
        let mut buf = vec![0u8; SEGMENT_SIZE];
        assert!(!read_outcome(&buf).ok);
        let ok = Outcome {
            ok: true,
            owned: 3,
            privileges: 2,
            neutralized: vec!["function f()".into()],
            ..Outcome::default()
        };
        write_outcome(&mut buf, &ok);
        assert_eq!(read_outcome(&buf), ok);
        let many = Outcome {
            ok: true,
            neutralized: (0..10_000)
                .map(|i| format!("function public.f{i}()"))
                .collect(),
            ..Outcome::default()
        };
        write_outcome(&mut buf, &many);
        let back = read_outcome(&buf);
        assert!(back.ok);
        assert!(back.neutralized.len() < 10_000);
        assert!(back.neutralized.last().unwrap().contains("more"));
    }
}
