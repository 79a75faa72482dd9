//! Who may ask. With a token, every request carries it (`Authorization: Bearer`, or the
//! `trailhouse_token` cookie the server sets when a page is opened once as `/?token=...`);
//! without one the console listens on loopback only, and answers only requests addressed
//! to a loopback name, so a web page elsewhere cannot reach it by rebinding a DNS name to
//! 127.0.0.1. Every answer carries headers that keep the page from loading anything from
//! elsewhere.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::{ApiError, Console};

const COOKIE: &str = "trailhouse_token";

pub async fn check(State(console): State<Arc<Console>>, request: Request, next: Next) -> Response {
    let mut set_cookie = None;
    match &console.config.token {
        Some(token) => {
            let from_query = query_token(request.uri().query());
            let given = bearer(request.headers()).or_else(|| cookie(request.headers())).or(from_query.clone());
            if !given.is_some_and(|g| same(g.as_bytes(), token.as_bytes())) {
                return ApiError {
                    status: StatusCode::UNAUTHORIZED,
                    message: "this console needs its token: Authorization: Bearer TOKEN, or open /?token=TOKEN once"
                        .into(),
                }
                .into_response();
            }
            if from_query.is_some() {
                set_cookie = Some(format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"));
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

fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('=').map(str::to_string))
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
}
