//! Built-in tasks with exact verifiers and generated demonstrations (no downloads).
//!
//! Every task shares one character vocabulary ([`VOCAB`]); `$` (id 0) ends a completion and pads.
//! A completion is `work > answer (? answer)* $`: optional work (the addition scratchpad), the
//! answer after `>`, then zero or more redundant re-checks `?answer` — the demonstrations use 0 to
//! `max_checks` of them at random, so length shaping has something to remove without changing
//! correctness.
//!
//! The verifier's well-formedness (the format reward's input) is the structure: the scratchpad's
//! grammar, a digit answer after `>`, and the end marker `$` within the budget. What follows the
//! answer (the re-checks) is reasoning and is not judged, as an R1-style format reward checks the
//! tags and not what is inside them.
//!
//! | task | prompt | completion (no re-check) |
//! |---|---|---|
//! | `addition` (`D` digits) | `047+185=` | `2c3c2.>232$` — per digit from the right: sum digit, then `c` (carry) or `.` |
//! | `reversal` | `40719\|` | `>91704$` |
//! | `sorting` | `40719\|` | `>01479$` |

use core::fmt;
use core::str::FromStr;

use rewardkit_core::rng::RandomSource;
use serde::{Deserialize, Serialize};

/// The characters of the vocabulary; token id = position.
pub const VOCAB: &str = "$0123456789+=>?c.|";
/// End of completion (and padding).
pub const EOS: u32 = 0;
const PLUS: u32 = 11;
const EQUALS: u32 = 12;
const ANSWER: u32 = 13;
const CHECK: u32 = 14;
const CARRY: u32 = 15;
const NO_CARRY: u32 = 16;
const BAR: u32 = 17;

/// Vocabulary size `V`.
pub fn vocab_size() -> usize {
    VOCAB.len()
}

/// Token id of a digit.
fn digit(d: u32) -> u32 {
    d + 1
}

/// Renders token ids as text (unknown ids as `�`).
pub fn render(tokens: &[u32]) -> String {
    tokens
        .iter()
        .map(|&t| VOCAB.chars().nth(t as usize).unwrap_or('\u{fffd}'))
        .collect()
}

/// Which task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    /// Multi-digit addition with a per-digit scratchpad.
    Addition,
    /// Reverse a digit string.
    Reversal,
    /// Sort the digits of a string.
    Sorting,
}

const TASK_NAMES: &[&str] = &["addition", "reversal", "sorting"];

impl FromStr for TaskKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "addition" => Ok(Self::Addition),
            "reversal" => Ok(Self::Reversal),
            "sorting" => Ok(Self::Sorting),
            _ => Err(format!(
                "unknown task `{s}`; valid: {}",
                TASK_NAMES.join(", ")
            )),
        }
    }
}

impl fmt::Display for TaskKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Addition => "addition",
            Self::Reversal => "reversal",
            Self::Sorting => "sorting",
        })
    }
}

/// One problem: its prompt tokens and the expected answer tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Prompt tokens (fixed length per task: [`Task::prompt_len`]).
    pub prompt: Vec<u32>,
    /// The answer's tokens (digits).
    pub answer: Vec<u32>,
    /// A key identifying the prompt (for per-prompt reward state such as HAPO's history).
    pub key: u64,
}

/// What the verifier found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Outcome {
    /// The answer after `>` equals the expected answer.
    pub correct: bool,
    /// The completion follows the task's grammar and ends with `$`.
    pub well_formed: bool,
}

/// A task with its sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    /// Which task.
    pub kind: TaskKind,
    /// Digits per operand (addition) or string length (reversal, sorting).
    pub digits: usize,
    /// Largest number of redundant re-checks in a demonstration.
    pub max_checks: usize,
    /// Size of GRPO's fixed pool of training prompts (distinct, disjoint from the held-out set).
    pub train_prompts: usize,
}

impl Default for Task {
    fn default() -> Self {
        Self {
            kind: TaskKind::Addition,
            digits: 3,
            max_checks: 3,
            train_prompts: 512,
        }
    }
}

impl Task {
    /// Prompt length in tokens.
    pub fn prompt_len(&self) -> usize {
        match self.kind {
            TaskKind::Addition => 2 * self.digits + 2,
            TaskKind::Reversal | TaskKind::Sorting => self.digits + 1,
        }
    }

    /// Longest demonstration (completion tokens, `$` included).
    pub fn max_demo_len(&self) -> usize {
        let ans = self.max_answer_len();
        self.work_len() + 1 + ans + self.max_checks * (ans + 1) + 1
    }

