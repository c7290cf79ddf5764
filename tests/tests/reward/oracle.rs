//! Plain-loop oracles transcribed from the reference code (Python), independent of the library's
//! implementation strategy (sorting, visitors, f64 accumulation).

use std::collections::{HashMap, HashSet};

/// Proptest settings: `default` cases, or `PROPTEST_CASES` when set (the heavy CI job).
pub(super) fn cases(default: u32) -> proptest::test_runner::Config {
    let n = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    proptest::test_runner::Config::with_cases(n)
}

/// HAPO `utils.py::compute_len_reward` (cosine), with `None` for a Null history.
pub(super) fn hapo_cosine(h: Option<f64>, l: f64, correct: bool, w: f64) -> f64 {
    let Some(h) = h else { return 0.0 };
    let mut r = if l < 2.0 * h {
        ((l / h) * (std::f64::consts::PI / 2.0)).cos()
    } else {
        std::f64::consts::PI.cos()
    };
    r = if correct { r.max(-0.7) } else { r.min(0.0) };
    r * w
}

/// HAPO `utils.py::compute_repetition_penalty_reward` (set-based, in order).
pub(super) fn hapo_repetition(tokens: &[u32], n: usize, max_penalty: f64, only_start: bool) -> f64 {
    if max_penalty == 0.0 || tokens.len() < n {
        return 0.0;
    }
    let mut seen = HashSet::new();
    let mut repeated = Vec::new();
    for s in 0..=tokens.len() - n {
        let g = &tokens[s..s + n];
        if seen.contains(g) {
            repeated.push(s);
        }
        seen.insert(g);
    }
    let mut pen = vec![0.0; tokens.len()];
    let mut curr_end: i64 = -1;
    for &s in &repeated {
        if !only_start || s as i64 > curr_end {
            for p in pen.iter_mut().skip(s).take(n) {
                *p = max_penalty;
            }
        }
        curr_end = (s + n - 1) as i64;
    }
    pen.iter().sum::<f64>() / pen.len() as f64
}

/// Demystify `RepetitionDensePenalty.reward` for one response (`only_start` with `start + n`).
pub(super) fn dense_repetition(
    tokens: &[u32],
    n: usize,
    penalty: f64,
    only_start: bool,
) -> Vec<f64> {
    let mut out = vec![0.0; tokens.len()];
    if tokens.len() < n {
        return out;
    }
    let mut seen = HashSet::new();
    let mut repeated = Vec::new();
    for s in 0..=tokens.len() - n {
        let g = &tokens[s..s + n];
        if seen.contains(g) {
            repeated.push(s);
        }
        seen.insert(g);
    }
    let mut curr_end: i64 = -1;
    for &s in &repeated {
        if !only_start || s as i64 > curr_end {
            for p in out.iter_mut().skip(s).take(n) {
                *p = penalty;
            }
        }
        curr_end = (s + n) as i64;
    }
    out
}

/// LASER `detect_token_ngram_repetition_optimized_reversed`: the returned "true length".
pub(super) fn laser_detect(tokens: &[u32]) -> usize {
    let len = tokens.len();
    let mut n = 4usize;
    if len <= n * 2 {
        return len;
    }
    n = if len < 30 {
        2
    } else if len < 100 {
        3
    } else {
        n.min(4)
    };
    // The reference spells out three cases (< 50, < 200, else) with the first two equal.
    let threshold = if len < 200 { 2 } else { 3 };
    let mut positions: HashMap<Vec<u32>, Vec<usize>> = HashMap::new();
    for i in (0..=len - n).rev() {
        let g = tokens[i..i + n].to_vec();
        let distinct: HashSet<&u32> = g.iter().collect();
        if distinct.len() == 1 && g.len() > 2 {
            continue;
        }
        let v = positions.entry(g).or_default();
        v.push(i);
        if v.len() >= threshold {
            let mut p = v.clone();
            p.sort_unstable();
            for j in 0..p.len() - 1 {
                if p[j + 1] - p[j] < len / 3 {
                    return *p.iter().min().unwrap();
                }
            }
        }
    }
    if len >= n * 4 {
        let mut pat: HashMap<Vec<u32>, usize> = HashMap::new();
        for i in (0..=len - n * 2).rev() {
            let p = tokens[i..i + n * 2].to_vec();
            if let Some(&prev) = pat.get(&p) {
                return i.min(prev);
            }
            pat.insert(p, i);
        }
    }
    len
}

