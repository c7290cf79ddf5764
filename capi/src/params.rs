//! Constructor parameters: an `rk_param` array read as checked keys, numbers, integers, flags and
//! names.
//!
//! Rules (the header's `rk_param` documentation): keys are case-sensitive; a key may appear once;
//! a key the constructor does not know is `RK_ERR_UNKNOWN_NAME` with every valid key listed;
//! integers and flags must be integral and in range (`RK_ERR_INVALID_PARAM`); a name-valued key
//! needs `text` (`RK_ERR_MISSING_INPUT` without it), a numeric key needs `text == NULL`.

use std::format;
use std::string::String;
use std::vec::Vec;

use rewardkit_core::{Error, Preset};

use crate::error::{Failure, Res, rk_status};

/// One parameter as read from C.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Param<'a> {
    pub(crate) key: &'a str,
    pub(crate) value: f64,
    pub(crate) text: Option<&'a str>,
}

/// The parameters of one constructor call, consumed key by key.
#[derive(Debug)]
pub(crate) struct Params<'a> {
    /// What is being built, for messages (`"overlong reward"`).
    kind: String,
    items: Vec<Param<'a>>,
    used: Vec<bool>,
    /// Every key asked for, in order: the valid keys of this constructor.
    asked: Vec<&'static str>,
}

impl<'a> Params<'a> {
    /// Checks for duplicate keys.
    pub(crate) fn new(kind: impl Into<String>, items: Vec<Param<'a>>) -> Res<Self> {
        let kind = kind.into();
        for (i, p) in items.iter().enumerate() {
            if items.iter().take(i).any(|q| q.key == p.key) {
                return Err(Failure::new(
                    rk_status::RK_ERR_INVALID_PARAM,
                    format!("parameter `{}` of {kind} is given twice", p.key),
                ));
            }
        }
        let used = std::vec![false; items.len()];
        Ok(Self {
            kind,
            items,
            used,
            asked: Vec::new(),
        })
    }