    /// Longest demonstration without re-checks (completion tokens, `$` included): the target
    /// length of LASER at this scale.
    pub fn base_len(&self) -> usize {
        self.work_len() + 1 + self.max_answer_len() + 1
    }

    fn max_answer_len(&self) -> usize {
        match self.kind {
            TaskKind::Addition => self.digits + 1,
            _ => self.digits,
        }
    }

    fn work_len(&self) -> usize {
        match self.kind {
            TaskKind::Addition => 2 * self.digits,
            _ => 0,
        }
    }

    /// A random problem.
    pub fn sample(&self, rng: &mut impl RandomSource) -> Problem {
        let d = self.digits;
        let digits: Vec<u32> = (0..self.input_digits())
            .map(|_| rng.below(10) as u32)
            .collect();
        let key = digits
            .iter()
            .fold(0u64, |k, &x| k.wrapping_mul(10).wrapping_add(u64::from(x)));
        match self.kind {
            TaskKind::Addition => {
                let (a, b) = digits.split_at(d);
                let mut prompt: Vec<u32> = a.iter().map(|&x| digit(x)).collect();
                prompt.push(PLUS);
                prompt.extend(b.iter().map(|&x| digit(x)));
                prompt.push(EQUALS);
                let (_, answer) = add_digits(a, b);
                Problem {
                    prompt,
                    answer,
                    key,
                }
            }
            TaskKind::Reversal | TaskKind::Sorting => {
                let mut prompt: Vec<u32> = digits.iter().map(|&x| digit(x)).collect();
                prompt.push(BAR);
                let mut ans = digits.clone();
                if self.kind == TaskKind::Reversal {
                    ans.reverse();
                } else {
                    ans.sort_unstable();
                }
                Problem {
                    prompt,
                    answer: ans.iter().map(|&x| digit(x)).collect(),
                    key,
                }
            }
        }
    }

    /// Number of distinct prompts (`10^digits` over every input digit, saturating).
    pub fn distinct_prompts(&self) -> usize {
        (0..self.input_digits()).fold(1usize, |n, _| n.saturating_mul(10))
    }

    fn input_digits(&self) -> usize {
        match self.kind {
            TaskKind::Addition => 2 * self.digits,
            _ => self.digits,
        }
    }

    /// A demonstration completion with `0..=max_checks` re-checks (uniform), `$` included.
    pub fn demonstration(&self, p: &Problem, rng: &mut impl RandomSource) -> Vec<u32> {
        let mut out = self.work(p);
        out.push(ANSWER);
        out.extend_from_slice(&p.answer);
        for _ in 0..rng.below(self.max_checks + 1) {
            out.push(CHECK);
            out.extend_from_slice(&p.answer);
        }
        out.push(EOS);
        out
    }

    /// The scratchpad of a problem (empty except for addition).
    fn work(&self, p: &Problem) -> Vec<u32> {
        if self.kind != TaskKind::Addition {
            return Vec::new();
        }
        let d = self.digits;
        let a: Vec<u32> = p.prompt[..d].iter().map(|&t| t - 1).collect();
        let b: Vec<u32> = p.prompt[d + 1..2 * d + 1].iter().map(|&t| t - 1).collect();
        add_digits(&a, &b).0
    }

    /// Verifies a completion (tokens after the prompt; anything after the first `$` is ignored).
    pub fn verify(&self, p: &Problem, completion: &[u32]) -> Outcome {
        let Some(end) = completion.iter().position(|&t| t == EOS) else {
            // No end marker: malformed; still correct if the answer is there and complete.
            return Outcome {
                correct: false,
                well_formed: false,
            };
        };
        let body = &completion[..end];
        let Some(arrow) = body.iter().position(|&t| t == ANSWER) else {
            return Outcome::default();
        };
        let (work, rest) = (&body[..arrow], &body[arrow + 1..]);
        let answer = rest.split(|&t| t == CHECK).next().unwrap_or(&[]);
        let is_digits = |s: &[u32]| !s.is_empty() && s.iter().all(|&t| (1..=10).contains(&t));
        let work_ok = match self.kind {
            TaskKind::Addition => {
                work.len() == 2 * self.digits
                    && work
                        .chunks_exact(2)
                        .all(|w| (1..=10).contains(&w[0]) && (w[1] == CARRY || w[1] == NO_CARRY))
            }
            _ => work.is_empty(),
        };
        // The re-checks are reasoning, not format: their content is not judged (as a format reward
        // checks tags, not what is inside them); only their count shows in the length.
        Outcome {
            correct: answer == p.answer.as_slice(),
            well_formed: work_ok && is_digits(answer),
        }
    }
}

