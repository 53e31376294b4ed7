//! The simulation runs the real sync code: every run must end with identical heads, and a seed
//! must reproduce a run exactly.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use weft_lab::{run, Config, Latency, Partition, Report, Topology};

fn small() -> Config {
    Config {
        peers: 8,
        changes: 40,
        writers: 3,
        write_rate: 40.0,
        keys: 10,
        ..Config::default()
    }
}

/// A report without the one figure that depends on the machine.
fn stable(mut r: Report) -> Report {
    r.wall_seconds = 0.0;
    r
}

#[test]
fn a_seed_reproduces_a_run_exactly() {
    let cfg = Config {
        loss: 0.05,
        latency: Latency::LogNormal {
            median: 30.0,
            sigma: 0.6,
        },
        partition: Some(Partition {
            start: 0.2,
            end: 1.5,
            fraction: 0.5,
        }),
        push_fanout: 1,
        ..small()
    };
    // Peers run side by side within a window: the thread count must not matter.
    let on = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        stable(pool.install(|| run(&cfg).unwrap()))
    };
    let a = on(1);
    let b = on(3);
    assert_eq!(a, b);
    assert!(
        a.failed_sessions > 0,
        "loss and the partition fail sessions"
    );
    let c = stable(
        run(&Config {
            seed: cfg.seed + 1,
            ..cfg.clone()
        })
        .unwrap(),
    );
    assert_ne!(a.delivery, c.delivery, "another seed, another run");
}

#[test]
fn every_topology_converges_with_identical_heads() {
    for topology in [
        Topology::Mesh,
        Topology::Ring,
        Topology::Star,
        Topology::Regular(3),
    ] {
        let r = run(&Config {
            topology,
            ..small()
        })
        .unwrap();
        assert!(r.converged, "{topology}");
        let t = r.convergence.unwrap();
        assert!(t >= 0.0, "{topology}: {t}");
        // Staleness ends at zero: every peer holds every change.
        let last = r.staleness.last().unwrap();
        assert_eq!(last.written, 40);
        assert_eq!(last.max_missing, 0);
        assert!(r.bytes_per_peer.min > 0.0);
    }
}

#[test]
fn a_partition_delays_convergence_until_it_heals() {
    let base = Config {
        changes: 30,
        write_rate: 100.0,
        ..small()
    };
    let cut = Config {
        partition: Some(Partition {
            start: 0.0,
            end: 20.0,
            fraction: 0.5,
        }),
        ..base.clone()
    };
    let healed = run(&cut).unwrap();
    assert!(healed.converged);
    // The writes end well before the cut heals, so the last write + convergence >= 20 s.
    assert!(healed.last_write + healed.convergence.unwrap() >= 20.0);
    assert!(healed.failures.keys().any(|k| k.starts_with("partitioned")));
    let free = run(&base).unwrap();
    assert!(free.last_write + free.convergence.unwrap() < 20.0);
}

#[test]
fn lost_messages_abort_sessions_but_not_convergence() {
    let r = run(&Config {
        loss: 0.2,
        ..small()
    })
    .unwrap();
    assert!(r.converged);
    assert!(r.failures.contains_key("a message was lost (timed out)"));
}

#[test]
fn a_timeout_shorter_than_a_link_still_converges() {
    // Sessions whose first message is lost time out before the responder hears of them.
    let r = run(&Config {
        loss: 0.2,
        latency: Latency::Fixed(50.0),
        timeout: 0.01,
        ..small()
    })
    .unwrap();
    assert!(r.converged);
    assert!(r.failed_sessions > 0);
}

#[test]
fn bad_parameters_are_errors() {
    for cfg in [
        Config {
            peers: 1,
            ..small()
        },
        Config {
            writers: 9,
            ..small()
        },
        Config {
            loss: 1.0,
            ..small()
        },
        Config {
            interval: 0.0,
            ..small()
        },
        Config {
            topology: Topology::Regular(9),
            ..small()
        },
        Config {
            timeout: 1e-7,
            ..small()
        },
        Config {
            sample_every: f64::INFINITY,
            ..small()
        },
    ] {
        let e = run(&cfg).unwrap_err();
        assert!(e.to_string().starts_with("invalid lab parameters"), "{e}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// Whatever the network, once the writes stop every replica ends with the same heads
    /// (`run` checks the heads of the real repos, not just the counts).
    #[test]
    fn any_network_converges(
        seed in 0u64..1_000,
        peers in 2usize..12,
        topo in 0usize..4,
        loss in 0.0f64..0.3,
        latency in 0.0f64..200.0,
        writers in 1usize..4,
        changes in 1usize..40,
        interval in 0.05f64..2.0,
        fanout in 0usize..3,
    ) {
        let topology = match topo {
            0 => Topology::Mesh,
            1 => Topology::Ring,
            2 => Topology::Star,
            _ if peers > 3 && peers % 2 == 0 => Topology::Regular(3),
            _ => Topology::Ring,
        };
        let r = run(&Config {
            seed,
            peers,
            topology,
            loss,
            latency: Latency::Fixed(latency),
            writers: writers.min(peers),
            changes,
            interval,
            push_fanout: fanout,
            keys: 5,
            ..Config::default()
        })
        .unwrap();
        prop_assert!(r.converged, "{:?}", r.config);
    }
}
