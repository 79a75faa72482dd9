//! Who may ask. With a token, every request carries it (`Authorization: Bearer`, or the
//! `trailhouse_token_<port>` cookie the server sets when a page is opened once as
//! `/?token=...`); without one the console listens on loopback only, and answers only
//! requests addressed to a loopback name, so a web page elsewhere cannot reach it by
//! rebinding a DNS name to 127.0.0.1. Either way a browser's request to the API from
//! another site (`Sec-Fetch-Site: cross-site`) is refused, so a page elsewhere cannot run
//! queries or triage through the user's browser. Every answer carries headers that keep
//! the page from loading anything from elsewhere.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::{ApiError, Console};

/// The cookie holding the token, named after the port (cookies do not tell ports apart:
/// two consoles on one host would overwrite each other's).
fn cookie_name(port: u16) -> String {
    format!("trailhouse_token_{port}")
}

/// What a token must be: long enough not to guess, and only characters that travel in a
/// header, a cookie and a URL unchanged.
pub fn check_token(token: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~".contains(c);
    if token.len() < 16 {
        return Err(format!("the token is {} characters; use at least 16 (e.g. openssl rand -hex 16)", token.len()));
    }
    if !token.chars().all(allowed) {
        return Err("the token may hold only letters, digits and - . _ ~".into());
    }
    Ok(())
}

pub async fn check(State(console): State<Arc<Console>>, request: Request, next: Next) -> Response {
    let mut set_cookie = None;
    let port = console.address.port();
    match &console.config.token {
        Some(token) => {
            // Any credential given that matches lets the request in: a stale cookie from
            // an earlier token does not shadow a fresh ?token=.
            let from_query = query_token(request.uri().query());
            let given = [bearer(request.headers()), cookie(request.headers(), &cookie_name(port)), from_query.clone()];
            if !given.iter().flatten().any(|g| same(g.as_bytes(), token.as_bytes())) {
                return ApiError {
                    status: StatusCode::UNAUTHORIZED,
                    message: "this console needs its token: Authorization: Bearer TOKEN, or open /?token=TOKEN once"
                        .into(),
                }
                .into_response();
            }
            if from_query.is_some_and(|q| same(q.as_bytes(), token.as_bytes())) {
                set_cookie = Some(format!("{}={token}; Path=/; HttpOnly; SameSite=Strict", cookie_name(port)));
            }
        }
        None => {
            let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
            if !loopback_host(host) {
                return ApiError {
                    status: StatusCode::FORBIDDEN,
                    message: format!("this console answers requests for localhost only, not for host {host:?}"),
                }
                .into_response();
            }
        }
    }
    // A page on another site may link to the console's pages (a shared URL), but may not
    // call its API: browsers say where a request comes from in Sec-Fetch-Site, and an
    // <img> or a form aimed at /api/... from elsewhere would otherwise run queries.
    let api = request.uri().path().starts_with("/api/");
    let site = request.headers().get("sec-fetch-site").and_then(|v| v.to_str().ok()).unwrap_or("none");
    if api && (site == "cross-site" || site == "same-site") {
        return ApiError {
            status: StatusCode::FORBIDDEN,
            message: "the console's API answers its own pages only (Sec-Fetch-Site: cross-site)".into(),
        }
        .into_response();
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if let Some(c) = set_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(header::SET_COOKIE, c);
    }
    response
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    v.strip_prefix("Bearer ").map(|t| t.trim().to_string())
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(name)?.strip_prefix('=').map(str::to_string))
}

fn query_token(query: Option<&str>) -> Option<String> {
    url_pairs(query?).into_iter().find(|(k, _)| k == "token").map(|(_, v)| v)
}

/// `key=value` pairs of a query string, percent-decoded.
pub(crate) fn url_pairs(query: &str) -> Vec<(String, String)> {
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(
        &format!("/?{query}").parse().unwrap_or_else(|_| axum::http::Uri::from_static("/")),
    )
    .map(|q| q.0)
    .unwrap_or_default()
}

/// Constant-time comparison (no early exit on the first differing byte).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `localhost`, `127.x.y.z` or `[::1]`, with or without a port.
fn loopback_host(host: &str) -> bool {
    let name = if host.starts_with('[') {
        host.split(']').next().unwrap_or_default().trim_start_matches('[')
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_recognised_with_and_without_ports() {
        assert!(loopback_host("127.0.0.1:8080"));
        assert!(loopback_host("localhost"));
        assert!(loopback_host("[::1]:8080"));
        assert!(!loopback_host("evil.example:8080"));
        assert!(!loopback_host("10.0.0.1:8080"));
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"secret", b"secret"));
        assert!(!same(b"secret", b"secreT"));
        assert!(!same(b"secret", b"secret2"));
        assert_eq!(query_token(Some("a=1&token=s%20t")), Some("s t".into()));
    }

    #[test]
    fn short_tokens_and_tokens_that_do_not_travel_unchanged_are_refused() {
        assert!(check_token("0123456789abcdef").is_ok());
        assert!(check_token("short").unwrap_err().contains("at least 16"));
        assert!(check_token("0123456789abcdef; x").is_err());
    }
}
