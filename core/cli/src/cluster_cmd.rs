//! `coord cluster status|add|remove`: what the members say about the
//! cluster, and membership changes (sent to the leader, found through the
//! status of whichever member the client reached).

use std::io::Write;
use std::time::Duration;

use clap::Subcommand;
use coord_client::{Client, Error};
use coord_proto::proto;

#[derive(Subcommand, Debug)]
pub(crate) enum ClusterCmd {
    /// Members, roles, the leader, applied index and (from the leader) lag,
    /// e.g. `coord --servers 127.0.0.1:2281 cluster status --json`.
    Status {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Add member ID reached by its peers at PEER_ADDR; it is caught up as a
    /// learner, then made a voter (unless --learner), e.g.
    /// `coord cluster add 4 10.0.0.4:2381 --client-addr 10.0.0.4:2281`.
    Add {
        id: u64,
        peer_addr: String,
        /// Where clients reach the new member (shown in status).
        #[arg(long, default_value = "")]
        client_addr: String,
        /// Keep it a learner: it serves reads and forwards writes, never votes.
        #[arg(long)]
        learner: bool,
    },
    /// Remove member ID (a voter through joint consensus, or a learner),
    /// e.g. `coord cluster remove 4`.
    Remove { id: u64 },
}

pub(crate) async fn run(
    client: &Client,
    cmd: ClusterCmd,
    session_timeout: Duration,
) -> Result<(), Error> {
    use proto::cluster_change_request::Change;
    let change = match cmd {
        ClusterCmd::Status { json } => {
            let status = client.cluster_status().await?;
            return print(&status, json);
        }
        ClusterCmd::Add {
            id,
            peer_addr,
            client_addr,
            learner,
        } => Change::Add(proto::AddMember {
            id,
            peer_addr,
            client_addr,
            learner,
        }),
        ClusterCmd::Remove { id } => Change::Remove(id),
    };
    let status = client.cluster_status().await?;
    let after = if status.leader == status.this_member {
        client.cluster_change(change).await?
    } else {
        let leader = status
            .members
            .iter()
            .find(|m| m.id == status.leader && !m.client_addr.is_empty())
            .ok_or_else(|| {
                Error::NotLeader(format!(
                    "member {} does not know the leader's client address (leader: {})",
                    status.this_member, status.leader
                ))
            })?;
        let to_leader = Client::builder()
            .servers(leader.client_addr.clone())
            .session_timeout(session_timeout)
            .connect()
            .await?;
        let r = to_leader.cluster_change(change).await;
        let _ = to_leader.close().await;
        r?
    };
    print(&after, false)
}

fn print(s: &proto::ClusterStatus, json: bool) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    if json {
        let members: Vec<serde_json::Value> = s
            .members
            .iter()
            .map(|m| {
                serde_json::json!({
                    "id": m.id,
                    "client_addr": m.client_addr,
                    "peer_addr": m.peer_addr,
                    "role": m.role,
                    "matched_index": m.matched_known.then_some(m.matched_index),
                    "lag": m.matched_known.then_some(m.lag),
                })
            })
            .collect();
        let doc = serde_json::json!({
            "leader": (s.leader != 0).then_some(s.leader),
            "answered_by": s.this_member,
            "term": s.term,
            "applied_index": s.applied_index,
            "members": members,
        });
        writeln!(out, "{doc}")?;
        return Ok(());
    }
    let leader = if s.leader == 0 {
        "none known".to_string()
    } else {
        s.leader.to_string()
    };
    writeln!(
        out,
        "leader: {leader}   term: {}   answered by: {} (applied index {})",
        s.term, s.this_member, s.applied_index
    )?;
    writeln!(
        out,
        "{:>4}  {:<8}  {:<22}  {:<22}  {:>8}",
        "id", "role", "client", "peer", "lag"
    )?;
    for m in &s.members {
        let role = if m.id == s.leader { "leader" } else { &m.role };
        let lag = if m.matched_known {
            m.lag.to_string()
        } else {
            "-".into()
        };
        writeln!(
            out,
            "{:>4}  {:<8}  {:<22}  {:<22}  {:>8}",
            m.id, role, m.client_addr, m.peer_addr, lag
        )?;
    }
    Ok(())
}