/// PAR `calculate_relative_sigmoid` over the first `m` references.
pub(super) fn par(r: f64, refs: &[f64], k: f64, m: usize) -> f64 {
    let refs = &refs[..m.min(refs.len())];
    refs.iter()
        .map(|rr| 1.0 / (1.0 + (-k * (r - rr)).exp()))
        .sum::<f64>()
        / refs.len() as f64
}

/// Discounted return `Σ γᵗ r_t`, accumulated front to back.
pub(super) fn discounted(r: &[f64], gamma: f64) -> f64 {
    let mut g = 1.0;
    let mut s = 0.0;
    for &x in r {
        s += g * x;
        g *= gamma;
    }
    s
}

// ---------------------------------------------------------------- answer extraction

/// Characters of a string (the oracle works on code points, as Python does).
fn chars(s: &str) -> Vec<char> {
    s.chars().collect()
}

/// Python's `hay.find(needle, from)` on code points, by brute force.
fn find_at(hay: &[char], needle: &[char], from: usize) -> Option<usize> {
    (from..=hay.len().checked_sub(needle.len())?).find(|&i| hay[i..i + needle.len()] == *needle)
}

/// Python's `hay.rfind(needle)`.
fn rfind(hay: &[char], needle: &[char]) -> Option<usize> {
    (0..=hay.len().checked_sub(needle.len())?)
        .rev()
        .find(|&i| hay[i..i + needle.len()] == *needle)
}

