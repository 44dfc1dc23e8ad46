//! Several desks on one database: the mailbox lease. Exactly one desk (the active one) reads
//! a mailbox and does the desk's work; the others stand by, and one of them takes the lease
//! over once the active desk stops renewing it: it died, was killed, or lost the database.
//!
//! A lease row in the database (not a PostgreSQL session advisory lock): it works the same on
//! both backends, survives connection poolers, and ends by time, so that a desk cut off from
//! the database does not keep the mailbox, and `helpdesk status` can show who holds it and
//! since when. Its writes run in `begin_write` transactions, one at a time across the desks,
//! so a take-over never races a renewal. This module owns `desk_leases` and `desk_heartbeats`.
//!
//! The times: the holder renews every third of `[ha] takeover_secs`; the lease expires a
//! second short of `takeover_secs` after the last renewal, and a standby desk looks every
//! second, so it takes over within `takeover_secs` of the holder's last renewal. The holder
//! stops working at half that time without a renewal (see [`Keeper`]), so clocks may differ
//! by up to half of it. On one machine a dead holder is seen at once: its process is gone.

use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::Row as _;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::HaConfig;
use crate::storage::{begin_write, time_from_db, time_to_db, Db, Tx};

/// How often a standby desk asks for the lease.
pub const STANDBY_POLL: Duration = Duration::from_secs(1);

/// Who this desk process is: `host:pid:nonce`, the same for the whole life of the process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeskId {
    pub id: String,
    pub host: String,
    pub pid: u32,
}

impl DeskId {
    pub fn of_this_process(config: &HaConfig) -> DeskId {
        static NONCE: OnceLock<String> = OnceLock::new();
        let nonce = NONCE.get_or_init(|| uuid::Uuid::new_v4().simple().to_string()[..8].to_string());
        let host = config.host.clone().unwrap_or_else(machine_name);
        let pid = std::process::id();
        DeskId { id: format!("{host}:{pid}:{nonce}"), host, pid }
    }

    /// Whether the desk `other` (an id such as `DeskId::id`) is known to be gone: it ran on
    /// this host under a process that no longer exists. Unknown (another host) is not gone.
    pub fn sees_gone(&self, other: &str) -> bool {
        let mut parts = other.split(':');
        let (Some(host), Some(pid)) = (parts.next(), parts.next()) else { return false };
        if host != self.host || other == self.id {
            return false;
        }
        match pid.parse::<u32>() {
            Ok(pid) if pid == self.pid => true,
            Ok(pid) => process_is_gone(pid),
            Err(_) => false,
        }
    }
}

fn machine_name() -> String {
    hostname::get().ok().and_then(|name| name.into_string().ok()).unwrap_or_else(|| "localhost".to_string())
}

/// Linux's `/proc`; elsewhere nothing is known to be gone (the lease then ends by time).
fn process_is_gone(pid: u32) -> bool {
    let proc = std::path::Path::new("/proc");
    proc.join("self").exists() && !proc.join(pid.to_string()).exists()
}

/// The lease of one mailbox as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub name: String,
    pub holder: String,
    pub held_since: DateTime<Utc>,
    pub renewed_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// What a desk does about a lease it asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Nobody holds it, it expired, or its holder is gone: this desk takes it.
    Take,
    /// This desk holds it already.
    Renew,
    /// Another desk holds it.
    StandBy,
}

pub fn decide(current: Option<&Lease>, me: &DeskId, now: DateTime<Utc>) -> Decision {
    match current {
        None => Decision::Take,
        Some(lease) if lease.holder == me.id => Decision::Renew,
        Some(lease) if lease.expires_at <= now || me.sees_gone(&lease.holder) => Decision::Take,
        Some(_) => Decision::StandBy,
    }
}

/// The outcome of asking for the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holding {
    /// This desk holds it (`taken`: from nobody or from a desk that stopped renewing).
    Held {
        taken: bool,
        previous: Option<String>,
    },
    HeldBy(Lease),
}

/// How long after a renewal the lease expires: a second (a standby's poll) short of the
/// takeover time.
pub fn lease_length(config: &HaConfig) -> chrono::Duration {
    chrono::Duration::seconds(config.takeover_secs as i64) - chrono::Duration::from_std(STANDBY_POLL).unwrap()
}

