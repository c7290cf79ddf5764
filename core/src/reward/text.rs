//! Small text matchers used by the text-level rewards (no regex engine, no allocation).
//!
//! | matcher | pattern it replaces |
//! |---|---|
//! | [`find_block`] | `open(.*?)close` with `DOTALL` (first, non-greedy) |
//! | [`last_boxed`] | the last `\boxed{…}` with balanced braces |
//! | [`extract_answer`] | `<answer>…</answer>`, else the last `\boxed{…}`, else the last `\(…\)` |
//! | [`count_non_overlapping`] | Python's `str.count` |

/// First occurrence of `needle` in `hay`: candidates come from a `memchr` scan for the needle's
/// first character (`str::find(char)`), each verified with `starts_with`. Same result as
/// `hay.find(needle)`, several times faster on long texts with rare first characters.
#[inline]
pub(crate) fn find_str(hay: &str, needle: &str) -> Option<usize> {
    let first = needle.chars().next()?;
    let mut start = 0usize;
    loop {
        let pos = start + hay.get(start..)?.find(first)?;
        if hay.get(pos..)?.starts_with(needle) {
            return Some(pos);
        }
        start = pos + first.len_utf8();
    }
}

/// Last occurrence of `needle` in `hay` (as `hay.rfind(needle)`), with a `memrchr` scan for the
/// needle's first character.
#[inline]
pub(crate) fn rfind_str(hay: &str, needle: &str) -> Option<usize> {
    let first = needle.chars().next()?;
    let mut end = hay.len();
    loop {
        let pos = hay.get(..end)?.rfind(first)?;
        if hay.get(pos..)?.starts_with(needle) {
            return Some(pos);
        }
        end = pos;
    }
}

/// The text between the first `open` and the first `close` after it (`open(.*?)close`, `DOTALL`).
///
/// # Definition
/// With `i` the first match of `open` and `j` the first match of `close` at or after `i + |open|`,
/// returns `text[i + |open| .. j]`; `None` if either is missing or a delimiter is empty.
///
/// # Examples
/// ```
/// use rewardkit_core::reward::text::find_block;
/// assert_eq!(find_block("<think>a\nb</think> c", "<think>", "</think>"), Some("a\nb"));
/// assert_eq!(find_block("</think><think>", "<think>", "</think>"), None);
/// ```
pub fn find_block<'t>(text: &'t str, open: &str, close: &str) -> Option<&'t str> {
    if open.is_empty() || close.is_empty() {
        return None;
    }
    let start = find_str(text, open)? + open.len();
    let rest = text.get(start..)?;
    let end = find_str(rest, close)?;
    rest.get(..end)
}

/// The content of the last `\boxed{…}` whose braces balance, or `None`.
///
/// # Definition
/// Finds the last occurrence of `\boxed{`, then scans forward counting `{`/`}` (a `\{` or `\}`
/// escape is skipped) until the brace that closes it. An unbalanced last box gives `None`.
///
/// # Examples
/// ```
/// use rewardkit_core::reward::text::last_boxed;
/// assert_eq!(last_boxed(r"so \boxed{1} or \boxed{\frac{1}{2}}"), Some(r"\frac{1}{2}"));
/// assert_eq!(last_boxed(r"\boxed{unclosed"), None);
/// assert_eq!(last_boxed("no box"), None);
/// ```
pub fn last_boxed(text: &str) -> Option<&str> {
    const OPEN: &str = "\\boxed{";
    let start = rfind_str(text, OPEN)? + OPEN.len();
    let body = text.get(start..)?;
    let bytes = body.as_bytes();
    let mut depth = 1usize;
    let mut i = 0usize;
    while let Some(&c) = bytes.get(i) {
        match c {
            b'\\' if matches!(bytes.get(i + 1), Some(b'{' | b'}')) => i += 1,
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return body.get(..i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The final answer of a response: `<answer>…</answer>`, else the last `\boxed{…}`, else the last
/// `\(…\)`; trimmed, and `None` when empty or absent (the extraction order of the surrogate-signals
/// reference, `rl-without-gt` `math_reward.py`, without its `sympy` parse check).
///
/// # Examples
/// ```
/// use rewardkit_core::reward::text::extract_answer;
/// assert_eq!(extract_answer("<answer> 42 </answer>"), Some("42"));
/// assert_eq!(extract_answer(r"thus \boxed{7}."), Some("7"));
/// assert_eq!(extract_answer(r"it is \(x+1\)"), Some("x+1"));
/// assert_eq!(extract_answer("<answer>  </answer>"), None);
/// ```
pub fn extract_answer(text: &str) -> Option<&str> {
    let found = find_block(text, "<answer>", "</answer>")
        .or_else(|| last_boxed(text))
        .or_else(|| {
            let start = rfind_str(text, "\\(")? + 2;
            let rest = text.get(start..)?;
            rest.get(..find_str(rest, "\\)")?)
        })?;
    let t = found.trim();
    (!t.is_empty()).then_some(t)
}

/// Number of non-overlapping occurrences of `needle`, scanning left to right (Python's
/// `str.count`; `0` for an empty needle).
///
/// # Examples
/// ```
/// use rewardkit_core::reward::text::count_non_overlapping;
/// assert_eq!(count_non_overlapping("aaaa", "aa"), 2);
/// assert_eq!(count_non_overlapping("user: hi user: ", "user: "), 2);
/// ```
pub fn count_non_overlapping(hay: &str, needle: &str) -> usize {
    if needle.is_empty() {
        0
    } else {
        hay.matches(needle).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_find_matches_std() {
        let hay = "ab<a<ab<abc>é<ab>";
        for needle in ["<ab>", "<a", "<abc>", "é<", "x", "<", "b>", "é"] {
            assert_eq!(find_str(hay, needle), hay.find(needle), "{needle}");
            assert_eq!(rfind_str(hay, needle), hay.rfind(needle), "{needle}");
        }
        assert_eq!(find_str(hay, ""), None);
    }

    #[test]
    fn blocks_and_boxes() {
        assert_eq!(find_block("x<a>1</a><a>2</a>", "<a>", "</a>"), Some("1"));
        assert_eq!(find_block("<a>", "<a>", "</a>"), None);
        assert_eq!(find_block("<a></a>", "", "</a>"), None);
        assert_eq!(last_boxed(r"\boxed{a\{b}"), Some(r"a\{b"));
        assert_eq!(last_boxed(r"\boxed{}"), Some(""));
        assert_eq!(extract_answer(r"\boxed{}"), None);
        assert_eq!(extract_answer(r"\(a\) and \(b\)"), Some("b"));
        assert_eq!(extract_answer(r"\(a"), None);
    }
}
