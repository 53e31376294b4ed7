//! The tree's reads by walking the Fugue tree itself, without the order index: `O(n)`, the
//! reference that tests check the index against.

use super::{Anchor, Content, Id, SeqError, Tree, ROOT};

impl<C: Content> Tree<C> {
    /// Visits every node in list order, tombstones included, until `f` returns false.
    pub(in crate::seq) fn slow_walk(&self, mut f: impl FnMut(usize) -> bool) {
        // (node, visiting its right children, next child)
        let mut stack: Vec<(usize, bool, usize)> = vec![(ROOT, false, 0)];
        while let Some(top) = stack.last_mut() {
            let (n, right, i) = *top;
            let node = &self.nodes[n];
            let kids = if right { &node.right } else { &node.left };
            if i < kids.len() {
                top.2 += 1;
                stack.push((kids[i], false, 0));
            } else if !right {
                *top = (n, true, 0);
                if n != ROOT && !f(n) {
                    return;
                }
            } else {
                stack.pop();
            }
        }
    }

    /// The first item of the node after `n` in list order, or the end.
    pub(in crate::seq) fn slow_next_after_node(&self, n: usize) -> Anchor {
        let (mut seen, mut next) = (n == ROOT, Anchor::End);
        self.slow_walk(|m| {
            if seen {
                next = Anchor::At(self.nodes[m].id);
                return false;
            }
            seen = m == n;
            true
        });
        next
    }

    /// The origins of an insert at visible index `index`: the visible item before it (or the
    /// start) and the next item after that one, tombstones included (or the end).
    pub(in crate::seq) fn slow_origins_at(
        &self,
        index: usize,
    ) -> Result<(Anchor, Anchor), SeqError> {
        if index > self.visible_len {
            return Err(SeqError::OutOfRange {
                index,
                len: self.visible_len,
            });
        }
        if index == 0 {
            return Ok((Anchor::Start, self.slow_next_after_node(ROOT)));
        }
        let (mut count, mut found) = (0usize, None);
        self.slow_walk(|n| {
            let node = &self.nodes[n];
            if node.visible {
                if count + node.len as usize >= index {
                    found = Some((n, (index - 1 - count) as u32));
                    return false;
                }
                count += node.len as usize;
            }
            true
        });
        let (n, k) = found.ok_or(SeqError::OutOfRange {
            index,
            len: self.visible_len,
        })?;
        self.origins_after(self.nodes[n].id.plus(k))
    }

    /// The origins of an insert right before item `id`.
    pub(in crate::seq) fn slow_origins_before(&self, id: Id) -> Result<(Anchor, Anchor), SeqError> {
        let n = self.find(id).ok_or(SeqError::UnknownId(id))?;
        let node = &self.nodes[n];
        if id.offset > node.id.offset {
            return Ok((
                Anchor::At(Id {
                    op: id.op,
                    offset: id.offset - 1,
                }),
                Anchor::At(id),
            ));
        }
        let mut prev = Anchor::Start;
        self.slow_walk(|m| {
            if m == n {
                return false;
            }
            let node = &self.nodes[m];
            prev = Anchor::At(node.id.plus(node.len - 1));
            true
        });
        Ok((prev, Anchor::At(id)))
    }

    /// The visible index of item `id`, if it is visible.
    pub(in crate::seq) fn slow_index_of(&self, id: Id) -> Option<usize> {
        let n = self.find(id)?;
        if !self.nodes[n].visible {
            return None;
        }
        let mut count = 0usize;
        self.slow_walk(|m| {
            if m == n {
                return false;
            }
            if self.nodes[m].visible {
                count += self.nodes[m].len as usize;
            }
            true
        });
        Some(count + (id.offset - self.nodes[n].id.offset) as usize)
    }

    /// The visible items at indexes `index .. index + len`, as spans of consecutive ids.
    pub(in crate::seq) fn slow_spans(
        &self,
        index: usize,
        len: usize,
    ) -> Result<Vec<(Id, u32)>, SeqError> {
        let end = index.checked_add(len).filter(|&e| e <= self.visible_len);
        let end = end.ok_or(SeqError::OutOfRange {
            index: index + len,
            len: self.visible_len,
        })?;
        let (mut count, mut out) = (0usize, Vec::new());
        self.slow_walk(|n| {
            let node = &self.nodes[n];
            if node.visible {
                let (lo, hi) = (count, count + node.len as usize);
                let (a, b) = (lo.max(index), hi.min(end));
                if a < b {
                    out.push((node.id.plus((a - lo) as u32), (b - a) as u32));
                }
                count = hi;
            }
            count < end
        });
        Ok(out)
    }
}

impl<C: Content> Tree<C> {
    /// Checks the order index against the walk: the order of the nodes, and every
    /// `origins_at`, `index_of`, `origins_before`/`origins_after` and a range of `spans`.
    pub(in crate::seq) fn check_index(&self) -> Result<(), String> {
        let mut walked = Vec::new();
        self.slow_walk(|n| {
            walked.push(n);
            true
        });
        let mut indexed = Vec::new();
        self.walk_from(ROOT, |n| {
            indexed.push(n);
            true
        });
        if walked != indexed {
            return Err(format!("order {indexed:?}, walk {walked:?}"));
        }
        let visible: usize = walked
            .iter()
            .filter(|&&n| self.nodes[n].visible)
            .map(|&n| self.nodes[n].len as usize)
            .sum();
        if visible != self.len() || u64::from(self.order.own(ROOT as u32)) != 0 {
            return Err(format!("length {} against {visible}", self.len()));
        }
        for index in 0..=self.len() {
            let (fast, slow) = (self.origins_at(index), self.slow_origins_at(index));
            if fast != slow {
                return Err(format!("origins_at({index}): {fast:?} against {slow:?}"));
            }
            let (fast, slow) = (
                self.spans(index, self.len() - index),
                self.slow_spans(index, self.len() - index),
            );
            if fast != slow {
                return Err(format!("spans({index}, ..): {fast:?} against {slow:?}"));
            }
            let n = (self.len() - index).min(3);
            if self.spans(index, n) != self.slow_spans(index, n) {
                return Err(format!("spans({index}, {n})"));
            }
        }
        if self.origins_at(self.len() + 1) != self.slow_origins_at(self.len() + 1)
            || self.spans(self.len(), 1) != self.slow_spans(self.len(), 1)
        {
            return Err("out of range".into());
        }
        for &n in &walked {
            let node = &self.nodes[n];
            for k in 0..node.len {
                let id = node.id.plus(k);
                let (fast, slow) = (self.index_of(id), self.slow_index_of(id));
                if fast != slow {
                    return Err(format!("index_of({id:?}): {fast:?} against {slow:?}"));
                }
                if self.origins_before(id) != self.slow_origins_before(id) {
                    return Err(format!("origins_before({id:?})"));
                }
            }
        }
        Ok(())
    }
}