    fn take(&mut self, key: &'static str) -> Option<Param<'a>> {
        self.asked.push(key);
        let i = self.items.iter().position(|p| p.key == key)?;
        if let Some(u) = self.used.get_mut(i) {
            *u = true;
        }
        self.items.get(i).copied()
    }

    /// A number, if given.
    pub(crate) fn num(&mut self, key: &'static str) -> Res<Option<f64>> {
        match self.take(key) {
            None => Ok(None),
            Some(Param { text: Some(_), .. }) => Err(Failure::new(
                rk_status::RK_ERR_INVALID_PARAM,
                format!(
                    "parameter `{key}` of {} is a number; `text` must be NULL",
                    self.kind
                ),
            )),
            Some(p) => Ok(Some(p.value)),
        }
    }

    /// A number, or `default`.
    pub(crate) fn num_or(&mut self, key: &'static str, default: f64) -> Res<f64> {
        Ok(self.num(key)?.unwrap_or(default))
    }

    /// An integer in `[lo, hi]`, or `default`.
    pub(crate) fn int_or(&mut self, key: &'static str, lo: f64, hi: f64, default: u64) -> Res<u64> {
        let Some(v) = self.num(key)? else {
            return Ok(default);
        };
        if v.fract() == 0.0 && v >= lo && v <= hi {
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "checked: an integer in [lo, hi], hi <= 2^32"
            )]
            let n = v as u64;
            Ok(n)
        } else {
            Err(Error::InvalidParam {
                name: key,
                value: v,
                expected: if lo == 0.0 {
                    "an integer in [0, 4294967295]"
                } else {
                    "an integer in [1, 4294967295]"
                },
            }
            .into())
        }
    }

    /// A `u32` length (`>= 1`), or `default`.
    pub(crate) fn len_or(&mut self, key: &'static str, default: u32) -> Res<u32> {
        let v = self.int_or(key, 1.0, f64::from(u32::MAX), u64::from(default))?;
        Ok(u32::try_from(v).unwrap_or(default))
    }

    /// A `u32` count (`>= 0`), or `default`.
    pub(crate) fn count_or(&mut self, key: &'static str, default: u32) -> Res<u32> {
        let v = self.int_or(key, 0.0, f64::from(u32::MAX), u64::from(default))?;
        Ok(u32::try_from(v).unwrap_or(default))
    }

    /// A flag (0 or 1), or `default`.
    pub(crate) fn flag_or(&mut self, key: &'static str, default: bool) -> Res<bool> {
        match self.num(key)? {
            None => Ok(default),
            Some(0.0) => Ok(false),
            Some(1.0) => Ok(true),
            Some(v) => Err(Error::InvalidParam {
                name: key,
                value: v,
                expected: "0 or 1",
            }
            .into()),
        }
    }

    /// A name (`text`), if given.
    pub(crate) fn text(&mut self, key: &'static str) -> Res<Option<&'a str>> {
        match self.take(key) {
            None => Ok(None),
            Some(Param { text: None, .. }) => Err(Failure::new(
                rk_status::RK_ERR_MISSING_INPUT,
                format!(
                    "parameter `{key}` of {} is a name; set its `text`",
                    self.kind
                ),
            )),
            Some(p) => Ok(p.text),
        }
    }

    /// A name mapped through `table` (`(name, value)` pairs), or `default`; an unknown name is
    /// `RK_ERR_UNKNOWN_NAME` listing the table's names.
    pub(crate) fn choice<T: Copy>(
        &mut self,
        key: &'static str,
        table: &[(&str, T)],
        default: T,
    ) -> Res<T> {
        let Some(name) = self.text(key)? else {
            return Ok(default);
        };
        match table.iter().find(|(n, _)| *n == name) {
            Some((_, v)) => Ok(*v),
            None => {
                let valid: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
                Err(Failure::new(
                    rk_status::RK_ERR_UNKNOWN_NAME,
                    format!(
                        "unknown `{key}` of {}; valid names: {}",
                        self.kind,
                        valid.join(", ")
                    ),
                ))
            }
        }
    }

    /// The `preset` key (`"rewardkit"`, `"verl"`, `"trl"`, `"openrlhf"`), default rewardkit.
    pub(crate) fn preset(&mut self) -> Res<Preset> {
        match self.text("preset")? {
            None => Ok(Preset::Rewardkit),
            Some(name) => Ok(name.parse::<Preset>()?),
        }
    }

    /// Fails with `RK_ERR_UNKNOWN_NAME` if a key was not asked for.
    pub(crate) fn finish(self) -> Res<()> {
        let unused = self
            .items
            .iter()
            .zip(&self.used)
            .find(|(_, used)| !**used)
            .map(|(p, _)| p.key);
        match unused {
            None => Ok(()),
            Some(key) => {
                let mut valid: Vec<&str> = Vec::new();
                for k in &self.asked {
                    if !valid.contains(k) {
                        valid.push(k);
                    }
                }
                Err(Failure::new(
                    rk_status::RK_ERR_UNKNOWN_NAME,
                    format!(
                        "unknown parameter `{key}` of {}; valid names: {}",
                        self.kind,
                        if valid.is_empty() {
                            String::from("(none)")
                        } else {
                            valid.join(", ")
                        }
                    ),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(key: &'static str, value: f64, text: Option<&'static str>) -> Param<'static> {
        Param { key, value, text }
    }

    #[test]
    fn numbers_ints_flags() {
        let items = std::vec![
            p("a", 1.5, None),
            p("n", 7.0, None),
            p("f", 1.0, None),
            p("inf", f64::INFINITY, None)
        ];
        let mut ps = Params::new("thing", items).unwrap();
        assert_eq!(ps.num_or("a", 0.0).unwrap(), 1.5);
        assert_eq!(ps.num_or("missing", 2.0).unwrap(), 2.0);
        assert_eq!(ps.len_or("n", 1).unwrap(), 7);
        assert!(ps.flag_or("f", false).unwrap());
        assert_eq!(ps.num("inf").unwrap(), Some(f64::INFINITY));
        ps.finish().unwrap();
    }

    #[test]
    fn bad_values() {
        let mut ps = Params::new("thing", std::vec![p("n", 1.5, None)]).unwrap();
        let e = ps.len_or("n", 1).unwrap_err();
        assert_eq!(e.code, rk_status::RK_ERR_INVALID_PARAM);
        assert_eq!(
            e.message,
            "parameter `n` = 1.5 is invalid: expected an integer in [1, 4294967295]"
        );
        let mut ps = Params::new("thing", std::vec![p("f", 2.0, None)]).unwrap();
        assert_eq!(
            ps.flag_or("f", true).unwrap_err().message,
            "parameter `f` = 2 is invalid: expected 0 or 1"
        );
        let e = Params::new("thing", std::vec![p("a", 1.0, None), p("a", 2.0, None)]).unwrap_err();
        assert_eq!(e.message, "parameter `a` of thing is given twice");
        let mut ps = Params::new("thing", std::vec![p("m", 0.0, None)]).unwrap();
        let e = ps.text("m").unwrap_err();
        assert_eq!(e.code, rk_status::RK_ERR_MISSING_INPUT);
        let mut ps = Params::new("thing", std::vec![p("a", 0.0, Some("x"))]).unwrap();
        assert_eq!(
            ps.num("a").unwrap_err().code,
            rk_status::RK_ERR_INVALID_PARAM
        );
    }

    #[test]
    fn unknown_keys_and_choices() {
        let mut ps = Params::new("overlong reward", std::vec![p("maxlen", 3.0, None)]).unwrap();
        let _ = ps.num("max_len").unwrap();
        let _ = ps.num("buffer").unwrap();
        let e = ps.finish().unwrap_err();
        assert_eq!(e.code, rk_status::RK_ERR_UNKNOWN_NAME);
        assert_eq!(
            e.message,
            "unknown parameter `maxlen` of overlong reward; valid names: max_len, buffer"
        );
        let mut ps = Params::new("laser reward", std::vec![p("mode", 0.0, Some("both"))]).unwrap();
        let e = ps
            .choice("mode", &[("reward", 0), ("penalty", 1)], 0)
            .unwrap_err();
        assert_eq!(
            e.message,
            "unknown `mode` of laser reward; valid names: reward, penalty"
        );
        let mut ps = Params::new("x", std::vec![p("preset", 0.0, Some("verl"))]).unwrap();
        assert_eq!(ps.preset().unwrap(), Preset::Verl);
        let mut ps = Params::new("x", std::vec![p("preset", 0.0, Some("vrl"))]).unwrap();
        let e = ps.preset().unwrap_err();
        assert_eq!(e.code, rk_status::RK_ERR_UNKNOWN_NAME);
        assert_eq!(
            e.message,
            "unknown preset; valid names: rewardkit, verl, trl, openrlhf"
        );
    }
}
