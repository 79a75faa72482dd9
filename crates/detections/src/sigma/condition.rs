//! A Sigma `condition`: `and`, `or`, `not`, parentheses, selection names, and
//! `1 of X*` / `all of X*` / `1 of them` / `all of them`, compiled to SQL over the
//! selections' own SQL. Precedence as the specification gives it: `not`, then `and`,
//! then `or`.

use std::collections::BTreeMap;

use super::Unsupported;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    Word(String),
}

fn tokens(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        match c {
            '(' | ')' | ' ' | '\t' | '\n' => {
                if !word.is_empty() {
                    out.push(Token::Word(std::mem::take(&mut word)));
                }
                match c {
                    '(' => out.push(Token::Open),
                    ')' => out.push(Token::Close),
                    _ => {}
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(Token::Word(word));
    }
    out
}

/// What a condition is built from: SQL text ([`String`]), what it implies of typed columns
/// ([`Implied`]) or of the event's name ([`Names`]).
pub trait Logic: Clone {
    fn all(parts: Vec<Self>) -> Self;
    fn any(parts: Vec<Self>) -> Self;
    fn negate(self) -> Self;
}

impl Logic for String {
    fn all(mut parts: Vec<Self>) -> Self {
        if parts.len() == 1 { parts.remove(0) } else { format!("({})", parts.join(" AND ")) }
    }
    fn any(mut parts: Vec<Self>) -> Self {
        if parts.len() == 1 { parts.remove(0) } else { format!("({})", parts.join(" OR ")) }
    }
    fn negate(self) -> Self {
        format!("(NOT {self})")
    }
}

/// A condition that a rule's condition implies, over typed columns only (`true`: nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Implied(pub String);

impl Logic for Implied {
    fn all(parts: Vec<Self>) -> Self {
        Implied(super::compile::join_implied(parts.into_iter().map(|p| p.0).collect(), " AND "))
    }
    fn any(parts: Vec<Self>) -> Self {
        Implied(super::compile::join_implied(parts.into_iter().map(|p| p.0).collect(), " OR "))
    }
    fn negate(self) -> Self {
        Implied("true".into())
    }
}

/// The event names (lowercase) a condition can match, or any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Names {
    Any,
    OneOf(std::collections::BTreeSet<String>),
}

impl Logic for Names {
    fn all(parts: Vec<Self>) -> Self {
        parts.into_iter().fold(Names::Any, |acc, p| match (acc, p) {
            (Names::Any, x) | (x, Names::Any) => x,
            (Names::OneOf(a), Names::OneOf(b)) => Names::OneOf(a.intersection(&b).cloned().collect()),
        })
    }
    fn any(parts: Vec<Self>) -> Self {
        let mut out = std::collections::BTreeSet::new();
        for p in parts {
            match p {
                Names::Any => return Names::Any,
                Names::OneOf(s) => out.extend(s),
            }
        }
        Names::OneOf(out)
    }
    fn negate(self) -> Self {
        Names::Any
    }
}

/// Compiles `condition` over `selections` (name -> SQL, or what each implies). `at` names
/// where it is, for errors.
pub fn compile<T: Logic>(condition: &str, selections: &BTreeMap<String, T>, at: &str) -> Result<T, Unsupported> {
    if condition.contains('|') {
        return Err(Unsupported::new(
            "an aggregation in the condition (`| count() ...`, Sigma 1; use a correlation rule)",
            at,
        ));
    }
    let toks = tokens(condition);
    let mut p = Parser { toks: &toks, pos: 0, selections, at };
    let out = p.or()?;
    if p.pos != toks.len() {
        return Err(Unsupported::new(&format!("unexpected {:?} in the condition {condition:?}", toks[p.pos]), at));
    }
    Ok(out)
}

struct Parser<'a, T> {
    toks: &'a [Token],
    pos: usize,
    selections: &'a BTreeMap<String, T>,
    at: &'a str,
}

