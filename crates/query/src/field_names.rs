//! Struct fields named like SQL keywords: in `actor.user.uid` (OCSF's `user`, the
//! `ocsf_api_activity` view) sqlparser reads `user` as the niladic function `USER`, and
//! DataFusion then refuses "Dot access ... for non-string expr". After a dot, such a
//! "function" (one plain name, no arguments, no parentheses) can only be a field name:
//! [`rewrite`] makes it one.

use std::ops::ControlFlow;

use datafusion::sql::parser::{CopyToSource, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{AccessExpr, Expr, FunctionArguments, visit_expressions_mut};

/// Turns every keyword-named field after a dot in `statement` back into a field name.
pub fn rewrite(statement: &mut DFStatement) {
    fn fix(e: &mut Expr) -> ControlFlow<()> {
        if let Expr::CompoundFieldAccess { access_chain, .. } = e {
            for access in access_chain.iter_mut() {
                let AccessExpr::Dot(inner) = access else { continue };
                let Expr::Function(f) = &*inner else { continue };
                if !matches!(f.args, FunctionArguments::None) || f.name.0.len() != 1 {
                    continue;
                }
                if let Some(ident) = f.name.0[0].as_ident() {
                    *inner = Expr::Identifier(ident.clone());
                }
            }
        }
        ControlFlow::Continue(())
    }
    match statement {
        DFStatement::Statement(s) => {
            let _ = visit_expressions_mut(s.as_mut(), fix);
        }
        DFStatement::Explain(e) => rewrite(&mut e.statement),
        DFStatement::CopyTo(c) => {
            if let CopyToSource::Query(q) = &mut c.source {
                let _ = visit_expressions_mut(q.as_mut(), fix);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use datafusion::sql::parser::DFParser;

    #[test]
    fn a_keyword_named_field_after_a_dot_becomes_a_field_name() {
        let mut s = DFParser::parse_sql("SELECT actor.user.uid, user FROM t").unwrap().pop_front().unwrap();
        super::rewrite(&mut s);
        // The field is an identifier again; `user` on its own stays the function.
        assert_eq!(s.to_string(), "SELECT actor.user.uid, user FROM t");
        let DFStatement::Statement(q) = &s else { panic!("{s}") };
        let text = format!("{q:?}");
        assert!(text.contains("Identifier(Ident { value: \"user\""), "{text}");
        assert!(text.contains("Function(Function { name: ObjectName([Identifier(Ident { value: \"user\""), "{text}");
    }
    use datafusion::sql::parser::Statement as DFStatement;
}
