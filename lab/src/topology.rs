//! Who may sync with whom.

use std::fmt;

use rand::{seq::SliceRandom, Rng};
use serde::Serialize;

use crate::Error;

/// The graph of links between peers. Each gossip round a peer picks one neighbour at random.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Topology {
    /// Everyone may reach everyone: random gossip over the full mesh.
    Mesh,
    /// Each peer links to the next and the previous one.
    Ring,
    /// Peer 0 is the server; every other peer links only to it.
    Star,
    /// A random connected graph where every peer has this many neighbours.
    Regular(usize),
}

impl fmt::Display for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Topology::Mesh => f.write_str("mesh"),
            Topology::Ring => f.write_str("ring"),
            Topology::Star => f.write_str("star"),
            Topology::Regular(k) => write!(f, "regular:{k}"),
        }
    }
}

impl std::str::FromStr for Topology {
    type Err = String;

    fn from_str(s: &str) -> Result<Topology, String> {
        match s {
            "mesh" => Ok(Topology::Mesh),
            "ring" => Ok(Topology::Ring),
            "star" => Ok(Topology::Star),
            _ => match s.strip_prefix("regular:").map(str::parse::<usize>) {
                Some(Ok(k)) if k >= 2 => Ok(Topology::Regular(k)),
                _ => Err(format!(
                    "unknown topology {s:?}: use mesh, ring, star or regular:K (K >= 2)"
                )),
            },
        }
    }
}

impl Topology {
    /// The neighbours of each of `n` peers (symmetric, no self-links, connected).
    pub fn build(&self, n: usize, rng: &mut impl Rng) -> Result<Vec<Vec<usize>>, Error> {
        Ok(match *self {
            Topology::Mesh => (0..n)
                .map(|i| (0..n).filter(|&j| j != i).collect())
                .collect(),
            Topology::Ring => (0..n)
                .map(|i| {
                    let mut v = vec![(i + 1) % n, (i + n - 1) % n];
                    v.sort_unstable();
                    v.dedup();
                    v
                })
                .collect(),
            Topology::Star => (0..n)
                .map(|i| if i == 0 { (1..n).collect() } else { vec![0] })
                .collect(),
            Topology::Regular(k) => regular(n, k, rng)?,
        })
    }
}

/// A random `k`-regular graph by the pairing model: `k` stubs per peer, shuffled and paired;
/// a pairing with a self-link or a double link, or a disconnected graph, is drawn again.
fn regular(n: usize, k: usize, rng: &mut impl Rng) -> Result<Vec<Vec<usize>>, Error> {
    if k >= n || (n * k) % 2 == 1 {
        return Err(Error::Config(format!(
            "no {k}-regular graph on {n} peers (need k < n and n*k even)"
        )));
    }
    'attempt: for _ in 0..1_000 {
        let mut stubs: Vec<usize> = (0..n).flat_map(|i| std::iter::repeat_n(i, k)).collect();
        stubs.shuffle(rng);
        let mut adj = vec![Vec::with_capacity(k); n];
        for pair in stubs.chunks(2) {
            let (a, b) = (pair[0], pair[1]);
            if a == b || adj[a].contains(&b) {
                continue 'attempt;
            }
            adj[a].push(b);
            adj[b].push(a);
        }
        if connected(&adj) {
            for v in &mut adj {
                v.sort_unstable();
            }
            return Ok(adj);
        }
    }
    Err(Error::Config(format!(
        "could not draw a connected {k}-regular graph on {n} peers"
    )))
}

fn connected(adj: &[Vec<usize>]) -> bool {
    let mut seen = vec![false; adj.len()];
    let mut stack = vec![0];
    seen[0] = true;
    while let Some(p) = stack.pop() {
        for &q in &adj[p] {
            if !seen[q] {
                seen[q] = true;
                stack.push(q);
            }
        }
    }
    seen.iter().all(|&s| s)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn graphs_are_symmetric_and_connected() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for t in [
            Topology::Mesh,
            Topology::Ring,
            Topology::Star,
            Topology::Regular(4),
        ] {
            let adj = t.build(40, &mut rng).unwrap();
            assert!(connected(&adj), "{t}");
            for (a, ns) in adj.iter().enumerate() {
                assert!(!ns.contains(&a), "{t}: self-link");
                for &b in ns {
                    assert!(adj[b].contains(&a), "{t}: {a}-{b} one way");
                }
            }
        }
        let adj = Topology::Regular(3).build(50, &mut rng).unwrap();
        assert!(adj.iter().all(|ns| ns.len() == 3));
    }

    #[test]
    fn impossible_graphs_are_errors() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        assert!(Topology::Regular(3).build(5, &mut rng).is_err());
        assert!(Topology::Regular(9).build(5, &mut rng).is_err());
        assert!("regular:1".parse::<Topology>().is_err());
        assert_eq!("regular:4".parse::<Topology>(), Ok(Topology::Regular(4)));
    }
}
