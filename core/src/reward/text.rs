//! Small text matchers used by the text-level rewards (no regex engine), transcribing the answer
//! extraction of the format-reward reference exactly (Xin et al. 2025, `insightLLM/rl-without-gt`,
//! `src/eval/evaluator.py::MATHEvaluator_Base.parse_answer`).
//!
//! | matcher | what it transcribes |
//! |---|---|
//! | [`find_block`] | `re.search("open(.*?)close", DOTALL)` (first `open`, first `close` after it) |
//! | [`answer_block`] | `extract_xml_answer`: `re.search("<answer>(.*)</answer>", DOTALL)` (first `<answer>`, **last** `</answer>`) |
//! | [`after_reasoning`] | `response.split("</think>")[-1]` (the text after the last `</think>`, or all of it) |
//! | [`last_boxed`] | `extract_boxed_answer`: the last `\boxed`, then brace matching |
//! | [`last_inline_math`] | `extract_last_parentheses_content`: `re.findall(r"\\\((.*?)\\\)", DOTALL)[-1]` |
//! | [`locate_answer`] | `parse_answer`: where the answer is, without the final normalization |
//! | [`normalize_final_answer`] | `normalize_final_answer` (behind `alloc`) |
//! | [`extract_answer`] | `parse_answer` (behind `alloc`) |
//! | [`has_answer`] | `len(parse_answer(r)) > 0`, ignoring answers of only whitespace (behind `alloc`) |
//! | [`count_non_overlapping`] | Python's `str.count` |
//! | [`soft_format`] | `soft_format_reward_func`: `re.search(r"<think>.*?</think>\s*<answer>.*?</answer>", DOTALL)` |
//! | [`strict_format`] | `strict_format_reward_func`: the same anchored, `^\s*…\s*$` |
//! | [`think_and_answer`] | the noisy-reward reference's `extract_think_and_answer` (last tags) |
//!
//! # Where the reference looks for an answer
//! Inside the first `<answer>` … last `</answer>` block if there is one: its last `\boxed{…}`, else
//! its last `\(…\)`, else the whole block normalized ([`normalize_final_answer`]). Without an
//! `<answer>` block: **only** a `\boxed{…}` in the text after the last `</think>` (the reasoning is
//! folded away when the model is served, so an answer inside it does not count), and no answer at
//! all otherwise. So `<think>a</think> so \(x = 3\)` and `<think>so \boxed{4}</think> no final
//! answer` have no answer.
//!
//! Text positions are bytes of UTF-8; every delimiter is ASCII, so byte scans find exactly the
//! matches Python's code-point scans find.

#[cfg(feature = "alloc")]
use alloc::{borrow::Cow, string::String};

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

/// Python's `str.isspace` for one character: Unicode `White_Space` plus the separators
/// `U+001C`–`U+001F`.
#[inline]
pub(crate) fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.strip()`.
#[cfg(feature = "alloc")]
#[inline]
pub(crate) fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
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

/// The content of the answer block, from the first `<answer>` to the **last** `</answer>` after it
/// (the reference's greedy `re.search("<answer>(.*)</answer>", text, re.DOTALL)`).
///
/// # Examples
/// ```
/// use rewardkit_core::reward::text::answer_block;
/// assert_eq!(answer_block("<answer>1</answer> <answer>2</answer>"), Some("1</answer> <answer>2"));
/// assert_eq!(answer_block("<answer></answer>"), Some(""));
/// assert_eq!(answer_block("</answer><answer>"), None);
/// ```
pub fn answer_block(text: &str) -> Option<&str> {
    const OPEN: &str = "<answer>";
    const CLOSE: &str = "</answer>";
    let start = find_str(text, OPEN)? + OPEN.len();
    let end = rfind_str(text, CLOSE)?;
    if end < start {
        return None;
    }
    text.get(start..end)
}

/// The text after the last `close` (the reference's `response.split("</think>")[-1]`), or the whole
/// text when `close` does not occur or is empty.
///
/// # Examples
/// ```
/// use rewardkit_core::reward::text::after_reasoning;
/// assert_eq!(after_reasoning("<think>a</think>b</think>c", "</think>"), "c");
/// assert_eq!(after_reasoning("no reasoning", "</think>"), "no reasoning");
/// ```
pub fn after_reasoning<'t>(text: &'t str, close: &str) -> &'t str {
    if close.is_empty() {
        return text;
    }
    rfind_str(text, close)
        .and_then(|i| text.get(i + close.len()..))
        .unwrap_or(text)
}