impl<T: Logic> Parser<'_, T> {
    fn peek_word(&self, w: &str) -> bool {
        matches!(self.toks.get(self.pos), Some(Token::Word(x)) if x.eq_ignore_ascii_case(w))
    }

    fn or(&mut self) -> Result<T, Unsupported> {
        let mut parts = vec![self.and()?];
        while self.peek_word("or") {
            self.pos += 1;
            parts.push(self.and()?);
        }
        Ok(T::any(parts))
    }

    fn and(&mut self) -> Result<T, Unsupported> {
        let mut parts = vec![self.not()?];
        while self.peek_word("and") {
            self.pos += 1;
            parts.push(self.not()?);
        }
        Ok(T::all(parts))
    }

    fn not(&mut self) -> Result<T, Unsupported> {
        if self.peek_word("not") {
            self.pos += 1;
            return Ok(self.not()?.negate());
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<T, Unsupported> {
        let at = self.at;
        match self.toks.get(self.pos).cloned() {
            Some(Token::Open) => {
                self.pos += 1;
                let inner = self.or()?;
                if self.toks.get(self.pos) != Some(&Token::Close) {
                    return Err(Unsupported::new("a `(` without its `)` in the condition", at));
                }
                self.pos += 1;
                Ok(inner)
            }
            Some(Token::Word(w)) => {
                self.pos += 1;
                let quantifier = match w.to_ascii_lowercase().as_str() {
                    "1" | "any" => Some(false),
                    "all" => Some(true),
                    _ => None,
                };
                if let Some(all) = quantifier
                    && self.peek_word("of")
                {
                    self.pos += 1;
                    let Some(Token::Word(target)) = self.toks.get(self.pos).cloned() else {
                        return Err(Unsupported::new(&format!("`{w} of` without a name pattern"), at));
                    };
                    self.pos += 1;
                    let names: Vec<&String> = if target.eq_ignore_ascii_case("them") {
                        self.selections.keys().filter(|n| !n.starts_with('_')).collect()
                    } else {
                        self.selections.keys().filter(|n| glob(&target, n)).collect()
                    };
                    if names.is_empty() {
                        return Err(Unsupported::new(&format!("`{w} of {target}` names no selection"), at));
                    }
                    let parts: Vec<T> = names.iter().map(|n| self.selections[*n].clone()).collect();
                    return Ok(if all { T::all(parts) } else { T::any(parts) });
                }
                if w.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                    return Err(Unsupported::new(&format!("`{w} of` (only `1 of` and `all of` exist)"), at));
                }
                match self.selections.get(&w) {
                    Some(v) => Ok(v.clone()),
                    None => Err(Unsupported::new(&format!("the condition names {w:?}, which is not a selection"), at)),
                }
            }
            Some(Token::Close) => Err(Unsupported::new("a `)` without its `(` in the condition", at)),
            None => Err(Unsupported::new("the condition ends too early", at)),
        }
    }
}

fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            name.starts_with(head) && {
                let rest = &name[head.len()..];
                (0..=rest.len()).any(|i| rest.is_char_boundary(i) && glob(tail, &rest[i..]))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(names: &[&str]) -> BTreeMap<String, String> {
        names.iter().map(|n| (n.to_string(), n.to_uppercase())).collect()
    }

    #[test]
    fn precedence_is_not_then_and_then_or() {
        let s = sel(&["a", "b", "c"]);
        assert_eq!(compile("a or b and not c", &s, "x").unwrap(), "(A OR (B AND (NOT C)))");
        assert_eq!(compile("(a or b) and c", &s, "x").unwrap(), "((A OR B) AND C)");
    }

    #[test]
    fn quantifiers_expand_name_patterns_and_them() {
        let s = sel(&["selection", "filter_main_a", "filter_main_b", "_hidden"]);
        assert_eq!(
            compile("selection and not 1 of filter_main_*", &s, "x").unwrap(),
            "(SELECTION AND (NOT (FILTER_MAIN_A OR FILTER_MAIN_B)))"
        );
        assert_eq!(compile("all of filter*", &s, "x").unwrap(), "(FILTER_MAIN_A AND FILTER_MAIN_B)");
        assert_eq!(compile("1 of them", &s, "x").unwrap(), "(FILTER_MAIN_A OR FILTER_MAIN_B OR SELECTION)");
    }

    #[test]
    fn what_it_cannot_compile_is_named() {
        let s = sel(&["selection"]);
        for (cond, says) in [
            ("selection | count() > 5", "aggregation"),
            ("selection and nope", "not a selection"),
            ("2 of selection*", "only `1 of`"),
            ("(selection", "without its `)`"),
            ("1 of filter*", "names no selection"),
        ] {
            let e = compile(cond, &s, "detection.condition").unwrap_err();
            assert!(e.construct.contains(says), "{cond}: {e:?}");
        }
    }
}