/// Column addition of two little-end-last digit strings: the scratchpad tokens (from the right:
/// sum digit, carry mark) and the answer tokens.
fn add_digits(a: &[u32], b: &[u32]) -> (Vec<u32>, Vec<u32>) {
    let mut work = Vec::with_capacity(2 * a.len());
    let mut sums = Vec::with_capacity(a.len() + 1);
    let mut carry = 0;
    for (&x, &y) in a.iter().rev().zip(b.iter().rev()) {
        let s = x + y + carry;
        carry = s / 10;
        work.push(digit(s % 10));
        work.push(if carry == 1 { CARRY } else { NO_CARRY });
        sums.push(digit(s % 10));
    }
    if carry == 1 {
        sums.push(digit(1));
    }
    sums.reverse();
    (work, sums)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rewardkit_core::rng::SplitMix64;

    fn tokens(s: &str) -> Vec<u32> {
        s.chars()
            .map(|c| VOCAB.find(c).expect("in vocabulary") as u32)
            .collect()
    }

    #[test]
    fn addition_literal() {
        let task = Task::default();
        let p = Problem {
            prompt: tokens("047+185="),
            answer: tokens("232"),
            key: 0,
        };
        assert_eq!(render(&task.work(&p)), "2c3c2.");
        let ok = tokens("2c3c2.>232?232$");
        assert_eq!(
            task.verify(&p, &ok),
            Outcome {
                correct: true,
                well_formed: true
            }
        );
        // Wrong answer, well formed; right answer with a broken scratchpad; no end marker.
        assert_eq!(
            task.verify(&p, &tokens("2c3c2.>233$")),
            Outcome {
                correct: false,
                well_formed: true
            }
        );
        assert_eq!(
            task.verify(&p, &tokens("2c3c2>232$")),
            Outcome {
                correct: true,
                well_formed: false
            }
        );
        assert_eq!(task.verify(&p, &tokens("2c3c2.>232")), Outcome::default());
        // Re-checks are not judged: empty or garbled ones leave the completion well formed.
        for rest in ["?$", "?2c3$", "?232?23$"] {
            assert_eq!(
                task.verify(&p, &tokens(&format!("2c3c2.>232{rest}"))),
                Outcome {
                    correct: true,
                    well_formed: true
                },
                "{rest}"
            );
        }
        // 999 + 001 = 1000: the final carry adds a digit.
        let (w, a) = add_digits(&[9, 9, 9], &[0, 0, 1]);
        assert_eq!(
            (render(&w), render(&a)),
            ("0c0c0c".to_string(), "1000".to_string())
        );
    }

    #[test]
    fn demonstrations_verify_and_vary_in_length() {
        for kind in [TaskKind::Addition, TaskKind::Reversal, TaskKind::Sorting] {
            let task = Task {
                kind,
                ..Task::default()
            };
            let mut rng = SplitMix64::new(5);
            let mut lengths = std::collections::BTreeSet::new();
            for _ in 0..200 {
                let p = task.sample(&mut rng);
                assert_eq!(p.prompt.len(), task.prompt_len());
                let demo = task.demonstration(&p, &mut rng);
                assert!(demo.len() <= task.max_demo_len());
                assert_eq!(
                    task.verify(&p, &demo),
                    Outcome {
                        correct: true,
                        well_formed: true
                    }
                );
                lengths.insert(demo.len());
            }
            assert!(lengths.len() >= 4, "{kind}: lengths {lengths:?}");
        }
    }

    #[test]
    fn reversal_and_sorting_literal() {
        let rev = Task {
            kind: TaskKind::Reversal,
            ..Task::default()
        };
        let p = Problem {
            prompt: tokens("407|"),
            answer: tokens("704"),
            key: 0,
        };
        assert!(rev.verify(&p, &tokens(">704$")).correct);
        assert!(!rev.verify(&p, &tokens("1>704$")).well_formed);
        assert_eq!("sorting".parse::<TaskKind>(), Ok(TaskKind::Sorting));
        assert!(
            "division"
                .parse::<TaskKind>()
                .unwrap_err()
                .contains("addition, reversal, sorting")
        );
    }
}