/// The content of the last `\boxed{…}`, by brace matching (the reference's
/// `extract_boxed_answer`).
///
/// # Definition
/// Finds the last occurrence of `\boxed` (not necessarily followed by `{`). If the next character
/// is `{`, scans forward counting `{` and `}` (no escapes: `\{` counts as a brace) and returns the
/// text up to the brace that closes it. `None` if there is no `\boxed`, if the last one is not
/// followed by `{` (`\boxed 4`, `\boxedx{4}`), or if its brace never closes.
///
/// # Examples
/// ```
/// use rewardkit_core::reward::text::last_boxed;
/// assert_eq!(last_boxed(r"so \boxed{1} or \boxed{\frac{1}{2}}"), Some(r"\frac{1}{2}"));
/// assert_eq!(last_boxed(r"\boxed{unclosed"), None);
/// assert_eq!(last_boxed(r"\boxed{4} and \boxed"), None); // the last \boxed has no brace
/// assert_eq!(last_boxed("no box"), None);
/// ```
pub fn last_boxed(text: &str) -> Option<&str> {
    const BOXED: &str = "\\boxed";
    let first = rfind_str(text, BOXED)? + BOXED.len();
    let body = text.get(first..)?;
    let bytes = body.as_bytes();
    if bytes.first() != Some(&b'{') {
        return None;
    }
    let mut depth = 0usize;
    for (i, &c) in bytes.iter().enumerate() {
        match c {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return body.get(1..i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Calls `f(start, content, end)` for every non-overlapping `open(.*?)close` match, left to right
/// (Python's `re.finditer` with `DOTALL`, delimiters taken literally); `start..end` is the whole
/// match.
fn for_each_lazy<'t>(
    text: &'t str,
    open: &str,
    close: &str,
    mut f: impl FnMut(usize, &'t str, usize),
) {
    let mut pos = 0usize;
    while let Some(rest) = text.get(pos..) {
        let Some(p) = find_str(rest, open) else {
            return;
        };
        let start = pos + p + open.len();
        let Some(q) = text.get(start..).and_then(|r| find_str(r, close)) else {
            return;
        };
        let end = start + q;
        if let Some(content) = text.get(start..end) {
            f(pos + p, content, end + close.len());
        }
        pos = end + close.len();
    }
}

/// The last non-overlapping `open(.*?)close` match's content.
fn last_lazy<'t>(text: &'t str, open: &str, close: &str) -> Option<&'t str> {
    let mut last = None;
    for_each_lazy(text, open, close, |_, c, _| last = Some(c));
    last
}

/// The content of the last `\(…\)` (the reference's `extract_last_parentheses_content`:
/// `re.findall(r"\\\((.*?)\\\)", text, re.DOTALL)[-1]`).
///
/// # Definition
/// Matches are non-overlapping, left to right, each from a `\(` to the first `\)` after it; the
/// last match's content is returned, possibly empty. `None` without a match.
///
/// # Examples
/// ```
/// use rewardkit_core::reward::text::last_inline_math;
/// assert_eq!(last_inline_math(r"\(a\) and \(b\)"), Some("b"));
/// assert_eq!(last_inline_math(r"\(a\) and \(b"), Some("a")); // an unclosed \( is no match
/// assert_eq!(last_inline_math(r"\(a \(b\)"), Some(r"a \(b"));
/// assert_eq!(last_inline_math(r"\(\)"), Some(""));
/// ```
pub fn last_inline_math(text: &str) -> Option<&str> {
    last_lazy(text, "\\(", "\\)")
}

/// Where the reference finds a response's final answer ([`locate_answer`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AnswerSpan<'t> {
    /// The content of the last `\boxed{…}` of the `<answer>` block, or (without a block) of the text
    /// after the last `</think>`: the answer as is.
    Boxed(&'t str),
    /// The content of the last `\(…\)` of an `<answer>` block without a box: the answer as is.
    Inline(&'t str),
    /// An `<answer>` block with neither: the answer is [`normalize_final_answer`] of it.
    Block(&'t str),
}

/// Where the final answer of a response is, by the reference's rules (see the [module
/// docs](self)), with `close` the end of the reasoning block (`"</think>"` in the reference).
///
/// # Definition
/// With an [`answer_block`] `b`: [`last_boxed`]`(b)` ([`AnswerSpan::Boxed`]), else
/// [`last_inline_math`]`(b)` ([`AnswerSpan::Inline`]), else [`AnswerSpan::Block`]`(b)`. Without
/// one: [`last_boxed`] of [`after_reasoning`]`(text, close)` ([`AnswerSpan::Boxed`]), else `None`
/// (the reference's answer is then `""`).
///
/// # Examples
/// ```
/// use rewardkit_core::reward::text::{AnswerSpan, locate_answer};
/// let t = r"<think>so \boxed{4}</think> thus \boxed{5}";
/// assert_eq!(locate_answer(t, "</think>"), Some(AnswerSpan::Boxed("5")));
/// // Inside the reasoning only: no answer.
/// assert_eq!(locate_answer(r"<think>so \boxed{4}</think> no final answer", "</think>"), None);
/// // \( \) counts only inside <answer>.
/// assert_eq!(locate_answer(r"<think>a</think> so \(x = 3\)", "</think>"), None);
/// assert_eq!(locate_answer(r"<answer>so \(x = 3\)</answer>", "</think>"), Some(AnswerSpan::Inline("x = 3")));
/// assert_eq!(locate_answer("<answer> 42 </answer>", "</think>"), Some(AnswerSpan::Block(" 42 ")));
/// ```
pub fn locate_answer<'t>(text: &'t str, close: &str) -> Option<AnswerSpan<'t>> {
    if let Some(block) = answer_block(text) {
        return Some(if let Some(b) = last_boxed(block) {
            AnswerSpan::Boxed(b)
        } else if let Some(m) = last_inline_math(block) {
            AnswerSpan::Inline(m)
        } else {
            AnswerSpan::Block(block)
        });
    }
    last_boxed(after_reasoning(text, close)).map(AnswerSpan::Boxed)
}

/// The reference's `normalize_final_answer` (a MATH-style answer normalization), applied to an
/// `<answer>` block without a box or `\(…\)`.
///
/// # Definition
/// In order: eleven literal substitutions (`"an "`, `"a "` → `""`; `".$"` → `"$"`; `"\$"`, `"\ "`,
/// `" "` → `""`; `"mbox"` → `"text"`; `",\text{and}"`, `"\text{and}"` → `","`; `"\text{m}"` →
/// `"\text{}"`; `"\le"` → `"<"`), then 45 removed expressions (units such as `"dollars"`,
/// `"degrees"`, `"cm"`; `"\text{}"`, `"^\circ"`, `"\dots"`, line breaks, ...); `\text{X}`,
/// `\textbf{X}`, `\overline{X}` → `X` (first `}`), `\boxed{X}` → `X` (the last `}`), `\(X\)`,
/// `\[X\]` → `X`; the text after the first `"finalansweris"`; the content of the last
/// `oxed{…}` and then of the last `$…$`; Python's `strip()`; `"rac"` → `"\frac"` when there is no
/// `"\frac"`; `fracXY` → `frac{X}{Y}` and `sqrtX` → `sqrt{X}` for `X ≠ {`; every `$` removed; and
/// commas removed from a number of digits and commas. Every step is the reference's, in its order.
///
/// The one deviation: the last step's digit test is ASCII (`0`–`9`), where Python's `isdigit` also
/// accepts other scripts' digits and superscripts; only the commas of such answers differ, never
/// whether the answer is empty.
///
/// # Examples
/// ```
/// use rewardkit_core::reward::text::normalize_final_answer;
/// assert_eq!(normalize_final_answer("\n1000\n"), "1000");
/// assert_eq!(normalize_final_answer("10 dollars"), "10");
/// assert_eq!(normalize_final_answer("The final answer is $1,000$."), "1000");
/// assert_eq!(normalize_final_answer(r"\frac12"), r"\frac{1}{2}");
/// assert_eq!(normalize_final_answer("a "), ""); // nothing left
/// ```
#[cfg(feature = "alloc")]
pub fn normalize_final_answer(answer: &str) -> String {
    use alloc::borrow::ToOwned;
    const SUBSTITUTIONS: [(&str, &str); 11] = [
        ("an ", ""),
        ("a ", ""),
        (".$", "$"),
        ("\\$", ""),
        ("\\ ", ""),
        (" ", ""),
        ("mbox", "text"),
        (",\\text{and}", ","),
        ("\\text{and}", ","),
        ("\\text{m}", "\\text{}"),
        ("\\le", "<"),
    ];
    const REMOVED: [&str; 45] = [
        "square",
        "ways",
        "integers",
        "dollars",
        "mph",
        "inches",
        "ft",
        "hours",
        "km",
        "units",
        "\\ldots",
        "sue",
        "points",
        "feet",
        "minutes",
        "digits",
        "cents",
        "degrees",
        "cm",
        "gm",
        "pounds",
        "meters",
        "meals",
        "edges",
        "students",
        "childrentickets",
        "multiples",
        "\\text{s}",
        "\\text{.}",
        "\\text{\ns}",
        "\\text{}^2",
        "\\text{}^3",
        "\\text{\n}",
        "\\text{}",
        "\\mathrm{th}",
        "^\\circ",
        "^{\\circ}",
        "\\;",
        ",\\!",
        "{,}",
        "\"",
        "\\dots",
        "\n",
        "\r",
        "\u{c}",
    ];
    let mut s = answer.to_owned();
    for (before, after) in SUBSTITUTIONS {
        if s.contains(before) {
            s = s.replace(before, after);
        }
    }
    for expr in REMOVED {
        if s.contains(expr) {
            s = s.replace(expr, "");
        }
    }
    // re.sub(r'(\\text\{)(.*?)(\})', r'\2'), textbf, overline: the content of each match.
    for open in ["\\text{", "\\textbf{", "\\overline{"] {
        s = replace_lazy(&s, open, "}");
    }
    // re.sub(r'(\\boxed\{)(.*)(\})', r'\2'): greedy, from the first \boxed{ to the last }.
    if let Some(p) = find_str(&s, "\\boxed{") {
        let start = p + "\\boxed{".len();
        if let Some(q) = s.rfind('}').filter(|&q| q >= start) {
            let mut t = String::with_capacity(s.len());
            t.push_str(s.get(..p).unwrap_or(""));
            t.push_str(s.get(start..q).unwrap_or(""));
            t.push_str(s.get(q + 1..).unwrap_or(""));
            s = t;
        }
    }
    s = replace_lazy(&s, "\\(", "\\)");
    s = replace_lazy(&s, "\\[", "\\]");
    // re.findall(r'finalansweris(.*)')[-1]: `.*` is greedy, so the one match runs to the end.
    if let Some(p) = find_str(&s, "finalansweris") {
        s = s.get(p + "finalansweris".len()..).unwrap_or("").to_owned();
    }
    if let Some(c) = last_lazy(&s, "oxed{", "}") {
        s = c.to_owned();
    }
    if let Some(c) = last_lazy(&s, "$", "$") {
        s = c.to_owned();
    }
    s = py_strip(&s).to_owned();
    if s.contains("rac") && !s.contains("\\frac") {
        s = s.replace("rac", "\\frac");
    }
    s = fix_shorthand(&s, "frac", 2);
    s = fix_shorthand(&s, "sqrt", 1);
    s = s.replace('$', "");
    if s.chars().any(|c| c != ',') && s.chars().all(|c| c == ',' || c.is_ascii_digit()) {
        s = s.replace(',', "");
    }
    s
}

/// `re.sub(open + "(.*?)" + close, r"\1", text)` with literal delimiters.
#[cfg(feature = "alloc")]
fn replace_lazy(text: &str, open: &str, close: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0usize;
    for_each_lazy(text, open, close, |start, content, end| {
        out.push_str(text.get(copied..start).unwrap_or(""));
        out.push_str(content);
        copied = end;
    });
    out.push_str(text.get(copied..).unwrap_or(""));
    out
}

/// `re.sub(r"(frac)([^{])(.)", r"frac{\2}{\3}")` (`args = 2`) or `re.sub(r"(sqrt)([^{])",
/// r"sqrt{\2}")` (`args = 1`): the `args` characters after `name` get braces when the first is not
/// `{`.
#[cfg(feature = "alloc")]
fn fix_shorthand(text: &str, name: &str, args: usize) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let (mut copied, mut from) = (0usize, 0usize);
    while let Some(p) = text.get(from..).and_then(|r| find_str(r, name)) {
        let at = from + p;
        let after = at + name.len();
        let mut chars = text.get(after..).unwrap_or("").chars();
        let picked: [Option<char>; 2] = [chars.next(), if args > 1 { chars.next() } else { None }];
        let ok = match picked {
            [Some(a), b] => a != '{' && (args == 1 || b.is_some()),
            [None, _] => false,
        };
        if !ok {
            from = at + 1;
            continue;
        }
        out.push_str(text.get(copied..after).unwrap_or(""));
        let mut end = after;
        for c in picked.iter().take(args).flatten() {
            out.push('{');
            out.push(*c);
            out.push('}');
            end += c.len_utf8();
        }
        copied = end;
        from = end;
    }
    out.push_str(text.get(copied..).unwrap_or(""));
    out
}

/// The final answer of a response, exactly as the reference's `parse_answer` returns it (`""` when
/// there is none); `close` ends the reasoning block (`"</think>"`).
///
/// # Definition
/// [`locate_answer`]: a [`AnswerSpan::Boxed`] or [`AnswerSpan::Inline`] content as is (borrowed,
/// not trimmed), [`normalize_final_answer`] of an [`AnswerSpan::Block`], `""` without an answer.
///
/// # Examples
/// ```
/// use rewardkit_core::reward::text::extract_answer;
/// assert_eq!(extract_answer("<think>…</think>\n<answer>\n1000\n</answer>", "</think>"), "1000");
/// assert_eq!(extract_answer(r"<answer>\(\boxed{7}\)</answer>", "</think>"), "7");
/// assert_eq!(extract_answer(r"thus \boxed{ 7 }.", "</think>"), " 7 ");
/// assert_eq!(extract_answer(r"<think>so \boxed{4}</think> no final answer", "</think>"), "");
/// ```
#[cfg(feature = "alloc")]
pub fn extract_answer<'t>(text: &'t str, close: &str) -> Cow<'t, str> {
    match locate_answer(text, close) {
        Some(AnswerSpan::Boxed(s) | AnswerSpan::Inline(s)) => Cow::Borrowed(s),
        Some(AnswerSpan::Block(b)) => Cow::Owned(normalize_final_answer(b)),
        None => Cow::Borrowed(""),
    }
}

