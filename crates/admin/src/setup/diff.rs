//! A unified diff of two small texts (a configuration file before and after `setup`), line by
//! line: what `setup --dry-run` shows instead of writing.

/// Lines of context around each change.
const CONTEXT: usize = 3;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Keep,
    Remove,
    Add,
}

/// `old` → `new` as a unified diff (`---`/`+++` headers naming `old_name` and `new_name`, hunks
/// with 3 lines of context); empty when the texts are equal.
pub(super) fn unified(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    if old == new {
        return String::new();
    }
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let ops = edit_script(&a, &b);
    let mut out = format!("--- {old_name}\n+++ {new_name}\n");
    // Each op with the line numbers (0-based) it stands at in `a` and `b`.
    let mut positioned = Vec::with_capacity(ops.len());
    let (mut i, mut j) = (0, 0);
    for op in ops {
        positioned.push((op, i, j));
        match op {
            Op::Keep => {
                i += 1;
                j += 1;
            }
            Op::Remove => i += 1,
            Op::Add => j += 1,
        }
    }
    let changed: Vec<usize> = positioned
        .iter()
        .enumerate()
        .filter(|(_, (op, _, _))| *op != Op::Keep)
        .map(|(k, _)| k)
        .collect();
    let mut k = 0;
    while k < changed.len() {
        let start = changed[k].saturating_sub(CONTEXT);
        let mut end = changed[k];
        while k < changed.len() && changed[k] <= end + 2 * CONTEXT {
            end = changed[k];
            k += 1;
        }
        let end = (end + CONTEXT + 1).min(positioned.len());
        let hunk = &positioned[start..end];
        let (_, a0, b0) = hunk[0];
        let a_len = hunk.iter().filter(|(op, _, _)| *op != Op::Add).count();
        let b_len = hunk.iter().filter(|(op, _, _)| *op != Op::Remove).count();
        out.push_str(&format!(
            "@@ -{},{a_len} +{},{b_len} @@\n",
            a0 + usize::from(a_len > 0),
            b0 + usize::from(b_len > 0)
        ));
        for (op, i, j) in hunk {
            let line = match op {
                Op::Keep => format!(" {}", a[*i]),
                Op::Remove => format!("-{}", a[*i]),
                Op::Add => format!("+{}", b[*j]),
            };
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// The shortest edit script by longest common subsequence (the files are a few hundred lines).
fn edit_script(a: &[&str], b: &[&str]) -> Vec<Op> {
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut ops = Vec::with_capacity(n + m);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push(Op::Keep);
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(Op::Remove);
            i += 1;
        } else {
            ops.push(Op::Add);
            j += 1;
        }
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::unified;

    #[test]
    fn a_changed_line_is_shown_with_its_context() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\n";
        let new = "a\nb\nc\nd\nE\nf\ng\nh\ni\n";
        let diff = unified(old, new, "x", "x (setup)");
        assert_eq!(
            diff,
            "--- x\n+++ x (setup)\n@@ -2,7 +2,8 @@\n b\n c\n d\n-e\n+E\n f\n g\n h\n+i\n"
        );
        assert_eq!(unified(old, old, "x", "y"), "");
        assert!(unified("", "a\n", "x", "y").contains("@@ -0,0 +1,1 @@\n+a\n"));
    }
}