/// Python's `s.replace(a, b)` (non-overlapping, left to right).
fn replace_all(s: &[char], a: &str, b: &str) -> Vec<char> {
    let (a, b) = (chars(a), chars(b));
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        if s[i..].starts_with(&a) {
            out.extend_from_slice(&b);
            i += a.len();
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

/// `re.findall(open + "(.*?)" + close, s, DOTALL)` with literal delimiters: (start, content, end).
fn findall_lazy(s: &[char], open: &str, close: &str) -> Vec<(usize, Vec<char>, usize)> {
    let (o, c) = (chars(open), chars(close));
    let mut found = Vec::new();
    let mut pos = 0;
    while let Some(p) = find_at(s, &o, pos) {
        let Some(q) = find_at(s, &c, p + o.len()) else {
            break;
        };
        found.push((p, s[p + o.len()..q].to_vec(), q + c.len()));
        pos = q + c.len();
    }
    found
}

/// `re.sub(open + "(.*?)" + close, r"\1", s)`.
fn sub_lazy(s: &[char], open: &str, close: &str) -> Vec<char> {
    let mut out = Vec::new();
    let mut copied = 0;
    for (start, content, end) in findall_lazy(s, open, close) {
        out.extend_from_slice(&s[copied..start]);
        out.extend(content);
        copied = end;
    }
    out.extend_from_slice(&s[copied..]);
    out
}

/// Python's `str.isspace`.
fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `MATHEvaluator_Base.extract_boxed_answer` (`insightLLM/rl-without-gt`, `evaluator.py`),
/// with its stack.
fn extract_boxed(t: &[char]) -> Option<Vec<char>> {
    let start = rfind(t, &chars("\\boxed"))?;
    let first = start + 6;
    let mut stack = Vec::new();
    for i in first..t.len() {
        if t[i] == '{' {
            stack.push(i);
        } else if t[i] == '}'
            && let Some(left) = stack.pop()
            && left == first
        {
            return Some(t[first + 1..i].to_vec());
        }
    }
    None
}

/// `normalize_final_answer` of the same file, step by step.
fn normalize_final_answer(answer: &[char]) -> Vec<char> {
    let subs = [
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
    let removed = [
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
    let mut s = answer.to_vec();
    for (a, b) in subs {
        s = replace_all(&s, a, b);
    }
    for e in removed {
        s = replace_all(&s, e, "");
    }
    for open in ["\\text{", "\\textbf{", "\\overline{"] {
        s = sub_lazy(&s, open, "}");
    }
    if let Some(p) = find_at(&s, &chars("\\boxed{"), 0)
        && let Some(q) = s.iter().rposition(|&c| c == '}').filter(|&q| q >= p + 7)
    {
        let mut t = s[..p].to_vec();
        t.extend_from_slice(&s[p + 7..q]);
        t.extend_from_slice(&s[q + 1..]);
        s = t;
    }
    s = sub_lazy(&s, "\\(", "\\)");
    s = sub_lazy(&s, "\\[", "\\]");
    if let Some(p) = find_at(&s, &chars("finalansweris"), 0) {
        s = s[p + 13..].to_vec();
    }
    if let Some((_, c, _)) = findall_lazy(&s, "oxed{", "}").pop() {
        s = c;
    }
    if let Some((_, c, _)) = findall_lazy(&s, "$", "$").pop() {
        s = c;
    }
    while s.first().is_some_and(|&c| py_space(c)) {
        s.remove(0);
    }
    while s.last().is_some_and(|&c| py_space(c)) {
        s.pop();
    }
    if find_at(&s, &chars("rac"), 0).is_some() && find_at(&s, &chars("\\frac"), 0).is_none() {
        s = replace_all(&s, "rac", "\\frac");
    }
    // re.sub(r'(frac)([^{])(.)', r'frac{\2}{\3}') and re.sub(r'(sqrt)([^{])', r'sqrt{\2}').
    for (name, args) in [("frac", 2usize), ("sqrt", 1)] {
        let n = chars(name);
        let mut out = Vec::new();
        let mut i = 0;
        while i < s.len() {
            if s[i..].starts_with(&n) && i + 4 + args <= s.len() && s[i + 4] != '{' {
                out.extend_from_slice(&n);
                for k in 0..args {
                    out.extend(['{', s[i + 4 + k], '}']);
                }
                i += 4 + args;
            } else {
                out.push(s[i]);
                i += 1;
            }
        }
        s = out;
    }
    s.retain(|&c| c != '$');
    let digits: Vec<char> = s.iter().copied().filter(|&c| c != ',').collect();
    if !digits.is_empty() && digits.iter().all(char::is_ascii_digit) {
        s = digits;
    }
    s
}

/// `MATHEvaluator_Base.parse_answer` (`insightLLM/rl-without-gt`, `evaluator.py`).
pub(super) fn parse_answer(response: &str) -> String {
    let t = chars(response);
    let (open, close) = (chars("<answer>"), chars("</answer>"));
    let block = find_at(&t, &open, 0).and_then(|p| {
        rfind(&t, &close)
            .filter(|&q| q >= p + 8)
            .map(|q| t[p + 8..q].to_vec())
    });
    let answer = match block {
        Some(b) => extract_boxed(&b)
            .or_else(|| findall_lazy(&b, "\\(", "\\)").pop().map(|m| m.1))
            .unwrap_or_else(|| normalize_final_answer(&b)),
        None => {
            let after = match rfind(&t, &chars("</think>")) {
                Some(q) => t[q + 8..].to_vec(),
                None => t,
            };
            extract_boxed(&after).unwrap_or_default()
        }
    };
    answer.into_iter().collect()
}

/// The reference's `soft_format_reward_func_v2`: `re.search("<think>.*?</think>", DOTALL)`.
pub(super) fn soft_format(response: &str) -> bool {
    let t = chars(response);
    find_at(&t, &chars("<think>"), 0)
        .is_some_and(|p| find_at(&t, &chars("</think>"), p + 7).is_some())
}

// ---------------------------------------------------------------- HAPO mean history

/// HAPO `grpo_trainer.py::combined_reward_func`, mean mode, one batch: the per-prompt lists of
/// correct lengths, then one update per entry of `prompt_idx` (every row), into `lens` (the
/// reference's `int64` tensor: `as i64` truncates) and `counts`.
pub(super) fn hapo_mean_update(
    lens: &mut HashMap<u64, i64>,
    counts: &mut HashMap<u64, i64>,
    prompt_idx: &[u64],
    seq_lens: &[u32],
    correct: &[bool],
) {
    let mut cur: HashMap<u64, Vec<u32>> = HashMap::new();
    for &p in prompt_idx {
        cur.insert(p, Vec::new());
    }
    for ((&p, &l), &c) in prompt_idx.iter().zip(seq_lens).zip(correct) {
        if c {
            cur.get_mut(&p).unwrap().push(l);
        }
    }
    for &p in prompt_idx {
        let list = &cur[&p];
        if list.is_empty() {
            continue;
        }
        let m = list.iter().map(|&l| f64::from(l)).sum::<f64>() / list.len() as f64;
        let c = counts.get(&p).copied().unwrap_or(0);
        if c <= 0 {
            lens.insert(p, m as i64);
        } else {
            let ratio = list.len() as f64 / (c as f64 + list.len() as f64);
            let h = lens[&p] as f64;
            lens.insert(p, (ratio * m + (1.0 - ratio) * h) as i64);
        }
        counts.insert(p, c + list.len() as i64);
    }
}
