//! Struct fields named like SQL keywords: in `actor.user.uid` (OCSF's `user`, the
//! `ocsf_api_activity` view) sqlparser reads `user` as the niladic function `USER`, and
//! DataFusion then refuses "Dot access ... for non-string expr". After a dot, such a
//! "function" (one plain name, no arguments, no parentheses) can only be a field name:
//! [`rewrite`] makes it one. And a field of a function's result (`element_at(resources,
//! 1).arn`, as CloudTrail Lake's queries write it), which DataFusion also refuses after a
//! dot, becomes the subscript it accepts (`element_at(resources, 1)['arn']`), as does a
//! field after a subscript (`resources[1].arn`), its name folded to lowercase unless quoted
//! as a column's would be (`.accountId` is the field `accountid`).

use std::ops::ControlFlow;

use datafusion::sql::parser::{CopyToSource, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{AccessExpr, Expr, FunctionArguments, Subscript, Value, visit_expressions_mut};

/// Turns every keyword-named field after a dot in `statement` back into a field name.
pub fn rewrite(statement: &mut DFStatement) {
    fn fix(e: &mut Expr) -> ControlFlow<()> {
        if let Expr::CompoundFieldAccess { root, access_chain } = e {
            // After a function's result or a subscript (`resources[1].arn`), a dot is a field.
            let mut of_a_value = !matches!(root.as_ref(), Expr::Identifier(_) | Expr::CompoundIdentifier(_));
            for access in access_chain.iter_mut() {
                if matches!(access, AccessExpr::Subscript(_)) {
                    of_a_value = true;
                }
                if of_a_value && let AccessExpr::Dot(Expr::Identifier(field)) = access {
                    // Folded as DataFusion folds an unquoted name (`.accountId` is `accountid`).
                    let folded = match field.quote_style {
                        None => field.value.to_lowercase(),
                        Some(_) => field.value.clone(),
                    };
                    let name = Value::SingleQuotedString(folded).with_empty_span();
                    *access = AccessExpr::Subscript(Subscript::Index { index: Expr::Value(name) });
                    continue;
                }
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

    #[test]
    fn a_field_of_a_functions_result_becomes_a_subscript() {
        let mut s =
            DFParser::parse_sql("SELECT element_at(resources, 1).arn, resources[1].arn, useridentity.arn FROM t")
                .unwrap()
                .pop_front()
                .unwrap();
        super::rewrite(&mut s);
        assert_eq!(
            s.to_string(),
            "SELECT element_at(resources, 1)['arn'], resources[1]['arn'], useridentity.arn FROM t"
        );
    }

    #[test]
    fn a_camel_case_field_of_a_value_folds_like_a_column_and_a_quoted_one_does_not() {
        let sql = "SELECT element_at(resources, 1).accountId, resources[1].\"ARN\", (useridentity).accountId FROM t";
        let mut s = DFParser::parse_sql(sql).unwrap().pop_front().unwrap();
        super::rewrite(&mut s);
        assert_eq!(
            s.to_string(),
            "SELECT element_at(resources, 1)['accountid'], resources[1]['ARN'], (useridentity)['accountid'] FROM t"
        );
    }
    use datafusion::sql::parser::Statement as DFStatement;
}