/// One ask: takes or renews the lease `name`, or learns who holds it; and writes this desk's
/// heartbeat (its role in `helpdesk status`). The step the service repeats, and tests call.
pub async fn hold_step(
    db: &Db,
    name: &str,
    me: &DeskId,
    length: chrono::Duration,
    now: DateTime<Utc>,
) -> anyhow::Result<Holding> {
    let mut tx = begin_write(db).await?;
    let current = read_lease(&mut tx, name).await?;
    let holding = match decide(current.as_ref(), me, now) {
        Decision::StandBy => Holding::HeldBy(current.expect("StandBy has a holder")),
        Decision::Renew => {
            write_lease(&mut tx, name, &me.id, current.map(|lease| lease.held_since).unwrap_or(now), now, length)
                .await?;
            Holding::Held { taken: false, previous: None }
        }
        Decision::Take => {
            write_lease(&mut tx, name, &me.id, now, now, length).await?;
            if let Some(previous) = &current {
                let how = how_it_ended(previous, now, length);
                tracing::info!(previous = previous.holder, how, "taking the mailbox lease over");
                // Its desk is gone or cut off: `status` no longer lists it (a desk that is
                // alive after all writes its heartbeat again as a standby).
                forget_heartbeat(&mut tx, &previous.holder).await?;
            }
            Holding::Held { taken: true, previous: current.map(|lease| lease.holder) }
        }
    };
    let role = if matches!(holding, Holding::Held { .. }) { "active" } else { "standby" };
    write_heartbeat(&mut tx, me, role, now).await?;
    tx.commit().await.context("committing the mailbox lease")?;
    Ok(holding)
}

/// Why a lease another desk held is free: for the log line of a take-over.
/// (A lease still running is only taken from a desk whose process is gone; a released one ends
/// before its full length.)
fn how_it_ended(lease: &Lease, now: DateTime<Utc>, length: chrono::Duration) -> &'static str {
    if lease.expires_at > now {
        "its desk's process is gone"
    } else if lease.expires_at < lease.renewed_at + length {
        "released by its desk on stopping"
    } else {
        "not renewed in time"
    }
}

async fn forget_heartbeat(tx: &mut Tx<'_>, desk: &str) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM desk_heartbeats WHERE desk = $1")
        .bind(desk)
        .execute(&mut **tx)
        .await
        .context("removing a desk's heartbeat")?;
    Ok(())
}

async fn read_lease(tx: &mut Tx<'_>, name: &str) -> anyhow::Result<Option<Lease>> {
    let row = sqlx::query("SELECT name, holder, held_since, renewed_at, expires_at FROM desk_leases WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut **tx)
        .await
        .context("reading the mailbox lease")?;
    row.map(|row| lease_from_row(&row)).transpose()
}

fn lease_from_row(row: &crate::storage::Row) -> anyhow::Result<Lease> {
    Ok(Lease {
        name: row.try_get("name")?,
        holder: row.try_get("holder")?,
        held_since: time_from_db(row.try_get("held_since")?)?,
        renewed_at: time_from_db(row.try_get("renewed_at")?)?,
        expires_at: time_from_db(row.try_get("expires_at")?)?,
    })
}

async fn write_lease(
    tx: &mut Tx<'_>,
    name: &str,
    holder: &str,
    held_since: DateTime<Utc>,
    now: DateTime<Utc>,
    length: chrono::Duration,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO desk_leases (name, holder, held_since, renewed_at, expires_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, held_since = excluded.held_since,
           renewed_at = excluded.renewed_at, expires_at = excluded.expires_at",
    )
    .bind(name)
    .bind(holder)
    .bind(time_to_db(held_since))
    .bind(time_to_db(now))
    .bind(time_to_db(now + length))
    .execute(&mut **tx)
    .await
    .context("writing the mailbox lease")?;
    Ok(())
}

async fn write_heartbeat(tx: &mut Tx<'_>, me: &DeskId, role: &str, now: DateTime<Utc>) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO desk_heartbeats (desk, host, pid, started_at, heartbeat_at, role) VALUES ($1, $2, $3, $4, $4, $5)
         ON CONFLICT (desk) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, role = excluded.role",
    )
    .bind(&me.id)
    .bind(&me.host)
    .bind(i64::from(me.pid))
    .bind(time_to_db(now))
    .bind(role)
    .execute(&mut **tx)
    .await
    .context("writing the desk's heartbeat")?;
    Ok(())
}