/// Whether the response has a final answer: [`extract_answer`] is not empty and not only
/// whitespace.
///
/// # Definition
/// The reference's `answer_format` is `len(answer) > 0` and "`answer` parses with `sympy`"; a
/// `no_std` core cannot parse, so this is the first condition, with answers of only (Python)
/// whitespace counted as empty: `sympy` rejects every one of them (its `parse_expr` raises a
/// `SyntaxError` on each whitespace character, alone or repeated; checked with sympy 1.14). Callers
/// with a parser combine [`extract_answer`] with their own check.
///
/// # Examples
/// ```
/// use rewardkit_core::reward::text::has_answer;
/// assert!(has_answer(r"<think>2 + 2</think> \boxed{4}", "</think>"));
/// assert!(!has_answer(r"<think>a</think> so \(x = 3\)", "</think>"));
/// assert!(!has_answer(r"\boxed{ }", "</think>"));
/// assert!(!has_answer("<answer>dollars</answer>", "</think>")); // normalized away
/// ```
#[cfg(feature = "alloc")]
pub fn has_answer(text: &str, close: &str) -> bool {
    !py_strip(&extract_answer(text, close)).is_empty()
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

/// The text after leading Python whitespace (`\s*` at the start).
#[inline]
fn skip_py_space(s: &str) -> &str {
    s.trim_start_matches(is_py_space)
}

/// The end of the first `</think>\s*<answer>` in `body` (the `<answer>` wholly inside `body`):
/// the middle of the surrogate format patterns.
fn think_then_answer(body: &str) -> Option<usize> {
    const CLOSE: &str = "</think>";
    const OPEN: &str = "<answer>";
    let mut from = 0usize;
    while let Some(p) = body.get(from..).and_then(|r| find_str(r, CLOSE)) {
        let after = from + p + CLOSE.len();
        let rest = body.get(after..).unwrap_or("");
        let skipped = skip_py_space(rest);
        if skipped.starts_with(OPEN) {
            let end = after + (rest.len() - skipped.len()) + OPEN.len();
            return Some(end);
        }
        from = after;
    }
    None
}

/// The surrogate paper's `soft_format_reward_func`: does `re.search(r"<think>.*?</think>\s*<answer>.*?</answer>",
/// text, re.DOTALL)` match? (`\s` is Python's Unicode whitespace.)
///
/// # Definition
/// A `<think>`, later a `</think>` followed by whitespace only and then `<answer>`, and later a
/// `</answer>`; anything (newlines included) may stand between.
///
/// # Examples
/// ```
/// use rewardkit_core::reward::text::soft_format;
/// assert!(soft_format("x <think>a</think>\n <answer>4</answer> y"));
/// assert!(!soft_format("<think>a</think> so <answer>4</answer>")); // text between the blocks
/// assert!(!soft_format("<think>a</think><answer>4"));
/// ```
pub fn soft_format(text: &str) -> bool {
    let Some(i) = find_str(text, "<think>") else {
        return false;
    };
    let rest = text.get(i + "<think>".len()..).unwrap_or("");
    // The first `</think>` followed by `<answer>` leaves the most room for the `</answer>`.
    match think_then_answer(rest) {
        Some(end) => rest
            .get(end..)
            .is_some_and(|r| find_str(r, "</answer>").is_some()),
        None => false,
    }
}

/// The surrogate paper's `strict_format_reward_func`: does
/// `re.search(r"^\s*<think>.*?</think>\s*<answer>.*?</answer>\s*$", text, re.DOTALL)` match?
///
/// # Definition
/// After leading whitespace the text starts with `<think>`, before trailing whitespace it ends with
/// `</answer>`, and between them some `</think>` is followed by whitespace only and then
/// `<answer>` (the whole response is one reasoning block and one answer block).
///
/// # Examples
/// ```
/// use rewardkit_core::reward::text::strict_format;
/// assert!(strict_format(" <think>a</think>\n<answer>4</answer>\n"));
/// assert!(!strict_format("<think>a</think><answer>4</answer> done"));
/// assert!(!strict_format("Sure. <think>a</think><answer>4</answer>"));
/// ```
pub fn strict_format(text: &str) -> bool {
    let t = skip_py_space(text).trim_end_matches(is_py_space);
    let (open, close) = ("<think>", "</answer>");
    if !t.starts_with(open) || !t.ends_with(close) || t.len() < open.len() + close.len() {
        return false;
    }
    t.get(open.len()..t.len() - close.len())
        .is_some_and(|body| think_then_answer(body).is_some())
}

/// The noisy-reward reference's `extract_think_and_answer`: the reasoning and the answer of a
/// response, from the **last** `<think>`, `</think>`, `<answer>` and `</answer>`.
///
/// # Definition
/// With the last occurrence of each tag: `Some((think, answer))` when all four occur, the
/// reasoning is not empty and ends before the answer block starts, and the answer is not empty:
/// `think = text[<think> + 7 .. </think>]`, `answer = text[<answer> + 8 .. </answer>]`. `None`
/// otherwise (the reference returns `(None, None)` and marks the response's format invalid).
///
/// # Examples
/// ```
/// use rewardkit_core::reward::text::think_and_answer;
/// assert_eq!(think_and_answer("<think>plan</think> <answer>42</answer>"), Some(("plan", "42")));
/// assert_eq!(think_and_answer("<think></think><answer>42</answer>"), None); // empty reasoning
/// assert_eq!(think_and_answer("<answer>1</answer><think>a</think>"), None); // wrong order
/// ```
///
/// Citation: Lv et al. (2025), arXiv:2505.22653 (`trestad/Noisy-Rewards-in-Learning-to-Reason`,
/// `verl/verl/workers/fsdp_workers.py::RewardModelWorker.extract_think_and_answer`).
pub fn think_and_answer(text: &str) -> Option<(&str, &str)> {
    let ts = rfind_str(text, "<think>")?;
    let te = rfind_str(text, "</think>")?;
    let a_s = rfind_str(text, "<answer>")?;
    let a_e = rfind_str(text, "</answer>")?;
    if te > ts + "<think>".len() && a_e > a_s + "<answer>".len() && te < a_s {
        Some((
            text.get(ts + "<think>".len()..te)?,
            text.get(a_s + "<answer>".len()..a_e)?,
        ))
    } else {
        None
    }
}

/// Python's `\w` for one character of a `str` pattern, approximated with Rust's Unicode tables:
/// alphanumeric or `_`. (Python's class is the letter and number categories plus `_`; Rust's
/// `Alphabetic` also holds combining marks and symbols with `Other_Alphabetic`, such as U+0345 or
/// U+24B6, which Python does not count as word characters.)
#[inline]
pub(crate) fn is_py_word(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Python's case-insensitive comparison (`re.IGNORECASE` on `str`) of one text character with a
/// pattern character that is ASCII lower case, a digit or `_`: the same character, its ASCII
/// upper case, or one of the four non-ASCII characters that fold to an ASCII letter in Python's
/// regex engine (`İ`, `ı` → `i`; `ſ` → `s`; the Kelvin sign `K` → `k`).
#[inline]
fn py_ci_eq(c: char, k: char) -> bool {
    c == k
        || (c.is_ascii() && c.to_ascii_lowercase() == k)
        || match c {
            '\u{130}' | '\u{131}' => k == 'i',
            '\u{17f}' => k == 's',
            '\u{212a}' => k == 'k',
            _ => false,
        }
}

/// Number of whole-word, case-insensitive occurrences of `words` in `text`: Python's
/// `len(re.findall(r"\b(?:w1|w2|…)\b", text, flags=re.IGNORECASE))`. Each word must be
/// non-empty ASCII lower case, digits or `_` (checked by the callers).
///
/// # Definition
/// The text splits into maximal runs of word characters (`is_py_word`); a run counts once if it
/// equals one of the words case-insensitively (Python's folding, see `py_ci_eq`).
pub(crate) fn count_words_ci(text: &str, words: &[&str]) -> usize {
    text.split(|c: char| !is_py_word(c))
        .filter(|run| {
            !run.is_empty()
                && words.iter().any(|w| {
                    let mut rc = run.chars();
                    let mut wc = w.chars();
                    loop {
                        match (rc.next(), wc.next()) {
                            (None, None) => break true,
                            (Some(c), Some(k)) if py_ci_eq(c, k) => {}
                            _ => break false,
                        }
                    }
                })
        })
        .count()
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
        // No escapes: `\{` opens a brace, so the box never closes.
        assert_eq!(last_boxed(r"\boxed{a\{b}"), None);
        assert_eq!(last_boxed(r"\boxed{\}}"), Some("\\"));
        assert_eq!(last_boxed(r"\boxed{}"), Some(""));
        assert_eq!(last_boxed(r"\boxed {4}"), None);
        assert_eq!(last_boxed(r"\boxed{a}}}"), Some("a"));
        assert_eq!(answer_block("<answer>"), None);
        assert_eq!(after_reasoning("a</think>", "</think>"), "");
        assert_eq!(after_reasoning("a</think>b", ""), "a</think>b");
        assert_eq!(last_inline_math(r"\(a"), None);
        assert_eq!(last_inline_math(r"\(a\)\)"), Some("a"));
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn python_whitespace() {
        assert_eq!(py_strip("\u{1c}\u{a0} x\t\u{3000}"), "x");
        assert!(!is_py_space('\u{200b}'));
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn shorthand_fixes() {
        assert_eq!(fix_shorthand("frac12", "frac", 2), "frac{1}{2}");
        assert_eq!(fix_shorthand("frac{1}{2}", "frac", 2), "frac{1}{2}");
        assert_eq!(fix_shorthand("frac1", "frac", 2), "frac1");
        assert_eq!(fix_shorthand("fracfrac", "frac", 2), "frac{f}{r}ac");
        assert_eq!(fix_shorthand("sqrt2+sqrt{3}", "sqrt", 1), "sqrt{2}+sqrt{3}");
        assert_eq!(fix_shorthand("sqrté", "sqrt", 1), "sqrt{é}");
        assert_eq!(
            replace_lazy(r"\text{a}b\text{c", "\\text{", "}"),
            r"ab\text{c"
        );
    }
}
