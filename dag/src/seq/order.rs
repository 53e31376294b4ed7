//! The order-statistic index of a tree: every node of the Fugue tree (the root included) in
//! list order, as an implicit treap with parent links, each treap node summing the visible
//! items and the nodes of its subtree.
//!
//! Treap nodes are the tree's nodes, by the same index; a node's priority is a hash of its
//! index, so the treap's shape is that of a random binary search tree over list order whatever
//! the edits, and its depth is `O(log n)` expected. Linking a node next to another, changing a
//! node's visible count, the visible index of a node and the node at a visible index are all
//! `O(log n)`; stepping to the next or previous node is `O(1)` amortised.

/// No node.
pub(super) const NIL: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Link {
    /// Left and right treap children, treap parent.
    l: u32,
    r: u32,
    p: u32,
    pri: u32,
    /// The node's own visible items.
    own: u32,
    /// Visible items in the treap subtree.
    vis: u64,
    /// Nodes in the treap subtree.
    cnt: u32,
}

/// The order index. See the [module docs](self).
#[derive(Debug, Clone, Default)]
pub(super) struct Order {
    links: Vec<Link>,
    root: u32,
}

/// A fixed permutation of `u32`s (SplitMix64's finaliser), for priorities.
fn priority(n: u32) -> u32 {
    let mut z = u64::from(n).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) as u32
}

impl Order {
    /// An index holding only the root, node 0.
    pub(super) fn new() -> Self {
        let mut order = Order {
            links: Vec::new(),
            root: NIL,
        };
        order.push(0);
        order.root = 0;
        order
    }

    /// Builds the index of nodes `0 .. owns.len()` given in list order (`order[i]` the node at
    /// place `i`, `owns[node]` its visible items): `O(n)`.
    pub(super) fn build(order: &[u32], owns: &[u32]) -> Self {
        let mut out = Order {
            links: Vec::with_capacity(owns.len()),
            root: NIL,
        };
        for &own in owns {
            out.push(own);
        }
        // The Cartesian tree of the priorities, by the rightmost path on a stack.
        let mut stack: Vec<u32> = Vec::new();
        for &n in order {
            let mut last = NIL;
            while let Some(&top) = stack.last() {
                if out.links[top as usize].pri >= out.links[n as usize].pri {
                    break;
                }
                last = top;
                stack.pop();
            }
            out.links[n as usize].l = last;
            if last != NIL {
                out.links[last as usize].p = n;
            }
            if let Some(&top) = stack.last() {
                out.links[top as usize].r = n;
                out.links[n as usize].p = top;
            }
            stack.push(n);
        }
        out.root = stack.first().copied().unwrap_or(NIL);
        // Sums, children before parents: a post-order from the root.
        let mut todo = vec![(out.root, false)];
        while let Some((n, done)) = todo.pop() {
            if n == NIL {
                continue;
            }
            if done {
                out.pull(n);
            } else {
                let link = out.links[n as usize];
                todo.push((n, true));
                todo.push((link.l, false));
                todo.push((link.r, false));
            }
        }
        out
    }

    /// Adds node `links.len()`, not yet linked.
    pub(super) fn push(&mut self, own: u32) {
        let n = self.links.len() as u32;
        self.links.push(Link {
            l: NIL,
            r: NIL,
            p: NIL,
            pri: priority(n),
            own,
            vis: u64::from(own),
            cnt: 1,
        });
    }

    fn vis(&self, n: u32) -> u64 {
        if n == NIL {
            0
        } else {
            self.links[n as usize].vis
        }
    }

    fn cnt(&self, n: u32) -> u32 {
        if n == NIL {
            0
        } else {
            self.links[n as usize].cnt
        }
    }

    /// Recomputes the sums of `n` from its children.
    fn pull(&mut self, n: u32) {
        let Link { l, r, own, .. } = self.links[n as usize];
        let vis = self.vis(l) + self.vis(r) + u64::from(own);
        let cnt = self.cnt(l) + self.cnt(r) + 1;
        let link = &mut self.links[n as usize];
        link.vis = vis;
        link.cnt = cnt;
    }

    /// Links the new node `new` right after node `prev` in list order.
    pub(super) fn insert_after(&mut self, prev: u32, new: u32) {
        let r = self.links[prev as usize].r;
        if r == NIL {
            self.attach(prev, new, false);
        } else {
            let mut m = r;
            while self.links[m as usize].l != NIL {
                m = self.links[m as usize].l;
            }
            self.attach(m, new, true);
        }
    }

