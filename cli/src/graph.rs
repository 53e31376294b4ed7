//! Drawing the history DAG: `log --graph` lanes and Graphviz DOT.

use std::collections::BTreeMap;

use weft_dag::Cid;

/// Lays out commits (given newest first, every child before its parents) in lanes, the way
/// `git log --graph` does, and returns one text line per row: either a commit row
/// (`Row::Commit`) or a connector row.
#[derive(Debug, Default)]
pub struct Lanes {
    lanes: Vec<Option<Cid>>,
}

/// One output row of the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    /// The row that carries a commit: the graph prefix (with `*`) and the commit it belongs to.
    Commit(String, Cid),
    /// A connector row (`|/`, `|\`).
    Edge(String),
}

impl Lanes {
    /// A new, empty layout.
    pub fn new() -> Lanes {
        Lanes::default()
    }

    fn trim(&mut self) {
        while matches!(self.lanes.last(), Some(None)) {
            self.lanes.pop();
        }
    }

    fn base_row(&self) -> Vec<char> {
        let mut row = vec![' '; self.lanes.len() * 2];
        for (i, l) in self.lanes.iter().enumerate() {
            if l.is_some() {
                row[i * 2] = '|';
            }
        }
        row
    }

    fn render(row: Vec<char>) -> String {
        row.into_iter().collect::<String>().trim_end().to_string()
    }

    /// Adds one commit with its parents and returns the rows it produces.
    pub fn push(&mut self, cid: Cid, parents: &[Cid]) -> Vec<Row> {
        let mut rows = Vec::new();
        let expecting: Vec<usize> = self
            .lanes
            .iter()
            .enumerate()
            .filter(|(_, l)| **l == Some(cid))
            .map(|(i, _)| i)
            .collect();
        let col = match expecting.first() {
            Some(&c) => c,
            None => match self.lanes.iter().position(Option::is_none) {
                Some(free) => {
                    self.lanes[free] = Some(cid);
                    free
                }
                None => {
                    self.lanes.push(Some(cid));
                    self.lanes.len() - 1
                }
            },
        };
        // Lanes that were waiting for this commit join its lane first.
        for &j in expecting.iter().skip(1) {
            let mut row = self.base_row();
            for cell in row.iter_mut().take(2 * j - 1).skip(2 * col + 1) {
                if *cell == ' ' {
                    *cell = '_';
                }
            }
            row[2 * j] = ' ';
            row[2 * j - 1] = '/';
            rows.push(Row::Edge(Lanes::render(row)));
            self.lanes[j] = None;
        }
        self.trim();
        let mut row = self.base_row();
        row[2 * col] = '*';
        rows.push(Row::Commit(Lanes::render(row), cid));

        // The first parent continues this lane; every other parent opens a lane of its own,
        // even when another lane already waits for it (the lanes that wait for one commit join
        // when it is reached), so that each edge of a merge is drawn.
        let mut parents = parents.iter();
        let first = parents.next().copied();
        self.lanes[col] = first;
        let mut opened = Vec::new();
        let mut seen = vec![first];
        for p in parents {
            if seen.contains(&Some(*p)) {
                continue;
            }
            seen.push(Some(*p));
            let slot = match self.lanes.iter().skip(col + 1).position(Option::is_none) {
                Some(off) => col + 1 + off,
                None => {
                    self.lanes.push(None);
                    self.lanes.len() - 1
                }
            };
            self.lanes[slot] = Some(*p);
            opened.push(slot);
        }
        if !opened.is_empty() {
            let mut row = self.base_row();
            for &n in &opened {
                row[2 * n] = ' ';
                row[2 * n - 1] = '\\';
            }
            rows.push(Row::Edge(Lanes::render(row)));
        }
        self.trim();
        rows
    }
}

/// One node of the DAG picture.
#[derive(Debug, Clone)]
pub struct Node {
    /// The change.
    pub cid: Cid,
    /// Its parents.
    pub parents: Vec<Cid>,
    /// A short author tag.
    pub author: String,
    /// A one-line summary of the ops.
    pub summary: String,
    /// Its height.
    pub height: u64,
}

const PALETTE: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
];

fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Renders nodes as a Graphviz digraph: one box per change (colored by author), an edge from
/// each change to each parent, heads outlined bold. Render with `dot -Tsvg`.
pub fn to_dot(nodes: &[Node], heads: &[Cid]) -> String {
    let mut colors: BTreeMap<&str, &str> = BTreeMap::new();
    for n in nodes {
        let next = PALETTE[colors.len() % PALETTE.len()];
        colors.entry(n.author.as_str()).or_insert(next);
    }
    let mut s = String::from("digraph weft {\n  rankdir=TB;\n  node [shape=box, style=rounded, fontname=\"monospace\"];\n");
    for n in nodes {
        let c = n.cid.to_string();
        let short = &c[c.len().saturating_sub(8)..];
        let bold = if heads.contains(&n.cid) {
            ", penwidth=3"
        } else {
            ""
        };
        s.push_str(&format!(
            "  \"{c}\" [label=\"{short}  h{}\\n{}\\n{}\", color=\"{}\"{bold}];\n",
            n.height,
            dot_escape(&n.author),
            dot_escape(&n.summary),
            colors.get(n.author.as_str()).copied().unwrap_or(PALETTE[0]),
        ));
    }
    for n in nodes {
        for p in &n.parents {
            s.push_str(&format!("  \"{}\" -> \"{p}\";\n", n.cid));
        }
    }
    s.push_str("}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_dag::Codec;

    fn c(n: u8) -> Cid {
        Cid::hash(Codec::DagCbor, &[n])
    }

    fn draw(commits: &[(u8, &[u8])]) -> Vec<String> {
        let mut lanes = Lanes::new();
        let mut out = Vec::new();
        for (id, parents) in commits {
            let ps: Vec<Cid> = parents.iter().map(|p| c(*p)).collect();
            for row in lanes.push(c(*id), &ps) {
                out.push(match row {
                    Row::Commit(g, cid) => {
                        let n = (0u8..=255).find(|i| c(*i) == cid).unwrap_or(0);
                        format!("{g} {n}")
                    }
                    Row::Edge(g) => g,
                });
            }
        }
        out
    }

    #[test]
    fn linear() {
        assert_eq!(
            draw(&[(3, &[2]), (2, &[1]), (1, &[])]),
            ["* 3", "* 2", "* 1"]
        );
    }

    #[test]
    fn fork_and_merge() {
        // 1 <- 2, 1 <- 3, merge 4 = {2, 3}
        let rows = draw(&[(4, &[2, 3]), (3, &[1]), (2, &[1]), (1, &[])]);
        assert_eq!(rows, ["* 4", "|\\", "| * 3", "* | 2", "|/", "* 1"]);
    }

    #[test]
    fn merge_whose_parents_other_lanes_wait_for() {
        // 1 <- 2, 1 <- 3; both 4 and 5 merge {2, 3}: 4's edge to 3 is drawn (`|\` under it)
        // although 5 already opened a lane for 3.
        let rows = draw(&[(5, &[2, 3]), (4, &[2, 3]), (3, &[1]), (2, &[1]), (1, &[])]);
        assert_eq!(
            rows,
            [
                "* 5", "|\\", "| | * 4", "| | |\\", "| |_|/", "| * | 3", "|_|/", "* | 2", "|/",
                "* 1"
            ]
        );
    }

    #[test]
    fn two_heads() {
        let rows = draw(&[(3, &[1]), (2, &[1]), (1, &[])]);
        assert_eq!(rows, ["* 3", "| * 2", "|/", "* 1"]);
    }

    #[test]
    fn dot_has_every_edge() {
        let nodes = vec![
            Node {
                cid: c(2),
                parents: vec![c(1)],
                author: "a".into(),
                summary: "set \"x\"".into(),
                height: 2,
            },
            Node {
                cid: c(1),
                parents: vec![],
                author: "b".into(),
                summary: "genesis".into(),
                height: 1,
            },
        ];
        let dot = to_dot(&nodes, &[c(2)]);
        assert!(dot.starts_with("digraph weft {"));
        assert!(dot.contains(&format!("\"{}\" -> \"{}\"", c(2), c(1))));
        assert!(dot.contains("set \\\"x\\\""));
        assert!(dot.contains("penwidth=3"));
    }
}