/// On a clean stop: the lease ends now (a standby takes over at its next look) and this desk
/// leaves the status list.
pub async fn release(db: &Db, name: &str, me: &DeskId, now: DateTime<Utc>) -> anyhow::Result<()> {
    let mut tx = begin_write(db).await?;
    sqlx::query("UPDATE desk_leases SET expires_at = $1 WHERE name = $2 AND holder = $3")
        .bind(time_to_db(now))
        .bind(name)
        .bind(&me.id)
        .execute(&mut *tx)
        .await
        .context("releasing the mailbox lease")?;
    forget_heartbeat(&mut tx, &me.id).await?;
    tx.commit().await.context("releasing the mailbox lease")?;
    Ok(())
}

/// One desk as `helpdesk status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Heartbeat {
    pub desk: String,
    pub host: String,
    pub pid: i64,
    pub started_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
    pub role: String,
}

/// Every lease, and every desk that has not said goodbye, most recent heartbeat first.
pub async fn status(db: &Db) -> anyhow::Result<(Vec<Lease>, Vec<Heartbeat>)> {
    let leases = sqlx::query("SELECT name, holder, held_since, renewed_at, expires_at FROM desk_leases ORDER BY name")
        .fetch_all(db)
        .await
        .context("reading the leases")?
        .iter()
        .map(lease_from_row)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let rows = sqlx::query(
        "SELECT desk, host, pid, started_at, heartbeat_at, role FROM desk_heartbeats ORDER BY heartbeat_at DESC",
    )
    .fetch_all(db)
    .await
    .context("reading the heartbeats")?;
    let heartbeats = rows
        .iter()
        .map(|row| {
            Ok(Heartbeat {
                desk: row.try_get("desk")?,
                host: row.try_get("host")?,
                pid: row.try_get("pid")?,
                started_at: time_from_db(row.try_get("started_at")?)?,
                heartbeat_at: time_from_db(row.try_get("heartbeat_at")?)?,
                role: row.try_get("role")?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok((leases, heartbeats))
}

/// The active desk's side: renews the lease in the background; `lost` turns true when another
/// desk holds it, or when no renewal has succeeded for half the takeover time (the database
/// is unreachable: the others may take over soon, so this desk stops first).
pub struct Keeper {
    pub lost: watch::Receiver<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Keeper {
    pub fn start(db: Db, name: String, me: DeskId, config: &HaConfig, clock: Clock) -> Keeper {
        let (sender, lost) = watch::channel(false);
        let length = lease_length(config);
        let every = Duration::from_secs(config.takeover_secs).div_f64(3.0);
        let grace = Duration::from_secs(config.takeover_secs) / 2;
        let task = tokio::spawn(async move {
            let mut last_renewed = tokio::time::Instant::now();
            loop {
                tokio::time::sleep(every).await;
                // A renewal may not wait longer than the grace (a pool waiting for a database
                // that does not answer would wait the busy timeout).
                let renewal = tokio::time::timeout(grace, hold_step(&db, &name, &me, length, clock.now()));
                let renewed = renewal.await.unwrap_or_else(|_| Err(anyhow::anyhow!("no answer from the database")));
                match renewed {
                    Ok(Holding::Held { .. }) => last_renewed = tokio::time::Instant::now(),
                    Ok(Holding::HeldBy(lease)) => {
                        tracing::warn!(holder = lease.holder, "another desk took the mailbox over: stopping work");
                        let _ = sender.send(true);
                        return;
                    }
                    Err(err) if last_renewed.elapsed() >= grace => {
                        tracing::error!(
                            error = format!("{err:#}"),
                            "the mailbox lease could not be renewed in time: stopping work"
                        );
                        let _ = sender.send(true);
                        return;
                    }
                    Err(err) => {
                        tracing::warn!(error = format!("{err:#}"), "renewing the mailbox lease failed; retrying")
                    }
                }
            }
        });
        Keeper { lost, task }
    }

    /// Stops renewing; says whether the lease was lost meanwhile.
    pub fn stop(self) -> bool {
        self.task.abort();
        let lost = *self.lost.borrow();
        lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desk(host: &str, pid: u32) -> DeskId {
        DeskId { id: format!("{host}:{pid}:abcd1234"), host: host.into(), pid }
    }

    fn lease(holder: &str, expires_at: &str) -> Lease {
        let at = |text: &str| DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc);
        Lease {
            name: "mailbox".into(),
            holder: holder.into(),
            held_since: at("2026-12-01T10:00:00Z"),
            renewed_at: at("2026-12-01T10:00:00Z"),
            expires_at: at(expires_at),
        }
    }

    #[test]
    fn a_desk_takes_a_free_or_expired_lease_renews_its_own_and_stands_by_for_a_live_one() {
        let now = DateTime::parse_from_rfc3339("2026-12-01T10:00:10Z").unwrap().with_timezone(&Utc);
        let me = desk("a", std::process::id());
        assert_eq!(decide(None, &me, now), Decision::Take);
        assert_eq!(decide(Some(&lease(&me.id, "2026-12-01T10:00:20Z")), &me, now), Decision::Renew);
        assert_eq!(decide(Some(&lease("b:1:x", "2026-12-01T10:00:20Z")), &me, now), Decision::StandBy);
        assert_eq!(decide(Some(&lease("b:1:x", "2026-12-01T10:00:10Z")), &me, now), Decision::Take, "expired");
    }

    #[test]
    fn on_one_host_a_holder_whose_process_is_gone_is_taken_over_at_once() {
        let now = DateTime::parse_from_rfc3339("2026-12-01T10:00:10Z").unwrap().with_timezone(&Utc);
        let me = desk("a", std::process::id());
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let gone_pid = child.id();
        child.wait().unwrap();
        let live = lease(&format!("a:{}:other", std::process::id()), "2026-12-01T10:00:20Z");
        let dead = lease(&format!("a:{gone_pid}:other"), "2026-12-01T10:00:20Z");
        let elsewhere = lease(&format!("b:{gone_pid}:other"), "2026-12-01T10:00:20Z");
        assert_eq!(decide(Some(&dead), &me, now), Decision::Take);
        assert_eq!(decide(Some(&elsewhere), &me, now), Decision::StandBy, "another host's pid says nothing");
        // The same pid with another nonce is an earlier life of this very process number.
        assert_eq!(decide(Some(&live), &me, now), Decision::Take);
        assert!(!me.sees_gone("garbage"));
    }

    /// On the database (SQLite here, PostgreSQL with HELPDESK_TEST_DATABASE=postgres): one
    /// holder at a time, a standby takes over once the lease runs out, a renewal by the old
    /// holder then finds it taken, and a release hands over at once.
    #[tokio::test]
    async fn two_desks_on_one_database_hold_the_mailbox_one_at_a_time() {
        let desk = crate::desk::Desk::open(crate::testing::sample_config()).await.unwrap();
        let (a, b) = (desk_on("a"), desk_on("b"));
        let length = chrono::Duration::seconds(14);
        let t0 = DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z").unwrap().with_timezone(&Utc);
        let at = |secs: i64| t0 + chrono::Duration::seconds(secs);
        let held = |holding: Holding| matches!(holding, Holding::Held { .. });

        assert_eq!(
            hold_step(&desk.db, "box", &a, length, at(0)).await.unwrap(),
            Holding::Held { taken: true, previous: None }
        );
        assert!(!held(hold_step(&desk.db, "box", &b, length, at(1)).await.unwrap()), "B stands by");
        assert!(held(hold_step(&desk.db, "box", &a, length, at(5)).await.unwrap()), "A renews");
        assert!(!held(hold_step(&desk.db, "box", &b, length, at(18)).await.unwrap()), "renewed at 5: held until 19");
        let taken = hold_step(&desk.db, "box", &b, length, at(19)).await.unwrap();
        assert_eq!(taken, Holding::Held { taken: true, previous: Some(a.id.clone()) });
        assert!(!held(hold_step(&desk.db, "box", &a, length, at(20)).await.unwrap()), "A finds it taken");

        release(&desk.db, "box", &b, at(21)).await.unwrap();
        assert!(held(hold_step(&desk.db, "box", &a, length, at(21)).await.unwrap()), "released: A at once");
        let (leases, heartbeats) = status(&desk.db).await.unwrap();
        assert_eq!(leases[0].holder, a.id);
        assert_eq!(leases[0].held_since, at(21));
        assert_eq!(
            heartbeats.iter().map(|beat| beat.desk.as_str()).collect::<Vec<_>>(),
            [a.id.as_str()],
            "B said goodbye"
        );
    }

    /// A desk on another host (so that no process check applies).
    fn desk_on(host: &str) -> DeskId {
        DeskId { id: format!("{host}:1:abcd"), host: host.into(), pid: 1 }
    }
}