    /// Links the new node `new` right before node `next` in list order.
    pub(super) fn insert_before(&mut self, next: u32, new: u32) {
        let l = self.links[next as usize].l;
        if l == NIL {
            self.attach(next, new, true);
        } else {
            let mut m = l;
            while self.links[m as usize].r != NIL {
                m = self.links[m as usize].r;
            }
            self.attach(m, new, false);
        }
    }

    /// Makes `new` the (empty) left or right treap child of `at`, then restores the heap.
    fn attach(&mut self, at: u32, new: u32, left: bool) {
        if left {
            self.links[at as usize].l = new;
        } else {
            self.links[at as usize].r = new;
        }
        self.links[new as usize].p = at;
        let (vis, mut m) = (self.links[new as usize].vis, at);
        while m != NIL {
            let link = &mut self.links[m as usize];
            link.vis += vis;
            link.cnt += 1;
            m = link.p;
        }
        loop {
            let p = self.links[new as usize].p;
            if p == NIL || self.links[p as usize].pri >= self.links[new as usize].pri {
                break;
            }
            self.rotate_up(new);
        }
    }

    /// Rotates `n` above its parent.
    fn rotate_up(&mut self, n: u32) {
        let p = self.links[n as usize].p;
        let g = self.links[p as usize].p;
        if self.links[p as usize].l == n {
            let b = self.links[n as usize].r;
            self.links[p as usize].l = b;
            self.links[n as usize].r = p;
            if b != NIL {
                self.links[b as usize].p = p;
            }
        } else {
            let b = self.links[n as usize].l;
            self.links[p as usize].r = b;
            self.links[n as usize].l = p;
            if b != NIL {
                self.links[b as usize].p = p;
            }
        }
        self.links[p as usize].p = n;
        self.links[n as usize].p = g;
        if g == NIL {
            self.root = n;
        } else if self.links[g as usize].l == p {
            self.links[g as usize].l = n;
        } else {
            self.links[g as usize].r = n;
        }
        self.pull(p);
        self.pull(n);
    }

    /// Sets the visible items of node `n`.
    pub(super) fn set_own(&mut self, n: u32, own: u32) {
        let old = self.links[n as usize].own;
        if old == own {
            return;
        }
        self.links[n as usize].own = own;
        let mut m = n;
        while m != NIL {
            let link = &mut self.links[m as usize];
            link.vis = link.vis + u64::from(own) - u64::from(old);
            m = link.p;
        }
    }

    /// The visible items of node `n`.
    #[cfg(test)]
    pub(super) fn own(&self, n: u32) -> u32 {
        self.links[n as usize].own
    }

    /// The visible items before node `n` and the nodes before it, in list order.
    pub(super) fn rank(&self, n: u32) -> (u64, u32) {
        let link = &self.links[n as usize];
        let (mut vis, mut cnt) = (self.vis(link.l), self.cnt(link.l));
        let mut m = n;
        let mut p = link.p;
        while p != NIL {
            let pl = &self.links[p as usize];
            if pl.r == m {
                vis += self.vis(pl.l) + u64::from(pl.own);
                cnt += self.cnt(pl.l) + 1;
            }
            m = p;
            p = pl.p;
        }
        (vis, cnt)
    }

    /// The node holding visible item `index` and the item's offset in it, if `index` is
    /// below the visible length.
    pub(super) fn select(&self, mut index: u64) -> Option<(u32, u32)> {
        let mut m = self.root;
        while m != NIL {
            let link = &self.links[m as usize];
            let lv = self.vis(link.l);
            if index < lv {
                m = link.l;
                continue;
            }
            index -= lv;
            if index < u64::from(link.own) {
                return Some((m, index as u32));
            }
            index -= u64::from(link.own);
            m = link.r;
        }
        None
    }

    /// The node after `n` in list order.
    pub(super) fn next(&self, n: u32) -> u32 {
        let r = self.links[n as usize].r;
        if r != NIL {
            let mut m = r;
            while self.links[m as usize].l != NIL {
                m = self.links[m as usize].l;
            }
            return m;
        }
        let mut m = n;
        loop {
            let p = self.links[m as usize].p;
            if p == NIL || self.links[p as usize].l == m {
                return p;
            }
            m = p;
        }
    }

    /// The node before `n` in list order.
    pub(super) fn prev(&self, n: u32) -> u32 {
        let l = self.links[n as usize].l;
        if l != NIL {
            let mut m = l;
            while self.links[m as usize].r != NIL {
                m = self.links[m as usize].r;
            }
            return m;
        }
        let mut m = n;
        loop {
            let p = self.links[m as usize].p;
            if p == NIL || self.links[p as usize].r == m {
                return p;
            }
            m = p;
        }
    }
}
